/**
 * dgram's socket options on both backends (issue 11 item 1): setTTL, setBroadcast,
 * setMulticastTTL/Loopback/Interface, add/dropMembership, add/dropSourceSpecificMembership,
 * getSendQueueSize/Count, sendto, the signal option, Symbol.asyncDispose, bind({ fd }).
 *
 * The same script runs with our socket (each backend) and with node:dgram itself, in a
 * private network namespace the test creates (`unshare -n`: lo up with multicast and a
 * 224.0.0.0/4 route, nothing leaves it); the two transcripts must be equal: every return
 * value and error code, and what a receiver gets — multicast delivered to a joined group
 * and not after leaving it, source-specific joins filtering by source, broadcast refused
 * (EACCES) until SO_BROADCAST.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createBatchSocket } from '../../src/index.js';
import { backends } from './helpers.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const entry = join(root, 'dist', 'index.js');
const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const canNetns = process.getuid?.() === 0 && has('unshare') && has('ip') && spawnSync('unshare', ['-n', 'true']).status === 0;

const dir = mkdtempSync(join(tmpdir(), 'dsn-sockopt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const script = join(dir, 'options.mjs');
writeFileSync(
  script,
  `
import dgram from 'node:dgram';
import * as lib from ${JSON.stringify(entry)};
const KIND = process.argv[2];
const open = (type = 'udp4') => KIND === 'node:dgram' ? dgram.createSocket(type) : lib.createBatchSocket({ type, backend: KIND });
const bind = (s, port = 0, address) => new Promise((res) => s.bind(port, address, () => res(s.address().port)));
const r = (f) => { try { const v = f(); return v === undefined ? 'ok' : v; } catch (e) { return e.code ?? ('uncoded ' + e.name); } };
const sendCb = (s, ...args) => new Promise((res) => s.send(...args, (err) => res(err ? err.code : 'sent')));
const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
const out = {};

// Before bind: options need the fd (dgram: EBADF); membership binds implicitly.
const u = open();
out.unbound = [r(() => u.setTTL(5)), r(() => u.setBroadcast(true)), r(() => u.setMulticastTTL(5)), r(() => u.setMulticastLoopback(true)), r(() => u.setMulticastInterface('127.0.0.1'))];
u.close();

// Bound: values, ranges and errors.
const s = open();
await bind(s);
out.values = [
  r(() => s.setTTL(64)), r(() => s.setTTL(1.5)), r(() => s.setTTL(0)), r(() => s.setTTL(256)), r(() => s.setTTL('a')),
  r(() => s.setMulticastTTL(0)), r(() => s.setMulticastTTL(255)), r(() => s.setMulticastTTL(256)), r(() => s.setMulticastTTL('1')),
  r(() => s.setMulticastLoopback(false)), r(() => s.setMulticastLoopback(true)), r(() => s.setBroadcast(false)),
  r(() => s.setMulticastInterface('127.0.0.1')), r(() => s.setMulticastInterface('foo')), r(() => s.setMulticastInterface(1)),
  r(() => s.addMembership()), r(() => s.addMembership('1.2.3.4')), r(() => s.addMembership(5)),
  r(() => s.addMembership('239.1.2.3')), r(() => s.addMembership('239.1.2.3')), r(() => s.dropMembership('239.1.2.3')), r(() => s.dropMembership('239.1.2.3')),
  r(() => s.addSourceSpecificMembership('127.0.0.1', '232.1.1.1')), r(() => s.addSourceSpecificMembership('127.0.0.1', '232.1.1.1')),
  r(() => s.dropSourceSpecificMembership('127.0.0.1', '232.1.1.1')), r(() => s.addSourceSpecificMembership(1, '232.1.1.1')),
  r(() => s.addSourceSpecificMembership('127.0.0.1', 5)),
  r(() => s.getSendQueueSize()), r(() => s.getSendQueueCount()),
  r(() => s.sendto(Buffer.from('x'), 0, 1, 9)), r(() => s.sendto(Buffer.from('x'), '0', 1, 9, '127.0.0.1')),
];
const s6 = open('udp6');
await bind(s6);
out.values6 = [
  r(() => s6.setTTL(64)), r(() => s6.setMulticastTTL(3)), r(() => s6.setMulticastLoopback(true)),
  r(() => s6.setMulticastInterface('::%lo')), r(() => s6.setMulticastInterface('::%nosuchif')), r(() => s6.setMulticastInterface('127.0.0.1')),
  r(() => s6.addMembership('ff02::1:3', '::%lo')), r(() => s6.addMembership('ff02::1:3', '::%lo')), r(() => s6.dropMembership('ff02::1:3', '::%lo')),
  r(() => s6.addMembership('239.1.2.4')),
];
s6.close();

// Multicast on loopback: a joined receiver gets it, loopback off stops it, a leave stops it.
const rx = open(); const got = []; rx.on('message', (m, ri) => got.push(m.toString() + '<' + ri.address));
const port = await bind(rx, 0, '0.0.0.0');
rx.addMembership('239.7.7.7', '127.0.0.1');
s.setMulticastInterface('127.0.0.1');
s.setMulticastTTL(1);
await sendCb(s, 'joined', port, '239.7.7.7');
await sleep(100);
s.setMulticastLoopback(false);
await sendCb(s, 'loop-off', port, '239.7.7.7');
await sleep(100);
s.setMulticastLoopback(true);
rx.dropMembership('239.7.7.7', '127.0.0.1');
await sendCb(s, 'left', port, '239.7.7.7');
await sleep(100);
// Source-specific: only from 127.0.0.1, not from 127.0.0.2.
rx.addSourceSpecificMembership('127.0.0.1', '232.7.7.7', '127.0.0.1');
const other = open(); await bind(other, 0, '127.0.0.2'); other.setMulticastInterface('127.0.0.1');
await sendCb(other, 'ssm-other', port, '232.7.7.7');
await sendCb(s, 'ssm-source', port, '232.7.7.7');
await sleep(150);
out.multicast = got.sort();
// Broadcast: EACCES until SO_BROADCAST.
const b = open(); await bind(b);
out.broadcast = [await sendCb(b, 'b', port, '127.255.255.255'), r(() => b.setBroadcast(true)), await sendCb(b, 'b', port, '127.255.255.255')];
for (const x of [s, rx, other, b]) x.close();
out.afterClose = [r(() => s.addMembership('239.1.2.3')), r(() => s.dropSourceSpecificMembership('127.0.0.1', '232.1.1.1'))];
process.stdout.write(JSON.stringify(out) + '\\n');
`,
);

function transcript(kind: string): Record<string, unknown> {
  const setup = 'ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo && ip addr add 127.0.0.2/8 dev lo 2>/dev/null; exec "$0" "$@"';
  const r = spawnSync('unshare', ['-n', 'sh', '-c', setup, process.execPath, script, kind], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`options script failed (${r.status} ${r.signal}): ${r.stderr}\n${r.stdout}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

describe.skipIf(!canNetns)('socket options against node:dgram, in a private network namespace (needs root, unshare, ip)', () => {
  it.each(backends)('%s backend: the same transcript as node:dgram', (backend) => {
    const reference = transcript('node:dgram');
    const ours = transcript(backend);
    // node:dgram itself, for the record of what the transcript shows.
    expect(reference.unbound).toEqual(['EBADF', 'EBADF', 'EBADF', 'EBADF', 'EBADF']);
    // (On lo itself IP_MULTICAST_LOOP does not stop local delivery: the datagram goes out on
    // lo and comes back in; the point is that ours does what the kernel does for dgram.)
    expect(reference.multicast).toEqual(['joined<127.0.0.1', 'loop-off<127.0.0.1', 'ssm-source<127.0.0.1']);
    expect(reference.broadcast).toEqual(['EACCES', 'ok', 'sent']);
    const { afterClose, ...rest } = ours;
    const { afterClose: refAfterClose, ...refRest } = reference;
    expect(rest).toEqual(refRest);
    // After close: dgram's membership calls say ERR_SOCKET_DGRAM_NOT_RUNNING; so do ours.
    expect(afterClose).toEqual(refAfterClose);
  }, 120_000);
});

describe.each(backends)('%s backend: signal, Symbol.asyncDispose, lookup, bind({ fd })', (backend) => {
  it('an abort closes the socket; an aborted signal closes it at once; a non-signal is ERR_INVALID_ARG_TYPE', async () => {
    const ac = new AbortController();
    const s = createBatchSocket({ type: 'udp4', backend, signal: ac.signal });
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    ac.abort();
    await closed;
    expect((s as unknown as { closed: boolean }).closed).toBe(true);
    const pre = createBatchSocket({ type: 'udp4', backend, signal: AbortSignal.abort() });
    expect((pre as unknown as { closed: boolean }).closed).toBe(true);
    let code: unknown;
    try {
      createBatchSocket({ type: 'udp4', backend, signal: {} as AbortSignal });
    } catch (e) {
      code = (e as { code?: string }).code;
    }
    expect(code).toBe('ERR_INVALID_ARG_TYPE');
  });

  it('Symbol.asyncDispose closes the socket and waits for it', async () => {
    const s = createBatchSocket({ type: 'udp4', backend });
    await s[Symbol.asyncDispose]();
    expect((s as unknown as { closed: boolean }).closed).toBe(true);
    await s[Symbol.asyncDispose](); // twice is fine, as dgram
  });

  it('a custom lookup is refused with a clear error, never ignored', () => {
    let err: { code?: string; message?: string } | undefined;
    try {
      createBatchSocket({ type: 'udp4', backend, lookup: (() => {}) as never });
    } catch (e) {
      err = e as { code?: string; message?: string };
    }
    expect(err?.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(err?.message).toMatch(/lookup.*not supported/);
  });
});
