/**
 * Payload normalisation: every form node:dgram accepts becomes one byte view without a
 * copy where one is not needed, and bad input throws the error dgram would, before
 * anything is queued.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, test } from 'vitest';
import { toPayload, type PayloadView } from '../../src/payload.js';

const out = (): PayloadView => ({ bytes: new Uint8Array(0), start: 0, length: 0 });
const text = (v: PayloadView): string => Buffer.from(v.bytes.subarray(v.start, v.start + v.length)).toString('latin1');

describe('toPayload', () => {
  test('a Buffer or Uint8Array is used in place, into the caller’s view object', () => {
    const buf = Buffer.from('hello');
    const view = out();
    const v = toPayload(buf, undefined, undefined, 100, view);
    expect(v).toBe(view);
    expect(v.bytes).toBe(buf);
    expect([v.start, v.length]).toEqual([0, 5]);
  });

  test('other typed arrays and DataView are viewed as their bytes (no copy)', () => {
    const u16 = new Uint16Array([0x4142, 0x4344]);
    const v = toPayload(u16, undefined, undefined, 100, out());
    expect(v.bytes.buffer).toBe(u16.buffer);
    expect(v.length).toBe(4);
    const backing = new Uint8Array([0, 1, 2, 3, 4, 5]);
    const dv = toPayload(new DataView(backing.buffer, 2, 3), undefined, undefined, 100, out());
    expect(Array.from(dv.bytes.subarray(dv.start, dv.start + dv.length))).toEqual([2, 3, 4]);
  });

  test('a string is UTF-8; an array of parts is concatenated; a one-part array is that part', () => {
    expect(text(toPayload('é', undefined, undefined, 100, out()))).toBe('\xc3\xa9');
    expect(text(toPayload(['ab', Buffer.from('cd'), new Uint8Array([0x65])], undefined, undefined, 100, out()))).toBe('abcde');
    const only = Buffer.from('x');
    expect(toPayload([only], undefined, undefined, 100, out()).bytes).toBe(only);
  });

  test('offset and length select a range of a binary payload', () => {
    const buf = Buffer.from('0123456789');
    expect(text(toPayload(buf, 2, 3, 100, out()))).toBe('234');
    expect(text(toPayload(buf, 7, undefined, 100, out()))).toBe('789');
    expect(text(toPayload(buf, undefined, 2, 100, out()))).toBe('01');
  });

  test("offset/length outside the bytes: ERR_BUFFER_OUT_OF_BOUNDS (RangeError, as dgram); not integers: ERR_OUT_OF_RANGE; a string's range is in its UTF-8 bytes; an array takes none", () => {
    const buf = Buffer.alloc(4, 1);
    for (const [o, l] of [[-1, 1], [5, undefined], [0, 5], [2, 3], [0, -1]] as [number, number | undefined][]) {
      expect(() => toPayload(buf, o, l, 100, out()), `${o},${l}`).toThrow(expect.objectContaining({ code: 'ERR_BUFFER_OUT_OF_BOUNDS', name: 'RangeError' }));
    }
    expect(() => toPayload(buf, 1.5, 1, 100, out())).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE', name: 'RangeError' }));
    expect(() => toPayload(buf, 10n as unknown as number, 1, 100, out())).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(text(toPayload('abcd', 1, 2, 100, out()))).toBe('bc');
    expect(toPayload('aé-b', 1, 3, 100, out()).length).toBe(3); // 'é' is 2 bytes: the range is 'é-'
    expect(() => toPayload([buf], 0, 1, 100, out())).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });

  test('wrong types: ERR_INVALID_ARG_TYPE (TypeError), also for one bad part of an array', () => {
    for (const bad of [42, null, undefined, {}, new ArrayBuffer(4), [Buffer.from('a'), 7]]) {
      expect(() => toPayload(bad, undefined, undefined, 100, out())).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE', name: 'TypeError' }));
    }
  });

  test('an empty datagram is ERR_INVALID_ARG_VALUE; over maxSize is EMSGSIZE with errno -90', () => {
    expect(() => toPayload(Buffer.alloc(0), undefined, undefined, 100, out())).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => toPayload(Buffer.alloc(4), 1, 0, 100, out())).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => toPayload([], undefined, undefined, 100, out())).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(toPayload(Buffer.alloc(100), undefined, undefined, 100, out()).length).toBe(100);
    expect(() => toPayload(Buffer.alloc(101), undefined, undefined, 100, out())).toThrow(expect.objectContaining({ code: 'EMSGSIZE', errno: -90, name: 'RangeError' }));
  });
});
