import { createBatchSocket } from 'dgram-sendmmsg-native';

const rx = createBatchSocket({ type: 'udp4' }); // backend 'batch' (recvmmsg/sendmmsg) where the addon loads
const tx = createBatchSocket({ type: 'udp4' });
let received = 0;

rx.on('batch', (batch) => {
  // one callback per recvmmsg(2) call; batch.datagram(i) is a view valid during the callback
  for (let i = 0; i < batch.count; i++) console.log(`got "${batch.datagram(i).toString()}" from port ${batch.remote(i).port}`);
  received += batch.count;
  if (received === 2) {
    const s = tx.stats(); // s.enqueued === s.sent + s.failed + s.dropped + s.queued, always
    console.log(`sent ${s.sent} datagrams in ${s.syscalls} send call(s), backend ${tx.backend}`);
    tx.close();
    rx.close();
  }
});

rx.bind(0, '127.0.0.1', () => {
  const port = rx.address().port;
  tx.on('flush', (f) => console.log(`flush: ${f.sent} of ${f.requested} taken by the kernel`)); // every sendmmsg outcome
  // dgram-style: queued now (the bytes are copied), leaves within 1 ms or when 64 are queued
  tx.send('hello', port, '127.0.0.1', (err) => {
    if (err) console.error('hello failed:', err.message);
  });
  // a registered destination: no address parsing per datagram
  const peer = tx.peer(port, '127.0.0.1');
  if (!peer.send('world')) console.error('queue full: dropped and counted; wait for the drain event');
});
