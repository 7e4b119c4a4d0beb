/**
 * Launchers shared by the scenarios: udp-blast (dist/cli/udp-blast.js) send and sink,
 * the C reference sender and its never-reading "blackhole" receiver, optionally under
 * `perf stat`. Every run is bounded in count and time.
 */
import { join } from 'node:path';
import { Child } from './proc.mjs';
import { perfPrefix, readPerf, sendSyscalls } from './perf.mjs';
import { readUdp, udpDelta } from './snmp.mjs';

let seq = 0;

function wrap(ctx, usePerf, cmd, args) {
  if (!usePerf || !ctx.perf.ok) return { cmd, args, perfFile: null };
  const perfFile = join(ctx.tmpDir, `perf-${process.pid}-${++seq}.csv`);
  const [p, ...rest] = perfPrefix(ctx.perf.path, perfFile);
  return { cmd: p, args: [...rest, cmd, ...args], perfFile };
}

/** Longest a bounded sender run may take: its nominal time ×3 + 20 s. */
function timeoutFor(count, rate) {
  const nominal = rate > 0 ? count / rate : count / 50_000;
  return Math.round(nominal * 3000 + 20_000);
}

/**
 * One sender run. `spec.kind` is 'node' (udp-blast send: backend, batch, windowUs) or
 * 'c' (udp_ref send: mode, batch). Returns the normalized result with `own` (the
 * sender's counters), `kernel` (perf counts, when asked and available) and `snmp`.
 */
export async function runSender(ctx, spec) {
  const { port, size, count, rate = 0, flows = 1, perf = false } = spec;
  let cmd;
  let args;
  if (spec.kind === 'node') {
    cmd = ctx.nodeBin;
    args = [ctx.udpBlast, 'send', '--to', `127.0.0.1:${port}`, '--json', '--size', String(size), '--count', String(count), '--rate', String(rate), '--flows', String(flows), '--backend', spec.backend];
    if (spec.batch) args.push('--batch', String(spec.batch));
    if (spec.windowUs) args.push('--window-us', String(spec.windowUs));
    if (spec.extraArgs) args.push(...spec.extraArgs);
  } else {
    if (!ctx.cref.ok) throw new Error(`C reference unavailable: ${ctx.cref.reason}`);
    cmd = ctx.cref.path;
    args = ['send', '--to', `127.0.0.1:${port}`, '--mode', spec.mode, '--batch', String(spec.batch ?? 64), '--size', String(size), '--count', String(count), '--rate', String(rate), '--flows', String(flows), '--pace', spec.pace ?? 'tick', '--flow-base', String(spec.flowBase ?? 0)];
  }
  const w = wrap(ctx, perf, cmd, args);
  const before = readUdp();
  const child = new Child(w.cmd, w.args);
  const r = await child.json(timeoutFor(count, rate));
  const after = readUdp();
  const kernel = w.perfFile ? await readPerf(w.perfFile) : null;
  const sent = r.sent;
  const kernelSend = sendSyscalls(kernel);
  return {
    sent,
    durationS: r.durationS,
    pps: r.pps,
    gbps: r.gbps,
    cpuUserUs: r.cpuUserUs,
    cpuSysUs: r.cpuSysUs,
    cpuUsPerDatagram: r.cpuUsPerDatagram,
    own: {
      syscalls: r.syscalls,
      syscallsPerDatagram: r.syscallsPerDatagram,
      batches: r.batches ?? null,
      partialSends: r.partialSends ?? r.partial ?? 0,
      eagain: r.eagain ?? null,
      dropped: r.dropped ?? 0,
      holdUs: r.holdUs ?? null,
      // UDP GSO: the C reference's gso mode, or the library's counters where it has them.
      gso: spec.kind === 'c' ? spec.mode === 'gso' : (r.gso ?? null),
      gsoSegments: spec.kind === 'c' ? (spec.mode === 'gso' ? sent : 0) : (r.gsoSegments ?? null),
    },
    kernel: kernel ? { counts: kernel, sendSyscalls: kernelSend, sendSyscallsPerDatagram: sent > 0 && kernelSend !== null ? kernelSend / sent : null } : null,
    snmp: ctx.netns ? udpDelta(before, after) : null,
  };
}

/** A receiver that binds and never reads (the kernel drops once its buffer is full). */
export async function startBlackhole(ctx) {
  if (!ctx.cref.ok) throw new Error(`C reference unavailable: ${ctx.cref.reason}`);
  const child = new Child(ctx.cref.path, ['blackhole', '--listen', '127.0.0.1:0']);
  const port = await child.listeningPort();
  return {
    port,
    async stop() {
      child.kill('SIGTERM');
      await child.wait(5000).catch(() => {});
    },
  };
}

/** `udp-blast sink` on 127.0.0.1:0; `result()` waits for its JSON (ends by count or idle). */
export async function startSink(ctx, { backend = 'batch', count = null, idleMs = 500, durationS = null, rcvbuf = null } = {}) {
  const args = [ctx.udpBlast, 'sink', '--listen', '127.0.0.1:0', '--json', '--backend', backend, '--idle-ms', String(idleMs)];
  if (count) args.push('--count', String(count));
  if (durationS) args.push('--duration', String(durationS));
  if (rcvbuf) args.push('--rcvbuf', String(rcvbuf));
  const child = new Child(ctx.nodeBin, args);
  const port = await child.listeningPort();
  return {
    port,
    child,
    /** Ends the sink gracefully (SIGINT: it still prints its JSON). */
    interrupt() {
      child.kill('SIGINT');
    },
    result(timeoutMs = 60_000) {
      return child.json(timeoutMs);
    },
  };
}
