/**
 * Per-socket kernel receive drops for the `'dgram'` backend, which has no control
 * messages to read SO_RXQ_OVFL from: the `drops` column (sk_drops) of the socket's row in
 * `/proc/net/udp` / `/proc/net/udp6` (proc(5)), found by the inode of its fd
 * (`/proc/self/fd/N` -> `socket:[inode]`). Linux only; elsewhere, or when the fd is not
 * known, the answer is `undefined`. One read of each file per call: for `stats()`, not
 * for a hot path.
 */
import { readFileSync, readlinkSync } from 'node:fs';

const TABLES = ['/proc/net/udp', '/proc/net/udp6'];
/** Column indices of a row (whitespace-split, after the header line). */
const INODE = 9;
const DROPS = 12;

/** sk_drops of the UDP socket open as `fd` in this process, or undefined. */
export function kernelDrops(fd: number | undefined): number | undefined {
  if (fd === undefined || !(fd >= 0)) return undefined;
  let inode: string;
  try {
    const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
    if (!m) return undefined;
    inode = m[1];
  } catch {
    return undefined; // not Linux, or the fd is gone
  }
  for (const table of TABLES) {
    let text: string;
    try {
      text = readFileSync(table, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      // "  sl  local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ref pointer drops"
      const cols = line.trim().split(/\s+/);
      if (cols[INODE] === inode && cols.length > DROPS) {
        const drops = Number(cols[DROPS]);
        return Number.isFinite(drops) ? drops : undefined;
      }
    }
  }
  return undefined;
}
