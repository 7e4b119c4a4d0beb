/** The stats module: the zero value, and sums over sockets (the werift plug's totals). */
import { describe, expect, test } from 'vitest';
import { SUMMED_FIELDS, addStats, zeroStats, zeroTotals } from '../../src/socket/stats.js';

describe('stats', () => {
  test('zeroStats: every counter 0, nothing shared between two zero values', () => {
    const a = zeroStats('dgram');
    expect(a.backend).toBe('dgram');
    for (const k of SUMMED_FIELDS) expect(a[k], k).toBe(0);
    expect(a).toMatchObject({ failures: {}, drops: { queueFull: 0, closed: 0 }, holdUs: { p50: 0, p99: 0, max: 0, count: 0 }, gso: false, gro: false });
    a.drops.closed = 5;
    a.failures.EPERM = 1;
    expect(zeroStats('batch').drops.closed).toBe(0);
    expect(zeroTotals().failures).toEqual({});
  });

  test('addStats: counters, failures and drops add; hold times take the max; buffers and GSO/GRO only from open sockets', () => {
    const one = (n: number, open: Partial<ReturnType<typeof zeroTotals>> = {}) => {
      const s = zeroTotals();
      for (const k of SUMMED_FIELDS) s[k] = n;
      s.failures = { EMSGSIZE: n };
      s.drops = { queueFull: n, closed: 2 * n };
      s.holdUs = { p50: 10 * n, p99: 100 * n, max: 1000 * n, count: n };
      s.sendBufferSize = 1000 * n;
      s.recvBufferSize = 2000 * n;
      return Object.assign(s, open);
    };
    const t = zeroTotals();
    addStats(t, one(1, { gso: true }), true);
    addStats(t, one(3, { gro: true }), true);
    addStats(t, one(5, { gso: true, gro: true }), false); // a closed socket's final counters
    for (const k of SUMMED_FIELDS) expect(t[k], k).toBe(9);
    expect(t.failures).toEqual({ EMSGSIZE: 9 });
    expect(t.drops).toEqual({ queueFull: 9, closed: 18 });
    expect(t.holdUs).toEqual({ p50: 50, p99: 500, max: 5000, count: 9 });
    expect([t.sendBufferSize, t.recvBufferSize, t.gso, t.gro]).toEqual([4000, 8000, true, true]);
    const closedOnly = zeroTotals();
    addStats(closedOnly, one(5, { gso: true, gro: true }), false);
    expect([closedOnly.sendBufferSize, closedOnly.gso, closedOnly.gro]).toEqual([0, false, false]);
  });
});
