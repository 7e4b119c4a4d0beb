/**
 * Receive loss the kernel causes is visible per socket (issue 11 item 11):
 * `stats().recvKernelDrops` (SO_RXQ_OVFL on 'batch', /proc/net/udp's drops column on
 * 'dgram') equals what the kernel counted, and a datagram cut to the receive slot is
 * flagged `truncated: true` in its 'message' rinfo.
 */
import { describe, expect, it } from 'vitest';
import { backends, batchAvailable, bindLocal, canNetns, closeAll, open, runChild, until } from './helpers.js';

// The receiver's event loop is blocked (execFileSync) while a separate process floods it,
// so its small receive buffer overflows; then it drains, and a marker datagram (queued
// after the drops, so it carries the drop count) arrives — sent again every 20 ms until
// one does, since one sent before the buffer had room is dropped too (and counted). In a private netns,
// /proc/net/snmp's Udp RcvbufErrors counts this socket's drops only.
const flood = `
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
const snmp = () => { const l = readFileSync('/proc/net/snmp', 'utf8').split('\\n').filter((x) => x.startsWith('Udp:')); const k = l[0].split(' '), v = l[1].split(' ').map(Number); return Object.fromEntries(k.map((n, i) => [n, v[i]])); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rx = lib.createBatchSocket({ type: 'udp4', backend: BACKEND, recvBufferSize: 16384 });
let got = 0, marker = false; rx.on('message', (m) => { got++; if (m.length === 10) marker = true; });
await new Promise((r) => rx.bind(0, '127.0.0.1', r));
const port = rx.address().port;
const N = 2000;
const before = snmp();
execFileSync(process.execPath, ['-e', \`
  const s = require('node:dgram').createSocket('udp4'); let done = 0; const b = Buffer.alloc(1000);
  for (let i = 0; i < ${'${N}'}; i++) s.send(b, ${'${port}'}, '127.0.0.1', () => { if (++done === ${'${N}'}) s.close(); });
\`]);
const dropsMidway = rx.stats().recvKernelDrops; // nothing read since the flood began
const tx = lib.createBatchSocket({ type: 'udp4', backend: BACKEND });
let markers = 0, markerCalls = 0;
for (let i = 0; i < 250 && !marker; i++) { tx.send(Buffer.alloc(10), port, '127.0.0.1', () => markerCalls++); markers++; await until(() => marker, 20); }
// Markers sent after the one that arrived are in flight: wait until the kernel took them
// all and the receiver read or the kernel dropped every datagram.
await until(() => markerCalls === markers, 5000);
await until(() => got + snmp().RcvbufErrors - before.RcvbufErrors === N + markers, 5000);
const after = snmp();
const stats = rx.stats();
await Promise.all([tx, rx].map((s) => new Promise((r) => s.close(r))));
process.stdout.write(JSON.stringify({ got, N, markers, dropsMidway, recvKernelDrops: stats.recvKernelDrops, closedDrops: rx.stats().recvKernelDrops, rcvbufErrors: after.RcvbufErrors - before.RcvbufErrors }) + '\\n');
async function until(pred, ms) { const end = Date.now() + ms; while (!pred() && Date.now() < end) await sleep(5); return pred(); }
`;

interface FloodOut {
  got: number;
  N: number;
  markers: number;
  dropsMidway: number;
  recvKernelDrops: number;
  closedDrops: number;
  rcvbufErrors: number;
}

describe.skipIf(!canNetns)('recvKernelDrops (private netns)', () => {
  it.each(backends)('[%s] counts exactly the datagrams the kernel dropped for the socket (= Udp RcvbufErrors in the netns)', { timeout: 90_000 }, (backend) => {
    const out = runChild<FloodOut>(backend, flood, { netns: 'ip link set lo up', timeoutMs: 60_000 });
    expect(out.rcvbufErrors, 'the flood overflowed the receive buffer').toBeGreaterThan(0);
    // Every datagram (flood and markers) either arrived or was dropped by the kernel.
    expect(out.markers).toBeLessThan(250);
    expect(out.got + out.rcvbufErrors).toBe(out.N + out.markers);
    expect(out.recvKernelDrops).toBe(out.rcvbufErrors);
    expect(out.closedDrops, 'kept after close()').toBe(out.recvKernelDrops);
    // 'batch' learns the count from the next datagram queued after the drops (nothing was
    // read yet); 'dgram' reads the kernel's table at once (markers dropped later add to it).
    if (backend === 'batch') expect(out.dropsMidway).toBe(0);
    else {
      expect(out.dropsMidway).toBeGreaterThan(0);
      expect(out.rcvbufErrors - out.dropsMidway).toBeGreaterThanOrEqual(0);
      expect(out.rcvbufErrors - out.dropsMidway).toBeLessThan(out.markers); // only markers can be dropped later
    }
  });
});

describe('truncated datagrams are flagged in rinfo', () => {
  it.runIf(batchAvailable)('[batch] a datagram longer than recvSlotSize arrives cut to it with rinfo.truncated === true; whole ones have no such field', async () => {
    const rx = open('batch', { recvSlotSize: 100 });
    const tx = open('batch');
    const seen: { len: number; size: number; truncated: unknown; has: boolean }[] = [];
    rx.on('message', (m, r) => seen.push({ len: m.length, size: r.size, truncated: (r as { truncated?: boolean }).truncated, has: 'truncated' in r }));
    const port = await bindLocal(rx);
    tx.send(Buffer.alloc(300, 1), port, '127.0.0.1');
    tx.send(Buffer.alloc(50, 2), port, '127.0.0.1');
    expect(await until(() => seen.length >= 2, 5000)).toBe(true);
    expect(seen).toEqual([
      { len: 100, size: 100, truncated: true, has: true },
      { len: 50, size: 50, truncated: undefined, has: false },
    ]);
    expect(rx.stats().recvTruncated).toBe(1);
    await closeAll(rx, tx);
  });

  it('[dgram] node:dgram reads whole datagrams (64 KiB): nothing is truncated or flagged', async () => {
    const rx = open('dgram', { recvSlotSize: 100 });
    const tx = open('dgram');
    const seen: { len: number; has: boolean }[] = [];
    rx.on('message', (m, r) => seen.push({ len: m.length, has: 'truncated' in r }));
    const port = await bindLocal(rx);
    tx.send(Buffer.alloc(300, 1), port, '127.0.0.1');
    expect(await until(() => seen.length >= 1, 5000)).toBe(true);
    expect(seen).toEqual([{ len: 300, has: false }]);
    expect(rx.stats().recvTruncated).toBe(0);
    await closeAll(rx, tx);
  });
});
