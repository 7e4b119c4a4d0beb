/**
 * Steady-state ingest (addon/ingest_route.h, RtpFanout.routeIngest, src/relay/steady-ingest.ts)
 * on loopback: an ingest socket in 'loop' dispatch routed to a fan-out stream. Batches that
 * are steady for the armed state — the owner's, in sequence, no keyframe, parameter set or
 * B-frame — reach the viewer rewritten and SRTP-protected exactly as forward() makes them
 * and never the socket's handlers, the state advancing per kind; every case the stream
 * decides on instead (a gap, a foreign SSRC or port, an IDR start, SPS, STAP-A, a B-frame,
 * an oversized, unknown-type or RTCP datagram, a disarmed kind) reaches the handlers whole,
 * the state untouched. Plus the route's argument errors and its removal.
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import * as werift from 'werift';
import { createBatchSocket, type BatchSocket, type RecvBatch } from '../../src/index.js';
import { RtpFanout, fanoutUnavailableReason } from '../../src/fanout/index.js';
import { INGEST, loadNative, type NativeBinding } from '../../src/native/binding.js';
import { NativeBatchSocket } from '../../src/socket/native-socket.js';
import { recvDispatchStats } from '../../src/socket/recv-dispatch.js';
import { SteadyIngest } from '../../src/relay/steady-ingest.js';

const available = fanoutUnavailableReason() === undefined;
const VIDEO_PT = 96;
const AUDIO_PT = 97;
const V_SSRC = 0x11223344;
const A_SSRC = 0x55667788;
const GCM = 0x0007;

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Waits (on events, bounded) until `done()`; `wake` registers a callback run on each relevant event. */
async function until(done: () => boolean, wake: (cb: () => void) => void, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!done() && Date.now() < end) {
    await new Promise<void>((r) => {
      const t = setTimeout(r, 200);
      wake(() => {
        clearTimeout(t);
        r();
      });
    });
  }
}

function rtp(pt: number, seq: number, ts: number, ssrc: number, payload: Buffer): Buffer {
  const b = Buffer.alloc(12 + payload.length);
  b[0] = 0x80;
  b[1] = pt;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(ts >>> 0, 4);
  b.writeUInt32BE(ssrc >>> 0, 8);
  payload.copy(b, 12);
  return b;
}
/** H.264 payloads: a non-IDR slice (NAL 1), an FU-A middle fragment of one, and what the stream decides on. */
const nal = (type: number, len = 60): Buffer => Buffer.concat([Buffer.from([0x60 | type]), randomBytes(len)]);
const fuA = (inner: number, start: boolean, len = 60): Buffer => Buffer.concat([Buffer.from([0x7c, (start ? 0x80 : 0) | inner]), randomBytes(len)]);

interface Harness {
  fanout: RtpFanout;
  ingest: NativeBatchSocket;
  steady: SteadyIngest;
  source: dgram.Socket;
  send(pkts: Buffer[], from?: dgram.Socket): Promise<void>;
  /** Datagrams the ingest socket's 'batch' handler saw. */
  js: Buffer[];
  /** Decrypted datagrams the viewer got, by SSRC. */
  got: Map<number, Buffer[]>;
  received(): number;
  waitViewer(n: number): Promise<void>;
  waitJs(n: number): Promise<void>;
  state: Float64Array;
}

async function harness(): Promise<Harness> {
  const binding = (loadNative() as { ok: true; binding: NativeBinding }).binding;
  const out = createBatchSocket({ type: 'udp4', backend: 'batch', sendBufferSize: 4 << 20 });
  await new Promise<void>((r) => out.bind(0, '127.0.0.1', () => r()));
  cleanups.push(() => {
    out.close();
  });
  const ingest = createBatchSocket({ type: 'udp4', backend: 'batch', recvDispatch: 'loop', recvBufferSize: 4 << 20 }) as BatchSocket;
  await new Promise<void>((r) => ingest.bind(0, '127.0.0.1', () => r()));
  const js: Buffer[] = [];
  const wakers: (() => void)[] = [];
  const wakeAll = (): void => {
    for (const w of wakers.splice(0)) w();
  };
  ingest.on('batch', (b: RecvBatch) => {
    for (let i = 0; i < b.count; i++) js.push(Buffer.from(b.datagram(i)));
    wakeAll();
  });
  cleanups.push(() => {
    if (!(ingest as unknown as { closed: boolean }).closed) ingest.close();
  });
  // The viewer: one SRTP (GCM) session for both outputs, decrypting with werift.
  const viewer = dgram.createSocket('udp4');
  await new Promise<void>((r) => viewer.bind(0, '127.0.0.1', () => r()));
  viewer.setRecvBufferSize(4 << 20);
  cleanups.push(() => new Promise<void>((r) => viewer.close(() => r())));
  const keys = { masterKey: randomBytes(16), masterSalt: randomBytes(12) };
  const srtp = new werift.SrtpSession({
    keys: { localMasterKey: keys.masterKey, localMasterSalt: keys.masterSalt, remoteMasterKey: keys.masterKey, remoteMasterSalt: keys.masterSalt },
    profile: GCM,
  } as never);
  const got = new Map<number, Buffer[]>();
  let count = 0;
  viewer.on('message', (m) => {
    const d = srtp.decrypt(m);
    const ssrc = d.readUInt32BE(8);
    if (!got.has(ssrc)) got.set(ssrc, []);
    got.get(ssrc)!.push(d);
    count++;
    wakeAll();
  });
  const fanout = new RtpFanout(out);
  cleanups.push(() => fanout.close());
  const stream = fanout.addStream();
  const session = fanout.addSession({ profile: 'SRTP_AEAD_AES_128_GCM', ...keys });
  // Identity rewrite (same SSRC, payload type, numbers): the viewer sees the ingest packet.
  for (const [kind, ssrc, pt] of [['video', V_SSRC, VIDEO_PT], ['audio', A_SSRC, AUDIO_PT]] as const) {
    const id = fanout.addOutput({ stream, session, address: '127.0.0.1', port: viewer.address().port, kind, ssrc, payloadType: pt });
    fanout.setOffsets(id, 0, 0);
    fanout.setLive(id);
  }
  const steady = new SteadyIngest(ingest as NativeBatchSocket, (n) => binding.allocShared(n), { videoPayloadType: VIDEO_PT, audioPayloadType: AUDIO_PT, maxLength: 1184 });
  expect(steady.route(fanout, stream)).toBe(true);
  const source = dgram.createSocket('udp4');
  await new Promise<void>((r) => source.bind(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise<void>((r) => source.close(() => r())));
  const port = ingest.address().port;
  const send = async (pkts: Buffer[], from = source): Promise<void> => {
    for (const p of pkts) await new Promise<void>((r, j) => from.send(p, port, '127.0.0.1', (e) => (e ? j(e) : r())));
  };
  return {
    fanout,
    ingest: ingest as NativeBatchSocket,
    steady,
    source,
    send,
    js,
    got,
    received: () => count,
    waitViewer: (n) => until(() => count >= n, (cb) => wakers.push(cb)),
    waitJs: (n) => until(() => js.length >= n, (cb) => wakers.push(cb)),
    state: new Float64Array(steady.bytes.buffer, steady.bytes.byteOffset, INGEST.OWNER_OFFSET / 8),
  };
}

function armBoth(h: Harness, video: { nextSeq: number; lastTs: number }, audio: { nextSeq: number; lastTs: number }): void {
  const port = h.source.address().port;
  h.steady.arm(0, { address: '127.0.0.1', port, ssrc: V_SSRC, nextSeq: video.nextSeq, lastTs: video.lastTs, tsCheck: true });
  h.steady.arm(1, { address: '127.0.0.1', port, ssrc: A_SSRC, nextSeq: audio.nextSeq, lastTs: audio.lastTs, tsCheck: false });
}

describe.skipIf(!available)('steady-state ingest route', () => {
  it('steady batches reach the viewer byte-exact (after SRTP), in order per kind, never the handlers; the state advances per kind', async () => {
    const h = await harness();
    armBoth(h, { nextSeq: 65500, lastTs: 1000 }, { nextSeq: 7, lastTs: 500 });
    const video: Buffer[] = [];
    const audio: Buffer[] = [];
    // Across the sequence wrap; frames of 3 packets (a single NAL slice, FU-A fragments of a non-IDR slice).
    for (let i = 0; i < 60; i++) {
      const payload = i % 3 === 0 ? nal(1, 40 + i) : fuA(1, i % 3 === 1, 200 + i);
      video.push(rtp(VIDEO_PT, 65500 + i, 1000 + 3000 * Math.floor(i / 3), V_SSRC, payload));
      if (i % 2 === 0) audio.push(rtp(AUDIO_PT, 7 + i / 2, 500 + 960 * (i / 2), A_SSRC, randomBytes(80)));
    }
    const consumedBefore = recvDispatchStats.consumed;
    const interleaved = video.flatMap((v, i) => (i % 2 === 0 ? [v, audio[i / 2]] : [v]));
    await h.send(interleaved);
    await h.waitViewer(interleaved.length);
    expect(h.js).toEqual([]);
    expect(h.got.get(V_SSRC)).toEqual(video);
    expect(h.got.get(A_SSRC)).toEqual(audio);
    expect(recvDispatchStats.consumed).toBeGreaterThan(consumedBefore);
    expect(h.fanout.ingestBatches).toBeGreaterThan(0);
    const v = { ...h.steady.take(0)! };
    expect(v).toMatchObject({ packets: 60, bytes: video.reduce((n, p) => n + p.length, 0), lastSeq: (65500 + 59) & 0xffff, lastTs: 1000 + 3000 * 19 });
    expect(v.lastArrival).toBeGreaterThan(Date.now() - 60_000);
    const a = h.steady.take(1)!;
    expect(a).toMatchObject({ packets: 30, bytes: audio.reduce((n, p) => n + p.length, 0), lastSeq: 7 + 29, lastTs: 500 + 960 * 29 });
    expect(h.steady.take(0)).toBeUndefined(); // taken: zeroed
    // The next packet in sequence is still steady.
    await h.send([rtp(VIDEO_PT, (65500 + 60) & 0xffff, 1000 + 3000 * 20, V_SSRC, nal(1))]);
    await h.waitViewer(interleaved.length + 1);
    expect(h.js).toEqual([]);
  });

  it('every datagram the stream decides on reaches the handlers with its batch, the state untouched', async () => {
    const h = await harness();
    const other = dgram.createSocket('udp4');
    await new Promise<void>((r) => other.bind(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => other.close(() => r())));
    let seq = 1000;
    let ts = 90_000;
    armBoth(h, { nextSeq: seq, lastTs: ts }, { nextSeq: 50, lastTs: 0 });
    const cases: [string, () => Buffer, dgram.Socket?][] = [
      ['a gap in the sequence', () => rtp(VIDEO_PT, seq + 1, ts, V_SSRC, nal(1))],
      ['a repeated sequence number', () => rtp(VIDEO_PT, seq - 1, ts, V_SSRC, nal(1))],
      ['another SSRC', () => rtp(VIDEO_PT, seq, ts, V_SSRC + 1, nal(1))],
      ['another sender port', () => rtp(VIDEO_PT, seq, ts, V_SSRC, nal(1)), other],
      ['an IDR slice', () => rtp(VIDEO_PT, seq, ts, V_SSRC, nal(5))],
      ['the first FU-A fragment of an IDR slice', () => rtp(VIDEO_PT, seq, ts, V_SSRC, fuA(5, true))],
      ['an SPS', () => rtp(VIDEO_PT, seq, ts, V_SSRC, nal(7, 10))],
      ['a PPS', () => rtp(VIDEO_PT, seq, ts, V_SSRC, nal(8, 4))],
      ['a STAP-A', () => rtp(VIDEO_PT, seq, ts, V_SSRC, Buffer.from([0x78, 0, 2, 0x09, 0xf0]))],
      ['a B-frame (timestamp behind the previous packet)', () => rtp(VIDEO_PT, seq, ts - 9000, V_SSRC, nal(1))],
      ['a datagram over MAX_LENGTH', () => rtp(VIDEO_PT, seq, ts, V_SSRC, fuA(1, false, 1200))],
      ['an unknown payload type', () => rtp(100, seq, ts, V_SSRC, nal(1))],
      ['RTCP (payload type 72-76 on the RTP port)', () => Buffer.from([0x80, 200, 0, 6, ...randomBytes(24)])],
      ['not RTP (version 0)', () => Buffer.from([0x00, 96, ...randomBytes(20)])],
      ['shorter than an RTP header', () => Buffer.from([0x80, 96, 0, 1])],
    ];
    for (const [what, make, from] of cases) {
      const before = h.js.length;
      const pkt = make();
      await h.send([pkt], from);
      await h.waitJs(before + 1);
      expect(h.js.length, what).toBe(before + 1);
      expect(h.js[before], what).toEqual(pkt);
      expect(h.state[INGEST.KINDS + INGEST.NEXT_SEQ], what).toBe(seq);
      expect(h.steady.take(0), what).toBeUndefined();
      // The owner's next packet is still steady (forwarded, not seen by the handlers).
      const next = h.received();
      await h.send([rtp(VIDEO_PT, seq, ts, V_SSRC, nal(1))]);
      await h.waitViewer(next + 1);
      expect(h.received(), what).toBe(next + 1);
      expect(h.js.length, what).toBe(before + 1);
      seq++;
      ts += 3000;
      expect(h.steady.take(0), what).toMatchObject({ packets: 1, lastSeq: seq - 1 });
    }
    // A disarmed kind goes to the handlers; the armed one does not.
    h.steady.disarm(1);
    const before = h.js.length;
    const audio = rtp(AUDIO_PT, 50, 0, A_SSRC, randomBytes(40));
    await h.send([audio]);
    await h.waitJs(before + 1);
    expect(h.js[before]).toEqual(audio);
    expect(h.steady.armed(0)).toBe(true);
    expect(h.steady.armed(1)).toBe(false);
    expect(h.steady.take(1)).toBeUndefined();
  });

  it('a GSO burst of equal-size datagrams (one GRO buffer at the ingest socket) is forwarded as the datagrams it holds', async () => {
    const h = await harness();
    // A batch socket sends the burst as one UDP GSO message; over loopback it reaches a
    // UDP_GRO socket as one coalesced buffer.
    const gso = createBatchSocket({ type: 'udp4', backend: 'batch', order: 'per-peer' });
    await new Promise<void>((r) => gso.bind(0, '127.0.0.1', () => r()));
    cleanups.push(() => {
      gso.close();
    });
    h.steady.arm(0, { address: '127.0.0.1', port: gso.address().port, ssrc: V_SSRC, nextSeq: 0, lastTs: 0, tsCheck: true });
    const burst = Array.from({ length: 40 }, (_, i) => rtp(VIDEO_PT, i, 3000 * (i >> 3), V_SSRC, fuA(1, i % 8 === 0, 1000)));
    burst.push(rtp(VIDEO_PT, 40, 3000 * 5, V_SSRC, nal(1, 30))); // the shorter last one
    const before = h.ingest.stats();
    for (const p of burst) gso.send(p, h.ingest.address().port, '127.0.0.1');
    gso.flush();
    await h.waitViewer(burst.length);
    expect(h.got.get(V_SSRC)).toEqual(burst);
    expect(h.js).toEqual([]);
    const s = h.ingest.stats();
    const sent = gso.stats();
    console.log(`steady ingest GSO burst: ${burst.length} datagrams in ${sent.gsoMessages} GSO messages; ${s.groBuffers - before.groBuffers} GRO buffers at the ingest (gro ${s.gro})`);
    // Where both offloads are on, the split path really ran.
    if (s.gro && sent.gsoMessages > 0) expect(s.groBuffers - before.groBuffers).toBeGreaterThan(0);
  });

  it('argument errors; a socket outside loop dispatch is not routed; unroute and close give every batch back to JS', async () => {
    const h = await harness();
    const stream = h.fanout.addStream();
    expect(() => h.fanout.routeIngest(h.ingest, 9999, h.steady.bytes)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => h.fanout.routeIngest(h.ingest, stream, new Uint8Array(INGEST.STATE_BYTES - 1))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => h.fanout.routeIngest(h.ingest, stream, new Uint8Array(new ArrayBuffer(INGEST.STATE_BYTES + 8), 4))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    const dg = createBatchSocket({ type: 'udp4', backend: 'dgram' });
    cleanups.push(() => {
      dg.close();
    });
    expect(() => h.fanout.routeIngest(dg, stream, h.steady.bytes)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    const immediate = createBatchSocket({ type: 'udp4', backend: 'batch' });
    await new Promise<void>((r) => immediate.bind(0, '127.0.0.1', () => r()));
    cleanups.push(() => {
      immediate.close();
    });
    expect(h.fanout.routeIngest(immediate, stream, h.steady.bytes)).toBe(false);
    // The raw binding checks the state too.
    const raw = (h.ingest as unknown as { native: { setIngestRoute(f: number, s?: number, st?: Uint8Array): void } }).native;
    expect(() => raw.setIngestRoute(h.fanout['native'].serial, 0, new Uint8Array(8))).toThrow(RangeError);
    expect(() => raw.setIngestRoute(-1)).toThrow(RangeError);

    armBoth(h, { nextSeq: 1, lastTs: 0 }, { nextSeq: 1, lastTs: 0 });
    h.steady.route(undefined, -1);
    const p = rtp(VIDEO_PT, 1, 0, V_SSRC, nal(1));
    await h.send([p]);
    await h.waitJs(1);
    expect(h.js).toEqual([p]);
    expect(h.received()).toBe(0);
    // Routed to a stream that is then removed: the route goes with it.
    expect(h.fanout.routeIngest(h.ingest, stream, h.steady.bytes)).toBe(true);
    h.fanout.removeStream(stream);
    const q = rtp(VIDEO_PT, 1, 0, V_SSRC, nal(1));
    await h.send([q]);
    await h.waitJs(2);
    expect(h.js).toEqual([p, q]);
    expect(h.received()).toBe(0);
    // Routed again, then the ingest socket closes: nothing is read or forwarded after close, nothing crashes.
    expect(h.steady.route(h.fanout, 0)).toBe(true);
    h.ingest.close();
    await h.send([rtp(VIDEO_PT, 1, 0, V_SSRC, nal(1))]);
    await new Promise((r) => setTimeout(r, 50));
    expect(h.received()).toBe(0);
    expect(h.steady.route(h.fanout, h.fanout.addStream())).toBe(false);
  });
});
