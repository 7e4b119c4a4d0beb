/**
 * What an audit of every dgram.Socket path against Node 20's lib/dgram.js found (issue 11
 * item 2): the order in which arguments are checked (a closed socket is reported after
 * them), Node's own port validation and messages, `createSocket(type, listener)` and the
 * `reuseAddr` option. Each case runs on a real dgram.Socket beside both backends; what
 * still differs on purpose is in README "Differences from node:dgram".
 */
import dgram from 'node:dgram';
import { afterEach, describe, expect, test } from 'vitest';
import { createBatchSocket, type BatchSocket } from '../../src/index.js';
import { backends, bindLocal, closeAll, open, until } from './helpers.js';

const sockets: BatchSocket[] = [];
const refs: dgram.Socket[] = [];
const track = <T extends BatchSocket>(s: T): T => (sockets.push(s), s);
const ref = (opts: dgram.SocketOptions | 'udp4' = 'udp4'): dgram.Socket => {
  const s = dgram.createSocket(opts as dgram.SocketOptions);
  refs.push(s);
  return s;
};
afterEach(async () => {
  await closeAll(...sockets.splice(0).filter((s) => !(s as unknown as { closed: boolean }).closed));
  for (const s of refs.splice(0)) {
    try {
      s.close();
    } catch {
      // already closed
    }
  }
});

type AnySocket = BatchSocket | dgram.Socket;

/** What code written against dgram sees of a thrown error: class, code and message. */
function thrown(f: () => unknown): { cls: string; code?: string; message: string } | 'ok' {
  try {
    f();
    return 'ok';
  } catch (e) {
    const err = e as Error & { code?: string };
    const cls = err instanceof RangeError ? 'RangeError' : err instanceof TypeError ? 'TypeError' : 'Error';
    return { cls, code: err.code, message: err.message };
  }
}

describe.each(backends)('%s backend: Node 20 lib/dgram.js audit', (backend) => {
  test('bad ports are ERR_SOCKET_BAD_PORT with Node\'s own message; blank, fractional, negative and too large are refused, numeric strings are not', () => {
    const mine = track(open(backend));
    const theirs = ref();
    for (const port of [1.5, -1, 70000, 0, '', ' ', 'abc', NaN, true, {}, 2 ** 32]) {
      const a = thrown(() => mine.send('x', port as number, '127.0.0.1'));
      const b = thrown(() => theirs.send('x', port as number, '127.0.0.1'));
      expect(a, `port ${String(port)}`).toEqual(b);
      expect(a).toMatchObject({ cls: 'RangeError', code: 'ERR_SOCKET_BAD_PORT' });
    }
    expect(thrown(() => mine.connect(0))).toEqual(thrown(() => theirs.connect(0)));
  });

  test('numeric strings are ports, as in dgram (" 1234 ", "0x4d2")', async () => {
    const rx = track(open(backend));
    const port = await bindLocal(rx);
    const got: string[] = [];
    rx.on('message', (m) => got.push(m.toString()));
    const tx = track(open(backend));
    tx.send('spaced', ` ${port} ` as unknown as number, '127.0.0.1');
    tx.send('hex', `0x${port.toString(16)}` as unknown as number, '127.0.0.1');
    expect(await until(() => got.length === 2, 10_000)).toBe(true);
    expect(got.sort()).toEqual(['hex', 'spaced']);
  });

  test('a closed socket is reported after the arguments, as dgram: bad arguments first, then ERR_SOCKET_DGRAM_NOT_RUNNING', () => {
    const mine = track(open(backend));
    const theirs = ref();
    mine.close();
    theirs.close();
    const cases: [string, (s: AnySocket) => unknown][] = [
      ['send: bad port', (s) => (s as BatchSocket).send('x', 70000, '127.0.0.1')],
      ['send: bad payload', (s) => (s as BatchSocket).send(42 as unknown as string, 1234, '127.0.0.1')],
      ['send: address not a string', (s) => (s as BatchSocket).send('x', 1234, 5 as unknown as string)],
      ['send: valid', (s) => (s as BatchSocket).send('x', 1234, '127.0.0.1')],
      ['setTTL: not a number', (s) => s.setTTL('5' as unknown as number)],
      ['setMulticastTTL: not a number', (s) => s.setMulticastTTL('5' as unknown as number)],
    ];
    for (const [name, f] of cases) {
      const a = thrown(() => f(mine));
      const b = thrown(() => f(theirs));
      expect({ name, cls: a === 'ok' ? 'ok' : a.cls, code: a === 'ok' ? 'ok' : a.code }).toEqual({ name, cls: b === 'ok' ? 'ok' : b.cls, code: b === 'ok' ? 'ok' : b.code });
    }
  });

  test('connect(): port, then the address type, then "already connected" — dgram\'s order', async () => {
    const rx = track(open(backend));
    const port = await bindLocal(rx);
    const mine = track(open(backend));
    const theirs = ref();
    for (const s of [mine, theirs] as AnySocket[]) {
      await new Promise<void>((r) => s.connect(port, '127.0.0.1', () => r()));
    }
    const cases: [string, (s: AnySocket) => unknown][] = [
      ['bad port', (s) => s.connect(0, '127.0.0.1')],
      ['address not a string', (s) => s.connect(port, 5 as unknown as string)],
      ['already connected', (s) => s.connect(port, '127.0.0.1')],
    ];
    for (const [name, f] of cases) {
      const a = thrown(() => f(mine));
      const b = thrown(() => f(theirs));
      expect({ name, a: a === 'ok' ? a : a.code }).toEqual({ name, a: b === 'ok' ? b : b.code });
    }
  });

  test("createBatchSocket(type, listener) adds a 'message' listener, as dgram.createSocket(type, listener)", async () => {
    const got: string[] = [];
    const rx = track(createBatchSocket({ type: 'udp4', backend }, (m) => got.push(m.toString())));
    const port = await bindLocal(rx);
    const tx = track(open(backend));
    tx.send('to the listener', port, '127.0.0.1');
    expect(await until(() => got.length === 1, 10_000)).toBe(true);
    expect(got).toEqual(['to the listener']);
    // dgram ignores a listener that is not a function; here it is an error.
    expect(thrown(() => createBatchSocket({ type: 'udp4', backend }, 'nope' as unknown as () => void))).toMatchObject({ cls: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
  });

  test('reuseAddr: sockets that all set it share one address and port (SO_REUSEADDR), as with dgram; without it the second bind is EADDRINUSE', async () => {
    const bindError = (s: AnySocket, port: number): Promise<string | undefined> =>
      new Promise((resolve) => {
        s.once('error', (e: Error & { code?: string }) => resolve(e.code));
        s.bind(port, '127.0.0.1', () => resolve(undefined));
      });
    const first = track(open(backend, { reuseAddr: true }));
    const port = await bindLocal(first);
    // One of ours and one of dgram's, both with reuseAddr, on the same port.
    expect(await bindError(track(open(backend, { reuseAddr: true })), port)).toBeUndefined();
    expect(await bindError(ref({ type: 'udp4', reuseAddr: true }), port)).toBeUndefined();
    // Without it: refused, by the kernel, as dgram's is.
    expect(await bindError(track(open(backend)), port)).toBe('EADDRINUSE');
    expect(await bindError(ref('udp4'), port)).toBe('EADDRINUSE');
    expect(thrown(() => open(backend, { reuseAddr: 'yes' as unknown as boolean }))).toMatchObject({ cls: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
  });
});
