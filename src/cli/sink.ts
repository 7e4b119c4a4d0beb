/**
 * `udp-blast sink`: receives datagrams, checks UBL1 headers and reports loss,
 * reordering, duplicates and one-way latency.
 *
 * Uses the socket's batch receive path (`'batch'` events: one callback per
 * recvmmsg batch) with the 'batch' backend and `'message'` with 'dgram'. Datagrams
 * that are not UBL1 are counted as `invalid` and otherwise ignored — a sink never
 * crashes on foreign traffic.
 *
 * One-way latency = receive time − the header's send time, both
 * `process.hrtime.bigint()` (CLOCK_MONOTONIC): meaningful only when sender and sink
 * run on the same host. Values outside 0..1 h (another host's clock) are counted in
 * `latencyInvalid`, not recorded.
 */
import { build as buildHistogram } from 'hdr-histogram-js';
import { createBatchSocket } from '../index.js';
import { bindAndListen } from '../socket/listen.js';
import type { BackendName, BatchSocket, RecvBatch } from '../types.js';
import { LIMITS, formatEndpoint, type SinkOptions } from './args.js';
import { resolveBackend } from './backend.js';
import { resolveTarget } from './target.js';
import { FlowTracker, type FlowStats } from './flow-tracker.js';
import { UBL1_MAGIC, UBL1_HEADER_BYTES } from './ubl1.js';

/** Why a sink run ended. */
export type SinkStopReason = 'count' | 'duration' | 'idle' | 'signal';

/** Result of one sink run; the JSON output of `udp-blast sink --json`. */
export interface SinkResult {
  backend: BackendName;
  /** Bound address as HOST:PORT. */
  listen: string;
  stoppedBy: SinkStopReason;
  /** UBL1 datagrams received (duplicates included). */
  received: number;
  /** Distinct (flow, seq) received. */
  unique: number;
  /** Payload bytes of the UBL1 datagrams. */
  bytes: number;
  /** Datagrams that were not UBL1 (too short or wrong magic), and their bytes. */
  invalid: number;
  invalidBytes: number;
  /** Sum over flows of (max seq + 1 − unique). Tail loss after the last arrival is invisible here. */
  lost: number;
  reordered: number;
  duplicates: number;
  /** UBL1 datagrams whose seq/flow exceeded the tracker's bounds (not tracked). */
  outOfRange: number;
  flows: number;
  /** First to last UBL1 datagram, s. */
  durationS: number;
  /** received / durationS, datagrams/s. */
  pps: number;
  /** Payload bits/s / 1e9 over durationS. */
  gbps: number;
  /** One-way latency, µs. */
  latencyUs: { p50: number; p99: number; max: number; mean: number; count: number };
  /** Datagrams whose latency was negative or above 1 h (clocks of different hosts). */
  latencyInvalid: number;
  /** process.cpuUsage() over the whole run, µs. */
  cpuUserUs: number;
  cpuSysUs: number;
  /** Library receive counters. */
  recvSyscalls: number;
  recvBatches: number;
  recvTruncated: number;
  recvErrors: number;
  /** Real SO_RCVBUF, bytes. */
  recvBufferSize: number;
  /** GRO requested (`--gro`, default) and enabled on the socket. */
  groRequested: boolean;
  gro: boolean;
  /** Received buffers the kernel had coalesced (GRO) and the datagrams split out of them (library counters). */
  groBuffers: number;
  groDatagrams: number;
  /** Per-flow counters (only when there are at most 64 flows). */
  perFlow?: FlowStats[];
}

/** Live numbers for a progress line. */
export interface SinkProgress {
  received: number;
  invalid: number;
  elapsedS: number;
}

export interface SinkHooks {
  /** Called once bound, with the real address (port resolved when 0 was asked). */
  onListening?: (address: string, port: number) => void;
  /** Ends the run (e.g. SIGINT); results are still reported. */
  signal?: AbortSignal;
  /** Called at most once per second, from the receive path while datagrams arrive (no timer: an idle sink does not wake). */
  onProgress?: (p: SinkProgress) => void;
}

/** Latencies above this are treated as cross-host clock garbage, µs. */
const MAX_LATENCY_US = 3600e6;
const TWO_32 = 0x1_0000_0000;

/**
 * Runs `udp-blast sink` until count, duration, idle time or the abort signal ends it.
 * Rejects on setup failures (backend unavailable, bind).
 */
export async function runSink(opts: SinkOptions, hooks: SinkHooks = {}): Promise<SinkResult> {
  const backend = resolveBackend(opts.backend);
  const { ip: host, family } = await resolveTarget(opts.listen);
  const socket = createBatchSocket({ type: family === 6 ? 'udp6' : 'udp4', backend, recvBufferSize: opts.recvBufferSize, gro: opts.gro ? 'auto' : false });
  try {
    await bindAndListen(socket, opts.listen.port, host);
  } catch (err) {
    socket.close();
    throw err;
  }
  const bound = socket.address();
  hooks.onListening?.(bound.address, bound.port);

  const tracker = new FlowTracker();
  const hist = buildHistogram({ lowestDiscernibleValue: 1, highestTrackableValue: MAX_LATENCY_US, numberOfSignificantValueDigits: 3, bitBucketSize: 32 });
  let received = 0;
  let bytes = 0;
  let invalid = 0;
  let invalidBytes = 0;
  let latencyInvalid = 0;
  let firstNs = 0n;
  let lastNs = 0n;
  const countLimit = opts.count ?? Number.POSITIVE_INFINITY;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();

  let finish!: (reason: SinkStopReason) => void;
  const stopped = new Promise<SinkStopReason>((resolve) => {
    let done = false;
    finish = (reason) => {
      if (done) return;
      done = true;
      resolve(reason);
    };
  });

  let idleTimer: NodeJS.Timeout | undefined;
  const idleMs = opts.idleMs;
  const armIdle = (ms: number): void => {
    if (idleMs === null) return;
    idleTimer = setTimeout(() => {
      const sinceMs = Number(process.hrtime.bigint() - lastNs) / 1e6;
      if (idleMs === null || sinceMs >= idleMs) finish('idle');
      else armIdle(Math.max(1, Math.ceil(idleMs - sinceMs)));
    }, ms);
  };

  /** Accounts one datagram: `length` bytes at `view[off…]`, received at `now` (ns). */
  const handle = (view: DataView<ArrayBufferLike>, off: number, length: number, now: bigint): void => {
    if (length < UBL1_HEADER_BYTES || off + UBL1_HEADER_BYTES > view.byteLength || view.getUint32(off) !== UBL1_MAGIC) {
      invalid++;
      invalidBytes += length;
      return;
    }
    if (received === 0) {
      firstNs = now;
      if (idleMs !== null) armIdle(idleMs);
    }
    lastNs = now;
    received++;
    bytes += length;
    tracker.record(view.getUint32(off + 4), view.getUint32(off + 8) * TWO_32 + view.getUint32(off + 12));
    const latencyUs = Number(now - view.getBigUint64(off + 16)) / 1000;
    if (latencyUs >= 0 && latencyUs < MAX_LATENCY_US) hist.recordValue(Math.round(latencyUs));
    else latencyInvalid++;
  };

  let lastProgress = t0;
  const progress = (now: bigint): void => {
    if (!hooks.onProgress || now - lastProgress < 1_000_000_000n) return;
    lastProgress = now;
    hooks.onProgress({ received, invalid, elapsedS: Number(now - t0) / 1e9 });
  };

  socket.on('error', () => {
    // Receive errors are counted by the library (recvErrors); nothing to do per event.
  });
  if (socket.backend === 'batch') {
    // Zero-copy: read headers straight out of the receive ring (one DataView per ring).
    let ring: Uint8Array | undefined;
    let view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
    socket.on('batch', (batch: RecvBatch) => {
      const now = process.hrtime.bigint();
      if (batch.bytes !== ring) {
        ring = batch.bytes;
        view = new DataView(ring.buffer, ring.byteOffset, ring.byteLength);
      }
      const n = batch.count;
      for (let i = 0; i < n; i++) handle(view, batch.offset(i), batch.length(i), now);
      progress(now);
      if (received >= countLimit) finish('count');
    });
  } else {
    socket.on('message', (msg: Buffer) => {
      const now = process.hrtime.bigint();
      handle(new DataView(msg.buffer, msg.byteOffset, msg.byteLength), 0, msg.length, now);
      progress(now);
      if (received >= countLimit) finish('count');
    });
  }

  const capS = opts.durationS ?? LIMITS.maxDurationS;
  const durationTimer = setTimeout(() => finish('duration'), Math.round(capS * 1000));
  const onAbort = (): void => finish('signal');
  hooks.signal?.addEventListener('abort', onAbort, { once: true });
  if (hooks.signal?.aborted) finish('signal');

  const stoppedBy = await stopped;
  clearTimeout(durationTimer);
  clearTimeout(idleTimer);
  hooks.signal?.removeEventListener('abort', onAbort);
  socket.removeAllListeners('batch');
  socket.removeAllListeners('message');
  const cpu = process.cpuUsage(cpu0);
  const stats = socket.stats();
  await new Promise<void>((resolve) => {
    const t = setTimeout(resolve, 5000);
    socket.close(() => {
      clearTimeout(t);
      resolve();
    });
  });

  const totals = tracker.totals();
  const durationS = received > 1 ? Number(lastNs - firstNs) / 1e9 : 0;
  const perSecond = (x: number): number => (durationS > 0 ? x / durationS : 0);
  const count = hist.totalCount;
  const result: SinkResult = {
    backend: socket.backend,
    listen: formatEndpoint(bound.address, bound.port),
    stoppedBy,
    received,
    unique: totals.unique,
    bytes,
    invalid,
    invalidBytes,
    lost: totals.lost,
    reordered: totals.reordered,
    duplicates: totals.duplicates,
    outOfRange: totals.outOfRange,
    flows: totals.flows,
    durationS,
    pps: perSecond(received),
    gbps: perSecond(bytes * 8) / 1e9,
    latencyUs: {
      p50: count ? hist.getValueAtPercentile(50) : 0,
      p99: count ? hist.getValueAtPercentile(99) : 0,
      max: count ? hist.maxValue : 0,
      mean: count ? Math.round(hist.mean * 10) / 10 : 0,
      count,
    },
    latencyInvalid,
    cpuUserUs: cpu.user,
    cpuSysUs: cpu.system,
    recvSyscalls: stats.recvSyscalls,
    recvBatches: stats.recvBatches,
    recvTruncated: stats.recvTruncated,
    recvErrors: stats.recvErrors,
    recvBufferSize: stats.recvBufferSize,
    groRequested: opts.gro,
    gro: stats.gro,
    groBuffers: stats.groBuffers,
    groDatagrams: stats.groDatagrams,
  };
  if (totals.flows <= 64) result.perFlow = tracker.perFlow();
  return result;
}
