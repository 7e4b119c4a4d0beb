/**
 * Network interface names and indices for IPv6 scopes (RFC 4007 zone ids: `fe80::1%eth0`,
 * `fe80::1%3`): if_nametoindex(3)/if_indextoname(3) through the addon where it loads, else
 * `os.networkInterfaces()` (names only).
 */
import { networkInterfaces } from 'node:os';
import { loadNative } from './native/binding.js';

const names = new Map<number, string>();
const NAMES_MAX = 256;

/**
 * How dgram prints the scope of a link-local sender: the interface's name, or the index in
 * decimal when no interface has it (any more). Cached: a name lookup is a system call.
 */
export function scopeName(index: number): string {
  let name = names.get(index);
  if (name !== undefined) return name;
  const native = loadNative();
  name = (native.ok ? native.binding.interfaceName(index) : undefined) ?? String(index);
  if (names.size >= NAMES_MAX) names.clear();
  names.set(index, name);
  return name;
}

/**
 * Whether `scope` (the part after '%') names an interface of this network namespace: a name
 * that exists, or the decimal index of one. Asked afresh each time (interfaces come and go).
 */
export function isValidScope(scope: string): boolean {
  if (scope.length === 0 || (scope.length > 15 && !/^[0-9]+$/.test(scope))) return false;
  const native = loadNative();
  if (/^[0-9]{1,10}$/.test(scope)) {
    const index = Number(scope);
    if (index < 1 || index > 0xffffffff) return false;
    return native.ok ? native.binding.interfaceName(index) !== undefined : true;
  }
  if (native.ok) return native.binding.interfaceIndex(scope) > 0;
  return Object.prototype.hasOwnProperty.call(networkInterfaces(), scope);
}
