/**
 * Issue 4 item 4 — receive: the highest loss-free rate of each receive path.
 *
 * Receive paths (bench/workers/recv-worker.mjs, same work per datagram):
 * node:dgram 'message' (what an app has today), the library's batch path ('batch'
 * event: one callback per recvmmsg batch) and the library's dgram-compatible 'message'
 * event on the batch backend. Source: the C reference (sendmmsg ×64, 1 ms pacing ticks)
 * at a requested rate for a fixed time. A probe is loss-free when the receiver counted
 * every datagram the source sent (and, in the private namespace, the kernel's
 * RcvbufErrors did not move). A geometric bisection over the rate, one receiver process
 * per (path, repetition) kept across probes (each probe its own flow id), the paths'
 * bisection steps interleaved. Result per repetition: the highest loss-free achieved rate.
 *
 * SO_RCVBUF is requested the same for all paths (1 MiB; the kernel doubles it, capped by
 * rmem_max); a buffer absorbs a deficit for a while, so the figure is "loss-free over a
 * probe of D seconds at this buffer size", stated in the report.
 */
import { join } from 'node:path';
import { Child } from '../lib/proc.mjs';
import { runSender } from '../lib/senders.mjs';
import { readUdp, udpDelta } from '../lib/snmp.mjs';
import { pairedRatio, rotate, summarize } from '../lib/stats.mjs';
import { fmtSummary, mdTable } from '../lib/format.mjs';

export const id = 'receive';
export const title = 'Receive: highest loss-free rate';
export const item = 4;

const MODES = {
  dgram: { label: "node:dgram 'message'", needsBatch: false },
  batch: { label: "batch path ('batch' event)", needsBatch: true },
  'batch-message': { label: "batch backend, 'message' event", needsBatch: true },
  // GRO only coalesces what arrives as GSO on loopback: these two are fed by the C GSO sender.
  'gso-gro': { label: "batch path, GSO source, GRO on", needsBatch: true, worker: 'batch', gro: 'on', source: 'gso' },
  'gso-nogro': { label: "batch path, GSO source, GRO off", needsBatch: true, worker: 'batch', gro: 'off', source: 'gso' },
};
const PARAMS = {
  smoke: { reps: 1, sizes: [200], steps: 2, probeS: 0.05, start: 20_000, modes: ['dgram', 'batch'] },
  quick: { reps: 5, sizes: [200], steps: 4, probeS: 0.2, start: 100_000, modes: ['dgram', 'batch', 'batch-message'] },
  full: { reps: 5, sizes: [200, 1200], steps: 6, probeS: 0.5, start: 100_000, modes: ['dgram', 'batch', 'batch-message', 'gso-gro', 'gso-nogro'] },
};
export const budgetS = { smoke: 60, quick: 25, full: 400 };
const RCVBUF = 1 << 20;
const MAX_RATE = 4_000_000;

export async function run(ctx) {
  const P = PARAMS[ctx.profile];
  const missing = [];
  const notes = [];
  let skipped = false;
  if (!ctx.cref.ok) return { status: 'missing', missing: [{ what: 'C reference sender (source)', reason: ctx.cref.reason }], notes, params: P, data: null };
  let modes = P.modes;
  if (!ctx.batch.ok) {
    missing.push({ what: 'batch backend', reason: ctx.batch.reason });
    modes = modes.filter((m) => !MODES[m].needsBatch);
  }
  const worker = join(ctx.root, 'bench', 'workers', 'recv-worker.mjs');
  const probes = [];
  const results = [];
  let flow = 1;
  for (const size of P.sizes) {
    ctx.log(`receive ${size} B: ${modes.length} paths × ${P.reps} runs × ${P.steps} bisection steps of ${P.probeS} s`);
    for (let rep = 0; rep < P.reps; rep++) {
      if (ctx.overBudget()) {
            skipped = true;
            break;
          }
      const state = {};
      for (const m of modes) {
        const w = new Child(ctx.nodeBin, [worker, '--mode', MODES[m].worker ?? m, '--gro', MODES[m].gro ?? 'on', '--rcvbuf', String(RCVBUF)], { stdin: true });
        state[m] = { w, port: await w.listeningPort(15_000), lo: 0, hi: Infinity, next: P.start, rcvbuf: null };
      }
      try {
        for (let step = 0; step < P.steps; step++) {
          for (const m of rotate(modes, rep + step)) {
            const st = state[m];
            const rate = Math.min(MAX_RATE, Math.round(st.next));
            const f = flow++;
            const count = Math.max(1, Math.round(rate * P.probeS));
            const before = readUdp();
            const src = await runSender(ctx, { kind: 'c', mode: MODES[m].source === 'gso' ? 'gso' : 'sendmmsg', batch: 64, port: st.port, size, count, rate, flowBase: f });
            st.w.write(`report ${f}\n`);
            const m2 = await st.w.waitFor(new RegExp(`\\{"flow":${f},[^\\n]*\\}\\n`), 30_000, 'stdout');
            const rep2 = JSON.parse(m2[0]);
            const snmp = ctx.netns ? udpDelta(before, readUdp()) : null;
            st.rcvbuf = rep2.recvBufferSize;
            const lossFree = rep2.received >= src.sent && src.sent === count && (!snmp || snmp.RcvbufErrors === 0);
            const achieved = src.pps;
            probes.push({ size, mode: m, rep, step, rate, achieved, sent: src.sent, received: rep2.received, lossFree, rcvbufErrors: snmp?.RcvbufErrors ?? null, receiverCpuUs: rep2.cpuUs });
            if (lossFree && achieved < rate * 0.9) {
              // The source is the bound: the receiver kept up with the fastest it can send.
              st.lo = Math.max(st.lo, achieved);
              st.hi = Math.min(st.hi, rate);
              st.sourceLimited = true;
              st.next = st.lo;
            } else if (lossFree) {
              st.lo = Math.max(st.lo, achieved);
              st.next = st.hi === Infinity ? rate * 2 : Math.sqrt(rate * st.hi);
            } else {
              st.hi = Math.min(st.hi, rate);
              st.next = st.lo === 0 ? rate / 2 : Math.sqrt(st.lo * rate);
            }
            if (st.next >= MAX_RATE && st.lo >= MAX_RATE * 0.9) st.next = MAX_RATE;
          }
        }
      } finally {
        for (const m of modes) {
          state[m].w.write('quit\n');
          await state[m].w.wait(5000).catch(() => state[m].w.kill());
        }
      }
      for (const m of modes) results.push({ size, mode: m, rep, lossFreePps: state[m].lo, firstLossAt: Number.isFinite(state[m].hi) ? state[m].hi : null, sourceLimited: Boolean(state[m].sourceLimited), rcvbuf: state[m].rcvbuf });
    }
  }
  const srcLimited = probes.filter((p) => p.achieved < p.rate * 0.9);
  if (srcLimited.length) notes.push(`${srcLimited.length} probe(s) where the C source could not reach the requested rate (it achieved < 90%): the source, not the receiver, bounds those; the achieved rate is what counts.`);
  const summary = [];
  const ratios = [];
  for (const size of P.sizes) {
    const ser = (m) => {
      const out = [];
      for (const r of results) if (r.size === size && r.mode === m) out[r.rep] = r.lossFreePps;
      return out;
    };
    for (const m of modes) summary.push({ size, mode: m, label: MODES[m].label, lossFreePps: summarize(ser(m)), sourceLimitedRuns: results.filter((r) => r.size === size && r.mode === m && r.sourceLimited).length, rcvbuf: results.find((r) => r.size === size && r.mode === m)?.rcvbuf ?? null });
    for (const m of modes) if (m !== 'dgram' && modes.includes('dgram')) ratios.push({ size, a: m, b: 'dgram', ratio: pairedRatio(ser(m), ser('dgram')) });
  }
  return { status: missing.length ? 'partial' : 'ok', missing, notes, params: { ...P, rcvbufRequested: RCVBUF }, data: { summary, ratios, results, probes, reps: P.reps } };
}

export function headline(res) {
  const r = res.data?.ratios?.find((x) => x.a === 'batch');
  const b = res.data?.summary?.find((x) => x.mode === 'batch');
  const g = res.data?.summary?.find((x) => x.mode === 'dgram');
  if (!r || !b || !g) return '';
  return `${b.size} B loss-free: batch ${fmtSummary(b.lossFreePps, 0)}/s vs node:dgram ${fmtSummary(g.lossFreePps, 0)}/s → ×${fmtSummary(r.ratio, 2)}`;
}

export async function report(res, R) {
  const d = res.data;
  const p = res.params;
  const out = [];
  out.push(
    `Source: C reference, sendmmsg ×64 paced in 1 ms ticks (the "GSO source" paths: the C UDP GSO sender, ≤ 64 segments per send, so GRO has something to coalesce), ${p.probeS} s per probe; ${p.steps} geometric bisection steps from ${p.start.toLocaleString('en-US')}/s per run; median [min–max] of ${d.reps} runs (paths interleaved step by step). ` +
      `Loss-free = every datagram the source sent was counted by the receiver${res.data.probes.some((x) => x.rcvbufErrors !== null) ? ' and the kernel RcvbufErrors counter stayed put' : ''}. SO_RCVBUF requested ${p.rcvbufRequested.toLocaleString('en-US')} B for every path (real size in the table). Bisection resolution: the last bracket is the figure's lower bound.\n`,
  );
  out.push(mdTable(['size', 'receive path', 'highest loss-free datagrams/s', 'runs bounded by the source', 'real SO_RCVBUF'], d.summary.map((s) => [`${s.size} B`, s.label, fmtSummary(s.lossFreePps, 0), `${s.sourceLimitedRuns} of ${s.lossFreePps.n}`, s.rcvbuf ? s.rcvbuf.toLocaleString('en-US') + ' B' : '–'])));
  if (d.ratios.length) {
    out.push(`\nInterleaved ratios (loss-free rate, A ÷ B):\n`);
    out.push(mdTable(['size', 'A', 'B', 'A ÷ B'], d.ratios.map((r) => [`${r.size} B`, MODES[r.a].label, MODES[r.b].label, fmtSummary(r.ratio, 2)])));
  }
  out.push(await R.barChart({ name: 'receive-lossfree', title: 'Highest loss-free receive rate (datagrams/s, higher is better)', rows: d.summary.map((s) => ({ group: `${s.size} B`, series: s.label, ...s.lossFreePps })), yTitle: 'datagrams/s', seriesOrder: Object.values(MODES).map((m) => m.label) }));
  return out.join('\n');
}
