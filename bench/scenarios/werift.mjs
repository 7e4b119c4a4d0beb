/**
 * Issue 4 item 6 — werift egress: CPU per RTP packet sent by a werift peer, stock werift
 * against the plug (per-connection and shared-port topologies), the receiving werift peer
 * in another process; plus a `node --cpu-prof` breakdown of the sender (SRTP, RTP
 * handling, DTLS/ICE, UDP send, GC).
 *
 * Load: N sendonly connections in one sender process; every "frame" is K RTP packets
 * (payload P bytes) written to every connection in the same event-loop turn — the fan-out
 * shape of a relay — at F frames/s. CPU = process.cpuUsage() of the sender over the send
 * phase (plus 100 ms for the last sends to leave) ÷ RTP packets written. Sender and
 * receiver processes live across runs; each run connects fresh peer connections (plug
 * installed before them, uninstalled after), configurations interleaved per repetition.
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Child } from '../lib/proc.mjs';
import { breakdown, CATEGORIES } from '../lib/cpuprofile.mjs';
import { pairedRatio, summarize, seriesOf } from '../lib/stats.mjs';
import { runInterleaved } from '../lib/interleave.mjs';
import { fmtNum, fmtSummary, mdTable } from '../lib/format.mjs';

export const id = 'werift';
export const title = "werift egress: stock vs plug vs srtp: 'native'";
export const item = 6;

const CONFIGS = {
  stock: { plug: null, label: 'stock werift (node:dgram)' },
  plug: { plug: {}, label: 'plug, per connection (tick)' },
  'plug-shared': { plug: { sharedPort: true, sharedAddress: '127.0.0.1' }, label: 'plug, shared port (tick)' },
  // Issue 10 item 6: werift's per-packet SRTP protect moved into the addon (one native call per turn).
  'plug-srtp': { plug: { srtp: 'native' }, label: "plug, per connection + srtp: 'native'" },
  'plug-shared-srtp': { plug: { sharedPort: true, sharedAddress: '127.0.0.1', srtp: 'native' }, label: "plug, shared port + srtp: 'native'" },
};
const PARAMS = {
  smoke: { reps: 1, connections: 2, packetsPerFrame: 4, fps: 50, seconds: 0.2, payload: 1100, profile: [] },
  quick: { reps: 5, connections: 4, packetsPerFrame: 10, fps: 300, seconds: 0.5, payload: 1100, profile: ['stock', 'plug-shared-srtp'] },
  full: { reps: 5, connections: 4, packetsPerFrame: 10, fps: 300, seconds: 2, payload: 1100, profile: ['stock', 'plug', 'plug-shared', 'plug-shared-srtp'] },
};
export const budgetS = { smoke: 90, quick: 55, full: 600 };

class Peer {
  constructor(ctx, role, nodeArgs = []) {
    this.child = new Child(ctx.nodeBin, [...nodeArgs, join(ctx.root, 'bench', 'workers', 'werift-peer.mjs'), role], { ipc: true });
    this.seq = 0;
    this.pending = new Map();
    this.ready = new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`werift ${role} did not start: ${this.child.tail()}`)), 30_000);
      this.child.proc.on('message', (m) => {
        if (m.ready) {
          clearTimeout(t);
          resolve(m);
          return;
        }
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.ok) p.resolve(m);
        else p.reject(new Error(`werift ${role}: ${m.error}`));
      });
      this.child.exited.then(() => {
        clearTimeout(t);
        reject(new Error(`werift ${role} exited: ${this.child.tail()}`));
        for (const p of this.pending.values()) p.reject(new Error(`werift ${role} exited (${this.child.code}): ${this.child.tail()}`));
        this.pending.clear();
      });
    });
    this.ready.catch(() => {});
  }

  call(cmd, args = {}, timeoutMs = 60_000) {
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`werift peer: ${cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(t);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      });
      this.child.proc.send({ id, cmd, ...args });
    });
  }

  async stop() {
    try {
      await this.call('exit', {}, 5000);
    } catch {
      // gone already
    }
    await this.child.wait(5000).catch(() => this.child.kill());
  }
}

/** One measured run: connect N pairs, send, count, close. */
async function oneRun(sender, receiver, cfg, P) {
  const { offers } = await sender.call('offer', { n: P.connections, plug: cfg.plug });
  const { answers } = await receiver.call('answer', { offers });
  await Promise.all([sender.call('answer', { answers }), receiver.call('connected')]);
  const frames = Math.max(1, Math.round(P.fps * P.seconds));
  const tx = await sender.call('send', { frames, packetsPerFrame: P.packetsPerFrame, fps: P.fps, payload: P.payload }, P.seconds * 5000 + 30_000);
  const { received } = await receiver.call('count', {}, 30_000);
  await Promise.all([sender.call('close'), receiver.call('close')]);
  const delivered = received.reduce((a, b) => a + b, 0);
  return { packets: tx.packets, delivered, cpuUs: tx.cpuUs, cpuUserUs: tx.cpuUserUs, cpuSysUs: tx.cpuSysUs, cpuUsPerPacket: tx.cpuUsPerPacket, sendS: tx.sendS, phaseUs: tx.phaseUs, plug: tx.plug };
}

export async function run(ctx) {
  const P = PARAMS[ctx.profile];
  const missing = [];
  const notes = [];
  let skipped = false;
  if (!ctx.weriftVersion) return { status: 'missing', missing: [{ what: 'werift', reason: 'werift is not installed (npm install: it is a devDependency)' }], notes, params: P, data: null };
  let configs = Object.keys(CONFIGS);
  if (process.env.BENCH_WERIFT_CONFIGS) configs = configs.filter((c) => process.env.BENCH_WERIFT_CONFIGS.split(',').includes(c));
  if (!ctx.batch.ok) {
    missing.push({ what: 'batch backend for the plug', reason: ctx.batch.reason });
    configs = ['stock'];
  }
  const runs = [];
  const sender = new Peer(ctx, 'sender');
  const receiver = new Peer(ctx, 'receiver');
  try {
    await Promise.all([sender.ready, receiver.ready]);
    ctx.log(`werift: ${configs.join(', ')} × ${P.reps} runs; ${P.connections} connections × ${P.packetsPerFrame} packets × ${P.fps} frames/s for ${P.seconds} s`);
    const r = await runInterleaved(ctx, configs, P.reps, (c) => oneRun(sender, receiver, CONFIGS[c], P));
    runs.push(...r.runs);
    skipped = r.skipped;
  } finally {
    await Promise.all([sender.stop(), receiver.stop()]);
  }

  // CPU profile of the sender, one fresh process per configuration.
  const profiles = {};
  if (P.profile.length && ctx.overBudget()) notes.push(`CPU profiles skipped: the time budget of this profile (${budgetS[ctx.profile]} s) ran out.`);
  if (P.profile.length && !ctx.overBudget()) {
    const dir = join(ctx.tmpDir, 'cpuprof');
    for (const c of configs.filter((x) => P.profile.includes(x))) {
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      const s = new Peer(ctx, 'sender', ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-interval', '250']);
      const r = new Peer(ctx, 'receiver');
      try {
        await Promise.all([s.ready, r.ready]);
        const res = await oneRun(s, r, CONFIGS[c], P);
        await Promise.all([s.stop(), r.stop()]);
        const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
        if (!files.length) throw new Error('node --cpu-prof wrote no profile');
        profiles[c] = { ...(await breakdown(join(dir, files[0]), res.phaseUs)), cpuUsPerPacket: res.cpuUsPerPacket };
      } catch (err) {
        profiles[c] = { error: String(err.message ?? err) };
        notes.push(`CPU profile of ${c} failed: ${profiles[c].error.split('\n')[0]}`);
      } finally {
        await Promise.all([s.stop(), r.stop()]);
      }
    }
    await rm(dir, { recursive: true, force: true });
  }

  if (skipped) notes.push(`The time budget of this profile (${budgetS[ctx.profile]} s) ran out: some repetitions were skipped (see n per figure).`);
  const failed = runs.filter((r) => r.error);
  if (failed.length) notes.push(`${failed.length} run(s) failed; errors in data.runs[].error.`);
  const ser = (c, f) => seriesOf(runs, c, f);
  const summary = configs.map((c) => ({
    config: c,
    label: CONFIGS[c].label,
    cpuUsPerPacket: summarize(ser(c, (r) => r.cpuUsPerPacket)),
    cpuSysShare: summarize(ser(c, (r) => r.cpuSysUs / r.cpuUs)),
    deliveredShare: summarize(ser(c, (r) => r.delivered / r.packets)),
    packetsPerSyscall: summarize(ser(c, (r) => (r.plug && r.plug.syscalls ? r.plug.sent / r.plug.syscalls : null))),
  }));
  const ratios = configs.filter((c) => c !== 'stock').map((c) => ({ a: c, b: 'stock', metric: 'cpuUsPerPacket', ratio: pairedRatio(ser(c, (r) => r.cpuUsPerPacket), ser('stock', (r) => r.cpuUsPerPacket)) }));
  const status = missing.length || failed.length ? 'partial' : 'ok';
  return { status, missing, notes, params: P, data: { summary, ratios, profiles, runs, reps: P.reps } };
}

export function headline(res) {
  const s = res.data?.summary ?? [];
  const st = s.find((x) => x.config === 'stock');
  const pl = s.find((x) => x.config === 'plug-shared') ?? s.find((x) => x.config === 'plug');
  const r = res.data?.ratios?.find((x) => x.a === pl?.config);
  if (!st || !pl || !r) return '';
  const nat = s.find((x) => x.config === 'plug-shared-srtp') ?? s.find((x) => x.config === 'plug-srtp');
  const rn = res.data?.ratios?.find((x) => x.a === nat?.config);
  const natPart = nat && rn ? `; ${nat.label} ${fmtSummary(nat.cpuUsPerPacket, 1)} µs → ×${fmtSummary(rn.ratio, 2)}` : '';
  return `CPU per RTP packet: stock ${fmtSummary(st.cpuUsPerPacket, 1)} µs, ${pl.label} ${fmtSummary(pl.cpuUsPerPacket, 1)} µs → ×${fmtSummary(r.ratio, 2)}${natPart}`;
}

export async function report(res, R) {
  const d = res.data;
  const p = res.params;
  const out = [];
  out.push(
    `Sender: one werift process (CJS build) with ${p.connections} sendonly peer connections; each frame = ${p.packetsPerFrame} RTP packets of ${p.payload} B payload written to every connection in one turn, ${p.fps} frames/s (${p.connections * p.packetsPerFrame * p.fps} packets/s) for ${p.seconds} s. Receiver: stock werift (ESM build) in another process. Loopback, host candidates only. Median [min–max] of ${d.reps} runs, configurations interleaved.\n`,
  );
  out.push(
    mdTable(
      ['sender', 'CPU µs per RTP packet', 'of which kernel (sys) %', 'delivered % ¹', 'datagrams per send syscall (plug counter)'],
      d.summary.map((s) => [s.label, fmtSummary(s.cpuUsPerPacket, 2), fmtSummary(scale(s.cpuSysShare, 100), 0), fmtSummary(scale(s.deliveredShare, 100), 1), s.config === 'stock' ? '1 (one sendmsg each)' : fmtSummary(s.packetsPerSyscall, 1)]),
    ),
  );
  out.push(`\n¹ RTP packets the receiving peers counted ÷ packets written; werift's NACK-driven retransmissions can put it above 100 %.\n`);
  out.push(`\nWith \`srtp: 'native'\` the SRTP protect runs in the addon (OpenSSL EVP as linked into Node), one native call per event-loop turn's packets; its time shows in the profile as "(native)"/the hook in dist/werift, not under werift's SRTP.\n`);
  if (d.ratios.length) {
    out.push(`\nInterleaved ratio, CPU per RTP packet (plug ÷ stock, <1 = cheaper):\n`);
    out.push(mdTable(['sender', '÷ stock'], d.ratios.map((r) => [CONFIGS[r.a].label, fmtSummary(r.ratio, 2)])));
  }
  out.push(await R.barChart({ name: 'werift-cpu', title: 'werift sender CPU per RTP packet (µs, lower is better)', rows: d.summary.map((s) => ({ group: s.label, series: 'CPU µs per RTP packet', ...s.cpuUsPerPacket })), yTitle: 'µs per RTP packet' }));
  const profs = Object.entries(d.profiles ?? {});
  if (profs.length) {
    out.push(
      `\n#### Where the sender's time goes (\`node --cpu-prof\`, 250 µs sampling, samples within the send phase, idle excluded)\n\nEach sample is attributed to the first frame from the leaf up that belongs to a category (werift's CJS build keeps one directory per package: rtp/src/srtp → SRTP; rtp, webrtc → RTP handling; ice, dtls → DTLS/ICE; werift common/transport, node:dgram and this package's dist/ → UDP send). "µs/packet" = share × the profiled run's CPU per packet (the profiler itself adds cost).\n`,
    );
    const ok = profs.filter(([, v]) => !v.error);
    out.push(
      mdTable(
        ['category', ...ok.map(([c]) => `${CONFIGS[c].label}: share`), ...ok.map(([c]) => `${CONFIGS[c].label}: µs/packet`)],
        CATEGORIES.map((cat) => [cat, ...ok.map(([, v]) => `${fmtNum(100 * v.shares[cat], 1)} %`), ...ok.map(([, v]) => fmtNum(v.shares[cat] * v.cpuUsPerPacket, 2))]),
      ),
    );
    out.push(`\nSamples in the send phase: ${ok.map(([c, v]) => `${CONFIGS[c].label} ${v.inWindow}`).join(', ')}.\n`);
    const rows = [];
    for (const [c, v] of ok) for (const cat of CATEGORIES) rows.push({ group: CONFIGS[c].label, part: cat, value: v.shares[cat] * v.cpuUsPerPacket });
    out.push(await R.stacked({ name: 'werift-profile', title: 'werift sender: CPU per RTP packet by category (profiled run)', rows, xTitle: 'µs per RTP packet', partOrder: CATEGORIES }));
    for (const [c, v] of ok) {
      out.push(`\nTop self-time functions, ${CONFIGS[c].label}:\n`);
      out.push(mdTable(['function', 'where', 'share'], v.topSelf.slice(0, 8).map((t) => [t.name, t.url || '(native)', `${fmtNum(100 * t.share, 1)} %`])));
    }
  }
  return out.join('\n');
}

function scale(s, k) {
  return s?.n ? { ...s, median: s.median * k, min: s.min * k, max: s.max * k } : s;
}
