/**
 * Option resolution: defaults, every bound of every number, and the typed error for each
 * kind of bad input, before any socket exists.
 */
import { describe, expect, test } from 'vitest';
import { DEFAULTS, resolveOptions, validateBufferSize } from '../../src/options.js';
import type { BatchSocketOptions } from '../../src/types.js';

const resolve = (o: Record<string, unknown>) => resolveOptions({ type: 'udp4', ...o } as unknown as BatchSocketOptions);
const code = (c: string, name?: string) => expect.objectContaining(name ? { code: c, name } : { code: c });

describe('resolveOptions', () => {
  test('a bare type or an options object with only a type gets every default', () => {
    const r = resolveOptions('udp6');
    expect(r).toEqual({
      type: 'udp6',
      backend: undefined,
      maxBatch: DEFAULTS.maxBatch,
      windowUs: DEFAULTS.windowUs,
      mode: 'window',
      maxQueue: DEFAULTS.maxQueue,
      maxQueueBytes: DEFAULTS.maxQueueBytes,
      sendBufferSize: undefined,
      recvBufferSize: undefined,
      reusePort: false,
      reuseAddr: false,
      ipv6Only: false,
      recvBatch: DEFAULTS.recvBatch,
      recvSlotSize: DEFAULTS.recvSlotSize,
      recvBudget: DEFAULTS.recvBudget,
      recvDispatch: 'immediate',
      maxPendingBatches: DEFAULTS.maxPendingBatches,
      gso: true,
      gro: true,
      order: 'global',
    });
    expect(resolveOptions({ type: 'udp6' })).toEqual(r);
  });

  test('given values are kept', () => {
    const r = resolve({ backend: 'dgram', maxBatch: 8, windowUs: 250, mode: 'tick', order: 'per-peer', gso: false, gro: 'auto', reusePort: true, sendBufferSize: 1 << 20, recvDispatch: 'loop' });
    expect(r).toMatchObject({ backend: 'dgram', maxBatch: 8, windowUs: 250, mode: 'tick', order: 'per-peer', gso: false, gro: true, reusePort: true, sendBufferSize: 1 << 20, recvDispatch: 'loop' });
  });

  const bounds: [string, number, number][] = [
    ['maxBatch', 1, 1 << 20],
    ['windowUs', 1, 1_000_000],
    ['maxQueue', 1, 1 << 20],
    ['maxQueueBytes', 65536, 1 << 30],
    ['recvBatch', 1, 1024],
    ['recvSlotSize', 64, 65536],
    ['recvBudget', 1, 1 << 16],
    ['maxPendingBatches', 1, 1 << 20],
  ];
  test.each(bounds)('%s: [%i, %i] accepted, one outside is ERR_OUT_OF_RANGE, a non-integer ERR_INVALID_ARG_TYPE', (name, min, max) => {
    expect(resolve({ [name]: min })[name as 'maxBatch']).toBe(min);
    expect(resolve({ [name]: max })[name as 'maxBatch']).toBe(max);
    expect(() => resolve({ [name]: min - 1 })).toThrow(code('ERR_OUT_OF_RANGE', 'RangeError'));
    expect(() => resolve({ [name]: max + 1 })).toThrow(code('ERR_OUT_OF_RANGE', 'RangeError'));
    for (const bad of [1.5, '8', NaN, null]) expect(() => resolve({ [name]: bad }), String(bad)).toThrow(code('ERR_INVALID_ARG_TYPE', 'TypeError'));
  });

  test('bad type, backend, mode, order, gso/gro and booleans', () => {
    expect(() => resolveOptions({ type: 'udp5' } as unknown as BatchSocketOptions)).toThrow(code('ERR_SOCKET_BAD_TYPE'));
    expect(() => resolveOptions(null as unknown as BatchSocketOptions)).toThrow(code('ERR_INVALID_ARG_TYPE'));
    expect(() => resolve({ backend: 'kernel' })).toThrow(code('ERR_INVALID_ARG_VALUE'));
    expect(() => resolve({ mode: 'sometimes' })).toThrow(code('ERR_INVALID_ARG_VALUE'));
    expect(() => resolve({ order: 'random' })).toThrow(code('ERR_INVALID_ARG_VALUE'));
    expect(() => resolve({ gso: true })).toThrow(code('ERR_INVALID_ARG_VALUE'));
    expect(() => resolve({ gro: 'on' })).toThrow(code('ERR_INVALID_ARG_VALUE'));
    expect(() => resolve({ recvDispatch: 'batched' })).toThrow(code('ERR_INVALID_ARG_VALUE'));
    expect(() => resolve({ recvDispatch: true })).toThrow(code('ERR_INVALID_ARG_VALUE'));
    expect(() => resolve({ reusePort: 1 })).toThrow(code('ERR_INVALID_ARG_TYPE', 'TypeError'));
    expect(() => resolve({ ipv6Only: 'yes' })).toThrow(code('ERR_INVALID_ARG_TYPE', 'TypeError'));
  });
});

describe('buffer sizes, as node:dgram validates them', () => {
  test.each(['sendBufferSize', 'recvBufferSize'])('options.%s: a uint32 (0 = the kernel default); ERR_OUT_OF_RANGE outside or for a fraction, ERR_INVALID_ARG_TYPE for a non-number', (name) => {
    for (const ok of [0, 1, 0x7fffffff, 0x80000000, 0xffffffff]) expect(resolve({ [name]: ok })[name as 'sendBufferSize']).toBe(ok);
    for (const bad of [-1, 0x100000000, 1.5, NaN]) expect(() => resolve({ [name]: bad }), String(bad)).toThrow(code('ERR_OUT_OF_RANGE', 'RangeError'));
    for (const bad of ['8', null]) expect(() => resolve({ [name]: bad }), String(bad)).toThrow(code('ERR_INVALID_ARG_TYPE', 'TypeError'));
  });

  test('setters: an integer number in [0, 2^32-1] is returned (-0 as 0); anything else is ERR_SOCKET_BAD_BUFFER_SIZE (TypeError)', () => {
    expect(validateBufferSize(1)).toBe(1);
    expect(validateBufferSize(0)).toBe(0);
    expect(Object.is(validateBufferSize(-0), 0)).toBe(true);
    expect(validateBufferSize(0x80000000)).toBe(0x80000000); // refused later with ERR_SOCKET_BUFFER_SIZE (EINVAL), as dgram
    for (const bad of [-1, 0x100000000, 1.5, NaN, Infinity, '1024', null, undefined, 1n]) {
      expect(() => validateBufferSize(bad), String(bad)).toThrow(code('ERR_SOCKET_BAD_BUFFER_SIZE', 'TypeError'));
    }
  });
});
