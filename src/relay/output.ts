/**
 * One viewer's output of one media kind: the explicit per-output state the fan-out
 * applies to every forwarded packet, and the re-basing that keeps the outgoing RTP
 * stream continuous across ingest restarts, source switches and keyframe resyncs.
 *
 * The per-packet work is {@link rewriteRtpHeader}: a pure rewrite of four header fields
 * (SSRC, payload type — keeping the marker bit —, sequence number + offset mod 2^16,
 * timestamp + offset mod 2^32) of a copy of the ingest packet. Everything else (when an
 * output is gated until a keyframe, when its offsets are re-based) is decided per batch
 * by the stream, so a native fan-out can take over the per-packet part unchanged.
 */

/** The fields {@link rewriteRtpHeader} writes, per output. */
export interface OutputRewrite {
  /** Outgoing SSRC (the viewer's sender SSRC), u32. */
  ssrc: number;
  /** Outgoing payload type (negotiated with the viewer), 0–127. */
  payloadType: number;
  /** Added to the ingest sequence number, mod 2^16. */
  seqOffset: number;
  /** Added to the ingest RTP timestamp, mod 2^32. */
  tsOffset: number;
}

/**
 * Rewrites the RTP header at `buf[off..]` in place (RFC 3550 §5.1 fixed header; the
 * caller has checked it is at least 12 bytes): SSRC and payload type from `rw`, marker
 * bit kept, sequence number and timestamp shifted by the output's offsets. Returns the
 * outgoing sequence number.
 */
export function rewriteRtpHeader(buf: Uint8Array, off: number, rw: OutputRewrite): number {
  buf[off + 1] = (buf[off + 1] & 0x80) | (rw.payloadType & 0x7f);
  const seq = (((buf[off + 2] << 8) | buf[off + 3]) + rw.seqOffset) & 0xffff;
  buf[off + 2] = seq >>> 8;
  buf[off + 3] = seq & 0xff;
  const ts = ((((buf[off + 4] << 24) | (buf[off + 5] << 16) | (buf[off + 6] << 8) | buf[off + 7]) >>> 0) + rw.tsOffset) >>> 0;
  buf[off + 4] = ts >>> 24;
  buf[off + 5] = (ts >>> 16) & 0xff;
  buf[off + 6] = (ts >>> 8) & 0xff;
  buf[off + 7] = ts & 0xff;
  const ssrc = rw.ssrc >>> 0;
  buf[off + 8] = ssrc >>> 24;
  buf[off + 9] = (ssrc >>> 16) & 0xff;
  buf[off + 10] = (ssrc >>> 8) & 0xff;
  buf[off + 11] = ssrc & 0xff;
  return seq;
}

/**
 * Offsets that make the next forwarded packet (`inSeq`, `inTs`) follow the last one sent
 * (`lastSeq`, `lastTs`) directly: sequence number +1, timestamp + `tsStep` (≥ 1 tick).
 * Pure; unit-tested against wrap-around.
 */
export function continuityOffsets(lastSeq: number, lastTs: number, tsStep: number, inSeq: number, inTs: number): { seqOffset: number; tsOffset: number } {
  return {
    seqOffset: (lastSeq + 1 - inSeq) & 0xffff,
    tsOffset: (lastTs + Math.max(1, Math.round(tsStep)) - inTs) >>> 0,
  };
}

/** Per-output state of one kind (video or audio) for one viewer. */
export class RtpOutput {
  readonly rewrite: OutputRewrite;
  /** Forwarding (true), or gated: waiting for a keyframe (video) / not started. */
  live = false;
  /** The next forwarded packet gets fresh offsets (after a gate, a restart or a discontinuity). */
  rebasePending = true;
  /** Sequence number / timestamp of the last packet sent, or -1 before the first. */
  lastSeq = -1;
  lastTs = 0;
  /** When the last packet was sent, ms (performance-independent wall clock of the caller). */
  lastSentAt = 0;
  /** Packets sent. */
  packets = 0;
  private readonly ticksPerMs: number;

  /**
   * @param clockRate RTP clock rate, Hz.
   * @param initial Random starting sequence number and timestamp (RFC 3550 §5.1), for tests fixed.
   */
  constructor(
    clockRate: number,
    initial: { seq: number; ts: number } = { seq: (Math.random() * 0x10000) >>> 0, ts: (Math.random() * 0x100000000) >>> 0 },
  ) {
    this.ticksPerMs = clockRate / 1000;
    this.rewrite = { ssrc: 0, payloadType: 0, seqOffset: 0, tsOffset: 0 };
    // As if a packet (initial.seq - 1, initial.ts - 1) had been sent: the first real one continues from it.
    this.lastSeq = (initial.seq - 1) & 0xffff;
    this.lastTs = (initial.ts - 1) >>> 0;
  }

  /** Stops forwarding until {@link RtpOutput.resume} (video: until the next keyframe); offsets are re-based then. */
  gate(): void {
    this.live = false;
    this.rebasePending = true;
  }

  /** Re-bases at the next packet without stopping (audio after a restart). */
  rebase(): void {
    this.rebasePending = true;
  }

  /**
   * Goes live with the packet `inSeq`/`inTs` (arriving at `now` ms) as the next one out,
   * re-basing the offsets when pending: its timestamp follows the last one sent by the
   * wall-clock time between them, so players keep their timing.
   */
  resume(inSeq: number, inTs: number, now: number): void {
    if (this.rebasePending) {
      const step = this.packets === 0 ? 1 : (now - this.lastSentAt) * this.ticksPerMs;
      const o = continuityOffsets(this.lastSeq, this.lastTs, step, inSeq, inTs);
      this.rewrite.seqOffset = o.seqOffset;
      this.rewrite.tsOffset = o.tsOffset;
      this.rebasePending = false;
    }
    this.live = true;
  }

  /**
   * Like {@link RtpOutput.apply} for a packet the relay adds to the ingest (the cached
   * SPS/PPS before an IDR a viewer asked for) and gives the sequence number of the packet
   * it goes before, `src`'s: the copy takes that packet's outgoing sequence number and
   * timestamp, and every later packet's sequence number moves up by one, so the stream
   * stays contiguous and its timestamps unchanged.
   */
  insert(src: Uint8Array, off: number, len: number, now: number): Buffer {
    const out = this.apply(src, off, len, now);
    this.rewrite.seqOffset = (this.rewrite.seqOffset + 1) & 0xffff;
    return out;
  }

  /**
   * Copies `src[off..off+len)` and rewrites the copy for this output; the caller sends it.
   * Records what was sent (for the next re-base).
   */
  apply(src: Uint8Array, off: number, len: number, now: number): Buffer {
    const out = Buffer.allocUnsafe(len);
    out.set(src.subarray(off, off + len));
    this.lastSeq = rewriteRtpHeader(out, 0, this.rewrite);
    this.lastTs = out.readUInt32BE(4);
    this.lastSentAt = now;
    this.packets++;
    return out;
  }
}
