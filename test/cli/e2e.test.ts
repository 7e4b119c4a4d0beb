/**
 * End-to-end: spawns the built CLI (dist/cli/udp-blast.js) as real processes on
 * loopback. Every wait is bounded; children are killed on timeout.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeBatchBackend } from '../../src/cli/backend.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The kernel's Udp RcvbufErrors of this network namespace (/proc/net/snmp): datagrams dropped because a receive buffer was full. */
function rcvbufErrors(): number {
  const [head, values] = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
  return Number(values.split(' ')[head.split(' ').indexOf('RcvbufErrors')]);
}
const bin = join(root, 'dist', 'cli', 'udp-blast.js');
const children = new Set<ChildProcess>();

interface Done {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Spawns the CLI; `done` resolves on exit, or after killing it at `timeoutMs`. */
function cli(args: string[], timeoutMs = 20_000): { child: ChildProcess; done: Promise<Done>; stderrSoFar: () => string } {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<Done>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
  return { child, done, stderrSoFar: () => stderr };
}

/** Starts a sink and resolves with its port once it printed "listening on HOST:PORT". */
async function startSink(args: string[], timeoutMs?: number): Promise<{ port: number; host: string; done: Promise<Done>; child: ChildProcess }> {
  const s = cli(['sink', '--json', ...args], timeoutMs);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const m = /listening on (\S+):(\d+)/.exec(s.stderrSoFar());
    if (m) return { host: m[1], port: Number(m[2]), done: s.done, child: s.child };
    if (Date.now() > deadline || s.child.exitCode !== null) {
      s.child.kill('SIGKILL');
      throw new Error(`sink did not listen: ${s.stderrSoFar()}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

function json(d: Done): Record<string, any> {
  expect(d.code, d.stderr).toBe(0);
  return JSON.parse(d.stdout.trim());
}

beforeAll(() => {
  // test/global-setup.ts built dist/ once for every test file.
  if (!existsSync(bin)) throw new Error(`no ${bin}: the global setup should have built it`);
});

afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

describe('udp-blast CLI: usage and safety', () => {
  it('help prints usage and exits 0', async () => {
    for (const args of [['help'], ['--help'], ['send', '--help']]) {
      const d = await cli(args).done;
      expect(d.code).toBe(0);
      expect(d.stdout).toMatch(/Usage:\n\s+udp-blast send --to HOST:PORT/);
    }
  });

  it('an unknown flag or bad value exits 2 with one line and a hint on stderr, not the whole usage', async () => {
    for (const args of [['send', '--to', '127.0.0.1:9', '--bogus'], ['send', '--to', '127.0.0.1:9', '--size', '10'], ['sink', '--idle-ms', 'x'], ['nope']]) {
      const d = await cli(args).done;
      expect(d.code, args.join(' ')).toBe(2);
      expect(d.stderr).toMatch(/^udp-blast: [^\n]+\nRun 'udp-blast --help' for usage\.\n$/);
      expect(d.stderr).not.toContain('Usage:');
      expect(d.stdout).toBe('');
    }
  });

  it('refuses a non-loopback target before sending anything (exit 2)', async () => {
    const started = Date.now();
    const d = await cli(['send', '--to', '192.0.2.1:9', '--count', '1000000', '--json']).done;
    expect(d.code).toBe(2);
    expect(d.stderr).toMatch(/refusing to send to non-loopback address '192\.0\.2\.1'.*--allow-remote/);
    expect(d.stdout).toBe(''); // no result: no run happened
    expect(Date.now() - started).toBeLessThan(10_000);
    const v6 = await cli(['send', '--to', '[2001:db8::1]:9']).done;
    expect(v6.code).toBe(2);
  });

  it('refuses to listen on a non-loopback address (exit 2)', async () => {
    const d = await cli(['sink', '--listen', '0.0.0.0:0']).done;
    expect(d.code).toBe(2);
    expect(d.stderr).toMatch(/--allow-remote/);
    expect(d.stderr).not.toMatch(/listening on/);
  });
});

const batch = probeBatchBackend();
const backends = [
  { name: 'dgram', skip: false, why: '' },
  { name: 'batch', skip: !batch.ok, why: batch.ok ? '' : batch.reason },
];

for (const b of backends) {
  if (b.skip) {
    // Visible in the report: the reason the batch rows did not run.
    it.skip(`[${b.name}] end to end — skipped: ${b.why}`, () => {});
    continue;
  }
  describe(`udp-blast end to end [${b.name}]`, () => {
    it('paced run on 127.0.0.1: received == sent, no loss, no reorder, 4 flows', async () => {
      const sink = await startSink(['--listen', '127.0.0.1:0', '--backend', b.name, '--count', '20000', '--idle-ms', '3000']);
      expect(sink.port).toBeGreaterThan(0);
      const rcvbufErrors0 = rcvbufErrors();
      const send = json(await cli(['send', '--to', `127.0.0.1:${sink.port}`, '--backend', b.name, '--count', '20000', '--rate', '20000', '--flows', '4', '--size', '200', '--json']).done);
      const recv = json(await sink.done);
      // A sink starved of CPU on a busy machine (or under the sanitizer pass) overflows its
      // receive buffer: that loss the kernel counts (RcvbufErrors) is not a library fault.
      // Loss the kernel did not count, or any reorder/duplicate, still fails.
      const missing = send.sent - recv.received;
      if (missing > 0) {
        expect(rcvbufErrors() - rcvbufErrors0, `${missing} datagrams missing at the sink`).toBeGreaterThanOrEqual(missing);
        expect(recv).toMatchObject({ backend: b.name, reordered: 0, duplicates: 0, invalid: 0 });
        return;
      }
      expect(send).toMatchObject({ backend: b.name, enqueued: 20000, sent: 20000, failed: 0, size: 200, flows: 4 });
      expect(send.bytes).toBe(20000 * 200);
      expect(send.syscalls).toBeGreaterThan(0);
      expect(send.sendBufferSize).toBeGreaterThan(0);
      expect(send.pps).toBeGreaterThan(0);
      expect(send.cpuUserUs + send.cpuSysUs).toBeGreaterThan(0);
      for (const k of ['gbps', 'cpuUserUs', 'cpuSysUs', 'syscalls', 'partialSends', 'eagain', 'dropped', 'failed']) expect(send).toHaveProperty(k);
      expect(recv).toMatchObject({ backend: b.name, stoppedBy: 'count', received: 20000, unique: 20000, lost: 0, reordered: 0, duplicates: 0, invalid: 0, flows: 4 });
      expect(recv.received).toBe(send.sent);
      expect(recv.bytes).toBe(send.bytes);
      expect(recv.perFlow.map((f: { received: number }) => f.received)).toEqual([5000, 5000, 5000, 5000]);
      expect(recv.latencyUs.count).toBe(20000);
      expect(recv.latencyUs.p50).toBeGreaterThan(0);
      expect(recv.latencyUs.p99).toBeGreaterThanOrEqual(recv.latencyUs.p50);
      expect(recv.latencyUs.max).toBeGreaterThanOrEqual(recv.latencyUs.p99);
      // A paced 1 s run cannot be faster than its rate.
      expect(send.durationS).toBeGreaterThan(0.9);
    }, 30_000);

    it('IPv6 loopback [::1]', async () => {
      const sink = await startSink(['--listen', '[::1]:0', '--backend', b.name, '--count', '2000', '--idle-ms', '3000']);
      expect(sink.host).toBe('[::1]');
      const send = json(await cli(['send', '--to', `[::1]:${sink.port}`, '--backend', b.name, '--count', '2000', '--rate', '10000', '--json']).done);
      const recv = json(await sink.done);
      expect(send.sent).toBe(2000);
      expect(send.to).toBe(`[::1]:${sink.port}`);
      expect(recv).toMatchObject({ received: 2000, lost: 0, reordered: 0, duplicates: 0 });
    }, 30_000);

    it('as fast as possible: every datagram accounted for, none duplicated', async () => {
      // 50k as fast as the sender goes: a second or two idle, far longer when the machine's
      // cores are oversubscribed; the kill bound is for a hung process, not for a slow one.
      const sink = await startSink(['--backend', b.name, '--count', '50000', '--idle-ms', '1000'], 150_000);
      const send = json(await cli(['send', '--to', `127.0.0.1:${sink.port}`, '--backend', b.name, '--count', '50000', '--json'], 150_000).done);
      const recv = json(await sink.done);
      expect(send.enqueued).toBe(50000);
      // Library identity at the end: nothing queued, so enqueued + drops = sent + failed + dropped.
      expect(send.sent + send.failed).toBe(50000);
      expect(send.dropped).toBe(send.resent); // only backpressure drops, each re-sent with the same seq
      expect(recv.duplicates).toBe(0);
      expect(recv.received).toBeLessThanOrEqual(send.sent); // loopback may drop at full rate, never invent
      expect(recv.unique + recv.lost).toBeLessThanOrEqual(50000);
    }, 180_000);

    it('counts foreign datagrams as invalid and keeps going', async () => {
      const sink = await startSink(['--backend', b.name, '--idle-ms', '500', '--duration', '15']);
      const junk = createSocket('udp4');
      const payloads = [Buffer.alloc(0), Buffer.from('hello'), Buffer.alloc(24), Buffer.from('UBL2' + 'x'.repeat(40))];
      for (const p of payloads) await new Promise<void>((r, j) => junk.send(p, sink.port, '127.0.0.1', (e) => (e ? j(e) : r())));
      junk.close();
      const send = json(await cli(['send', '--to', `127.0.0.1:${sink.port}`, '--backend', b.name, '--count', '100', '--rate', '1000', '--json']).done);
      const recv = json(await sink.done);
      expect(send.sent).toBe(100);
      expect(recv).toMatchObject({ stoppedBy: 'idle', received: 100, invalid: payloads.length, lost: 0 });
    }, 30_000);
  });
}

describe('udp-blast sink lifecycle', () => {
  it('SIGTERM ends a sink gracefully with a result', async () => {
    const sink = await startSink(['--duration', '30']);
    sink.child.kill('SIGTERM');
    const recv = json(await sink.done);
    expect(recv).toMatchObject({ stoppedBy: 'signal', received: 0, lost: 0 });
  }, 20_000);

  it('--duration ends an idle sink', async () => {
    const sink = await startSink(['--duration', '0.3']);
    const recv = json(await sink.done);
    expect(recv.stoppedBy).toBe('duration');
  }, 20_000);
});

describe('udp-blast selftest', () => {
  it('runs sink/sender pairs as child processes and prints the table', async () => {
    const d = await cli(['selftest', '--count', '5000', '--no-perf'], 60_000).done;
    expect(d.code, d.stdout + d.stderr).toBe(0);
    expect(d.stdout).toMatch(/backend\s+sent\s+datagrams\/s\s+Gbit\/s\s+CPU µs\/dgram\s+syscalls\/dgram \(own count\)/);
    expect(d.stdout).toMatch(/^dgram\s+5,000\s/m);
    // Without perf, dgram has no honest syscall count.
    expect(d.stdout).toMatch(/^dgram(\s+\S+){4}\s+n\/a\s/m);
    if (batch.ok) expect(d.stdout).toMatch(/batch\/dgram datagrams\/s: [\d.]+×/);
  }, 70_000);
});
