// The focused workload scripts/test-valgrind.sh runs under memcheck: every native path once
// or a few times, small enough to finish under valgrind in about a minute. Exits 0 when the
// traffic it expects arrived; valgrind decides about memory errors.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { loadNative, C } = await import(join(root, 'dist', 'native', 'binding.js'));
const lib = await import(join(root, 'dist', 'index.js'));
const loaded = loadNative();
if (!loaded.ok) throw new Error(loaded.reason);
const N = loaded.binding;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const until = async (pred, ms) => { const end = Date.now() + ms; while (!pred() && Date.now() < end) await sleep(10); return pred(); };
const problems = [];

// 1. Raw binding: rings, send, receive, misuse, detach, close inside a callback.
{
  let got = 0;
  const counters = new Float64Array(C.COUNT);
  const ring = { arena: new Uint8Array(16 * 2048), lengths: new Uint32Array(16), addrs: new Uint8Array(16 * 32), flags: new Uint8Array(16) };
  const rx = new N.UdpSocket(4, counters, { onRecv(n) { got += n; if (got >= 300) rx.close(); }, onWritable() {}, onRecvError() {} });
  rx.bind('127.0.0.1', 0, 0);
  rx.setBufferSize(1, 4 << 20); // RCVBUF: valgrind makes the reader slow
  rx.setRecvRing(ring.arena, 2048, ring.lengths, ring.addrs, ring.flags, 64);
  rx.startRecv();
  const port = rx.localAddress()[1];
  const tx = new N.UdpSocket(4, new Float64Array(C.COUNT), { onRecv() {}, onWritable() {}, onRecvError() {} });
  const table = new Uint8Array(4 * 32);
  tx.encodePeer('127.0.0.1', port, table, 0);
  const cap = 128;
  const arena = new Uint8Array(cap * 100);
  const offsets = new Uint32Array(cap), lengths = new Uint32Array(cap), peers = new Int32Array(cap);
  for (let i = 0; i < cap; i++) { offsets[i] = i * 100; lengths[i] = 100; peers[i] = 0; }
  tx.setSendRing(arena, offsets, lengths, peers, table);
  for (const gso of [false, true]) {
    try { tx.setGso(gso); } catch {}
    for (let k = 0; k < 3; k++) tx.send(k * 40, 50);
  }
  for (const f of [() => tx.send(cap, 1), () => tx.send(0, cap + 1), () => tx.encodePeer('nope', 1, table, 0), () => tx.encodePeer('127.0.0.1', 1, table, 120)]) {
    try { f(); problems.push('misuse accepted'); } catch {}
  }
  await until(() => got >= 300, 20000);
  if (got < 300) problems.push(`raw: received ${got}/300`);
  structuredClone(arena.buffer, { transfer: [arena.buffer] }); // detach behind native's back
  try { tx.send(0, 1); problems.push('send on a detached arena accepted'); } catch {}
  tx.close();
  tx.close();
}

// 2. Public API, both backends, udp4/udp6, GRO on the receiver, close mid-flush.
for (const backend of ['batch', 'dgram']) {
  for (const type of ['udp4', 'udp6']) {
    const addr = type === 'udp4' ? '127.0.0.1' : '::1';
    const rx = lib.createBatchSocket({ type, backend, recvBufferSize: 1 << 20 });
    let got = 0;
    rx.on('message', () => got++);
    await new Promise((r) => rx.bind(0, addr, r));
    const port = rx.address().port;
    const tx = lib.createBatchSocket({ type, backend, maxBatch: 64 });
    const peer = tx.peer(port, addr);
    let cbs = 0;
    for (let i = 0; i < 400; i++) peer.send(Buffer.alloc(i % 4 ? 300 : 1200, i), () => cbs++);
    await until(() => got >= 400 && cbs >= 400, 20000);
    if (got < 400 || cbs < 400) problems.push(`${backend}/${type}: received ${got}, callbacks ${cbs}`);
    for (let i = 0; i < 500; i++) tx.send(Buffer.alloc(500), port, addr, () => cbs++);
    tx.flush();
    tx.close(); // mid-flush
    await until(() => cbs >= 900, 20000);
    if (cbs !== 900) problems.push(`${backend}/${type}: ${cbs} callbacks after close`);
    const st = tx.stats();
    if (st.enqueued !== st.sent + st.failed + st.dropped + st.queued) problems.push(`${backend}/${type}: identity`);
    await new Promise((r) => rx.close(r));
  }
}
await sleep(100);
if (problems.length) {
  console.error(`valgrind workload: ${problems.join('; ')}`);
  process.exit(1);
}
console.log('valgrind workload: ok');
