/**
 * The CLIs' small contract with a user at a shell: `--version` on both bins, a usage error is
 * one line plus a hint (not the whole help), `--json` objects say what made them.
 * Spawns the built bins (test/global-setup.ts built dist/).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
const BINS = { 'udp-blast': join(root, 'dist', 'cli', 'udp-blast.js'), 'rtp-relay': join(root, 'dist', 'relay', 'cli.js') };

function run(bin: keyof typeof BINS, args: string[]) {
  return spawnSync(process.execPath, [BINS[bin], ...args], { encoding: 'utf8', timeout: 20_000 });
}

describe.each(Object.keys(BINS) as (keyof typeof BINS)[])('%s', (bin) => {
  it.each(['--version', '-V'])('%s prints the name and version', (flag) => {
    const r = run(bin, [flag]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${bin} ${version}\n`);
  });

  it('a usage error prints one line and a hint, exit 2', () => {
    const r = run(bin, bin === 'udp-blast' ? ['send', '--to', '127.0.0.1:9', '--bogus'] : ['--bogus']);
    expect(r.status).toBe(2);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^${bin}: .*bogus`));
    expect(lines[1]).toBe(`Run '${bin} --help' for usage.`);
    expect(r.stdout).toBe('');
  });
});

describe('udp-blast --json', () => {
  it('send and sink objects carry command, version and schemaVersion', () => {
    // A sink bounded by --duration (no idle cut-off) and a sender to a closed port: both end on their own.
    const sink = run('udp-blast', ['sink', '--listen', '127.0.0.1:0', '--duration', '0.3', '--json']);
    expect(sink.status, sink.stderr).toBe(0);
    const s = JSON.parse(sink.stdout) as Record<string, unknown>;
    expect(s).toMatchObject({ command: 'sink', version, schemaVersion: 1, package: 'dgram-sendmmsg-native' });
    const send = run('udp-blast', ['send', '--to', '127.0.0.1:9', '--count', '10', '--json']);
    expect(send.status, send.stderr).toBe(0);
    expect(JSON.parse(send.stdout)).toMatchObject({ command: 'send', version, schemaVersion: 1 });
  });
});
