/**
 * src/relay/retransmit-guard.ts: a NACK's sequence numbers are resent at most once per
 * 100 ms each, and no faster than half the output's media rate once the 128-packet bucket
 * is spent; everything not resent is counted as throttled.
 */
import { describe, expect, it } from 'vitest';
import { MAX_TOKENS, RESEND_INTERVAL_MS, RetransmitGuard, TOKENS_PER_PACKET } from '../../src/relay/retransmit-guard.js';

const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => (from + i) & 0xffff);

describe('RetransmitGuard', () => {
  it('resends a number once, again only after the resend interval', () => {
    const g = new RetransmitGuard();
    expect(g.admit([10, 11], 1000, 0)).toEqual({ allowed: [10, 11], throttled: 0 });
    expect(g.admit([10, 11, 12], 1000 + RESEND_INTERVAL_MS - 1, 0)).toEqual({ allowed: [12], throttled: 2 });
    expect(g.admit([10], 1000 + RESEND_INTERVAL_MS, 0)).toEqual({ allowed: [10], throttled: 0 });
  });

  it('a burst of up to MAX_TOKENS is repaired at once; beyond it, resends are earned by media packets', () => {
    const g = new RetransmitGuard();
    const first = g.admit(range(0, 200), 0, 1000);
    expect(first.allowed).toEqual(range(0, MAX_TOKENS));
    expect(first.throttled).toBe(200 - MAX_TOKENS);
    // 100 more media packets earn 50 resends.
    const second = g.admit(range(MAX_TOKENS, 72), 500, 1100);
    expect(second.allowed).toEqual(range(MAX_TOKENS, 100 * TOKENS_PER_PACKET));
    expect(second.throttled).toBe(72 - 50);
    // No media since: nothing more, however long ago.
    expect(g.admit([5000], 10_000, 1100)).toEqual({ allowed: [], throttled: 1 });
  });

  it('the bucket holds at most MAX_TOKENS however long the output ran; the first count only sets the baseline', () => {
    const g = new RetransmitGuard();
    g.admit([], 0, 50); // baseline: no tokens for packets sent before the first NACK beyond the full bucket
    expect(g.admit(range(0, 300), 1, 1_000_000).allowed).toHaveLength(MAX_TOKENS);
  });

  it('a viewer NACKing the same lost packets every 20 ms gets each resent once per interval, not every time (the storm)', () => {
    const g = new RetransmitGuard();
    let resent = 0;
    let packets = 0;
    for (let t = 0; t < 1000; t += 20) {
      packets += 3; // ~141 packets/s of media
      resent += g.admit(range(40_000, 60), t, packets).allowed.length;
    }
    // 60 numbers × at most one resend per 100 ms over 1 s = 600 at most; the bucket holds it to
    // 128 + half of the 150 media packets.
    expect(resent).toBeLessThanOrEqual(MAX_TOKENS + 150 * TOKENS_PER_PACKET);
    expect(resent).toBeGreaterThanOrEqual(60);
  });
});
