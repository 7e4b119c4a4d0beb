/**
 * `unref()` never loses queued datagrams (issue 11 item 5). A queued datagram is a
 * promise: an unref'd socket whose send queue waits for writability (EAGAIN behind a
 * rate-limited qdisc), for its window timer or for an ENOBUFS back-off keeps the process
 * alive until the queue drains or fails — as libuv does for node:dgram (its pending send
 * requests keep the loop alive whatever the handle's ref state).
 *
 * Each scenario runs in a private network namespace (`unshare -n`) whose `lo` has a `tbf`
 * qdisc, so the sender's small SO_SNDBUF really fills and sendmmsg answers EAGAIN. A
 * harness process in the namespace binds the receiver (a node:dgram socket with a receive
 * buffer sized for the whole burst) and spawns the sender, which queues N datagrams,
 * unrefs its socket and is left to exit on its own: nothing keeps it alive but the queue.
 * The sender reports its callbacks from process.on('exit'); the harness waits (bounded)
 * until the receiver holds every datagram the kernel took, reads the namespace's Udp
 * counters and prints one JSON line.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { backends, canNetns } from './helpers.js';

const distEntry = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'index.js');

/** The sender: N datagrams of 1000 bytes (u32 sequence first), then unref() and nothing else. */
const sender = `
import * as lib from ${JSON.stringify(distEntry)};
const { BACKEND, PORT, N, OPTS } = process.env;
const n = Number(N);
const tx = lib.createBatchSocket({ type: 'udp4', backend: BACKEND, sendBufferSize: 4096, ...JSON.parse(OPTS) });
const ok = [], failed = {};
let callbacks = 0;
const buf = Buffer.alloc(1000);
tx.bind(0, '127.0.0.1', () => {
  for (let i = 0; i < n; i++) {
    buf.writeUInt32BE(i, 0);
    const seq = i;
    tx.send(buf, Number(PORT), '127.0.0.1', (err) => {
      callbacks++;
      if (err) failed[err.code] = (failed[err.code] ?? 0) + 1;
      else ok.push(seq);
    });
  }
  tx.unref();
});
process.on('exit', () => {
  const st = tx.stats();
  process.stdout.write(JSON.stringify({ callbacks, ok: ok.length, inOrder: ok.every((s, i) => s === i), failed, stats: { enqueued: st.enqueued, sent: st.sent, failed: st.failed, dropped: st.dropped, queued: st.queued, eagain: st.eagain } }) + '\\n');
});
`;

/** The harness, run inside the namespace: receiver, sender child, Udp counters. */
const harness = `
import dgram from 'node:dgram';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
const { SENDER, BACKEND, N, OPTS } = process.env;
const snmp = () => { const l = readFileSync('/proc/net/snmp', 'utf8').split('\\n').filter((x) => x.startsWith('Udp:')); const k = l[0].split(' '), v = l[1].split(' ').map(Number); return Object.fromEntries(k.map((n, i) => [n, v[i]])); };
const rx = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 << 20 });
const seqs = [];
rx.on('message', (m) => seqs.push(m.readUInt32BE(0)));
await new Promise((r) => rx.bind(0, '127.0.0.1', r));
const before = snmp();
const child = spawn(process.execPath, [SENDER], { env: { ...process.env, PORT: String(rx.address().port), BACKEND, N, OPTS }, stdio: ['ignore', 'pipe', 'pipe'] });
let out = '', err = '';
child.stdout.on('data', (d) => (out += d));
child.stderr.on('data', (d) => (err += d));
const t0 = Date.now();
const code = await new Promise((r) => child.on('close', r));
const exitMs = Date.now() - t0;
if (code !== 0 || err !== '') { process.stderr.write('sender failed (' + code + '): ' + err + out); process.exit(1); }
const sender = JSON.parse(out.trim().split('\\n').pop());
// The kernel took sender.ok datagrams; wait (bounded) until each is read or counted lost.
const end = Date.now() + 20000;
while (seqs.length + (snmp().RcvbufErrors - before.RcvbufErrors) < sender.ok && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
const after = snmp();
rx.close();
process.stdout.write(JSON.stringify({ sender, exitMs, received: seqs.length, receivedInOrder: seqs.every((s, i) => s === i), rcvbufErrors: after.RcvbufErrors - before.RcvbufErrors, sndbufErrors: after.SndbufErrors - before.SndbufErrors }) + '\\n');
`;

interface Out {
  sender: { callbacks: number; ok: number; inOrder: boolean; failed: Record<string, number>; stats: { enqueued: number; sent: number; failed: number; dropped: number; queued: number; eagain: number } };
  exitMs: number;
  received: number;
  receivedInOrder: boolean;
  rcvbufErrors: number;
  sndbufErrors: number;
}

/** 16 Mbit/s with room for 2 s of queue: a 600 kB burst waits in the qdisc, the 4 kB SO_SNDBUF fills. */
const SHAPED = 'ip link set lo up && tc qdisc add dev lo root tbf rate 16mbit burst 16kb latency 2s';

function run(backend: string, n: number, opts: Record<string, unknown> = {}): Out {
  const dir = mkdtempSync(join(tmpdir(), 'dsn-unref-'));
  try {
    writeFileSync(join(dir, 'sender.mjs'), sender);
    writeFileSync(join(dir, 'harness.mjs'), harness);
    const r = spawnSync('unshare', ['-n', 'sh', '-c', `${SHAPED} && exec "$0" "$@"`, process.execPath, join(dir, 'harness.mjs')], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, SENDER: join(dir, 'sender.mjs'), BACKEND: backend, N: String(n), OPTS: JSON.stringify(opts) },
    });
    if (r.status !== 0 || r.error || r.stderr !== '') throw new Error(`harness failed (status ${r.status}, ${r.error?.message ?? ''}):\n${r.stderr}\n${r.stdout}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as Out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function expectAllDelivered(out: Out, n: number): void {
  const s = out.sender;
  // Every datagram got its callback before the process exited, and the kernel took them all.
  expect(s.callbacks, JSON.stringify(out)).toBe(n);
  expect(s.ok).toBe(n);
  expect(s.inOrder).toBe(true);
  expect(s.failed).toEqual({});
  expect(s.stats.queued).toBe(0);
  expect(s.stats.enqueued).toBe(s.stats.sent + s.stats.failed + s.stats.dropped + s.stats.queued);
  // The receiver saw every one of them; loss the kernel reports (RcvbufErrors) would be
  // the receiver's, not the library's — with an 8 MiB buffer there is none.
  expect(out.rcvbufErrors, 'receiver overflowed (kernel-counted loss, not a library fault)').toBe(0);
  expect(out.received).toBe(n);
  expect(out.receivedInOrder).toBe(true);
}

describe.skipIf(!canNetns)("unref() never loses queued datagrams (private netns, tbf on lo; needs root, unshare, tc)", () => {
  it.each(backends)('[%s] an unref\'d socket blocked on EAGAIN keeps the process alive until its queue drains; every datagram is called back and received', { timeout: 90_000 }, (backend) => {
    const out = run(backend, 600);
    if (backend === 'batch') expect(out.sender.stats.eagain, 'the send queue really met EAGAIN').toBeGreaterThan(0);
    expectAllDelivered(out, 600);
  });

  it.runIf(backends.includes('batch'))("[batch] sub-millisecond window and 'tick' mode: an unref'd socket still flushes what it queued", { timeout: 90_000 }, () => {
    for (const opts of [{ windowUs: 250 }, { windowUs: 5000 }, { mode: 'tick' }]) {
      const out = run('batch', 300, opts);
      expectAllDelivered(out, 300);
    }
  });
});
