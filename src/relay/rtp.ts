/**
 * Minimal RTP header reading (RFC 3550 §5.1) for routing and keyframe detection. The
 * relay only looks at the header; werift serialises what it forwards.
 */

export interface RtpHeaderInfo {
  payloadType: number;
  marker: boolean;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  /** Byte offset of the payload (after CSRCs and the header extension). */
  payloadOffset: number;
  /** Payload length, bytes (padding removed). */
  payloadLength: number;
}

/**
 * Parses the fixed header, CSRC list, extension and padding of `buf[0..len)`. Returns
 * null for anything that is not a well-formed RTP version 2 packet (those are counted
 * and dropped by the caller), including RTCP (payload types 72–76 with the marker bit,
 * RFC 5761 §4).
 */
export function parseRtpHeader(buf: Uint8Array, start = 0, len = buf.length - start): RtpHeaderInfo | null {
  if (len < 12) return null;
  const b0 = buf[start];
  if (b0 >> 6 !== 2) return null;
  const b1 = buf[start + 1];
  const pt = b1 & 0x7f;
  if (pt >= 72 && pt <= 76) return null; // RTCP on a muxed port
  let off = 12 + (b0 & 0x0f) * 4;
  if (off > len) return null;
  if (b0 & 0x10) {
    if (off + 4 > len) return null;
    const words = (buf[start + off + 2] << 8) | buf[start + off + 3];
    off += 4 + words * 4;
    if (off > len) return null;
  }
  let end = len;
  if (b0 & 0x20) {
    const pad = buf[start + len - 1];
    if (pad === 0 || off + pad > len) return null;
    end -= pad;
  }
  return {
    payloadType: pt,
    marker: (b1 & 0x80) !== 0,
    sequenceNumber: (buf[start + 2] << 8) | buf[start + 3],
    timestamp: ((buf[start + 4] << 24) | (buf[start + 5] << 16) | (buf[start + 6] << 8) | buf[start + 7]) >>> 0,
    ssrc: ((buf[start + 8] << 24) | (buf[start + 9] << 16) | (buf[start + 10] << 8) | buf[start + 11]) >>> 0,
    payloadOffset: off,
    payloadLength: end - off,
  };
}
