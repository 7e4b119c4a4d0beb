/**
 * Raw RTCP packets for the RTCP tests, built byte by byte from the RFCs (not by the code
 * under test): generic NACK (RFC 4585 §6.2.1), PSFB (PLI §6.3.1, FIR RFC 5104 §4.3.1),
 * receiver reports (RFC 3550 §6.4.2) and SDES CNAME (§6.5).
 */
import type { ReportBlock } from '../../src/rtcp/parse.js';

/** A raw RTPFB generic NACK (RFC 4585 §6.2.1) with the given (PID, BLP) FCI entries. */
export function rawNack(mediaSsrc: number, fci: [number, number][]): Buffer {
  const b = Buffer.alloc(12 + 4 * fci.length);
  b[0] = 0x80 | 1; // FMT=1
  b[1] = 205;
  b.writeUInt16BE(b.length / 4 - 1, 2);
  b.writeUInt32BE(0x01020304, 4);
  b.writeUInt32BE(mediaSsrc, 8);
  fci.forEach(([pid, blp], i) => {
    b.writeUInt16BE(pid, 12 + 4 * i);
    b.writeUInt16BE(blp, 14 + 4 * i);
  });
  return b;
}

export function rawPsfb(fmt: number, mediaSsrc: number, fci: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(12 + fci.length);
  b[0] = 0x80 | fmt;
  b[1] = 206;
  b.writeUInt16BE(b.length / 4 - 1, 2);
  b.writeUInt32BE(0x01020304, 4);
  b.writeUInt32BE(mediaSsrc, 8);
  fci.copy(b, 12);
  return b;
}

/** One RR/SR report block (RFC 3550 §6.4.1); packetsLost is signed 24-bit. */
export type RawReportBlock = ReportBlock;

/** A raw RR (PT 201) from `senderSsrc` with these report blocks. */
export function rawReceiverReport(senderSsrc: number, blocks: RawReportBlock[]): Buffer {
  const b = Buffer.alloc(8 + 24 * blocks.length);
  b[0] = 0x80 | blocks.length;
  b[1] = 201;
  b.writeUInt16BE(b.length / 4 - 1, 2);
  b.writeUInt32BE(senderSsrc, 4);
  blocks.forEach((r, i) => {
    const o = 8 + 24 * i;
    b.writeUInt32BE(r.ssrc >>> 0, o);
    b[o + 4] = r.fractionLost;
    const lost = r.packetsLost & 0xffffff;
    b[o + 5] = lost >> 16;
    b.writeUInt16BE(lost & 0xffff, o + 6);
    b.writeUInt32BE(r.highestSequence >>> 0, o + 8);
    b.writeUInt32BE(r.jitter >>> 0, o + 12);
    b.writeUInt32BE(r.lsr >>> 0, o + 16);
    b.writeUInt32BE(r.dlsr >>> 0, o + 20);
  });
  return b;
}

/** A raw SDES (PT 202) with one chunk: `ssrc` and a CNAME item, padded to 32 bits. */
export function rawSdesCname(ssrc: number, cname: string): Buffer {
  const text = Buffer.from(cname, 'utf8');
  const body = 4 + 2 + text.length + 1; // SSRC, type+len, text, END
  const b = Buffer.alloc(4 + Math.ceil(body / 4) * 4);
  b[0] = 0x80 | 1;
  b[1] = 202;
  b.writeUInt16BE(b.length / 4 - 1, 2);
  b.writeUInt32BE(ssrc >>> 0, 4);
  b[8] = 1; // CNAME
  b[9] = text.length;
  text.copy(b, 10);
  return b;
}
