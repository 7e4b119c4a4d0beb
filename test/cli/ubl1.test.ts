import { describe, expect, it } from 'vitest';
import {
  UBL1_HEADER_BYTES,
  UBL1_MAGIC,
  decodeUbl1,
  encodeUbl1,
  isUbl1,
  readUbl1Seq,
  writeUbl1Ids,
  writeUbl1SendTime,
} from '../../src/cli/ubl1.js';

describe('UBL1 header codec', () => {
  it('encodes the documented big-endian layout byte for byte', () => {
    const buf = Buffer.alloc(32, 0xee);
    encodeUbl1(buf, 0x01020304, 0x0a0b0c0d0e0f, 0x1122334455667788n);
    expect(buf.subarray(0, 24).toString('hex')).toBe(
      '55424c31' + // magic "UBL1"
        '01020304' + // flow id
        '00000a0b0c0d0e0f' + // seq u64
        '1122334455667788', // send time ns u64
    );
    expect(buf.subarray(0, 4).toString('latin1')).toBe('UBL1');
    // Filler after the header is untouched.
    expect(buf.subarray(24).every((b) => b === 0xee)).toBe(true);
    expect(UBL1_MAGIC).toBe(0x55424c31);
    expect(UBL1_HEADER_BYTES).toBe(24);
  });

  it('decodes known bytes', () => {
    const buf = Buffer.from('55424c31' + 'ffffffff' + '0000000100000002' + '0000000000000063' + 'abcd', 'hex');
    expect(decodeUbl1(buf)).toEqual({ flow: 0xffffffff, seq: 2 ** 32 + 2, sendTimeNs: 99n });
  });

  it('round-trips seq across the 32-bit boundary and up to 2^53 - 1', () => {
    const buf = Buffer.alloc(24);
    for (const seq of [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER]) {
      writeUbl1Ids(buf, 7, seq);
      writeUbl1SendTime(buf, 2n ** 64n - 1n);
      expect(readUbl1Seq(buf)).toBe(seq);
      expect(decodeUbl1(buf)?.sendTimeNs).toBe(2n ** 64n - 1n);
    }
  });

  it('rejects datagrams that are too short or have the wrong magic', () => {
    const good = Buffer.alloc(24);
    encodeUbl1(good, 1, 2, 3n);
    expect(isUbl1(good)).toBe(true);
    expect(isUbl1(good.subarray(0, 23))).toBe(false);
    expect(isUbl1(good, 23)).toBe(false); // declared length shorter than the header
    const wrong = Buffer.from(good);
    wrong[3] = 0x32; // "UBL2"
    expect(isUbl1(wrong)).toBe(false);
    expect(decodeUbl1(wrong)).toBeNull();
    expect(decodeUbl1(Buffer.alloc(0))).toBeNull();
    expect(() => encodeUbl1(Buffer.alloc(10), 0, 0, 0n)).toThrow(RangeError);
  });
});
