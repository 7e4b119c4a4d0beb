/**
 * RTCP feedback a media receiver sends back to a sender, as werift parses it (its
 * `RtcpPacketConverter`, packages/rtp/src/rtcp/), reduced to what a sender acts on:
 *
 * - Generic NACK (RFC 4585 §6.2.1, RTPFB PT=205 FMT=1): the sequence numbers to resend.
 *   Each FCI entry is a PID and a 16-bit bitmask BLP of the following lost packets
 *   (bit i set: PID + i + 1 lost). werift's parser adds `PID + i + 1` without the
 *   mod-2^16 wrap (a PID of 65535 with bit 0 yields 65536), keeps duplicates from
 *   overlapping entries and has no bound: {@link nackSequenceNumbers} wraps, de-duplicates
 *   and bounds the list.
 * - PLI (RFC 4585 §6.3.1, PSFB PT=206 FMT=1): the receiver lost a picture and needs a
 *   keyframe.
 * - FIR (RFC 5104 §4.3.1, PSFB FMT=4): a full intra request for the SSRCs in its FCI
 *   entries, each with an 8-bit command sequence number; a request repeated with the
 *   same number is the same request (§4.3.1.2) and is acted on once
 *   ({@link FirSequence}). werift routes FIR to no sender (its media SSRC field is 0), so
 *   a sender must look at the transport's RTCP to see it.
 *
 * Pure: takes werift's parsed packet objects structurally (no werift import).
 */

/** RTCP packet types (RFC 3550 §12.1, RFC 4585 §6.1). */
export const RTCP_PT = { SR: 200, RR: 201, SDES: 202, BYE: 203, APP: 204, RTPFB: 205, PSFB: 206 } as const;
/** Feedback message types (FMT) in werift's `feedback.count`. */
export const RTPFB_FMT_NACK = 1;
export const PSFB_FMT_PLI = 1;
export const PSFB_FMT_FIR = 4;

/** Most sequence numbers one NACK yields (the size of the sender's per-output history). */
export const MAX_NACK_SEQUENCES = 512;

/** What a sender does about one RTCP packet addressed to one of its streams. */
export type SenderFeedback =
  | { kind: 'nack'; ssrc: number; sequenceNumbers: number[] }
  | { kind: 'pli'; ssrc: number }
  | { kind: 'fir'; ssrc: number; commandSequence: number };

/** werift's parsed RTCP packets, as far as feedback goes (structural). */
interface WeriftRtcpLike {
  type?: number;
  feedback?: {
    count?: number;
    mediaSourceSsrc?: number;
    mediaSsrc?: number;
    lost?: readonly number[];
    fir?: readonly { ssrc: number; sequenceNumber: number }[];
  };
}

/**
 * The sequence numbers a generic NACK asks for, from werift's expanded `lost` list: each
 * mod 2^16, in the order first named, without duplicates, at most `limit` of them (the
 * rest could not be in a history of that size anyway).
 */
export function nackSequenceNumbers(lost: readonly number[], limit = MAX_NACK_SEQUENCES): number[] {
  const out: number[] = [];
  const seen = new Set<number>();
  for (const n of lost) {
    if (out.length >= limit) break;
    if (!Number.isInteger(n) || n < 0) continue;
    const seq = n & 0xffff;
    if (seen.has(seq)) continue;
    seen.add(seq);
    out.push(seq);
  }
  return out;
}

/**
 * The feedback in one werift-parsed RTCP packet for the streams in `ssrcs` (the sender's
 * outgoing SSRCs): a NACK or PLI whose media source is one of them, or one entry per
 * FIR FCI naming one of them. Anything else (reports, SDES, REMB, TWCC, feedback for
 * other SSRCs) yields nothing.
 */
export function senderFeedback(packet: unknown, ssrcs: ReadonlySet<number>): SenderFeedback[] {
  const p = packet as WeriftRtcpLike | null;
  if (!p || typeof p !== 'object' || !p.feedback || typeof p.feedback !== 'object') return [];
  const fb = p.feedback;
  if (p.type === RTCP_PT.RTPFB && fb.count === RTPFB_FMT_NACK) {
    const ssrc = (fb.mediaSourceSsrc ?? -1) >>> 0;
    if (!ssrcs.has(ssrc) || !Array.isArray(fb.lost)) return [];
    return [{ kind: 'nack', ssrc, sequenceNumbers: nackSequenceNumbers(fb.lost) }];
  }
  if (p.type === RTCP_PT.PSFB && fb.count === PSFB_FMT_PLI) {
    const ssrc = (fb.mediaSsrc ?? -1) >>> 0;
    return ssrcs.has(ssrc) ? [{ kind: 'pli', ssrc }] : [];
  }
  if (p.type === RTCP_PT.PSFB && fb.count === PSFB_FMT_FIR && Array.isArray(fb.fir)) {
    const out: SenderFeedback[] = [];
    for (const e of fb.fir) {
      const ssrc = e.ssrc >>> 0;
      if (ssrcs.has(ssrc)) out.push({ kind: 'fir', ssrc, commandSequence: e.sequenceNumber & 0xff });
    }
    return out;
  }
  return [];
}

/**
 * RFC 5104 §4.3.1.2: a FIR whose command sequence number equals the last one acted on
 * (for that sender→receiver pair) is a repetition of the same request.
 */
export class FirSequence {
  private last = -1;

  /** True when `commandSequence` is a new request (and remembers it). */
  isNew(commandSequence: number): boolean {
    const n = commandSequence & 0xff;
    if (n === this.last) return false;
    this.last = n;
    return true;
  }
}
