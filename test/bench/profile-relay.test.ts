/**
 * scripts/profile-relay.mjs end to end, at toy size: the relay, its feeder and 2 werift viewers
 * (scripts/measure-relay.mjs, in its own network namespace), perf record on the relay over a
 * 3 s window, the breakdown printed as JSON. Proves the tool works here (perf samples the
 * relay, JIT frames are named, the kernel's send is found, perf's JIT map is removed); the
 * shares themselves are not asserted — speed is measured by the bench, not by tests.
 * Needs root (another process's perf record; the namespace) and perf.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const perfWorks = process.getuid?.() === 0 && spawnSync('perf', ['stat', '-e', 'cpu-clock', '--', 'true']).status === 0 && spawnSync('unshare', ['-n', 'true']).status === 0;

interface Profile {
  relayPid: number;
  samples: number;
  jsNamedShare: number;
  relayCpuUsPerForwardedWhileSampled: number;
  rows: { id: string; samples: number; share: number }[];
  topLeaves: { name: string; samples: number }[];
}

describe.skipIf(!perfWorks)('scripts/profile-relay.mjs', () => {
  it('samples the relay over the measured window and sorts every sample into one category', async () => {
    const child = spawn(process.execPath, [join(root, 'scripts', 'profile-relay.mjs'), '--streams', '1', '--viewers', '2', '--seconds', '3', '--warmup', '0', '--frequency', '4000', '--json'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // Bounded: joins (measure-relay's own timeout is 120 s), the 3 s window, the stops.
    const timer = setTimeout(() => child.kill('SIGKILL'), 170_000);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearTimeout(timer);
    expect(code, stderr.slice(-2000)).toBe(0);
    const p = JSON.parse(stdout) as Profile;
    expect(p.samples).toBeGreaterThan(0);
    expect(p.rows.reduce((a, r) => a + r.samples, 0)).toBe(p.samples);
    expect(p.rows.reduce((a, r) => a + r.share, 0)).toBeCloseTo(1, 9);
    // The relay forwarded RTP to its 2 viewers: the kernel's sendmmsg is in the profile.
    expect(p.relayCpuUsPerForwardedWhileSampled).toBeGreaterThan(0);
    expect(p.rows.find((r) => r.id === 'send')!.samples).toBeGreaterThan(0);
    // node --perf-basic-prof's map named the JIT frames (else JS would be bare addresses).
    expect(p.jsNamedShare).toBeGreaterThan(0);
    expect(p.topLeaves.length).toBeGreaterThan(0);
    // The tool removes perf's JIT map of the relay it profiled.
    expect(p.relayPid).toBeGreaterThan(0);
    expect(existsSync(`/tmp/perf-${p.relayPid}.map`)).toBe(false);
  }, 180_000);
});
