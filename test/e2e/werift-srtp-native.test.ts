/**
 * `installWeriftBatching(werift, { srtp: 'native' })`: werift sends RTP/RTCP protected by the
 * addon's SRTP, a stock werift peer (the other build, ESM vs CJS, with werift's own JS SRTP)
 * decrypts it — both profiles, across the sequence number wrap — and stock behaviour stays
 * when the option is off or the plug is uninstalled.
 *
 * The werift under test is the package's devDependency, or the one installed under
 * WERIFT_DIR (e.g. a directory where `npm install werift@0.24.4` ran), to cover the supported
 * range `>=0.24.4 <0.26.0`.
 *
 * Network: 127.0.0.1 only (host candidates from `iceAdditionalHostAddresses`, interface
 * enumeration off, and a STUN responder on loopback: werift-pair.ts).
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as weriftDev from 'werift';
import { SrtpContextTable } from '../../src/srtp/index.js';
import { installWeriftBatching } from '../../src/werift/index.js';
import { fixDtlsHelloVerify, loopbackPcConfig, negotiate, startStunResponder, waitFor, type StunResponder } from './werift-pair.js';

type Werift = typeof weriftDev;
const WERIFT_DIR = process.env.WERIFT_DIR;
let weriftEsm: Werift;
let weriftCjs: Werift;
let weriftVersion = '';

const CONNECT_TIMEOUT_MS = 15_000;
const PACKETS = 200;
const GCM = 0x0007;
const CM = 0x0001;

let stun: StunResponder;
let unfixDtls: () => void = () => {};

/**
 * Offers only `profiles` from both builds' DTLS transports (werift prefers GCM and has no
 * option for it): a test-only override of `RTCDtlsTransport#start`. Returns the undo.
 */
function forceSrtpProfiles(profiles: number[]): () => void {
  const undo: (() => void)[] = [];
  for (const w of [weriftEsm, weriftCjs]) {
    const proto = w.RTCDtlsTransport.prototype as unknown as { start: (...a: unknown[]) => unknown; srtpProfiles: number[] };
    const start = proto.start;
    proto.start = function (this: { srtpProfiles: number[] }, ...args: unknown[]) {
      this.srtpProfiles = [...profiles];
      return start.apply(this, args);
    };
    undo.push(() => {
      proto.start = start;
    });
  }
  return () => undo.forEach((u) => u());
}

interface Pair {
  sender: InstanceType<Werift['RTCPeerConnection']>;
  receiver: InstanceType<Werift['RTCPeerConnection']>;
  received: { seq: number; payload: Buffer }[];
  rtcp: { type: number; ssrc: number }[];
  write(seq: number, tag: number): void;
  senderDtls(): InstanceType<Werift['RTCDtlsTransport']>;
  close(): Promise<void>;
}

async function connectPair(): Promise<Pair> {
  const sender = new weriftEsm.RTCPeerConnection(loopbackPcConfig(stun.port));
  const receiver = new weriftCjs.RTCPeerConnection(loopbackPcConfig(stun.port));
  const track = new weriftEsm.MediaStreamTrack({ kind: 'video' });
  sender.addTransceiver(track, { direction: 'sendonly' });
  const received: Pair['received'] = [];
  const rtcp: Pair['rtcp'] = [];
  receiver.onTrack.subscribe((t) => {
    t.onReceiveRtp.subscribe((p) => received.push({ seq: p.header.sequenceNumber, payload: Buffer.from(p.payload) }));
  });
  await negotiate(sender, receiver, CONNECT_TIMEOUT_MS);
  const dtlsOf = (pc: unknown) => (pc as { dtlsTransports: InstanceType<Werift['RTCDtlsTransport']>[] }).dtlsTransports[0];
  dtlsOf(receiver).onRtcp.subscribe((p: { type: number; ssrc?: number }) => rtcp.push({ type: p.type, ssrc: p.ssrc ?? -1 }));
  return {
    sender,
    receiver,
    received,
    rtcp,
    write(seq, tag) {
      const header = new weriftEsm.RtpHeader({ payloadType: 96, sequenceNumber: seq & 0xffff, timestamp: seq * 3000, ssrc: 0x4242, marker: true });
      track.writeRtp(new weriftEsm.RtpPacket(header, Buffer.alloc(300 + (seq % 50), tag)));
    },
    senderDtls: () => dtlsOf(sender),
    async close() {
      await Promise.allSettled([sender.close(), receiver.close()]);
    },
  };
}

const available = SrtpContextTable.available();

beforeAll(async () => {
  if (WERIFT_DIR) {
    const req = createRequire(join(WERIFT_DIR, 'package.json'));
    weriftCjs = req('werift') as Werift;
    weriftEsm = (await import(pathToFileURL(join(WERIFT_DIR, 'node_modules', 'werift', 'lib', 'index.mjs')).href)) as Werift;
    weriftVersion = (JSON.parse(readFileSync(join(WERIFT_DIR, 'node_modules', 'werift', 'package.json'), 'utf8')) as { version: string }).version;
  } else {
    weriftEsm = weriftDev;
    weriftCjs = createRequire(import.meta.url)('werift') as Werift;
    weriftVersion = (JSON.parse(readFileSync(new URL('../../node_modules/werift/package.json', import.meta.url), 'utf8')) as { version: string }).version;
  }
  console.log(`werift srtp:'native' e2e: werift ${weriftVersion}, Node ${process.version}`);
  stun = await startStunResponder();
  unfixDtls = fixDtlsHelloVerify(weriftEsm, weriftCjs);
});
afterAll(() => {
  stun?.close();
  unfixDtls();
});

describe.skipIf(!available)("werift plug with srtp: 'native'", () => {
  for (const [name, profile] of [
    ['AEAD_AES_128_GCM', GCM],
    ['AES_CM_128_HMAC_SHA1_80', CM],
  ] as const) {
    it(`${name}: a stock werift peer decrypts RTP (across seq 65535 → 0) and RTCP the addon protected, in batches`, async () => {
      const undoProfiles = profile === CM ? forceSrtpProfiles([CM]) : () => {};
      const plug = installWeriftBatching(weriftEsm, { srtp: 'native' });
      let pair: Pair | undefined;
      try {
        pair = await connectPair();
        const dtls = pair.senderDtls() as unknown as { srtp: { config: { profile: number } }; packetsSent: number };
        expect(dtls.srtp.config.profile).toBe(profile);
        const first = 65536 - PACKETS / 2; // half before the wrap, half after
        for (let i = 0; i < PACKETS; i++) {
          pair.write(first + i, i & 0xff);
          if (i % 20 === 19) await new Promise((r) => setTimeout(r, 2));
        }
        await waitFor(() => pair!.received.length >= PACKETS, 10_000, 'RTP at the stock werift peer', () => `${pair!.received.length} received; ${JSON.stringify(plug.stats().srtp)}`);
        expect(pair.received.map((r) => r.seq)).toEqual(Array.from({ length: PACKETS }, (_, i) => (first + i) & 0xffff));
        pair.received.forEach((r, i) => expect(r.payload.equals(Buffer.alloc(300 + ((first + i) % 50), i & 0xff))).toBe(true));
        const s = plug.stats().srtp!;
        expect(s.mode).toBe('native');
        expect(s.rtpProtected).toBeGreaterThanOrEqual(PACKETS);
        expect(s.failed).toBe(0);
        expect(s.contexts).toBe(1);
        expect(s.batches).toBeLessThan(s.rtpProtected); // 20 packets per event-loop turn went out per native call
        expect(dtls.packetsSent).toBeGreaterThanOrEqual(PACKETS);
        // RTCP through the hooked sendRtcp (native SRTCP), decrypted by the stock peer.
        const sr = new weriftEsm.RtcpSrPacket({
          ssrc: 0x4242,
          senderInfo: new weriftEsm.RtcpSenderInfo({ ntpTimestamp: 1n << 40n, rtpTimestamp: 1, packetCount: PACKETS, octetCount: 1000 }),
        });
        const rtcpBefore = plug.stats().srtp!.rtcpProtected;
        for (let i = 0; i < 3; i++) await pair.senderDtls().sendRtcp([sr]);
        await waitFor(() => pair!.rtcp.filter((p) => p.type === 200 && p.ssrc === 0x4242).length >= 3, 5_000, 'SRTCP sender reports at the peer');
        expect(plug.stats().srtp!.rtcpProtected).toBeGreaterThanOrEqual(rtcpBefore + 3);
        expect(plug.stats().srtp!.stockCalls).toBe(0);
      } finally {
        await pair?.close();
        await plug.uninstall();
        undoProfiles();
      }
    });
  }

  it("stock werift SRTP when the option is off, and again after uninstall", async () => {
    const proto = weriftEsm.RTCDtlsTransport.prototype as unknown as { sendRtp: unknown; sendRtcp: unknown };
    const { sendRtp, sendRtcp } = proto;
    const off = installWeriftBatching(weriftEsm, {});
    expect(proto.sendRtp).toBe(sendRtp);
    expect(off.stats().srtp).toBeUndefined();
    await off.uninstall();
    const on = installWeriftBatching(weriftEsm, { srtp: 'native' });
    expect(proto.sendRtp).not.toBe(sendRtp);
    expect(proto.sendRtcp).not.toBe(sendRtcp);
    await on.uninstall();
    expect(proto.sendRtp).toBe(sendRtp);
    expect(proto.sendRtcp).toBe(sendRtcp);
    // werift's own SRTP after uninstall: packets still arrive.
    const pair = await connectPair();
    try {
      for (let i = 0; i < 20; i++) pair.write(i, 9);
      await waitFor(() => pair.received.length >= 20, 10_000, 'RTP with stock SRTP');
      expect(on.stats().srtp!.rtpProtected).toBe(0);
    } finally {
      await pair.close();
    }
  });

  it('rejects a bad srtp option with a typed error', () => {
    expect(() => installWeriftBatching(weriftEsm, { srtp: 'fast' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => installWeriftBatching({ UdpTransport: weriftEsm.UdpTransport }, { srtp: 'native' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });
});
