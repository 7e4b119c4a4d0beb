/**
 * Parsing of a plain (already SRTCP-unprotected) compound RTCP packet into the objects a
 * media sender acts on, in the shape werift's `RtcpPacketConverter.deSerialize` gives them
 * (packages/rtp/src/rtcp/rtcp.ts), so {@link senderFeedback} and the relay's report
 * handling take either:
 *
 * - SR (PT 200) and RR (PT 201), RFC 3550 §6.4.1/§6.4.2: `reports`, one per report block,
 *   with `ssrc`, `fractionLost` (0–255, the 8-bit fixed-point fraction), `packetsLost`
 *   (cumulative, the signed 24-bit field) and `jitter` (RTP timestamp units).
 * - RTPFB (PT 205), RFC 4585 §6.2: FMT 1 (generic NACK) → `feedback.lost`, the sequence
 *   numbers named by each FCI's PID and BLP (§6.2.1), mod 2^16, in FCI order.
 * - PSFB (PT 206), RFC 4585 §6.3 and RFC 5104 §4.3.1: FMT 1 (PLI) → `feedback.mediaSsrc`;
 *   FMT 4 (FIR) → `feedback.fir`, one `{ ssrc, sequenceNumber }` per FCI entry.
 * - Any other packet type (SDES, BYE, APP, XR …): `{ type }` only.
 *
 * Pure: no werift import, no I/O. RFC 3550 §6.1 validity: version 2, every length inside
 * the datagram, the padding bit only on the last packet; a compound that breaks them
 * throws {@link RtcpParseError} (`code` `'ERR_RTCP_MALFORMED'`) and yields nothing.
 */

/** One parsed RTCP packet (werift's shape, as far as a sender reads it). */
export interface ParsedRtcp {
  /** Packet type (RFC 3550 §12.1, RFC 4585 §6.1): 200 SR … 206 PSFB. */
  type: number;
  /** SR/RR: the report blocks. */
  reports?: ReportBlock[];
  /** RTPFB/PSFB: the feedback message. */
  feedback?: {
    /** FMT (werift keeps it in `count`). */
    count: number;
    senderSsrc: number;
    /** RTPFB: the media source SSRC. */
    mediaSourceSsrc?: number;
    /** PSFB: the media source SSRC. */
    mediaSsrc?: number;
    /** Generic NACK: lost sequence numbers (mod 2^16). */
    lost?: number[];
    /** FIR: the FCI entries. */
    fir?: { ssrc: number; sequenceNumber: number }[];
  };
}

/** One report block of an SR or RR (RFC 3550 §6.4.1). */
export interface ReportBlock {
  /** SSRC the block reports on (the sender's outgoing stream). */
  ssrc: number;
  /** Fraction lost since the previous report, 8-bit fixed point (divide by 256). */
  fractionLost: number;
  /** Cumulative packets lost (signed 24-bit). */
  packetsLost: number;
  /** Extended highest sequence number received. */
  highestSequence: number;
  /** Interarrival jitter, RTP timestamp units. */
  jitter: number;
  /** Middle 32 bits of the NTP time of the last SR received (0: none). */
  lsr: number;
  /** Delay since that SR, 1/65536 s. */
  dlsr: number;
}

/** A compound RTCP packet that breaks RFC 3550 §6.1's validity rules. */
export class RtcpParseError extends Error {
  readonly code = 'ERR_RTCP_MALFORMED';
  constructor(message: string) {
    super(message);
    this.name = 'RtcpParseError';
  }
}

const SR = 200;
const RR = 201;
const RTPFB = 205;
const PSFB = 206;

/**
 * Parses `bytes[0..length)` (default: all of it), a compound RTCP packet without SRTCP
 * trailer, into its packets in order.
 * @throws RtcpParseError when a header is not version 2, a length runs past the end, a
 *   packet is shorter than its type needs, or padding is set before the last packet.
 */
export function parseRtcp(bytes: Uint8Array, length = bytes.length): ParsedRtcp[] {
  if (length > bytes.length) length = bytes.length;
  if (length < 4) throw new RtcpParseError(`RTCP compound of ${length} bytes: shorter than a header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, length);
  const out: ParsedRtcp[] = [];
  let off = 0;
  while (off < length) {
    if (length - off < 4) throw new RtcpParseError(`${length - off} stray bytes at offset ${off}, after the last RTCP packet`);
    const b0 = bytes[off];
    if (b0 >> 6 !== 2) throw new RtcpParseError(`RTCP version ${b0 >> 6} at offset ${off} (want 2)`);
    const count = b0 & 0x1f;
    const type = bytes[off + 1];
    const size = (dv.getUint16(off + 2) + 1) * 4;
    if (off + size > length) throw new RtcpParseError(`RTCP packet at offset ${off} claims ${size} bytes, ${length - off} left`);
    let end = off + size;
    if (b0 & 0x20) {
      if (end !== length) throw new RtcpParseError(`RTCP padding on a packet that is not the last of the compound (offset ${off})`);
      const pad = bytes[end - 1];
      if (pad === 0 || pad > size - 4) throw new RtcpParseError(`RTCP padding of ${pad} bytes in a ${size}-byte packet`);
      end -= pad;
    }
    out.push(parseOne(dv, off, end, type, count));
    off += size;
  }
  return out;
}

function parseOne(dv: DataView, off: number, end: number, type: number, count: number): ParsedRtcp {
  const need = (n: number, what: string): void => {
    if (end - off < n) throw new RtcpParseError(`${what} at offset ${off}: ${end - off} bytes, needs ${n}`);
  };
  if (type === SR || type === RR) {
    const first = off + (type === SR ? 28 : 8);
    need(first - off + count * 24, type === SR ? `SR with ${count} report blocks` : `RR with ${count} report blocks`);
    const reports: ReportBlock[] = [];
    for (let i = 0, p = first; i < count; i++, p += 24) {
      const lost = (dv.getUint8(p + 5) << 16) | dv.getUint16(p + 6);
      reports.push({
        ssrc: dv.getUint32(p),
        fractionLost: dv.getUint8(p + 4),
        packetsLost: lost & 0x800000 ? lost - 0x1000000 : lost,
        highestSequence: dv.getUint32(p + 8),
        jitter: dv.getUint32(p + 12),
        lsr: dv.getUint32(p + 16),
        dlsr: dv.getUint32(p + 20),
      });
    }
    return { type, reports };
  }
  if (type === RTPFB || type === PSFB) {
    need(12, type === RTPFB ? 'RTPFB' : 'PSFB');
    const senderSsrc = dv.getUint32(off + 4);
    const mediaSsrc = dv.getUint32(off + 8);
    if (type === RTPFB) {
      if (count !== 1) return { type, feedback: { count, senderSsrc, mediaSourceSsrc: mediaSsrc } };
      const lost: number[] = [];
      for (let p = off + 12; p + 4 <= end; p += 4) {
        const pid = dv.getUint16(p);
        const blp = dv.getUint16(p + 2);
        lost.push(pid);
        for (let i = 0; i < 16; i++) if (blp & (1 << i)) lost.push((pid + i + 1) & 0xffff);
      }
      return { type, feedback: { count, senderSsrc, mediaSourceSsrc: mediaSsrc, lost } };
    }
    if (count === 4) {
      const fir: { ssrc: number; sequenceNumber: number }[] = [];
      for (let p = off + 12; p + 8 <= end; p += 8) fir.push({ ssrc: dv.getUint32(p), sequenceNumber: dv.getUint8(p + 4) });
      return { type, feedback: { count, senderSsrc, mediaSsrc, fir } };
    }
    return { type, feedback: { count, senderSsrc, mediaSsrc } };
  }
  return { type };
}
