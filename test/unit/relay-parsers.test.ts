import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseRtpHeader } from '../../src/relay/rtp.js';
import { KeyframeMark, keyframeMark } from '../../src/relay/h264.js';
import { readRtpdump, writeRtpdump } from '../../src/relay/rtpdump.js';
import { parseRelayArgs, UsageError } from '../../src/relay/args.js';
import { DEMO_RECORDING } from '../../src/relay/demo-source.js';

function rtp(opts: { pt?: number; seq?: number; ts?: number; ssrc?: number; marker?: boolean; csrc?: number; ext?: number; pad?: number; payload?: number[] }): Buffer {
  const csrc = opts.csrc ?? 0;
  const payload = Buffer.from(opts.payload ?? [0x65, 1, 2, 3]);
  const extBytes = opts.ext === undefined ? 0 : 4 + opts.ext * 4;
  const pad = opts.pad ?? 0;
  const b = Buffer.alloc(12 + csrc * 4 + extBytes + payload.length + pad);
  b[0] = 0x80 | (pad ? 0x20 : 0) | (opts.ext !== undefined ? 0x10 : 0) | csrc;
  b[1] = (opts.marker ? 0x80 : 0) | (opts.pt ?? 96);
  b.writeUInt16BE(opts.seq ?? 1, 2);
  b.writeUInt32BE(opts.ts ?? 1000, 4);
  b.writeUInt32BE(opts.ssrc ?? 0xdeadbeef, 8);
  let off = 12 + csrc * 4;
  if (opts.ext !== undefined) {
    b.writeUInt16BE(0xbede, off);
    b.writeUInt16BE(opts.ext, off + 2);
    off += extBytes;
  }
  payload.copy(b, off);
  if (pad) b[b.length - 1] = pad;
  return b;
}

describe('parseRtpHeader (RFC 3550 §5.1)', () => {
  it('reads the fixed header', () => {
    const h = parseRtpHeader(rtp({ pt: 97, seq: 65535, ts: 0xfffffff0, ssrc: 0x01020304, marker: true }));
    expect(h).toEqual({ payloadType: 97, marker: true, sequenceNumber: 65535, timestamp: 0xfffffff0, ssrc: 0x01020304, payloadOffset: 12, payloadLength: 4 });
  });
  it('skips CSRCs and the header extension, removes padding', () => {
    const h = parseRtpHeader(rtp({ csrc: 2, ext: 1, pad: 3 }))!;
    expect(h.payloadOffset).toBe(12 + 8 + 8);
    expect(h.payloadLength).toBe(4);
  });
  it('parses at an offset inside a larger buffer (receive ring)', () => {
    const ring = Buffer.concat([Buffer.alloc(100, 0xff), rtp({ seq: 7 })]);
    expect(parseRtpHeader(ring, 100, ring.length - 100)!.sequenceNumber).toBe(7);
  });
  it('rejects what is not RTP v2: short, wrong version, RTCP, bad lengths', () => {
    expect(parseRtpHeader(Buffer.alloc(11))).toBeNull();
    const v1 = rtp({});
    v1[0] = 0x40;
    expect(parseRtpHeader(v1)).toBeNull();
    expect(parseRtpHeader(rtp({ pt: 72 }))).toBeNull(); // RTCP SR on a muxed port (200 & 0x7f)
    const csrcTooMany = rtp({});
    csrcTooMany[0] = 0x8f; // 15 CSRCs declared, none present
    expect(parseRtpHeader(csrcTooMany)).toBeNull();
    const badPad = rtp({ pad: 1 });
    badPad[badPad.length - 1] = 200;
    expect(parseRtpHeader(badPad)).toBeNull();
    const badExt = rtp({ ext: 1 });
    badExt.writeUInt16BE(500, 14);
    expect(parseRtpHeader(badExt)).toBeNull();
  });
});

describe('keyframeMark (RFC 6184 payloads)', () => {
  it('single NAL units: SPS starts a keyframe, IDR is an IDR start, others nothing', () => {
    expect(keyframeMark(Uint8Array.of(0x67, 0x42))).toBe(KeyframeMark.Sps);
    expect(keyframeMark(Uint8Array.of(0x65, 0x88))).toBe(KeyframeMark.IdrStart);
    expect(keyframeMark(Uint8Array.of(0x41, 0x9a))).toBe(KeyframeMark.None); // non-IDR slice
    expect(keyframeMark(Uint8Array.of(0x68, 0xce))).toBe(KeyframeMark.None); // PPS alone
    expect(keyframeMark(new Uint8Array(0))).toBe(KeyframeMark.None);
  });
  it('STAP-A: an aggregate holding an SPS is a keyframe start', () => {
    const stap = Uint8Array.of(0x78, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce);
    expect(keyframeMark(stap)).toBe(KeyframeMark.Sps);
    expect(keyframeMark(Uint8Array.of(0x78, 0, 2, 0x68, 0xce, 0, 2, 0x65, 0x88))).toBe(KeyframeMark.IdrStart);
    expect(keyframeMark(Uint8Array.of(0x78, 0, 9, 0x67))).toBe(KeyframeMark.None); // truncated unit
  });
  it('FU-A: only the start fragment of an IDR', () => {
    expect(keyframeMark(Uint8Array.of(0x7c, 0x85, 1))).toBe(KeyframeMark.IdrStart);
    expect(keyframeMark(Uint8Array.of(0x7c, 0x05, 1))).toBe(KeyframeMark.None); // middle
    expect(keyframeMark(Uint8Array.of(0x7c, 0x81, 1))).toBe(KeyframeMark.None); // start of a non-IDR slice
  });
});

describe('rtpdump', () => {
  it('round-trips packets and offsets', () => {
    const packets = [
      { offsetMs: 0, data: rtp({ seq: 1 }) },
      { offsetMs: 33, data: rtp({ seq: 2, payload: [1, 2, 3, 4, 5, 6, 7] }) },
    ];
    const back = readRtpdump(writeRtpdump(packets));
    expect(back).toEqual(packets);
  });
  it('rejects a file that is not rtpdump or is truncated', () => {
    expect(() => readRtpdump(Buffer.from('hello\n'))).toThrow(/not an rtpdump/);
    const file = writeRtpdump([{ offsetMs: 0, data: rtp({}) }]);
    expect(() => readRtpdump(file.subarray(0, file.length - 3))).toThrow(/bad length/);
  });
  it('the bundled demo is H.264 (PT 96, keyframe every second) + Opus (PT 97), ~6 s, contiguous sequence numbers', () => {
    const packets = readRtpdump(readFileSync(DEMO_RECORDING));
    const headers = packets.map((p) => parseRtpHeader(p.data)!);
    expect(headers.every((h) => h !== null)).toBe(true);
    const video = packets.filter((_, i) => headers[i].payloadType === 96);
    const audio = headers.filter((h) => h.payloadType === 97);
    expect(video.length).toBeGreaterThan(300);
    expect(audio.length).toBeGreaterThan(250);
    const keyframes = video.filter((p) => {
      const h = parseRtpHeader(p.data)!;
      return keyframeMark(p.data, h.payloadOffset, h.payloadLength) === KeyframeMark.Sps;
    });
    expect(keyframes.length).toBeGreaterThanOrEqual(5);
    expect(packets.at(-1)!.offsetMs).toBeGreaterThan(5900);
    const seqs = headers.filter((h) => h.payloadType === 96).map((h) => h.sequenceNumber);
    expect(seqs.every((s, i) => i === 0 || s === ((seqs[i - 1] + 1) & 0xffff))).toBe(true);
  });
});

describe('rtp-relay arguments', () => {
  it('defaults: loopback, 8080, 8189, batching on a shared port, demo stream', () => {
    expect(parseRelayArgs([])).toMatchObject({ host: '127.0.0.1', httpPort: 8080, webrtcPort: 8189, batching: true, perConnection: false, streams: [], maxViewers: 256 });
  });
  it('ingest streams, flags', () => {
    const o = parseRelayArgs(['--ingest', 'cam=5004', '--ingest', 'screen=5006', '--no-batching', '--token', 't', '--http-port', '0']);
    expect(o).toMatchObject({ streams: [{ name: 'cam', port: 5004 }, { name: 'screen', port: 5006 }], batching: false, token: 't', httpPort: 0 });
    expect(parseRelayArgs(['--help'])).toBe('help');
  });
  it('--egress fast|werift|werift-unbatched (default: left to the relay, fast where the addon loads)', () => {
    expect(parseRelayArgs([])).not.toHaveProperty('egress');
    expect(parseRelayArgs(['--egress', 'fast'])).toMatchObject({ egress: 'fast', batching: true });
    expect(parseRelayArgs(['--egress', 'werift'])).toMatchObject({ egress: 'werift', batching: true });
    expect(parseRelayArgs(['--egress', 'werift-unbatched'])).toMatchObject({ egress: 'werift-unbatched', batching: false });
    expect(parseRelayArgs(['--no-batching'])).toMatchObject({ egress: 'werift-unbatched', batching: false });
    expect(parseRelayArgs(['--per-connection'])).toMatchObject({ egress: 'werift', perConnection: true });
    expect(() => parseRelayArgs(['--egress', 'kernel'])).toThrow(/--egress must be one of fast, werift, werift-unbatched/);
    expect(() => parseRelayArgs(['--egress', 'fast', '--no-batching'])).toThrow(/contradicts/);
    expect(() => parseRelayArgs(['--egress', 'fast', '--per-connection'])).toThrow(/shared port/);
  });
  it('--ice lite|full (default: left to the relay, lite)', () => {
    expect(parseRelayArgs([])).not.toHaveProperty('ice');
    expect(parseRelayArgs(['--ice', 'lite'])).toMatchObject({ ice: 'lite' });
    expect(parseRelayArgs(['--ice', 'full'])).toMatchObject({ ice: 'full' });
    expect(() => parseRelayArgs(['--ice', 'controlling'])).toThrow(/--ice must be one of lite, full, got "controlling"/);
  });
  it('bad input is a UsageError with a clear message', () => {
    const bad: [string[], RegExp][] = [
      [['--ingest', 'cam'], /NAME=PORT/],
      [['--ingest', 'cam=70000'], /port of cam/],
      [['--ingest', 'a=1', '--ingest', 'a=2'], /given twice/],
      [['--host', 'example.com'], /IP address/],
      [['--host', '192.0.2.1'], /allow-remote/],
      [['--mode', 'soon'], /tick or window/],
      [['--video-pt', '97'], /must differ/],
      [['--max-viewers', '0'], /max-viewers/],
    ];
    for (const [args, msg] of bad) expect(() => parseRelayArgs(args), args.join(' ')).toThrow(msg);
    expect(() => parseRelayArgs(['--host', '192.0.2.1'])).toThrow(UsageError);
    expect(() => parseRelayArgs(['--bogus'])).toThrow(/Unknown option/);
    expect(parseRelayArgs(['--host', '192.0.2.1', '--allow-remote'])).toMatchObject({ host: '192.0.2.1' });
  });
});
