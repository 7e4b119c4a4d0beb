/**
 * Validation of ports and IP addresses at the JS boundary, before native code sees them.
 *
 * Destinations must be IP literals (no DNS on the hot path), with one convenience:
 * `'localhost'` means the loopback address of the socket's family. On a udp6 socket an
 * IPv4 literal is accepted and sent IPv4-mapped (`::ffff:a.b.c.d`) unless the socket is
 * IPv6-only, as a dual-stack socket does. An IPv6 literal may carry a scope (`fe80::1%eth0`,
 * `fe80::1%3`) naming an interface that exists.
 */
import { BlockList, isIP, isIPv4, isIPv6 } from 'node:net';
import { inspect } from 'node:util';
import { BatchSocketRangeError, BatchSocketTypeError, BatchSocketError } from './errors.js';
import { MAX_PAYLOAD_V4, MAX_PAYLOAD_V6 } from './limits.js';
import type { SocketType } from './types.js';
import { isValidScope } from './interfaces.js';

/** Largest UDP payload of a socket of `type`, bytes (see limits.ts). */
export function maxPayload(type: SocketType): number {
  return type === 'udp4' ? MAX_PAYLOAD_V4 : MAX_PAYLOAD_V6;
}

/**
 * Node's validatePort (lib/internal/validators.js), which dgram's send() and connect() use:
 * a number, or a string that is not blank, whose numeric value is an integer in
 * [0 or 1, 65535] (`'80'`, `' 80 '`, `'0x50'` pass; `1.5`, `''`, `-1` do not). Returns it as a
 * number; throws ERR_SOCKET_BAD_PORT (RangeError) with Node's message otherwise.
 */
export function validatePort(port: unknown, name = 'Port', allowZero = true): number {
  if (
    (typeof port !== 'number' && typeof port !== 'string') ||
    (typeof port === 'string' && port.trim().length === 0) ||
    +port !== +port >>> 0 ||
    +port > 0xffff ||
    (+port === 0 && !allowZero)
  ) {
    throw new BatchSocketRangeError('ERR_SOCKET_BAD_PORT', `${name} should be ${allowZero ? '>=' : '>'} 0 and < 65536. Received ${describe(port)}.`);
  }
  return +port | 0;
}

/**
 * Returns the IP literal to use for `address` on a socket of `type`, or throws
 * ERR_INVALID_IP_ADDRESS. `undefined`/empty → `fallback`.
 */
export function validateAddress(address: unknown, type: SocketType, fallback: string, ipv6Only = false): string {
  if (address === undefined || address === null || address === '') return fallback;
  if (typeof address !== 'string') {
    throw new BatchSocketTypeError('ERR_INVALID_ARG_TYPE', `The "address" argument must be of type string. Received ${describe(address)}`);
  }
  if (address === 'localhost') return type === 'udp4' ? '127.0.0.1' : '::1';
  if (type === 'udp4') {
    if (isIPv4(address)) return address;
  } else {
    const percent = address.indexOf('%');
    const bare = percent >= 0 ? address.slice(0, percent) : address;
    if (isIPv6(bare)) {
      // A scope must name an interface of this namespace: checked here, before any implicit
      // bind, so a typo is an error rather than a datagram sent on no link.
      if (percent >= 0 && !isValidScope(address.slice(percent + 1))) {
        throw new BatchSocketError('ERR_INVALID_IP_ADDRESS', `Invalid IP address: ${JSON.stringify(address)} (no network interface ${JSON.stringify(address.slice(percent + 1))})`);
      }
      return address;
    }
    if (!ipv6Only && isIPv4(address)) return address;
  }
  throw new BatchSocketError('ERR_INVALID_IP_ADDRESS', `Invalid IP address for a ${type} socket: ${JSON.stringify(address)} (an IP literal of the socket's family is required)`);
}

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');
loopback.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');

/**
 * True for `'localhost'` (any case) and IP literals in 127.0.0.0/8, ::1 or
 * ::ffff:127.0.0.0/104 (IPv4-mapped loopback), in any of their text forms
 * (`0:0:0:0:0:0:0:1`, `::ffff:7f00:1`). Host names other than localhost are not looked up: false.
 */
export function isLoopback(address: string): boolean {
  if (address.toLowerCase() === 'localhost') return true;
  const family = isIP(address);
  if (family === 4) return loopback.check(address, 'ipv4');
  if (family === 6) return loopback.check(address, 'ipv6');
  return false;
}

/**
 * Short description of a value for error messages, as Node's own (determineSpecificType
 * of lib/internal/errors.js): `null`, `function f`, `an instance of Foo`, or
 * `type string ('abc')` (cut to 25 characters + '...') / `type number (70000)` (util.inspect).
 */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return value.name ? `function ${value.name}` : inspect(value, { depth: -1 });
  if (typeof value === 'object') {
    const name = (value as object).constructor?.name;
    return name ? `an instance of ${name}` : inspect(value, { depth: -1 });
  }
  if (typeof value === 'string') {
    const v = value.length > 28 ? `${value.slice(0, 25)}...` : value;
    return v.includes("'") ? `type string (${JSON.stringify(v)})` : `type string ('${v}')`;
  }
  let s = inspect(value, { colors: false });
  if (s.length > 28) s = `${s.slice(0, 25)}...`;
  return `type ${typeof value} (${s})`;
}
