/**
 * addon/rtcp_intake.h through src/relay/inbound-rtcp.ts, on a real socket over loopback: a
 * viewer's SRTCP, protected by werift's own SrtcpSession (what a werift viewer runs), is
 * taken in natively in the socket's receive loop when it holds only reports — its numbers
 * then land in the viewer's stats row and JS never sees it — while NACK, PLI, reported video
 * loss, forgeries, other senders and everything that is not RTCP reach JS unchanged and in
 * order. Every datagram is accounted for: received = taken + delivered, and the intake's
 * offered = taken + passed + unauthenticated. Both SRTP profiles.
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createBatchSocket, type BatchSocket, type RecvBatch } from '../../src/index.js';
import { InboundRtcp, type InboundRtcpViewer } from '../../src/relay/inbound-rtcp.js';
import { FANOUT, loadNative, type NativeBinding } from '../../src/native/binding.js';
import type { ParsedRtcp } from '../../src/rtcp/parse.js';
import { rawNack, rawPsfb, rawReceiverReport, rawSdesCname } from '../unit/rtcp-packets.js';
import { batchAvailable, bindLocal, until } from './helpers.js';
import { viewerSide } from './srtcp-viewer.js';

const loaded = loadNative();
const binding = loaded.ok ? (loaded.binding as NativeBinding) : undefined;
const available = batchAvailable && InboundRtcp.available() && typeof binding?.RtcpIntake === 'function';
const PROFILES = [
  ['SRTP_AES128_CM_HMAC_SHA1_80', 0x0001, 14],
  ['SRTP_AEAD_AES_128_GCM', 0x0007, 12],
] as const;
const VIDEO = 0x1111;
const AUDIO = 0x2222;


const rr = (fractionLost: number, jitter: number, audio?: { fractionLost: number; jitter: number }): Buffer =>
  rawReceiverReport(0xaaaa0001, [
    { ssrc: VIDEO, fractionLost, packetsLost: 3, highestSequence: 500, jitter, lsr: 0, dlsr: 0 },
    ...(audio ? [{ ssrc: AUDIO, fractionLost: audio.fractionLost, packetsLost: -2, highestSequence: 90, jitter: audio.jitter, lsr: 0, dlsr: 0 }] : []),
  ]);

const opened: { close(): unknown }[] = [];
afterEach(() => {
  for (const s of opened.splice(0)) s.close();
});

async function udpSender(): Promise<{ port: number; send(b: Buffer, to: number): Promise<void> }> {
  const s = dgram.createSocket('udp4');
  opened.push(s);
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return {
    port: s.address().port,
    send: (b, to) => new Promise<void>((resolve, reject) => s.send(b, to, '127.0.0.1', (err) => (err ? reject(err) : resolve()))),
  };
}

/** The receiving side as the ICE mux does it: RTCP-looking datagrams to the viewer's sink, a flush per batch; everything delivered is recorded. */
async function receiver(): Promise<{ rx: BatchSocket; port: number; delivered: Buffer[]; attach(v: InboundRtcpViewer): void }> {
  const rx = createBatchSocket({ type: 'udp4', backend: 'batch', recvBufferSize: 1 << 20 });
  opened.push(rx);
  const port = await bindLocal(rx);
  const delivered: Buffer[] = [];
  let viewer: InboundRtcpViewer | undefined;
  rx.on('batch', (b: RecvBatch) => {
    for (let i = 0; i < b.count; i++) {
      const d = Buffer.from(b.datagram(i));
      delivered.push(d);
      if (viewer && d[0] >> 6 === 2 && d[1] >= 192 && d[1] <= 223) viewer.sink.push(d);
    }
    viewer?.sink.flush();
  });
  return { rx, port, delivered, attach: (v) => (viewer = v) };
}

describe.skipIf(!available)('RtcpIntake: viewers’ receiver reports taken in natively in the receive loop', () => {
  for (const [name, profile, saltLength] of PROFILES) {
    it(`${name}: loss-free reports are taken; feedback, video loss, forgeries, other senders and non-RTCP reach JS in order`, async () => {
      const { rx, port, delivered, attach } = await receiver();
      const tx = await udpSender();
      const stranger = await udpSender();
      const side = viewerSide(profile, saltLength);
      const inbound = new InboundRtcp();
      const handled: number[][] = [];
      const v = inbound.add(side.keys, (p: ParsedRtcp[]) => handled.push(p.map((x) => x.type)), { socket: rx, address: '127.0.0.1', port: tx.port, videoSsrc: VIDEO, audioSsrc: AUDIO });
      attach(v);
      expect(v.native).toBe(true);
      const t0 = Date.now();

      const forged = side.protect(rr(0, 50));
      forged[12] ^= 0x40; // inside the encrypted part: authentication fails
      const rtp = Buffer.from([0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 1, 2, 3]);
      const stun = Buffer.alloc(20);
      stun.writeUInt16BE(0x0001, 0);
      stun.writeUInt32BE(0x2112a442, 4);
      const plan: [who: 'tx' | 'stranger', bytes: Buffer, fate: 'taken' | 'js'][] = [
        ['tx', side.protect(rr(0, 90, { fractionLost: 7, jitter: 480 })), 'taken'], // loss on audio is only remembered
        ['tx', rtp, 'js'],
        ['tx', side.protect(Buffer.concat([rr(0, 91), rawNack(VIDEO, [[41, 0]])])), 'js'], // feedback
        ['tx', side.protect(rr(5, 92)), 'js'], // loss on video: the keyframe policy hears it
        ['tx', side.protect(Buffer.concat([rr(0, 93), rawSdesCname(0xaaaa0001, 'viewer')])), 'taken'],
        ['tx', forged, 'js'],
        ['tx', side.protect(rawPsfb(1, VIDEO)), 'js'], // PLI
        ['stranger', side.protect(rr(0, 94)), 'js'], // not the viewer's address
        ['tx', stun, 'js'],
        ['tx', side.protect(rr(0, 123)), 'taken'],
      ];
      for (const [who, bytes] of plan) await (who === 'tx' ? tx : stranger).send(bytes, port);
      expect(await until(() => rx.stats().received === plan.length, 10_000)).toBe(true);
      const st = rx.stats();
      expect(st.recvKernelDrops).toBe(0);
      expect(st.recvTaken).toBe(3);
      // What JS got is exactly the rest, byte for byte, in the order sent.
      expect(delivered).toEqual(plan.filter(([, , fate]) => fate === 'js').map(([, b]) => b));
      expect(handled).toEqual([[201, 205], [201], [206], [201]]);
      expect(inbound.counters).toMatchObject({ received: 5, handled: 4, rejected: 1, malformed: 0, orphaned: 0 });
      expect(inbound.intakeCounters).toEqual({ offered: 7, taken: 3, passed: 3, unauthenticated: 1 });
      // The last taken report's numbers, read from native memory without a call.
      expect(v.report('video')).toMatchObject({ fractionLost: 0, packetsLost: 3, jitter: 123 });
      expect(v.report('audio')).toMatchObject({ fractionLost: 7, packetsLost: -2, jitter: 480 });
      expect(v.lastHeard()).toBeGreaterThanOrEqual(t0);
      expect(v.lastHeard()).toBeLessThanOrEqual(Date.now());
      v.close();
    });
  }

  it('follows the viewer to a new address (setPeer); after close nothing is taken for it', async () => {
    const { rx, port, delivered, attach } = await receiver();
    const first = await udpSender();
    const second = await udpSender();
    const side = viewerSide(0x0007, 12);
    const inbound = new InboundRtcp();
    const v = inbound.add(side.keys, () => {}, { socket: rx, address: '127.0.0.1', port: first.port, videoSsrc: VIDEO });
    attach(v);
    const sent = async (from: { send(b: Buffer, to: number): Promise<void> }, n: number): Promise<void> => {
      await from.send(side.protect(rr(0, 1)), port);
      expect(await until(() => rx.stats().received === n, 10_000)).toBe(true);
    };
    await sent(first, 1);
    await sent(second, 2);
    expect([rx.stats().recvTaken, delivered.length]).toEqual([1, 1]);
    v.setPeer('127.0.0.1', second.port);
    await sent(second, 3);
    await sent(first, 4);
    expect([rx.stats().recvTaken, delivered.length]).toEqual([2, 2]);
    v.close();
    expect(v.native).toBe(false);
    await sent(second, 5);
    expect([rx.stats().recvTaken, delivered.length]).toEqual([2, 3]);
    expect(v.report('video')).toBeUndefined();
  });

  it('a viewer without an address the intake can key keeps the JS path; bad arguments to the native class throw before anything changes', async () => {
    const { rx } = await receiver();
    const side = viewerSide(0x0001, 14);
    const inbound = new InboundRtcp();
    const v = inbound.add(side.keys, () => {}, { socket: rx, address: 'not-an-ip', port: 5000, videoSsrc: VIDEO });
    expect(v.native).toBe(false);
    v.close();
    const RtcpIntake = binding!.RtcpIntake;
    expect(() => new RtcpIntake(0)).toThrow(RangeError);
    const intake = new RtcpIntake(2);
    const key = randomBytes(16);
    expect(() => intake.add(2, '127.0.0.1', 1, 1, key, randomBytes(14), -1, -1)).toThrow(RangeError); // row out of range
    expect(() => intake.add(0, '127.0.0.1', 1, 1, key, randomBytes(12), -1, -1)).toThrow(/salt/); // GCM's salt length with AES-CM
    expect(() => intake.add(0, '127.0.0.1', 1, 0x99, key, randomBytes(14), -1, -1)).toThrow(/profile/);
    expect(() => intake.add(0, '::1::2', 1, 1, key, randomBytes(14), -1, -1)).toThrow(TypeError);
    expect(() => intake.setPeer(1, '127.0.0.1', 2)).toThrow(/no peer/);
    intake.remove(1); // idempotent on an empty row
    const native = new binding!.UdpSocket(4, null, { onRecv() {}, onWritable() {}, onRecvError() {} } as never);
    expect(() => native.setIntake({} as never)).toThrow(TypeError);
    expect(() => native.setIntake(new binding!.RtpFanout(new Float64Array(FANOUT.STRIDE), new Float64Array(FANOUT.IO_LENGTH)) as never)).toThrow(TypeError);
    native.setIntake(intake);
    native.setIntake(null);
    native.close();
    expect(() => native.setIntake(intake)).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' }));
  });
});
