/**
 * Property-based fuzzing of the JS→native boundary (fast-check), in child processes so a
 * crash is a failed test with its seed, not a dead runner. See native-boundary.child.mjs
 * for the properties. Where root can create a network namespace the children run in one
 * (`unshare -n`, only lo), which lets random peer tables and arbitrary IP literals be sent
 * without anything leaving the machine; otherwise destinations stay on loopback.
 *
 * Each child gets 420 s: a few tens of seconds on an idle machine, several times that on a
 * 2-core machine oversubscribed by other jobs (the case count, not the time, is the contract).
 *
 * Case counts (CI, together >= 10,000): FUZZ_NATIVE_RUNS (default 9500) and FUZZ_API_RUNS
 * (default 600; each API case waits for its sockets to settle, ~80 ms). FUZZ_SEED fixes the seed (a failure prints the one it used):
 *   FUZZ_SEED=123 FUZZ_API_RUNS=5000 npx vitest run test/fuzz
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { batchBackendStatus, createBatchSocket } from '../../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const child = join(here, 'native-boundary.child.mjs');
const batch = batchBackendStatus().available;
const netns = process.getuid?.() === 0 && spawnSync('unshare', ['-n', 'ip', 'link', 'set', 'lo', 'up'], { timeout: 5000 }).status === 0;

function fuzz(mode: 'native' | 'api', runs: number, timeoutMs: number): Record<string, unknown> {
  const seed = process.env.FUZZ_SEED ?? String(Math.floor(Math.random() * 2 ** 31));
  const env = { ...process.env, FUZZ_MODE: mode, FUZZ_RUNS: String(runs), FUZZ_SEED: seed, FUZZ_NETNS: netns ? '1' : '0' };
  const argv = netns ? ['unshare', '-n', 'sh', '-c', 'ip link set lo up && exec "$0" "$@"', process.execPath, child] : [process.execPath, child];
  const r = spawnSync(argv[0], argv.slice(1), { env, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  const context = `fuzz ${mode}: seed ${seed}, ${runs} runs (reproduce: FUZZ_SEED=${seed}); exit ${r.status} signal ${r.signal}\n${r.stderr.slice(-6000)}`;
  expect(r.signal, context).toBe(null);
  expect(r.status, context).toBe(0);
  const out = JSON.parse(last) as Record<string, unknown>;
  console.log(`fuzz ${mode}: ${JSON.stringify(out)}`);
  return out;
}

describe('fuzzing the JS→native boundary (fast-check, child processes)', () => {
  it.runIf(batch)('raw native binding: random calls, types, sizes, offsets, counts, peers, rings, detached/shrunk buffers — never a crash, always a typed error or a well-formed result, no fd leak', () => {
    const runs = Number(process.env.FUZZ_NATIVE_RUNS ?? 9500);
    const out = fuzz('native', runs, 420_000);
    expect(out.cases).toBe(runs);
    expect(out.sent as number).toBeGreaterThan(0); // the live paths were reached
    expect(out.received as number).toBeGreaterThan(0);
    expect(out.fdsAfter).toBe(out.fdsBefore);
  }, 450_000);

  it('public API, both backends: random payloads, ports, addresses, overloads, peers, connect/flush/close in the middle — coded errors only, every callback once, accounting identity, receiver order per sender', () => {
    const runs = Number(process.env.FUZZ_API_RUNS ?? 600);
    const out = fuzz('api', runs, 420_000);
    expect(out.cases).toBe(runs);
    expect(out.callbacks as number).toBeGreaterThan(0);
    expect(out.received as number).toBeGreaterThan(0);
  }, 450_000);

  // A size of the wrong type is ERR_SOCKET_BAD_BUFFER_SIZE (node:dgram's code for a bad
  // size), never an uncoded TypeError from building the message (dgram's own check throws
  // one for a Symbol; both backends share options.ts validateBufferSize).
  it.runIf(batch)('[batch] setSendBufferSize(Symbol()) throws a coded error', () => {
    const s = createBatchSocket({ type: 'udp4', backend: 'batch' });
    try {
      let code: unknown;
      try {
        s.setSendBufferSize(Symbol('x') as unknown as number);
      } catch (e) {
        code = (e as { code?: unknown }).code;
      }
      expect(code).toBe('ERR_SOCKET_BAD_BUFFER_SIZE');
    } finally {
      s.close();
    }
  });

  it('[dgram] setSendBufferSize(Symbol()) throws a coded error', () => {
    const s = createBatchSocket({ type: 'udp4', backend: 'dgram' });
    s.bind(0, '127.0.0.1');
    let code: unknown;
    try {
      s.setSendBufferSize(Symbol('x') as unknown as number);
    } catch (e) {
      code = (e as { code?: unknown }).code;
    }
    s.close();
    expect(code).toBe('ERR_SOCKET_BAD_BUFFER_SIZE');
  });
});
