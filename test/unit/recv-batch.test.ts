/**
 * The receive ring view splits GRO-coalesced slots back into the original datagrams
 * (udp(7) UDP_GRO: pieces of segSizes[slot] bytes, the last one possibly shorter), with
 * the slot's sender, before any handler sees the batch. Slots are filled by hand here as
 * native code fills them.
 */
import { describe, expect, test } from 'vitest';
import { RecvRing, RingBatch } from '../../src/socket/recv-batch.js';

const AF_INET = 2;

function setSender(ring: RecvRing, slot: number, port: number, last: number): void {
  const off = slot * 32;
  ring.addrs.fill(0, off, off + 32);
  ring.addrView.setUint16(off, AF_INET, true);
  ring.addrView.setUint16(off + 2, port, false);
  ring.addrs.set([127, 0, 0, last], off + 4);
}

/** Fills slot `slot` with `sizes` consecutive datagrams (byte k of datagram j = (j*7 + k) & 255). */
function fill(ring: RecvRing, slot: number, sizes: number[], seg: number, first: number): void {
  let off = slot * ring.slotSize;
  sizes.forEach((len, j) => {
    for (let k = 0; k < len; k++) ring.arena[off + k] = ((first + j) * 7 + k) & 255;
    off += len;
  });
  ring.lengths[slot] = sizes.reduce((a, b) => a + b, 0);
  ring.segSizes[slot] = seg;
  ring.flags[slot] = 0;
}

const expectDatagram = (buf: Buffer, n: number, len: number): void => {
  expect(buf.length).toBe(len);
  for (let k = 0; k < len; k++) if (buf[k] !== ((n * 7 + k) & 255)) throw new Error(`datagram ${n} byte ${k} differs`);
};

describe('RingBatch.load', () => {
  test('plain slots are one datagram each; coalesced slots split by segment size, last one shorter', () => {
    const ring = new RecvRing(3, 65536);
    const batch = new RingBatch(ring);
    fill(ring, 0, [500], 0, 0); // plain
    fill(ring, 1, [1200, 1200, 1200, 700], 1200, 1); // coalesced, short last
    fill(ring, 2, [64, 64], 64, 5); // coalesced, equal
    setSender(ring, 0, 1000, 1);
    setSender(ring, 1, 2000, 2);
    setSender(ring, 2, 3000, 3);
    expect(batch.load(3)).toBe(7);
    expect(batch.count).toBe(7);
    const sizes = [500, 1200, 1200, 1200, 700, 64, 64];
    const ports = [1000, 2000, 2000, 2000, 2000, 3000, 3000];
    for (let i = 0; i < 7; i++) {
      expectDatagram(batch.datagram(i), i, sizes[i]);
      expect(batch.length(i)).toBe(sizes[i]);
      expect(Buffer.from(batch.bytes.subarray(batch.offset(i), batch.offset(i) + batch.length(i))).equals(batch.datagram(i))).toBe(true);
      expect(batch.remote(i)).toEqual({ address: `127.0.0.${ports[i] / 1000}`, family: 'IPv4', port: ports[i], size: sizes[i] });
      expect(batch.truncated(i)).toBe(false);
    }
    expect(() => batch.datagram(7)).toThrow(RangeError);
    // The copy for async iterators keeps the same entries.
    const copy = batch.copy();
    expect(copy.count).toBe(7);
    for (let i = 0; i < 7; i++) {
      expectDatagram(copy.datagram(i), i, sizes[i]);
      expect(copy.remote(i).port).toBe(ports[i]);
    }
  });

  test('a slot whose length is not above its segment size is one datagram; a truncated slot marks only its last piece', () => {
    const ring = new RecvRing(2, 65536);
    const batch = new RingBatch(ring);
    fill(ring, 0, [900], 1200, 0);
    fill(ring, 1, [100, 100, 100], 100, 1);
    ring.flags[1] = 1;
    setSender(ring, 0, 1, 1);
    setSender(ring, 1, 2, 1);
    expect(batch.load(2)).toBe(4);
    expect([0, 1, 2, 3].map((i) => [batch.length(i), batch.truncated(i)])).toEqual([
      [900, false],
      [100, false],
      [100, false],
      [100, true],
    ]);
  });

  test('entry arrays grow when slots hold more datagrams than there are slots (e.g. 2 slots of 128)', () => {
    const ring = new RecvRing(2, 65536);
    const batch = new RingBatch(ring);
    fill(ring, 0, new Array(128).fill(100), 100, 0);
    fill(ring, 1, [...new Array(200).fill(300), 17], 300, 128);
    setSender(ring, 0, 1, 1);
    setSender(ring, 1, 2, 1);
    expect(batch.load(2)).toBe(329);
    for (let i = 0; i < 329; i++) expectDatagram(batch.datagram(i), i, i < 128 ? 100 : i < 328 ? 300 : 17);
    // Reusing the grown arrays for a smaller batch.
    fill(ring, 0, [42], 0, 0);
    expect(batch.load(1)).toBe(1);
    expectDatagram(batch.datagram(0), 0, 42);
  });
});

describe('RingBatch.sameRemote', () => {
  test('compares senders without decoding (address, port; IPv6 scope, not the flow label); GRO pieces share their slot', () => {
    const ring = new RecvRing(5, 2048);
    const batch = new RingBatch(ring);
    setSender(ring, 0, 5000, 1);
    setSender(ring, 1, 5000, 1);
    ring.addrs.fill(0xee, 1 * 32 + 16, 2 * 32); // stale bytes past sockaddr_in: not part of the sender
    setSender(ring, 2, 5001, 1);
    setSender(ring, 3, 5000, 2);
    const v6 = (slot: number, scope: number, flow: number): void => {
      const off = slot * 32;
      ring.addrs.fill(0, off, off + 32);
      ring.addrView.setUint16(off, 10, true); // AF_INET6
      ring.addrView.setUint16(off + 2, 5000, false);
      ring.addrView.setUint32(off + 4, flow, false);
      ring.addrs.set([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], off + 8);
      ring.addrView.setUint32(off + 24, scope, true);
    };
    v6(4, 1, 7);
    for (let s = 0; s < 5; s++) fill(ring, s, s === 0 ? [100, 100] : [50], s === 0 ? 100 : 0, 0);
    batch.load(5);
    expect(batch.count).toBe(6);
    expect(batch.sameRemote(0, 1)).toBe(true); // two GRO pieces of slot 0
    expect(batch.sameRemote(1, 2)).toBe(true); // slot 0 vs slot 1: same sender, other stale bytes
    expect(batch.sameRemote(2, 3)).toBe(false); // port differs
    expect(batch.sameRemote(2, 4)).toBe(false); // address differs
    expect(batch.sameRemote(4, 5)).toBe(false); // family differs
    v6(3, 1, 9);
    expect(batch.sameRemote(4, 5)).toBe(true); // same IPv6 sender and scope; the flow label is not the sender
    v6(3, 2, 7);
    expect(batch.sameRemote(4, 5)).toBe(false); // another scope (interface)
    expect(() => batch.sameRemote(0, 6)).toThrow(RangeError);
    const copy = batch.copy();
    expect(copy.sameRemote(0, 2)).toBe(true);
    expect(copy.sameRemote(2, 3)).toBe(false);
  });
});
