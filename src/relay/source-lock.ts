/**
 * Source locking for one media kind of one stream (the H.264 payload type, or the Opus
 * one): the first sender that passes RFC 3550 A.1 probation — identified by its
 * address, port and SSRC — owns the kind; datagrams from anyone else are dropped with a
 * reason. The lock moves when
 *
 * - the owner has been silent for `sourceTimeoutMs` (default 2000 ms): any sender that
 *   then passes probation takes over (a source switch); or
 * - a new SSRC (or port) from the owner's address passes probation while the owner has been silent
 *   for `restartSilenceMs` (default 250 ms): an encoder restart (new process, new port,
 *   new SSRC, new sequence space) takes over at once, while a second sender on the
 *   owner's host cannot steal a stream the owner is still sending.
 *
 * Within the owner, sequence numbers are validated as RFC 3550 A.1 does (see
 * rtp-sequence.ts), and a timestamp that jumps by more than `maxTimestampJumpMs` against
 * the arrival clock, on a packet whose sequence number is not the next one, counts as a
 * discontinuity too (an encoder that restarted in place with a small sequence jump).
 * Every accepted packet that starts a new source or follows a discontinuity is reported
 * as such, so the stream re-bases its viewers.
 *
 * Pure policy: the caller passes the arrival time; no timers, no I/O.
 */
import { SeqVerdict, SequenceValidator } from './rtp-sequence.js';

export const DEFAULT_SOURCE_TIMEOUT_MS = 2000;
export const DEFAULT_RESTART_SILENCE_MS = 250;
export const DEFAULT_MAX_TIMESTAMP_JUMP_MS = 3000;

export interface SourceLockOptions {
  /** RTP clock rate of the kind, Hz (90000 for H.264, 48000 for Opus). */
  clockRate: number;
  /** Owner silence after which any sender may take over, ms (default 2000). */
  sourceTimeoutMs?: number;
  /** Owner silence after which a new SSRC from the owner's address takes over, ms (default 250). */
  restartSilenceMs?: number;
  /** Largest timestamp jump against the arrival clock that is not a discontinuity, ms (default 3000). */
  maxTimestampJumpMs?: number;
}

/** What to do with one datagram. */
export enum Admit {
  /** Forward it. */
  Accept = 0,
  /** Forward it; it starts a new source (first lock, restart, switch) or follows a discontinuity: re-base outputs first. */
  AcceptDiscontinuity = 1,
  /** Drop: from a sender that does not own the stream. */
  DropForeign = 2,
  /** Drop: a would-be source still on probation (RFC 3550 A.1). */
  DropProbation = 3,
  /** Drop: the owner's sequence number jumped wildly (RFC 3550 A.1 MAX_DROPOUT / MAX_MISORDER). */
  DropSequence = 4,
}

/** Why the last {@link Admit.AcceptDiscontinuity} happened. */
export type SourceChange = 'first' | 'restart' | 'switch' | 'sequence' | 'timestamp';

interface Source {
  address: string;
  port: number;
  ssrc: number;
  seq: SequenceValidator;
  /** Arrival of the last packet, ms. */
  lastArrival: number;
  /** Timestamp of the last accepted packet. */
  lastTs: number;
}

export class SourceLock {
  private owner: Source | undefined;
  private candidate: Source | undefined;
  private readonly timeoutMs: number;
  private readonly restartMs: number;
  private readonly maxJump: number;
  private readonly ticksPerMs: number;
  /** Why the last discontinuity happened. */
  lastChange: SourceChange = 'first';
  /** Times the owner changed (first lock included). */
  sourceChanges = 0;
  /** Discontinuities within an owner (A.1 resyncs and timestamp jumps). */
  discontinuities = 0;

  constructor(opts: SourceLockOptions) {
    this.timeoutMs = opts.sourceTimeoutMs ?? DEFAULT_SOURCE_TIMEOUT_MS;
    this.restartMs = opts.restartSilenceMs ?? DEFAULT_RESTART_SILENCE_MS;
    this.ticksPerMs = opts.clockRate / 1000;
    this.maxJump = (opts.maxTimestampJumpMs ?? DEFAULT_MAX_TIMESTAMP_JUMP_MS) * this.ticksPerMs;
  }

  /** The current owner, if any. */
  get source(): { address: string; port: number; ssrc: number } | undefined {
    const o = this.owner;
    return o && { address: o.address, port: o.port, ssrc: o.ssrc };
  }

  /**
   * Where the owner stands, for the addon's steady-state ingest (steady-ingest.ts): writes
   * its address, port, SSRC, the sequence number its next packet must carry and its last
   * timestamp into `out`; false (nothing written) without an owner.
   */
  steadyInto(out: { address: string; port: number; ssrc: number; nextSeq: number; lastTs: number }): boolean {
    const o = this.owner;
    if (!o) return false;
    out.address = o.address;
    out.port = o.port;
    out.ssrc = o.ssrc;
    out.nextSeq = (o.seq.maxSeq + 1) & 0xffff;
    out.lastTs = o.lastTs;
    return true;
  }

  /**
   * `n` packets of the owner accepted elsewhere (the addon's steady-state ingest), each with
   * the next sequence number, the last one `lastSeq` with timestamp `lastTs`, arriving at
   * `arrival` ms: as `n` admit() calls that returned Accept. No-op without an owner.
   */
  advanceOwner(lastSeq: number, lastTs: number, arrival: number, n: number): void {
    const o = this.owner;
    if (!o) return;
    o.seq.advance(lastSeq, n);
    o.lastTs = lastTs;
    o.lastArrival = arrival;
  }

  /** Decides on one datagram from `address`:`port` with the given RTP header fields, arriving at `now` ms. */
  admit(address: string, port: number, ssrc: number, seq: number, ts: number, now: number): Admit {
    const o = this.owner;
    if (o && o.ssrc === ssrc && o.port === port && o.address === address) {
      const contiguous = seq === ((o.seq.maxSeq + 1) & 0xffff);
      const v = o.seq.update(seq);
      if (v === SeqVerdict.Invalid) return Admit.DropSequence;
      const elapsed = now - o.lastArrival;
      o.lastArrival = now;
      const expected = o.lastTs + elapsed * this.ticksPerMs;
      const deviation = ((ts - expected) | 0) as number;
      o.lastTs = ts;
      if (v === SeqVerdict.Resync) {
        this.discontinuities++;
        this.lastChange = 'sequence';
        return Admit.AcceptDiscontinuity;
      }
      // Only where the sequence number did not simply advance by one: a stalled receiver or
      // a paused sender shows time jumps with contiguous sequence numbers, a restart does not.
      if (!contiguous && (deviation > this.maxJump || deviation < -this.maxJump)) {
        this.discontinuities++;
        this.lastChange = 'timestamp';
        return Admit.AcceptDiscontinuity;
      }
      return Admit.Accept;
    }
    // Not the owner: may it take over?
    const silence = o ? now - o.lastArrival : Infinity;
    const restart = o !== undefined && address === o.address && (ssrc !== o.ssrc || port !== o.port) && silence >= this.restartMs;
    if (o && silence < this.timeoutMs && !restart) {
      // Track it anyway (probation), so a restart is recognised the moment the owner goes quiet.
      this.track(address, port, ssrc, seq, ts, now);
      return Admit.DropForeign;
    }
    const c = this.track(address, port, ssrc, seq, ts, now);
    if (!c) return Admit.DropProbation;
    this.candidate = undefined;
    this.lastChange = !o ? 'first' : restart ? 'restart' : 'switch';
    this.owner = c;
    this.sourceChanges++;
    return Admit.AcceptDiscontinuity;
  }

  /** Runs probation for a would-be source; returns it once it is valid. */
  private track(address: string, port: number, ssrc: number, seq: number, ts: number, now: number): Source | undefined {
    let c = this.candidate;
    if (!c || c.ssrc !== ssrc || c.port !== port || c.address !== address) {
      c = { address, port, ssrc, seq: new SequenceValidator(seq), lastArrival: now, lastTs: ts };
      this.candidate = c;
    }
    c.lastArrival = now;
    c.lastTs = ts;
    const v = c.seq.update(seq);
    return v === SeqVerdict.Valid ? c : undefined;
  }
}
