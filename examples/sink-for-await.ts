/**
 * A UDP sink written as a plain loop: `for await (const batch of sock)` yields one batch per
 * recvmmsg(2) call (copies, valid after the loop body). A sender on the same machine blasts
 * 1000 datagrams at it on loopback; the loop counts them and ends when all have arrived.
 *
 *   npx tsc && node examples/sink-for-await.js   (or run it through the test, see README)
 */
import { createBatchSocket, type BatchSocket } from 'dgram-sendmmsg-native';

const DATAGRAMS = 1000;

async function sink(sock: BatchSocket, expected: number): Promise<{ datagrams: number; bytes: number; batches: number }> {
  let datagrams = 0;
  let bytes = 0;
  let batches = 0;
  for await (const batch of sock) {
    batches++;
    for (let i = 0; i < batch.count; i++) bytes += batch.length(i);
    datagrams += batch.count;
    if (datagrams >= expected) break; // leaving the loop detaches it from the socket
  }
  return { datagrams, bytes, batches };
}

const rx = createBatchSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
rx.bind(0, '127.0.0.1', () => {
  const port = rx.address().port;
  const done = sink(rx, DATAGRAMS);

  const tx = createBatchSocket({ type: 'udp4' });
  const payload = Buffer.alloc(1200, 0xab);
  let queued = 0;
  // Queue in bursts of 100 and let the 'idle' event (queue empty) pace the next burst, so the
  // receiver's buffer is never overrun on a busy machine.
  const burst = (): void => {
    for (let i = 0; i < 100 && queued < DATAGRAMS; i++, queued++) tx.send(payload, port, '127.0.0.1');
  };
  tx.on('idle', () => {
    if (queued < DATAGRAMS) setImmediate(burst);
  });
  burst();

  const timeout = setTimeout(() => {
    console.error(`sink: timed out, ${JSON.stringify(rx.stats())}`);
    process.exit(1);
  }, 10_000);
  void done.then((r) => {
    clearTimeout(timeout);
    const s = tx.stats();
    console.log(`sink: ${r.datagrams} datagrams, ${r.bytes} bytes in ${r.batches} batches (backend ${rx.backend})`);
    console.log(`sender: ${s.sent} sent in ${s.syscalls} send calls; enqueued ${s.enqueued} = sent ${s.sent} + failed ${s.failed} + dropped ${s.dropped} + queued ${s.queued}`);
    tx.close();
    rx.close();
  });
});
