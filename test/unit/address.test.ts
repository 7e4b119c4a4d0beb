/**
 * Validation of ports and addresses at the JS boundary, the payload limits per socket
 * type, and the one loopback check the library, udp-blast and rtp-relay share.
 */
import { describe, expect, test } from 'vitest';
import { describe as describeValue, isLoopback, maxPayload, validateAddress, validatePort } from '../../src/address.js';
import { MAX_PAYLOAD_V4, MAX_PAYLOAD_V6 } from '../../src/limits.js';

const code = (c: string, name?: string) => expect.objectContaining(name ? { code: c, name } : { code: c });

describe('isLoopback', () => {
  test('127.0.0.0/8, ::1 and IPv4-mapped loopback in any text form, and localhost in any case', () => {
    for (const a of ['127.0.0.1', '127.255.255.254', '::1', '0:0:0:0:0:0:0:1', '::0:1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::FFFF:127.1.2.3', 'localhost', 'LocalHost']) {
      expect(isLoopback(a), a).toBe(true);
    }
  });
  test('everything else, host names included (no lookup), is not', () => {
    for (const a of ['128.0.0.1', '126.255.255.255', '0.0.0.0', '::', '::2', '::ffff:128.0.0.1', '::ffff:7f00:1:0', 'fe80::1', '::127.0.0.1', 'localhost.', 'example.com', '', '127.0.0.1:80']) {
      expect(isLoopback(a), a).toBe(false);
    }
  });
});

describe('validatePort', () => {
  test('integers 0..65535 (or 1.. when zero is not allowed); numeric strings as dgram accepts them', () => {
    expect(validatePort(0)).toBe(0);
    expect(validatePort(65535)).toBe(65535);
    expect(validatePort('8080')).toBe(8080);
    expect(() => validatePort(0, 'Port', false)).toThrow(code('ERR_SOCKET_BAD_PORT', 'RangeError'));
    for (const bad of [-1, 65536, 1.5, NaN, '80a', '', null, undefined, {}]) expect(() => validatePort(bad), String(bad)).toThrow(code('ERR_SOCKET_BAD_PORT'));
  });
});

describe('validateAddress', () => {
  test('empty → the fallback; localhost → the family’s loopback', () => {
    expect(validateAddress(undefined, 'udp4', '0.0.0.0')).toBe('0.0.0.0');
    expect(validateAddress('', 'udp6', '::')).toBe('::');
    expect(validateAddress('localhost', 'udp4', 'x')).toBe('127.0.0.1');
    expect(validateAddress('localhost', 'udp6', 'x')).toBe('::1');
  });
  test('literals of the socket’s family; IPv4 on udp6 unless IPv6-only; scope ids kept', () => {
    expect(validateAddress('192.0.2.1', 'udp4', 'x')).toBe('192.0.2.1');
    expect(validateAddress('fe80::1%lo', 'udp6', 'x')).toBe('fe80::1%lo');
    expect(validateAddress('192.0.2.1', 'udp6', 'x')).toBe('192.0.2.1');
    expect(() => validateAddress('192.0.2.1', 'udp6', 'x', true)).toThrow(code('ERR_INVALID_IP_ADDRESS'));
    expect(() => validateAddress('::1', 'udp4', 'x')).toThrow(code('ERR_INVALID_IP_ADDRESS'));
    expect(() => validateAddress('example.com', 'udp4', 'x')).toThrow(code('ERR_INVALID_IP_ADDRESS'));
    expect(() => validateAddress(1234, 'udp4', 'x')).toThrow(code('ERR_INVALID_ARG_TYPE', 'TypeError'));
  });
});

describe('maxPayload and describe', () => {
  test('65507 bytes over IPv4, 65527 over IPv6', () => {
    expect([MAX_PAYLOAD_V4, MAX_PAYLOAD_V6]).toEqual([65535 - 20 - 8, 65535 - 8]);
    expect(maxPayload('udp4')).toBe(MAX_PAYLOAD_V4);
    expect(maxPayload('udp6')).toBe(MAX_PAYLOAD_V6);
  });
  test('values are described as Node describes them in errors', () => {
    expect(describeValue(null)).toBe('null');
    expect(describeValue(undefined)).toBe('undefined');
    expect(describeValue(function named() {})).toBe('function named');
    expect(describeValue(new Map())).toBe('an instance of Map');
    expect(describeValue(42)).toBe('type number (42)');
    // Node 20's own wording, e.g. dgram's "Port should be > 0 and < 65536. Received …".
    expect(describeValue('x'.repeat(40))).toBe(`type string ('${'x'.repeat(25)}...')`);
    expect(describeValue('abc')).toBe("type string ('abc')");
    expect(describeValue(1.5)).toBe('type number (1.5)');
    expect(describeValue({})).toBe('an instance of Object');
    expect(describeValue(Symbol('q'))).toBe('type symbol (Symbol(q))');
    expect(describeValue(10n)).toBe('type bigint (10n)');
  });
});
