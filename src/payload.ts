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
  if (msg instanceof Uint8Array) return msg; // detached: length 0, refused as empty below
  if (typeof msg === 'string') return Buffer.from(msg, 'utf8');
  if (ArrayBuffer.isView(msg)) {
    // A DataView over a transferred (detached) buffer throws from its getters: node:dgram
    // dies on it with that uncoded TypeError; here it is a coded error, nothing queued.
    try {
      return new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength);
    } catch {
      throw detached();
    }
  }
  throw argType(msg);
}

const detached = (): BatchSocketTypeError =>
  new BatchSocketTypeError('ERR_INVALID_ARG_VALUE', 'The "buffer" argument is a view of a detached ArrayBuffer (transferred): it has no bytes to send');

/** dgram's ERR_BUFFER_OUT_OF_BOUNDS for a bad `offset`/`length` of send(msg, offset, length, …). */
const outOfBounds = (name: 'offset' | 'length'): BatchSocketRangeError =>
  new BatchSocketRangeError('ERR_BUFFER_OUT_OF_BOUNDS', `"${name}" is outside of buffer bounds`);

/**
 * Turns a dgram-style payload into one byte view, into `out` (reused by the caller so
 * the common Buffer case allocates nothing). `offset`/`length` (bytes) select a range,
 * as in `dgram.send(msg, offset, length, …)` (a string's range is in its UTF-8 bytes). Throws
 * ERR_INVALID_ARG_TYPE, ERR_BUFFER_OUT_OF_BOUNDS (range outside the bytes), ERR_OUT_OF_RANGE
 * (a non-integer offset/length), ERR_INVALID_ARG_VALUE (empty datagram, detached buffer) or EMSGSIZE (over
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
    // As dgram: a string is encoded (UTF-8) first and the range taken from its bytes; a list
    // takes no range.
    if (Array.isArray(msg)) {
      throw new BatchSocketTypeError('ERR_INVALID_ARG_TYPE', 'offset and length are supported only with a single Buffer, TypedArray, DataView or string payload');
    }
    start = offset ?? 0;
    // Check the offset before using it: a BigInt (or other non-number) offset would make
    // the arithmetic below throw a TypeError without a code.
    if (typeof start !== 'number' || !Number.isInteger(start)) {
      throw new BatchSocketRangeError('ERR_OUT_OF_RANGE', `The value of "offset" is out of range. It must be an integer. Received ${String(start)}`);
    }
    if (start < 0 || start > bytes.length) throw outOfBounds('offset');
    len = length ?? bytes.length - start;
    if (typeof len !== 'number' || !Number.isInteger(len)) {
      throw new BatchSocketRangeError('ERR_OUT_OF_RANGE', `The value of "length" is out of range. It must be an integer. Received ${String(len)}`);
    }
    if (len < 0 || start + len > bytes.length) throw outOfBounds('length');
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
