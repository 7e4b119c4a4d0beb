/**
 * Defaults and validation of {@link BatchSocketOptions}. Every number is checked here,
 * at the JS boundary, so native code only ever sees sane values.
 */
import { BatchSocketError, BatchSocketRangeError, BatchSocketTypeError } from './errors.js';
import type { BatchSocketOptions, BackendName, FlushMode, SendOrder, SocketType } from './types.js';
import { describe } from './address.js';

export interface ResolvedOptions {
  type: SocketType;
  backend: BackendName | undefined;
  maxBatch: number;
  windowUs: number;
  mode: FlushMode;
  maxQueue: number;
  maxQueueBytes: number;
  sendBufferSize: number | undefined;
  recvBufferSize: number | undefined;
  reusePort: boolean;
  reuseAddr: boolean;
  ipv6Only: boolean;
  recvBatch: number;
  recvSlotSize: number;
  recvBudget: number;
  recvDispatch: 'immediate' | 'loop';
  maxPendingBatches: number;
  gso: boolean;
  gro: boolean;
  order: SendOrder;
  signal: AbortSignal | undefined;
}

/** Default values of the {@link BatchSocketOptions} that have one (see each option for meaning and range). */
export const DEFAULTS = {
  /** Datagrams that trigger a flush. */
  maxBatch: 64,
  /** Longest hold of the oldest queued datagram, µs. */
  windowUs: 1000,
  /** Flush policy. */
  mode: 'window' as FlushMode,
  /** Most datagrams queued. */
  maxQueue: 8192,
  /** Most payload bytes queued (8 MiB). */
  maxQueueBytes: 8 * 1024 * 1024,
  /** Datagrams per recvmmsg(2) call. */
  recvBatch: 32,
  /** Receive slot size, bytes. */
  recvSlotSize: 65536,
  /** Most datagrams read per readable wake-up. */
  recvBudget: 256,
  /** How receive batches reach the handlers. */
  recvDispatch: 'immediate' as 'immediate' | 'loop',
  /** Most batches buffered for a slow `for await` consumer. */
  maxPendingBatches: 1024,
  /** UDP GSO on sends (udp(7) UDP_SEGMENT) where supported. */
  gso: 'auto' as const,
  /** UDP GRO on receives (udp(7) UDP_GRO) where supported. */
  gro: 'auto' as const,
  /** Send order guarantee. */
  order: 'global' as SendOrder,
};

function offload(opts: Record<string, unknown>, name: 'gso' | 'gro'): boolean {
  const v = opts[name];
  if (v === undefined || v === 'auto') return true;
  if (v === false) return false;
  throw new BatchSocketError('ERR_INVALID_ARG_VALUE', `The "options.${name}" property must be 'auto' or false. Received ${describe(v)}`);
}

function int(opts: Record<string, unknown>, name: string, def: number | undefined, min: number, max: number): number | undefined {
  const v = opts[name];
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw new BatchSocketTypeError('ERR_INVALID_ARG_TYPE', `The "options.${name}" property must be an integer. Received ${describe(v)}`);
  }
  if (v < min || v > max) {
    throw new BatchSocketRangeError('ERR_OUT_OF_RANGE', `The value of "options.${name}" is out of range. It must be >= ${min} && <= ${max}. Received ${v}`);
  }
  return v;
}

function bool(opts: Record<string, unknown>, name: string): boolean {
  const v = opts[name];
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new BatchSocketTypeError('ERR_INVALID_ARG_TYPE', `The "options.${name}" property must be of type boolean. Received ${describe(v)}`);
  return v;
}

/** Validates options (or a bare 'udp4'/'udp6' type), filling defaults. Throws typed errors. */
export function resolveOptions(input: BatchSocketOptions | SocketType): ResolvedOptions {
  const opts = (typeof input === 'string' ? { type: input } : input) as unknown as Record<string, unknown>;
  if (opts === null || typeof opts !== 'object') {
    throw new BatchSocketTypeError('ERR_INVALID_ARG_TYPE', `The "options" argument must be of type object. Received ${describe(opts)}`);
  }
  const type = opts.type;
  if (type !== 'udp4' && type !== 'udp6') {
    throw new BatchSocketTypeError('ERR_SOCKET_BAD_TYPE', `Bad socket type specified. Valid types are: udp4, udp6. Received ${describe(type)}`);
  }
  const backend = opts.backend;
  if (backend !== undefined && backend !== 'batch' && backend !== 'dgram') {
    throw new BatchSocketError('ERR_INVALID_ARG_VALUE', `The "options.backend" property must be 'batch' or 'dgram'. Received ${describe(backend)}`);
  }
  const mode = opts.mode ?? DEFAULTS.mode;
  if (mode !== 'window' && mode !== 'tick') {
    throw new BatchSocketError('ERR_INVALID_ARG_VALUE', `The "options.mode" property must be 'window' or 'tick'. Received ${describe(mode)}`);
  }
  const order = opts.order ?? DEFAULTS.order;
  if (order !== 'global' && order !== 'per-peer') {
    throw new BatchSocketError('ERR_INVALID_ARG_VALUE', `The "options.order" property must be 'global' or 'per-peer'. Received ${describe(order)}`);
  }
  const recvBatch = int(opts, 'recvBatch', DEFAULTS.recvBatch, 1, 1024)!;
  const recvDispatch = opts.recvDispatch ?? DEFAULTS.recvDispatch;
  if (recvDispatch !== 'immediate' && recvDispatch !== 'loop') {
    throw new BatchSocketError('ERR_INVALID_ARG_VALUE', `The "options.recvDispatch" property must be 'immediate' or 'loop'. Received ${describe(recvDispatch)}`);
  }
  const signal = opts.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new BatchSocketTypeError('ERR_INVALID_ARG_TYPE', `The "options.signal" property must be an instance of AbortSignal. Received ${describe(signal)}`);
  }
  if (opts.lookup !== undefined) {
    if (typeof opts.lookup !== 'function') {
      throw new BatchSocketTypeError('ERR_INVALID_ARG_TYPE', `The "options.lookup" property must be of type function. Received ${describe(opts.lookup)}`);
    }
    // Refused rather than silently ignored: destinations are IP literals, never looked up.
    throw new BatchSocketError('ERR_INVALID_ARG_VALUE', 'The "options.lookup" property is not supported: destinations must be IP literals (no DNS on the send path); resolve names once with dns.lookup and pass the address');
  }
  return {
    type,
    backend,
    maxBatch: int(opts, 'maxBatch', DEFAULTS.maxBatch, 1, 1 << 20)!,
    windowUs: int(opts, 'windowUs', DEFAULTS.windowUs, 1, 1_000_000)!,
    mode,
    maxQueue: int(opts, 'maxQueue', DEFAULTS.maxQueue, 1, 1 << 20)!,
    maxQueueBytes: int(opts, 'maxQueueBytes', DEFAULTS.maxQueueBytes, 65536, 1 << 30)!,
    sendBufferSize: bufferSizeOption(opts, 'sendBufferSize'),
    recvBufferSize: bufferSizeOption(opts, 'recvBufferSize'),
    reusePort: bool(opts, 'reusePort'),
    reuseAddr: bool(opts, 'reuseAddr'),
    ipv6Only: bool(opts, 'ipv6Only'),
    recvBatch,
    recvSlotSize: int(opts, 'recvSlotSize', DEFAULTS.recvSlotSize, 64, 65536)!,
    recvBudget: int(opts, 'recvBudget', DEFAULTS.recvBudget, 1, 1 << 16)!,
    recvDispatch,
    maxPendingBatches: int(opts, 'maxPendingBatches', DEFAULTS.maxPendingBatches, 1, 1 << 20)!,
    gso: offload(opts, 'gso'),
    gro: offload(opts, 'gro'),
    order,
    signal,
  };
}

/** Largest SO_SNDBUF/SO_RCVBUF request the kernel takes (an `int`); above it dgram (libuv) answers EINVAL. */
export const MAX_BUFFER_SIZE = 0x7fffffff;

/**
 * `options.sendBufferSize`/`options.recvBufferSize` as node:dgram validates them
 * (validateUint32): a number, an integer, 0..4294967295. 0 leaves the kernel default, as in
 * dgram; a value above {@link MAX_BUFFER_SIZE} passes here, like dgram, and fails when it is
 * applied (ERR_SOCKET_BUFFER_SIZE, EINVAL).
 */
function bufferSizeOption(opts: Record<string, unknown>, name: string): number | undefined {
  const v = opts[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'number') {
    throw new BatchSocketTypeError('ERR_INVALID_ARG_TYPE', `The "options.${name}" property must be of type number. Received ${describe(v)}`);
  }
  if (!Number.isInteger(v)) {
    throw new BatchSocketRangeError('ERR_OUT_OF_RANGE', `The value of "options.${name}" is out of range. It must be an integer. Received ${v}`);
  }
  if (v < 0 || v > 0xffffffff) {
    throw new BatchSocketRangeError('ERR_OUT_OF_RANGE', `The value of "options.${name}" is out of range. It must be >= 0 && <= 4294967295. Received ${v}`);
  }
  return v;
}

/**
 * Validates a SO_SNDBUF/SO_RCVBUF request (bytes) for `setSendBufferSize`/`setRecvBufferSize`
 * as node:dgram does: an integer number in [0, 4294967295], else ERR_SOCKET_BAD_BUFFER_SIZE
 * (TypeError). Values above {@link MAX_BUFFER_SIZE} pass (the setter answers
 * ERR_SOCKET_BUFFER_SIZE with EINVAL, as dgram); 0 means "leave as is" (libuv reads the size).
 */
export function validateBufferSize(bytes: unknown): number {
  if (typeof bytes !== 'number' || !Number.isInteger(bytes) || bytes < 0 || bytes > 0xffffffff) {
    throw new BatchSocketTypeError('ERR_SOCKET_BAD_BUFFER_SIZE', 'Buffer size must be a positive integer');
  }
  // -0 passes every check above but aborts node:dgram's native binding (IsUint32 fails): 0.
  return bytes === 0 ? 0 : bytes;
}
