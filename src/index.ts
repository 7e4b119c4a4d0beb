/**
 * dgram-sendmmsg-native: batched, kernel-friendly UDP for Node.js media servers.
 *
 * ```ts
 * import { createBatchSocket } from 'dgram-sendmmsg-native';
 * const sock = createBatchSocket({ type: 'udp4' });            // batch backend on Linux
 * sock.send(rtpPacket, 5004, '127.0.0.1');                     // queued, leaves within 1 ms
 * const viewer = sock.peer(5006, '127.0.0.1');                 // registered destination
 * viewer.send(rtpPacket);                                      // fast path
 * ```
 *
 * See README for the semantics (order, partial sends, per-datagram errors, accounting).
 */
import { loadNative } from './native/binding.js';
import { describe } from './address.js';
import { BatchSocketError, BatchSocketTypeError } from './errors.js';
import { resolveOptions, type ResolvedOptions } from './options.js';
import { DgramBatchSocket } from './socket/dgram-socket.js';
import { NativeBatchSocket } from './socket/native-socket.js';
import type { BatchSocket, BatchSocketOptions, MessageInfo, SocketType } from './types.js';

export type * from './types.js';
export { BatchSocketError, BatchSocketRangeError, BatchSocketTypeError, systemError, errnoName } from './errors.js';
export type { ErrorCode, SystemError } from './errors.js';
export { DEFAULTS } from './options.js';
export { isLoopback, maxPayload } from './address.js';
export { NativeBatchSocket } from './socket/native-socket.js';
export { DgramBatchSocket } from './socket/dgram-socket.js';

let warned = false;

/**
 * Whether the native batch backend can be used here, and if not, why.
 * @returns `{ available: true, path }` or `{ available: false, reason }`.
 */
export function batchBackendStatus():
  | {
      /** The native addon loaded. */
      available: true;
      /** File the native addon was loaded from. */
      path: string;
    }
  | {
      /** The native addon did not load: the default backend is then `'dgram'`. */
      available: false;
      /** Why it did not load (the text the fallback warning quotes). */
      reason: string;
    } {
  const r = loadNative();
  return r.ok ? { available: true, path: r.path } : { available: false, reason: r.reason };
}

/**
 * Creates a UDP socket that sends in batches.
 *
 * Backend choice: `'batch'` (native sendmmsg/recvmmsg) by default where the addon loads;
 * otherwise `'dgram'` with one warning per process (`process.emitWarning`, code
 * `DGRAM_SENDMMSG_FALLBACK`, saying why the addon did not load and how to build it), except
 * under the deliberate opt-out `DGRAM_SENDMMSG_NATIVE=0`, which is silent. Asking for `backend: 'batch'` where it cannot load throws
 * ERR_BACKEND_UNAVAILABLE.
 *
 * @param options socket options, or just `'udp4'`/`'udp6'`.
 * @param listener added as a `'message'` listener, as `dgram.createSocket(type, listener)`.
 * @throws ERR_SOCKET_BAD_TYPE, ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE, ERR_OUT_OF_RANGE for bad options;
 * ERR_INVALID_ARG_TYPE for a `listener` that is not a function (dgram ignores it).
 */
export function createBatchSocket(options: BatchSocketOptions | SocketType, listener?: (msg: Buffer, rinfo: MessageInfo) => void): BatchSocket {
  const opts = resolveOptions(options);
  if (listener !== undefined && typeof listener !== 'function') {
    throw new BatchSocketTypeError('ERR_INVALID_ARG_TYPE', `The "listener" argument must be of type function. Received ${describe(listener)}`);
  }
  const sock = createBackend(opts);
  if (listener) sock.on('message', listener);
  return sock;
}

function createBackend(opts: ResolvedOptions): BatchSocket {
  if (opts.backend === 'dgram') return new DgramBatchSocket(opts);
  const native = loadNative();
  if (native.ok) return new NativeBatchSocket(native.binding, opts);
  if (opts.backend === 'batch') {
    throw new BatchSocketError('ERR_BACKEND_UNAVAILABLE', `The batch backend is unavailable: ${native.reason}`);
  }
  // The deliberate opt-out (DGRAM_SENDMMSG_NATIVE=0) is not a fault: no warning.
  if (!warned && process.env.DGRAM_SENDMMSG_NATIVE !== '0') {
    warned = true;
    process.emitWarning(`dgram-sendmmsg-native: ${native.reason}; using the node:dgram backend (no batching).`, {
      code: 'DGRAM_SENDMMSG_FALLBACK',
    });
  }
  return new DgramBatchSocket(opts);
}
