/**
 * The relay's per-stream ingest policy and per-output rewrite, without sockets: RFC 3550
 * A.1 sequence validation, the source lock (spoofers, restarts, switches), the
 * per-output header rewrite and re-basing, H.264 parameter sets, the ingest SDP and
 * the stream's fan-out decisions with scripted viewers.
 */
import { describe, expect, it } from 'vitest';
import * as werift from 'werift';
import { MAX_DROPOUT, SeqVerdict, SequenceValidator } from '../../src/relay/rtp-sequence.js';
import { Admit, SourceLock } from '../../src/relay/source-lock.js';
import { RtpOutput, continuityOffsets, rewriteRtpHeader } from '../../src/relay/output.js';
import { collectParameterSets, keyframeMark, KeyframeMark, parameterSetPacket, parseSpropParameterSets } from '../../src/relay/h264.js';
import { parseIngestSdp } from '../../src/relay/ingest-sdp.js';
import { RelayStream } from '../../src/relay/stream.js';
import { parseRtpHeader } from '../../src/relay/rtp.js';
import type { Viewer } from '../../src/relay/viewer.js';
import { parseRelayArgs } from '../../src/relay/args.js';

function rtp(pt: number, seq: number, ts: number, ssrc: number, payload: number[] = [0x41, 0x9a], marker = false): Buffer {
  const b = Buffer.alloc(12 + payload.length);
  b[0] = 0x80;
  b[1] = (marker ? 0x80 : 0) | pt;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(ts >>> 0, 4);
  b.writeUInt32BE(ssrc >>> 0, 8);
  b.set(payload, 12);
  return b;
}

describe('RFC 3550 A.1 sequence validation', () => {
  it('probation: valid after MIN_SEQUENTIAL packets in sequence; random numbers never pass', () => {
    const v = new SequenceValidator(1000);
    expect(v.update(1000)).toBe(SeqVerdict.Probation);
    expect(v.update(1001)).toBe(SeqVerdict.Valid);
    expect(v.update(1002)).toBe(SeqVerdict.Valid);
    const r = new SequenceValidator(5);
    for (const s of [5, 900, 31000, 17, 64000]) expect(r.update(s)).toBe(SeqVerdict.Probation);
  });

  it('a gap ahead below MAX_DROPOUT is loss; a wild jump is dropped, and a second packet after it resyncs', () => {
    const v = new SequenceValidator(100);
    v.update(100);
    v.update(101);
    expect(v.update(101 + MAX_DROPOUT - 1)).toBe(SeqVerdict.Valid);
    expect(v.update(40000)).toBe(SeqVerdict.Invalid);
    expect(v.update(12345)).toBe(SeqVerdict.Invalid); // not following the jump
    expect(v.update(12346)).toBe(SeqVerdict.Resync); // restarted sequence space
    expect(v.update(12347)).toBe(SeqVerdict.Valid);
  });

  it('advance(last, n) is n contiguous update()s (cycles across wraps, received)', () => {
    for (const [start, n] of [[100, 5], [65530, 10], [65535, 1], [0, 200000], [40000, 65536]]) {
      const a = new SequenceValidator(start);
      const b = new SequenceValidator(start);
      for (const v of [a, b]) {
        v.update(start);
        v.update((start + 1) & 0xffff);
      }
      let last = (start + 1) & 0xffff;
      for (let i = 0; i < n; i++) {
        last = (last + 1) & 0xffff;
        expect(a.update(last)).toBe(SeqVerdict.Valid);
      }
      b.advance(last, n);
      expect({ maxSeq: b.maxSeq, cycles: b.cycles, received: b.received, ext: b.extendedMax }).toEqual({ maxSeq: a.maxSeq, cycles: a.cycles, received: a.received, ext: a.extendedMax });
    }
  });

  it('small steps back are reordering; wrap-around counts a cycle', () => {
    const v = new SequenceValidator(65534);
    v.update(65534);
    v.update(65535);
    expect(v.update(0)).toBe(SeqVerdict.Valid);
    expect(v.cycles).toBe(65536);
    expect(v.update(65530)).toBe(SeqVerdict.Reordered);
    expect(v.update(1)).toBe(SeqVerdict.Valid);
  });
});

describe('source lock', () => {
  const A = '127.0.0.1';

  it('the first source that passes probation owns the stream; a spoofer on another port is dropped', () => {
    const lock = new SourceLock({ clockRate: 90000 });
    expect(lock.admit(A, 5000, 0xaaaa, 10, 0, 0)).toBe(Admit.DropProbation);
    expect(lock.admit(A, 5000, 0xaaaa, 11, 0, 1)).toBe(Admit.AcceptDiscontinuity);
    expect(lock.lastChange).toBe('first');
    expect(lock.admit(A, 5000, 0xaaaa, 12, 3000, 34)).toBe(Admit.Accept);
    // Same SSRC from another port, and random SSRC/sequence spoofs: foreign.
    expect(lock.admit(A, 6000, 0xaaaa, 13, 3000, 35)).toBe(Admit.DropForeign);
    for (let i = 0; i < 4; i++) expect(lock.admit(A, 6001, 0x1234 + i, (i * 7919) & 0xffff, i, 36)).toBe(Admit.DropForeign);
    expect(lock.admit(A, 5000, 0xaaaa, 13, 6000, 67)).toBe(Admit.Accept);
    expect(lock.source).toEqual({ address: A, port: 5000, ssrc: 0xaaaa });
  });

  it('advanceOwner (packets accepted natively) keeps the owner fresh and in sequence; steadyInto reports where it stands', () => {
    const lock = new SourceLock({ clockRate: 90000 });
    const at = { address: '', port: 0, ssrc: 0, nextSeq: 0, lastTs: 0 };
    expect(lock.steadyInto(at)).toBe(false);
    lock.advanceOwner(5, 0, 0, 1); // no owner: nothing
    lock.admit(A, 5000, 7, 65530, 0, 0);
    expect(lock.admit(A, 5000, 7, 65531, 0, 1)).toBe(Admit.AcceptDiscontinuity);
    // 20 packets (across the wrap) taken by the addon, the last at t = 5000 ms.
    lock.advanceOwner((65531 + 20) & 0xffff, 450_000, 5000, 20);
    expect(lock.steadyInto(at)).toBe(true);
    expect(at).toEqual({ address: A, port: 5000, ssrc: 7, nextSeq: (65531 + 21) & 0xffff, lastTs: 450_000 });
    // The owner was heard at 5000: another sender at 6000 is foreign (not a switch after 2 s of silence)…
    expect(lock.admit('127.0.0.2', 5000, 9, 1, 0, 6000)).toBe(Admit.DropForeign);
    // …and the owner's next packet is contiguous: accepted, no discontinuity.
    expect(lock.admit(A, 5000, 7, at.nextSeq, 450_000 + 3000, 6001)).toBe(Admit.Accept);
  });

  it('a wild sequence jump of the owner is dropped; a resync (two in sequence) is a discontinuity', () => {
    const lock = new SourceLock({ clockRate: 90000 });
    lock.admit(A, 5000, 1, 10, 0, 0);
    lock.admit(A, 5000, 1, 11, 0, 0);
    expect(lock.admit(A, 5000, 1, 30000, 0, 10)).toBe(Admit.DropSequence);
    expect(lock.admit(A, 5000, 1, 12, 3000, 33)).toBe(Admit.Accept);
    expect(lock.admit(A, 5000, 1, 50000, 6000, 66)).toBe(Admit.DropSequence);
    expect(lock.admit(A, 5000, 1, 50001, 6000, 66)).toBe(Admit.AcceptDiscontinuity);
    expect(lock.lastChange).toBe('sequence');
  });

  it('a timestamp jump against the arrival clock is a discontinuity; B-frame reordering is not', () => {
    const lock = new SourceLock({ clockRate: 90000 });
    lock.admit(A, 5000, 1, 10, 0, 0);
    lock.admit(A, 5000, 1, 11, 0, 0);
    expect(lock.admit(A, 5000, 1, 12, 9000, 33)).toBe(Admit.Accept);
    expect(lock.admit(A, 5000, 1, 13, 3000, 66)).toBe(Admit.Accept); // B-frame: behind by 2 frames
    expect(lock.admit(A, 5000, 1, 14, 3000 + 90000 * 60, 99)).toBe(Admit.Accept); // next sequence number: a stall, not a restart
    expect(lock.admit(A, 5000, 1, 40, 777, 132)).toBe(Admit.AcceptDiscontinuity); // small sequence jump + timestamp jump
    expect(lock.lastChange).toBe('timestamp');
  });

  it('restart: a new SSRC from the owner address takes over once the owner is quiet; a second sender while the owner sends does not', () => {
    const lock = new SourceLock({ clockRate: 90000, restartSilenceMs: 250, sourceTimeoutMs: 2000 });
    lock.admit(A, 5000, 1, 10, 0, 0);
    lock.admit(A, 5000, 1, 11, 0, 0);
    // Interloper with sequential numbers while the owner keeps sending.
    for (let i = 0; i < 20; i++) {
      expect(lock.admit(A, 7000, 2, 500 + i, 0, 10 + i * 10)).toBe(Admit.DropForeign);
      expect(lock.admit(A, 5000, 1, 12 + i, 0, 15 + i * 10)).toBe(Admit.Accept);
    }
    // The owner stops (encoder killed); the restarted encoder: new port, new SSRC, sequence numbers behind.
    expect(lock.admit(A, 5002, 3, 5, 77, 300)).toBe(Admit.DropForeign); // 95 ms of silence: not yet
    expect(lock.admit(A, 5002, 3, 6, 77, 500)).toBe(Admit.AcceptDiscontinuity); // probation passed meanwhile
    expect(lock.lastChange).toBe('restart');
    expect(lock.admit(A, 5000, 1, 40, 0, 502)).toBe(Admit.DropForeign); // the old one is foreign now
  });

  it('switch: another address takes over only after the owner was silent for the source timeout', () => {
    const lock = new SourceLock({ clockRate: 90000, sourceTimeoutMs: 2000 });
    lock.admit(A, 5000, 1, 10, 0, 0);
    lock.admit(A, 5000, 1, 11, 0, 0);
    expect(lock.admit('127.0.0.2', 5000, 9, 1, 0, 1000)).toBe(Admit.DropForeign);
    expect(lock.admit('127.0.0.2', 5000, 9, 2, 0, 1500)).toBe(Admit.DropForeign);
    expect(lock.admit('127.0.0.2', 5000, 9, 3, 0, 2100)).toBe(Admit.AcceptDiscontinuity);
    expect(lock.lastChange).toBe('switch');
    expect(lock.sourceChanges).toBe(2);
  });
});

describe('per-output rewrite', () => {
  it('rewrites SSRC, payload type (keeping the marker), sequence number and timestamp with wrap-around; nothing else', () => {
    const b = rtp(96, 65530, 0xfffffff0, 0x11111111, [1, 2, 3], true);
    const before = Buffer.from(b);
    const seq = rewriteRtpHeader(b, 0, { ssrc: 0xdeadbeef, payloadType: 102, seqOffset: 10, tsOffset: 0x20 });
    const h = parseRtpHeader(b)!;
    expect(seq).toBe(4);
    expect(h).toMatchObject({ payloadType: 102, marker: true, sequenceNumber: 4, timestamp: 0x10, ssrc: 0xdeadbeef });
    expect(b[0]).toBe(before[0]);
    expect(b.subarray(12)).toEqual(before.subarray(12));
  });

  it('continuityOffsets: the next packet follows the last one sent', () => {
    const o = continuityOffsets(65535, 0xffffffff, 3000, 100, 5);
    expect((100 + o.seqOffset) & 0xffff).toBe(0);
    expect((5 + o.tsOffset) >>> 0).toBe(2999);
  });

  it('RtpOutput: continuous across a gate/resume into another sequence and timestamp space', () => {
    const out = new RtpOutput(90000, { seq: 500, ts: 1000 });
    Object.assign(out.rewrite, { ssrc: 42, payloadType: 102 });
    out.resume(7000, 123456, 0);
    const seqs: number[] = [];
    const tss: number[] = [];
    const send = (seq: number, ts: number, now: number): void => {
      const p = parseRtpHeader(out.apply(rtp(96, seq, ts, 1), 0, 14, now))!;
      seqs.push(p.sequenceNumber);
      tss.push(p.timestamp);
    };
    send(7000, 123456, 0);
    send(7001, 123456 + 3000, 33);
    out.gate(); // restart: new sequence space far behind
    out.resume(12, 999, 100);
    send(12, 999, 100);
    send(13, 999 + 3000, 133);
    expect(seqs).toEqual([500, 501, 502, 503]);
    expect(tss[0]).toBe(1000);
    expect(tss[1] - tss[0]).toBe(3000);
    expect(tss[2] - tss[1]).toBe(67 * 90); // wall-clock time between them
    expect(tss[3] - tss[2]).toBe(3000);
  });
});

describe('H.264 parameter sets', () => {
  const sps = Uint8Array.of(0x67, 0x42, 0xc0, 0x0d);
  const pps = Uint8Array.of(0x68, 0xcb, 0x83);

  it('collects SPS/PPS from single NAL units and STAP-A; builds a STAP-A of them that reads back', () => {
    const ps: { sps?: Uint8Array; pps?: Uint8Array } = {};
    expect(collectParameterSets(sps, 0, sps.length, ps)).toBe(true);
    expect(collectParameterSets(pps, 0, pps.length, ps)).toBe(true);
    expect([Buffer.from(ps.sps!), Buffer.from(ps.pps!)]).toEqual([Buffer.from(sps), Buffer.from(pps)]);
    const pkt = parameterSetPacket([sps, pps], 7, 9000, 5, 96);
    const h = parseRtpHeader(pkt)!;
    expect(h).toMatchObject({ sequenceNumber: 7, timestamp: 9000, ssrc: 5, payloadType: 96 });
    expect(keyframeMark(pkt, h.payloadOffset, h.payloadLength)).toBe(KeyframeMark.Sps);
    const again: { sps?: Uint8Array; pps?: Uint8Array } = {};
    collectParameterSets(pkt, h.payloadOffset, h.payloadLength, again);
    pkt.fill(0); // the cache holds copies, not views of the (reused) receive buffer
    expect([Buffer.from(again.sps!), Buffer.from(again.pps!)]).toEqual([Buffer.from(sps), Buffer.from(pps)]);
  });

  it('parses sprop-parameter-sets; refuses garbage', () => {
    expect(parseSpropParameterSets('Z0LADdkBQfsBEAAAAwAQAAADA8DxQqSA,aMuDyyA=').sps?.[0]).toBe(0x67);
    expect(() => parseSpropParameterSets('not base64!')).toThrow(/base64/);
    expect(() => parseSpropParameterSets('aMuDyyA=')).toThrow(/SPS and a PPS/);
  });

  it("reads an ffmpeg -sdp_file: port, payload types, sprop", () => {
    const sdp = [
      'v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=No Name', 't=0 0',
      'm=video 5990 RTP/AVP 100', 'c=IN IP4 127.0.0.1', 'a=rtpmap:100 H264/90000',
      'a=fmtp:100 packetization-mode=1; sprop-parameter-sets=Z0LADdkBQfsBEAAAAwAQAAADA8DxQqSA,aMuDyyA=; profile-level-id=42C00D',
      'm=audio 5990 RTP/AVP 101', 'c=IN IP4 127.0.0.1', 'a=rtpmap:101 opus/48000/2', '',
    ].join('\r\n');
    const s = parseIngestSdp(werift, sdp);
    expect(s).toMatchObject({ port: 5990, videoPayloadType: 100, audioPayloadType: 101 });
    expect(Buffer.from(s.parameterSets!.pps!)).toEqual(Buffer.from('aMuDyyA=', 'base64'));
    expect(() => parseIngestSdp(werift, sdp.replace('m=audio 5990', 'm=audio 5992'))).toThrow(/one port/);
    expect(() => parseIngestSdp(werift, 'v=0\r\nm=video 5000 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n')).toThrow(/no H.264/);
  });

  it('--ingest takes NAME=PORT, NAME=PORT,sprop-parameter-sets=... and NAME=FILE.sdp', () => {
    const o = parseRelayArgs(['--ingest', 'a=5004,sprop-parameter-sets=Z0I=,aM4=', '--ingest', 'b=5006', '--source-timeout', '500']);
    expect(o).toMatchObject({ streams: [{ name: 'a', port: 5004, spropParameterSets: 'Z0I=,aM4=' }, { name: 'b', port: 5006 }], sourceTimeoutMs: 500 });
    expect(() => parseRelayArgs(['--ingest', 'a=/nonexistent/cam.sdp'])).toThrow(/cannot read the SDP/);
    expect(() => parseRelayArgs(['--ingest', 'a=cam'])).toThrow(/\.sdp/);
  });
});

/** A scripted viewer: what the stream's fan-out needs of viewer.ts, recording what it is sent. */
function fakeViewer(): { v: Viewer; video: Buffer[]; audio: Buffer[] } {
  const video: Buffer[] = [];
  const audio: Buffer[] = [];
  const vOut = new RtpOutput(90000, { seq: 100, ts: 0 });
  const aOut = new RtpOutput(48000, { seq: 200, ts: 0 });
  aOut.live = true;
  const v = {
    connected: true,
    hasRoom: true,
    video: vOut,
    audio: aOut,
    waitingSince: 0,
    counters: { forwarded: 0, pli: 0, fir: 0, stalls: 0, freezes: 0 },
    parameterSetsDue: false,
    rtcpCounters: () => ({ senderReports: 0, senderReportsFailed: 0, nacks: 0, nackRequested: 0, retransmitted: 0, nackMissed: 0, pli: 0, fir: 0 }),
    get videoLive() {
      return vOut.live;
    },
    sendVideo: (b: Buffer) => video.push(b),
    sendAudio: (b: Buffer) => audio.push(b),
    gotKeyframe() {},
    stall() {},
    on() {},
  } as unknown as Viewer;
  return { v, video, audio };
}

describe('stream fan-out policy', () => {
  const SPS = [0x67, 0x42, 0xc0, 0x0d];
  const PPS = [0x68, 0xcb, 0x83];
  const IDR = [0x65, 0x88, 0x84];
  const P = [0x41, 0x9a];

  it('SPS-once encoder: a late joiner starts at the next IDR with the cached SPS/PPS sent first, in sequence', () => {
    const s = new RelayStream({ name: 't', videoPayloadType: 96, audioPayloadType: 97 });
    let seq = 1000;
    let ts = 0;
    const send = (payload: number[], newFrame = true): void => {
      if (newFrame) ts += 3000;
      const b = rtp(96, seq++, ts, 0xabc, payload);
      s.onDatagram(b, 0, b.length, '127.0.0.1', 5000, ts / 90);
    };
    send(P); // probation
    send(SPS);
    send(PPS, false);
    send(IDR, false);
    for (let i = 0; i < 5; i++) send(P);
    const { v, video } = fakeViewer();
    s.add(v);
    send(P);
    expect(video.length).toBe(0); // waits for a keyframe
    send(IDR);
    send(P);
    expect(video.length).toBe(3);
    const hs = video.map((b) => parseRtpHeader(b)!);
    expect(keyframeMark(video[0], hs[0].payloadOffset, hs[0].payloadLength)).toBe(KeyframeMark.Sps); // STAP-A SPS+PPS
    expect(hs.map((h) => h.sequenceNumber)).toEqual([100, 101, 102]);
    expect(hs[0].timestamp).toBe(hs[1].timestamp);
    expect(s.counters.parameterSetsSent).toBe(1);
  });

  it('a live viewer that asked for a keyframe (PLI/FIR) gets the cached SPS/PPS inserted before the next IDR, in sequence, at its timestamp; an in-band SPS keyframe needs none', () => {
    const s = new RelayStream({ name: 't', videoPayloadType: 96, audioPayloadType: 97 });
    let seq = 1000;
    let ts = 0;
    const send = (payload: number[], newFrame = true): void => {
      if (newFrame) ts += 3000;
      const b = rtp(96, seq++, ts, 0xabc, payload);
      s.onDatagram(b, 0, b.length, '127.0.0.1', 5000, ts / 90);
    };
    const { v, video } = fakeViewer();
    s.add(v);
    send(P); // probation
    send(SPS);
    send(PPS, false);
    send(IDR, false);
    send(P);
    expect(video.length).toBe(4); // live from the keyframe on: SPS, PPS, IDR, P
    v.parameterSetsDue = true; // what viewer.ts does on a PLI or a new FIR
    send(P);
    expect(video.length).toBe(5); // not at a P-frame: frames keep flowing
    send(IDR); // an IDR without in-band SPS/PPS
    send(P);
    expect(video.length).toBe(8);
    const hs = video.map((b) => parseRtpHeader(b)!);
    expect(hs.map((h) => h.sequenceNumber)).toEqual(hs.map((_, i) => 100 + i)); // contiguous, nothing skipped
    expect(keyframeMark(video[5], hs[5].payloadOffset, hs[5].payloadLength)).toBe(KeyframeMark.Sps); // the STAP-A SPS+PPS
    expect(keyframeMark(video[6], hs[6].payloadOffset, hs[6].payloadLength)).toBe(KeyframeMark.IdrStart);
    expect(hs[5].timestamp).toBe(hs[6].timestamp);
    expect(hs[7].timestamp - hs[6].timestamp).toBe(3000); // media timing unchanged
    expect(v.parameterSetsDue).toBe(false);
    expect(s.counters).toMatchObject({ parameterSetsOnRequest: 1, parameterSetsSent: 1 });
    // Asked again, and the next keyframe carries SPS/PPS in band: nothing is inserted.
    v.parameterSetsDue = true;
    send(SPS);
    send(PPS, false);
    send(IDR, false);
    expect(video.length).toBe(11);
    expect(v.parameterSetsDue).toBe(false);
    expect(s.counters.parameterSetsOnRequest).toBe(1);
    const all = video.map((b) => parseRtpHeader(b)!.sequenceNumber);
    expect(all).toEqual(all.map((_, i) => 100 + i));
  });

  it('restart behind the old sequence numbers and a new SSRC: the viewer is gated to the next keyframe and continues its own numbering', () => {
    const s = new RelayStream({ name: 't', videoPayloadType: 96, audioPayloadType: 97 });
    const { v, video, audio } = fakeViewer();
    s.add(v);
    let now = 0;
    const feed = (port: number, ssrc: number, seq0: number, ts0: number, payloads: number[][]): void => {
      payloads.forEach((p, i) => {
        const b = rtp(96, seq0 + i, ts0 + i * 3000, ssrc, p);
        s.onDatagram(b, 0, b.length, '127.0.0.1', port, (now += 33));
        const a = rtp(97, seq0 + i, ts0 + i * 960, ssrc + 1);
        s.onDatagram(a, 0, a.length, '127.0.0.1', port + 1, now);
      });
    };
    feed(5000, 10, 30000, 0, [P, SPS, PPS, IDR, P, P]);
    const before = video.length;
    expect(before).toBe(5); // SPS, PPS, IDR, P, P
    now += 1000; // the encoder restarts
    feed(6000, 20, 5, 777, [P, P, P, SPS, PPS, IDR, P]);
    const seqs = video.map((b) => parseRtpHeader(b)!.sequenceNumber);
    expect(seqs).toEqual(seqs.map((_, i) => 100 + i));
    expect(video.length).toBe(before + 4); // nothing before the new keyframe
    expect(new Set(video.map((b) => parseRtpHeader(b)!.ssrc)).size).toBe(1);
    expect(s.counters.sourceChanges).toMatchObject({ first: 2, restart: 2 }); // video and audio
    const aseq = audio.map((b) => parseRtpHeader(b)!.sequenceNumber);
    expect(aseq).toEqual(aseq.map((_, i) => 200 + i));
  });

  it('spoofed RTP from another port and garbage change nothing the viewer gets', () => {
    const s = new RelayStream({ name: 't', videoPayloadType: 96, audioPayloadType: 97 });
    const { v, video } = fakeViewer();
    s.add(v);
    let seq = 10;
    const real = (p: number[]): void => {
      const b = rtp(96, seq++, seq * 3000, 7, p);
      s.onDatagram(b, 0, b.length, '127.0.0.1', 5000, seq * 33);
    };
    for (const p of [P, SPS, PPS, IDR, P]) real(p);
    for (let i = 0; i < 4; i++) {
      const spoof = rtp(96, (i * 20011) & 0xffff, i * 99991, i === 0 ? 7 : 0x5000 + i, IDR);
      s.onDatagram(spoof, 0, spoof.length, '127.0.0.1', 40000 + i, seq * 33);
      const junk = Buffer.from([0x12, 0x34, 0x56]);
      s.onDatagram(junk, 0, junk.length, '127.0.0.1', 40000, seq * 33);
    }
    real(P);
    real(P);
    const seqs = video.map((b) => parseRtpHeader(b)!.sequenceNumber);
    expect(seqs).toEqual([100, 101, 102, 103, 104, 105]);
    expect(s.counters.ingestForeign).toBe(4);
    expect(s.counters.ingestInvalid).toBe(4);
  });

  it('B-frames: one warning naming -bf 0, counted', () => {
    const lines: string[] = [];
    const s = new RelayStream({ name: 'cam', videoPayloadType: 96, audioPayloadType: 97, log: (l) => lines.push(l) });
    // decode order I0 P3 B1 B2 P6 B4 B5
    [0, 3, 1, 2, 6, 4, 5].forEach((f, i) => {
      const b = rtp(96, 100 + i, f * 3000, 1, i === 0 ? IDR : P);
      s.onDatagram(b, 0, b.length, '127.0.0.1', 5000, i * 33);
    });
    expect(s.counters.bframes).toBe(2);
    expect(lines.filter((l) => l.includes('B-frames'))).toHaveLength(1);
    expect(lines.join('\n')).toContain('-bf 0');
  });

  it('packets over 1184 bytes (1200 once SRTP-protected): one warning with the encoder fix, counted', () => {
    const lines: string[] = [];
    const s = new RelayStream({ name: 'cam', videoPayloadType: 96, audioPayloadType: 97, log: (l) => lines.push(l) });
    for (let i = 0; i < 5; i++) {
      const b = rtp(96, 10 + i, i * 3000, 1, [0x7c, 0x01, ...new Array(1450).fill(0)]);
      s.onDatagram(b, 0, b.length, '127.0.0.1', 5000, i * 33);
    }
    expect(s.counters.ingestOversize).toBe(4); // the first was on probation
    expect(lines.filter((l) => l.includes('warning'))).toHaveLength(1);
    expect(lines.join('\n')).toContain('pkt_size=1184');
  });

  it('unknown payload types only: one warning naming them and --video-pt/--audio-pt', () => {
    const lines: string[] = [];
    const s = new RelayStream({ name: 'cam', videoPayloadType: 96, audioPayloadType: 97, log: (l) => lines.push(l) });
    for (let i = 0; i < 120; i++) {
      const b = rtp(i % 2 ? 100 : 111, i, i, 1);
      s.onDatagram(b, 0, b.length, '127.0.0.1', 5000, i);
    }
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/payload types 100, 111/);
    expect(lines[0]).toContain('--video-pt');
  });
});
