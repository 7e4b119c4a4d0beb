/**
 * Per-flow accounting of received UBL1 sequence numbers: unique arrivals,
 * duplicates, reordering and (at the end) loss.
 *
 * Definitions (per flow):
 * - **duplicate**: a sequence number already seen (one growable bitmap per flow);
 * - **reordered**: not a duplicate, and lower than the highest sequence number seen so far;
 * - **lost**: computed at the end as `expected − unique`, where `expected = max seq + 1`.
 *   Datagrams lost after the last one received are invisible to a sink and are not
 *   counted; compare with the sender's count for those.
 *
 * Memory is bounded: sequence numbers at or above {@link FlowTrackerOptions.maxSeq}
 * and flows beyond {@link FlowTrackerOptions.maxFlows} are refused (counted as
 * `outOfRange`) instead of growing a bitmap without limit on hostile input.
 */

export interface FlowTrackerOptions {
  /** Highest sequence number tracked, exclusive (default 2^31: a 256 MiB bitmap at most per flow). */
  maxSeq?: number;
  /** Most distinct flows tracked (default 4096). */
  maxFlows?: number;
}

/** Counters of one flow. */
export interface FlowStats {
  flow: number;
  /** Arrivals, duplicates included. */
  received: number;
  /** Distinct sequence numbers received. */
  unique: number;
  duplicates: number;
  reordered: number;
  /** Highest sequence number seen, −1 when none. */
  maxSeq: number;
  /** `maxSeq + 1 − unique`. */
  lost: number;
}

/** Totals over all flows. */
export interface FlowTotals {
  flows: number;
  received: number;
  unique: number;
  duplicates: number;
  reordered: number;
  lost: number;
  /** Arrivals refused because their seq or flow exceeded the tracker's bounds. */
  outOfRange: number;
}

const INITIAL_BITMAP_BYTES = 1024;

class FlowState {
  bits: Uint8Array = new Uint8Array(INITIAL_BITMAP_BYTES);
  received = 0;
  unique = 0;
  duplicates = 0;
  reordered = 0;
  maxSeq = -1;

  constructor(readonly flow: number) {}

  record(seq: number): void {
    this.received++;
    const byte = seq >>> 3; // seq < 2^31 is guaranteed by the caller
    if (byte >= this.bits.length) this.grow(byte);
    const mask = 1 << (seq & 7);
    const bits = this.bits;
    if ((bits[byte] & mask) !== 0) {
      this.duplicates++;
      return;
    }
    bits[byte] |= mask;
    this.unique++;
    if (seq < this.maxSeq) this.reordered++;
    else this.maxSeq = seq;
  }

  private grow(byte: number): void {
    let size = this.bits.length;
    while (size <= byte) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.bits);
    this.bits = next;
  }

  stats(): FlowStats {
    return {
      flow: this.flow,
      received: this.received,
      unique: this.unique,
      duplicates: this.duplicates,
      reordered: this.reordered,
      maxSeq: this.maxSeq,
      lost: this.maxSeq + 1 - this.unique,
    };
  }
}

/** Tracks sequence numbers of any number of flows (bounded, see {@link FlowTrackerOptions}). */
export class FlowTracker {
  private readonly flows = new Map<number, FlowState>();
  private readonly maxSeq: number;
  private readonly maxFlows: number;
  private outOfRange = 0;
  // One-entry cache: most traffic comes from one flow at a time.
  private lastFlow = -1;
  private lastState: FlowState | undefined;

  constructor(options: FlowTrackerOptions = {}) {
    this.maxSeq = Math.min(options.maxSeq ?? 2 ** 31, 2 ** 31);
    this.maxFlows = options.maxFlows ?? 4096;
  }

  /**
   * Records one arrival. Returns false when it was refused (seq or flow out of the
   * tracker's bounds); such arrivals only count in `outOfRange`.
   *
   * @param flow flow id (u32)
   * @param seq sequence number (integer ≥ 0)
   */
  record(flow: number, seq: number): boolean {
    if (!(seq >= 0 && seq < this.maxSeq)) {
      this.outOfRange++;
      return false;
    }
    let state = flow === this.lastFlow ? this.lastState : this.flows.get(flow);
    if (state === undefined) {
      if (this.flows.size >= this.maxFlows) {
        this.outOfRange++;
        return false;
      }
      state = new FlowState(flow);
      this.flows.set(flow, state);
    }
    this.lastFlow = flow;
    this.lastState = state;
    state.record(seq);
    return true;
  }

  /** Per-flow counters, ordered by flow id. */
  perFlow(): FlowStats[] {
    return [...this.flows.values()].map((s) => s.stats()).sort((a, b) => a.flow - b.flow);
  }

  /** Totals over all flows. */
  totals(): FlowTotals {
    const t: FlowTotals = { flows: this.flows.size, received: 0, unique: 0, duplicates: 0, reordered: 0, lost: 0, outOfRange: this.outOfRange };
    for (const state of this.flows.values()) {
      const s = state.stats();
      t.received += s.received;
      t.unique += s.unique;
      t.duplicates += s.duplicates;
      t.reordered += s.reordered;
      t.lost += s.lost;
    }
    return t;
  }
}
