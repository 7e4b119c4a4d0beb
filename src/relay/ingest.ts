/**
 * RTP ingest for one stream: a UDP socket on the stream's port, read through the batch
 * receive path (recvmmsg; batches of all ingest ports delivered once per event-loop
 * iteration, `recvDispatch: 'loop'`), each datagram handed to the stream
 * with its sender (the stream locks to one source) and the batch's arrival time.
 * ffmpeg (`-f rtp`) and GStreamer (`rtph264pay ! udpsink`) send exactly this.
 *
 * With the fast egress, the socket also gets an ingest route (steady-ingest.ts): batches
 * that need no decision of the stream are forwarded by the native fan-out before they
 * would reach the handler below.
 */
import { isIPv6 } from 'node:net';
import { createBatchSocket, type BatchSocket, type RecvBatch } from '../index.js';
import { loadNative } from '../native/binding.js';
import { bindAndListen } from '../socket/listen.js';
import { NativeBatchSocket } from '../socket/native-socket.js';
import { SteadyIngest } from './steady-ingest.js';
import { INGEST_MAX_RTP_BYTES, type RelayStream } from './stream.js';

/** Opens the ingest socket of `stream` on `host`:`port` (0 = any free port); resolves with the bound port. */
export async function openIngest(stream: RelayStream, host: string, port: number): Promise<{ socket: BatchSocket; port: number }> {
  // 'loop': the batches of every ingest port read in one event-loop iteration reach JS in
  // one call (a relay with many streams has ~3 ports readable per iteration).
  const socket = createBatchSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', recvBufferSize: 4 << 20, recvDispatch: 'loop' });
  socket.on('batch', (batch: RecvBatch) => {
    const bytes = batch.bytes;
    const now = Date.now();
    let address = '';
    let port = 0;
    stream.beginBatch(bytes);
    for (let i = 0; i < batch.count; i++) {
      // The sender is decoded only where it changes (usually once per batch): no string per datagram.
      if (i === 0 || !batch.sameRemote(i, i - 1)) {
        const from = batch.remote(i);
        address = from.address;
        port = from.port;
      }
      stream.onDatagram(bytes, batch.offset(i), batch.length(i), address, port, now);
    }
    stream.endBatch(now);
  });
  await bindAndListen(socket, port, host);
  const native = loadNative();
  if (stream.config.fast && native.ok && socket instanceof NativeBatchSocket) {
    const { videoPayloadType, audioPayloadType } = stream.config;
    stream.useSteadyIngest(new SteadyIngest(socket, (bytes) => native.binding.allocShared(bytes), { videoPayloadType, audioPayloadType, maxLength: INGEST_MAX_RTP_BYTES }));
  }
  // A receive error (e.g. ICMP from a peer) must not kill the relay; it is counted in stats().
  socket.on('error', () => {});
  return { socket, port: socket.address().port };
}
