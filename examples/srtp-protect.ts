import { randomBytes } from 'node:crypto';
import { SrtpBatch, SrtpContextTable } from 'dgram-sendmmsg-native/srtp';

const keys = { profile: 'SRTP_AEAD_AES_128_GCM', masterKey: randomBytes(16), masterSalt: randomBytes(12) } as const; // 16 + 12 (GCM) / 14 (CM) bytes
const sender = new SrtpContextTable();
const receiver = new SrtpContextTable();
const id = sender.add(keys);
const rxId = receiver.add(keys);

const header = Buffer.from([0x80, 96, 0, 1, 0, 0, 0x0b, 0xb8, 0x12, 0x34, 0xab, 0xcd]); // RTP: PT 96, seq 1, SSRC 0x1234abcd
const rtpPacket = Buffer.concat([header, Buffer.from('payload')]);
const srtp = sender.protectRtp(id, rtpPacket); // one packet, copied (tests, rare packets)
const rtp = receiver.unprotectRtp(rxId, srtp); // throws ERR_SRTP_AUTH_FAILED on a wrong key / tampering
console.log(`one packet: ${rtpPacket.length} -> ${srtp.length} bytes -> ${rtp.equals(rtpPacket) ? 'same' : 'DIFFERENT'}`);

const batch = new SrtpBatch(); // many packets, many contexts, one native call
for (let seq = 2; seq < 12; seq++) {
  const h = Buffer.from(header);
  h.writeUInt16BE(seq, 2);
  batch.push(id, h, Buffer.from(`payload ${seq}`));
}
const failed = sender.protectBatch('rtp', batch); // in place; batch.packet(i), batch.status[i]
console.log(`batch: ${batch.count} packets protected in one call, ${failed} failed`);
