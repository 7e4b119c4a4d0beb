/**
 * A werift app with the plug: two RTCPeerConnections in one process whose ICE sockets are
 * batched sockets, so ICE, DTLS and SRTP/RTP go out through sendmmsg(2). The sender writes
 * 100 RTP packets to a video track; the program ends when the receiver has all of them.
 * (A server with many viewers would pass `{ sharedPort: 8189 }` to put every connection on
 * one UDP port, so one packet fanned out to N viewers leaves in one sendmmsg.)
 *
 * Everything stays on loopback: host candidates 127.0.0.1 only, and the STUN server werift
 * asks for its server-reflexive candidate is a tiny responder in this file (without one,
 * werift would ask a public STUN server).
 */
import dgram from 'node:dgram';
import * as werift from 'werift';
import { installWeriftBatching } from 'dgram-sendmmsg-native/werift';

const PACKETS = 100;

/** A STUN binding responder (RFC 8489 §5, XOR-MAPPED-ADDRESS §14.2) on 127.0.0.1. */
function stunResponder(): Promise<dgram.Socket> {
  const stun = dgram.createSocket('udp4');
  stun.on('message', (msg, rinfo) => {
    if (msg.length < 20 || msg.readUInt16BE(0) !== 0x0001 || msg.readUInt32BE(4) !== 0x2112a442) return;
    const res = Buffer.alloc(32);
    res.writeUInt16BE(0x0101, 0); // binding success response
    res.writeUInt16BE(12, 2);
    msg.copy(res, 4, 4, 20); // magic cookie + transaction id
    res.writeUInt16BE(0x0020, 20); // XOR-MAPPED-ADDRESS
    res.writeUInt16BE(8, 22);
    res.writeUInt16BE(0x0001, 24); // IPv4
    res.writeUInt16BE(rinfo.port ^ 0x2112, 26);
    const ip = rinfo.address.split('.').map(Number);
    res.writeUInt32BE((((ip[0] << 24) | (ip[1] << 16) | (ip[2] << 8) | ip[3]) ^ 0x2112a442) >>> 0, 28);
    stun.send(res, rinfo.port, rinfo.address);
  });
  return new Promise((resolve) => stun.bind(0, '127.0.0.1', () => resolve(stun)));
}

async function main(): Promise<void> {
  const stun = await stunResponder();
  const config = {
    iceServers: [{ urls: `stun:127.0.0.1:${stun.address().port}` }],
    iceUseIpv4: false,
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceInterfaceAddresses: { udp4: '127.0.0.1' },
  };
  // Install on the werift module this app loaded (ESM here; a CommonJS app passes require('werift')).
  const batching = installWeriftBatching(werift);

  const sender = new werift.RTCPeerConnection(config);
  const receiver = new werift.RTCPeerConnection(config);
  const track = new werift.MediaStreamTrack({ kind: 'video' });
  sender.addTransceiver(track, { direction: 'sendonly' });
  let received = 0;
  const allIn = new Promise<void>((resolve) => {
    receiver.onTrack.subscribe((t) =>
      t.onReceiveRtp.subscribe(() => {
        if (++received === PACKETS) resolve();
      }),
    );
  });
  const connectedOne = (pc: werift.RTCPeerConnection): Promise<void> =>
    new Promise<void>((resolve, reject) =>
      pc.connectionStateChange.subscribe((s) => {
        if (s === 'connected') resolve();
        if (s === 'failed') reject(new Error('ICE/DTLS failed'));
      }),
    );
  // Both ends: the receiver needs its DTLS (SRTP keys) done before it can decrypt.
  const connected = Promise.all([connectedOne(sender), connectedOne(receiver)]);

  await sender.setLocalDescription(await sender.createOffer());
  await receiver.setRemoteDescription(sender.localDescription!);
  await receiver.setLocalDescription(await receiver.createAnswer());
  await sender.setRemoteDescription(receiver.localDescription!);

  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${received} of ${PACKETS} RTP packets received`)), 20_000);
  });
  await Promise.race([connected, timeout]);
  for (let seq = 0; seq < PACKETS; seq++) {
    const header = new werift.RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp: seq * 3000, ssrc: 0x1234, marker: true });
    track.writeRtp(new werift.RtpPacket(header, Buffer.alloc(200, seq & 0xff)));
    if (seq % 20 === 19) await new Promise((r) => setTimeout(r, 2));
  }
  await Promise.race([allIn, timeout]);
  clearTimeout(timer);

  const s = batching.stats();
  console.log(`werift: ${received} RTP packets received; plug ${JSON.stringify({ topology: batching.topology, backends: s.backends, sent: s.sent, syscalls: s.syscalls })}`);
  await Promise.allSettled([sender.close(), receiver.close()]);
  await batching.uninstall();
  stun.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
