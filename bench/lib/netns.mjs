/**
 * Runs the whole bench inside a fresh network namespace of its own (`unshare -n`, root):
 * only a loopback device, no other process's traffic, so /proc/net/snmp UDP counters
 * count this bench alone and nothing can leave the host. Without root/unshare the bench
 * runs on the host loopback and says so (the snmp columns are then omitted).
 */
import { spawnSync } from 'node:child_process';

const MARK = 'DGRAM_BENCH_NETNS';

/**
 * In the parent: re-executes this script under `unshare -n` and returns its exit code,
 * or null when that is not possible (then the caller runs in the host namespace).
 * In the child: brings lo up and returns undefined.
 */
export function enterNetns(script, argv) {
  if (process.env[MARK] === '1') {
    const up = spawnSync('ip', ['link', 'set', 'lo', 'up'], { encoding: 'utf8' });
    if (up.status !== 0) {
      process.env.DGRAM_BENCH_NETNS_ERROR = `ip link set lo up failed: ${(up.stderr || up.error?.message || '').trim()}`;
    }
    return undefined;
  }
  if (process.getuid?.() !== 0) return { code: null, reason: 'not root: unshare -n needs CAP_SYS_ADMIN' };
  const which = spawnSync('sh', ['-c', 'command -v unshare && command -v ip'], { encoding: 'utf8' });
  if (which.status !== 0) return { code: null, reason: 'unshare or ip (util-linux, iproute2) not installed' };
  const test = spawnSync('unshare', ['-n', 'true']);
  if (test.status !== 0) return { code: null, reason: 'unshare -n is not permitted here' };
  const r = spawnSync('unshare', ['-n', process.execPath, script, ...argv], { stdio: 'inherit', env: { ...process.env, [MARK]: '1' } });
  return { code: r.status ?? 1 };
}

/** Whether this process runs in the bench's own namespace. */
export function inOwnNetns() {
  return process.env[MARK] === '1' && !process.env.DGRAM_BENCH_NETNS_ERROR;
}
