/**
 * Issue 4 item 7, issue 10 item 6 — the relay's egress: rtp-relay forwarding live RTP to
 * werift WHEP viewers in two topologies, 1 stream × N viewers (the fan-out) and N streams
 * × 1 viewer (each forwarded packet also pays its own receive), with each egress of
 * `rtp-relay --egress`:
 *   fast              native fan-out: header rewrite + SRTP + sendmmsg/GSO in the addon
 *   werift            werift's RTP sender and SRTP, batched by the plug on one shared port
 *   werift-unbatched  werift's own sockets (node:dgram, one send per datagram)
 * beside the C ceiling measured in the same run (bench/c/srtp_fanout.c: the same recording
 * fanned out to the same number of outputs with SRTP AES-CM/HMAC-SHA1-80 or AEAD-AES-128-GCM
 * from OpenSSL and one sendmmsg per wake, a receiver draining in another process).
 *
 * Every (topology, egress) pair and the ceiling rows are one configuration; configurations
 * are interleaved per repetition (rotated order). A relay run is one
 * `node scripts/measure-relay.mjs` (relay, RTP feeder and viewer processes started fresh;
 * measured after a warm-up (20 s in the full profile) once every viewer is connected and
 * past its first keyframe, so V8 has compiled the per-viewer paths; viewers stopped
 * when the measurement ends). Figures: relay CPU µs per forwarded RTP packet
 * (/proc/PID/stat), send syscalls per datagram (`perf stat` on the relay's PID), GSO share
 * (the relay's own counters), relay RSS, viewer sequence gaps, kernel RcvbufErrors.
 * With `--cpu-prof` (on by default in the full profile) one extra run of the fast egress per
 * topology under `node --cpu-prof`, cut to the measured window (scripts/cpuprof-summary.mjs).
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Child, run as runCmd } from '../lib/proc.mjs';
import { pairedRatio, summarize, seriesOf } from '../lib/stats.mjs';
import { runInterleaved } from '../lib/interleave.mjs';
import { fmtNum, fmtSummary, mdTable } from '../lib/format.mjs';
import { summarizeProfile } from '../../scripts/cpuprof-summary.mjs';

export const id = 'relay';
export const title = 'Relay egress: fast path vs werift, 1 × N and N × 1, with the C ceiling';
export const item = 7;

/** The relay's egresses, in report order. `legacy`: the flags of a relay without --egress. */
const EGRESS = {
  fast: { label: 'fast (native fan-out, SRTP, sendmmsg/GSO)', flags: ['--egress', 'fast'], legacy: null },
  werift: { label: 'werift (plug, shared port)', flags: ['--egress', 'werift'], legacy: [] },
  'werift-unbatched': { label: "werift-unbatched (werift's own sockets)", flags: ['--egress', 'werift-unbatched'], legacy: ['--no-batching'] },
};
/** The C ceiling rows (bench/c/srtp_fanout.c). */
const CEILING = {
  'c-aes-cm': { profile: 'aes-cm', label: 'C ceiling: AES_CM_128_HMAC_SHA1_80 + sendmmsg' },
  'c-gcm': { profile: 'gcm', label: 'C ceiling: AEAD_AES_128_GCM + sendmmsg' },
};

const PARAMS = {
  // CI proof that the scenario runs: one relay run with 2 viewers and a short ceiling run.
  smoke: { reps: 1, seconds: 1, warmupS: 0, joinTimeoutS: 60, topologies: [{ id: '1x2', streams: 1, viewers: 2, processes: 1 }], egress: ['default'], ceiling: ['c-aes-cm'], cpuProf: false },
  quick: { reps: 1, seconds: 5, warmupS: 5, joinTimeoutS: 90, topologies: [{ id: '1x16', streams: 1, viewers: 16, processes: 2 }, { id: '16x1', streams: 16, viewers: 16, processes: 2 }], egress: ['fast', 'werift', 'werift-unbatched'], ceiling: ['c-aes-cm', 'c-gcm'], cpuProf: false },
  full: { reps: 5, seconds: 10, warmupS: 20, joinTimeoutS: 120, topologies: [{ id: '1x64', streams: 1, viewers: 64, processes: 4 }, { id: '64x1', streams: 64, viewers: 64, processes: 4 }], egress: ['fast', 'werift', 'werift-unbatched'], ceiling: ['c-aes-cm', 'c-gcm'], cpuProf: true },
};
export const budgetS = { smoke: 100, quick: 400, full: 2400 };

/** Issue 10's done-when figures for the fast egress (reported, never asserted by a test). */
// perStreamVsCeiling: the issue sets 12 µs at 64 × 1 where its C ceiling measured 4.0 µs
// (and ≤ 6 µs = 1.5× at 1 × 64): 3.0× is the same target as a ratio within one run, which
// this VM's speed (the ceiling moves 5.3–10.9 µs between days) does not move.
const TARGETS = { fanoutUs: 6, fanoutVsCeiling: 1.5, perStreamUs: 12, perStreamVsCeiling: 12 / 4.0, fanoutSyscallsPerDatagram: 0.03 };

/** Where rtp-relay is expected: the `rtp-relay` bin of package.json, built into dist/. */
export function detectRelay(root) {
  let bin = null;
  try {
    bin = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).bin?.['rtp-relay'] ?? null;
  } catch {
    // no package.json: reported below
  }
  return { bin, built: bin !== null && existsSync(join(root, bin)) };
}

/** The egresses this rtp-relay offers, read from its --help (`--egress fast|werift|…`). */
async function relayEgresses(ctx, bin) {
  const r = await runCmd(ctx.nodeBin, [join(ctx.root, bin), '--help'], 30_000);
  const lines = r.stdout.split('\n');
  const at = lines.findIndex((l) => /^\s*--egress\b/.test(l));
  if (at >= 0) {
    // The option's line and its continuation lines (up to the next option).
    const end = lines.findIndex((l, i) => i > at && /^\s*-/.test(l));
    const text = lines.slice(at, end < 0 ? undefined : end).join(' ');
    return { option: true, names: Object.keys(EGRESS).filter((n) => new RegExp(`(^|[^-\\w])${n}(?![-\\w])`).test(text)) };
  }
  // Before --egress: batching on by default, --no-batching for werift's own sockets.
  return { option: false, names: /--no-batching/.test(r.stdout) ? ['werift', 'werift-unbatched'] : ['werift'] };
}

function relayFlags(egress, offered) {
  if (egress === 'default') return [];
  return offered.option ? EGRESS[egress].flags : EGRESS[egress].legacy;
}

async function relayRun(ctx, P, topo, egress, offered, runIndex, cpuProfDir) {
  const port = 18400 + (runIndex % 40) * 10;
  const args = [
    join(ctx.root, 'scripts', 'measure-relay.mjs'),
    '--streams', String(topo.streams),
    '--viewers', String(topo.viewers),
    '--processes', String(topo.processes),
    '--seconds', String(P.seconds),
    '--warmup', String(P.warmupS),
    '--join-timeout', String(P.joinTimeoutS),
    '--http-port', String(port),
    '--webrtc-port', String(port + 1),
    '--ingest-base', String(20000 + (runIndex % 40) * 100),
    ...(cpuProfDir ? ['--cpu-prof', cpuProfDir] : []),
    '--', ...relayFlags(egress, offered),
  ];
  // The runner's own network namespace already isolates /proc/net/snmp.
  const env = ctx.netns ? { ...process.env, MEASURE_RELAY_NETNS: '1' } : process.env;
  const child = new Child(ctx.nodeBin, args, { env });
  // Bounded by what the run can take: startup (90 s), joins, the window, the viewers' and the relay's stop.
  const code = await child.wait((P.seconds + P.warmupS + P.joinTimeoutS + 90 + 60 + 30 + 15) * 1000);
  if (code !== 0) {
    // The thrown error's message, not just the stack's tail.
    const why = [...child.stderr.matchAll(/^(?:Uncaught )?(\w*Error\b.*)$/gm)].map((m) => m[1]).at(-1);
    const log = child.stderr.split('\n').filter((l) => /^(rtp-relay|whep-viewers|feeding)/.test(l)).slice(-6).join(' | ');
    throw new Error(`measure-relay exited ${code}: ${why ?? child.tail()}${log ? ` (last log lines: ${log})` : ''}`);
  }
  const r = JSON.parse(child.stdout.slice(child.stdout.indexOf('{')));
  return {
    kind: 'relay',
    cpuUsPerForwarded: r.relayCpuUsPerForwarded,
    syscallsPerDatagram: r.syscallsPerDatagram,
    gsoShare: r.gsoShare ?? null,
    rssMb: r.relayRssMb,
    forwardedPerS: r.rtpForwardedPerS,
    gaps: r.viewersResult.gaps,
    inOrder: r.viewersResult.allInOrder,
    startedAtKeyframe: r.viewersResult.allStartAtKeyframe,
    connected: r.viewersResult.connected,
    joinErrors: r.viewersResult.joinErrors.length,
    rejoins: r.viewersResult.rejoins ?? 0,
    viewersByEgress: r.viewersByEgress ?? {},
    fastEgressDatagrams: r.fastEgressDatagrams ?? null,
    // Over the whole run, like the viewers' gaps (older measure-relay output: the window only).
    rcvbufErrors: typeof r.snmpRun === 'object' ? r.snmpRun.RcvbufErrors : typeof r.snmp === 'object' ? r.snmp.RcvbufErrors : null,
    raw: r,
  };
}

async function ceilingRun(ctx, P, topo, which, runIndex) {
  // topo.viewers outputs in all: each of topo.streams streams fanned out to its share.
  const outputs = topo.viewers;
  const perStream = topo.viewers / topo.streams;
  const base = 40000 + (runIndex % 20) * 1100;
  const drain = new Child(ctx.srtpFanout.path, ['drain', '--base-port', String(base), '--outputs', String(outputs)]);
  try {
    await drain.listeningPort(15_000);
    const send = new Child(ctx.srtpFanout.path, ['send', '--dump', join(ctx.root, 'assets', 'demo.rtpdump'), '--base-port', String(base), '--streams', String(topo.streams), '--viewers', String(perStream), '--profile', CEILING[which].profile, '--seconds', String(P.seconds)]);
    const s = await send.json(P.seconds * 1000 + 60_000);
    drain.kill('SIGTERM');
    const d = await drain.json(15_000);
    return {
      kind: 'ceiling',
      cpuUsPerForwarded: s.cpuUsPerDatagram,
      protectUs: s.protectUsPerDatagram,
      sendUs: s.sendUsPerDatagram,
      otherUs: s.otherUsPerDatagram,
      syscallsPerDatagram: s.syscallsPerDatagram,
      forwardedPerS: s.datagramsPerS,
      // Datagrams the kernel took that the receiver did not drain (loopback: its buffer overflowed).
      lost: s.sent - d.datagrams,
      raw: { send: s, drain: d },
    };
  } finally {
    drain.kill('SIGKILL');
  }
}

/** One profiled run of the fast egress: the relay under node --cpu-prof, cut to the measured window. */
async function profileRun(ctx, P, topo, egress, offered, runIndex) {
  const dir = join(ctx.tmpDir, `relay-cpuprof-${topo.id}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  try {
    const r = await relayRun(ctx, P, topo, egress, offered, runIndex, dir);
    const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
    if (!files.length) throw new Error(`node --cpu-prof wrote no profile (relay exit: ${r.raw.relayExit})`);
    const prof = JSON.parse(readFileSync(join(dir, files[0]), 'utf8'));
    const s = summarizeProfile(prof, { windowUs: r.raw.measureWindowUs, top: 15 });
    return { topology: topo.id, egress, cpuUsPerForwarded: r.cpuUsPerForwarded, ...s };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * BENCH_RELAY_VIEWERS=N: the topologies become 1 × N and N × 1 (viewers in ⌈N/8⌉ processes) —
 * for a machine too busy to keep 64 werift viewers connected; the report shows the sizes used.
 * BENCH_RELAY_TOPOLOGIES=1xN[,Nx1] and BENCH_RELAY_EGRESS=fast,werift[,werift-unbatched] keep a
 * subset (e.g. one topology, two egresses and the C ceiling in a shorter quiet window); every
 * kept configuration still runs the profile's repetitions, interleaved.
 */
function params(profile) {
  let P = PARAMS[profile];
  if (profile === 'smoke') return P;
  const n = Number(process.env.BENCH_RELAY_VIEWERS);
  if (process.env.BENCH_RELAY_VIEWERS) {
    if (!Number.isInteger(n) || n < 1 || n > 512) throw new Error(`BENCH_RELAY_VIEWERS must be an integer in [1, 512], got ${process.env.BENCH_RELAY_VIEWERS}`);
    const processes = Math.max(1, Math.ceil(n / 8));
    P = { ...P, topologies: [{ id: `1x${n}`, streams: 1, viewers: n, processes }, { id: `${n}x1`, streams: n, viewers: n, processes }] };
  }
  const keep = (env, all, what) => {
    const v = process.env[env];
    if (!v) return all;
    const names = v.split(',').map((x) => x.trim()).filter(Boolean);
    const known = all.map(what);
    const unknown = names.filter((x) => !known.includes(x));
    if (names.length === 0 || unknown.length > 0) throw new Error(`${env} must be a comma-separated subset of ${known.join(',')}, got ${JSON.stringify(v)}`);
    return all.filter((x) => names.includes(what(x)));
  };
  return { ...P, topologies: keep('BENCH_RELAY_TOPOLOGIES', P.topologies, (t) => t.id), egress: keep('BENCH_RELAY_EGRESS', P.egress, (e) => e) };
}

export async function run(ctx) {
  const P = params(ctx.profile);
  const d = detectRelay(ctx.root);
  if (!d.built) {
    return { status: 'missing', missing: [{ what: 'rtp-relay', reason: `rtp-relay is not built (${d.bin ?? 'no bin in package.json'}): npm run build` }], notes: [], params: P, data: null };
  }
  if (!ctx.weriftVersion) return { status: 'missing', missing: [{ what: 'werift', reason: 'werift is not installed (npm install: it is a devDependency)' }], notes: [], params: P, data: null };
  const missing = [];
  const notes = [];
  const offered = await relayEgresses(ctx, d.bin);
  let egresses = P.egress;
  if (egresses[0] === 'default') {
    // Smoke: the relay's default egress (fast where the addon loads, when the relay has it).
    egresses = ['default'];
  } else {
    for (const e of egresses.filter((x) => !offered.names.includes(x))) {
      missing.push({ what: `egress ${e}`, reason: offered.option ? `rtp-relay --egress offers ${offered.names.join('|')}, not ${e}` : `this rtp-relay has no --egress option (only batching on/off): the ${e} egress is not built yet` });
    }
    egresses = egresses.filter((x) => offered.names.includes(x));
  }
  if (!ctx.batch.ok) {
    missing.push({ what: 'batch backend for the batched egresses', reason: ctx.batch.reason });
    egresses = egresses.filter((x) => x === 'werift-unbatched');
  }
  let ceilings = P.ceiling;
  if (!ctx.srtpFanout?.ok) {
    missing.push({ what: 'C ceiling (bench/c/srtp_fanout.c)', reason: ctx.srtpFanout?.reason ?? 'not built' });
    ceilings = [];
  }
  if (!ctx.perf.ok) missing.push({ what: 'perf (kernel-counted send syscalls)', reason: ctx.perf.reason });

  const configs = [];
  for (const t of P.topologies) {
    for (const e of egresses) configs.push({ key: `${t.id}/${e}`, topo: t, egress: e, label: e === 'default' ? 'default egress' : EGRESS[e].label });
    for (const c of ceilings) configs.push({ key: `${t.id}/${c}`, topo: t, ceiling: c, label: CEILING[c].label });
  }
  const byKey = Object.fromEntries(configs.map((c) => [c.key, c]));
  ctx.log(`relay: ${configs.map((c) => c.key).join(', ')} × ${P.reps} runs, ${P.seconds} s measured; egress option: ${offered.option ? offered.names.join('|') : 'none (legacy flags)'}`);
  let runIndex = 0;
  const { runs, skipped } = await runInterleaved(ctx, configs.map((c) => c.key), P.reps, async (key) => {
    const c = byKey[key];
    const i = runIndex++;
    const r = c.ceiling ? await ceilingRun(ctx, P, c.topo, c.ceiling, i) : await relayRun(ctx, P, c.topo, c.egress, offered, i);
    ctx.log(`  ${key}: ${fmtNum(r.cpuUsPerForwarded, 2)} µs/packet`);
    return r;
  });
  for (const r of runs) {
    const c = byKey[r.config];
    if (r.error || !c.egress || c.egress === 'default' || !r.viewersByEgress || !Object.keys(r.viewersByEgress).length) continue;
    const other = Object.entries(r.viewersByEgress).filter(([path, n]) => path !== c.egress && n > 0);
    if (other.length) notes.push(`${r.config} rep ${r.rep}: not every viewer took the ${c.egress} egress (${other.map(([p, n]) => `${n} on ${p}`).join(', ')}; the relay fell back for them).`);
    const fo = r.fastEgressDatagrams;
    if (c.egress === 'fast' && fo && (fo.dropped || fo.oversize || fo.error)) notes.push(`${r.config} rep ${r.rep}: the fast egress dropped ${fo.dropped ?? 0}, refused ${fo.oversize ?? 0} oversize and failed ${fo.error ?? 0} datagram(s) in the window.`);
  }
  if (skipped) notes.push(`The time budget of this profile (${budgetS[ctx.profile]} s) ran out: some repetitions were skipped (see n per figure).`);
  const failed = runs.filter((r) => r.error);
  if (failed.length) notes.push(`${failed.length} run(s) failed; errors in data.runs[].error.`);
  for (const r of runs) delete r.raw?.viewersResult?.joinErrors;

  // CPU profile of the fast egress, one extra run per topology.
  const profiles = [];
  const wantProf = (P.cpuProf || ctx.cpuProf) && egresses.includes('fast');
  if ((P.cpuProf || ctx.cpuProf) && !egresses.includes('fast')) notes.push('CPU profile of the fast egress skipped: this rtp-relay has no fast egress.');
  if (wantProf) {
    for (const t of P.topologies) {
      if (ctx.overBudget()) {
        notes.push(`CPU profile of ${t.id} skipped: the time budget ran out.`);
        continue;
      }
      try {
        profiles.push(await profileRun(ctx, P, t, 'fast', offered, runIndex++));
      } catch (err) {
        notes.push(`CPU profile of the fast egress at ${t.id} failed: ${String(err.message ?? err).split('\n')[0]}`);
      }
    }
  }

  const ser = (k, f) => seriesOf(runs, k, f);
  const summary = configs.map((c) => {
    const base = { config: c.key, topology: c.topo.id, streams: c.topo.streams, viewers: c.topo.viewers, egress: c.egress ?? null, ceiling: c.ceiling ?? null, label: c.label };
    const common = { cpuUsPerForwarded: summarize(ser(c.key, (r) => r.cpuUsPerForwarded)), syscallsPerDatagram: summarize(ser(c.key, (r) => r.syscallsPerDatagram)), forwardedPerS: summarize(ser(c.key, (r) => r.forwardedPerS)) };
    if (c.ceiling) return { ...base, ...common, protectUs: summarize(ser(c.key, (r) => r.protectUs)), sendUs: summarize(ser(c.key, (r) => r.sendUs)), otherUs: summarize(ser(c.key, (r) => r.otherUs)), lost: summarize(ser(c.key, (r) => r.lost)) };
    return {
      ...base,
      ...common,
      gsoShare: summarize(ser(c.key, (r) => r.gsoShare)),
      rssMb: summarize(ser(c.key, (r) => r.rssMb)),
      viewerGaps: summarize(ser(c.key, (r) => r.gaps)),
      rcvbufErrors: summarize(ser(c.key, (r) => r.rcvbufErrors)),
      startedAtKeyframe: ser(c.key, (r) => (r.startedAtKeyframe ? 1 : 0)).every((x) => x !== 0),
      inOrder: ser(c.key, (r) => (r.inOrder ? 1 : 0)).every((x) => x !== 0),
    };
  });
  // Ratios within the run: each relay egress against the others and against the ceilings of its topology.
  const ratios = [];
  for (const t of P.topologies) {
    const rel = egresses.map((e) => `${t.id}/${e}`);
    const refs = [...rel, ...ceilings.map((c) => `${t.id}/${c}`)];
    for (const a of rel) {
      for (const b of refs) {
        if (a === b || refs.indexOf(b) < refs.indexOf(a)) continue;
        ratios.push({ topology: t.id, a, b, metric: 'cpuUsPerForwarded', ratio: pairedRatio(ser(a, (r) => r.cpuUsPerForwarded), ser(b, (r) => r.cpuUsPerForwarded)) });
      }
    }
  }
  const status = missing.length || failed.length ? 'partial' : 'ok';
  return { status, missing, notes, params: P, data: { summary, ratios, profiles, targets: TARGETS, egressOption: offered, runs, reps: P.reps } };
}

/** Issue 10's done-when criteria against this run's medians (null: not measured). */
export function doneWhen(res) {
  const s = res.data?.summary ?? [];
  const fan = s.find((x) => x.egress === 'fast' && x.streams === 1 && x.viewers > 1);
  const per = s.find((x) => x.egress === 'fast' && x.streams > 1);
  const ceilFan = fan && s.filter((x) => x.ceiling && x.topology === fan.topology).map((x) => x.cpuUsPerForwarded.median).filter((v) => v !== null);
  const ratioFan = fan && res.data.ratios.filter((r) => r.a === fan.config && r.b.startsWith(`${fan.topology}/c-`)).map((r) => r.ratio.median).filter((v) => v !== null);
  const ratioPer = per && res.data.ratios.filter((r) => r.a === per.config && r.b.startsWith(`${per.topology}/c-`)).map((r) => r.ratio.median).filter((v) => v !== null);
  const T = res.data?.targets ?? TARGETS;
  const check = (name, value, ok, want) => ({ name, value, want, ok: value === null || value === undefined ? null : ok });
  const out = [];
  if (fan) {
    out.push(check(`fast ${fan.topology}: CPU µs per forwarded packet`, fan.cpuUsPerForwarded.median, fan.cpuUsPerForwarded.median <= T.fanoutUs, `≤ ${T.fanoutUs}`));
    // ≤ 1.5× the ceiling: against the dearer of the two profiles the viewers may have negotiated.
    const worst = ratioFan?.length ? Math.max(...ratioFan) : null;
    out.push(check(`fast ${fan.topology} ÷ C ceiling (paired, the larger of the two profiles)`, worst, worst <= T.fanoutVsCeiling, `≤ ${T.fanoutVsCeiling}`));
    out.push(check(`fast ${fan.topology}: send syscalls per datagram`, fan.syscallsPerDatagram.median, fan.syscallsPerDatagram.median <= T.fanoutSyscallsPerDatagram, `≤ ${T.fanoutSyscallsPerDatagram}`));
    out.push(check(`fast ${fan.topology}: viewer gaps (max over runs)`, fan.viewerGaps.max, fan.viewerGaps.max === 0, '0'));
    out.push(check(`fast ${fan.topology}: every viewer in order and started at a keyframe`, fan.viewerGaps.n ? (fan.inOrder && fan.startedAtKeyframe ? 1 : 0) : null, fan.inOrder && fan.startedAtKeyframe, 'yes'));
    if (ceilFan?.length) out.push({ name: `C ceiling ${fan.topology} (median of the two profiles' medians, for reference)`, value: ceilFan.reduce((a, b) => a + b, 0) / ceilFan.length, want: '', ok: null });
  }
  if (per) {
    out.push(check(`fast ${per.topology}: CPU µs per forwarded packet`, per.cpuUsPerForwarded.median, per.cpuUsPerForwarded.median <= T.perStreamUs, `≤ ${T.perStreamUs}`));
    if (T.perStreamVsCeiling !== undefined) {
      const worst = ratioPer?.length ? Math.max(...ratioPer) : null;
      out.push(check(`fast ${per.topology} ÷ C ceiling (paired, the larger of the two profiles; the issue's 12 µs at its 4.0 µs ceiling)`, worst, worst <= T.perStreamVsCeiling, `≤ ${fmtNum(T.perStreamVsCeiling, 1)}`));
    }
    out.push(check(`fast ${per.topology}: viewer gaps (max over runs)`, per.viewerGaps.max, per.viewerGaps.max === 0, '0'));
  }
  return out;
}

export function headline(res) {
  const s = res.data?.summary ?? [];
  const parts = [];
  for (const t of [...new Set(s.map((x) => x.topology))]) {
    const row = (pred) => s.find((x) => x.topology === t && pred(x));
    const cells = [];
    for (const e of ['fast', 'werift', 'werift-unbatched', null]) {
      const r = e === null ? row((x) => x.egress === 'default') : row((x) => x.egress === e);
      if (r?.cpuUsPerForwarded.n) cells.push(`${r.egress} ${fmtSummary(r.cpuUsPerForwarded, 1)}`);
    }
    const c = row((x) => x.ceiling === 'c-aes-cm');
    if (c?.cpuUsPerForwarded.n) cells.push(`C ceiling ${fmtNum(c.cpuUsPerForwarded.median, 1)}`);
    if (cells.length) parts.push(`${t}: ${cells.join(', ')}`);
  }
  return parts.length ? `relay CPU µs per forwarded RTP packet — ${parts.join('; ')}` : '';
}

const pct = (s) => (s?.n ? { ...s, median: s.median * 100, min: s.min * 100, max: s.max * 100 } : s);

export async function report(res, R) {
  const d = res.data;
  const p = res.params;
  const out = [];
  const topoText = p.topologies.map((t) => `${t.id} = ${t.streams} stream${t.streams > 1 ? 's' : ''} × ${t.viewers / t.streams} viewer${t.viewers / t.streams > 1 ? 's' : ''} each (${t.viewers} werift viewers in ${t.processes} processes)`).join('; ');
  out.push(
    `rtp-relay fed live by a separate process (scripts/rtp-feeder.mjs: the bundled 6 s H.264 + Opus recording, ~141 RTP packets/s per stream, looped in real time, distinct SSRCs and ports), viewers are werift WHEP peers in other processes (scripts/whep-viewers.mjs). Topologies: ${topoText}. Measured for ${p.seconds} s, starting ${Math.max(1, p.warmupS ?? 1)} s after every viewer was connected and past its first keyframe (warm-up: V8 compiles the per-viewer paths). Relay CPU from /proc/PID/stat (user + sys) ÷ RTP packets forwarded; send syscalls by \`perf stat -e syscalls:sys_enter_sendmmsg,…sendmsg,…sendto\` on the relay's PID ÷ datagrams sent; GSO share = datagrams that left as segments of a UDP GSO message ÷ datagrams sent (the relay's counters). C ceiling: bench/c/srtp_fanout.c replays the same recording to the same number of outputs (header rewrite, SRTP protect with OpenSSL EVP contexts created once, one sendmmsg per wake) with a draining receiver in another process; it does no ingest receive, no RTCP, no ICE/DTLS. Median [min–max] of ${d.reps} runs, all configurations interleaved (rotated order per repetition). rtp-relay egress option: ${d.egressOption.option ? `--egress ${d.egressOption.names.join('|')}` : 'none (this build only has --no-batching)'}.\n`,
  );
  for (const t of p.topologies) {
    const rows = d.summary.filter((s) => s.topology === t.id);
    out.push(`\n#### ${t.id}: ${t.streams} stream${t.streams > 1 ? 's' : ''} × ${t.viewers / t.streams} viewer${t.viewers / t.streams > 1 ? 's' : ''}${t.streams > 1 ? ' each' : ''}\n`);
    out.push(
      mdTable(
        ['egress', 'CPU µs per forwarded RTP packet', 'send syscalls per datagram', 'GSO share %', 'RTP forwarded /s', 'relay RSS MB', 'viewer gaps ¹', 'in order, from a keyframe', 'kernel RcvbufErrors ¹'],
        rows.map((s) =>
          s.ceiling
            ? [s.label, `${fmtSummary(s.cpuUsPerForwarded, 2)} (protect ${fmtNum(s.protectUs.median, 2)}, send ${fmtNum(s.sendUs.median, 2)}, other ${fmtNum(s.otherUs.median, 2)})`, fmtSummary(s.syscallsPerDatagram, 4), '0 (plain sendmmsg)', fmtSummary(s.forwardedPerS, 0), '–', `${fmtSummary(s.lost, 0)} lost at the receiver`, '–', '–']
            : [s.label, fmtSummary(s.cpuUsPerForwarded, 2), fmtSummary(s.syscallsPerDatagram, 4), fmtSummary(pct(s.gsoShare), 1, s.cpuUsPerForwarded.n ? 'no counter' : '–'), fmtSummary(s.forwardedPerS, 0), fmtSummary(s.rssMb, 0), fmtSummary(s.viewerGaps, 0), s.cpuUsPerForwarded.n ? (s.inOrder && s.startedAtKeyframe ? 'yes' : 'NO') : '–', fmtSummary(s.rcvbufErrors, 0)],
        ),
      ),
    );
    const rs = d.ratios.filter((r) => r.topology === t.id && r.ratio.n);
    if (rs.length) {
      out.push(`\nPaired ratios within the run, CPU per forwarded packet (a ÷ b, < 1 = a is cheaper):\n`);
      out.push(mdTable(['a', 'b', 'a ÷ b'], rs.map((r) => [r.a.split('/')[1], r.b.split('/')[1], fmtSummary(r.ratio, 2)])));
    }
  }
  out.push(
    `\n¹ Viewer gaps: sequence discontinuities the viewers saw (a loss or reorder each). RcvbufErrors: datagrams the kernel dropped at a full receive buffer anywhere in the run's private network namespace, over the same span as the gaps (joins and warm-up included) (viewer sockets or the relay's ingest), i.e. loss on the receiving side of loopback on a 2-core machine running relay, feeder and viewers at once, not in the relay's queues.\n`,
  );
  const dw = doneWhen(res);
  if (dw.length) {
    out.push(`\nIssue 10 done-when, this run's figures (the bench reports; no test asserts speed):\n`);
    out.push(mdTable(['criterion', 'measured', 'target', 'met'], dw.map((c) => [c.name, fmtNum(c.value, 3), c.want, c.ok === null ? '–' : c.ok ? 'yes' : 'NO'])));
  }
  const chartRows = d.summary.filter((s) => s.cpuUsPerForwarded.n).map((s) => ({ group: s.topology, series: s.egress ?? s.label, ...s.cpuUsPerForwarded }));
  if (chartRows.length) out.push(await R.barChart({ name: 'relay-cpu', title: 'rtp-relay CPU per forwarded RTP packet (µs, lower is better)', rows: chartRows, yTitle: 'µs per forwarded packet' }));
  for (const pr of d.profiles ?? []) {
    out.push(`\n#### Where the fast egress spends its time at ${pr.topology} (\`node --cpu-prof\`, samples within the measured window)\n`);
    out.push(`Profiled run: ${fmtNum(pr.cpuUsPerForwarded, 2)} µs per forwarded packet (the profiler adds its own cost); ${fmtNum(pr.busyS, 2)} s busy of ${fmtNum(pr.sampledS, 2)} s sampled. µs/packet = share × that figure.\n`);
    out.push(mdTable(['category', 'share of busy time', 'µs per forwarded packet'], pr.categories.map((c) => [c.name, `${fmtNum(100 * c.share, 1)} %`, fmtNum(c.share * pr.cpuUsPerForwarded, 2)])));
    out.push(`\nTop functions by self time:\n`);
    out.push(mdTable(['function', 'where', 'share'], pr.top.map((f) => [f.name, f.where || '(native)', `${fmtNum(100 * f.share, 1)} %`])));
  }
  return out.join('\n');
}
