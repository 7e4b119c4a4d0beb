/**
 * src/rtcp/parse.ts: compound RTCP from a viewer (RR, SDES, generic NACK, PLI, FIR) parsed
 * into werift's shape — checked field by field against werift's own parser on the same
 * bytes, and through `senderFeedback`, which must read both alike — and every RFC 3550
 * §6.1 validity rule refusing a broken compound with ERR_RTCP_MALFORMED.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import type * as WeriftNs from 'werift';
import { parseRtcp, RtcpParseError, type ParsedRtcp } from '../../src/rtcp/parse.js';
import { senderFeedback } from '../../src/rtcp/feedback.js';
import { rawNack, rawPsfb, rawReceiverReport, rawSdesCname, type RawReportBlock } from './rtcp-packets.js';

const werift = createRequire(import.meta.url)('werift') as typeof WeriftNs;
const weriftParse = (b: Buffer): unknown[] => werift.RtcpPacketConverter.deSerialize(b) as unknown[];

const VIDEO = 0x1234abcd;
const AUDIO = 0x0badf00d;
const blocks: RawReportBlock[] = [
  { ssrc: VIDEO, fractionLost: 25, packetsLost: 1234, highestSequence: 0x0001fffe, jitter: 4500, lsr: 0xdeadbeef, dlsr: 65536 },
  { ssrc: AUDIO, fractionLost: 0, packetsLost: 0, highestSequence: 77, jitter: 12, lsr: 0, dlsr: 0 },
];
const firFci = Buffer.alloc(16);
firFci.writeUInt32BE(VIDEO, 0);
firFci[4] = 7;
firFci.writeUInt32BE(0x55555555, 8);
firFci[12] = 9;
const parts = [
  rawReceiverReport(0xfeedface, blocks),
  rawSdesCname(0xfeedface, 'viewer@example'),
  rawPsfb(1, VIDEO),
  rawPsfb(4, 0, firFci),
  rawNack(VIDEO, [
    [65535, 0b101],
    [100, 0],
  ]),
];
const compound = Buffer.concat(parts);

describe('parseRtcp: a viewer compound, as werift parses it', () => {
  const ours = parseRtcp(compound);
  // werift (0.24/0.25) reads a NACK's or FIR's FCI entries up to the end of the whole
  // compound, not of the packet (what follows would come out as more lost packets or FIR
  // entries): it is given the packets one by one.
  const theirs = parts.flatMap(weriftParse) as {
    type: number;
    reports?: Record<string, number>[];
    feedback?: { count?: number; mediaSourceSsrc?: number; mediaSsrc?: number; lost?: number[]; fir?: { ssrc: number; sequenceNumber: number }[] };
  }[];

  it('yields the same packets in the same order', () => {
    expect(ours.map((p) => p.type)).toEqual([201, 202, 206, 206, 205]);
    expect(theirs.map((p) => p.type)).toEqual(ours.map((p) => p.type));
  });

  it('reads every report block field as werift does', () => {
    const rr = ours[0].reports!;
    expect(rr).toHaveLength(2);
    for (const [i, r] of rr.entries()) {
      const w = theirs[0].reports![i];
      for (const k of ['ssrc', 'fractionLost', 'packetsLost', 'highestSequence', 'jitter', 'lsr', 'dlsr'] as const) expect(r[k], k).toBe(w[k]);
      expect(r).toMatchObject(blocks[i]);
    }
  });

  it('reads NACK, PLI and FIR so that senderFeedback finds the same requests in both', () => {
    expect(ours[4].feedback).toMatchObject({ count: 1, mediaSourceSsrc: VIDEO, lost: [65535, 0, 2, 100] });
    expect(ours[2].feedback).toMatchObject({ count: 1, mediaSsrc: VIDEO });
    expect(ours[3].feedback!.fir).toEqual([
      { ssrc: VIDEO, sequenceNumber: 7 },
      { ssrc: 0x55555555, sequenceNumber: 9 },
    ]);
    const ssrcs = new Set([VIDEO, AUDIO]);
    const fb = (ps: unknown[]): unknown[] => ps.flatMap((p) => senderFeedback(p, ssrcs));
    expect(fb(ours)).toEqual([
      { kind: 'pli', ssrc: VIDEO },
      { kind: 'fir', ssrc: VIDEO, commandSequence: 7 },
      { kind: 'nack', ssrc: VIDEO, sequenceNumbers: [65535, 0, 2, 100] },
    ]);
    expect(fb(theirs)).toEqual(fb(ours));
  });
});

describe('parseRtcp: RFC 3550 details', () => {
  it('keeps the cumulative loss signed (24-bit two’s complement: duplicates can make it negative)', () => {
    const [rr] = parseRtcp(rawReceiverReport(1, [{ ...blocks[0], packetsLost: -3 }]));
    expect(rr.reports![0].packetsLost).toBe(-3);
    const [max] = parseRtcp(rawReceiverReport(1, [{ ...blocks[0], packetsLost: 0x7fffff }]));
    expect(max.reports![0].packetsLost).toBe(0x7fffff);
  });

  it('reads an SR’s report blocks after its 20-byte sender info', () => {
    const rr = rawReceiverReport(0xfeedface, blocks);
    const sr = Buffer.alloc(rr.length + 20);
    rr.copy(sr, 0, 0, 8);
    rr.copy(sr, 28, 8);
    sr[1] = 200;
    sr.writeUInt16BE(sr.length / 4 - 1, 2);
    const [p] = parseRtcp(sr);
    expect(p.type).toBe(200);
    expect(p.reports).toEqual(parseRtcp(rr)[0].reports);
  });

  it('honours padding on the last packet and a length argument shorter than the buffer', () => {
    const pli = rawPsfb(1, VIDEO);
    const padded = Buffer.concat([pli, Buffer.from([0, 0, 0, 4])]);
    padded[0] |= 0x20;
    padded.writeUInt16BE(padded.length / 4 - 1, 2);
    expect(parseRtcp(padded)).toEqual([{ type: 206, feedback: { count: 1, senderSsrc: 0x01020304, mediaSsrc: VIDEO } }]);
    const tail = Buffer.concat([compound, Buffer.alloc(40, 0xee)]);
    expect(parseRtcp(tail, compound.length)).toEqual(parseRtcp(compound));
  });

  it('ends a NACK at its own length when more feedback follows it in the compound', () => {
    const both = Buffer.concat([rawNack(VIDEO, [[10, 0b1]]), rawPsfb(1, VIDEO)]);
    expect(parseRtcp(both).map((p) => p.feedback)).toEqual([
      { count: 1, senderSsrc: 0x01020304, mediaSourceSsrc: VIDEO, lost: [10, 11] },
      { count: 1, senderSsrc: 0x01020304, mediaSsrc: VIDEO },
    ]);
  });

  it('gives other packet types by type only', () => {
    const bye = Buffer.from([0x81, 203, 0, 1, 1, 2, 3, 4]);
    expect(parseRtcp(bye)).toEqual([{ type: 203 }]);
    const remb = rawPsfb(15, 0, Buffer.from('REMB\x01\x00\x00\x01\x12\x34\xab\xcd', 'latin1'));
    expect(parseRtcp(remb)).toEqual([{ type: 206, feedback: { count: 15, senderSsrc: 0x01020304, mediaSsrc: 0 } }]);
  });
});

describe('parseRtcp: broken compounds throw ERR_RTCP_MALFORMED and yield nothing', () => {
  const bad = (name: string, bytes: Buffer, message: RegExp): void => {
    it(name, () => {
      let err: unknown;
      let got: ParsedRtcp[] | undefined;
      try {
        got = parseRtcp(bytes);
      } catch (e) {
        err = e;
      }
      expect(got).toBeUndefined();
      expect(err).toBeInstanceOf(RtcpParseError);
      expect((err as RtcpParseError).code).toBe('ERR_RTCP_MALFORMED');
      expect((err as Error).message).toMatch(message);
    });
  };
  const pli = rawPsfb(1, VIDEO);
  bad('shorter than a header', Buffer.from([0x80, 201]), /shorter than a header/);
  bad('version 1', Buffer.concat([pli.subarray(0, 1).map((b) => (b & 0x3f) | 0x40), pli.subarray(1)]), /version 1/);
  const long = Buffer.from(pli);
  long.writeUInt16BE(10, 2);
  bad('a length past the end', Buffer.concat([rawSdesCname(1, 'x'), long]), /claims 44 bytes, 12 left/);
  const rr = rawReceiverReport(1, blocks);
  rr[0] = 0x80 | 3; // three blocks announced, two there
  bad('more report blocks than bytes', rr, /RR with 3 report blocks/);
  const early = Buffer.concat([pli, pli]);
  early[0] |= 0x20;
  bad('padding before the last packet', early, /not the last/);
  bad('stray bytes after the last packet', Buffer.concat([pli, Buffer.from([0x80, 0])]), /2 stray bytes at offset 12/);
  const short = Buffer.from([0x81, 206, 0, 1, 1, 2, 3, 4]);
  bad('a feedback packet without its media SSRC', short, /PSFB at offset 0: 8 bytes, needs 12/);
});
