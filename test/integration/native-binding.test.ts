/**
 * The native addon against its contract (src/native/binding.ts), with real sockets on
 * loopback only. Every wait is bounded; child processes get timeouts.
 *
 * Run against another build (e.g. the sanitizer one) with DGRAM_SENDMMSG_NATIVE_PATH.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { constants as osConstants, endianness, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BIND_IPV6ONLY,
  BIND_REUSEPORT,
  C,
  RCVBUF,
  SNDBUF,
  SOCKADDR_STRIDE,
  loadNative,
  type NativeBinding,
  type NativeUdpSocket,
} from '../../src/native/binding.js';
import { RecvRing } from '../../src/socket/recv-batch.js';

const loaded = loadNative();
const N = (loaded.ok ? loaded.binding : undefined) as NativeBinding;
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const addonPath = loaded.ok ? loaded.path : '';
const ERR = osConstants.errno as Record<string, number>;
const LE = endianness() === 'LE';
const AF_INET = 2;
const AF_INET6 = 10;

// ---------------------------------------------------------------- helpers

interface Datagram {
  data: Buffer;
  truncated: boolean;
  from: Peer;
}
interface Peer {
  family: number;
  /** dotted quad for AF_INET, 32 hex digits for AF_INET6 */
  address: string;
  port: number;
  scopeId: number;
}
interface Harness {
  sock: NativeUdpSocket;
  counters: Float64Array;
  /** one entry per onRecv call */
  batches: Array<{ count: number; wake: number }>;
  datagrams: Datagram[];
  recvErrors: number[];
  writable: number;
  /** runs inside onRecv after the batch was copied out */
  onRecv?: (count: number) => void;
  onWritable?: () => void;
  ring?: { arena: Uint8Array; slotSize: number; lengths: Uint32Array; addrs: Uint8Array; flags: Uint8Array };
  send?: { arena: Uint8Array; offsets: Uint32Array; lengths: Uint32Array; peers: Int32Array; table: Uint8Array; used: number };
}

const opened: Harness[] = [];
afterEach(() => {
  for (const h of opened.splice(0)) h.sock.close();
});

/** Decodes a raw sockaddr as the kernel wrote it (sa_family host order, port network order). */
function decodeSockaddr(bytes: Uint8Array): Peer {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const family = dv.getUint16(0, LE);
  const port = dv.getUint16(2, false);
  if (family === AF_INET) return { family, port, address: Array.from(bytes.subarray(4, 8)).join('.'), scopeId: 0 };
  if (family === AF_INET6) {
    return { family, port, address: Buffer.from(bytes.subarray(8, 24)).toString('hex'), scopeId: dv.getUint32(24, LE) };
  }
  return { family, port, address: '?', scopeId: 0 };
}

const V6_LOOPBACK_HEX = '00000000000000000000000000000001';
const V4_MAPPED_LOOPBACK_HEX = '00000000000000000000ffff7f000001';

function make(family: 4 | 6): Harness {
  const counters = new Float64Array(C.COUNT);
  const h = {} as Harness;
  Object.assign(h, { counters, batches: [], datagrams: [], recvErrors: [], writable: 0 });
  h.sock = new N.UdpSocket(family, counters, {
    onRecv(count: number) {
      const r = h.ring!;
      for (let i = 0; i < count; i++) {
        const start = i * r.slotSize;
        h.datagrams.push({
          data: Buffer.from(r.arena.subarray(start, start + r.lengths[i])),
          truncated: (r.flags[i] & 1) === 1,
          from: decodeSockaddr(r.addrs.subarray(i * SOCKADDR_STRIDE, (i + 1) * SOCKADDR_STRIDE)),
        });
      }
      h.batches.push({ count, wake: counters[C.RECV_WAKEUPS] });
      h.onRecv?.(count);
    },
    onWritable() {
      h.writable++;
      h.onWritable?.();
    },
    onRecvError(errno: number) {
      h.recvErrors.push(errno);
    },
  });
  opened.push(h);
  return h;
}

function bound(family: 4 | 6, ip = family === 4 ? '127.0.0.1' : '::1'): Harness {
  const h = make(family);
  h.sock.bind(ip, 0, 0);
  return h;
}

function port(h: Harness): number {
  return h.sock.localAddress()[1];
}

function recvRing(h: Harness, slots: number, slotSize: number, budget: number, start = true): void {
  h.ring = {
    arena: new Uint8Array(slots * slotSize),
    slotSize,
    lengths: new Uint32Array(slots),
    addrs: new Uint8Array(slots * SOCKADDR_STRIDE),
    flags: new Uint8Array(slots),
  };
  h.sock.setRecvRing(h.ring.arena, slotSize, h.ring.lengths, h.ring.addrs, h.ring.flags, budget);
  if (start) h.sock.startRecv();
}

function sendRing(h: Harness, capacity: number, arenaBytes: number, peers = 4): void {
  h.send = {
    arena: new Uint8Array(arenaBytes),
    offsets: new Uint32Array(capacity),
    lengths: new Uint32Array(capacity),
    peers: new Int32Array(capacity),
    table: new Uint8Array(peers * SOCKADDR_STRIDE),
    used: 0,
  };
  h.sock.setSendRing(h.send.arena, h.send.offsets, h.send.lengths, h.send.peers, h.send.table);
}

/** Puts `payloads` into ring slots start, start+1, … (mod capacity), bytes appended to the arena. */
function fill(h: Harness, start: number, payloads: Uint8Array[], peer: number): void {
  const s = h.send!;
  payloads.forEach((p, i) => {
    const slot = (start + i) % s.offsets.length;
    if (s.used + p.length > s.arena.length) s.used = 0;
    s.arena.set(p, s.used);
    s.offsets[slot] = s.used;
    s.lengths[slot] = p.length;
    s.peers[slot] = peer;
    s.used += p.length;
  });
}

/** `len` bytes: u32 BE sequence number, then a pattern derived from it. */
function payload(seq: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (seq * 31 + i * 7) & 0xff;
  if (len >= 4) b.writeUInt32BE(seq >>> 0, 0);
  return b;
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function thrown(fn: () => unknown): (Error & Record<string, unknown>) | undefined {
  try {
    fn();
  } catch (e) {
    return e as Error & Record<string, unknown>;
  }
  return undefined;
}

/** Port that nothing listens on (bound, then closed). */
function closedPort(family: 4 | 6): number {
  const h = bound(family);
  const p = port(h);
  h.sock.close();
  return p;
}

/** Runs an ESM script in a child node (optionally wrapped, e.g. by unshare); `ADDON` = addon path. */
function runChild(code: string, opts: { wrap?: (node: string, file: string) => string[]; timeoutMs?: number; load?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'dsn-native-'));
  const file = join(dir, 'child.mjs');
  const prelude = opts.load === false ? '' : `import { createRequire } from 'node:module';\nconst N = createRequire(import.meta.url)(process.env.ADDON);\n`;
  writeFileSync(file, prelude + code);
  const argv = opts.wrap ? opts.wrap(process.execPath, file) : [process.execPath, file];
  const res = spawnSync(argv[0], argv.slice(1), {
    env: { ...process.env, ADDON: addonPath },
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 15_000,
  });
  rmSync(dir, { recursive: true, force: true });
  return res;
}

// ---------------------------------------------------------------- tests

it.runIf(process.platform === 'linux')('the addon is built and loads on Linux', () => {
  expect(loaded.ok ? 'loaded' : loaded.reason).toBe('loaded');
});

describe.runIf(loaded.ok)('native binding (loopback)', () => {
  it('exports UIO_MAXIOV and errno values equal to the OS ones', () => {
    expect(N.UIO_MAXIOV).toBe(1024);
    const names = Object.keys(N.errno);
    for (const name of ['EAGAIN', 'EWOULDBLOCK', 'ENOBUFS', 'EINTR', 'EMSGSIZE', 'ECONNREFUSED', 'EDESTADDRREQ', 'EINVAL']) {
      expect(names).toContain(name);
    }
    // (os.constants.errno lacks a few Linux names, e.g. EHOSTDOWN; those are checked by value.)
    for (const name of names.filter((n) => n in ERR)) expect([name, N.errno[name]]).toEqual([name, ERR[name]]);
    expect(N.errno.EHOSTDOWN).toBe(112);
  });

  describe('constructor and arguments', () => {
    it('rejects a bad family, counters or callbacks', () => {
      const cb = { onRecv() {}, onWritable() {}, onRecvError() {} };
      const ctor = N.UdpSocket as unknown as new (...a: unknown[]) => NativeUdpSocket;
      expect(thrown(() => new ctor(5, new Float64Array(C.COUNT), cb))).toBeInstanceOf(RangeError);
      expect(thrown(() => new ctor('4', new Float64Array(C.COUNT), cb))).toBeInstanceOf(TypeError);
      expect(thrown(() => new ctor(4, new Float64Array(8), cb))).toBeInstanceOf(RangeError);
      expect(thrown(() => new ctor(4, new Float32Array(C.COUNT), cb))).toBeInstanceOf(TypeError);
      expect(thrown(() => new ctor(4, new Float64Array(C.COUNT), { onRecv() {}, onWritable() {} }))).toBeInstanceOf(TypeError);
      expect(thrown(() => new ctor(4, new Float64Array(C.COUNT), null))).toBeInstanceOf(TypeError);
    });
  });

  describe('bind, addresses, buffer sizes', () => {
    it('binds port 0 and reports the kernel-chosen port (udp4, udp6, IPv4-mapped on udp6)', () => {
      const a = make(4);
      expect(a.sock.localAddress()).toEqual(['0.0.0.0', 0]);
      a.sock.bind('127.0.0.1', 0, 0);
      const [ip4, p4] = a.sock.localAddress();
      expect(ip4).toBe('127.0.0.1');
      expect(p4).toBeGreaterThan(0);
      expect(Number.isInteger(a.sock.fd()) && a.sock.fd() > 2).toBe(true);

      const b = bound(6);
      expect(b.sock.localAddress()[0]).toBe('::1');
      expect(b.sock.localAddress()[1]).toBeGreaterThan(0);

      const c = bound(6, '127.0.0.1');
      expect(c.sock.localAddress()[0]).toBe('::ffff:127.0.0.1');
    });

    it('throws bind errors shaped like Node (code, negative errno, syscall, address, port, message)', () => {
      const a = bound(4);
      const p = port(a);
      const b = make(4);
      const e = thrown(() => b.sock.bind('127.0.0.1', p, 0));
      expect(e).toBeInstanceOf(Error);
      expect(e).toMatchObject({
        code: 'EADDRINUSE',
        errno: -ERR.EADDRINUSE,
        syscall: 'bind',
        address: '127.0.0.1',
        port: p,
        message: `bind EADDRINUSE 127.0.0.1:${p}`,
      });
      expect(thrown(() => make(4).sock.bind('127.0.0.1', 0, BIND_IPV6ONLY))).toMatchObject({ code: 'EINVAL', syscall: 'bind' });
      expect(thrown(() => make(4).sock.bind('localhost', 0, 0))).toMatchObject({ code: 'EINVAL', errno: -ERR.EINVAL });
      expect(thrown(() => make(4).sock.bind('127.0.0.1', 0, 8))).toBeInstanceOf(RangeError);
      expect(thrown(() => make(4).sock.bind('127.0.0.1', 65536, 0))).toBeInstanceOf(RangeError);
    });

    it('BIND_REUSEPORT lets two sockets share a port; BIND_IPV6ONLY refuses IPv4-mapped peers', () => {
      const a = make(4);
      a.sock.bind('127.0.0.1', 0, BIND_REUSEPORT);
      const b = make(4);
      b.sock.bind('127.0.0.1', port(a), BIND_REUSEPORT);
      expect(port(b)).toBe(port(a));

      const v6only = make(6);
      v6only.sock.bind('::1', 0, BIND_IPV6ONLY);
      sendRing(v6only, 2, 64);
      v6only.sock.encodePeer('127.0.0.1', port(a), v6only.send!.table, 0);
      fill(v6only, 0, [payload(0, 8)], 0);
      expect(v6only.sock.send(0, 1)).toBe(0);
      expect(v6only.counters[C.LAST_ERRNO]).toBe(ERR.ENETUNREACH);
    });

    it('sets SO_SNDBUF/SO_RCVBUF and returns the size the kernel really uses', () => {
      const a = make(4);
      const snd = a.sock.setBufferSize(SNDBUF, 1024);
      expect(snd).toBe(a.sock.getBufferSize(SNDBUF));
      expect(snd).toBeGreaterThanOrEqual(2048); // doubled, and the kernel minimum is higher still
      const rcv = a.sock.setBufferSize(RCVBUF, 65536);
      expect(rcv).toBe(a.sock.getBufferSize(RCVBUF));
      expect(rcv).toBe(131072); // doubled request, below every default cap
      expect(thrown(() => a.sock.setBufferSize(SNDBUF, 0))).toBeInstanceOf(RangeError);
      expect(thrown(() => a.sock.setBufferSize(2 as 0, 4096))).toBeInstanceOf(RangeError);
    });
  });

  describe('encodePeer', () => {
    it('writes sockaddr_in for udp4 at a 32-byte entry and leaves the rest alone', () => {
      const a = make(4);
      const table = new Uint8Array(96).fill(0xee);
      a.sock.encodePeer('192.0.2.33', 4660, table, 32);
      expect(decodeSockaddr(table.subarray(32, 64))).toEqual({ family: AF_INET, address: '192.0.2.33', port: 4660, scopeId: 0 });
      expect(Array.from(table.subarray(48, 64))).toEqual(new Array(16).fill(0)); // zero padded
      expect(Array.from(table.subarray(0, 32))).toEqual(new Array(32).fill(0xee));
      expect(Array.from(table.subarray(64, 96))).toEqual(new Array(32).fill(0xee));
    });

    it('writes sockaddr_in6 for udp6, maps IPv4 literals to ::ffff:a.b.c.d and resolves scope ids', () => {
      const a = make(6);
      const table = new Uint8Array(4 * SOCKADDR_STRIDE);
      a.sock.encodePeer('::1', 5004, table, 0);
      expect(decodeSockaddr(table.subarray(0, 32))).toEqual({ family: AF_INET6, address: V6_LOOPBACK_HEX, port: 5004, scopeId: 0 });
      a.sock.encodePeer('127.0.0.1', 5005, table, 32);
      expect(decodeSockaddr(table.subarray(32, 64))).toEqual({ family: AF_INET6, address: V4_MAPPED_LOOPBACK_HEX, port: 5005, scopeId: 0 });
      const loIndex = Number(readFileSync('/sys/class/net/lo/ifindex', 'utf8').trim());
      a.sock.encodePeer('fe80::1%lo', 1, table, 64);
      expect(decodeSockaddr(table.subarray(64, 96))).toMatchObject({ address: 'fe800000000000000000000000000001', scopeId: loIndex });
      a.sock.encodePeer('fe80::1%7', 1, table, 96);
      expect(decodeSockaddr(table.subarray(96, 128)).scopeId).toBe(7);
    });

    it('throws EINVAL for anything that is not an IP literal of the family', () => {
      const v4 = make(4).sock;
      const v6 = make(6).sock;
      const table = new Uint8Array(32);
      const bad: Array<[NativeUdpSocket, string]> = [
        [v4, ''],
        [v4, 'localhost'],
        [v4, '1.2.3'],
        [v4, '127.0.0.1 '],
        [v4, '127.0.0.1\0'],
        [v4, '::1'],
        [v4, '256.1.1.1'],
        [v6, '127.0.0.1%lo'],
        [v6, 'fe80::1%nosuchif0'],
        [v6, 'fe80::1%'],
        [v6, ':::1'],
        [v6, 'x'.repeat(500)],
      ];
      for (const [sock, ip] of bad) {
        const e = thrown(() => sock.encodePeer(ip, 1, table, 0));
        expect([ip, e?.code, e?.errno, e?.syscall]).toEqual([ip, 'EINVAL', -ERR.EINVAL, 'inet_pton']);
      }
      expect(Array.from(table)).toEqual(new Array(32).fill(0));
    });

    it('bounds-checks the table offset and argument types', () => {
      const a = make(4);
      const table = new Uint8Array(64);
      expect(thrown(() => a.sock.encodePeer('127.0.0.1', 1, table, 16))).toBeInstanceOf(RangeError);
      expect(thrown(() => a.sock.encodePeer('127.0.0.1', 1, table, 64))).toBeInstanceOf(RangeError);
      expect(thrown(() => a.sock.encodePeer('127.0.0.1', 1, table, -32))).toBeInstanceOf(RangeError);
      expect(thrown(() => a.sock.encodePeer('127.0.0.1', 1, new Uint16Array(32) as unknown as Uint8Array, 0))).toBeInstanceOf(TypeError);
      expect(thrown(() => a.sock.encodePeer(1 as unknown as string, 1, table, 0))).toBeInstanceOf(TypeError);
      expect(thrown(() => a.sock.encodePeer('127.0.0.1', 70000, table, 0))).toBeInstanceOf(RangeError);
    });
  });

  describe('send and receive', () => {
    it.each([4, 6] as const)('udp%i: a batch arrives intact, in order, with the sender address; counters agree', async (family) => {
      const rx = bound(family);
      recvRing(rx, 8, 2048, 64);
      const tx = bound(family);
      sendRing(tx, 64, 1 << 16);
      tx.sock.encodePeer(family === 4 ? '127.0.0.1' : '::1', port(rx), tx.send!.table, 0);

      const sizes = Array.from({ length: 40 }, (_, i) => (i === 5 ? 0 : ((i * 37) % 1500) + 4));
      const sent = sizes.map((len, i) => payload(i, len));
      fill(tx, 0, sent, 0);
      expect(tx.sock.send(0, 40)).toBe(40);
      const bytes = sizes.reduce((a, b) => a + b, 0);
      expect(tx.counters[C.SEND_SYSCALLS]).toBe(1);
      expect(tx.counters[C.SEND_DATAGRAMS]).toBe(40);
      expect(tx.counters[C.SEND_BYTES]).toBe(bytes);
      expect(tx.counters[C.SEND_PARTIAL]).toBe(0);
      expect(tx.counters[C.LAST_ERRNO]).toBe(0);

      // Wrap around the ring: slots 50..63 then 0..15.
      const more = Array.from({ length: 30 }, (_, i) => payload(100 + i, 64 + i));
      fill(tx, 50, more, 0);
      expect(tx.sock.send(50, 30)).toBe(30);

      await waitFor('70 datagrams', () => rx.datagrams.length >= 70);
      await sleep(20);
      expect(rx.datagrams.length).toBe(70);
      const expected = [...sent, ...more];
      rx.datagrams.forEach((d, i) => expect([i, d.data.equals(expected[i]), d.truncated]).toEqual([i, true, false]));
      const [txIp, txPort] = tx.sock.localAddress();
      for (const d of rx.datagrams) {
        expect(d.from).toEqual({
          family: family === 4 ? AF_INET : AF_INET6,
          address: family === 4 ? txIp : V6_LOOPBACK_HEX,
          port: txPort,
          scopeId: 0,
        });
      }
      const rc = rx.counters;
      expect(rc[C.RECV_DATAGRAMS]).toBe(70);
      expect(rc[C.RECV_BYTES]).toBe(bytes + more.reduce((a, b) => a + b.length, 0));
      expect(rc[C.RECV_BATCHES]).toBe(rx.batches.length);
      expect(rx.batches.every((b) => b.count >= 1 && b.count <= 8)).toBe(true);
      expect(rx.batches.length).toBeGreaterThanOrEqual(70 / 8);
      expect(rc[C.RECV_SYSCALLS]).toBeGreaterThanOrEqual(rc[C.RECV_BATCHES]);
      expect(rc[C.RECV_WAKEUPS]).toBeGreaterThanOrEqual(1);
      expect(rc[C.RECV_TRUNCATED]).toBe(0);
      expect(rc[C.RECV_ERRORS]).toBe(0);
      expect(tx.counters[C.SEND_DATAGRAMS]).toBe(70);
      expect(tx.counters[C.SEND_SYSCALLS]).toBe(2);
    });

    it('a dual-stack udp6 socket exchanges datagrams with udp4 through IPv4-mapped addresses', async () => {
      const rx4 = bound(4);
      recvRing(rx4, 4, 256, 16);
      const rx6 = bound(6, '127.0.0.1');
      recvRing(rx6, 4, 256, 16);
      const tx6 = bound(6, '127.0.0.1');
      sendRing(tx6, 4, 1024);
      tx6.sock.encodePeer('127.0.0.1', port(rx4), tx6.send!.table, 0); // IPv4 literal on udp6
      const tx4 = bound(4);
      sendRing(tx4, 4, 1024);
      tx4.sock.encodePeer('127.0.0.1', port(rx6), tx4.send!.table, 0);

      fill(tx6, 0, [payload(1, 10)], 0);
      fill(tx4, 0, [payload(2, 10)], 0);
      expect(tx6.sock.send(0, 1)).toBe(1);
      expect(tx4.sock.send(0, 1)).toBe(1);
      await waitFor('both datagrams', () => rx4.datagrams.length === 1 && rx6.datagrams.length === 1);
      expect(rx4.datagrams[0].from).toEqual({ family: AF_INET, address: '127.0.0.1', port: port(tx6), scopeId: 0 });
      expect(rx6.datagrams[0].from).toEqual({ family: AF_INET6, address: V4_MAPPED_LOOPBACK_HEX, port: port(tx4), scopeId: 0 });
      expect(tx6.sock.localAddress()[0]).toBe('::ffff:127.0.0.1');
    });

    it('a burst of 3000 (> UIO_MAXIOV) in one send() goes in chunks of <= 1024 and arrives exactly once, in order', async (ctx) => {
      const total = 3000;
      const rx = bound(4);
      const rcvbuf = rx.sock.setBufferSize(RCVBUF, 8 << 20);
      expect(rcvbuf).toBe(rx.sock.getBufferSize(RCVBUF));
      // 3000 small datagrams need about 3000 * 1.3 KiB of receive buffer (skb truesize).
      if (rcvbuf < total * 2048) ctx.skip(`SO_RCVBUF capped at ${rcvbuf} (net.core.rmem_max; no CAP_NET_ADMIN)`);
      const budget = 512;
      recvRing(rx, 256, 128, budget);
      const perWake = new Map<number, number>();
      rx.onRecv = (count) => {
        const wake = rx.counters[C.RECV_WAKEUPS];
        perWake.set(wake, (perWake.get(wake) ?? 0) + count);
      };
      const tx = bound(4);
      tx.sock.setBufferSize(SNDBUF, 8 << 20);
      sendRing(tx, 4096, total * 64);
      tx.sock.encodePeer('127.0.0.1', port(rx), tx.send!.table, 0);
      fill(tx, 0, Array.from({ length: total }, (_, i) => payload(i, 64)), 0);

      expect(tx.sock.send(0, total)).toBe(total);
      expect(tx.counters[C.SEND_SYSCALLS]).toBe(3); // 1024 + 1024 + 952
      expect(tx.counters[C.SEND_DATAGRAMS]).toBe(total);
      expect(tx.counters[C.SEND_BYTES]).toBe(total * 64);
      expect(tx.counters[C.SEND_PARTIAL]).toBe(0);
      expect(tx.counters[C.LAST_ERRNO]).toBe(0);

      await waitFor(`${total} datagrams`, () => rx.datagrams.length >= total, 10_000);
      await sleep(20);
      const seqs = rx.datagrams.map((d) => d.data.readUInt32BE(0));
      expect(seqs.length).toBe(total);
      expect(seqs).toEqual(Array.from({ length: total }, (_, i) => i));
      expect(rx.counters[C.RECV_DATAGRAMS]).toBe(total);
      expect(Math.max(...perWake.values())).toBeLessThanOrEqual(budget);
      expect(rx.counters[C.RECV_BUDGET_EXHAUSTED]).toBeGreaterThanOrEqual(1);
      expect(rx.batches.every((b) => b.count <= 256)).toBe(true);
    });

    it('marks datagrams longer than a slot as truncated and counts the bytes copied', async () => {
      const rx = bound(4);
      recvRing(rx, 4, 16, 16);
      const tx = bound(4);
      sendRing(tx, 4, 1024);
      tx.sock.encodePeer('127.0.0.1', port(rx), tx.send!.table, 0);
      fill(tx, 0, [payload(1, 100), payload(2, 10)], 0);
      expect(tx.sock.send(0, 2)).toBe(2);
      await waitFor('2 datagrams', () => rx.datagrams.length === 2);
      expect(rx.datagrams.map((d) => [d.data.length, d.truncated])).toEqual([
        [16, true],
        [10, false],
      ]);
      expect(rx.datagrams[0].data.equals(payload(1, 100).subarray(0, 16))).toBe(true);
      expect(rx.counters[C.RECV_TRUNCATED]).toBe(1);
      expect(rx.counters[C.RECV_BYTES]).toBe(26);
    });

    it('a connected socket sends with peer id -1; after disconnect that fails with EDESTADDRREQ', async () => {
      const rx = bound(4);
      recvRing(rx, 4, 256, 16);
      const tx = bound(4);
      tx.sock.connect('127.0.0.1', port(rx));
      expect(tx.sock.remoteAddress()).toEqual(['127.0.0.1', port(rx)]);
      sendRing(tx, 4, 1024);
      fill(tx, 0, [payload(1, 20), payload(2, 30)], -1);
      expect(tx.sock.send(0, 2)).toBe(2);
      await waitFor('2 datagrams', () => rx.datagrams.length === 2);
      expect(rx.datagrams.map((d) => d.data.readUInt32BE(0))).toEqual([1, 2]);
      expect(rx.datagrams[0].from.port).toBe(port(tx));

      tx.sock.disconnect();
      expect(thrown(() => tx.sock.remoteAddress())).toMatchObject({ code: 'ENOTCONN', errno: -ERR.ENOTCONN, syscall: 'getpeername' });
      // Linux (__udp_disconnect): a port the kernel chose (bind to port 0) is given up on
      // disconnect; the bound address stays.
      expect(tx.sock.localAddress()).toEqual(['127.0.0.1', 0]);
      fill(tx, 2, [payload(3, 20)], -1);
      expect(tx.sock.send(2, 1)).toBe(0);
      expect(tx.counters[C.LAST_ERRNO]).toBe(ERR.EDESTADDRREQ);
      expect(tx.counters[C.SEND_ERRORS]).toBe(1);

      // An explicitly chosen port survives disconnect.
      const fixed = make(4);
      const p = closedPort(4);
      fixed.sock.bind('127.0.0.1', p, 0);
      fixed.sock.connect('127.0.0.1', port(rx));
      fixed.sock.disconnect();
      expect(fixed.sock.localAddress()).toEqual(['127.0.0.1', p]);
    });

    it('EMSGSIZE: a 65508-byte udp4 datagram fails alone; at slot 0 send() returns 0, later it ends a partial send', async () => {
      const rx = bound(4);
      recvRing(rx, 4, 65536, 16);
      const tx = bound(4);
      sendRing(tx, 8, 4 * 65536);
      tx.sock.encodePeer('127.0.0.1', port(rx), tx.send!.table, 0);

      fill(tx, 0, [payload(1, 65508), payload(2, 10), payload(3, 10)], 0);
      expect(tx.sock.send(0, 3)).toBe(0);
      expect(tx.counters[C.LAST_ERRNO]).toBe(ERR.EMSGSIZE);
      expect(tx.counters[C.SEND_ERRORS]).toBe(1);
      expect(tx.counters[C.SEND_SYSCALLS]).toBe(1);

      // [ok, too big, ok]: first call takes 1 (partial), second meets EMSGSIZE.
      fill(tx, 3, [payload(4, 10), payload(5, 65508), payload(6, 10)], 0);
      expect(tx.sock.send(3, 3)).toBe(1);
      expect(tx.counters[C.LAST_ERRNO]).toBe(ERR.EMSGSIZE);
      expect(tx.counters[C.SEND_PARTIAL]).toBe(1);
      expect(tx.counters[C.SEND_SYSCALLS]).toBe(3);
      expect(tx.counters[C.SEND_ERRORS]).toBe(2);

      // The largest IPv4 UDP payload (65535 - 20 - 8) goes.
      fill(tx, 0, [payload(7, 65507)], 0);
      expect(tx.sock.send(0, 1)).toBe(1);
      expect(tx.counters[C.LAST_ERRNO]).toBe(0);
      await waitFor('2 datagrams', () => rx.datagrams.length === 2);
      expect(rx.datagrams.map((d) => [d.data.readUInt32BE(0), d.data.length])).toEqual([
        [4, 10],
        [7, 65507],
      ]);
    });
  });

  describe('ECONNREFUSED on a connected socket', () => {
    it.each([4, 6] as const)('udp%i, not receiving: the next send() returns 0 with LAST_ERRNO = ECONNREFUSED, once', async (family) => {
      const tx = bound(family);
      tx.sock.connect(family === 4 ? '127.0.0.1' : '::1', closedPort(family));
      sendRing(tx, 4, 1024);
      fill(tx, 0, [payload(1, 10), payload(2, 10), payload(3, 10)], -1);
      expect(tx.sock.send(0, 1)).toBe(1); // taken; the ICMP port unreachable comes back
      await sleep(20);
      expect(tx.sock.send(1, 1)).toBe(0); // the pending error is charged to this datagram
      expect(tx.counters[C.LAST_ERRNO]).toBe(ERR.ECONNREFUSED);
      expect(tx.counters[C.SEND_ERRORS]).toBe(1);
      expect(tx.sock.send(1, 1)).toBe(1); // reading the error cleared it
      expect(tx.counters[C.LAST_ERRNO]).toBe(0);
      expect(tx.counters[C.SEND_DATAGRAMS]).toBe(2);
    });

    it.each([4, 6] as const)('udp%i, receiving: onRecvError(ECONNREFUSED) per refused datagram; sends are not charged', async (family) => {
      const tx = bound(family);
      tx.sock.connect(family === 4 ? '127.0.0.1' : '::1', closedPort(family));
      recvRing(tx, 4, 256, 16);
      sendRing(tx, 4, 1024);
      fill(tx, 0, [payload(1, 10), payload(2, 10)], -1);
      expect(tx.sock.send(0, 1)).toBe(1);
      await waitFor('first onRecvError', () => tx.recvErrors.length === 1);
      expect(tx.recvErrors).toEqual([ERR.ECONNREFUSED]);
      expect(tx.counters[C.RECV_ERRORS]).toBe(1);
      expect(tx.counters[C.RECV_DATAGRAMS]).toBe(0);
      // The watcher was restarted after the error wake-up: a second refusal is seen too.
      expect(tx.sock.send(1, 1)).toBe(1);
      expect(tx.counters[C.LAST_ERRNO]).toBe(0);
      await waitFor('second onRecvError', () => tx.recvErrors.length === 2);
      expect(tx.recvErrors).toEqual([ERR.ECONNREFUSED, ERR.ECONNREFUSED]);
      expect(tx.batches.length).toBe(0);
    });
  });

  describe('writable readiness', () => {
    it('awaitWritable(true) fires onWritable once (one-shot); false cancels', async () => {
      const a = bound(4);
      a.sock.awaitWritable(true);
      await waitFor('onWritable', () => a.writable === 1);
      await sleep(30);
      expect(a.writable).toBe(1);
      expect(a.counters[C.WRITABLE_WAITS]).toBe(1);

      a.onWritable = () => {
        if (a.writable < 3) a.sock.awaitWritable(true); // re-arm from inside the callback
      };
      a.sock.awaitWritable(true);
      await waitFor('3 onWritable', () => a.writable === 3);
      await sleep(30);
      expect(a.writable).toBe(3);
      expect(a.counters[C.WRITABLE_WAITS]).toBe(3);

      a.sock.awaitWritable(true);
      a.sock.awaitWritable(false);
      await sleep(30);
      expect(a.writable).toBe(3);
    });

    const canNetns = process.getuid?.() === 0 && spawnSync('unshare', ['-n', 'tc', 'qdisc', 'show'], { timeout: 5000 }).status === 0;
    it.runIf(canNetns)('tiny SO_SNDBUF behind a rate-limited qdisc: EAGAIN, then onWritable, nothing lost (private netns)', () => {
      // On plain loopback a UDP sender never sees EAGAIN: loopback_xmit() orphans the skb,
      // returning its memory to the sender's SO_SNDBUF before sendmsg() returns. A tbf qdisc
      // on the lo of a private network namespace holds the skbs, so the buffer does fill.
      const code = `
        const C = ${JSON.stringify(C)};
        const TOTAL = 200, SIZE = 1000;
        const mk = (h) => { const counters = new Float64Array(C.COUNT); h.counters = counters;
          h.sock = new N.UdpSocket(4, counters, { onRecv: (n) => h.onRecv(n), onWritable: () => h.onWritable(), onRecvError: (e) => h.errors.push(e) });
          h.errors = []; h.sock.bind('127.0.0.1', 0, 0); return h; };
        const rx = mk({});
        rx.sock.setBufferSize(1, 4 << 20);
        const slots = 64, arena = new Uint8Array(slots * 2048), lengths = new Uint32Array(slots);
        rx.sock.setRecvRing(arena, 2048, lengths, new Uint8Array(slots * 32), new Uint8Array(slots), 256);
        const seqs = [];
        rx.onRecv = (n) => { for (let i = 0; i < n; i++) seqs.push(Buffer.from(arena.buffer, i * 2048, 4).readUInt32BE(0)); };
        rx.sock.startRecv();
        const tx = mk({});
        const sndbuf = tx.sock.setBufferSize(0, 1024);
        const cap = 256, tarena = new Uint8Array(cap * SIZE), offsets = new Uint32Array(cap), lens = new Uint32Array(cap), peers = new Int32Array(cap), table = new Uint8Array(32);
        tx.sock.encodePeer('127.0.0.1', rx.sock.localAddress()[1], table, 0);
        for (let i = 0; i < TOTAL; i++) { offsets[i] = i * SIZE; lens[i] = SIZE; tarena.fill(i & 0xff, i * SIZE, (i + 1) * SIZE); Buffer.from(tarena.buffer).writeUInt32BE(i, i * SIZE); }
        tx.sock.setSendRing(tarena, offsets, lens, peers, table);
        const results = [];
        let next = 0, writable = 0;
        const pump = () => {
          const k = tx.sock.send(next, TOTAL - next);
          results.push([k, tx.counters[C.LAST_ERRNO]]);
          next += k;
          if (next < TOTAL) tx.sock.awaitWritable(true);
        };
        tx.onWritable = () => { writable++; pump(); };
        pump();
        const deadline = Date.now() + 10000;
        const check = () => {
          if (seqs.length >= TOTAL || Date.now() > deadline) {
            console.log(JSON.stringify({ sndbuf, results, writable, seqs, c: Array.from(tx.counters) }));
            rx.sock.close(); tx.sock.close();
          } else setTimeout(check, 10);
        };
        check();
      `;
      const res = runChild(code, {
        wrap: (node, file) => ['unshare', '-n', 'sh', '-c', 'ip link set lo up && tc qdisc add dev lo root tbf rate 4mbit burst 8kb latency 2s && exec "$0" "$1"', node, file],
        timeoutMs: 20_000,
      });
      expect(res.stderr).toBe('');
      expect(res.status).toBe(0);
      const out = JSON.parse(res.stdout) as { sndbuf: number; results: number[][]; writable: number; seqs: number[]; c: number[] };
      expect(out.sndbuf).toBeGreaterThanOrEqual(1024);
      const [k, errno] = out.results[0];
      expect(k).toBeGreaterThan(0);
      expect(k).toBeLessThan(200);
      expect(errno).toBe(ERR.EAGAIN);
      expect(out.writable).toBeGreaterThanOrEqual(1);
      expect(out.c[C.WRITABLE_WAITS]).toBe(out.writable);
      expect(out.c[C.SEND_EAGAIN]).toBe(out.results.filter(([, e]) => e === ERR.EAGAIN).length);
      expect(out.results.every(([, e]) => e === 0 || e === ERR.EAGAIN)).toBe(true);
      expect(out.results.reduce((a, [n]) => a + n, 0)).toBe(200);
      expect(out.c[C.SEND_DATAGRAMS]).toBe(200);
      expect(out.seqs).toEqual(Array.from({ length: 200 }, (_, i) => i));
    });
  });

  describe('bounds and misuse never crash', () => {
    it('send() validates the ring and every slot before sending anything', () => {
      const a = bound(4);
      expect(thrown(() => a.sock.send(0, 1))).toMatchObject({ code: 'ERR_INVALID_STATE' });
      sendRing(a, 4, 64, 2);
      a.sock.encodePeer('127.0.0.1', 9, a.send!.table, 0);
      const s = a.send!;
      const reset = () => {
        s.offsets.fill(0);
        s.lengths.fill(8);
        s.peers.fill(0);
      };
      const cases: Array<[string, () => void, number, number]> = [
        ['start >= capacity', () => {}, 4, 1],
        ['count > capacity', () => {}, 0, 5],
        ['offset + length > arena', () => (s.offsets[2] = 60), 1, 2],
        ['length > arena', () => (s.lengths[0] = 65), 0, 1],
        ['huge offset', () => (s.offsets[3] = 0xffffffff), 3, 1],
        ['peer id past the table', () => (s.peers[1] = 2), 0, 2],
        ['negative peer id other than -1', () => (s.peers[0] = -2), 0, 1],
        ['entry without a family', () => (s.peers[0] = 1), 0, 1],
        ['slot reached by wrap-around', () => (s.offsets[0] = 64), 3, 2],
      ];
      for (const [name, setup, start, count] of cases) {
        reset();
        setup();
        expect([name, thrown(() => a.sock.send(start, count))?.constructor]).toEqual([name, RangeError]);
      }
      // A v6 entry on a udp4 socket.
      reset();
      make(6).sock.encodePeer('::1', 9, s.table, 32);
      s.peers[0] = 1;
      expect(thrown(() => a.sock.send(0, 1))).toBeInstanceOf(RangeError);
      expect(thrown(() => a.sock.send(-1, 1))).toBeInstanceOf(RangeError);
      expect(thrown(() => a.sock.send(0.5, 1))).toBeInstanceOf(RangeError);
      expect(thrown(() => a.sock.send('0' as unknown as number, 1))).toBeInstanceOf(TypeError);
      expect(a.counters[C.SEND_SYSCALLS]).toBe(0);
      reset();
      expect(a.sock.send(0, 0)).toBe(0);
      expect(a.counters[C.SEND_SYSCALLS]).toBe(0);
    });

    it('setSendRing/setRecvRing check types and sizes', () => {
      const a = bound(4);
      const u8 = new Uint8Array(64);
      const u32 = new Uint32Array(4);
      const i32 = new Int32Array(4);
      expect(thrown(() => a.sock.setSendRing(u8, u32, u32, new Uint32Array(4) as unknown as Int32Array, u8))).toBeInstanceOf(TypeError);
      expect(thrown(() => a.sock.setSendRing(new Uint8ClampedArray(64) as unknown as Uint8Array, u32, u32, i32, u8))).toBeInstanceOf(TypeError);
      expect(thrown(() => a.sock.setSendRing(u8, u32, new Uint32Array(3), i32, u8))).toBeInstanceOf(RangeError);
      expect(thrown(() => a.sock.setSendRing(u8, new Uint32Array(0), new Uint32Array(0), new Int32Array(0), u8))).toBeInstanceOf(RangeError);
      a.sock.setSendRing(Buffer.alloc(64), u32, u32, i32, u8); // a Buffer is a Uint8Array

      expect(thrown(() => a.sock.startRecv())).toMatchObject({ code: 'ERR_INVALID_STATE' });
      const rr = (arena: number, slot: number, slots: number, addrs: number, flags: number, budget: number) =>
        thrown(() => a.sock.setRecvRing(new Uint8Array(arena), slot, new Uint32Array(slots), new Uint8Array(addrs), new Uint8Array(flags), budget));
      expect(rr(4 * 100, 100, 4, 128, 4, 8)).toBeUndefined();
      expect(rr(4 * 100 - 1, 100, 4, 128, 4, 8)).toBeInstanceOf(RangeError);
      expect(rr(4 * 100, 100, 4, 127, 4, 8)).toBeInstanceOf(RangeError);
      expect(rr(4 * 100, 100, 4, 128, 3, 8)).toBeInstanceOf(RangeError);
      expect(rr(4 * 100, 100, 4, 128, 4, 0)).toBeInstanceOf(RangeError);
      expect(rr(4 * 100, 0, 4, 128, 4, 8)).toBeInstanceOf(RangeError);
      expect(rr(1025 * 8, 8, 1025, 1025 * 32, 1025, 8)).toBeInstanceOf(RangeError);
      expect(rr(0, 8, 0, 0, 0, 8)).toBeInstanceOf(RangeError);
    });

    it('a detached arena makes send() throw RangeError and stops receiving with EFAULT', async () => {
      const rx = bound(4);
      recvRing(rx, 4, 256, 16);
      const tx = bound(4);
      sendRing(tx, 4, 1024);
      tx.sock.encodePeer('127.0.0.1', port(rx), tx.send!.table, 0);
      fill(tx, 0, [payload(1, 10)], 0);
      // Detach the receive arena: the next wake-up must not write into freed memory.
      structuredClone(rx.ring!.arena.buffer, { transfer: [rx.ring!.arena.buffer as ArrayBuffer] });
      expect(tx.sock.send(0, 1)).toBe(1);
      await waitFor('onRecvError', () => rx.recvErrors.length === 1);
      expect(rx.recvErrors).toEqual([ERR.EFAULT]);
      expect(rx.batches.length).toBe(0);

      structuredClone(tx.send!.arena.buffer, { transfer: [tx.send!.arena.buffer as ArrayBuffer] });
      expect(thrown(() => tx.sock.send(0, 1))).toBeInstanceOf(RangeError);
      expect(tx.counters[C.SEND_SYSCALLS]).toBe(1);
    });

    it('a receive ring carved from one ArrayBuffer (as RecvRing allocates it) receives, and stops with EFAULT once that buffer is detached or shrunk', async () => {
      const tx = bound(4);
      sendRing(tx, 8, 4096);
      const datagrams = [payload(1, 10), payload(2, 300), payload(3, 1)];
      // RecvRing itself: arena, lengths, segSizes, addrs and flags in one buffer.
      const rx = bound(4);
      const ring = new RecvRing(4, 512);
      expect(new Set([ring.arena.buffer, ring.lengths.buffer, ring.segSizes.buffer, ring.addrs.buffer, ring.flags.buffer]).size).toBe(1);
      rx.ring = { arena: ring.arena, slotSize: 512, lengths: ring.lengths, addrs: ring.addrs, flags: ring.flags };
      rx.sock.setRecvRing(ring.arena, 512, ring.lengths, ring.addrs, ring.flags, 16, ring.segSizes);
      rx.sock.startRecv();
      tx.sock.encodePeer('127.0.0.1', port(rx), tx.send!.table, 0);
      fill(tx, 0, datagrams, 0);
      expect(tx.sock.send(0, 3)).toBe(3);
      await waitFor('3 datagrams', () => rx.datagrams.length === 3);
      expect(rx.datagrams.map((d) => d.data)).toEqual(datagrams);
      expect(rx.datagrams.every((d) => d.from.address === '127.0.0.1' && d.from.port === port(tx) && !d.truncated)).toBe(true);
      expect(Array.from(ring.segSizes)).toEqual([0, 0, 0, 0]);
      structuredClone(ring.arena.buffer, { transfer: [ring.arena.buffer as ArrayBuffer] });
      fill(tx, 3, [payload(4, 20)], 0);
      expect(tx.sock.send(3, 1)).toBe(1);
      await waitFor('onRecvError', () => rx.recvErrors.length === 1);
      expect(rx.recvErrors).toEqual([ERR.EFAULT]);
      expect(rx.datagrams.length).toBe(3);

      // The same layout over a resizable buffer that shrinks below what the ring spans.
      const shrink = bound(4);
      const slots = 2;
      // (ES2024 resizable ArrayBuffer, in Node since 20: typed here by hand, the lib is ES2022.)
      type Resizable = ArrayBuffer & { resize(bytes: number): void };
      const block = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => Resizable)(slots * (256 + 4 + SOCKADDR_STRIDE + 1), { maxByteLength: 8192 });
      const arena = new Uint8Array(block, 0, slots * 256);
      const lengths = new Uint32Array(block, slots * 256, slots);
      const addrs = new Uint8Array(block, slots * 260, slots * SOCKADDR_STRIDE);
      const flags = new Uint8Array(block, slots * (260 + SOCKADDR_STRIDE), slots);
      shrink.ring = { arena, slotSize: 256, lengths, addrs, flags };
      shrink.sock.setRecvRing(arena, 256, lengths, addrs, flags, 16);
      shrink.sock.startRecv();
      tx.sock.encodePeer('127.0.0.1', port(shrink), tx.send!.table, SOCKADDR_STRIDE);
      fill(tx, 4, [payload(5, 30)], 1);
      expect(tx.sock.send(4, 1)).toBe(1);
      await waitFor('1 datagram', () => shrink.datagrams.length === 1);
      expect(shrink.datagrams[0].data).toEqual(payload(5, 30));
      block.resize(slots * 256); // flags and addresses are now outside it
      fill(tx, 5, [payload(6, 30)], 1);
      expect(tx.sock.send(5, 1)).toBe(1);
      await waitFor('onRecvError', () => shrink.recvErrors.length === 1);
      expect(shrink.recvErrors).toEqual([ERR.EFAULT]);
      expect(shrink.datagrams.length).toBe(1);
    });

    it('counters in native memory (constructed with null): JS reads what the socket counts, also after its view is dropped or transferred', async () => {
      const got: number[] = [];
      const rx = new N.UdpSocket(4, null, { onRecv: (n: number) => got.push(n), onWritable() {}, onRecvError() {} });
      const tx = bound(4);
      opened.push({ sock: rx } as Harness);
      const counters = rx.counters();
      expect(counters).toBeInstanceOf(Float64Array);
      expect(counters.length).toBeGreaterThanOrEqual(C.COUNT);
      expect(rx.counters()).toBe(counters); // the same view each time
      rx.bind('127.0.0.1', 0, 0);
      const ring = new RecvRing(4, 256);
      rx.setRecvRing(ring.arena, 256, ring.lengths, ring.addrs, ring.flags, 16, ring.segSizes);
      rx.startRecv();
      sendRing(tx, 4, 1024);
      tx.sock.encodePeer('127.0.0.1', rx.localAddress()[1], tx.send!.table, 0);
      fill(tx, 0, [payload(1, 10), payload(2, 20)], 0);
      expect(tx.sock.send(0, 2)).toBe(2);
      await waitFor('2 datagrams', () => counters[C.RECV_DATAGRAMS] === 2);
      expect(counters[C.RECV_BYTES]).toBe(30);
      expect(counters[C.RECV_WAKEUPS]).toBeGreaterThanOrEqual(1);
      // Transferring the view must not leave the socket writing freed memory. Node marks
      // external buffers untransferable: it copies them (the original stays attached) or
      // refuses; a runtime that does move it leaves the original detached.
      let transferred: Float64Array | undefined;
      try {
        transferred = structuredClone(counters, { transfer: [counters.buffer as ArrayBuffer] });
      } catch (e) {
        expect((e as Error).name).toBe('DataCloneError');
      }
      fill(tx, 2, [payload(3, 5)], 0);
      expect(tx.sock.send(2, 1)).toBe(1);
      const view = counters.length > 0 ? counters : transferred!;
      await waitFor('3rd datagram', () => view[C.RECV_DATAGRAMS] === 3);
      expect(got.reduce((a, b) => a + b, 0)).toBe(3);
      rx.close();
      expect(view[C.RECV_DATAGRAMS]).toBe(3); // still readable after close
    });

    it('allocShared: zeroed native memory; rings over it receive and send, also after every JS view of it is dropped and collected', async () => {
      expect(thrown(() => N.allocShared(0))).toMatchObject({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
      expect(thrown(() => N.allocShared(2 ** 31))).toMatchObject({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
      expect(thrown(() => N.allocShared(1.5))).toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
      expect(thrown(() => N.allocShared('8' as unknown as number))).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
      const block = N.allocShared(4096);
      expect(block).toBeInstanceOf(ArrayBuffer);
      expect(block.byteLength).toBe(4096);
      expect(new Uint8Array(block).every((b) => b === 0)).toBe(true);

      // A receive ring in shared memory, as NativeBatchSocket allocates it.
      const tx = bound(4);
      sendRing(tx, 8, 4096);
      const rx = bound(4);
      let ring: RecvRing | undefined = new RecvRing(4, 512, (n) => N.allocShared(n));
      rx.ring = { arena: ring.arena, slotSize: 512, lengths: ring.lengths, addrs: ring.addrs, flags: ring.flags };
      rx.sock.setRecvRing(ring.arena, 512, ring.lengths, ring.addrs, ring.flags, 16, ring.segSizes);
      rx.sock.startRecv();
      tx.sock.encodePeer('127.0.0.1', port(rx), tx.send!.table, 0);
      fill(tx, 0, [payload(1, 10), payload(2, 300)], 0);
      expect(tx.sock.send(0, 2)).toBe(2);
      await waitFor('2 datagrams', () => rx.datagrams.length === 2);
      expect(rx.datagrams.map((d) => d.data)).toEqual([payload(1, 10), payload(2, 300)]);
      // Node marks external buffers untransferable: a transfer copies or refuses, never detaches them.
      try {
        structuredClone(ring.arena.buffer, { transfer: [ring.arena.buffer as ArrayBuffer] });
      } catch (e) {
        expect((e as Error).name).toBe('DataCloneError');
      }
      expect(ring.arena.byteLength).toBe(4 * 512);
      // Every JS view of the ring dropped and collected: the socket still owns the memory
      // (a reference of its own), so it keeps receiving into it — counted, never a write
      // to freed memory (the ASan suite runs this test too).
      rx.ring = { arena: new Uint8Array(4 * 512), slotSize: 512, lengths: new Uint32Array(4), addrs: new Uint8Array(4 * SOCKADDR_STRIDE), flags: new Uint8Array(4) };
      ring = undefined;
      for (let i = 0; i < 3; i++) gc();
      const datagrams = rx.counters[C.RECV_DATAGRAMS];
      const bytes = rx.counters[C.RECV_BYTES];
      fill(tx, 2, [payload(3, 40)], 0);
      expect(tx.sock.send(2, 1)).toBe(1);
      await waitFor('3rd datagram counted', () => rx.counters[C.RECV_DATAGRAMS] === datagrams + 1);
      expect(rx.counters[C.RECV_BYTES]).toBe(bytes + 40);
      expect(rx.recvErrors).toEqual([]);
    });

    it('debugInjectSendErrno: a run of injected EINTRs ends (at most 1024; more is a RangeError), then the datagrams go out', async () => {
      const tx = bound(4);
      const rx = bound(4);
      sendRing(tx, 4, 1024);
      rx.ring = { arena: new Uint8Array(4 * 256), slotSize: 256, lengths: new Uint32Array(4), addrs: new Uint8Array(4 * SOCKADDR_STRIDE), flags: new Uint8Array(4) };
      rx.sock.setRecvRing(rx.ring.arena, 256, rx.ring.lengths, rx.ring.addrs, rx.ring.flags, 16);
      rx.sock.startRecv();
      tx.sock.encodePeer('127.0.0.1', port(rx), tx.send!.table, 0);
      expect(thrown(() => tx.sock.debugInjectSendErrno(ERR.EINTR, 1025, false))).toMatchObject({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
      tx.sock.debugInjectSendErrno(ERR.EINTR, 1024, false);
      fill(tx, 0, [payload(1, 10), payload(2, 20)], 0);
      expect(tx.sock.send(0, 2)).toBe(2); // retried past the 1024 injected EINTRs
      await waitFor('2 datagrams', () => rx.datagrams.length === 2);
      expect(tx.counters[C.SEND_SYSCALLS]).toBe(1); // injected failures make no system call
    });

    it('setRecvDispatch: typed errors for a bad id, before the dispatcher exists and after close(); -1 is always off', () => {
      const a = bound(4);
      expect(thrown(() => a.sock.setRecvDispatch(-2))).toMatchObject({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
      expect(thrown(() => a.sock.setRecvDispatch(2 ** 31))).toMatchObject({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
      expect(thrown(() => a.sock.setRecvDispatch('1' as unknown as number))).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
      // No socket of this process asked for loop dispatch: no dispatcher is registered.
      expect(thrown(() => a.sock.setRecvDispatch(0))).toMatchObject({ code: 'ERR_INVALID_STATE' });
      a.sock.setRecvDispatch(-1);
      expect(thrown(() => N.setRecvDispatcher(42 as unknown as () => void))).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
      a.sock.close();
      expect(thrown(() => a.sock.setRecvDispatch(-1))).toMatchObject({ code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
    });

    it('after close(): fd() is -1, close() is idempotent, I/O throws ERR_SOCKET_DGRAM_NOT_RUNNING', () => {
      const a = bound(4);
      sendRing(a, 2, 64);
      a.sock.close();
      a.sock.close();
      expect(a.sock.fd()).toBe(-1);
      const calls: Array<[string, () => unknown]> = [
        ['bind', () => a.sock.bind('127.0.0.1', 0, 0)],
        ['connect', () => a.sock.connect('127.0.0.1', 9)],
        ['disconnect', () => a.sock.disconnect()],
        ['localAddress', () => a.sock.localAddress()],
        ['remoteAddress', () => a.sock.remoteAddress()],
        ['setBufferSize', () => a.sock.setBufferSize(SNDBUF, 4096)],
        ['getBufferSize', () => a.sock.getBufferSize(RCVBUF)],
        ['send', () => a.sock.send(0, 1)],
        ['setSendRing', () => a.sock.setSendRing(new Uint8Array(8), new Uint32Array(1), new Uint32Array(1), new Int32Array(1), new Uint8Array(32))],
        ['setRecvRing', () => a.sock.setRecvRing(new Uint8Array(8), 8, new Uint32Array(1), new Uint8Array(32), new Uint8Array(1), 1)],
        ['startRecv', () => a.sock.startRecv()],
        ['awaitWritable(true)', () => a.sock.awaitWritable(true)],
      ];
      for (const [name, call] of calls) expect([name, thrown(call)?.code]).toEqual([name, 'ERR_SOCKET_DGRAM_NOT_RUNNING']);
      // Teardown calls stay harmless; encodePeer needs no fd.
      a.sock.stopRecv();
      a.sock.awaitWritable(false);
      a.sock.ref(false);
      const t = new Uint8Array(32);
      a.sock.encodePeer('127.0.0.1', 9, t, 0);
      expect(decodeSockaddr(t).port).toBe(9);
    });
  });

  describe('callbacks', () => {
    it('close() inside onRecv stops all further callbacks', async () => {
      const rx = bound(4);
      recvRing(rx, 4, 64, 64); // 20 queued datagrams = 5 batches in one wake-up
      rx.onRecv = () => rx.sock.close();
      const tx = bound(4);
      sendRing(tx, 32, 4096);
      tx.sock.encodePeer('127.0.0.1', port(rx), tx.send!.table, 0);
      fill(tx, 0, Array.from({ length: 20 }, (_, i) => payload(i, 16)), 0);
      expect(tx.sock.send(0, 20)).toBe(20);
      await waitFor('first batch', () => rx.batches.length >= 1);
      await sleep(50);
      expect(rx.batches.length).toBe(1);
      expect(rx.sock.fd()).toBe(-1);
      expect(rx.recvErrors).toEqual([]);
    });

    it('stopRecv() inside onRecv ends the wake-up; startRecv() resumes with the rest', async () => {
      const rx = bound(4);
      recvRing(rx, 4, 64, 64);
      rx.onRecv = () => {
        if (rx.batches.length === 1) rx.sock.stopRecv();
      };
      const tx = bound(4);
      sendRing(tx, 32, 4096);
      tx.sock.encodePeer('127.0.0.1', port(rx), tx.send!.table, 0);
      fill(tx, 0, Array.from({ length: 20 }, (_, i) => payload(i, 16)), 0);
      expect(tx.sock.send(0, 20)).toBe(20);
      await waitFor('first batch', () => rx.batches.length >= 1);
      await sleep(30);
      expect(rx.batches.length).toBe(1);
      rx.sock.startRecv();
      await waitFor('all 20', () => rx.datagrams.length === 20);
      expect(rx.datagrams.map((d) => d.data.readUInt32BE(0))).toEqual(Array.from({ length: 20 }, (_, i) => i));
    });

    it('process.nextTick and promise jobs queued in onRecv run before the next onRecv', async () => {
      const rx = bound(4);
      recvRing(rx, 1, 64, 16); // one datagram per batch: three batches in one wake-up
      const log: string[] = [];
      rx.onRecv = () => {
        const n = rx.batches.length;
        log.push(`recv${n}`);
        process.nextTick(() => log.push(`tick${n}`));
        void Promise.resolve().then(() => log.push(`micro${n}`));
      };
      const tx = bound(4);
      sendRing(tx, 4, 256);
      tx.sock.encodePeer('127.0.0.1', port(rx), tx.send!.table, 0);
      fill(tx, 0, [payload(1, 8), payload(2, 8), payload(3, 8)], 0);
      expect(tx.sock.send(0, 3)).toBe(3);
      await waitFor('3 batches', () => rx.batches.length === 3);
      await sleep(10);
      expect(log).toEqual(['recv1', 'tick1', 'micro1', 'recv2', 'tick2', 'micro2', 'recv3', 'tick3', 'micro3']);
      expect(new Set(rx.batches.map((b) => b.wake)).size).toBe(1); // all in one wake-up
    });

    const childSocket = `
      const C = { COUNT: 32 };
      const rx = new N.UdpSocket(4, new Float64Array(32), { onRecv: (n) => onRecv(n), onWritable() {}, onRecvError() {} });
      rx.bind('127.0.0.1', 0, 0);
      rx.setRecvRing(new Uint8Array(4 * 64), 64, new Uint32Array(4), new Uint8Array(128), new Uint8Array(4), 16);
      rx.startRecv();
      const tx = new N.UdpSocket(4, new Float64Array(32), { onRecv() {}, onWritable() {}, onRecvError() {} });
      const table = new Uint8Array(32);
      tx.encodePeer('127.0.0.1', rx.localAddress()[1], table, 0);
      tx.setSendRing(new Uint8Array(64), new Uint32Array(4), new Uint32Array([8, 8, 8, 8]), new Int32Array(4), table);
    `;

    it('an exception thrown by onRecv becomes an uncaught exception (handler sees it, socket keeps working)', () => {
      const res = runChild(`
        ${childSocket}
        let calls = 0;
        const seen = [];
        const onRecv = () => { calls++; if (calls === 1) throw new Error('boom from onRecv'); };
        process.on('uncaughtException', (e) => { seen.push(e.message); tx.send(1, 1); });
        tx.send(0, 1);
        setTimeout(() => { console.log(JSON.stringify({ calls, seen })); rx.close(); tx.close(); }, 300);
      `);
      expect(res.stderr).toBe('');
      expect(res.status).toBe(0);
      expect(JSON.parse(res.stdout)).toEqual({ calls: 2, seen: ['boom from onRecv'] });
    });

    it('without a handler, an exception thrown by onRecv ends the process like any uncaught error', () => {
      const res = runChild(`
        ${childSocket}
        const onRecv = () => { throw new Error('boom from onRecv'); };
        tx.send(0, 1);
        setTimeout(() => { console.log('survived'); rx.close(); tx.close(); }, 1000);
      `);
      expect(res.stdout).not.toContain('survived');
      expect(res.stderr).toContain('boom from onRecv');
      expect(res.status).toBe(1);
    });

    it('ref(false) lets the process exit with an active watcher; ref(true) keeps it alive', () => {
      const unref = runChild(`
        ${childSocket}
        const onRecv = () => {};
        rx.ref(false);
        setTimeout(() => console.log('timer ran'), 2000).unref();
        process.on('exit', () => console.log('exited'));
      `);
      expect(unref.status).toBe(0);
      expect(unref.stdout.trim()).toBe('exited');

      const reffed = runChild(`
        ${childSocket}
        const onRecv = () => {};
        rx.ref(false);
        rx.ref(true);
        setTimeout(() => { console.log('timer ran'); rx.close(); tx.close(); }, 300).unref();
      `);
      expect(reffed.status).toBe(0);
      expect(reffed.stdout.trim()).toBe('timer ran');
    });

    it('ref(false) does not cover a writable wait: awaitWritable(true) keeps the loop alive until onWritable, then the process exits', () => {
      // With nothing else alive, an unreferenced watcher would let the loop end before its
      // first poll, so onWritable (due at once: the socket has room) would never run.
      const res = runChild(`
        const s = new N.UdpSocket(4, new Float64Array(32), { onRecv() {}, onWritable() { console.log('writable'); }, onRecvError() {} });
        s.bind('127.0.0.1', 0, 0);
        s.ref(false);
        s.awaitWritable(true);
        process.on('exit', () => console.log('exited'));
      `);
      expect(res.stderr).toBe('');
      expect(res.status).toBe(0);
      expect(res.stdout.trim().split('\n')).toEqual(['writable', 'exited']);

      const cancelled = runChild(`
        const s = new N.UdpSocket(4, new Float64Array(32), { onRecv() {}, onWritable() { console.log('writable'); }, onRecvError() {} });
        s.bind('127.0.0.1', 0, 0);
        s.ref(false);
        s.awaitWritable(true);
        s.awaitWritable(false);
        process.on('exit', () => console.log('exited'));
      `);
      expect(cancelled.status).toBe(0);
      expect(cancelled.stdout.trim()).toBe('exited');
    });

    it('a worker that exits with open (polling, armed window timer, dispatch mode) and just-closed sockets tears down cleanly', () => {
      // The main thread never loads the addon, so the worker's teardown unloads it
      // (dlclose): every uv_close callback must have run before that.
      const res = runChild(
        `
        import { Worker } from 'node:worker_threads';
        const w = new Worker(\`
          const { parentPort } = require('node:worker_threads');
          const N = require(process.env.ADDON);
          const dgram = require('node:dgram');
          N.setRecvDispatcher(() => {}); // the receive dispatcher's check handle too (recv_dispatch.h)
          const tx = dgram.createSocket('udp4');
          const socks = [];
          for (let i = 0; i < 8; i++) {
            const s = new N.UdpSocket(4, new Float64Array(32), { onRecv() {}, onWritable() {}, onRecvError() {}, onTimer() {} });
            s.bind('127.0.0.1', 0, 0);
            s.setRecvRing(new Uint8Array(64), 64, new Uint32Array(1), new Uint8Array(32), new Uint8Array(1), 1);
            s.setSendRing(new Uint8Array(64), new Uint32Array(4), new Uint32Array(4), new Int32Array(4), new Uint8Array(32));
            if (i % 2 === 0) s.setRecvDispatch(i); // half of them deliver through the dispatcher
            s.startRecv();
            tx.send(Buffer.from([i]), s.localAddress()[1], '127.0.0.1'); // a batch to read (and maybe queue) before teardown
            if (i % 2) s.awaitWritable(true);
            if (i % 3 === 0) s.armTimer(i === 0 ? 1 : 60000000); // window timers (timerfd watchers) too: one fired, others armed
            if (i % 4 === 3) s.close(); // close callback still pending at teardown
            socks.push(s);
          }
          parentPort.postMessage('ready');
          setInterval(() => {}, 1000);
        \`, { eval: true });
        w.on('message', () => w.terminate());
        w.on('exit', (code) => console.log('worker exit ' + code));
      `,
        { load: false },
      );
      expect(res.stderr).toBe('');
      expect(res.signal).toBe(null);
      expect(res.status).toBe(0);
      expect(res.stdout.trim()).toBe('worker exit 1');
    });
  });
});
