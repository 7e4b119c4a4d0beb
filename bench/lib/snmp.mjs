/**
 * Kernel UDP counters (/proc/net/snmp "Udp:" lines). Meaningful per run only inside the
 * bench's own network namespace, where nothing else sends UDP (see bench/lib/netns.mjs).
 */
import { readFileSync } from 'node:fs';

export function readUdp() {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
    const names = lines[0].split(/\s+/).slice(1);
    const values = lines[1].split(/\s+/).slice(1).map(Number);
    return Object.fromEntries(names.map((n, i) => [n, values[i]]));
  } catch {
    return null;
  }
}

/** after − before for the counters the bench reports. */
export function udpDelta(before, after) {
  if (!before || !after) return null;
  const d = {};
  for (const k of ['OutDatagrams', 'InDatagrams', 'RcvbufErrors', 'SndbufErrors', 'InErrors', 'NoPorts']) d[k] = (after[k] ?? 0) - (before[k] ?? 0);
  return d;
}
