/**
 * What a NACK may make the relay resend to one output: a guard against retransmission
 * storms. A viewer that falls behind (a stalled process, a full socket buffer) loses
 * packets, NACKs them, and — receivers repeat a NACK until the packet arrives — keeps
 * NACKing what the resends that overflow its buffer again lose; resending everything asked
 * feeds the loss it answers (measured: a 64-viewer relay resent 3.3× its media rate to one
 * stalled viewer process, 243,633 datagrams dropped at the receivers in 10 s).
 *
 * Two rules per output, as libwebrtc's RTP sender applies them (modules/rtp_rtcp/source/
 * rtp_sender.cc `ReSendPacket`: a packet is not resent again within one RTT, and a rate
 * limiter caps retransmission bitrate):
 * - A sequence number resent less than {@link RESEND_INTERVAL_MS} ago is not resent again
 *   (the first copy may still be on its way).
 * - A token bucket: each media packet the output sends earns {@link TOKENS_PER_PACKET}
 *   tokens (retransmissions at most half the media rate over time), up to
 *   {@link MAX_TOKENS} (a loss burst of that many packets is repaired at once); each resend
 *   spends one. What finds no token is not resent.
 *
 * Throttled sequence numbers are counted (the viewer asks again if it still needs them).
 * Pure: time and the output's packet count are passed in.
 */

/** A sequence number is not resent again within this many ms. */
export const RESEND_INTERVAL_MS = 100;
/** Tokens per media packet sent: retransmissions ≤ 50 % of the media rate over time. */
export const TOKENS_PER_PACKET = 0.5;
/** Bucket size (and start): the largest loss burst repaired at once. */
export const MAX_TOKENS = 128;

/** Resend times are remembered for this many distinct sequence numbers (the fan-out's history size). */
const SLOTS = 512;

export class RetransmitGuard {
  private tokens = MAX_TOKENS;
  private lastPackets: number | undefined;
  private readonly seqAt = new Int32Array(SLOTS).fill(-1);
  private readonly timeAt = new Float64Array(SLOTS);

  /**
   * The sequence numbers of one NACK that may be resent now, in their order; the others
   * are throttled. `now` in ms (any monotonic clock), `packetsSent` the output's media packet
   * count (it earns tokens as it grows).
   */
  admit(seqs: readonly number[], now: number, packetsSent: number): { allowed: number[]; throttled: number } {
    if (this.lastPackets !== undefined && packetsSent > this.lastPackets) {
      this.tokens = Math.min(MAX_TOKENS, this.tokens + (packetsSent - this.lastPackets) * TOKENS_PER_PACKET);
    }
    this.lastPackets = packetsSent;
    const allowed: number[] = [];
    let throttled = 0;
    for (const seq of seqs) {
      const slot = seq & (SLOTS - 1);
      const recent = this.seqAt[slot] === seq && now - this.timeAt[slot] < RESEND_INTERVAL_MS;
      if (recent || this.tokens < 1) {
        throttled++;
        continue;
      }
      this.tokens--;
      this.seqAt[slot] = seq;
      this.timeAt[slot] = now;
      allowed.push(seq);
    }
    return { allowed, throttled };
  }
}
