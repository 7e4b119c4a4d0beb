/**
 * Relay fan-out: one ingest socket receives RTP, and every packet goes out to each of N
 * viewers through one output socket. In `'tick'` mode everything produced while handling
 * one receive batch leaves together in one sendmmsg(2) at the end of the event-loop turn,
 * to registered peers (no address parsing per datagram), with `order: 'per-peer'` so equal-size
 * runs to one viewer can go out as GSO messages where the kernel supports it.
 *
 * Everything runs on loopback: a source sends 200 RTP packets to the ingest port, 4 viewer
 * sockets receive the copies; the program ends when every viewer has all 200.
 */
import { createBatchSocket, type BatchSocket, type Peer } from 'dgram-sendmmsg-native';

const PACKETS = 200;
const VIEWERS = 4;

function bound(sock: BatchSocket): Promise<number> {
  return new Promise((resolve) => sock.bind(0, '127.0.0.1', () => resolve(sock.address().port)));
}

/** A minimal RTP packet (RFC 3550 §5.1): version 2, payload type 96, sequence number `seq`. */
function rtp(seq: number): Buffer {
  const p = Buffer.alloc(12 + 1000);
  p[0] = 0x80;
  p[1] = 96;
  p.writeUInt16BE(seq & 0xffff, 2);
  p.writeUInt32BE(seq * 3000, 4);
  p.writeUInt32BE(0x1234abcd, 8);
  return p;
}

async function main(): Promise<void> {
  // Viewers: plain receivers that count what they get.
  const viewers = Array.from({ length: VIEWERS }, () => createBatchSocket({ type: 'udp4', recvBufferSize: 1 << 20 }));
  const got = new Array<number>(VIEWERS).fill(0);
  const viewerPorts = await Promise.all(viewers.map(bound));
  const allIn = new Promise<void>((resolve) =>
    viewers.forEach((v, i) =>
      v.on('batch', (b) => {
        got[i] += b.count;
        if (got.every((n) => n >= PACKETS)) resolve();
      }),
    ),
  );

  // The relay: ingest in, fan-out through one output socket.
  const ingest = createBatchSocket({ type: 'udp4', recvBufferSize: 1 << 20 });
  const out = createBatchSocket({ type: 'udp4', mode: 'tick', order: 'per-peer' });
  const peers: Peer[] = viewerPorts.map((port) => out.peer(port, '127.0.0.1'));
  ingest.on('batch', (batch) => {
    for (let i = 0; i < batch.count; i++) {
      const packet = batch.datagram(i); // a view, valid during this handler: send() copies it
      for (const peer of peers) peer.send(packet);
    }
  });
  const ingestPort = await bound(ingest);

  // The source: 200 packets, 20 per event-loop turn.
  const source = createBatchSocket({ type: 'udp4' });
  for (let seq = 0; seq < PACKETS; seq++) {
    source.send(rtp(seq), ingestPort, '127.0.0.1');
    if (seq % 20 === 19) await new Promise((r) => setTimeout(r, 1));
  }

  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: viewers got ${got.join(', ')} of ${PACKETS}`)), 10_000);
  });
  await Promise.race([allIn, timeout]);
  clearTimeout(timer);
  const s = out.stats();
  console.log(`relay: ${PACKETS} packets x ${VIEWERS} viewers = ${s.sent} datagrams in ${s.syscalls} sendmmsg calls (backend ${out.backend}, GSO messages ${s.gsoMessages})`);
  console.log(`viewers received: ${got.join(', ')}`);
  for (const sock of [source, ingest, out, ...viewers]) sock.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
