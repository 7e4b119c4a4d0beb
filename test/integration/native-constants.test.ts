/**
 * One source of truth across the language boundary: the addon exports the numbers both
 * sides use (counter indices, bind flags, buffer selectors, UDP/GSO/GRO limits, errno
 * values) and the loader refuses an addon whose numbers differ from the TypeScript side.
 */
import { constants } from 'node:os';
import { describe, expect, test } from 'vitest';
import { C, checkConstants, loadNative, type NativeBinding } from '../../src/native/binding.js';
import { MAX_PAYLOAD_V4, MAX_PAYLOAD_V6 } from '../../src/limits.js';

const native = loadNative();

describe.runIf(native.ok)('native constants', () => {
  const binding = (native as { binding: NativeBinding }).binding;

  test('the loaded addon agrees with the TypeScript side on every number', () => {
    expect(checkConstants(binding)).toBeUndefined();
    const { COUNT, ...indices } = C;
    expect(binding.constants.counters).toEqual({ ...indices, COUNT });
    expect([binding.constants.MAX_PAYLOAD_V4, binding.constants.MAX_PAYLOAD_V6, binding.constants.GRO_MIN_SLOT]).toEqual([MAX_PAYLOAD_V4, MAX_PAYLOAD_V6, MAX_PAYLOAD_V6]);
    expect(binding.errno.EAGAIN).toBe(constants.errno.EAGAIN);
  });

  test('a difference anywhere is named: counter index, missing counter, flag, limit, errno, no constants at all', () => {
    const k = binding.constants;
    const variant = (constants: unknown, errno = binding.errno) => checkConstants({ constants, errno } as NativeBinding);
    expect(variant({ ...k, counters: { ...k.counters, GSO_RESENDS: 25 } })).toBe('counters.GSO_RESENDS is 25 in the addon but 24 here');
    expect(variant({ ...k, counters: { ...k.counters, NEW_COUNTER: 25 } })).toBe('counters.NEW_COUNTER is 25 in the addon but undefined here');
    const { LAST_ERRNO: _dropped, ...fewer } = k.counters;
    expect(variant({ ...k, counters: fewer })).toBe('counters.LAST_ERRNO is undefined in the addon but 15 here');
    expect(variant({ ...k, bind: { ...k.bind, IPV6ONLY: 4 } })).toBe('bind.IPV6ONLY is 4 in the addon but 2 here');
    expect(variant({ ...k, MAX_PAYLOAD_V6: 65535 })).toBe('MAX_PAYLOAD_V6 is 65535 in the addon but 65527 here');
    expect(variant(k, { ...binding.errno, EAGAIN: 35 })).toBe(`errno.EAGAIN is 35 in the addon but ${constants.errno.EAGAIN} here`);
    expect(variant(undefined)).toBe('it exports no constants');
  });
});
