/**
 * What werift's RTCRtpSender did for a viewer keeps working when the viewer's RTP leaves on
 * the native fast path (src/fanout/ over the plug's shared port), which werift never sees:
 * a werift viewer (the CJS build, its own sockets) connects to the relay's `Viewer` (ESM
 * werift + the batching plug), then RTP reaches it only through `RtpFanout.forward`, paced
 * in real time; the relay's RTCP side is `Viewer.useFastPathRtcp(fanoutRtcp(...))`.
 *
 * - Sender reports: the viewer receives SRs for both SSRCs (none from werift's own loop,
 *   which would count 0), each counting exactly the packets and payload octets it had
 *   received when the SR arrived (same socket, same order), and mapping RTP time to NTP
 *   time so that the media timestamps' arrival times agree within a few ms.
 * - NACK: chosen video packets are dropped at the viewer's ICE connection on their first
 *   arrival (a test hook before SRTP); werift's NACK generator asks, the relay resends
 *   from the native history, and the viewer ends with no gap.
 * - PLI and FIR from the viewer are counted and reach the keyframe policy.
 * - Every datagram the viewer gets (RTP and RTCP, after SRTP) is at most 1200 bytes.
 *
 * Kernel receive-buffer drops at the viewer's port are read from /proc/net/udp and reported.
 *
 * WERIFT_DIR (a directory where `npm install werift@0.24.4` ran) runs both sides on that
 * werift instead of the dev dependency, to cover the supported range (0.24.4–0.25.x).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as weriftDev from 'werift';
import { installWeriftBatching, type WeriftBatching } from '../../src/werift/index.js';
import { Viewer } from '../../src/relay/viewer.js';
import { fanoutRtcp } from '../../src/relay/fanout-rtcp.js';
import { FastEgress } from '../../src/relay/fast-egress.js';
import { startRelay } from '../../src/relay/relay.js';
import { KeyframeMark, keyframeMark } from '../../src/relay/h264.js';
import dgram from 'node:dgram';
import { FanoutBatch, RtpFanout, fanoutUnavailableReason } from '../../src/fanout/index.js';
import { unixMsFromNtp } from '../../src/rtcp/sender-report.js';
import { candidatePort, udpDrops, until, weriftCjs as weriftDevCjs, type ViewerPc } from './whep-client.js';

type Werift = typeof weriftDev;
let weriftEsm: Werift = weriftDev;
let weriftCjs: Werift = weriftDevCjs;
beforeAll(async () => {
  const dir = process.env.WERIFT_DIR;
  let version = (JSON.parse(readFileSync(new URL('../../node_modules/werift/package.json', import.meta.url), 'utf8')) as { version: string }).version;
  if (dir) {
    weriftCjs = createRequire(join(dir, 'package.json'))('werift') as Werift;
    weriftEsm = (await import(pathToFileURL(join(dir, 'node_modules', 'werift', 'lib', 'index.mjs')).href)) as Werift;
    version = (JSON.parse(readFileSync(join(dir, 'node_modules', 'werift', 'package.json'), 'utf8')) as { version: string }).version;
  }
  console.log(`fast-path RTCP e2e: werift ${version}, Node ${process.version}`);
});

const available = fanoutUnavailableReason() === undefined;
const VIDEO_PT = 96;
const AUDIO_PT = 97;

/** One synthetic ingest packet, due `atMs` after the start. */
interface MediaPacket {
  atMs: number;
  bytes: Buffer;
  video: boolean;
}

/**
 * `seconds` of media: H.264-shaped video at 30 fps (a keyframe — STAP-A SPS/PPS + four IDR
 * FU-A fragments — every second, else two or three P-frame packets of 200–1100 bytes) and
 * Opus-shaped audio every 20 ms. Sequence numbers start at 1000 (no wrap: werift's NACK
 * generator does not handle one), every packet ≤ 1116 bytes, so ≤ 1200 after SRTP.
 */
function media(seconds: number, opts: { outOfBandSps?: boolean } = {}): MediaPacket[] {
  const out: MediaPacket[] = [];
  let vseq = 1000;
  let aseq = 1000;
  let rnd = 12345;
  const rand = (n: number): number => ((rnd = (rnd * 1103515245 + 12345) & 0x7fffffff) % n);
  const rtp = (pt: number, seq: number, ts: number, ssrc: number, marker: boolean, payload: Buffer): Buffer => {
    const b = Buffer.alloc(12 + payload.length);
    b[0] = 0x80;
    b[1] = (marker ? 0x80 : 0) | pt;
    b.writeUInt16BE(seq & 0xffff, 2);
    b.writeUInt32BE(ts >>> 0, 4);
    b.writeUInt32BE(ssrc, 8);
    payload.copy(b, 12);
    return b;
  };
  const filler = (nal: number, n: number): Buffer => {
    const p = Buffer.alloc(n, rand(256));
    p[0] = nal;
    return p;
  };
  for (let f = 0; f < seconds * 30; f++) {
    const atMs = (f * 1000) / 30;
    const ts = f * 3000;
    const payloads: Buffer[] = [];
    if (f % 30 === 0) {
      // SPS/PPS in one STAP-A before each IDR, or never (given out of band: the SDP's sprop-parameter-sets).
      if (!opts.outOfBandSps) payloads.push(Buffer.from([0x78, 0, 4, 0x67, 0x42, 0xc0, 0x1e, 0, 3, 0x68, 0xce, 0x3c]));
      for (let i = 0; i < 4; i++) {
        const p = filler(0x7c, 1100); // FU-A, NRI 3
        p[1] = (i === 0 ? 0x80 : 0) | (i === 3 ? 0x40 : 0) | 5; // S/E, IDR
        payloads.push(p);
      }
    } else {
      const n = 2 + rand(2);
      for (let i = 0; i < n; i++) {
        const p = filler(0x5c, 200 + rand(900)); // FU-A, NRI 2
        p[1] = (i === 0 ? 0x80 : 0) | (i === n - 1 ? 0x40 : 0) | 1;
        payloads.push(p);
      }
    }
    payloads.forEach((p, i) => out.push({ atMs, video: true, bytes: rtp(VIDEO_PT, vseq++, ts, 0x1111, i === payloads.length - 1, p) }));
  }
  for (let a = 0; a < seconds * 50; a++) out.push({ atMs: a * 20, video: false, bytes: rtp(AUDIO_PT, aseq++, a * 960, 0x2222, false, filler(0x78, 100 + rand(60))) });
  return out.sort((x, y) => x.atMs - y.atMs);
}

interface Arrival {
  seq: number;
  ts: number;
  at: number;
  payload: number;
}
interface SrSeen {
  at: number;
  ntpMs: number;
  rtpTs: number;
  packets: number;
  octets: number;
  /** What the viewer had received of that SSRC when the SR arrived (first arrivals, and all arrivals). */
  received: number;
  receivedOctets: number;
}

interface Session {
  pc: InstanceType<Werift['RTCPeerConnection']>;
  rv: Viewer;
  fanout: RtpFanout;
  ids: { video: number; audio: number };
  ssrc: { video: number; audio: number };
  arrivals: Map<number, Arrival[]>;
  srs: Map<number, SrSeen[]>;
  dropped: Set<number>;
  largest: number;
  viewerPort: number;
  /** The SRTP profile DTLS negotiated (IANA id). */
  profile: number;
  /** Plays `packets` in real time through the fan-out; resolves when the last is forwarded. */
  play(packets: MediaPacket[]): Promise<void>;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) {
    try {
      await c();
    } catch {
      // already closed
    }
  }
});

let batching: WeriftBatching | undefined;

/** The relay's viewer and a werift viewer, connected; RTP only through the native fan-out. */
async function session(opts: { drop?: (seq: number, index: number) => boolean } = {}): Promise<Session> {
  if (!batching) {
    batching = installWeriftBatching(weriftEsm, { sharedPort: true, sharedAddress: '127.0.0.1', socketOptions: { sendBufferSize: 4 << 20, recvBufferSize: 4 << 20 } });
    cleanups.push(async () => {
      await batching?.uninstall();
      batching = undefined;
    });
  }
  const { useH264, useOPUS, useNACK, usePLI } = weriftCjs;
  const pc = new weriftCjs.RTCPeerConnection({
    iceServers: [],
    iceUseIpv4: false,
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceInterfaceAddresses: { udp4: '127.0.0.1' },
    codecs: { video: [useH264({ rtcpFeedback: [useNACK(), usePLI()] })], audio: [useOPUS()] },
  });
  cleanups.push(() => pc.close());
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  await pc.setLocalDescription(await pc.createOffer());
  await until(() => pc.iceGatheringState === 'complete', 10_000);
  const rv = new Viewer(weriftEsm, { host: '127.0.0.1' });
  cleanups.push(() => rv.close());
  let relayConnected = false;
  rv.on((e) => {
    if (e === 'connected') relayConnected = true;
  });
  const answer = await rv.answer(pc.localDescription!.sdp);
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  expect(await until(() => relayConnected && pc.connectionState === 'connected', 30_000)).toBe(true);

  // What the relay does when a viewer connects (stream.ts attachFast): FastEgress.prepare
  // checks the viewer's senders and DTLS-SRTP keys, makes the fan-out on the plug's shared
  // socket and adds the viewer's SRTP session.
  const prepared = new FastEgress().prepare(rv.senders());
  if (typeof prepared === 'string') throw new Error(`the fast path cannot serve the viewer: ${prepared}`);
  const { fanout, session: sessionId, address, port } = prepared;
  cleanups.push(() => fanout.close());
  const stream = fanout.addStream();
  const ssrc = { video: rv.video!.rewrite.ssrc, audio: rv.audio!.rewrite.ssrc };
  const ids = {
    video: fanout.addOutput({ stream, session: sessionId, address, port, kind: 'video', ssrc: ssrc.video, payloadType: rv.video!.rewrite.payloadType }),
    audio: fanout.addOutput({ stream, session: sessionId, address, port, kind: 'audio', ssrc: ssrc.audio, payloadType: rv.audio!.rewrite.payloadType }),
  };
  for (const id of [ids.video, ids.audio]) {
    fanout.setOffsets(id, 0, 0);
    fanout.setLive(id, 0);
  }
  rv.useFastPathRtcp(fanoutRtcp(fanout, { ...ids, session: sessionId }));

  const s: Session = {
    pc,
    rv,
    fanout,
    ids,
    ssrc,
    arrivals: new Map([
      [ssrc.video, []],
      [ssrc.audio, []],
    ]),
    srs: new Map([
      [ssrc.video, []],
      [ssrc.audio, []],
    ]),
    dropped: new Set(),
    largest: 0,
    viewerPort: candidatePort(pc as unknown as ViewerPc),
    profile: Number((rv.senders().video as { dtlsTransport: { srtp: { config: { profile: number } } } }).dtlsTransport.srtp.config.profile),
    play: (packets) => play(fanout, stream, packets),
  };

  // The viewer's side: its ICE connection's datagrams (loss hook, sizes), then what its DTLS transport decrypts.
  type Ev<T extends unknown[]> = { execute: (...a: T) => void; subscribe(f: (...a: T) => void): unknown };
  const iceConns = new Set<{ onData: Ev<[Buffer, ...unknown[]]> }>();
  const dtlsSet = new Set<{ onRtp: Ev<[{ header: { ssrc: number; sequenceNumber: number; timestamp: number }; payload: Buffer }]>; onRtcp: Ev<[unknown]> }>();
  for (const t of pc.getTransceivers()) {
    const d = t.receiver.dtlsTransport as unknown as typeof dtlsSet extends Set<infer D> ? D & { iceTransport: { connection: { onData: Ev<[Buffer, ...unknown[]]> } } } : never;
    dtlsSet.add(d);
    iceConns.add(d.iceTransport.connection);
  }
  let videoIndex = 0;
  for (const conn of iceConns) {
    const original = conn.onData.execute;
    conn.onData.execute = (data: Buffer, ...rest: unknown[]) => {
      if (data.length >= 12 && data[0] >> 6 === 2) {
        s.largest = Math.max(s.largest, data.length);
        const isRtcp = data[1] >= 192 && data[1] <= 223;
        if (!isRtcp && data.readUInt32BE(8) === ssrc.video && opts.drop) {
          const seq = data.readUInt16BE(2);
          if (!s.dropped.has(seq) && !s.arrivals.get(ssrc.video)!.some((a) => a.seq === seq) && opts.drop(seq, videoIndex++)) {
            s.dropped.add(seq);
            return; // lost on the way (first arrival only)
          }
        }
      }
      original(data, ...rest);
    };
  }
  for (const d of dtlsSet) {
    d.onRtp.subscribe((p) => {
      const list = s.arrivals.get(p.header.ssrc);
      list?.push({ seq: p.header.sequenceNumber, ts: p.header.timestamp, at: Date.now(), payload: p.payload.length });
    });
    d.onRtcp.subscribe((p) => {
      const sr = p as { type: number; ssrc: number; senderInfo?: { ntpTimestamp: bigint; rtpTimestamp: number; packetCount: number; octetCount: number } };
      if (sr.type !== 200 || !sr.senderInfo) return;
      const list = s.srs.get(sr.ssrc);
      const got = s.arrivals.get(sr.ssrc);
      if (!list || !got) return;
      const ntp = sr.senderInfo.ntpTimestamp;
      list.push({
        at: Date.now(),
        ntpMs: unixMsFromNtp({ seconds: Number(ntp >> 32n), fraction: Number(ntp & 0xffffffffn) }),
        rtpTs: sr.senderInfo.rtpTimestamp,
        packets: sr.senderInfo.packetCount,
        octets: sr.senderInfo.octetCount,
        received: got.length,
        receivedOctets: got.reduce((n, a) => n + a.payload, 0),
      });
    });
  }
  return s;
}

/** Forwards each packet when it is due (a timer to the next due time; all due packets of a wake in one batch). */
function play(fanout: RtpFanout, stream: number, packets: MediaPacket[]): Promise<void> {
  const batch = new FanoutBatch();
  const arena = Buffer.alloc(256 * 1024);
  const t0 = Date.now();
  let next = 0;
  return new Promise((resolve) => {
    const tick = (): void => {
      const now = Date.now();
      batch.reset(arena);
      let off = 0;
      while (next < packets.length && packets[next].atMs <= now - t0 && off + 1200 < arena.length) {
        const p = packets[next++];
        p.bytes.copy(arena, off);
        batch.push(off, p.bytes.length, p.video);
        off += p.bytes.length;
      }
      if (batch.count > 0) fanout.forward(stream, batch, now);
      if (next >= packets.length) return resolve();
      setTimeout(tick, Math.max(0, t0 + packets[next].atMs - Date.now()));
    };
    tick();
  });
}

/**
 * Offers only `profiles` from both werift builds' DTLS transports (werift prefers GCM and has
 * no option for it): a test-only override of `RTCDtlsTransport#start`. Returns the undo.
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

/** Signed difference a - b of two RTP timestamps (mod 2^32). */
const tsDiff = (a: number, b: number): number => ((a - b) | 0);

describe.skipIf(!available)('RTCP of fast-path outputs with a werift viewer', () => {
  for (const [name, profile] of [
    ['AEAD_AES_128_GCM', 0x0007],
    ['AES128_CM_HMAC_SHA1_80', 0x0001],
  ] as const) {
  it(`${name}: sender reports count what the viewer got and map RTP to NTP time; PLI and FIR reach the keyframe policy; nothing over 1200 bytes`, async () => {
    if (profile === 0x0001) cleanups.push(forceSrtpProfiles([profile]));
    const s = await session();
    expect(s.profile).toBe(profile);
    const drops0 = udpDrops(s.viewerPort);
    await s.play(media(7));
    // The last reports after the media stopped count everything (0.5–1.5 s apart).
    expect(await until(() => [s.ssrc.video, s.ssrc.audio].every((x) => s.srs.get(x)!.some((r) => r.packets === s.fanout.packets(x === s.ssrc.video ? s.ids.video : s.ids.audio))), 10_000)).toBe(true);
    const kernelDrops = udpDrops(s.viewerPort) - drops0;
    for (const [kind, clockRate] of [
      ['video', 90000],
      ['audio', 48000],
    ] as const) {
      const srs = s.srs.get(s.ssrc[kind])!;
      const got = s.arrivals.get(s.ssrc[kind])!;
      expect(srs.length).toBeGreaterThanOrEqual(4); // 7 s at 0.5–1.5 s
      expect(srs.every((r) => r.packets > 0)).toBe(true); // werift's own loop (0 packets) is off
      // While the media flowed the fan-out queued them itself (in the batch that found one due);
      // after it stopped, the relay-wide check sent the overdue ones (the final counts above).
      expect(s.fanout.senderReports(s.ids[kind])).toBeGreaterThanOrEqual(3);
      if (kernelDrops === 0) expect(s.fanout.senderReports(s.ids[kind])).toBeLessThanOrEqual(srs.length);
      // Same socket, same order: an SR counts exactly what arrived before it (kernel drops aside).
      const mismatched = srs.filter((r) => r.packets !== r.received || r.octets !== r.receivedOctets);
      if (kernelDrops === 0) expect(mismatched).toEqual([]);
      else expect(srs.every((r) => r.packets >= r.received)).toBe(true);
      // RTP↔NTP: the SR maps the timestamp of the last packet before it (the one sent last:
      // same socket, same order) to when that packet left, so to its arrival here give or
      // take the loopback delivery (≥ 0) and the ms clocks' rounding. A wrong clock rate, a
      // wrong offset or the send-time anchor missed would show as tens of ms, growing with the
      // time since the last packet (reports after the media stopped extrapolate over seconds).
      const errors: number[] = [];
      for (const r of srs) {
        const last = got[r.received - 1]; // the last packet that arrived before the SR (arrival order, not the ms clock)
        if (!last) continue;
        errors.push(last.at - (r.ntpMs + (tsDiff(last.ts, r.rtpTs) * 1000) / clockRate));
      }
      const sorted = [...errors].sort((x, y) => Math.abs(x) - Math.abs(y));
      const median = sorted[Math.floor(sorted.length / 2)];
      console.log(
        `fast-path SR ${kind} (${name}): ${srs.length} reports, last counts ${srs.at(-1)!.packets} packets / ${srs.at(-1)!.octets} octets vs received ${got.length} / ${got.reduce((n, a) => n + a.payload, 0)}; ` +
          `mismatches ${mismatched.length}; RTP↔NTP error of the last packet before each SR (arrival − mapped) ms: ${errors.map((e) => e.toFixed(1)).join(' ')}; kernel drops ${kernelDrops}`,
      );
      expect(errors.length).toBe(srs.length);
      expect(Math.abs(median)).toBeLessThan(5);
      expect(Math.min(...errors)).toBeGreaterThan(-3); // no packet mapped to after it arrived (beyond rounding)
    }

    // PLI (werift's receiver API) and FIR (RFC 5104, raw: werift has no sender for it).
    const videoRx = s.pc.getTransceivers().find((t) => t.kind === 'video')!.receiver;
    await videoRx.sendRtcpPLI(s.ssrc.video);
    expect(await until(() => s.rv.counters.pli === 1, 10_000)).toBe(true);
    expect(s.rv.troubleSince).toBeGreaterThan(0);
    expect(s.rv.parameterSetsDue).toBe(true);
    const fir = (commandSeq: number): Buffer => {
      const b = Buffer.alloc(20);
      b[0] = 0x84;
      b[1] = 206;
      b.writeUInt16BE(4, 2);
      b.writeUInt32BE(0x5eed, 4);
      b.writeUInt32BE(s.ssrc.video, 12);
      b[16] = commandSeq;
      return b;
    };
    const dtls = videoRx.dtlsTransport as unknown as { sendRtcp(p: { serialize(): Buffer }[]): Promise<unknown> };
    for (const n of [7, 7, 8]) await dtls.sendRtcp([{ serialize: () => fir(n) }]);
    expect(await until(() => s.rv.counters.fir === 2, 10_000)).toBe(true); // the repeated 7 is one request
    const c = s.rv.rtcpCounters();
    expect(c).toMatchObject({ pli: 1, fir: 2, nackMissed: 0 });
    expect(s.largest).toBeLessThanOrEqual(1200);
    console.log(`fast-path RTCP counters (no loss, ${name}): ${JSON.stringify(c)}; largest datagram at the viewer ${s.largest} bytes`);
  }, 60_000);
  }

  it('NACK: packets lost on the way are resent from the native history and the viewer ends with no gap', async () => {
    // Every 17th video packet after the first 40, first arrival only: 20 losses in 6 s (~380 video packets).
    const s = await session({ drop: (_seq, i) => i >= 40 && (i - 40) % 17 === 0 && i < 40 + 17 * 20 });
    const drops0 = udpDrops(s.viewerPort);
    const packets = media(6);
    const videoSent = packets.filter((p) => p.video).length;
    await s.play(packets);
    const got = s.arrivals.get(s.ssrc.video)!;
    const unique = (): Set<number> => new Set(got.map((a) => a.seq));
    expect(await until(() => unique().size === videoSent, 20_000)).toBe(true);
    const seqs = [...unique()].sort((a, b) => a - b);
    const gaps = seqs.reduce((n, q, i) => (i === 0 ? 0 : n + (q - seqs[i - 1] - 1)), 0);
    const c = s.rv.rtcpCounters();
    const kernelDrops = udpDrops(s.viewerPort) - drops0;
    console.log(
      `fast-path NACK: ${s.dropped.size} packets dropped at the viewer, ${videoSent} video packets sent, viewer has ${unique().size} unique (${got.length} with repeats), gaps ${gaps}; ` +
        `relay counters ${JSON.stringify(c)}; kernel drops ${kernelDrops}`,
    );
    expect(s.dropped.size).toBe(20);
    expect(gaps).toBe(0);
    expect(seqs[0]).toBe(1000);
    expect(seqs.at(-1)).toBe(1000 + videoSent - 1);
    expect(c.nacks).toBeGreaterThan(0);
    expect(c.nackRequested).toBeGreaterThanOrEqual(20);
    expect(c.retransmitted).toBeGreaterThanOrEqual(20);
    expect(c.nackMissed).toBe(0); // all within the last 512 packets
    expect(s.largest).toBeLessThanOrEqual(1200);
    // Retransmissions are not new packets: the SR count stays the number of packets sent once.
    expect(await until(() => s.srs.get(s.ssrc.video)!.some((r) => r.packets === videoSent), 10_000)).toBe(true);
    expect(s.srs.get(s.ssrc.video)!.every((r) => r.packets <= videoSent)).toBe(true);
  }, 60_000);
});

describe.skipIf(!available)('rtp-relay --egress fast: RTCP of its viewers', () => {
  it('a WHEP viewer on the fast egress gets sender reports, NACKed packets resent (no gap) and, after a PLI, the cached SPS/PPS before the next IDR', async () => {
    const logs: string[] = [];
    // The parameter sets come out of band (sprop-parameter-sets: the SPS and PPS of media()).
    const sprop = `${Buffer.from([0x67, 0x42, 0xc0, 0x1e]).toString('base64')},${Buffer.from([0x68, 0xce, 0x3c]).toString('base64')}`;
    const relay = await startRelay({ httpPort: 0, webrtcPort: 0, werift: weriftEsm, egress: 'fast', streams: [{ name: 'cam', port: 0, spropParameterSets: sprop }], log: (l) => logs.push(l) });
    cleanups.push(() => relay.stop());
    // An encoder with SPS/PPS only in its SDP, 30 fps, keyframe every second, paced in real time for at most 20 s.
    const ingest = dgram.createSocket('udp4');
    cleanups.push(() => new Promise<void>((r) => ingest.close(() => r())));
    const port = relay.ingestPorts.get('cam')!;
    const packets = media(20, { outOfBandSps: true });
    const t0 = Date.now();
    let next = 0;
    let stopped = false;
    const pump = (): void => {
      if (stopped) return;
      while (next < packets.length && packets[next].atMs <= Date.now() - t0) ingest.send(packets[next++].bytes, port, '127.0.0.1');
      if (next < packets.length) setTimeout(pump, Math.max(0, t0 + packets[next].atMs - Date.now()));
    };
    pump();
    cleanups.push(() => {
      stopped = true;
    });

    const { useH264, useOPUS, useNACK, usePLI } = weriftCjs;
    const pc = new weriftCjs.RTCPeerConnection({
      iceServers: [],
      iceUseIpv4: false,
      iceUseIpv6: false,
      iceAdditionalHostAddresses: ['127.0.0.1'],
      iceInterfaceAddresses: { udp4: '127.0.0.1' },
      codecs: { video: [useH264({ rtcpFeedback: [useNACK(), usePLI()] })], audio: [useOPUS()] },
    });
    cleanups.push(() => pc.close());
    pc.addTransceiver('video', { direction: 'recvonly' });
    await pc.setLocalDescription(await pc.createOffer());
    await until(() => pc.iceGatheringState === 'complete', 10_000);
    const res = await fetch(`http://127.0.0.1:${relay.httpPort}/whep/cam`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription!.sdp });
    expect(res.status).toBe(201);
    // Loss on the way (first arrivals only), once the viewer has received 60 video packets.
    const received: { seq: number; ts: number; nal: number; mark: KeyframeMark }[] = [];
    const dropped = new Set<number>();
    const srs: { packets: number; uniqueBefore: number }[] = [];
    const dtls = pc.getTransceivers()[0].receiver.dtlsTransport as unknown as {
      iceTransport: { connection: { onData: { execute: (d: Buffer, ...r: unknown[]) => void } } };
      onRtp: { subscribe(f: (p: { header: { sequenceNumber: number; timestamp: number }; payload: Buffer }) => void): unknown };
      onRtcp: { subscribe(f: (p: unknown) => void): unknown };
    };
    const conn = dtls.iceTransport.connection;
    const original = conn.onData.execute;
    let videoIndex = 0;
    conn.onData.execute = (data: Buffer, ...rest: unknown[]) => {
      if (data.length >= 12 && data[0] >> 6 === 2 && !(data[1] >= 192 && data[1] <= 223)) {
        const seq = data.readUInt16BE(2);
        const i = videoIndex++;
        if (i >= 60 && (i - 60) % 19 === 0 && dropped.size < 10 && !dropped.has(seq) && !received.some((r) => r.seq === seq)) {
          dropped.add(seq);
          return;
        }
      }
      original(data, ...rest);
    };
    dtls.onRtp.subscribe((p) => received.push({ seq: p.header.sequenceNumber, ts: p.header.timestamp, nal: p.payload[0] & 0x1f, mark: keyframeMark(p.payload) }));
    dtls.onRtcp.subscribe((p) => {
      const sr = p as { type: number; senderInfo?: { packetCount: number } };
      if (sr.type === 200 && sr.senderInfo) srs.push({ packets: sr.senderInfo.packetCount, uniqueBefore: new Set(received.map((r) => r.seq)).size });
    });
    await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
    const stream = relay.streams.get('cam')!;
    const ready = await until(() => stream.fastViewers.size === 1 && dropped.size === 10, 30_000);
    if (!ready) console.log(`not ready: fast viewers ${stream.fastViewers.size}, viewers ${stream.viewers.size}, received ${received.length}, dropped ${dropped.size}, video index ${videoIndex}; log: ${logs.join(' | ')}; counters ${JSON.stringify(stream.counters)}`);
    expect(ready).toBe(true);
    const v = [...stream.fastViewers][0];

    // PLI: counted; the next IDR (no in-band SPS/PPS from this encoder) comes with the cached ones first.
    expect(stream.counters.parameterSetsSent).toBe(1); // the join's
    const before = received.length;
    await pc.getTransceivers()[0].receiver.sendRtcpPLI(v.video!.rewrite.ssrc);
    const k0 = stream.counters.keyframes;
    const ok = await until(() => stream.counters.parameterSetsOnRequest === 1, 5_000);
    if (!ok) console.log(`PLI: pli ${v.counters.pli} due ${v.parameterSetsDue} keyframes ${k0}->${stream.counters.keyframes} sent ${stream.counters.parameterSetsSent} rtcp ${JSON.stringify(v.rtcpCounters())} live ${v.fast?.video?.live}`);
    expect(ok).toBe(true);
    expect(stream.counters.parameterSetsSent).toBe(2);
    expect(await until(() => received.slice(before).some((r) => r.mark === KeyframeMark.IdrStart), 5_000)).toBe(true);
    const after = received.slice(before);
    const idr = after.findIndex((r) => r.mark === KeyframeMark.IdrStart);
    expect(after[idr - 1].mark).toBe(KeyframeMark.Sps); // the inserted STAP-A SPS+PPS
    expect(after[idr - 1].ts).toBe(after[idr].ts);
    expect(after[idr].seq).toBe((after[idr - 1].seq + 1) & 0xffff);
    expect(v.counters.pli).toBe(1);

    // Every NACKed packet came back: no gap in what the viewer has.
    expect(await until(() => [...dropped].every((q) => received.some((r) => r.seq === q)), 10_000)).toBe(true);
    stopped = true;
    await new Promise((r) => setTimeout(r, 300));
    const seqs = [...new Set(received.map((r) => r.seq))];
    let unwrapped = seqs[0];
    const ext = seqs.map((q) => (unwrapped += ((q - unwrapped + 0x8000) & 0xffff) - 0x8000)).sort((a, b) => a - b);
    const gaps = ext.reduce((n, q, i) => (i === 0 ? 0 : n + (q - ext[i - 1] - 1)), 0);
    const c = v.rtcpCounters();
    console.log(
      `rtp-relay --egress fast: ${dropped.size} packets dropped at the viewer, viewer has ${seqs.length} unique video packets (${received.length} with repeats), gaps ${gaps}; ` +
        `SRs ${srs.length} (last counts ${srs.at(-1)?.packets}); relay viewer RTCP ${JSON.stringify(c)}; SPS/PPS on request ${stream.counters.parameterSetsOnRequest}`,
    );
    expect(gaps).toBe(0);
    expect(c.retransmitted).toBeGreaterThanOrEqual(10);
    expect(c.nackMissed).toBe(0);
    expect(srs.length).toBeGreaterThan(0);
    expect(srs.every((r) => r.packets > 0)).toBe(true);
    expect(stream.totals()).toMatchObject({ pli: 1 });
    expect(stream.totals().retransmitted).toBe(c.retransmitted);
    // The viewer's SRTCP (its NACKs, the PLI, receiver reports) was unprotected by the relay
    // itself, not by werift: every one authenticated and parsed.
    const inbound = relay.fast!.inboundRtcp!.counters;
    expect(inbound.handled).toBeGreaterThanOrEqual(c.nacks + 1);
    expect(inbound).toMatchObject({ rejected: 0, malformed: 0 });
    // Its loss-free receiver reports were taken in natively (addon/rtcp_intake.h) and never
    // reached JS; those reporting loss, and the NACKs and the PLI, were passed on; none failed.
    const intake = relay.fast!.inboundRtcp!.intakeCounters;
    expect(intake.taken).toBeGreaterThan(0);
    expect(intake).toMatchObject({ unauthenticated: 0, offered: intake.taken + intake.passed });
    expect(v.reports.video).toBeDefined(); // its receiver reports reached the viewer's state
  }, 60_000);
});
