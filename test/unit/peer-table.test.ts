/**
 * The peer table: ids are stable per address and port, entries are written once, the
 * table grows (and says so), unpinned entries no queued datagram uses are evicted oldest
 * first and their ids reused, pinned ones and referenced ones never are.
 */
import { describe, expect, test } from 'vitest';
import { PeerTable } from '../../src/socket/peer-table.js';

/** A stand-in for the addon's encodePeer: writes the port and the last octet, rejects non-IPv4. */
function rig(maxCached?: number) {
  const encoded: string[] = [];
  let resizes = 0;
  const table = new PeerTable(
    (ip, port, t, offset) => {
      const m = /^127\.0\.(\d+)\.(\d+)$/.exec(ip);
      if (!m) throw Object.assign(new Error(`inet_pton EINVAL ${ip}`), { code: 'EINVAL' });
      new DataView(t.buffer, t.byteOffset).setUint16(offset + 2, port, false);
      t[offset + 4] = Number(m[1]);
      t[offset + 5] = Number(m[2]);
      encoded.push(`${ip}:${port}`);
    },
    () => resizes++,
    maxCached,
  );
  return { table, encoded, resizes: () => resizes };
}

const ip = (n: number): string => `127.0.${n >> 8}.${n & 255}`;

describe('PeerTable', () => {
  test('one id per address and port, encoded once, address/port readable back', () => {
    const { table, encoded } = rig();
    const a = table.lookup('127.0.0.1', 5000);
    const b = table.lookup('127.0.0.1', 5001);
    const c = table.lookup('127.0.0.2', 5000);
    expect(new Set([a, b, c]).size).toBe(3);
    expect(table.lookup('127.0.0.1', 5000)).toBe(a);
    expect(encoded).toEqual(['127.0.0.1:5000', '127.0.0.1:5001', '127.0.0.2:5000']);
    expect(table.size).toBe(3);
    expect([table.address(b), table.port(b)]).toEqual(['127.0.0.1', 5001]);
    const view = new DataView(table.table.buffer);
    expect(view.getUint16(c * 32 + 2, false)).toBe(5000);
    expect(table.table[c * 32 + 5]).toBe(2);
  });

  test('a failed encode registers nothing and its id is reused', () => {
    const { table } = rig();
    const a = table.lookup('127.0.0.1', 1);
    expect(() => table.lookup('not-an-ip', 1)).toThrow(/EINVAL/);
    expect(table.size).toBe(1);
    const b = table.lookup('127.0.0.3', 1);
    expect(b).toBe(a + 1);
  });

  test('growth keeps every entry and id, and calls onResize', () => {
    const { table, resizes } = rig(1 << 20);
    const ids = Array.from({ length: 200 }, (_, i) => table.lookup(ip(i), 9));
    expect(resizes()).toBeGreaterThanOrEqual(2); // 64 → 128 → 256
    expect(table.table.length).toBeGreaterThanOrEqual(200 * 32);
    expect(table.refs.length * 32).toBe(table.table.length);
    ids.forEach((id, i) => {
      expect(table.lookup(ip(i), 9)).toBe(id);
      expect(table.table[id * 32 + 5]).toBe(i & 255);
    });
  });

  test('over maxCached, unreferenced unpinned entries are evicted oldest first and their ids reused', () => {
    const { table } = rig(4);
    const ids = [0, 1, 2, 3].map((i) => table.lookup(ip(i), 1));
    table.refs[ids[0]] = 1; // a queued datagram still uses the oldest
    const fresh = table.lookup(ip(10), 1);
    // Budget maxCached/2 = 2: entries 1 and 2 go (0 is referenced), 3 stays.
    expect(table.size).toBe(3);
    expect(table.address(ids[1])).toBeUndefined();
    expect([ids[1], ids[2]]).toContain(fresh);
    expect(table.lookup(ip(0), 1)).toBe(ids[0]);
    expect(table.lookup(ip(3), 1)).toBe(ids[3]);
  });

  test('pinned entries are never evicted and do not count against maxCached; unpin makes them evictable', () => {
    const { table, encoded } = rig(2);
    const pinned = [0, 1, 2].map((i) => table.lookup(ip(i), 7, true));
    table.lookup(ip(20), 7);
    table.lookup(ip(21), 7);
    table.lookup(ip(22), 7); // evicts one unpinned (budget 1)
    for (const [i, id] of pinned.entries()) expect(table.lookup(ip(i), 7)).toBe(id);
    expect(encoded.filter((e) => e.startsWith(ip(0)))).toHaveLength(1);
    expect(table.size).toBe(5);

    table.unpin(pinned[0]);
    table.unpin(pinned[0]); // idempotent
    // Over the limit again: the oldest unpinned, unreferenced entry (the unpinned one) goes
    // and its id serves the new peer.
    const reused = table.lookup(ip(23), 7);
    expect(reused).toBe(pinned[0]);
    expect(table.address(reused)).toBe(ip(23));
    expect(table.address(pinned[1])).toBe(ip(1));
    expect(table.lookup(ip(0), 7)).not.toBe(pinned[0]);
  });

  test('pinning an existing unpinned entry keeps its id and takes it out of eviction', () => {
    const { table } = rig(1);
    const id = table.lookup(ip(1), 3);
    expect(table.lookup(ip(1), 3, true)).toBe(id);
    table.lookup(ip(2), 3);
    table.lookup(ip(3), 3);
    expect(table.address(id)).toBe(ip(1));
  });
});
