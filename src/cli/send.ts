/**
 * `udp-blast send`: sends UBL1 datagrams through a BatchSocket and measures what it
 * cost (CPU, system calls, partial sends, EAGAIN waits, drops).
 *
 * Hot path: ONE preallocated buffer; per datagram the flow id and sequence number are
 * written in place, then the send time (ns) right before `peer.send()`, which copies
 * the bytes — so the buffer is reused at once and nothing is allocated per datagram
 * apart from the BigInt of `process.hrtime.bigint()`.
 *
 * Pacing: at `--rate 0` bursts of sends until `send()` returns false (queue full),
 * then waits for `'drain'`; between bursts it yields with `setImmediate` so the
 * library's I/O runs. At `--rate R` a timer wakes when the next datagram is due and
 * sends every datagram due by then. A `send()` that returns false was dropped by the
 * library (counted in its `dropped`); its sequence number is NOT consumed, so the
 * datagram is re-sent after the drain and the receiver sees no gap.
 */
import { setImmediate as yieldImmediate } from 'node:timers/promises';
import { isLoopback } from '../address.js';
import { createBatchSocket } from '../index.js';
import { bindAndListen } from '../socket/listen.js';
import type { BackendName, BatchSocket, BatchSocketStats, HoldTimeStats } from '../types.js';
import { formatEndpoint, type SendOptions } from './args.js';
import { resolveBackend } from './backend.js';
import { resolveTarget } from './target.js';
import { UBL1_HEADER_BYTES, writeUbl1Ids, writeUbl1SendTime } from './ubl1.js';

/** Result of one send run; the JSON output of `udp-blast send --json`. */
export interface SendResult {
  backend: BackendName;
  /** Destination as HOST:PORT. */
  to: string;
  /** Datagram size, bytes. */
  size: number;
  flows: number;
  /** Requested rate, datagrams/s (0 = as fast as possible). */
  rate: number;
  /** Socket maxBatch / windowUs requested (null = library default). */
  batch: number | null;
  windowUs: number | null;
  /** Datagrams accepted by `send()` (each with a distinct flow/seq). */
  enqueued: number;
  /** Datagrams the kernel accepted (library counter). */
  sent: number;
  /** Payload bytes the kernel accepted. */
  bytes: number;
  /** Datagrams that failed with their own errno, and by errno. */
  failed: number;
  failures: Record<string, number>;
  /** Datagrams dropped by the library (backpressure: `send()` returned false), and by reason. */
  dropped: number;
  drops: { queueFull: number; closed: number };
  /** `send()` calls that returned false and whose datagram was re-sent with the same seq. */
  resent: number;
  /** Times the sender waited for 'drain'. */
  drainWaits: number;
  /** First send to the moment the queue was empty after the last, s. */
  durationS: number;
  /** sent / durationS, datagrams/s. */
  pps: number;
  /** Payload bits/s / 1e9 over durationS. */
  gbps: number;
  /** process.cpuUsage() over durationS, µs. */
  cpuUserUs: number;
  cpuSysUs: number;
  /** (user + sys) / sent, µs. */
  cpuUsPerDatagram: number;
  /** Send system calls counted by the library ('batch': sendmmsg calls; 'dgram': counted sends). */
  syscalls: number;
  syscallsPerDatagram: number;
  partialSends: number;
  eagain: number;
  /** Flushes (native calls). */
  batches: number;
  /** Hold time of the oldest datagram per flush, µs. */
  holdUs: HoldTimeStats;
  /** Real SO_SNDBUF, bytes. */
  sendBufferSize: number;
  /** GSO requested (`--gso`, default) and in use at the end of the run (false after a fallback or where unsupported). */
  gsoRequested: boolean;
  gso: boolean;
  /** GSO messages the kernel accepted, the datagrams in them, and fallbacks (library counters). */
  gsoMessages: number;
  gsoSegments: number;
  gsoFallbacks: number;
  /** 'error' events the socket emitted (by code). */
  socketErrors: Record<string, number>;
}

/** Live numbers for a progress line. */
export interface SendProgress {
  enqueued: number;
  elapsedS: number;
}

export interface SendHooks {
  /** Stops the run early (e.g. SIGINT); what was queued is still flushed and reported. */
  signal?: AbortSignal;
  /** Called about once per second while sending. */
  onProgress?: (p: SendProgress) => void;
}

/** Datagrams sent per burst at --rate 0 before yielding to the event loop. */
const BURST = 4096;
/** Longest wait for 'drain' before trying again (bounds a library that never emits it), ms. */
const DRAIN_TIMEOUT_MS = 100;
/** Longest wait for the queue to empty at the end, ms. */
const FINAL_FLUSH_TIMEOUT_MS = 10_000;

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Resolves on 'drain', on abort, or after `timeoutMs`, whichever comes first. */
function waitDrain(socket: BatchSocket, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, timeoutMs);
    function done(): void {
      clearTimeout(t);
      socket.off('drain', done);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    socket.once('drain', done);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Resolves on the socket's `'idle'` event (send queue empty), or after `timeoutMs`. */
function waitQueueEmpty(socket: BatchSocket, timeoutMs: number): Promise<void> {
  if (socket.stats().queued === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(done, timeoutMs);
    function done(): void {
      clearTimeout(t);
      socket.off('idle', done);
      resolve();
    }
    socket.once('idle', done);
  });
}

function closeSocket(socket: BatchSocket): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, 5000);
    socket.close(() => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** Makes the one reusable datagram: header space, then a recognizable filler. */
function makeDatagram(size: number): Buffer {
  const buf = Buffer.alloc(size);
  for (let i = UBL1_HEADER_BYTES; i < size; i++) buf[i] = i & 0xff;
  return buf;
}

/**
 * Runs `udp-blast send`. Resolves with the measurements once everything queued was
 * handed to the kernel (or failed/dropped, all counted) and the socket is closed.
 * Rejects on setup failures (backend unavailable, bind, DNS).
 */
export async function runSend(opts: SendOptions, hooks: SendHooks = {}): Promise<SendResult> {
  const backend = resolveBackend(opts.backend);
  const target = await resolveTarget(opts.to);
  const socket = createBatchSocket({
    type: target.family === 6 ? 'udp6' : 'udp4',
    backend,
    ...(opts.batch !== null ? { maxBatch: opts.batch } : {}),
    ...(opts.windowUs !== null ? { windowUs: opts.windowUs } : {}),
    ...(opts.sendBufferSize !== null ? { sendBufferSize: opts.sendBufferSize } : {}),
    gso: opts.gso ? 'auto' : false,
  });
  const socketErrors: Record<string, number> = {};
  socket.on('error', (err: NodeJS.ErrnoException) => {
    const code = err.code ?? err.name;
    socketErrors[code] = (socketErrors[code] ?? 0) + 1;
  });
  // Source address: loopback for a loopback target, so nothing listens on other interfaces.
  const bindAddress = isLoopback(target.ip) ? (target.family === 4 ? '127.0.0.1' : '::1') : target.family === 4 ? '0.0.0.0' : '::';
  try {
    await bindAndListen(socket, 0, bindAddress);
  } catch (err) {
    await closeSocket(socket);
    throw err;
  }
  const peer = socket.peer(opts.to.port, target.ip);
  const signal = hooks.signal;

  const buf = makeDatagram(opts.size);
  const flows = opts.flows;
  const seqs = new Float64Array(flows);
  const limit = opts.count ?? Number.POSITIVE_INFINITY;
  const durationNs = opts.durationS !== null ? BigInt(Math.round(opts.durationS * 1e9)) : null;
  let flow = 0;
  let enqueued = 0;
  let resent = 0;
  let drainWaits = 0;

  /** Sends one datagram; false when the library refused (dropped) it — seq not consumed. */
  const sendOne = (): boolean => {
    writeUbl1Ids(buf, flow, seqs[flow]);
    writeUbl1SendTime(buf, process.hrtime.bigint());
    if (!peer.send(buf)) {
      resent++;
      return false;
    }
    seqs[flow]++;
    flow = flow + 1 === flows ? 0 : flow + 1;
    enqueued++;
    return true;
  };

  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let lastProgress = t0;
  const expired = (now: bigint): boolean => durationNs !== null && now - t0 >= durationNs;
  const progress = (now: bigint): void => {
    if (hooks.onProgress && now - lastProgress >= 1_000_000_000n) {
      lastProgress = now;
      hooks.onProgress({ enqueued, elapsedS: Number(now - t0) / 1e9 });
    }
  };

  if (opts.rate === 0) {
    while (enqueued < limit && !signal?.aborted) {
      const n = Math.min(BURST, limit - enqueued);
      let full = false;
      for (let i = 0; i < n; i++) {
        if (!sendOne()) {
          full = true;
          break;
        }
      }
      const now = process.hrtime.bigint();
      if (expired(now)) break;
      progress(now);
      if (full) {
        drainWaits++;
        await waitDrain(socket, DRAIN_TIMEOUT_MS, signal);
      } else {
        await yieldImmediate();
      }
    }
  } else {
    const nsPerDatagram = 1e9 / opts.rate;
    while (enqueued < limit && !signal?.aborted) {
      const now = process.hrtime.bigint();
      if (expired(now)) break;
      progress(now);
      const elapsedNs = Number(now - t0);
      const due = Math.min(limit, Math.floor(elapsedNs / nsPerDatagram) + 1);
      let full = false;
      while (enqueued < due) {
        if (!sendOne()) {
          full = true;
          break;
        }
      }
      if (full) {
        drainWaits++;
        await waitDrain(socket, DRAIN_TIMEOUT_MS, signal);
        continue;
      }
      if (enqueued >= limit) break;
      // Sleep until the next datagram is due (libuv timers: ≥ 1 ms), at most 1 s.
      const nextDueNs = enqueued * nsPerDatagram;
      const waitMs = Math.max(1, Math.min(1000, Math.floor((nextDueNs - Number(process.hrtime.bigint() - t0)) / 1e6)));
      await sleep(waitMs, signal);
    }
  }

  socket.flush();
  await waitQueueEmpty(socket, FINAL_FLUSH_TIMEOUT_MS);
  const t1 = process.hrtime.bigint();
  const cpu = process.cpuUsage(cpu0);
  const open = socket.stats(); // buffer size and GSO state read 0/false once closed
  const sendBufferSize = open.sendBufferSize;
  const gsoInUse = open.gso;
  await closeSocket(socket);
  const s: BatchSocketStats = socket.stats();

  const durationS = Number(t1 - t0) / 1e9;
  const sent = s.sent;
  const perSecond = (x: number): number => (durationS > 0 ? x / durationS : 0);
  return {
    backend: socket.backend,
    to: formatEndpoint(target.ip, opts.to.port),
    size: opts.size,
    flows,
    rate: opts.rate,
    batch: opts.batch,
    windowUs: opts.windowUs,
    enqueued,
    sent,
    bytes: s.bytesSent,
    failed: s.failed,
    failures: s.failures,
    dropped: s.dropped,
    drops: s.drops,
    resent,
    drainWaits,
    durationS,
    pps: perSecond(sent),
    gbps: perSecond(s.bytesSent * 8) / 1e9,
    cpuUserUs: cpu.user,
    cpuSysUs: cpu.system,
    cpuUsPerDatagram: sent > 0 ? (cpu.user + cpu.system) / sent : 0,
    syscalls: s.syscalls,
    syscallsPerDatagram: sent > 0 ? s.syscalls / sent : 0,
    partialSends: s.partialSends,
    eagain: s.eagain,
    batches: s.batches,
    holdUs: s.holdUs,
    sendBufferSize,
    gsoRequested: opts.gso,
    gso: gsoInUse,
    gsoMessages: s.gsoMessages,
    gsoSegments: s.gsoSegments,
    gsoFallbacks: s.gsoFallbacks,
    socketErrors,
  };
}
