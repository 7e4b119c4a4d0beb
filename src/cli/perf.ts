/**
 * A thin wrapper over `perf stat` (Linux perf) that counts the send system calls of
 * a child process in the kernel, independently of the library's own counters.
 *
 * Needs the syscalls tracepoints (root or a low `kernel.perf_event_paranoid` and
 * tracefs). {@link probePerf} checks once that it really works before anyone trusts it.
 */
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The tracepoints counted: every way a UDP datagram can leave a process. */
export const SEND_SYSCALL_EVENTS = ['syscalls:sys_enter_sendmmsg', 'syscalls:sys_enter_sendto', 'syscalls:sys_enter_sendmsg'] as const;

/** Result of {@link probePerf}. */
export type PerfProbe = { ok: true } | { ok: false; reason: string };

/**
 * Command prefix that runs a command under `perf stat`, writing CSV counts to `outFile`.
 * Usage: `[...perfStatPrefix(file), process.execPath, script, ...args]`.
 */
export function perfStatPrefix(outFile: string, perfBin = 'perf'): string[] {
  return [perfBin, 'stat', '-x,', '-o', outFile, '-e', SEND_SYSCALL_EVENTS.join(','), '--'];
}

/**
 * Parses `perf stat -x,` output into counts by event name. Lines that are comments,
 * empty, or counts perf could not read (`<not supported>`, `<not counted>`) are skipped.
 */
export function parsePerfStat(text: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const fields = line.split(',');
    if (fields.length < 3) continue;
    const value = Number(fields[0]);
    const event = fields[2];
    if (!event || fields[0] === '' || !Number.isFinite(value)) continue;
    counts[event] = value;
  }
  return counts;
}

/** Sum of the send-syscall counts in a parsed perf result, or null when none was read. */
export function totalSendSyscalls(counts: Record<string, number>): number | null {
  let total = 0;
  let any = false;
  for (const e of SEND_SYSCALL_EVENTS) {
    if (counts[e] !== undefined) {
      total += counts[e];
      any = true;
    }
  }
  return any ? total : null;
}

/** Runs a command to completion with a time limit; resolves with exit code and output. */
function run(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string; error?: Error }> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let child;
    try {
      child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      resolve({ code: null, stdout, stderr, error: error as Error });
      return;
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr, error });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Checks once that `perf stat` can count the send-syscall tracepoints here, by
 * running it on `process.execPath -e ''`. Never throws.
 */
export async function probePerf(perfBin = 'perf'): Promise<PerfProbe> {
  const tmpFile = join(tmpdir(), `udp-blast-perf-probe-${process.pid}.csv`);
  try {
    return await probeWith(perfBin, tmpFile);
  } finally {
    await rm(tmpFile, { force: true });
  }
}

async function probeWith(perfBin: string, tmpFile: string): Promise<PerfProbe> {
  const r = await run(perfBin, [...perfStatPrefix(tmpFile, perfBin).slice(1), process.execPath, '-e', ''], 10_000);
  if (r.error) return { ok: false, reason: `perf not runnable: ${r.error.message}` };
  if (r.code !== 0) return { ok: false, reason: `perf stat failed (exit ${r.code}): ${r.stderr.trim().split('\n')[0] ?? ''}` };
  let text: string;
  try {
    text = await readFile(tmpFile, 'utf8');
  } catch (err) {
    return { ok: false, reason: `perf stat wrote no output: ${(err as Error).message}` };
  }
  const counts = parsePerfStat(text);
  const missing = SEND_SYSCALL_EVENTS.filter((e) => counts[e] === undefined);
  if (missing.length) return { ok: false, reason: `perf cannot count ${missing.join(', ')}` };
  return { ok: true };
}
