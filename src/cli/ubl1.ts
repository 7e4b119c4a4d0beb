/**
 * The udp-blast payload header ("UBL1"), a contract other tools may rely on
 * (see the design notes, "The udp-blast payload"). 24 bytes, big-endian:
 *
 * | bytes | field |
 * |---|---|
 * | 0–3   | magic `0x55424C31` ("UBL1") |
 * | 4–7   | flow id (u32) |
 * | 8–15  | sequence number within the flow (u64, from 0) |
 * | 16–23 | send time, ns on CLOCK_MONOTONIC (`process.hrtime.bigint()`), u64 |
 *
 * The rest of the datagram is filler. The hot-path helpers below read and write
 * single fields in place so neither side allocates per datagram (apart from the
 * BigInt that `process.hrtime.bigint()` itself returns).
 */

/** "UBL1" as a big-endian u32. */
export const UBL1_MAGIC = 0x55424c31;
/** Header length, bytes; also the smallest datagram udp-blast sends. */
export const UBL1_HEADER_BYTES = 24;

const TWO_32 = 0x1_0000_0000;

/** Decoded header. `seq` is a JS number: exact up to 2^53 − 1. */
export interface Ubl1Header {
  /** Flow id, u32. */
  flow: number;
  /** Sequence number within the flow, from 0. */
  seq: number;
  /** Send time, ns on CLOCK_MONOTONIC of the sending host. */
  sendTimeNs: bigint;
}

/**
 * Writes magic, flow id and sequence number into `buf[0..16)`. Bytes 16–23 (send
 * time) are left for {@link writeUbl1SendTime}, which should run as late as possible.
 *
 * @param flow flow id, integer 0..2^32−1
 * @param seq sequence number, integer 0..2^53−1
 */
export function writeUbl1Ids(buf: Buffer, flow: number, seq: number): void {
  buf.writeUInt32BE(UBL1_MAGIC, 0);
  buf.writeUInt32BE(flow >>> 0, 4);
  const hi = Math.floor(seq / TWO_32);
  buf.writeUInt32BE(hi >>> 0, 8);
  buf.writeUInt32BE((seq - hi * TWO_32) >>> 0, 12);
}

/** Writes the send time (ns, CLOCK_MONOTONIC) into `buf[16..24)`. */
export function writeUbl1SendTime(buf: Buffer, sendTimeNs: bigint): void {
  buf.writeBigUInt64BE(sendTimeNs, 16);
}

/**
 * Writes a whole header into `buf[0..24)`.
 *
 * @param flow flow id (u32)
 * @param seq sequence number (0..2^53−1)
 * @param sendTimeNs send time, ns (u64)
 */
export function encodeUbl1(buf: Buffer, flow: number, seq: number, sendTimeNs: bigint): void {
  if (buf.length < UBL1_HEADER_BYTES) throw new RangeError(`a UBL1 datagram needs at least ${UBL1_HEADER_BYTES} bytes, got ${buf.length}`);
  writeUbl1Ids(buf, flow, seq);
  writeUbl1SendTime(buf, sendTimeNs);
}

/** True when `buf` (of `length` bytes, default its length) is long enough and starts with the UBL1 magic. */
export function isUbl1(buf: Buffer, length: number = buf.length): boolean {
  return length >= UBL1_HEADER_BYTES && buf.length >= UBL1_HEADER_BYTES && buf.readUInt32BE(0) === UBL1_MAGIC;
}

/** Flow id of a datagram already checked with {@link isUbl1}. */
export function readUbl1Flow(buf: Buffer): number {
  return buf.readUInt32BE(4);
}

/**
 * Sequence number of a datagram already checked with {@link isUbl1}, as a number.
 * Values above 2^53 lose precision (a sender would need 2^53 datagrams to get there).
 */
export function readUbl1Seq(buf: Buffer): number {
  return buf.readUInt32BE(8) * TWO_32 + buf.readUInt32BE(12);
}

/** Send time (ns, CLOCK_MONOTONIC of the sender) of a datagram already checked with {@link isUbl1}. */
export function readUbl1SendTime(buf: Buffer): bigint {
  return buf.readBigUInt64BE(16);
}

/** Decodes a header, or returns null when `buf` is not a UBL1 datagram. */
export function decodeUbl1(buf: Buffer, length: number = buf.length): Ubl1Header | null {
  if (!isUbl1(buf, length)) return null;
  return { flow: readUbl1Flow(buf), seq: readUbl1Seq(buf), sendTimeNs: readUbl1SendTime(buf) };
}
