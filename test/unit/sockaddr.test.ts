/**
 * Decoding of raw sockaddr entries as the kernel writes them into the receive ring, and
 * the IPv6 text form, checked against Node's own formatting (net.SocketAddress, which
 * uses inet_ntop) for RFC 5952 cases: zero-run compression, ties, IPv4-mapped.
 */
import { SocketAddress } from 'node:net';
import { endianness } from 'node:os';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { decodeSockaddr, formatIPv6 } from '../../src/socket/sockaddr.js';

const LE = endianness() === 'LE';
const AF_INET = 2;
const AF_INET6 = 10;

function entry(write: (v: DataView, bytes: Uint8Array) => void): DataView {
  const bytes = new Uint8Array(64);
  const view = new DataView(bytes.buffer);
  write(view, bytes);
  return view;
}

function v6Entry(groups: number[], port: number, scopeId = 0, at = 0): DataView {
  return entry((v) => {
    v.setUint16(at, AF_INET6, LE);
    v.setUint16(at + 2, port, false);
    groups.forEach((g, i) => v.setUint16(at + 8 + i * 2, g, false));
    v.setUint32(at + 24, scopeId, LE);
  });
}

/** Node's text form of 8 groups (inet_ntop). */
function nodeForm(groups: number[]): string {
  return new SocketAddress({ address: groups.map((g) => g.toString(16)).join(':'), family: 'ipv6' }).address;
}

describe('decodeSockaddr', () => {
  test('sockaddr_in: address, port (network order), family; the cache returns the same text', () => {
    const v = entry((d, b) => {
      d.setUint16(32, AF_INET, LE);
      d.setUint16(34, 54321, false);
      b.set([192, 0, 2, 255], 36);
    });
    expect(decodeSockaddr(v, 32)).toEqual({ address: '192.0.2.255', family: 'IPv4', port: 54321 });
    expect(decodeSockaddr(v, 32)).toEqual({ address: '192.0.2.255', family: 'IPv4', port: 54321 });
  });

  test("sockaddr_in6 at an offset; a link-local address carries its scope as dgram writes it ('%' + interface name, or the index when there is none)", () => {
    const v = v6Entry([0xfe80, 0, 0, 0, 0, 0, 0, 1], 443, 1, 32); // index 1: lo in any namespace
    expect(decodeSockaddr(v, 32)).toEqual({ address: 'fe80::1%lo', family: 'IPv6', port: 443 });
    const none = v6Entry([0xfe80, 0, 0, 0, 0, 0, 0, 1], 443, 4000000000, 32);
    expect(decodeSockaddr(none, 32).address).toBe('fe80::1%4000000000');
    const global = v6Entry([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], 443, 3, 32); // not link-local: no scope shown
    expect(decodeSockaddr(global, 32).address).toBe('2001:db8::1');
  });

  test('an unknown family decodes to an empty address and port 0', () => {
    const v = entry((d) => d.setUint16(0, 1 /* AF_UNIX */, LE));
    expect(decodeSockaddr(v, 0)).toEqual({ address: '', family: 'IPv4', port: 0 });
  });
});

describe('formatIPv6', () => {
  const cases: [number[], string][] = [
    [[0, 0, 0, 0, 0, 0, 0, 0], '::'],
    [[0, 0, 0, 0, 0, 0, 0, 1], '::1'],
    [[0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], '2001:db8::1'],
    [[0x2001, 0xdb8, 0, 1, 0, 0, 0, 1], '2001:db8:0:1::1'], // longest run wins
    [[0x2001, 0, 0, 1, 0, 0, 1, 1], '2001::1:0:0:1:1'], // tie: the first run
    [[0x2001, 0xdb8, 0, 1, 1, 1, 1, 1], '2001:db8:0:1:1:1:1:1'], // a single zero group stays
    [[1, 0, 0, 0, 0, 0, 0, 0], '1::'],
    [[0, 0, 0, 0, 0, 0xffff, 0x7f00, 0x0001], '::ffff:127.0.0.1'], // IPv4-mapped
    [[0xfe80, 0, 0, 0, 0xabcd, 0xef, 0x1234, 0x5678], 'fe80::abcd:ef:1234:5678'],
  ];
  test.each(cases)('%j → %s', (groups, text) => {
    expect(formatIPv6(v6Entry(groups, 1), 8)).toBe(text);
    expect(nodeForm(groups)).toBe(text);
  });

  test('agrees with inet_ntop on random addresses, zero-heavy ones included', () => {
    const group = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
    fc.assert(
      fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), (groups) => {
        // The deprecated IPv4-compatible form (::a.b.c.d, six zero groups then a non-zero
        // one) aside: inet_ntop prints it dotted, formatIPv6 (like the kernel's %pI6c) not.
        fc.pre(!(groups.slice(0, 6).every((g) => g === 0) && groups[6] !== 0));
        expect(formatIPv6(v6Entry(groups, 1), 8)).toBe(nodeForm(groups));
      }),
      { numRuns: 2000, seed: 13 },
    );
  });
});
