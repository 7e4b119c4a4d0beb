/**
 * Payload normalisation for `send()`: everything dgram accepts (Buffer, any TypedArray,
 * DataView, string, an array of those) becomes one byte view, validated for size before
 * anything is queued.
 */
import { Buffer } from 'node:buffer';
import { constants } from 'node:os';
import { BatchSocketRangeError, BatchSocketTypeError, BatchSocketError } from './errors.js';
import { describe } from './address.js';

/** A validated payload: `bytes[start .. start+length)`. */
export interface PayloadView {
  bytes: Uint8Array;
  start: number;
  length: number;
}

const argType = (msg: unknown): BatchSocketTypeError =>
  new BatchSocketTypeError(
    'ERR_INVALID_ARG_TYPE',
    `The "buffer" argument must be of type string or an instance of Buffer, TypedArray, or DataView, or an array of them. Received ${describe(msg)}`,
  );

function asBytes(msg: unknown): Uint8Array {
  if (msg instanceof Uint8Array) return msg;
  if (typeof msg === 'string') return Buffer.from(msg, 'utf8');
  if (ArrayBuffer.isView(msg)) return new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength);
  throw argType(msg);
}

/**
 * Turns a dgram-style payload into one byte view, into `out` (reused by the caller so
 * the common Buffer case allocates nothing). `offset`/`length` (bytes) select a range,
 * as in `dgram.send(msg, offset, length, …)`. Throws ERR_INVALID_ARG_TYPE,
 * ERR_OUT_OF_RANGE, ERR_INVALID_ARG_VALUE (empty datagram) or EMSGSIZE (over
 * `maxSize` bytes) synchronously.
 */
export function toPayload(msg: unknown, offset: number | undefined, length: number | undefined, maxSize: number, out: PayloadView): PayloadView {
  let bytes: Uint8Array;
  if (Array.isArray(msg)) {
    if (msg.length === 1) bytes = asBytes(msg[0]);
    else {
      const parts = msg.map((m) => {
        if (!(typeof m === 'string' || ArrayBuffer.isView(m))) throw argType(m);
        return asBytes(m);
      });
      bytes = Buffer.concat(parts);
    }
  } else {
    bytes = asBytes(msg);
  }
  let start = 0;
  let len = bytes.length;
  if (offset !== undefined || length !== undefined) {
    if (typeof msg === 'string' || Array.isArray(msg)) {
      throw new BatchSocketTypeError('ERR_INVALID_ARG_TYPE', 'offset and length are supported only with a Buffer, TypedArray or DataView payload');
    }
    start = offset ?? 0;
    // Check the offset before using it: a BigInt (or other non-number) offset would make
    // the arithmetic below throw a TypeError without a code.
    if (!Number.isInteger(start) || start < 0 || start > bytes.length) {
      throw new BatchSocketRangeError('ERR_OUT_OF_RANGE', `The value of "offset" is out of range. It must be >= 0 and <= ${bytes.length}. Received ${String(start)}`);
    }
    len = length ?? bytes.length - start;
    if (!Number.isInteger(len) || len < 0 || start + len > bytes.length) {
      throw new BatchSocketRangeError('ERR_OUT_OF_RANGE', `The value of "length" is out of range. It must be >= 0 and <= ${bytes.length - start}. Received ${String(len)}`);
    }
  }
  if (len === 0) {
    throw new BatchSocketError('ERR_INVALID_ARG_VALUE', 'Empty datagram: a payload of at least 1 byte is required');
  }
  if (len > maxSize) {
    const err = new BatchSocketRangeError('EMSGSIZE', `Datagram of ${len} bytes is larger than the ${maxSize}-byte maximum of this socket type`);
    (err as unknown as { errno: number }).errno = -constants.errno.EMSGSIZE;
    throw err;
  }
  out.bytes = bytes;
  out.start = start;
  out.length = len;
  return out;
}
