/**
 * Behaviour that needs a process of its own: the automatic dgram fallback (one warning
 * per process, none for the deliberate opt-out), and real EAGAIN through the public API — on plain loopback a UDP sender
 * never sees EAGAIN (loopback hands the skb's memory back before sendmsg returns), so
 * those tests run in a private network namespace whose lo has a rate-limiting tbf qdisc
 * that holds packets and lets a tiny SO_SNDBUF fill.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { batchAvailable } from './helpers.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const entry = join(root, 'dist', 'index.js');

function runChild(code: string, env: Record<string, string> = {}, wrap?: string[], from = entry): { status: number | null; stdout: string; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'dsn-child-'));
  const file = join(dir, 'child.mjs');
  writeFileSync(file, `import * as lib from ${JSON.stringify(from)};\n${code}`);
  const argv = wrap ? [...wrap, process.execPath, file] : [process.execPath, file];
  const r = spawnSync(argv[0], argv.slice(1), { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30_000 });
  rmSync(dir, { recursive: true, force: true });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The same child program for both fallback cases: two sockets, a forced 'batch', the status. */
const FALLBACK_CHILD = `
      const warnings = [];
      process.on('warning', (w) => warnings.push(w.code));
      const a = lib.createBatchSocket({ type: 'udp4' });
      const b = lib.createBatchSocket({ type: 'udp6' });
      let code = null;
      try { lib.createBatchSocket({ type: 'udp4', backend: 'batch' }); } catch (e) { code = e.code; }
      const status = lib.batchBackendStatus();
      a.close(); b.close();
      setTimeout(() => console.log(JSON.stringify({ backends: [a.backend, b.backend], warnings, code, status })), 20);
      `;

describe('automatic fallback to the dgram backend', () => {
  it('without an addon: dgram with exactly one DGRAM_SENDMMSG_FALLBACK warning per process that says why and what to run; asking for batch throws', () => {
    // A copy of the package with neither a build from source nor prebuilds: what a consumer on
    // a platform without a prebuild and without a compiler has.
    const pkg = mkdtempSync(join(tmpdir(), 'dsn-noaddon-'));
    try {
      cpSync(join(root, 'dist'), join(pkg, 'dist'), { recursive: true });
      cpSync(join(root, 'package.json'), join(pkg, 'package.json'));
      symlinkSync(join(root, 'node_modules'), join(pkg, 'node_modules'));
      // (the sanitizer pass points every process at its own build: not this one)
      const r = runChild(FALLBACK_CHILD, { DGRAM_SENDMMSG_NATIVE_PATH: '' }, undefined, join(pkg, 'dist', 'index.js'));
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.backends).toEqual(['dgram', 'dgram']);
      expect(out.warnings).toEqual(['DGRAM_SENDMMSG_FALLBACK']);
      expect(out.code).toBe('ERR_BACKEND_UNAVAILABLE');
      expect(out.status).toMatchObject({ available: false });
      expect(out.status.reason).toContain('has no prebuilt addons');
      expect(r.stderr).toContain('using the node:dgram backend');
      expect(r.stderr).toContain('npm rebuild dgram-sendmmsg-native');
      expect(r.stderr.match(/DGRAM_SENDMMSG_FALLBACK/g)).toHaveLength(1);
    } finally {
      rmSync(pkg, { recursive: true, force: true });
    }
  });

  it('the deliberate opt-out DGRAM_SENDMMSG_NATIVE=0: dgram, silently; asking for batch still throws', () => {
    const r = runChild(FALLBACK_CHILD, { DGRAM_SENDMMSG_NATIVE: '0' });
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.backends).toEqual(['dgram', 'dgram']);
    expect(out.warnings).toEqual([]);
    expect(out.code).toBe('ERR_BACKEND_UNAVAILABLE');
    expect(out.status.reason).toContain('DGRAM_SENDMMSG_NATIVE=0');
    expect(r.stderr).toBe('');
  });
});

const canShape =
  batchAvailable && process.getuid?.() === 0 && spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up && tc qdisc add dev lo root tbf rate 16mbit burst 16kb latency 2s'], { timeout: 5000 }).status === 0;
const shapedNetns = ['unshare', '-n', 'sh', '-c', 'ip link set lo up && tc qdisc add dev lo root tbf rate 16mbit burst 16kb latency 2s && exec "$0" "$@"'];

describe.skipIf(!canShape)('real EAGAIN through the public API (private netns, rate-limited lo; needs root, unshare, tc)', () => {
  it('a tiny SO_SNDBUF under a burst: EAGAIN waits for writability, nothing lost, nothing reordered', () => {
    const r = runChild(
      `
      const N = 1000;
      const rx = lib.createBatchSocket({ type: 'udp4', backend: 'batch', recvBufferSize: 4 << 20 });
      const tx = lib.createBatchSocket({ type: 'udp4', backend: 'batch', sendBufferSize: 1024, maxBatch: 64 });
      const seqs = [];
      rx.on('message', (m) => seqs.push(m.readUInt32BE(0)));
      const flushes = [];
      tx.on('flush', (f) => flushes.push(f));
      let callbacks = 0;
      rx.bind(0, '127.0.0.1', () => {
        const peer = tx.peer(rx.address().port, '127.0.0.1');
        const buf = Buffer.alloc(1000);
        for (let i = 0; i < N; i++) { buf.writeUInt32BE(i, 0); if (!peer.send(buf, () => callbacks++)) throw new Error('dropped'); }
        tx.flush();
        const deadline = Date.now() + 15000;
        const check = () => {
          if ((seqs.length >= N && callbacks >= N) || Date.now() > deadline) {
            const st = tx.stats();
            console.log(JSON.stringify({ seqs, st, callbacks, retries: flushes.filter((f) => f.action === 'retry').length, codes: [...new Set(flushes.map((f) => f.code))] }));
            rx.close(); tx.close();
          } else setTimeout(check, 20);
        };
        check();
      });
      `,
      {},
      shapedNetns,
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.seqs).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(out.callbacks).toBe(1000);
    expect(out.st.sent).toBe(1000);
    expect(out.st.eagain).toBeGreaterThan(0);
    expect(out.retries).toBe(out.st.eagain);
    expect(out.codes.every((c: string | null) => c === null || c === 'EAGAIN')).toBe(true);
    expect(out.st.enqueued).toBe(out.st.sent + out.st.failed + out.st.dropped + out.st.queued);
  });

  it('close() while a flush waits for writability: the kernel-taken prefix arrives in order, the rest is dropped as closed, every callback runs once', () => {
    const r = runChild(
      `
      const N = 600;
      const rx = lib.createBatchSocket({ type: 'udp4', backend: 'batch', recvBufferSize: 4 << 20 });
      const tx = lib.createBatchSocket({ type: 'udp4', backend: 'batch', sendBufferSize: 1024, maxBatch: 1024 });
      const seqs = [];
      rx.on('message', (m) => seqs.push(m.readUInt32BE(0)));
      const outcomes = new Array(N).fill(0);
      const codes = {};
      rx.bind(0, '127.0.0.1', () => {
        const port = rx.address().port;
        const buf = Buffer.alloc(1000);
        for (let i = 0; i < N; i++) {
          buf.writeUInt32BE(i, 0);
          tx.send(buf, port, '127.0.0.1', (err) => { outcomes[i]++; const c = err ? err.code : 'ok'; codes[c] = (codes[c] || 0) + 1; });
        }
        tx.flush();
        const blocked = tx.stats().eagain > 0 && tx.stats().queued > 0;
        tx.close();
        const st = tx.stats();
        setTimeout(() => {
          console.log(JSON.stringify({ blocked, seqs, st, outcomes, codes }));
          rx.close();
        }, 3000);
      });
      `,
      {},
      shapedNetns,
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.blocked).toBe(true);
    expect(out.outcomes.every((n: number) => n === 1)).toBe(true);
    expect(out.st.sent + out.st.drops.closed).toBe(600);
    expect(out.st.drops.closed).toBeGreaterThan(0);
    expect(out.codes).toEqual({ ok: out.st.sent, ERR_SOCKET_CLOSED: out.st.drops.closed });
    // What the kernel took arrives, in order; nothing else does.
    expect(out.seqs).toEqual(Array.from({ length: out.st.sent }, (_, i) => i));
    expect(out.st.queued).toBe(0);
    expect(out.st.enqueued).toBe(out.st.sent + out.st.failed + out.st.dropped + out.st.queued);
  });
});
