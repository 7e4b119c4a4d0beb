/**
 * H.264 keyframe detection on RTP payloads (RFC 6184). A viewer that joins, or that fell
 * behind, is fed from the first packet of the next keyframe: the packet that carries an
 * SPS (NAL type 7) — encoders repeat SPS/PPS in-band before every IDR picture, which is
 * what a browser needs to start decoding — or, for a stream without in-band parameter
 * sets, the first packet of an IDR slice (type 5).
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
 * Classifies one H.264 RTP payload. The relay starts a viewer at an `Sps` packet; at an
 * `IdrStart` only when the stream carries no in-band SPS (parameter sets out of band),
 * since an IDR after an SPS belongs to the keyframe that SPS started.
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
