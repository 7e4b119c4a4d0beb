/**
 * `udp-blast selftest` (what `npm start` runs): on loopback, for each backend, a sink
 * child process and a sender child process, then a side-by-side table of rate, CPU,
 * system calls, loss, reordering and latency, and the batch/dgram rate ratio.
 *
 * Each run: spawn `sink --listen 127.0.0.1:0 --json`, wait for its
 * "listening on HOST:PORT" line, spawn `send --to HOST:PORT --json` (under
 * `perf stat` when that works, for kernel-counted send syscalls), collect both
 * JSON results. The sink uses the best receive path available (batch where the
 * addon loads) for every row, so the rows differ only in the sender.
 *
 * Loss on loopback at full rate is legitimate (the receiver's socket buffer
 * overflows) and is reported, not failed. The exit code is non-zero only when a
 * child process fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BackendName } from '../types.js';
import type { SelftestOptions } from './args.js';
import { probeBatchBackend } from './backend.js';
import { parsePerfStat, perfStatPrefix, probePerf, totalSendSyscalls } from './perf.js';
import { fmt, formatSelftestTable, type SelftestRow } from './report.js';
import type { SendResult } from './send.js';
import type { SinkResult } from './sink.js';
import { jsonHeader } from '../package-info.js';

/** One configuration of the sender. */
interface RunSpec {
  label: string;
  backend: BackendName;
  batch: number | null;
  /** UDP GSO on the sender (batch backend). */
  gso: boolean;
}

/** Time limits of the children, ms. */
const LISTEN_TIMEOUT_MS = 10_000;
const SEND_TIMEOUT_MS = 30_000;
const SINK_TIMEOUT_MS = 15_000;
/** Sink's idle stop after the last datagram in a selftest run, ms. */
const SINK_IDLE_MS = 1000;

/** The CLI entry script next to this module (dist/cli/udp-blast.js). */
export function cliScript(): string {
  return join(dirname(fileURLToPath(import.meta.url)), 'udp-blast.js');
}

/** A spawned child in its own process group, with collected output and a bounded wait. */
class Child {
  readonly proc: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;

  constructor(cmd: string, args: string[]) {
    this.proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.proc.stdout?.on('data', (d: Buffer) => (this.stdout += d.toString()));
    this.proc.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => {
      this.proc.on('error', (err) => {
        this.stderr += `\nspawn failed: ${err.message}`;
        resolve(null);
      });
      this.proc.on('close', (code) => resolve(code));
    });
  }

  /** Kills the child's process group (it and, under perf, the command perf runs). */
  kill(): void {
    if (this.proc.pid === undefined || this.proc.exitCode !== null) return;
    try {
      process.kill(-this.proc.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  /** Exit code, or null after killing it when it outlived `timeoutMs`. */
  async wait(timeoutMs: number): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const r = await Promise.race([this.exited, timeout]);
    clearTimeout(timer);
    if (r === 'timeout') {
      this.kill();
      await this.exited;
      return null;
    }
    return r;
  }

  /** Resolves with the first match of `re` in stderr, or null on exit/timeout. */
  waitForStderr(re: RegExp, timeoutMs: number): Promise<RegExpExecArray | null> {
    return new Promise((resolve) => {
      const check = (): boolean => {
        const m = re.exec(this.stderr);
        if (m) finish(m);
        return m !== null;
      };
      const timer = setTimeout(() => finish(null), timeoutMs);
      const onData = (): void => void check();
      const finish = (m: RegExpExecArray | null): void => {
        clearTimeout(timer);
        this.proc.stderr?.off('data', onData);
        resolve(m);
      };
      this.proc.stderr?.on('data', onData);
      void this.exited.then(() => finish(re.exec(this.stderr)));
      check();
    });
  }
}

function parseJson<T>(text: string, what: string): T {
  const line = text.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(`${what} printed no JSON result (stdout: ${JSON.stringify(text.slice(0, 200))})`);
  }
}

function tail(text: string): string {
  return text.trim().split('\n').slice(-5).join('\n    ');
}

/** Runs one sink + sender pair. Throws with the children's stderr when either fails. */
async function runPair(spec: RunSpec, opts: SelftestOptions, sinkBackend: BackendName, perf: boolean): Promise<SelftestRow> {
  const script = cliScript();
  const sink = new Child(process.execPath, [
    script, 'sink', '--listen', '127.0.0.1:0', '--json', '--backend', sinkBackend,
    '--count', String(opts.count), '--idle-ms', String(SINK_IDLE_MS), '--duration', '25',
  ]);
  const perfFile = join(tmpdir(), `udp-blast-selftest-${process.pid}-${spec.label.replace(/\W+/g, '_')}.csv`);
  try {
    const m = await sink.waitForStderr(/listening on (\S+):(\d+)/, LISTEN_TIMEOUT_MS);
    if (!m) throw new Error(`sink did not start listening within ${LISTEN_TIMEOUT_MS} ms:\n    ${tail(sink.stderr)}`);
    const port = m[2];
    const sendArgs = [
      script, 'send', '--to', `127.0.0.1:${port}`, '--json', '--size', String(opts.size), '--count', String(opts.count),
      '--backend', spec.backend, ...(spec.batch !== null ? ['--batch', String(spec.batch)] : []),
      ...(spec.backend === 'batch' ? [spec.gso ? '--gso' : '--no-gso'] : []),
    ];
    const cmd = perf ? [...perfStatPrefix(perfFile), process.execPath, ...sendArgs] : [process.execPath, ...sendArgs];
    const sender = new Child(cmd[0], cmd.slice(1));
    const sendCode = await sender.wait(SEND_TIMEOUT_MS);
    if (sendCode !== 0) throw new Error(`sender (${spec.label}) ${sendCode === null ? 'timed out' : `exited with ${sendCode}`}:\n    ${tail(sender.stderr)}`);
    const send = parseJson<SendResult>(sender.stdout, `sender (${spec.label})`);
    const sinkCode = await sink.wait(SINK_TIMEOUT_MS);
    if (sinkCode !== 0) throw new Error(`sink ${sinkCode === null ? 'timed out' : `exited with ${sinkCode}`}:\n    ${tail(sink.stderr)}`);
    const sinkResult = parseJson<SinkResult>(sink.stdout, 'sink');
    let perfSyscallsPerDatagram: number | null = null;
    if (perf) {
      const total = totalSendSyscalls(parsePerfStat(await readFile(perfFile, 'utf8').catch(() => '')));
      if (total !== null && send.sent > 0) perfSyscallsPerDatagram = total / send.sent;
    }
    return { label: spec.label, send, sink: sinkResult, perfSyscallsPerDatagram };
  } finally {
    sink.kill();
    await rm(perfFile, { force: true });
  }
}

/**
 * Runs the selftest, printing progress and the table to `out`. Resolves with the
 * process exit code: 0, or 1 when a child process failed.
 */
export async function runSelftest(opts: SelftestOptions, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const started = Date.now();
  // With --json the table goes to stderr and stdout carries only the JSON object.
  const text = opts.json ? err : out;
  const native = probeBatchBackend();
  const specs: RunSpec[] = [];
  // 'batch' is plain sendmmsg (--no-gso) so that the GSO row shows what GSO adds.
  if (native.ok) specs.push({ label: 'batch', backend: 'batch', batch: null, gso: false });
  specs.push({ label: 'dgram', backend: 'dgram', batch: null, gso: false });
  if (native.ok) specs.push({ label: 'batch (--batch 256)', backend: 'batch', batch: 256, gso: false });
  if (native.ok) specs.push({ label: 'batch + GSO', backend: 'batch', batch: null, gso: true });
  const sinkBackend: BackendName = native.ok ? 'batch' : 'dgram';

  let perf = false;
  let perfNote: string;
  if (!opts.perf) perfNote = 'perf stat disabled (--no-perf): syscalls are the library\'s own count';
  else {
    const probe = await probePerf();
    perf = probe.ok;
    perfNote = probe.ok ? 'syscalls/dgram counted by the kernel (perf stat: sendmmsg + sendto + sendmsg of the sender process)' : `perf stat unavailable (${probe.reason}): syscalls are the library's own count`;
  }

  text.write(`udp-blast selftest: loopback 127.0.0.1, ${fmt(opts.count)} datagrams × ${opts.size} B per run, as fast as possible\n`);
  if (!native.ok) text.write(`  batch backend skipped: ${native.reason}\n`);
  text.write(`  sink: ${sinkBackend} backend for every row; ${perfNote}\n`);

  const rows: SelftestRow[] = [];
  const failures: string[] = [];
  for (const spec of specs) {
    text.write(`  running ${spec.label} …\n`);
    try {
      rows.push(await runPair(spec, opts, sinkBackend, perf));
    } catch (e) {
      failures.push(`${spec.label}: ${(e as Error).message}`);
      text.write(`  FAILED ${spec.label}: ${(e as Error).message}\n`);
    }
  }

  text.write('\n' + formatSelftestTable(rows, perf));
  const batchRow = rows.find((r) => r.label === 'batch');
  const dgramRow = rows.find((r) => r.send.backend === 'dgram');
  const gsoRow = rows.find((r) => r.label === 'batch + GSO');
  let ratio: number | null = null;
  let gsoRatio: number | null = null;
  if (batchRow && dgramRow && dgramRow.send.pps > 0) {
    ratio = batchRow.send.pps / dgramRow.send.pps;
    text.write(`\nbatch/dgram datagrams/s: ${fmt(ratio, 2)}× (one run each; the bench suite reports medians)\n`);
  }
  if (gsoRow && dgramRow && dgramRow.send.pps > 0) {
    gsoRatio = gsoRow.send.pps / dgramRow.send.pps;
    const used = gsoRow.send.gso ? `${fmt(gsoRow.send.gsoMessages)} GSO messages for ${fmt(gsoRow.send.gsoSegments)} datagrams` : 'GSO unavailable here: plain sendmmsg';
    text.write(`batch + GSO/dgram datagrams/s: ${fmt(gsoRatio, 2)}× (${used})\n`);
  }
  text.write('loss = sent by the sender − distinct datagrams the sink saw (loopback drops at full rate when the receiver falls behind).\n');
  text.write(`selftest took ${fmt((Date.now() - started) / 1000, 1)} s\n`);
  if (opts.json) {
    out.write(JSON.stringify({ ...jsonHeader('selftest'), perf, rows, ratio, gsoRatio, failures }) + '\n');
  }
  return failures.length ? 1 : 0;
}
