/**
 * GSO on a path whose MTU is below the datagram size (issue 11 item 6). Plain UDP
 * fragments a 1400-byte datagram over an MTU-1280 path and delivers it; a GSO message
 * cannot be fragmented and Linux refuses it with EMSGSIZE. The batch backend must then
 * resend the datagrams plain and stop using GSO where that path is (the socket when
 * connected, that peer when not), so every datagram `gso: false` (or node:dgram) would
 * deliver is delivered, in order. Each case runs in a child inside a private network
 * namespace whose loopback (or one local route) has MTU 1280.
 */
import { describe, expect, it } from 'vitest';
import { backends, canNetns, runChild } from './helpers.js';

interface Out {
  codes: Record<string, number>;
  got: number[][];
  stats: { gsoFallbacks: number; gsoPeerFallbacks: number; gsoSegments: number; gso: boolean; enqueued: number; sent: number };
}

/**
 * Sends N datagrams of SIZE bytes (sequence number first) to each receiver in `hosts`
 * (one receiver socket per host, the datagrams of one receiver after those of the
 * previous one), connected to the first when CONNECTED; waits (bounded) until every
 * callback ran and every accepted datagram arrived.
 */
const sendAll = (type: string, hosts: string[], connected: boolean): string => `
const type = ${JSON.stringify(type)}; const hosts = ${JSON.stringify(hosts)}; const CONNECTED = ${connected};
const N = 200, SIZE = 1400;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rxs = hosts.map(() => lib.createBatchSocket({ type, backend: BACKEND, recvBufferSize: 4 << 20 }));
const got = hosts.map(() => []);
rxs.forEach((rx, k) => rx.on('message', (m) => got[k].push(m.readUInt32BE(0))));
for (let k = 0; k < hosts.length; k++) await new Promise((r) => rxs[k].bind(0, hosts[k], r));
const tx = lib.createBatchSocket({ type, backend: BACKEND, sendBufferSize: 4 << 20 });
if (CONNECTED) await new Promise((r) => tx.connect(rxs[0].address().port, hosts[0], r));
const codes = {}; let calls = 0;
const cb = (e) => { calls++; const c = e ? e.code : 'ok'; codes[c] = (codes[c] || 0) + 1; };
for (let k = 0; k < hosts.length; k++) {
  for (let i = 0; i < N; i++) {
    const b = Buffer.alloc(SIZE, i & 255); b.writeUInt32BE(i, 0);
    if (CONNECTED) tx.send(b, cb); else tx.send(b, rxs[k].address().port, hosts[k], cb);
  }
}
const end = Date.now() + 10000;
while ((calls < N * hosts.length || got.flat().length < (codes.ok ?? 0)) && Date.now() < end) await sleep(5);
const stats = tx.stats();
await Promise.all([tx, ...rxs].map((s) => new Promise((r) => s.close(r))));
process.stdout.write(JSON.stringify({ codes, got, stats }) + '\\n');
`;

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe.skipIf(!canNetns)('GSO over a path with MTU 1280 (private netns)', () => {
  describe.each(backends)('[%s]', (backend) => {
    describe.each([
      ['udp4', '127.0.0.1'],
      ['udp6', '::1'],
    ])('%s', (type, host) => {
      it.each([true, false])('connected=%s: all 200 x 1400-byte datagrams arrive in order; GSO is turned off where the path is', { timeout: 90_000 }, (connected) => {
        const out = runChild<Out>(backend, sendAll(type, [host], connected), { netns: 'ip link set lo mtu 1280 up', timeoutMs: 60_000 });
        expect(out.codes).toEqual({ ok: 200 });
        expect(out.got[0]).toEqual(range(200));
        if (backend === 'batch') {
          // Connected: the socket's only path is too small, GSO off for the socket.
          // Unconnected: off for that peer only; the socket keeps GSO for other peers.
          expect(out.stats.gsoFallbacks).toBe(connected ? 1 : 0);
          expect(out.stats.gsoPeerFallbacks).toBe(connected ? 0 : 1);
          expect(out.stats.gso).toBe(!connected);
        }
      });
    });
  });

  it('[batch] unconnected: only the destination behind the MTU-1280 route loses GSO; another destination keeps it', { timeout: 90_000 }, () => {
    const out = runChild<Out>('batch', sendAll('udp4', ['127.0.0.2', '127.0.0.1'], false), {
      timeoutMs: 60_000,
      netns: 'ip link set lo up && ip route replace local 127.0.0.2 dev lo table local mtu 1280',
    });
    expect(out.codes).toEqual({ ok: 400 });
    expect(out.got).toEqual([range(200), range(200)]);
    expect(out.stats.gsoPeerFallbacks).toBe(1);
    expect(out.stats.gsoFallbacks).toBe(0);
    expect(out.stats.gso).toBe(true);
    // 127.0.0.1 went with GSO (its datagrams in UDP_SEGMENT messages); 127.0.0.2 did not.
    expect(out.stats.gsoSegments).toBeGreaterThan(0);
    expect(out.stats.gsoSegments).toBeLessThanOrEqual(200);
  });
});
