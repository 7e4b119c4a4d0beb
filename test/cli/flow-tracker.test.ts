import { describe, expect, it } from 'vitest';
import { FlowTracker } from '../../src/cli/flow-tracker.js';

function feed(t: FlowTracker, flow: number, seqs: number[]): void {
  for (const s of seqs) t.record(flow, s);
}

describe('FlowTracker', () => {
  it('in-order stream: nothing lost, reordered or duplicated', () => {
    const t = new FlowTracker();
    feed(t, 0, Array.from({ length: 10_000 }, (_, i) => i));
    expect(t.totals()).toEqual({ flows: 1, received: 10_000, unique: 10_000, duplicates: 0, reordered: 0, lost: 0, outOfRange: 0 });
  });

  it('gaps count as lost (expected = max seq + 1)', () => {
    const t = new FlowTracker();
    feed(t, 0, [0, 1, 3, 4, 8]); // missing 2, 5, 6, 7
    const f = t.perFlow()[0];
    expect(f.maxSeq).toBe(8);
    expect(f.lost).toBe(4);
    expect(t.totals().lost).toBe(4);
  });

  it('a late arrival is reordered and fills its gap', () => {
    const t = new FlowTracker();
    feed(t, 0, [0, 2, 1, 3]);
    expect(t.totals()).toMatchObject({ reordered: 1, lost: 0, duplicates: 0, unique: 4 });
  });

  it('duplicates are counted once each, never as reordered or as negative loss', () => {
    const t = new FlowTracker();
    feed(t, 0, [0, 1, 2, 2, 1, 0, 2]);
    expect(t.totals()).toMatchObject({ received: 7, unique: 3, duplicates: 4, reordered: 0, lost: 0 });
  });

  it('a duplicate of a reordered datagram is a duplicate, not a second reorder', () => {
    const t = new FlowTracker();
    feed(t, 0, [0, 5, 3, 3]);
    expect(t.totals()).toMatchObject({ reordered: 1, duplicates: 1, lost: 3 }); // 1, 2, 4 missing
  });

  it('flows are independent', () => {
    const t = new FlowTracker();
    for (let i = 0; i < 100; i++) {
      t.record(0, i);
      if (i !== 50) t.record(1, i); // flow 1 loses seq 50
    }
    t.record(2, 1); // flow 2 lost seq 0
    const per = t.perFlow();
    expect(per.map((f) => [f.flow, f.lost])).toEqual([
      [0, 0],
      [1, 1],
      [2, 1],
    ]);
    expect(t.totals()).toMatchObject({ flows: 3, lost: 2, reordered: 0 });
  });

  it('grows the bitmap for large sequence numbers', () => {
    const t = new FlowTracker();
    feed(t, 3, [0, 1_000_000, 999_999, 1_000_000]);
    expect(t.totals()).toMatchObject({ unique: 3, duplicates: 1, reordered: 1, lost: 1_000_001 - 3 });
  });

  it('refuses out-of-bounds seq and too many flows instead of growing without limit', () => {
    const t = new FlowTracker({ maxSeq: 1000, maxFlows: 2 });
    expect(t.record(0, 999)).toBe(true);
    expect(t.record(0, 1000)).toBe(false);
    expect(t.record(0, -1)).toBe(false);
    expect(t.record(1, 0)).toBe(true);
    expect(t.record(2, 0)).toBe(false);
    expect(t.totals()).toMatchObject({ flows: 2, outOfRange: 3, unique: 2 });
    // An absurd seq from a hostile datagram with the default bounds is refused too.
    const d = new FlowTracker();
    expect(d.record(0, 2 ** 52)).toBe(false);
    expect(d.totals().outOfRange).toBe(1);
  });
});
