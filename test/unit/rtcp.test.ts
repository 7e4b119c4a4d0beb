/**
 * src/rtcp/: the sender-report builder (fields, NTP conversion, RTP timestamp
 * extrapolation, SDES padding, limits) checked byte by byte and through werift's own
 * RTCP parser (what a werift viewer runs), and the feedback reader (generic NACK PID/BLP
 * with the mod-2^16 wrap, PLI, FIR and its command sequence) on packets werift parsed
 * from raw bytes.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import type * as WeriftNs from 'werift';
import {
  buildSenderReport,
  compactNtp,
  ntpFromUnixMs,
  NTP_UNIX_OFFSET_S,
  rtpTimestampAt,
  senderReportLength,
  unixMsFromNtp,
  writeSenderReport,
  RTCP_MAX_PLAIN_BYTES,
} from '../../src/rtcp/sender-report.js';
import { FirSequence, MAX_NACK_SEQUENCES, nackSequenceNumbers, senderFeedback } from '../../src/rtcp/feedback.js';
import { rawNack, rawPsfb } from './rtcp-packets.js';

const werift = createRequire(import.meta.url)('werift') as typeof WeriftNs;

describe('NTP timestamps (RFC 3550 §4)', () => {
  it('converts Unix ms to NTP seconds + 2^-32 fractions and back', () => {
    expect(ntpFromUnixMs(0)).toEqual({ seconds: NTP_UNIX_OFFSET_S, fraction: 0 });
    expect(ntpFromUnixMs(1500)).toEqual({ seconds: NTP_UNIX_OFFSET_S + 1, fraction: 0x80000000 });
    expect(ntpFromUnixMs(250.5)).toEqual({ seconds: NTP_UNIX_OFFSET_S, fraction: Math.round(0.2505 * 2 ** 32) });
    // 2026-12-02T08:00:00.125Z
    const ms = Date.UTC(2026, 11, 2, 8, 0, 0, 125);
    const ntp = ntpFromUnixMs(ms);
    expect(ntp.seconds).toBe(ms / 1000 - 0.125 + NTP_UNIX_OFFSET_S);
    expect(ntp.fraction).toBe(2 ** 29); // 0.125 s
    for (const t of [0, 1, 999.999, ms, ms + 0.3333]) expect(Math.abs(unixMsFromNtp(ntpFromUnixMs(t)) - t)).toBeLessThan(1e-6);
  });

  it('rolls a fraction that rounds up to 2^32 into the next second', () => {
    expect(ntpFromUnixMs(999.99999999999)).toEqual({ seconds: NTP_UNIX_OFFSET_S + 1, fraction: 0 });
  });

  it('wraps into NTP era 1 after 2036-02-07T06:28:16Z and maps it back (RFC 5905 §6)', () => {
    const era1 = (2 ** 32 - NTP_UNIX_OFFSET_S) * 1000; // NTP seconds wrap to 0 here
    expect(ntpFromUnixMs(era1)).toEqual({ seconds: 0, fraction: 0 });
    expect(ntpFromUnixMs(era1 + 2500)).toEqual({ seconds: 2, fraction: 0x80000000 });
    expect(unixMsFromNtp({ seconds: 2, fraction: 0x80000000 })).toBe(era1 + 2500);
  });

  it('compact NTP is the middle 32 bits (what receivers echo as LSR)', () => {
    expect(compactNtp({ seconds: 0xb44db705, fraction: 0x20000000 })).toBe(0xb7052000); // RFC 3550 §6.4.1 figure 2
  });

  it('rejects times that are not finite ms >= 0', () => {
    for (const bad of [-1, NaN, Infinity, '5' as unknown as number]) expect(() => ntpFromUnixMs(bad)).toThrow(RangeError);
  });
});

describe('rtpTimestampAt: the last sent timestamp advanced by wall clock × clock rate', () => {
  it('advances by elapsed ms × rate / 1000, rounded', () => {
    expect(rtpTimestampAt(1000, 5000, 5000, 90000)).toBe(1000);
    expect(rtpTimestampAt(1000, 5000, 5040, 90000)).toBe(1000 + 3600); // 40 ms at 90 kHz
    expect(rtpTimestampAt(1000, 5000, 5020, 48000)).toBe(1000 + 960); // 20 ms at 48 kHz
    expect(rtpTimestampAt(0, 0, 0.0111, 90000)).toBe(1); // 0.999 ticks rounds to 1
  });
  it('wraps mod 2^32 forwards and backwards', () => {
    expect(rtpTimestampAt(0xffffff00, 0, 10, 90000)).toBe((0xffffff00 + 900) % 2 ** 32);
    expect(rtpTimestampAt(100, 1000, 990, 90000)).toBe(2 ** 32 - 800); // report clock read 10 ms before the send
  });
});

describe('sender report builder (RFC 3550 §6.4.1 SR + §6.5.1 SDES CNAME)', () => {
  const info = { ssrc: 0x11223344, ntpMs: Date.UTC(2026, 0, 1, 0, 0, 0, 500), rtpTimestamp: 0xdeadbeef, packetCount: 4242, octetCount: 4_000_000, cname: 'relay-cname' };

  it('writes every field at its offset, big-endian', () => {
    const b = buildSenderReport({ ...info, cname: undefined });
    expect(b.length).toBe(28);
    expect(b[0]).toBe(0x80); // V=2, P=0, RC=0
    expect(b[1]).toBe(200);
    expect(b.readUInt16BE(2)).toBe(6); // 7 words - 1
    expect(b.readUInt32BE(4)).toBe(0x11223344);
    expect(b.readUInt32BE(8)).toBe(Date.UTC(2026, 0, 1) / 1000 + NTP_UNIX_OFFSET_S);
    expect(b.readUInt32BE(12)).toBe(0x80000000);
    expect(b.readUInt32BE(16)).toBe(0xdeadbeef);
    expect(b.readUInt32BE(20)).toBe(4242);
    expect(b.readUInt32BE(24)).toBe(4_000_000);
  });

  it('adds one SDES chunk with the CNAME, null-terminated and padded to 32 bits, for every CNAME length mod 4', () => {
    for (const cname of ['a', 'ab', 'abc', 'abcd', 'relay-cname', 'x'.repeat(255)]) {
      const b = buildSenderReport({ ...info, cname });
      expect(b.length).toBe(senderReportLength({ ...info, cname }));
      expect(b.length % 4).toBe(0);
      const s = b.subarray(28);
      expect(s[0]).toBe(0x81); // V=2, SC=1
      expect(s[1]).toBe(202);
      expect((s.readUInt16BE(2) + 1) * 4).toBe(s.length);
      expect(s.readUInt32BE(4)).toBe(0x11223344);
      expect(s[8]).toBe(1); // CNAME
      expect(s[9]).toBe(cname.length);
      expect(s.subarray(10, 10 + cname.length).toString()).toBe(cname);
      const tail = s.subarray(10 + cname.length);
      expect(tail.length).toBeGreaterThanOrEqual(1); // the null item ends the chunk
      expect(tail.every((x) => x === 0)).toBe(true);
    }
  });

  it('parses back through werift (the viewer side) with the same SSRC, counts, RTP time and NTP time', () => {
    const b = buildSenderReport(info);
    const packets = werift.RtcpPacketConverter.deSerialize(b) as unknown as { type: number; ssrc?: number; senderInfo?: { ntpTimestamp: bigint; rtpTimestamp: number; packetCount: number; octetCount: number }; chunks?: { source: number; items: { type: number; text: string }[] }[] }[];
    expect(packets.map((p) => p.type)).toEqual([200, 202]);
    const sr = packets[0];
    expect(sr.ssrc).toBe(info.ssrc);
    expect(sr.senderInfo!.rtpTimestamp).toBe(info.rtpTimestamp);
    expect(sr.senderInfo!.packetCount).toBe(info.packetCount);
    expect(sr.senderInfo!.octetCount).toBe(info.octetCount);
    const ntp = sr.senderInfo!.ntpTimestamp;
    expect(unixMsFromNtp({ seconds: Number(ntp >> 32n), fraction: Number(ntp & 0xffffffffn) })).toBe(info.ntpMs);
    expect(packets[1].chunks![0].source).toBe(info.ssrc);
    expect(packets[1].chunks![0].items[0]).toMatchObject({ type: 1, text: 'relay-cname' });
  });

  it('writes into a caller buffer at an offset and reduces counts given mod 2^32', () => {
    const out = Buffer.alloc(200, 0xaa);
    const n = writeSenderReport({ ...info, packetCount: 0xffffffff, octetCount: 0 }, out, 16);
    expect(n).toBe(senderReportLength(info));
    expect(out.subarray(0, 16).every((x) => x === 0xaa)).toBe(true);
    expect(out.readUInt32BE(16 + 20)).toBe(0xffffffff);
    expect(out.subarray(16 + n).every((x) => x === 0xaa)).toBe(true);
  });

  it('refuses bad fields, bad CNAMEs and too little room with RangeErrors', () => {
    expect(() => buildSenderReport({ ...info, ssrc: -1 })).toThrow(RangeError);
    expect(() => buildSenderReport({ ...info, packetCount: 2 ** 32 })).toThrow(RangeError);
    expect(() => buildSenderReport({ ...info, rtpTimestamp: 1.5 })).toThrow(RangeError);
    expect(() => buildSenderReport({ ...info, ntpMs: -5 })).toThrow(RangeError);
    expect(() => buildSenderReport({ ...info, cname: '' })).toThrow(/1 to 255 bytes/);
    expect(() => buildSenderReport({ ...info, cname: 'é'.repeat(128) })).toThrow(/1 to 255 bytes/); // 256 bytes of UTF-8
    expect(() => writeSenderReport(info, Buffer.alloc(40))).toThrow(/no room/);
    expect(senderReportLength({ ...info, cname: 'x'.repeat(255) }) + 20).toBeLessThanOrEqual(1200);
    expect(RTCP_MAX_PLAIN_BYTES).toBe(1180);
  });
});


/** Parses raw RTCP the way werift's DTLS transport does before handing packets to senders. */
const parse = (b: Buffer): unknown[] => werift.RtcpPacketConverter.deSerialize(b) as unknown[];

describe('generic NACK (RFC 4585 §6.2.1) from werift-parsed feedback', () => {
  const ours = new Set([0xaabbccdd]);
  const nack = (fci: [number, number][], ssrc = 0xaabbccdd): number[] => {
    const fb = parse(rawNack(ssrc, fci)).flatMap((p) => senderFeedback(p, ours));
    expect(fb.length).toBeLessThanOrEqual(1);
    return fb.length === 0 ? [] : (fb[0] as { sequenceNumbers: number[] }).sequenceNumbers;
  };

  it('PID alone, and PID with BLP bits i → PID + i + 1', () => {
    expect(nack([[1000, 0]])).toEqual([1000]);
    expect(nack([[1000, 0b1]])).toEqual([1000, 1001]);
    expect(nack([[1000, 0b1000_0000_0000_0101]])).toEqual([1000, 1001, 1003, 1016]);
    expect(nack([[7, 0xffff]])).toEqual(Array.from({ length: 17 }, (_, i) => 7 + i));
  });

  it('wraps mod 2^16: PID 65535 with BLP bits names 0, 1, … (werift alone yields 65536, 65537)', () => {
    const raw = parse(rawNack(0xaabbccdd, [[65535, 0b11]]))[0] as { feedback: { lost: number[] } };
    expect(raw.feedback.lost).toEqual([65535, 65536, 65537]); // werift's expansion, unwrapped
    expect(nack([[65535, 0b11]])).toEqual([65535, 0, 1]);
    expect(nack([[65530, 0xffff]])).toEqual([65530, 65531, 65532, 65533, 65534, 65535, ...Array.from({ length: 11 }, (_, i) => i)]);
  });

  it('several FCI entries, overlapping ones de-duplicated in first-named order', () => {
    expect(
      nack([
        [10, 0b11],
        [11, 0b1],
        [500, 0],
      ]),
    ).toEqual([10, 11, 12, 500]);
  });

  it('is for our SSRCs only, and bounded to the history size', () => {
    expect(nack([[5, 0]], 0x12345678)).toEqual([]);
    const many: [number, number][] = Array.from({ length: 40 }, (_, i) => [i * 17, 0xffff]);
    const seqs = nack(many);
    expect(seqs.length).toBe(MAX_NACK_SEQUENCES);
    expect(seqs[0]).toBe(0);
    expect(nackSequenceNumbers([1, 2, 3, 4], 2)).toEqual([1, 2]);
    expect(nackSequenceNumbers([-1, 1.5, 70000])).toEqual([70000 & 0xffff]);
  });
});

describe('PLI and FIR', () => {
  const ours = new Set([0xaabbccdd, 0x00000001]);
  it('a PLI for one of our SSRCs', () => {
    expect(parse(rawPsfb(1, 0xaabbccdd)).flatMap((p) => senderFeedback(p, ours))).toEqual([{ kind: 'pli', ssrc: 0xaabbccdd }]);
    expect(parse(rawPsfb(1, 0x99999999)).flatMap((p) => senderFeedback(p, ours))).toEqual([]);
  });

  it('a FIR names its SSRCs in the FCI (media SSRC field 0, RFC 5104 §4.3.1.1); each entry with its command sequence', () => {
    const fci = Buffer.alloc(16);
    fci.writeUInt32BE(0xaabbccdd, 0);
    fci[4] = 7;
    fci.writeUInt32BE(0x55555555, 8);
    fci[12] = 9;
    expect(parse(rawPsfb(4, 0, fci)).flatMap((p) => senderFeedback(p, ours))).toEqual([{ kind: 'fir', ssrc: 0xaabbccdd, commandSequence: 7 }]);
  });

  it('a repeated FIR command sequence number is the same request (RFC 5104 §4.3.1.2)', () => {
    const s = new FirSequence();
    expect([s.isNew(7), s.isNew(7), s.isNew(8), s.isNew(8), s.isNew(7), s.isNew(263)]).toEqual([true, false, true, false, true, false]);
  });

  it('reports, SDES and feedback of other kinds yield nothing', () => {
    const sr = buildSenderReport({ ssrc: 0xaabbccdd, ntpMs: 1, rtpTimestamp: 1, packetCount: 1, octetCount: 1, cname: 'x' });
    expect(parse(sr).flatMap((p) => senderFeedback(p, ours))).toEqual([]);
    expect(senderFeedback(null, ours)).toEqual([]);
    expect(senderFeedback({ type: 205, feedback: { count: 15, mediaSourceSsrc: 0xaabbccdd } }, ours)).toEqual([]);
  });
});
