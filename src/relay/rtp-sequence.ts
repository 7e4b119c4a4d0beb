/**
 * RTP sequence-number validation exactly as RFC 3550 Appendix A.1 (`init_seq` /
 * `update_seq`): a new source is on probation until it has sent `MIN_SEQUENTIAL`
 * packets in sequence; within a source, a jump of `MAX_DROPOUT` or more ahead (or more
 * than `MAX_MISORDER` behind) is dropped unless the next packet follows it, in which case
 * the sender is taken to have restarted its sequence space (a resync).
 *
 * Pure state machine over 16-bit sequence numbers; no clock, no I/O, so native code can
 * mirror it.
 */

/** Packets in sequence a new source must send before it is valid (RFC 3550 A.1). */
export const MIN_SEQUENTIAL = 2;
/** Largest forward jump taken as loss, not as a restart, packets (RFC 3550 A.1). */
export const MAX_DROPOUT = 3000;
/** Largest backward step taken as reordering, packets (RFC 3550 A.1). */
export const MAX_MISORDER = 100;
const RTP_SEQ_MOD = 1 << 16;

/** Verdict on one packet. */
export enum SeqVerdict {
  /** In order (or a permissible gap ahead). */
  Valid = 0,
  /** Behind the highest sequence number by at most MAX_MISORDER: a duplicate or reordered packet. */
  Reordered = 1,
  /** Still on probation: not yet valid, drop. */
  Probation = 2,
  /** A wild jump: drop (a second packet following it makes a {@link SeqVerdict.Resync}). */
  Invalid = 3,
  /** Two packets in sequence after a wild jump: the sender restarted; counters re-initialised, packet valid. */
  Resync = 4,
}

/** Per-source sequence state (RFC 3550 A.1 `source` struct, minus the byte/loss fields). */
export class SequenceValidator {
  maxSeq = 0;
  /** Shifted count of sequence-number cycles (wraps), as in A.1. */
  cycles = 0;
  baseSeq = 0;
  /** Last 'bad' sequence number + 1 (RTP_SEQ_MOD + 1 = none). */
  badSeq = RTP_SEQ_MOD + 1;
  probation: number;
  /** Packets accepted as valid since the last (re)initialisation. */
  received = 0;

  /** Starts a source at `seq`, on probation (A.1: `s->probation = MIN_SEQUENTIAL` with `max_seq = seq - 1`). */
  constructor(seq: number, minSequential = MIN_SEQUENTIAL) {
    this.initSeq(seq);
    this.maxSeq = (seq - 1) & 0xffff;
    this.probation = minSequential;
  }

  private initSeq(seq: number): void {
    this.baseSeq = seq;
    this.maxSeq = seq;
    this.badSeq = RTP_SEQ_MOD + 1;
    this.cycles = 0;
    this.received = 0;
  }

  /** Extended highest sequence number received (cycles + max_seq). */
  get extendedMax(): number {
    return this.cycles + this.maxSeq;
  }

  /**
   * `n` packets each carrying the next sequence number, the last of them `lastSeq`, checked
   * elsewhere (the addon's steady-state ingest): the same as `n` update() calls returning
   * Valid (wraps counted in cycles).
   */
  advance(lastSeq: number, n: number): void {
    this.cycles += Math.floor((this.maxSeq + n) / RTP_SEQ_MOD) * RTP_SEQ_MOD;
    this.maxSeq = lastSeq & 0xffff;
    this.received += n;
  }

  /** RFC 3550 A.1 `update_seq` for one packet's sequence number. */
  update(seq: number): SeqVerdict {
    const udelta = (seq - this.maxSeq) & 0xffff;
    if (this.probation > 0) {
      if (seq === ((this.maxSeq + 1) & 0xffff)) {
        this.probation--;
        this.maxSeq = seq;
        if (this.probation === 0) {
          this.initSeq(seq);
          this.received++;
          return SeqVerdict.Valid;
        }
      } else {
        this.probation = MIN_SEQUENTIAL - 1;
        this.maxSeq = seq;
      }
      return SeqVerdict.Probation;
    }
    if (udelta < MAX_DROPOUT) {
      if (seq < this.maxSeq) this.cycles += RTP_SEQ_MOD;
      this.maxSeq = seq;
    } else if (udelta <= RTP_SEQ_MOD - MAX_MISORDER) {
      if (seq === this.badSeq) {
        this.initSeq(seq);
        this.received++;
        return SeqVerdict.Resync;
      }
      this.badSeq = (seq + 1) & 0xffff;
      return SeqVerdict.Invalid;
    } else {
      this.received++;
      return SeqVerdict.Reordered;
    }
    this.received++;
    return SeqVerdict.Valid;
  }
}
