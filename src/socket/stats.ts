/**
 * The `stats()` fields (`BatchSocketStats`, types.ts) in one place: which ones add up
 * across sockets, the zero value every backend starts from, and the sum the werift plug
 * reports over its sockets. A new numeric field must be listed in {@link SUMMED_FIELDS}
 * (the compiler says so); then only the backend that counts it changes.
 */
import type { BackendName, BatchSocketStats } from '../types.js';

/** Socket stats without the backend name: what sums over several sockets. */
export type StatsTotals = Omit<BatchSocketStats, 'backend'>;

/** Fields that are not plain counters: summed by their own rule in {@link addStats}. */
type Structured = 'backend' | 'failures' | 'drops' | 'holdUs' | 'sendBufferSize' | 'recvBufferSize' | 'gso' | 'gro';
type Summed = Exclude<keyof BatchSocketStats, Structured>;

/** Every counter field of `BatchSocketStats` (datagrams, bytes, calls), summed across sockets. */
export const SUMMED_FIELDS = [
  'enqueued',
  'sent',
  'failed',
  'dropped',
  'queued',
  'queuedBytes',
  'bytesSent',
  'syscalls',
  'partialSends',
  'eagain',
  'batches',
  'received',
  'bytesReceived',
  'recvSyscalls',
  'recvBatches',
  'recvTruncated',
  'recvErrors',
  'recvKernelDrops',
  'recvTaken',
  'recvBatchesDropped',
  'gsoMessages',
  'gsoSegments',
  'gsoFallbacks',
  'gsoPeerFallbacks',
  'groBuffers',
  'groDatagrams',
] as const satisfies readonly Summed[];

// Compile-time: a counter field missing from SUMMED_FIELDS is an error here.
const listsEveryCounter: Exclude<Summed, (typeof SUMMED_FIELDS)[number]> extends never ? true : never = true;
void listsEveryCounter;

/** All zero (no hold times, GSO/GRO off); `backend` set. */
export function zeroStats(backend: BackendName): BatchSocketStats {
  return { backend, ...zeroTotals() };
}

/** {@link zeroStats} without a backend: the start of a sum. */
export function zeroTotals(): StatsTotals {
  const z = {} as StatsTotals;
  for (const k of SUMMED_FIELDS) z[k] = 0;
  z.failures = {};
  z.drops = { queueFull: 0, closed: 0 };
  z.holdUs = { p50: 0, p99: 0, max: 0, count: 0 };
  z.sendBufferSize = 0;
  z.recvBufferSize = 0;
  z.gso = false;
  z.gro = false;
  return z;
}

/**
 * Adds one socket's stats into `into`: counters, failures per code and drops per reason
 * are summed, hold-time percentiles take the maximum (a bound, not a merged percentile)
 * and counts add up. Buffer sizes add up and GSO/GRO count as on ("on any socket") only
 * for an `open` socket: a closed one holds no buffers and sends nothing.
 */
export function addStats(into: StatsTotals, s: StatsTotals, open: boolean): void {
  for (const k of SUMMED_FIELDS) into[k] += s[k];
  for (const [code, n] of Object.entries(s.failures)) into.failures[code] = (into.failures[code] ?? 0) + n;
  into.drops.queueFull += s.drops.queueFull;
  into.drops.closed += s.drops.closed;
  into.holdUs.p50 = Math.max(into.holdUs.p50, s.holdUs.p50);
  into.holdUs.p99 = Math.max(into.holdUs.p99, s.holdUs.p99);
  into.holdUs.max = Math.max(into.holdUs.max, s.holdUs.max);
  into.holdUs.count += s.holdUs.count;
  if (open) {
    into.sendBufferSize += s.sendBufferSize;
    into.recvBufferSize += s.recvBufferSize;
    into.gso = into.gso || s.gso;
    into.gro = into.gro || s.gro;
  }
}
