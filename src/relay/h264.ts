/**
 * H.264 on RTP payloads (RFC 6184): keyframe detection, SPS/PPS collection and the
 * STAP-A that carries cached parameter sets to a viewer. A viewer that joins, fell
 * behind or saw a discontinuity is fed from the first packet of the next keyframe: the
 * packet that carries an SPS (NAL type 7) when the encoder repeats SPS/PPS in band, or
 * else the first packet of an IDR slice (type 5), preceded by the cached SPS/PPS.
 */

const NAL_IDR = 5;
const NAL_SPS = 7;
const STAP_A = 24;
const FU_A = 28;

/** What a packet contributes to a keyframe: nothing, an SPS, or the start of an IDR slice. */
export enum KeyframeMark {
  None = 0,
  Sps = 1,
  IdrStart = 2,
}

/**
 * Classifies one H.264 RTP payload. The relay starts a viewer at the first `Sps` or
 * `IdrStart` packet of an access unit (one RTP timestamp); later ones in that unit
 * belong to the keyframe it started.
 */
export function keyframeMark(payload: Uint8Array, start = 0, len = payload.length - start): KeyframeMark {
  if (len < 1) return KeyframeMark.None;
  const type = payload[start] & 0x1f;
  if (type === NAL_SPS) return KeyframeMark.Sps;
  if (type === NAL_IDR) return KeyframeMark.IdrStart;
  if (type === STAP_A) {
    // Aggregated NAL units: 16-bit size, then the unit.
    let off = start + 1;
    const end = start + len;
    let mark = KeyframeMark.None;
    while (off + 2 < end) {
      const size = (payload[off] << 8) | payload[off + 1];
      if (size === 0 || off + 2 + size > end) break;
      const t = payload[off + 2] & 0x1f;
      if (t === NAL_SPS) return KeyframeMark.Sps;
      if (t === NAL_IDR) mark = KeyframeMark.IdrStart;
      off += 2 + size;
    }
    return mark;
  }
  if (type === FU_A && len >= 2) {
    const fuHeader = payload[start + 1];
    return (fuHeader & 0x80) !== 0 && (fuHeader & 0x1f) === NAL_IDR ? KeyframeMark.IdrStart : KeyframeMark.None;
  }
  return KeyframeMark.None;
}

const NAL_PPS = 8;

/** SPS and PPS NAL units (without start codes), as cached per stream. */
export interface ParameterSets {
  sps?: Uint8Array;
  pps?: Uint8Array;
}

/**
 * Copies the SPS and PPS NAL units a payload carries (a single NAL unit, or inside a
 * STAP-A, RFC 6184 §5.7.1) into `into`; returns true when it found one. Fragmented
 * (FU-A) parameter sets are not collected: encoders send them whole (they are small).
 */
export function collectParameterSets(payload: Uint8Array, start: number, len: number, into: ParameterSets): boolean {
  if (len < 1) return false;
  // A copy, never a view: `payload` may be the receive ring (a Buffer, whose slice() is a view), reused after the batch.
  const copy = (from: number, to: number): Uint8Array => Uint8Array.prototype.slice.call(payload, from, to);
  const type = payload[start] & 0x1f;
  if (type === NAL_SPS) {
    into.sps = copy(start, start + len);
    return true;
  }
  if (type === NAL_PPS) {
    into.pps = copy(start, start + len);
    return true;
  }
  if (type !== STAP_A) return false;
  let found = false;
  let off = start + 1;
  const end = start + len;
  while (off + 2 < end) {
    const size = (payload[off] << 8) | payload[off + 1];
    if (size === 0 || off + 2 + size > end) break;
    const t = payload[off + 2] & 0x1f;
    if (t === NAL_SPS) into.sps = copy(off + 2, off + 2 + size);
    else if (t === NAL_PPS) into.pps = copy(off + 2, off + 2 + size);
    found ||= t === NAL_SPS || t === NAL_PPS;
    off += 2 + size;
  }
  return found;
}

/**
 * Builds one RTP packet (12-byte header, no CSRC/extension) whose payload is a STAP-A
 * (RFC 6184 §5.7.1) of `units` — the cached SPS and PPS sent to a viewer just before the
 * IDR it starts at. Header fields are the caller's (the per-output rewrite sets SSRC,
 * payload type and sequence number afterwards).
 */
export function parameterSetPacket(units: readonly Uint8Array[], seq: number, timestamp: number, ssrc: number, payloadType: number): Buffer {
  let size = 12 + 1;
  for (const u of units) size += 2 + u.length;
  const b = Buffer.alloc(size);
  b[0] = 0x80;
  b[1] = payloadType & 0x7f;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(timestamp >>> 0, 4);
  b.writeUInt32BE(ssrc >>> 0, 8);
  // NRI: the highest of the units'; type 24.
  let nri = 0;
  for (const u of units) nri = Math.max(nri, u[0] & 0x60);
  b[12] = nri | STAP_A;
  let off = 13;
  for (const u of units) {
    b.writeUInt16BE(u.length, off);
    b.set(u, off + 2);
    off += 2 + u.length;
  }
  return b;
}

/**
 * Parses an SDP `sprop-parameter-sets` value (RFC 6184 §8.1: comma-separated base64 NAL
 * units) into SPS and PPS. Throws `Error` on a value that is not base64 or holds neither.
 */
export function parseSpropParameterSets(value: string): ParameterSets {
  const out: ParameterSets = {};
  for (const part of value.split(',')) {
    const p = part.trim();
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(p)) throw new Error(`sprop-parameter-sets: ${JSON.stringify(p)} is not base64`);
    const nal = Buffer.from(p, 'base64');
    collectParameterSets(nal, 0, nal.length, out);
  }
  if (!out.sps || !out.pps) throw new Error('sprop-parameter-sets must carry an SPS and a PPS');
  return out;
}
