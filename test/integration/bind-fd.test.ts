/**
 * bind({ fd }) with an inherited socket (issue 11 item 1): the batch backend adopts an
 * AF_INET/AF_INET6 SOCK_DGRAM socket passed by a parent process (spawn stdio) — one made by
 * node:dgram and one made by a non-Node parent (Python) — receives and sends on it, and
 * closes it on close(), as node:dgram does. What is not a UDP socket of the right family
 * is refused with dgram's codes, synchronously, leaving the fd open (it is not ours) and
 * the socket usable.
 */
import { spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { closeSync, fstatSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, batchAvailable, closeAll, open } from './helpers.js';

const distEntry = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'index.js');
const N = 200;

/** The fd of a node:dgram socket (its UDP handle's), read without the deprecated `_handle`. */
function fdOf(sock: dgram.Socket | net.Server): number {
  if (sock instanceof net.Server) return (sock as unknown as { _handle: { fd: number } })._handle.fd;
  const state = Object.getOwnPropertySymbols(sock).find((s) => s.description === 'state symbol')!;
  return (sock as unknown as Record<symbol, { handle: { fd: number } }>)[state].handle.fd;
}

/**
 * The child: adopts fd 3 with the given backend, reports its address, echoes N datagrams
 * back to their sender, then closes and checks that fd 3 is closed with the socket.
 */
const child = `
import * as lib from ${JSON.stringify(distEntry)};
import { fstatSync } from 'node:fs';
const { BACKEND, TYPE, N } = process.env;
const sock = lib.createBatchSocket({ type: TYPE, backend: BACKEND, recvBufferSize: 1 << 20 });
let got = 0;
sock.on('message', (m, r) => { got++; sock.send(m, r.port, r.address); if (got === Number(N)) finish(); });
sock.bind({ fd: 3 }, () => {
  const a = sock.address();
  process.stdout.write(JSON.stringify({ ready: true, address: a.address, port: a.port, family: a.family, gso: sock.stats().gso }) + '\\n');
});
function finish() {
  sock.once('idle', () => {
    const st = sock.stats();
    sock.close(() => {
      let fd3Open = true;
      try { fstatSync(3); } catch { fd3Open = false; }
      process.stdout.write(JSON.stringify({ done: true, got, sent: st.sent, enqueued: st.enqueued, failed: st.failed, received: st.received, fd3Open }) + '\\n');
    });
  });
}
setTimeout(() => { process.stderr.write('child: timed out with ' + got + ' datagrams\\n'); process.exit(3); }, 30000).unref();
`;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'dsn-bindfd-'));
  writeFileSync(join(dir, 'child.mjs'), child);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface ChildRun {
  ready: { address: string; port: number; family: string; gso: boolean };
  done: { got: number; sent: number; enqueued: number; failed: number; received: number; fd3Open: boolean };
  echoed: number[];
}

/** Spawns `argv` (which must hand our fd to the child as its fd 3), echoes N datagrams through it. */
async function echoThroughChild(argv: string[], stdio3: number | 'ignore', backend: string, type: 'udp4' | 'udp6', afterSpawn?: () => void): Promise<ChildRun> {
  const proc = spawn(argv[0], argv.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe', stdio3],
    env: { ...process.env, BACKEND: backend, TYPE: type, N: String(N), CHILD: join(dir, 'child.mjs') },
  });
  afterSpawn?.();
  const client = dgram.createSocket({ type, recvBufferSize: 1 << 20 });
  const echoed: number[] = [];
  client.on('message', (m) => echoed.push(m.readUInt32BE(0)));
  await new Promise<void>((r) => client.bind(0, type === 'udp4' ? '127.0.0.1' : '::1', r));
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  const lines: Record<string, unknown>[] = [];
  let onLine: () => void = () => {};
  proc.stdout!.on('data', (d) => {
    out += d;
    let i;
    while ((i = out.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(out.slice(0, i)));
      out = out.slice(i + 1);
      onLine();
    }
  });
  const exited = new Promise<number | null>((r) => proc.on('close', (code) => r(code)));
  const line = (key: string): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const l = lines.find((x) => x[key]);
        if (l) resolve(l);
      };
      onLine = check;
      check();
      void exited.then((code) => reject(new Error(`child exited (${code}) before '${key}':\n${err}`)));
    });
  try {
    const ready = (await line('ready')) as unknown as ChildRun['ready'];
    for (let i = 0; i < N; i++) {
      const b = Buffer.alloc(100);
      b.writeUInt32BE(i, 0);
      client.send(b, ready.port, type === 'udp4' ? '127.0.0.1' : '::1');
    }
    const done = (await line('done')) as unknown as ChildRun['done'];
    expect(await exited).toBe(0);
    expect(err).toBe('');
    return { ready, done, echoed };
  } finally {
    client.close();
    if (proc.exitCode === null) proc.kill('SIGKILL');
  }
}

describe('bind({ fd }): a socket inherited from the parent process', () => {
  it.each(backends)('[%s] a bound node:dgram socket passed as fd 3: the child receives on its port, replies from it, and closes it', { timeout: 60_000 }, async (backend) => {
    const parent = dgram.createSocket('udp4');
    await new Promise<void>((r) => parent.bind(0, '127.0.0.1', r));
    const port = parent.address().port;
    const fd = fdOf(parent);
    // The parent closes its copy once the child has one, so only the child reads the socket.
    const run = await echoThroughChild([process.execPath, join(dir, 'child.mjs')], fd, backend, 'udp4', () => parent.close());
    expect(run.ready).toMatchObject({ address: '127.0.0.1', port, family: 'IPv4' });
    if (backend === 'batch') expect(run.ready.gso, 'GSO set up on the adopted fd').toBe(open('batch').stats().gso);
    expect(run.done).toMatchObject({ got: N, received: N, sent: N, enqueued: N, failed: 0, fd3Open: false });
    expect(run.echoed.sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i));
  });

  const hasPython = spawnSync('python3', ['-c', 'import socket'], { timeout: 10_000 }).status === 0;
  it.runIf(hasPython && batchAvailable)('[batch] a udp6 socket made and bound by a Python parent (pass_fds) is adopted the same way', { timeout: 60_000 }, async () => {
    // The Python parent binds [::1]:0 and runs the child with that socket as its fd 3.
    const py = `
import os, socket, subprocess, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(('::1', 0))
os.dup2(s.fileno(), 3) if s.fileno() != 3 else None
s.close() if s.fileno() != 3 else None
sys.exit(subprocess.run([sys.argv[1], os.environ['CHILD']], pass_fds=[3]).returncode)
`;
    const run = await echoThroughChild(['python3', '-c', py, process.execPath], 'ignore', 'batch', 'udp6');
    expect(run.ready.family).toBe('IPv6');
    expect(run.ready.address).toBe('::1');
    expect(run.done).toMatchObject({ got: N, received: N, sent: N, failed: 0, fd3Open: false });
    expect(run.echoed.length).toBe(N);
  });
});

describe('bind({ fd }): what is refused, as node:dgram refuses it', () => {
  /** Runs `f` on a fresh socket of each kind and returns the error's shape (or 'ok'). */
  function refusal(kind: 'batch' | 'dgram' | 'node:dgram', fd: number, type: 'udp4' | 'udp6' = 'udp4'): { name: string; code: string; message: string } | 'ok' {
    const sock = kind === 'node:dgram' ? dgram.createSocket(type) : open(kind, { type });
    try {
      sock.bind({ fd });
      return 'ok';
    } catch (e) {
      const err = e as Error & { code: string };
      return { name: err.name, code: err.code, message: err.message };
    } finally {
      // node:dgram stays in its binding state after the throw; close works either way.
      sock.close();
    }
  }

  it.each(backends)('[%s] a TCP socket, a file and an fd that is not open: ERR_INVALID_FD_TYPE (TypeError) as node:dgram, the fd left open', async (backend) => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const file = openSync(fileURLToPath(import.meta.url), 'r');
    try {
      for (const [fd, type] of [[fdOf(server), 'TCP'], [file, 'FILE'], [100_000, 'UNKNOWN']] as const) {
        const mine = refusal(backend, fd);
        expect(mine).toEqual({ name: 'TypeError', code: 'ERR_INVALID_FD_TYPE', message: `Unsupported fd type: ${type}` });
        expect(mine).toEqual(refusal('node:dgram', fd));
      }
      expect(() => fstatSync(file)).not.toThrow();
      expect(() => fstatSync(fdOf(server))).not.toThrow();
    } finally {
      closeSync(file);
      server.close();
    }
  });

  it.runIf(batchAvailable)("[batch] a live node:dgram socket's fd in this process: `open EEXIST` (one libuv watcher per fd); nothing closed, both sockets keep working", async () => {
    const owner = dgram.createSocket('udp4');
    await new Promise<void>((r) => owner.bind(0, '127.0.0.1', r));
    const sock = open('batch');
    try {
      let err: (Error & { code?: string; syscall?: string }) | undefined;
      try {
        sock.bind({ fd: fdOf(owner) }, () => {
          throw new Error('listening after a failed adopt');
        });
      } catch (e) {
        err = e as Error;
      }
      expect(err).toMatchObject({ code: 'EEXIST', syscall: 'open' });
      // The owner still has its socket; ours binds normally afterwards (the callback of the
      // failed bind does not fire on this one).
      const got = new Promise<string>((r) => owner.once('message', (m) => r(m.toString())));
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
      sock.send('still open', owner.address().port, '127.0.0.1');
      expect(await got).toBe('still open');
    } finally {
      owner.close();
      await closeAll(sock);
    }
  });

  it.runIf(batchAvailable)('[batch] a UDP socket of the other family: ERR_INVALID_ARG_VALUE, the fd left open; then the right family is adopted', async () => {
    const v6 = dgram.createSocket('udp6');
    const v4 = dgram.createSocket('udp4');
    await new Promise<void>((r) => v6.bind(0, '::1', r));
    await new Promise<void>((r) => v4.bind(0, '127.0.0.1', r));
    try {
      const mine = refusal('batch', fdOf(v6), 'udp4');
      expect(mine).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' });
      expect((mine as { message: string }).message).toContain('IPv6');
      expect(refusal('batch', fdOf(v4), 'udp6')).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
      expect(() => fstatSync(fdOf(v6))).not.toThrow();
    } finally {
      v6.close();
      v4.close();
    }
  });

  it.each(backends)('[%s] bind({ fd }) validates before anything: a non-number fd is ERR_INVALID_ARG_TYPE, a non-int32 or negative one ERR_OUT_OF_RANGE (dgram would ignore both and bind a port); bound sockets ERR_SOCKET_ALREADY_BOUND', async (backend) => {
    const sock = open(backend);
    try {
      for (const fd of [-1, 1.5, 2 ** 31, NaN]) {
        expect(() => sock.bind({ fd })).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' }));
      }
      for (const fd of ['3', {}, true]) {
        expect(() => sock.bind({ fd: fd as unknown as number })).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }));
      }
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
      expect(() => sock.bind({ fd: 3 })).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_ALREADY_BOUND' }));
    } finally {
      await closeAll(sock);
    }
  });
});
