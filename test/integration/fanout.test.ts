/**
 * The native RTP fan-out (addon/fanout.cc through src/fanout/): on loopback, what viewers
 * receive is exactly `rewriteRtpHeader` of the ingest packet (random headers, sequence and
 * timestamp wraps, CSRCs, header extensions, padding), SRTP-protected so that werift's
 * SrtpSession decrypts it (both profiles); per-batch gating, start indices and injected
 * packets; output-major order making GSO messages; the 1200-byte MTU; queue-full drops
 * in the socket's accounting identity; NACK retransmission from the history; SRTCP with the
 * session's context; argument errors.
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import * as werift from 'werift';
import { createBatchSocket, type BatchSocket } from '../../src/index.js';
import { FANOUT, FanoutBatch, RtpFanout, fanoutUnavailableReason } from '../../src/fanout/index.js';
import { rewriteRtpHeader } from '../../src/relay/output.js';
import type { SrtpProfile } from '../../src/srtp/index.js';
import { loadNative, type NativeBinding } from '../../src/native/binding.js';

const available = fanoutUnavailableReason() === undefined;
const PROFILES: SrtpProfile[] = ['SRTP_AES128_CM_HMAC_SHA1_80', 'SRTP_AEAD_AES_128_GCM'];
const PROFILE_ID = { SRTP_AES128_CM_HMAC_SHA1_80: 0x0001, SRTP_AEAD_AES_128_GCM: 0x0007 } as const;
const OVERHEAD = { SRTP_AES128_CM_HMAC_SHA1_80: 10, SRTP_AEAD_AES_128_GCM: 16 } as const;

interface Viewer {
  sock: dgram.Socket;
  port: number;
  got: Buffer[];
  keys: { masterKey: Buffer; masterSalt: Buffer };
  profile: SrtpProfile;
  srtp: InstanceType<typeof werift.SrtpSession>;
  srtcp: InstanceType<typeof werift.SrtcpSession>;
  waiters: (() => void)[];
}

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function sender(opts: { maxQueue?: number } = {}): Promise<BatchSocket> {
  const s = createBatchSocket({ type: 'udp4', backend: 'batch', sendBufferSize: 4 << 20, ...opts });
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  cleanups.push(() => {
    s.close();
  });
  return s;
}

async function viewer(profile: SrtpProfile): Promise<Viewer> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  sock.setRecvBufferSize(4 << 20);
  const keys = { masterKey: randomBytes(16), masterSalt: randomBytes(profile === 'SRTP_AEAD_AES_128_GCM' ? 12 : 14) };
  const config = {
    keys: { localMasterKey: keys.masterKey, localMasterSalt: keys.masterSalt, remoteMasterKey: keys.masterKey, remoteMasterSalt: keys.masterSalt },
    profile: PROFILE_ID[profile],
  };
  const v: Viewer = {
    sock,
    port: sock.address().port,
    got: [],
    keys,
    profile,
    srtp: new werift.SrtpSession(config as never),
    srtcp: new werift.SrtcpSession(config as never),
    waiters: [],
  };
  sock.on('message', (m) => {
    v.got.push(m);
    for (const w of v.waiters.splice(0)) w();
  });
  cleanups.push(() => new Promise<void>((r) => sock.close(() => r())));
  return v;
}

/** Waits (on events, bounded) until `v` has `n` datagrams. */
async function received(v: Viewer, n: number, timeoutMs = 10_000): Promise<Buffer[]> {
  const until = Date.now() + timeoutMs;
  while (v.got.length < n && Date.now() < until) {
    await new Promise<void>((r) => {
      const t = setTimeout(r, 200);
      v.waiters.push(() => {
        clearTimeout(t);
        r();
      });
    });
  }
  return v.got;
}

/** A random RTP packet: version 2, any marker/PT/seq/ts/SSRC, optional CSRCs, extension, padding. */
function randomRtp(opts: { seq?: number; ts?: number; payload?: number; csrc?: number; ext?: boolean; pad?: number; pt?: number } = {}): Buffer {
  const cc = opts.csrc ?? 0;
  const extWords = opts.ext ? 2 : 0;
  const pad = opts.pad ?? 0;
  const payload = opts.payload ?? 100;
  const len = 12 + 4 * cc + (opts.ext ? 4 + 4 * extWords : 0) + payload + pad;
  const b = randomBytes(len);
  b[0] = 0x80 | (pad ? 0x20 : 0) | (opts.ext ? 0x10 : 0) | cc;
  b[1] = (b[1] & 0x80) | ((opts.pt ?? 96) & 0x7f);
  if (opts.seq !== undefined) b.writeUInt16BE(opts.seq, 2);
  if (opts.ts !== undefined) b.writeUInt32BE(opts.ts >>> 0, 4);
  if (opts.ext) {
    const e = 12 + 4 * cc;
    b.writeUInt16BE(0xbede, e);
    b.writeUInt16BE(extWords, e + 2);
    // RFC 8285 one-byte elements (werift parses and re-serializes them): id 1 (1 byte), id 2 (3 bytes), 2 bytes padding.
    Buffer.from([0x10, 0xaa, 0x22, 0xbb, 0xcc, 0xdd, 0, 0]).copy(b, e + 4);
  }
  if (pad) b[len - 1] = pad;
  return b;
}

/** Lays `packets` out in one arena (as a receive ring would) and fills `batch`. */
function batchOf(batch: FanoutBatch, packets: { bytes: Buffer; video: boolean }[]): Buffer {
  const arena = Buffer.alloc(packets.reduce((n, p) => n + p.bytes.length + 7, 0));
  batch.reset(arena);
  let off = 3; // unaligned on purpose
  for (const p of packets) {
    p.bytes.copy(arena, off);
    batch.push(off, p.bytes.length, p.video);
    off += p.bytes.length + 7;
  }
  return arena;
}

function expected(pkt: Buffer, rw: { ssrc: number; payloadType: number; seqOffset: number; tsOffset: number }): Buffer {
  const c = Buffer.from(pkt);
  rewriteRtpHeader(c, 0, rw);
  return c;
}

function addViewer(f: RtpFanout, stream: number, v: Viewer, kind: 'video' | 'audio', rw: { ssrc: number; payloadType: number; seqOffset: number; tsOffset: number }): number {
  const session = f.addSession({ profile: v.profile, ...v.keys });
  const id = f.addOutput({ stream, session, address: '127.0.0.1', port: v.port, kind, ssrc: rw.ssrc, payloadType: rw.payloadType });
  f.setOffsets(id, rw.seqOffset, rw.tsOffset);
  return id;
}

function identity(sock: BatchSocket): void {
  const s = sock.stats();
  expect(s.enqueued).toBe(s.sent + s.failed + s.dropped + s.queued);
}

describe.skipIf(!available)('native RTP fan-out', () => {
  for (const profile of PROFILES) {
    it(`${profile}: the rewrite is rewriteRtpHeader (random headers, wraps, CSRC/extension/padding) and werift decrypts it byte-exact`, async () => {
      const sock = await sender();
      const f = new RtpFanout(sock);
      const stream = f.addStream();
      const v = await viewer(profile);
      const rws = [
        { ssrc: 0xffffffff, payloadType: 127, seqOffset: 0xffff, tsOffset: 0xffffffff },
        { ssrc: 0, payloadType: 0, seqOffset: 1, tsOffset: 1 },
        { ssrc: (Math.random() * 2 ** 32) >>> 0, payloadType: 102, seqOffset: (Math.random() * 65536) >>> 0, tsOffset: (Math.random() * 2 ** 32) >>> 0 },
      ];
      // One output per rewrite, all to the same viewer socket, each its own SSRC/context
      // (what werift decrypts is checked per datagram against the output that sent it).
      const sessions: { id: number; rw: (typeof rws)[number]; srtp: InstanceType<typeof werift.SrtpSession> }[] = [];
      for (const rw of rws) {
        const keys = { masterKey: randomBytes(16), masterSalt: randomBytes(profile === 'SRTP_AEAD_AES_128_GCM' ? 12 : 14) };
        const session = f.addSession({ profile, ...keys });
        const id = f.addOutput({ stream, session, address: '127.0.0.1', port: v.port, kind: 'video', ssrc: rw.ssrc, payloadType: rw.payloadType });
        f.setOffsets(id, rw.seqOffset, rw.tsOffset);
        f.setLive(id);
        const config = { keys: { localMasterKey: keys.masterKey, localMasterSalt: keys.masterSalt, remoteMasterKey: keys.masterKey, remoteMasterSalt: keys.masterSalt }, profile: PROFILE_ID[profile] };
        sessions.push({ id, rw, srtp: new werift.SrtpSession(config as never) });
      }
      // Sequence numbers across 65535 → 0 (ingest and, through the offsets, outgoing), timestamps across 2^32.
      const packets: Buffer[] = [];
      for (let i = 0; i < 40; i++) {
        packets.push(
          randomRtp({ seq: (65520 + i) & 0xffff, ts: 0xfffffff0 + i * 3, payload: 20 + ((i * 37) % 900), csrc: i % 4, ext: i % 3 === 0, pad: i % 5 === 0 ? 4 : 0, pt: i % 128 }),
        );
      }
      const batch = new FanoutBatch();
      batchOf(batch, packets.map((bytes) => ({ bytes, video: true })));
      const r = f.forward(stream, batch, 1234);
      expect(r).toMatchObject({ queued: 120, dropped: 0, oversize: 0, errors: 0, calls: 1 });
      const got = await received(v, 120);
      expect(got.length).toBe(120);
      // Output-major: 40 datagrams of output 0, then of 1, then of 2, each in ingest order.
      for (let o = 0; o < 3; o++) {
        const { id, rw, srtp } = sessions[o];
        for (let i = 0; i < 40; i++) {
          const d = got[o * 40 + i];
          expect(d.length).toBe(packets[i].length + OVERHEAD[profile]);
          expect(d.readUInt32BE(8)).toBe(rw.ssrc);
          expect(srtp.decrypt(d)).toEqual(expected(packets[i], rw));
        }
        expect(f.packets(id)).toBe(40);
        expect(f.lastSeq(id)).toBe((((65520 + 39) & 0xffff) + rw.seqOffset) & 0xffff);
        expect(f.lastTs(id)).toBe((0xfffffff0 + 39 * 3 + rw.tsOffset) >>> 0);
        expect(f.lastSentAt(id)).toBe(1234);
        expect(f.field(id, FANOUT.BYTES)).toBe(packets.reduce((n, p) => n + p.length + OVERHEAD[profile], 0));
      }
      // Octets: RTP payload only (no header, CSRCs, extension or padding): RFC 3550 §6.4.1.
      const octets = packets.reduce((n, p) => {
        const cc = p[0] & 0x0f;
        let h = 12 + 4 * cc;
        if (p[0] & 0x10) h += 4 + 4 * p.readUInt16BE(h + 2);
        return n + p.length - h - (p[0] & 0x20 ? p[p.length - 1] : 0);
      }, 0);
      expect(f.octets(sessions[0].id)).toBe(octets);
      identity(sock);
    });
  }

  it('gating, start indices, kinds and an injected packet apply per batch; SPS/PPS only to the outputs starting at it', async () => {
    const sock = await sender();
    const f = new RtpFanout(sock);
    const stream = f.addStream();
    const rw = { ssrc: 0x1234, payloadType: 102, seqOffset: 0, tsOffset: 0 };
    const live = await viewer('SRTP_AEAD_AES_128_GCM');
    const joiner = await viewer('SRTP_AES128_CM_HMAC_SHA1_80');
    const gated = await viewer('SRTP_AEAD_AES_128_GCM');
    const audio = await viewer('SRTP_AEAD_AES_128_GCM');
    const oLive = addViewer(f, stream, live, 'video', rw);
    const oJoin = addViewer(f, stream, joiner, 'video', rw);
    addViewer(f, stream, gated, 'video', rw);
    const oAudio = addViewer(f, stream, audio, 'audio', { ...rw, payloadType: 111 });
    f.setLive(oLive);
    f.setLive(oAudio);
    const batch = new FanoutBatch();
    const v = (seq: number): Buffer => randomRtp({ seq, ts: 9000, payload: 200, pt: 96 });
    const a = (seq: number): Buffer => randomRtp({ seq, ts: 48000, payload: 80, pt: 97 });
    const arena = Buffer.alloc(4096);
    batch.reset(arena);
    const pkts = [v(10), a(500), v(11), v(12), a(501)];
    let off = 0;
    const idx: number[] = [];
    for (const [i, p] of pkts.entries()) {
      p.copy(arena, off);
      if (i === 2) {
        // Injected before packet 2 (the "IDR"): SPS/PPS STAP-A, only for the joiner.
        const sps = randomRtp({ seq: 10, ts: 9000, payload: 30, pt: 96 });
        const k = batch.pushExtra(sps, true, true);
        f.setLive(oJoin, k);
        idx.push(-1);
      }
      idx.push(batch.push(off, p.length, p[1] % 128 === 96));
      off += p.length;
    }
    f.forward(stream, batch, Date.now());
    expect(await received(live, 3)).toHaveLength(3);
    expect(await received(joiner, 3)).toHaveLength(3);
    expect(await received(audio, 2)).toHaveLength(2);
    const seqs = (vw: Viewer): number[] => vw.got.map((d) => vw.srtp.decrypt(d).readUInt16BE(2));
    expect(seqs(live)).toEqual([10, 11, 12]); // the injected packet is not for outputs already live
    expect(seqs(joiner)).toEqual([10, 11, 12]); // injected (seq 10), then the IDR and what follows
    expect(joiner.srtp.decrypt(joiner.got[0]).length).toBe(12 + 30);
    expect(seqs(audio)).toEqual([500, 501]);
    expect(audio.got.every((d) => (d[1] & 0x7f) === 111)).toBe(true);
    // Next batch: START is back to 0 and the injected packet is no one's; the gated one still gets nothing.
    batch.reset(arena);
    const p2 = v(13);
    p2.copy(arena, 0);
    batch.pushExtra(randomRtp({ seq: 99, payload: 30 }), true, true);
    batch.push(0, p2.length, true);
    f.forward(stream, batch, Date.now());
    expect(await received(live, 4)).toHaveLength(4);
    expect(await received(joiner, 4)).toHaveLength(4);
    expect(seqs(live)).toEqual([10, 11, 12, 13]);
    expect(seqs(joiner)).toEqual([10, 11, 12, 13]);
    // A gate stops an output from the next batch on.
    f.gate(oLive);
    batch.reset(arena);
    batch.push(0, p2.length, true);
    f.forward(stream, batch, Date.now());
    await received(joiner, 5);
    expect(live.got).toHaveLength(4);
    expect(gated.got).toHaveLength(0);
    identity(sock);
  });

  it('a frame of equal-size fragments to each viewer leaves as GSO messages (output-major), one sendmmsg per batch', async () => {
    const sock = await sender();
    if (!sock.stats().gso) return; // the kernel lacks UDP_SEGMENT: nothing to count
    const f = new RtpFanout(sock);
    const stream = f.addStream();
    const vs = await Promise.all([0, 1, 2, 3].map(() => viewer('SRTP_AEAD_AES_128_GCM')));
    for (const v of vs) f.setLive(addViewer(f, stream, v, 'video', { ssrc: 7, payloadType: 102, seqOffset: 0, tsOffset: 0 }));
    const batch = new FanoutBatch();
    const frame = Array.from({ length: 8 }, (_, i) => ({ bytes: randomRtp({ seq: i, ts: 3000, payload: i === 7 ? 300 : 1100 }), video: true }));
    batchOf(batch, frame);
    const before = sock.stats();
    f.forward(stream, batch, Date.now());
    for (const v of vs) expect(await received(v, 8)).toHaveLength(8);
    const after = sock.stats();
    expect(after.syscalls - before.syscalls).toBe(1);
    expect(after.gsoMessages - before.gsoMessages).toBe(4); // one per viewer: 7 equal fragments + the shorter last one
    expect(after.gsoSegments - before.gsoSegments).toBe(32);
    for (const v of vs) expect(v.got.map((d) => v.srtp.decrypt(d).readUInt16BE(2))).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    identity(sock);
  });

  it('never emits more than the MTU after SRTP: such packets are counted, the rest go on', async () => {
    const sock = await sender();
    const f = new RtpFanout(sock);
    const stream = f.addStream();
    const cm = await viewer('SRTP_AES128_CM_HMAC_SHA1_80');
    const gcm = await viewer('SRTP_AEAD_AES_128_GCM');
    const oCm = addViewer(f, stream, cm, 'video', { ssrc: 1, payloadType: 102, seqOffset: 0, tsOffset: 0 });
    const oGcm = addViewer(f, stream, gcm, 'video', { ssrc: 2, payloadType: 102, seqOffset: 0, tsOffset: 0 });
    f.setLive(oCm);
    f.setLive(oGcm);
    const batch = new FanoutBatch();
    // 1190 bytes: 1200 with AES-CM (fits), 1206 with GCM (does not); 1184: 1200 with GCM.
    batchOf(batch, [1190, 1184, 1300].map((n, i) => ({ bytes: randomRtp({ seq: i, payload: n - 12 }), video: true })));
    const r = f.forward(stream, batch, 0);
    expect(r.queued).toBe(3);
    expect(r.oversize).toBe(3);
    await received(cm, 2);
    await received(gcm, 1);
    expect(cm.got.map((d) => d.length)).toEqual([1200, 1194]);
    expect(gcm.got.map((d) => d.length)).toEqual([1200]);
    expect(f.field(oCm, FANOUT.OVERSIZE)).toBe(1);
    expect(f.field(oGcm, FANOUT.OVERSIZE)).toBe(2);
    identity(sock);
  });

  it('what the send queue cannot take is dropped and counted (per output and in the socket), the identity holds', async () => {
    const sock = await sender({ maxQueue: 16 });
    const f = new RtpFanout(sock);
    const stream = f.addStream();
    const vs = await Promise.all([0, 1, 2, 3].map(() => viewer('SRTP_AEAD_AES_128_GCM')));
    const ids = vs.map((v) => addViewer(f, stream, v, 'video', { ssrc: 3, payloadType: 102, seqOffset: 0, tsOffset: 0 }));
    for (const id of ids) f.setLive(id);
    const batch = new FanoutBatch();
    batchOf(batch, Array.from({ length: 10 }, (_, i) => ({ bytes: randomRtp({ seq: i, payload: 500 }), video: true })));
    const r = f.forward(stream, batch, 0);
    // The ring holds 16: filled, flushed, filled again ... every datagram is queued or dropped.
    expect(r.queued + r.dropped).toBe(40);
    expect(r.calls).toBeGreaterThan(1);
    const total = await Promise.all(vs.map((v) => received(v, 10, 2000)));
    expect(total.reduce((n, g) => n + g.length, 0)).toBe(r.queued);
    expect(ids.reduce((n, id) => n + f.field(id, FANOUT.DROPPED), 0)).toBe(r.dropped);
    const s = sock.stats();
    expect(s.drops.queueFull).toBe(r.dropped);
    identity(sock);
    // Every viewer's packets arrive in order, whatever was dropped.
    for (const v of vs) {
      const seqs = v.got.map((d) => v.srtp.decrypt(d).readUInt16BE(2));
      expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
    }
  });

  it('retransmit() resends from the history what an output sent (NACK), with the offsets it had, and counts misses', async () => {
    const sock = await sender();
    const f = new RtpFanout(sock);
    const stream = f.addStream();
    const v = await viewer('SRTP_AES128_CM_HMAC_SHA1_80');
    const rw = { ssrc: 0xabcdef01, payloadType: 102, seqOffset: 1000, tsOffset: 5 };
    const id = addViewer(f, stream, v, 'video', rw);
    f.setLive(id);
    const batch = new FanoutBatch();
    const packets = Array.from({ length: 600 }, (_, i) => randomRtp({ seq: i, ts: i * 10, payload: 50 + (i % 7) }));
    for (let i = 0; i < 600; i += 100) {
      batchOf(batch, packets.slice(i, i + 100).map((bytes) => ({ bytes, video: true })));
      f.forward(stream, batch, 0);
    }
    await received(v, 600);
    // A re-base after packet 599: later packets have other offsets; the NACKed ones keep theirs.
    f.setOffsets(id, 7, 7);
    const r = f.retransmit(id, [1000 + 590, 1000 + 595, 1000 + 10 /* too old: > 512 ago */, 42 /* never sent */]);
    expect(r).toEqual({ queued: 2, misses: 2, dropped: 0 });
    const got = await received(v, 602);
    const w = v.srtp;
    // werift's receiver keeps no replay list: the resent packets decrypt as the originals.
    const plain = got.slice(0, 600).map((d) => w.decrypt(d));
    expect(w.decrypt(got[600])).toEqual(plain[590]);
    expect(w.decrypt(got[601])).toEqual(plain[595]);
    expect(plain[595]).toEqual(expected(packets[595], rw));
    expect(f.field(id, FANOUT.RETRANSMITTED)).toBe(2);
    expect(f.packets(id)).toBe(600);
    identity(sock);
  });

  it('protectRtcp() uses the session context: werift decrypts the SRTCP (both profiles)', async () => {
    const sock = await sender();
    const f = new RtpFanout(sock);
    for (const profile of PROFILES) {
      const v = await viewer(profile);
      const session = f.addSession({ profile, ...v.keys });
      const sr = new werift.RtcpSrPacket({
        ssrc: 0x11223344,
        senderInfo: new werift.RtcpSenderInfo({ ntpTimestamp: 123456789n, rtpTimestamp: 42, packetCount: 7, octetCount: 900 }),
      }).serialize();
      const enc = f.protectRtcp(session, sr);
      expect(v.srtcp.decrypt(enc)).toEqual(sr);
    }
  });

  it('sendRtcp() protects with the output’s session and queues to its viewer behind its RTP (both profiles)', async () => {
    const sock = await sender();
    const f = new RtpFanout(sock);
    const stream = f.addStream();
    for (const profile of PROFILES) {
      const v = await viewer(profile);
      const id = addViewer(f, stream, v, 'video', { ssrc: 0x11223344, payloadType: 96, seqOffset: 0, tsOffset: 0 });
      f.setLive(id);
      const batch = new FanoutBatch();
      batchOf(batch, [{ bytes: randomRtp({ seq: 1 }), video: true }, { bytes: randomRtp({ seq: 2 }), video: true }]);
      f.forward(stream, batch, Date.now());
      const sr = new werift.RtcpSrPacket({
        ssrc: 0x11223344,
        senderInfo: new werift.RtcpSenderInfo({ ntpTimestamp: 123456789n, rtpTimestamp: 42, packetCount: 2, octetCount: 200 }),
      }).serialize();
      expect(f.sendRtcp(id, sr)).toBe(true);
      const got = await received(v, 3);
      expect(got).toHaveLength(3);
      expect(got.slice(0, 2).map((d) => d[1] & 0x7f)).toEqual([96, 96]); // the RTP first
      expect(v.srtcp.decrypt(got[2])).toEqual(sr);
      f.removeOutput(id);
      expect(() => f.sendRtcp(id, sr)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    }
    identity(sock);
  });

  it('startSenderReports(): the fan-out queues each output’s SR + SDES CNAME itself when due, behind its RTP, with exact counts (both profiles)', async () => {
    const sock = await sender();
    const f = new RtpFanout(sock);
    const stream = f.addStream();
    for (const profile of PROFILES) {
      const v = await viewer(profile);
      const session = f.addSession({ profile, ...v.keys });
      const id = f.addOutput({ stream, session, address: '127.0.0.1', port: v.port, kind: 'video', ssrc: 0x11223344, payloadType: 96 });
      f.setOffsets(id, 0, 1000);
      f.setLive(id);
      f.setCname(session, 'relay-cname');
      const t0 = 1_700_000_000_000;
      f.startSenderReports(id, 90_000, t0 + 1000);
      const batch = new FanoutBatch();
      const send = (now: number, packets: { bytes: Buffer; video: boolean }[]): void => {
        batchOf(batch, packets);
        f.forward(stream, batch, now);
      };
      send(t0, [{ bytes: randomRtp({ seq: 1, ts: 9000 }), video: true }, { bytes: randomRtp({ seq: 2, ts: 9000 }), video: true }]); // not due yet
      send(t0 + 1000, [{ bytes: randomRtp({ seq: 3, ts: 18000, payload: 50 }), video: true }]); // due: RTP, then the SR
      const got = await received(v, 4);
      expect(got.map((d) => (d[1] === 200 ? 'SR' : d[1] & 0x7f))).toEqual([96, 96, 96, 'SR']);
      const sr = v.srtcp.decrypt(got[3]); // authenticates with the viewer's keys
      expect(sr.readUInt32BE(4)).toBe(0x11223344);
      const ntpS = sr.readUInt32BE(8);
      expect(ntpS).toBe((t0 + 1000) / 1000 + 2_208_988_800);
      expect(sr.readUInt32BE(12)).toBe(0); // a whole second
      expect(sr.readUInt32BE(16)).toBe(19000); // the last packet's timestamp (+ offset), sent at this very instant
      expect([sr.readUInt32BE(20), sr.readUInt32BE(24)]).toEqual([3, 250]); // packets and payload octets, this batch's included
      expect([sr[28], sr[29]]).toEqual([0x81, 202]); // SDES with one chunk
      expect(sr.subarray(38, 38 + sr[37]).toString()).toBe('relay-cname');
      expect(f.senderReports(id)).toBe(1);
      const next = f.field(id, FANOUT.SR_DUE_AT);
      expect(next).toBeGreaterThanOrEqual(t0 + 1500);
      expect(next).toBeLessThan(t0 + 2500);
      send(next - 1, [{ bytes: randomRtp({ seq: 4, ts: 27000 }), video: true }]); // not yet
      // An audio batch of the stream at the due time: the video output's SR, its RTP time advanced.
      send(next + 500, [{ bytes: randomRtp({ seq: 1, ts: 1 }), video: false }]);
      const after = await received(v, 6);
      const sr2 = v.srtcp.decrypt(after[5]);
      expect(sr2.readUInt32BE(16)).toBe((28000 + 501 * 90) >>> 0);
      expect(sr2.readUInt32BE(20)).toBe(4);
      expect(f.senderReports(id)).toBe(2);
      f.stopSenderReports(id);
      send(next + 5000, [{ bytes: randomRtp({ seq: 5, ts: 36000 }), video: true }]);
      expect(await received(v, 7)).toHaveLength(7);
      await new Promise((r) => setTimeout(r, 50)); // nothing more comes (an absence: load cannot fake it)
      expect(v.got).toHaveLength(7);
      expect(f.senderReports(id)).toBe(2);
      f.removeOutput(id);
      f.removeSession(session);
    }
    identity(sock);
    expect(() => f.setCname(99, 'x')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });

  it('bad arguments are typed errors before anything is touched', async () => {
    const sock = await sender();
    const f = new RtpFanout(sock);
    const stream = f.addStream();
    expect(() => f.addSession({ profile: 0x0002 as never, masterKey: randomBytes(16), masterSalt: randomBytes(14) })).toThrow(RangeError);
    expect(() => f.addSession({ profile: 'SRTP_AEAD_AES_128_GCM', masterKey: randomBytes(16), masterSalt: randomBytes(14) })).toThrow(/salt/);
    const batch = new FanoutBatch();
    const arena = Buffer.alloc(64);
    batch.reset(arena);
    batch.push(0, 11, true); // shorter than an RTP header
    expect(() => f.forward(stream, batch, 0)).toThrow(RangeError);
    batch.reset(arena);
    batch.push(60, 12, true); // outside the arena
    expect(() => f.forward(stream, batch, 0)).toThrow(/outside/);
    expect(() => f.forward(stream + 1, batch, 0)).not.toThrow(); // unknown to the wrapper: nothing to do
    expect(() => f.retransmit(999, [1])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    const plain = createBatchSocket({ type: 'udp4', backend: 'dgram' });
    expect(() => new RtpFanout(plain)).toThrow(expect.objectContaining({ code: 'ERR_BACKEND_UNAVAILABLE' }));
    plain.close();
    expect(() => new RtpFanout(sock, { mtu: 10 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(sock.stats().enqueued).toBe(0);
  });

  it('a batch made by batch() is registered natively once: forward() passes no arrays per call, again only when an array changed; same datagrams as a plain batch', async () => {
    const sock = await sender();
    const f = new RtpFanout(sock);
    const stream = f.addStream();
    const v = await viewer('SRTP_AEAD_AES_128_GCM');
    const rw = { ssrc: 0x1234abcd, payloadType: 102, seqOffset: 7, tsOffset: 99 };
    const id = addViewer(f, stream, v, 'video', rw);
    f.setLive(id);
    const native = (f as unknown as { native: NativeBinding['RtpFanout']['prototype'] }).native;
    let registrations = 0;
    const setBatch = native.setBatch.bind(native);
    // (the addon's methods are read-only on its prototype: shadowed on the instance)
    Object.defineProperty(native, 'setBatch', {
      value: (...a: Parameters<typeof setBatch>) => {
        registrations++;
        setBatch(...a);
      },
    });
    const sent: Buffer[] = [];
    let seq = 100;
    const next = (n: number, payload = 200) =>
      Array.from({ length: n }, () => {
        const bytes = randomRtp({ seq: seq++, ts: seq * 3000, payload });
        sent.push(bytes);
        return { bytes, video: true };
      });
    const b = f.batch();
    expect(b.owner).toBe(f);
    // The same arena twice: registered once.
    const arena = batchOf(b, next(3));
    expect(f.forward(stream, b, 1).queued).toBe(3);
    b.reset(arena);
    for (let i = 0; i < 3; i++) {
      const bytes = randomRtp({ seq: seq++, ts: seq * 3000, payload: 200 });
      sent.push(bytes);
      bytes.copy(arena, 3 + i * (bytes.length + 7));
      b.push(3 + i * (bytes.length + 7), bytes.length, true);
    }
    expect(f.forward(stream, b, 2).queued).toBe(3);
    expect(registrations).toBe(1);
    // Another arena: registered again; a packet list grown past its 256 entries: again.
    batchOf(b, next(2));
    expect(f.forward(stream, b, 3).queued).toBe(2);
    expect(registrations).toBe(2);
    batchOf(b, next(300, 20));
    expect(f.forward(stream, b, 4).queued).toBe(300);
    expect(registrations).toBe(3);
    // A batch the caller made itself takes the per-call path (nothing registered).
    const plain = new FanoutBatch();
    batchOf(plain, next(2));
    expect(f.forward(stream, plain, 5).queued).toBe(2);
    expect(registrations).toBe(3);
    const got = await received(v, sent.length);
    expect(got.length).toBe(sent.length);
    got.forEach((d, i) => expect(v.srtp.decrypt(d)).toEqual(expected(sent[i], rw)));
    identity(sock);

    // forwardBatch is also an own property (callback data = the native object: no unwrap per
    // call) that keeps its instance alive.
    const own = Object.getOwnPropertyDescriptor(native, 'forwardBatch');
    expect(typeof own?.value).toBe('function');
    expect((own!.value as { owner: unknown }).owner).toBe(native);
    // Raw: slot errors are typed, never a write.
    expect(() => native.forwardBatch(stream, 65535, 1)).toThrow(/no batch registered/);
    expect(() => native.setBatch(65536, new Uint8Array(1), new Uint8Array(1), new Uint32Array(3))).toThrow(RangeError);
    expect(() => native.setBatch(0, new Uint8Array(1), new Uint8Array(1), new Int32Array(3) as unknown as Uint32Array)).toThrow(TypeError);
    native.setBatch(65535, new Uint8Array(16), new Uint8Array(0), new Uint32Array(3));
    expect(() => native.forwardBatch(stream, 65535, 2)).toThrow(RangeError); // count over the packets' length / 3
    native.releaseBatch(65535);
    expect(() => native.forwardBatch(stream, 65535, 0)).toThrow(/no batch registered/);
  });

  it('raw binding: state/io and the send ring are registered once; a missing, bad, detached or shrunk one is a typed error, never a write', () => {
    const N = (loadNative() as { ok: true; binding: NativeBinding }).binding;
    const state = new Float64Array(4 * FANOUT.STRIDE);
    expect(() => new (N.RtpFanout as unknown as new (s: Float64Array) => unknown)(state)).toThrow(TypeError);
    expect(() => new N.RtpFanout(state, new Float64Array(FANOUT.IO_LENGTH - 1))).toThrow(RangeError);
    const block = new ArrayBuffer(8 * (4 * FANOUT.STRIDE + FANOUT.IO_LENGTH));
    const io = new Float64Array(block, 8 * 4 * FANOUT.STRIDE, FANOUT.IO_LENGTH);
    const f = new N.RtpFanout(new Float64Array(block, 0, 4 * FANOUT.STRIDE), io);
    const stream = f.addStream();
    const src = new Uint8Array(64);
    const packets = Uint32Array.of(0, 12, FANOUT.PACKET_VIDEO);
    io[FANOUT.IO_SLOTS] = 1;
    io[FANOUT.IO_ARENA_END] = 16;
    io[FANOUT.IO_MTU] = 1200;
    expect(() => f.forward(stream, src, src, packets, 1)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
    expect(() => f.setRing(new Uint8Array(16), new Uint32Array(2), new Uint32Array(1), new Int32Array(2))).toThrow(RangeError);
    expect(() => f.setRing(new Uint8Array(16), new Uint32Array(0), new Uint32Array(0), new Int32Array(0))).toThrow(RangeError);
    expect(() => f.setRing(new Uint8Array(16), new Int32Array(1) as unknown as Uint32Array, new Uint32Array(1), new Int32Array(1))).toThrow(TypeError);
    // A ring carved like SlotRing's (offsets, lengths, peers in one buffer); io past its arena is refused.
    const arena = new Uint8Array(16);
    const slots = new ArrayBuffer(12 * 2);
    f.setRing(arena, new Uint32Array(slots, 0, 2), new Uint32Array(slots, 8, 2), new Int32Array(slots, 16, 2));
    expect(f.forward(stream, src, src, packets, 1)).toBe(0); // no outputs: nothing queued
    io[FANOUT.IO_ARENA_END] = 17;
    expect(() => f.forward(stream, src, src, packets, 1)).toThrow(/outside the ring or arena/);
    io[FANOUT.IO_ARENA_END] = 16;
    structuredClone(slots, { transfer: [slots] });
    expect(() => f.forward(stream, src, src, packets, 1)).toThrow(/send ring is no longer valid/);
    expect(() => f.retransmit(0, new Uint32Array(1), 0)).toThrow(RangeError); // no output 0
    f.setRing(arena, new Uint32Array(1), new Uint32Array(1), new Int32Array(1));
    expect(f.forward(stream, src, src, packets, 1)).toBe(0);
    structuredClone(block, { transfer: [block] });
    expect(() => f.forward(stream, src, src, packets, 1)).toThrow(/state or io array is no longer valid/);
  });
});
