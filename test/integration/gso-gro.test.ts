/**
 * UDP GSO on send and GRO on receive (issue 5), on loopback only.
 *
 * Every scenario is sent by a GSO sender and by a plain sender (gso: false) to receivers
 * with GRO off and on, and every receiver must see exactly the datagrams that were sent —
 * sizes, bytes, order, sender — once. Loopback hands a GSO message whole to a socket with
 * UDP_GRO (so the GRO split path really runs) and segments it for one without.
 * The fallback and error paths are forced with the native test hook
 * `debugInjectSendErrno` (no system call is made for an injected failure).
 */
import type { RemoteInfo } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { createBatchSocket, type BatchSocket, type BatchSocketOptions, type RecvBatch } from '../../src/index.js';
import { C, loadNative, type NativeUdpSocket } from '../../src/native/binding.js';
import { NativeBatchSocket } from '../../src/socket/native-socket.js';
import { batchAvailable, bindLocal, closeAll, expectIdentity, until } from './helpers.js';

const native = loadNative();
const ERRNO = native.ok ? native.binding.errno : ({} as Record<string, number>);

type Family = 'udp4' | 'udp6';
const LOOPBACK: Record<Family, string> = { udp4: '127.0.0.1', udp6: '::1' };

/** Datagram `seq` of `len` bytes: u32 seq and u16 destination index (as far as they fit), then a pattern of both. */
function datagram(seq: number, dest: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  for (let k = 0; k < len; k++) b[k] = (seq * 31 + dest * 7 + k) & 255;
  if (len >= 4) b.writeUInt32BE(seq, 0);
  if (len >= 6) b.writeUInt16BE(dest, 4);
  return b;
}

interface Got {
  data: Buffer;
  rinfo: RemoteInfo;
}

const open: BatchSocket[] = [];
afterEach(async () => {
  await closeAll(...open.splice(0));
});

function socket(opts: Partial<BatchSocketOptions> & { type?: Family }): BatchSocket {
  const s = createBatchSocket({ type: 'udp4', backend: 'batch', ...opts });
  open.push(s);
  return s;
}

/** A receiver that records every datagram ('message' events: one per datagram, copies). */
async function receiver(type: Family, gro: 'auto' | false, address = LOOPBACK[type]): Promise<{ sock: BatchSocket; port: number; got: Got[] }> {
  const sock = socket({ type, gro, recvBufferSize: 8 << 20 });
  const got: Got[] = [];
  sock.on('message', (data: Buffer, rinfo: RemoteInfo) => got.push({ data, rinfo }));
  const port = await bindLocal(sock, address);
  return { sock, port, got };
}

/** A sender that holds everything until flush() (no batch or window trigger in between). */
async function sender(type: Family, gso: 'auto' | false, extra: Partial<BatchSocketOptions> = {}, address = LOOPBACK[type]): Promise<{ sock: BatchSocket; port: number }> {
  const sock = socket({ type, gso, maxBatch: 1 << 20, windowUs: 1_000_000, sendBufferSize: 8 << 20, ...extra });
  const port = await bindLocal(sock, address);
  return { sock, port };
}

/** One planned datagram: destination index and size. */
type Plan = [dest: number, size: number][];

const run = (n: number, size: number, dest = 0): Plan => Array.from({ length: n }, () => [dest, size] as [number, number]);

interface Scenario {
  name: string;
  plan: Plan;
  dests: number;
  /** GSO messages and the datagrams in them, when the sender uses GSO (udp4). */
  gso: [messages: number, segments: number];
  /**
   * False when a message is too big for loopback to pass whole (with its IP, UDP and
   * link headers above lo's 64 KiB GSO limit, the kernel segments it in software before
   * delivery), so a GRO receiver sees plain datagrams for it.
   */
  groWhole?: boolean;
}

const SCENARIOS: Scenario[] = [
  { name: 'equal sizes', plan: run(40, 1200), dests: 1, gso: [1, 40] },
  { name: 'a short last segment', plan: [...run(10, 1000), [0, 333]], dests: 1, gso: [1, 11] },
  {
    name: 'mixed sizes',
    // runs: [100 100 100 50] [200 200] [7 7 7 7] 1200 [300 300] [301 5]
    plan: [100, 100, 100, 50, 200, 200, 7, 7, 7, 7, 1200, 300, 300, 301, 5].map((s) => [0, s] as [number, number]),
    dests: 1,
    gso: [5, 14],
  },
  { name: 'mixed destinations', plan: [...run(5, 500, 0), ...run(5, 500, 1), ...run(3, 500, 0), [1, 500]], dests: 2, gso: [3, 13] },
  { name: 'more than 64 equal datagrams in a row (segment limit)', plan: run(200, 500), dests: 1, gso: [4, 200] },
  { name: 'more than 65507 bytes in a row (byte limit: 54 × 1200)', plan: run(150, 1200), dests: 1, gso: [3, 150] },
  { name: 'exactly 65507 bytes in one message', plan: [...run(7, 9358), [0, 1], ...run(8, 9358)], dests: 1, gso: [2, 15], groWhole: false },
];

/** Sends `plan` through `tx` to the receivers and waits until each has what it should. */
async function deliver(tx: BatchSocket, plan: Plan, rx: { port: number; got: Got[] }[], type: Family): Promise<Buffer[][]> {
  const expected: Buffer[][] = rx.map(() => []);
  const errors: (Error | null)[] = [];
  const peers = rx.map((r) => tx.peer(r.port, LOOPBACK[type]));
  plan.forEach(([dest, size], seq) => {
    const d = datagram(seq, dest, size);
    expected[dest].push(d);
    expect(peers[dest].send(d, (err) => errors.push(err))).toBe(true);
  });
  tx.flush();
  await until(() => rx.every((r, i) => r.got.length >= expected[i].length), 5000);
  await new Promise((r) => setTimeout(r, 20)); // anything extra would show up by now
  expect(errors.filter((e) => e !== null)).toEqual([]);
  return expected;
}

function expectSame(got: Got[], expected: Buffer[], fromPort: number): void {
  expect(got.map((g) => g.data.length)).toEqual(expected.map((d) => d.length));
  got.forEach((g, i) => {
    if (!g.data.equals(expected[i])) throw new Error(`datagram ${i}: bytes differ`);
    expect(g.rinfo.port).toBe(fromPort);
    expect(g.rinfo.size).toBe(expected[i].length);
  });
}

describe.runIf(batchAvailable)('GSO and GRO on loopback (batch backend)', () => {
  it('are on by default where the kernel has them; options are validated; the dgram backend reports zeros', async () => {
    const s = socket({});
    const st = s.stats();
    expect(st.gso).toBe(true); // Linux >= 4.18
    expect(st.gro).toBe(true); // Linux >= 5.0, default recvSlotSize 65536
    expect(socket({ gso: false, gro: false }).stats()).toMatchObject({ gso: false, gro: false });
    // GRO needs slots that hold any coalesced buffer.
    expect(socket({ recvSlotSize: 2048 }).stats().gro).toBe(false);
    expect(() => createBatchSocket({ type: 'udp4', gso: true as unknown as 'auto' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => createBatchSocket({ type: 'udp4', gro: 'on' as unknown as 'auto' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => createBatchSocket({ type: 'udp4', order: 'peer' as unknown as 'global' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    const d = createBatchSocket({ type: 'udp4', backend: 'dgram' });
    open.push(d);
    expect(d.stats()).toMatchObject({ gso: false, gro: false, gsoMessages: 0, gsoSegments: 0, gsoFallbacks: 0, groBuffers: 0, groDatagrams: 0 });
  });

  describe.each(SCENARIOS)('boundaries survive: $name', (sc) => {
    it.each([
      ['GSO sender', 'GRO off', 'auto', false],
      ['GSO sender', 'GRO on', 'auto', 'auto'],
      ['plain sender', 'GRO on', false, 'auto'],
      ['plain sender', 'GRO off', false, false],
    ] as const)('%s → receiver with %s', async (_s, _r, gso, gro) => {
      const rx = await Promise.all(Array.from({ length: sc.dests }, () => receiver('udp4', gro)));
      const tx = await sender('udp4', gso);
      const expected = await deliver(tx.sock, sc.plan, rx, 'udp4');
      rx.forEach((r, i) => expectSame(r.got, expected[i], tx.port));
      const st = tx.sock.stats();
      expect(st.sent).toBe(sc.plan.length);
      expect(st.failed + st.dropped + st.queued).toBe(0);
      expectIdentity(tx.sock);
      if (gso) {
        expect([st.gsoMessages, st.gsoSegments]).toEqual(sc.gso);
        expect(st.gsoMessages).toBeLessThan(st.sent);
        expect(st.gsoFallbacks).toBe(0);
        expect(st.syscalls).toBe(1);
      } else {
        expect([st.gsoMessages, st.gsoSegments]).toEqual([0, 0]);
      }
      const received = rx.reduce((a, r) => a + r.sock.stats().received, 0);
      expect(received).toBe(sc.plan.length);
      const groBuffers = rx.reduce((a, r) => a + r.sock.stats().groBuffers, 0);
      const groDatagrams = rx.reduce((a, r) => a + r.sock.stats().groDatagrams, 0);
      // Loopback hands a GSO message whole to a GRO socket: one buffer per message.
      if (gso && gro && sc.groWhole !== false) expect([groBuffers, groDatagrams]).toEqual(sc.gso);
      else if (!(gso && gro)) expect([groBuffers, groDatagrams]).toEqual([0, 0]);
    });
  });

  it('udp6: the total limit is 65527 bytes to an IPv6 peer and 65507 to an IPv4-mapped one', async () => {
    // [::1]: 7 × 9361 = 65527 fits one message.
    const rx6 = await receiver('udp6', 'auto');
    const tx6 = await sender('udp6', 'auto');
    const e6 = await deliver(tx6.sock, run(8, 9361), [rx6], 'udp6');
    expectSame(rx6.got, e6[0], tx6.port);
    expect([tx6.sock.stats().gsoMessages, tx6.sock.stats().gsoSegments]).toEqual([1, 7]);
    // Dual-stack socket to 127.0.0.1 (::ffff:127.0.0.1): 6 × 9361 = 56166 fits, 7 would not.
    const rx4 = await receiver('udp4', false);
    const txd = await sender('udp6', 'auto', {}, '::');
    const peer = txd.sock.peer(rx4.port, '127.0.0.1');
    const sent = Array.from({ length: 7 }, (_, i) => datagram(i, 0, 9361));
    for (const d of sent) peer.send(d);
    txd.sock.flush();
    await until(() => rx4.got.length >= 7, 5000);
    expectSame(rx4.got, sent, txd.port);
    const c = (txd.sock as NativeBatchSocket).nativeCounters();
    expect([c[C.GSO_MESSAGES], c[C.GSO_SEGMENTS], c[C.GSO_RESENDS], c[C.SEND_ERRORS]]).toEqual([1, 6, 0, 0]);
  });

  it('more than UIO_MAXIOV (1024) datagrams in one flush: runs never straddle a sendmmsg chunk, all arrive in order', async () => {
    const rx = await receiver('udp4', false);
    const tx = await sender('udp4', 'auto');
    const expected = await deliver(tx.sock, run(3000, 64), [rx], 'udp4');
    expectSame(rx.got, expected[0], tx.port);
    const st = tx.sock.stats();
    // 1024 + 1024 + 952 datagrams per call; 64-segment messages: 16 + 16 + 15.
    expect(st.syscalls).toBe(3);
    expect([st.gsoMessages, st.gsoSegments]).toEqual([47, 3000]);
  });

  describe('fallback and errors (forced with debugInjectSendErrno)', () => {
    it.each(['EIO', 'EINVAL'])('%s on a GSO message: GSO off for the socket, the same datagrams resent plain, nothing lost or reordered', async (code) => {
      const rx = await receiver('udp4', false);
      const tx = await sender('udp4', 'auto');
      (tx.sock as NativeBatchSocket).debugInjectSendErrno(ERRNO[code], 1, true);
      const plan: Plan = [...run(100, 1000), [0, 10], ...run(30, 700)];
      const expected = await deliver(tx.sock, plan, [rx], 'udp4');
      expectSame(rx.got, expected[0], tx.port);
      const st = tx.sock.stats();
      expect(st).toMatchObject({ sent: plan.length, failed: 0, gsoFallbacks: 1, gso: false, gsoMessages: 0, gsoSegments: 0 });
      expect(st.syscalls).toBe(1); // the injected failure made no system call
      expectIdentity(tx.sock);
      // Stays off: the next flush is plain too.
      await deliver(tx.sock, run(10, 100), [rx], 'udp4');
      expect(tx.sock.stats()).toMatchObject({ gsoMessages: 0, gsoFallbacks: 1, sent: plan.length + 10 });
    });

    it('another errno on a GSO message of an unconnected socket: the run is resent plain; if it recurs it fails its own datagram only', async () => {
      const rx = await receiver('udp4', false);
      const tx = await sender('udp4', 'auto');
      const s = tx.sock as NativeBatchSocket;
      // Only the GSO form fails (e.g. a firewall rule matching the super-packet): all go.
      // (EMSGSIZE would also turn GSO off for that peer: see small-mtu-gso.test.ts.)
      s.debugInjectSendErrno(ERRNO.EPERM, 1, true);
      const first = await deliver(tx.sock, run(20, 800), [rx], 'udp4');
      expectSame(rx.got, first[0], tx.port);
      expect(s.nativeCounters()[C.GSO_RESENDS]).toBe(1);
      expect(s.stats()).toMatchObject({ sent: 20, failed: 0, gso: true, gsoMessages: 0, gsoFallbacks: 0 });
      // The error recurs on the plain resend: the first datagram of the run fails with it, the rest go (as GSO again).
      rx.got.length = 0;
      s.debugInjectSendErrno(ERRNO.EPERM, 2, false);
      const peer = tx.sock.peer(rx.port, '127.0.0.1');
      const results: (string | null)[] = [];
      const sent = Array.from({ length: 20 }, (_, i) => datagram(100 + i, 0, 800));
      sent.forEach((d, i) => peer.send(d, (err) => (results[i] = err ? (err as NodeJS.ErrnoException).code! : null)));
      tx.sock.flush();
      await until(() => rx.got.length >= 19 && results.length === 20, 5000);
      expect(results).toEqual(['EPERM', ...new Array(19).fill(null)]);
      expectSame(rx.got, sent.slice(1), tx.port);
      expect(s.stats()).toMatchObject({ sent: 39, failed: 1, failures: { EPERM: 1 }, gsoMessages: 1, gsoSegments: 19 });
      expect(s.nativeCounters()[C.GSO_RESENDS]).toBe(2);
      expectIdentity(tx.sock);
    });

    it('on a connected socket the errno is charged to the first datagram of the run (it may be a consumed ICMP error)', async () => {
      const rx = await receiver('udp4', false);
      const tx = await sender('udp4', 'auto');
      await new Promise<void>((resolve, reject) => tx.sock.connect(rx.port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
      const s = tx.sock as NativeBatchSocket;
      s.debugInjectSendErrno(ERRNO.ECONNREFUSED, 1, true);
      const results: (string | null)[] = [];
      const sent = Array.from({ length: 10 }, (_, i) => datagram(i, 0, 600));
      sent.forEach((d, i) => tx.sock.send(d, (err) => (results[i] = err ? (err as NodeJS.ErrnoException).code! : null)));
      tx.sock.flush();
      await until(() => rx.got.length >= 9 && results.length === 10, 5000);
      expect(results).toEqual(['ECONNREFUSED', ...new Array(9).fill(null)]);
      expectSame(rx.got, sent.slice(1), tx.port);
      expect(s.nativeCounters()[C.GSO_RESENDS]).toBe(0);
      expect(s.stats()).toMatchObject({ sent: 9, failed: 1, gsoMessages: 1, gsoSegments: 9 });
    });
  });

  it.runIf(native.ok)('native: a real ICMP error pending on a connected socket is charged to the first datagram of the next GSO run', async () => {
    // Raw binding, not receiving, so the pending error stays for the next send.
    if (!native.ok) return;
    const N = native.binding;
    const counters = new Float64Array(C.COUNT);
    const tx: NativeUdpSocket = new N.UdpSocket(4, counters, { onRecv: () => {}, onWritable: () => {}, onRecvError: () => {} });
    try {
      tx.bind('127.0.0.1', 0, 0);
      const closed = socket({});
      const port = await bindLocal(closed);
      closed.close(); // nothing listens there now
      open.splice(open.indexOf(closed), 1);
      tx.connect('127.0.0.1', port);
      expect(tx.setGso(true)).toBe(true);
      const cap = 32;
      const arena = new Uint8Array(cap * 500);
      const offsets = Uint32Array.from({ length: cap }, (_, i) => i * 500);
      const lengths = new Uint32Array(cap).fill(500);
      const peers = new Int32Array(cap).fill(-1);
      tx.setSendRing(arena, offsets, lengths, peers, new Uint8Array(32));
      expect(tx.send(0, 10)).toBe(10); // one GSO message; the port unreachable comes back at once on loopback
      expect(counters[C.GSO_MESSAGES]).toBe(1);
      await new Promise((r) => setTimeout(r, 20));
      expect(tx.send(10, 10)).toBe(0);
      expect(counters[C.LAST_ERRNO]).toBe(ERRNO.ECONNREFUSED);
      expect(counters[C.GSO_RESENDS]).toBe(0);
      // The rest of the run goes (and, being refused too, leaves another error pending).
      expect(tx.send(11, 9)).toBe(9);
      expect(counters[C.GSO_MESSAGES]).toBe(2);
      expect(counters[C.SEND_DATAGRAMS]).toBe(19);
    } finally {
      tx.close();
    }
  });

  it("order 'per-peer' turns a fan-out into one GSO run per viewer, each viewer in order; 'global' cannot", async () => {
    const viewers = 4;
    const packets = 20;
    for (const order of ['per-peer', 'global'] as const) {
      const rx = await Promise.all(Array.from({ length: viewers }, (_, i) => receiver('udp4', i % 2 === 0 ? 'auto' : false)));
      const tx = await sender('udp4', 'auto', { order });
      const plan: Plan = [];
      for (let p = 0; p < packets; p++) for (let v = 0; v < viewers; v++) plan.push([v, p === packets - 1 ? 400 : 1100]);
      const expected = await deliver(tx.sock, plan, rx, 'udp4');
      rx.forEach((r, i) => expectSame(r.got, expected[i], tx.port));
      const st = tx.sock.stats();
      expect(st.sent).toBe(viewers * packets);
      if (order === 'per-peer') expect([st.gsoMessages, st.gsoSegments]).toEqual([viewers, viewers * packets]);
      else expect([st.gsoMessages, st.gsoSegments]).toEqual([0, 0]);
      expectIdentity(tx.sock);
      await closeAll(...open.splice(0));
    }
  });

  it("GRO buffers reach 'batch' handlers and async iterators as one entry per datagram, with offsets into the ring", async () => {
    const rx = socket({ gro: 'auto', recvBufferSize: 8 << 20 });
    const port = await bindLocal(rx);
    const seen: { len: number; seq: number; port: number }[] = [];
    let maxCount = 0;
    rx.on('batch', (b: RecvBatch) => {
      maxCount = Math.max(maxCount, b.count);
      for (let i = 0; i < b.count; i++) {
        const view = b.bytes.subarray(b.offset(i), b.offset(i) + b.length(i));
        expect(Buffer.from(view).equals(b.datagram(i))).toBe(true);
        seen.push({ len: b.length(i), seq: b.datagram(i).readUInt32BE(0), port: b.remote(i).port });
      }
    });
    const iterated: number[] = [];
    const iterating = (async () => {
      for await (const b of rx) {
        for (let i = 0; i < b.count; i++) iterated.push(b.datagram(i).readUInt32BE(0));
        if (iterated.length >= 130) break;
      }
    })();
    const tx = await sender('udp4', 'auto');
    const peer = tx.sock.peer(port, '127.0.0.1');
    for (let i = 0; i < 130; i++) peer.send(datagram(i, 0, i === 129 ? 77 : 900));
    tx.sock.flush();
    await until(() => seen.length >= 130, 5000);
    await iterating;
    expect(seen.map((s) => s.seq)).toEqual(Array.from({ length: 130 }, (_, i) => i));
    expect(seen.every((s, i) => s.len === (i === 129 ? 77 : 900) && s.port === tx.port)).toBe(true);
    expect(iterated).toEqual(Array.from({ length: 130 }, (_, i) => i));
    expect(maxCount).toBeGreaterThan(64); // several coalesced buffers in one recvmmsg batch
    expect(rx.stats()).toMatchObject({ received: 130, groBuffers: 3, groDatagrams: 130 });
  });

  it.runIf(native.ok)('native: setGro needs a ring with segSizes and 65527-byte slots; the ring cannot lose them while GRO is on', () => {
    if (!native.ok) return;
    const s = new native.binding.UdpSocket(4, new Float64Array(C.COUNT), { onRecv: () => {}, onWritable: () => {}, onRecvError: () => {} });
    try {
      const ring = (slot: number, segs: boolean): Parameters<NativeUdpSocket['setRecvRing']> => [
        new Uint8Array(2 * slot), slot, new Uint32Array(2), new Uint8Array(64), new Uint8Array(2), 16, ...(segs ? [new Uint32Array(2)] : []),
      ] as unknown as Parameters<NativeUdpSocket['setRecvRing']>;
      s.setRecvRing(...ring(65536, false));
      expect(() => s.setGro(true)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
      s.setRecvRing(...ring(2048, true));
      expect(() => s.setGro(true)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
      s.setRecvRing(...ring(65527, true));
      expect(s.setGro(true)).toBe(true);
      expect(() => s.setRecvRing(...ring(65536, false))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
      expect(() => s.setRecvRing(...ring(4096, true))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
      expect(() => s.setRecvRing(new Uint8Array(2 * 65536), 65536, new Uint32Array(2), new Uint8Array(64), new Uint8Array(2), 16, new Uint32Array(1))).toThrow(RangeError);
      expect(s.setGro(false)).toBe(false);
      s.setRecvRing(...ring(2048, false));
      expect(() => s.setGso('yes' as unknown as boolean)).toThrow(TypeError);
    } finally {
      s.close();
    }
    expect(() => s.setGso(true)).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' }));
  });
});
