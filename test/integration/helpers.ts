/** Helpers for integration tests on loopback. Every wait is bounded. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { batchBackendStatus, createBatchSocket, type BatchSocket, type BatchSocketOptions, type BackendName } from '../../src/index.js';

export const batchAvailable = batchBackendStatus().available;
/** Backends to run a suite against: always dgram, batch where the addon loads (CI requires it). */
export const backends: BackendName[] = batchAvailable ? ['batch', 'dgram'] : ['dgram'];

export function open(backend: BackendName, opts: Partial<BatchSocketOptions> = {}): BatchSocket {
  return createBatchSocket({ type: 'udp4', backend, ...opts });
}

/** Binds to `address`:0 and resolves with the port. */
export function bindLocal(sock: BatchSocket, address = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, address, () => {
      sock.off('error', reject);
      resolve(sock.address().port);
    });
  });
}

/** Collects sequence numbers (u32 BE at offset 0) of datagrams until `n` arrived or `timeoutMs` passed. */
export function collect(sock: BatchSocket, n: number, timeoutMs: number): { seqs: number[]; done: Promise<number[]> } {
  const seqs: number[] = [];
  const done = new Promise<number[]>((resolve) => {
    const timer = setTimeout(() => {
      sock.off('message', onMessage);
      resolve(seqs);
    }, timeoutMs);
    const onMessage = (msg: Buffer): void => {
      seqs.push(msg.readUInt32BE(0));
      if (seqs.length >= n) {
        clearTimeout(timer);
        sock.off('message', onMessage);
        resolve(seqs);
      }
    };
    sock.on('message', onMessage);
  });
  return { seqs, done };
}

export function until(pred: () => boolean, timeoutMs: number, stepMs = 2): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  return new Promise((resolve) => {
    const check = (): void => {
      if (pred()) resolve(true);
      else if (Date.now() > end) resolve(false);
      else setTimeout(check, stepMs);
    };
    check();
  });
}

export function closeAll(...socks: BatchSocket[]): Promise<void[]> {
  return Promise.all(
    socks.map(
      (s) =>
        new Promise<void>((resolve) => {
          try {
            s.close(() => resolve());
          } catch {
            resolve(); // already closed
          }
        }),
    ),
  );
}

export function expectIdentity(s: BatchSocket): void {
  const st = s.stats();
  if (st.enqueued !== st.sent + st.failed + st.dropped + st.queued) {
    throw new Error(`accounting identity broken: ${JSON.stringify(st)}`);
  }
}

export const seqDatagram = (i: number, size = 64): Buffer => {
  const b = Buffer.alloc(size, i & 255);
  b.writeUInt32BE(i, 0);
  return b;
};

/** True when `seqs` is exactly 0..n-1 in order. */
export function inOrder(seqs: number[], n: number): boolean {
  if (seqs.length !== n) return false;
  for (let i = 0; i < n; i++) if (seqs[i] !== i) return false;
  return true;
}

const hasCommand = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
/** Private network namespaces can be made here (root, unshare, ip, tc). */
export const canNetns =
  process.getuid?.() === 0 &&
  hasCommand('unshare') &&
  hasCommand('ip') &&
  hasCommand('tc') &&
  spawnSync('unshare', ['-n', 'ip', 'link', 'set', 'lo', 'up'], { timeout: 5000 }).status === 0;

const distEntry = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'index.js');

/**
 * Runs `code` (an ES module body; the built library is imported as `lib`, `BACKEND` is
 * `backend`) in a child process of its own — inside a fresh network namespace when
 * `netns` (shell commands run in it first, e.g. `ip link set lo up`) is given — and
 * returns the JSON the child wrote as its last line of stdout. Throws with the child's
 * stderr when it fails, times out or writes to stderr.
 */
export function runChild<T = Record<string, unknown>>(
  backend: BackendName,
  code: string,
  opts: { netns?: string; timeoutMs?: number } = {},
): T {
  const dir = mkdtempSync(join(tmpdir(), 'dsn-child-'));
  const file = join(dir, 'child.mjs');
  writeFileSync(file, `import * as lib from ${JSON.stringify(distEntry)};\nconst BACKEND = ${JSON.stringify(backend)};\n${code}`);
  const argv = opts.netns ? ['unshare', '-n', 'sh', '-c', `${opts.netns} && exec "$0" "$@"`, process.execPath, file] : [process.execPath, file];
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: opts.timeoutMs ?? 20_000 });
  rmSync(dir, { recursive: true, force: true });
  if (r.status !== 0 || r.error || r.stderr !== '') {
    throw new Error(`child failed (status ${r.status}, signal ${r.signal}, ${r.error?.message ?? ''}):\n${r.stderr}\n${r.stdout}`);
  }
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as T;
}
