/**
 * Decoding of the raw `sockaddr_in`/`sockaddr_in6` entries the kernel writes into the
 * receive ring (32 bytes each, see `SOCKADDR_STRIDE`) into dgram-style `rinfo` fields,
 * in JS so that a batch costs no per-datagram native call. IPv4 strings are cached by
 * their 32-bit value.
 */
import { endianness } from 'node:os';
import { scopeName } from '../interfaces.js';

const AF_INET = 2;
const AF_INET6 = 10;
const LE = endianness() === 'LE';

const v4Cache = new Map<number, string>();
const V4_CACHE_MAX = 65536;

export interface DecodedAddress {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
}

/** Decodes the entry at byte `off` of `addrs` (a DataView over the receive address table). */
export function decodeSockaddr(view: DataView, off: number): DecodedAddress {
  const family = view.getUint16(off, LE);
  const port = view.getUint16(off + 2, false);
  if (family === AF_INET) {
    const v = view.getUint32(off + 4, false);
    let s = v4Cache.get(v);
    if (s === undefined) {
      s = `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
      if (v4Cache.size >= V4_CACHE_MAX) v4Cache.clear();
      v4Cache.set(v, s);
    }
    return { address: s, family: 'IPv4', port };
  }
  if (family === AF_INET6) {
    const address = formatIPv6(view, off + 8);
    // As Node's AddressToJS: a link-local sender (fe80::/10) carries its interface, so that
    // a reply to rinfo.address leaves on the link the datagram came from.
    if ((view.getUint16(off + 8, false) & 0xffc0) === 0xfe80) {
      const scope = view.getUint32(off + 24, LE); // sin6_scope_id, host byte order
      if (scope !== 0) return { address: `${address}%${scopeName(scope)}`, family: 'IPv6', port };
    }
    return { address, family: 'IPv6', port };
  }
  return { address: '', family: 'IPv4', port: 0 };
}

/** RFC 5952 text form of 16 address bytes at `off` (as inet_ntop writes it, `::ffff:a.b.c.d` for mapped). */
export function formatIPv6(view: DataView, off: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(view.getUint16(off + i * 2, false));
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${g[6] >>> 8}.${g[6] & 255}.${g[7] >>> 8}.${g[7] & 255}`;
  }
  // Longest run of >= 2 zero groups (first on a tie) becomes '::'.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number, b: number): string => g.slice(a, b).map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(0, 8);
  return `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}
