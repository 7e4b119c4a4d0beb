/**
 * `perf stat` over syscall tracepoints: the kernel's own count of the system calls a
 * process made, independent of the library's counters. Probed once; when it does not
 * work the reason is recorded and every "kernel-counted" column says so.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './proc.mjs';

export const SEND_EVENTS = ['sendmmsg', 'sendto', 'sendmsg', 'write'];
export const RECV_EVENTS = ['recvmmsg', 'recvfrom', 'recvmsg'];
const EVENTS = [...SEND_EVENTS, ...RECV_EVENTS].map((e) => `syscalls:sys_enter_${e}`);

/** Prefix that runs a command under perf stat writing CSV to `outFile`. */
export function perfPrefix(perfBin, outFile) {
  return [perfBin, 'stat', '-x,', '-o', outFile, '-e', EVENTS.join(','), '--'];
}

/** Parses perf's CSV into { sendmmsg: n, sendto: n, … } (tracepoints that were read). */
export function parsePerf(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const f = line.trim().split(',');
    if (f.length < 3 || !f[2]?.startsWith('syscalls:sys_enter_')) continue;
    const v = Number(f[0]);
    if (f[0] !== '' && Number.isFinite(v)) out[f[2].slice('syscalls:sys_enter_'.length)] = v;
  }
  return out;
}

/** Reads and deletes a perf output file. */
export async function readPerf(file) {
  try {
    return parsePerf(await readFile(file, 'utf8'));
  } catch {
    return null;
  } finally {
    await rm(file, { force: true });
  }
}

/** Sum of the UDP send syscalls (sendmmsg + sendto + sendmsg; `write` is reported apart). */
export function sendSyscalls(counts) {
  if (!counts) return null;
  return (counts.sendmmsg ?? 0) + (counts.sendto ?? 0) + (counts.sendmsg ?? 0);
}

/** { ok, path, reason }: whether perf can count the syscall tracepoints here. */
export async function probePerf(tmpDir) {
  const which = await run('sh', ['-c', 'command -v perf'], 5000);
  const path = which.stdout.trim();
  if (!path) return { ok: false, reason: 'perf not installed (Debian package linux-perf; scripts/install-bench-deps.sh)' };
  const file = join(tmpDir, `perf-probe-${process.pid}.csv`);
  const r = await run(path, [...perfPrefix(path, file).slice(1), 'true'], 15_000);
  const counts = await readPerf(file);
  if (r.code !== 0 || !counts) return { ok: false, path, reason: `perf stat on syscall tracepoints failed: ${(r.stderr || String(r.error ?? '')).trim().split('\n')[0]}` };
  const missing = EVENTS.map((e) => e.slice('syscalls:sys_enter_'.length)).filter((e) => counts[e] === undefined);
  if (missing.length) return { ok: false, path, reason: `perf cannot count tracepoints: ${missing.join(', ')} (tracefs/permissions?)` };
  const v = await run(path, ['--version'], 5000);
  return { ok: true, path, version: v.stdout.trim() };
}
