/**
 * node:dgram's argument, error and lifecycle behaviour (issue 11 items 2 and 3), on both
 * backends: each case runs the same sequence on a real dgram.Socket in the same test and
 * compares what matters to code written against dgram (error class, name, code; events and
 * their order; what arrives). Deliberate differences are listed in README "Differences from
 * node:dgram" and asserted as such here.
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

/** What code written against dgram looks at in an error: class, name, code, and how it prints. */
function outcome(f: () => unknown): Record<string, unknown> {
  try {
    f();
    return { ok: true };
  } catch (e) {
    const err = e as Error & { code?: string };
    const cls = err instanceof RangeError ? 'RangeError' : err instanceof TypeError ? 'TypeError' : 'Error';
    return { cls, name: err.name, code: err.code, printed: String(err).split(':')[0] };
  }
}

function receiver(): { sock: dgram.Socket; got: string[]; port: Promise<number> } {
  const sock = ref();
  const got: string[] = [];
  sock.on('message', (m) => got.push(m.toString()));
  const port = new Promise<number>((resolve) => sock.bind(0, '127.0.0.1', () => resolve(sock.address().port)));
  return { sock, got, port };
}

describe.each(backends)('%s backend against node:dgram', (backend) => {
  test('send(string, offset, length, port, address) sends that range of the UTF-8 bytes; a list is gathered into one datagram', async () => {
    const rx = receiver();
    const port = await rx.port;
    for (const s of [track(open(backend)), ref()] as AnySocket[]) {
      (s as BatchSocket).send('hello wörld', 6, 6, port, '127.0.0.1');
      (s as BatchSocket).send([Buffer.from('ab'), 'c', new Uint8Array([100])], port, '127.0.0.1');
    }
    expect(await until(() => rx.got.length === 4, 20_000)).toBe(true);
    expect(rx.got.sort()).toEqual(['abcd', 'abcd', 'wörld', 'wörld'].sort());
  });

  test('argument errors: same class, name, code and printed form as dgram', async () => {
    const ours = track(open(backend));
    const theirs = ref();
    await bindLocal(ours);
    await new Promise<void>((r) => theirs.bind(0, '127.0.0.1', () => r()));
    const cases: [string, (s: AnySocket) => unknown][] = [
      ['offset past the end', (s) => (s as BatchSocket).send(Buffer.from('abc'), 5, 1, 9, '127.0.0.1')],
      ['length past the end', (s) => (s as BatchSocket).send(Buffer.from('abc'), 1, 5, 9, '127.0.0.1')],
      ['negative offset', (s) => (s as BatchSocket).send(Buffer.from('abc'), -1, 1, 9, '127.0.0.1')],
      ['negative length', (s) => (s as BatchSocket).send(Buffer.from('abc'), 0, -1, 9, '127.0.0.1')],
      ['number payload', (s) => (s as BatchSocket).send(5 as never, 9, '127.0.0.1')],
      ['port 0', (s) => (s as BatchSocket).send('x', 0, '127.0.0.1')],
      ['port 70000', (s) => (s as BatchSocket).send('x', 70000, '127.0.0.1')],
      ['bind twice', (s) => s.bind(0)],
      ['disconnect unconnected', (s) => s.disconnect()],
      ['remoteAddress unconnected', (s) => s.remoteAddress()],
      ['connect port 0', (s) => s.connect(0, '127.0.0.1')],
    ];
    for (const [what, f] of cases) expect(outcome(() => f(ours)), what).toEqual(outcome(() => f(theirs)));
  });

  test('a DataView over a detached buffer is a coded error (node:dgram dies on it with an uncoded TypeError)', () => {
    const ours = track(open(backend));
    const ab = new ArrayBuffer(8);
    const view = new DataView(ab);
    structuredClone(ab, { transfer: [ab] });
    expect(outcome(() => ours.send(view, 9, '127.0.0.1'))).toMatchObject({ cls: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' });
    expect(ours.stats().enqueued).toBe(0);
  });

  test("connect() is asynchronous: until 'connect', remoteAddress()/disconnect() say ERR_SOCKET_DGRAM_NOT_CONNECTED and a second connect() ERR_SOCKET_DGRAM_IS_CONNECTED; send() without an address is refused as on an unconnected socket", async () => {
    const rx = receiver();
    const port = await rx.port;
    const run = async (s: AnySocket): Promise<unknown[]> => {
      const log: unknown[] = [];
      s.on('connect', () => log.push('connect event'));
      s.connect(port, '127.0.0.1', () => log.push('connect callback'));
      log.push(outcome(() => s.remoteAddress()).code, outcome(() => s.disconnect()).code, outcome(() => s.connect(port, '127.0.0.1')).code);
      log.push(outcome(() => (s as BatchSocket).send(Buffer.from('early'))).code); // not connected yet: no destination
      await new Promise<void>((r) => s.once('connect', () => setImmediate(r)));
      log.push(s.remoteAddress().port === port);
      (s as BatchSocket).send(Buffer.from('late'));
      return log;
    };
    const ours = await run(track(open(backend)));
    const theirs = await run(ref());
    expect(ours).toEqual(theirs);
    expect(ours).toEqual(['ERR_SOCKET_DGRAM_NOT_CONNECTED', 'ERR_SOCKET_DGRAM_NOT_CONNECTED', 'ERR_SOCKET_DGRAM_IS_CONNECTED', 'ERR_SOCKET_BAD_PORT', 'connect event', 'connect callback', true]);
    expect(await until(() => rx.got.length === 2, 20_000)).toBe(true);
    expect(rx.got).toEqual(['late', 'late']);
  });

  test('a failed bind reports one error, once, and its callback never fires on the next bind', async () => {
    const holder = ref();
    const taken = await new Promise<number>((r) => holder.bind(0, '127.0.0.1', () => r(holder.address().port)));
    const s = track(open(backend));
    const errors: string[] = [];
    s.on('error', (e) => errors.push((e as NodeJS.ErrnoException).code!));
    let first = 0;
    let second = 0;
    s.bind(taken, '127.0.0.1', () => first++);
    expect(await until(() => errors.length > 0, 20_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 50)); // a duplicate report would come within a tick or two
    expect(errors).toEqual(['EADDRINUSE']);
    await new Promise<void>((r) =>
      s.bind(0, '127.0.0.1', () => {
        second++;
        r();
      }),
    );
    await new Promise((r) => setImmediate(r));
    expect({ first, second }).toEqual({ first: 0, second: 1 });
    expect(errors).toEqual(['EADDRINUSE']);
  });

  test("no 'message' after close(), even with datagrams still queued in the kernel", async () => {
    const s = track(open(backend, { recvBufferSize: 1 << 20 }));
    const port = await bindLocal(s);
    let after = 0;
    let before = 0;
    s.on('message', () => {
      if ((s as unknown as { closed: boolean }).closed) after++;
      else if (++before === 3) s.close();
    });
    const tx = ref();
    for (let i = 0; i < 200; i++) tx.send(Buffer.from(`m${i}`), port, '127.0.0.1');
    expect(await until(() => (s as unknown as { closed: boolean }).closed, 20_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 100));
    expect(before).toBe(3);
    expect(after).toBe(0);
  });
});

// ---- Node 20 lib/dgram.js audit (issue 11 item 2): argument order, ports, listener, reuseAddr ----

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
