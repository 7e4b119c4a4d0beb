/**
 * Issue 4 item 7 — the relay at 64 streams: 64 ingest streams (the bundled recording
 * replayed in real time with distinct SSRCs and ports, by scripts/rtp-feeder.mjs in its
 * own process) × werift WHEP viewers (scripts/whep-viewers.mjs, several processes, one
 * viewer per stream); relay CPU per forwarded RTP packet, send system calls per datagram
 * (`perf stat` on the relay's PID), relay memory, and what the viewers received — with the
 * batching plug on one shared port against `--no-batching`, interleaved.
 *
 * Each run is one `node scripts/measure-relay.mjs` (relay, feeder and viewers started
 * fresh; measured once every viewer is connected and past its first keyframe).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Child } from '../lib/proc.mjs';
import { pairedRatio, summarize, seriesOf } from '../lib/stats.mjs';
import { runInterleaved } from '../lib/interleave.mjs';
import { fmtSummary, mdTable } from '../lib/format.mjs';

export const id = 'relay';
export const title = 'Relay: 64 ingest streams × WHEP viewers';
export const item = 7;

const CONFIGS = {
  batched: { flags: [], label: 'batched, shared port (default)' },
  stock: { flags: ['--no-batching'], label: "--no-batching (werift's sockets)" },
};
const PARAMS = {
  smoke: { reps: 1, streams: 2, viewers: 2, processes: 1, seconds: 2, configs: ['batched'] },
  quick: { reps: 1, streams: 16, viewers: 16, processes: 2, seconds: 5, configs: ['batched', 'stock'] },
  full: { reps: 5, streams: 64, viewers: 64, processes: 4, seconds: 10, configs: ['batched', 'stock'] },
};
export const budgetS = { smoke: 90, quick: 150, full: 900 };

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

async function oneRun(ctx, cfg, P, rep) {
  const port = 18400 + (rep % 20) * 10;
  const args = [
    join(ctx.root, 'scripts', 'measure-relay.mjs'),
    '--streams', String(P.streams),
    '--viewers', String(P.viewers),
    '--processes', String(P.processes),
    '--seconds', String(P.seconds),
    '--http-port', String(port),
    '--webrtc-port', String(port + 1),
    '--ingest-base', String(20000 + (rep % 20) * 100),
    '--', ...cfg.flags,
  ];
  // The runner's own network namespace already isolates /proc/net/snmp.
  const env = ctx.netns ? { ...process.env, MEASURE_RELAY_NETNS: '1' } : process.env;
  const child = new Child(ctx.nodeBin, args, { env });
  const code = await child.wait(P.seconds * 1000 + 150_000);
  if (code !== 0) throw new Error(`measure-relay exited ${code}: ${child.tail()}`);
  return JSON.parse(child.stdout.slice(child.stdout.indexOf('{')));
}

export async function run(ctx) {
  const P = PARAMS[ctx.profile];
  const d = detectRelay(ctx.root);
  if (!d.built) {
    return { status: 'missing', missing: [{ what: 'rtp-relay', reason: `rtp-relay is not built (${d.bin ?? 'no bin in package.json'}): npm run build` }], notes: [], params: P, data: null };
  }
  if (!ctx.weriftVersion) return { status: 'missing', missing: [{ what: 'werift', reason: 'werift is not installed (npm install: it is a devDependency)' }], notes: [], params: P, data: null };
  const missing = [];
  const notes = [];
  let configs = P.configs;
  if (!ctx.batch.ok) {
    missing.push({ what: 'batch backend for the plug', reason: ctx.batch.reason });
    configs = configs.filter((c) => c !== 'batched');
  }
  if (!ctx.perf.ok) missing.push({ what: 'perf (kernel-counted send syscalls)', reason: ctx.perf.reason });
  ctx.log(`relay: ${configs.join(', ')} × ${P.reps} runs; ${P.streams} streams × ${P.viewers} viewers (${P.processes} viewer processes), ${P.seconds} s measured`);
  const { runs, skipped } = await runInterleaved(ctx, configs, P.reps, (c, rep) => oneRun(ctx, CONFIGS[c], P, rep * configs.length + configs.indexOf(c)));
  if (skipped) notes.push(`The time budget of this profile (${budgetS[ctx.profile]} s) ran out: some repetitions were skipped (see n per figure).`);
  const failed = runs.filter((r) => r.error);
  if (failed.length) notes.push(`${failed.length} run(s) failed; errors in data.runs[].error.`);
  const ser = (c, f) => seriesOf(runs, c, f);
  const summary = configs.map((c) => ({
    config: c,
    label: CONFIGS[c].label,
    cpuUsPerForwarded: summarize(ser(c, (r) => r.relayCpuUsPerForwarded)),
    syscallsPerDatagram: summarize(ser(c, (r) => r.syscallsPerDatagram)),
    rssMb: summarize(ser(c, (r) => r.relayRssMb)),
    forwardedPerS: summarize(ser(c, (r) => r.rtpForwardedPerS)),
    viewerGaps: summarize(ser(c, (r) => r.viewersResult.gaps)),
    rcvbufErrors: summarize(ser(c, (r) => (typeof r.snmp === 'object' ? r.snmp.RcvbufErrors : null))),
    startedAtKeyframe: ser(c, (r) => (r.viewersResult.allStartAtKeyframe ? 1 : 0)).every((x) => x !== 0),
  }));
  const ratios = configs.includes('batched') && configs.includes('stock') ? [{ a: 'batched', b: 'stock', metric: 'cpuUsPerForwarded', ratio: pairedRatio(ser('batched', (r) => r.relayCpuUsPerForwarded), ser('stock', (r) => r.relayCpuUsPerForwarded)) }] : [];
  const status = missing.length || failed.length ? 'partial' : 'ok';
  return { status, missing, notes, params: P, data: { summary, ratios, runs, reps: P.reps } };
}

export function headline(res) {
  const s = res.data?.summary ?? [];
  const b = s.find((x) => x.config === 'batched');
  const st = s.find((x) => x.config === 'stock');
  const r = res.data?.ratios?.[0];
  if (!b) return '';
  return `relay CPU per forwarded RTP packet: batched ${fmtSummary(b.cpuUsPerForwarded, 1)} µs${st ? `, --no-batching ${fmtSummary(st.cpuUsPerForwarded, 1)} µs` : ''}${r ? ` → ×${fmtSummary(r.ratio, 2)}` : ''}; send syscalls per datagram ${fmtSummary(b.syscallsPerDatagram, 4)}`;
}

export async function report(res, R) {
  const d = res.data;
  const p = res.params;
  const out = [];
  out.push(
    `rtp-relay with ${p.streams} live ingest streams (the bundled 6 s H.264 + Opus recording replayed in real time by a separate feeder process, distinct SSRCs and ports) and ${p.viewers} werift WHEP viewers in ${p.processes} other processes, one per stream; measured for ${p.seconds} s once every viewer was connected and past its first keyframe. Relay CPU from /proc/PID/stat, send syscalls by \`perf stat\` on the relay's PID, RSS at the end. Median [min–max] of ${d.reps} runs, configurations interleaved.\n`,
  );
  out.push(
    mdTable(
      ['relay egress', 'CPU µs per forwarded RTP packet', 'send syscalls per datagram (perf)', 'RTP forwarded /s', 'relay RSS MB', 'viewer sequence gaps ¹', 'kernel RcvbufErrors ¹'],
      d.summary.map((s) => [s.label, fmtSummary(s.cpuUsPerForwarded, 1), fmtSummary(s.syscallsPerDatagram, 4), fmtSummary(s.forwardedPerS, 0), fmtSummary(s.rssMb, 0), fmtSummary(s.viewerGaps, 0), fmtSummary(s.rcvbufErrors, 0)]),
    ),
  );
  out.push(
    `\n¹ Losses on the receiving side of loopback: viewer sockets (or the relay's ingest) overflowing while the 2-core machine runs the relay, the feeder and ${p.processes} werift viewer processes at once. The relay's own queues dropped nothing unless noted.\n`,
  );
  if (d.ratios.length) {
    out.push(`\nInterleaved ratio, relay CPU per forwarded RTP packet (batched ÷ --no-batching, <1 = cheaper):\n`);
    out.push(mdTable(['', '÷ --no-batching'], d.ratios.map((r) => [CONFIGS[r.a].label, fmtSummary(r.ratio, 2)])));
  }
  out.push(await R.barChart({ name: 'relay-cpu', title: 'rtp-relay CPU per forwarded RTP packet (µs, lower is better)', rows: d.summary.map((s) => ({ group: s.label, series: 'CPU µs per forwarded RTP packet', ...s.cpuUsPerForwarded })), yTitle: 'µs per forwarded packet' }));
  return out.join('\n');
}
