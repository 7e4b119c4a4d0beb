/**
 * The public socket API over real sockets on loopback, for each backend. Every scenario
 * ends by checking the accounting identity.
 */
import { afterEach, describe, expect, test } from 'vitest';
import type { BatchSocket, FlushEvent, RecvBatch } from '../../src/index.js';
import { createBatchSocket } from '../../src/index.js';
import { backends, bindLocal, closeAll, collect, expectIdentity, inOrder, open, seqDatagram, until } from './helpers.js';

const sockets: BatchSocket[] = [];
function track<T extends BatchSocket>(s: T): T {
  sockets.push(s);
  return s;
}
afterEach(async () => {
  await closeAll(...sockets.splice(0).filter((s) => !(s as unknown as { closed: boolean }).closed));
});

describe.each(backends)('%s backend', (backend) => {
  test('100k sequenced datagrams arrive once and in order', async () => {
    const rx = track(open(backend, { recvBufferSize: 8 << 20 }));
    const tx = track(open(backend));
    const port = await bindLocal(rx);
    const N = 100_000;
    const got = collect(rx, N, 150_000);
    // Paced in bursts the receiver can absorb (at most 3000 x ~1 KiB truesize outstanding in
    // its 16 MiB buffer), so loopback itself drops nothing however slow the machine is: the
    // next burst waits for the receiver, it never runs ahead on a timeout.
    for (let i = 0; i < N; ) {
      const end = Math.min(N, i + 2000);
      for (; i < end; i++) expect(tx.send(seqDatagram(i), port, '127.0.0.1')).toBe(true);
      tx.flush();
      const target = i;
      expect(await until(() => got.seqs.length >= target - 1000, 60_000, 1)).toBe(true);
    }
    const seqs = await got.done;
    expect(seqs.length).toBe(N);
    expect(inOrder(seqs, N)).toBe(true);
    await until(() => tx.stats().queued === 0, 2000);
    const st = tx.stats();
    expect(st.sent).toBe(N);
    expect(st.failed).toBe(0);
    expectIdentity(tx);
    if (backend === 'batch') expect(st.syscalls).toBeLessThan(N / 10);
  }, 180_000);

  test("'idle' fires when every datagram enqueued so far has left", async () => {
    const rx = track(open(backend, { recvBufferSize: 4 << 20 }));
    const tx = track(open(backend, { windowUs: 5000 }));
    const port = await bindLocal(rx);
    const idle = new Promise<number>((resolve) => tx.once('idle', () => resolve(tx.stats().queued)));
    for (let i = 0; i < 500; i++) tx.send(seqDatagram(i), port, '127.0.0.1');
    const queuedAtIdle = await Promise.race([idle, new Promise<number>((r) => setTimeout(() => r(-1), 3000))]);
    expect(queuedAtIdle).toBe(0);
    expect(tx.stats().sent).toBe(500);
    expectIdentity(tx);
  });

  test("a listener added right after flush() or inside a send callback still gets that flush's 'flush'/'idle'", async () => {
    const rx = track(open(backend, { recvBufferSize: 4 << 20 }));
    const tx = track(open(backend, { windowUs: 5000 }));
    const port = await bindLocal(rx);
    const timeout = <T,>(p: Promise<T>): Promise<T | 'timeout'> => Promise.race([p, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 3000))]);
    // No listener when flush() runs; one added on the next line.
    tx.send(seqDatagram(0), port, '127.0.0.1');
    tx.flush();
    const flushed = timeout(new Promise<string>((r) => tx.once('flush', (e: FlushEvent) => r(e.reason))));
    const idle1 = timeout(new Promise<string>((r) => tx.once('idle', () => r('idle'))));
    if (backend === 'batch') expect(await flushed).toBe('flush');
    expect(await idle1).toBe('idle');
    // The window flushes (the event loop starts it); the listener comes from the send callback.
    const idle2 = timeout(
      new Promise<string>((r) => {
        tx.send(seqDatagram(1), port, '127.0.0.1', () => tx.once('idle', () => r('idle')));
      }),
    );
    expect(await idle2).toBe('idle');
    expectIdentity(tx);
  });

  test('udp6 on ::1: send, receive, sender address', async () => {
    const rx = track(createBatchSocket({ type: 'udp6', backend }));
    const tx = track(createBatchSocket({ type: 'udp6', backend }));
    const port = await bindLocal(rx, '::1');
    await bindLocal(tx, '::1');
    const got: { seq: number; address: string; family: string; port: number }[] = [];
    rx.on('message', (m: Buffer, r) => got.push({ seq: m.readUInt32BE(0), address: r.address, family: r.family, port: r.port }));
    for (let i = 0; i < 100; i++) tx.send(seqDatagram(i), port, '::1');
    tx.flush();
    expect(await until(() => got.length === 100, 3000)).toBe(true);
    expect(got.map((g) => g.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(got[0]).toMatchObject({ address: '::1', family: 'IPv6', port: tx.address().port });
    expectIdentity(tx);
  });

  test('IPv4 destination from a dual-stack udp6 socket', async () => {
    const rx = track(open(backend));
    const tx = track(createBatchSocket({ type: 'udp6', backend }));
    const port = await bindLocal(rx);
    const got = collect(rx, 10, 3000);
    for (let i = 0; i < 10; i++) tx.send(seqDatagram(i), port, '127.0.0.1');
    tx.flush();
    expect(inOrder(await got.done, 10)).toBe(true);
  });

  test('the caller may reuse its buffer as soon as send() returns', async () => {
    const rx = track(open(backend));
    const tx = track(open(backend));
    const port = await bindLocal(rx);
    const got = collect(rx, 50, 3000);
    const buf = Buffer.alloc(32);
    for (let i = 0; i < 50; i++) {
      buf.fill(0xee);
      buf.writeUInt32BE(i, 0);
      tx.send(buf, port, '127.0.0.1');
    }
    buf.fill(0); // scribble after the last send
    tx.flush();
    expect(inOrder(await got.done, 50)).toBe(true);
  });

  test('dgram payload forms: string, Uint8Array, DataView, array of buffers, offset/length', async () => {
    const rx = track(open(backend));
    const tx = track(open(backend));
    const port = await bindLocal(rx);
    const got: string[] = [];
    rx.on('message', (m: Buffer) => got.push(m.toString()));
    tx.send('one', port, '127.0.0.1');
    tx.send(new TextEncoder().encode('two'), port, '127.0.0.1');
    const src = Buffer.from('xthreex');
    tx.send(new DataView(src.buffer, src.byteOffset + 1, 5), port, '127.0.0.1');
    tx.send([Buffer.from('fo'), 'ur'], port, '127.0.0.1');
    tx.send(Buffer.from('..five..'), 2, 4, port, '127.0.0.1');
    tx.flush();
    expect(await until(() => got.length === 5, 3000)).toBe(true);
    expect(got).toEqual(['one', 'two', 'three', 'four', 'five']);
  });

  test('send callbacks: (null, bytes) once each, after send() returned', async () => {
    const rx = track(open(backend));
    const tx = track(open(backend));
    const port = await bindLocal(rx);
    const calls: [Error | null, number | undefined][] = [];
    let returned = false;
    tx.send(Buffer.alloc(100), port, '127.0.0.1', (err, bytes) => {
      expect(returned).toBe(true);
      calls.push([err, bytes]);
    });
    returned = true;
    tx.flush();
    expect(await until(() => calls.length === 1, 3000)).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    expect(calls).toEqual([[null, 100]]);
  });

  test('connect(): send without address, remoteAddress(), ECONNREFUSED fails only the affected datagram', async () => {
    const rx = track(open(backend));
    const port = await bindLocal(rx);
    const tx = track(open(backend));
    await new Promise<void>((resolve, reject) => tx.connect(port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
    expect(tx.remoteAddress()).toMatchObject({ address: '127.0.0.1', port });
    const got = collect(rx, 3, 3000);
    for (let i = 0; i < 3; i++) tx.send(seqDatagram(i));
    tx.flush();
    expect(inOrder(await got.done, 3)).toBe(true);
    expect(() => tx.send(Buffer.from('x'), port, '127.0.0.1')).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_DGRAM_IS_CONNECTED' }));

    // The peer goes away: the kernel answers with ICMP port unreachable.
    await closeAll(rx);
    const results: (string | null)[] = [];
    const errors: NodeJS.ErrnoException[] = [];
    tx.on('error', (e) => errors.push(e as NodeJS.ErrnoException));
    for (let i = 0; i < 6; i++) {
      tx.send(seqDatagram(i), (err) => results.push(err ? (err as NodeJS.ErrnoException).code! : null));
      tx.flush();
      await new Promise((r) => setTimeout(r, 15));
    }
    expect(await until(() => results.length === 6, 3000)).toBe(true);
    // The refusal surfaces once per ICMP, either on a later send (that datagram fails) or on the receive path.
    const refusedOnSend = results.filter((r) => r === 'ECONNREFUSED').length;
    const refusedOnRecv = errors.filter((e) => e.code === 'ECONNREFUSED').length;
    expect(refusedOnSend + refusedOnRecv).toBeGreaterThan(0);
    expect(results.every((r) => r === null || r === 'ECONNREFUSED')).toBe(true);
    const st = tx.stats();
    expect(st.failed).toBe(refusedOnSend);
    expect(st.sent).toBe(3 + results.filter((r) => r === null).length);
    expectIdentity(tx);
  });

  test('batch handler and for-await iteration see the datagrams with sender addresses', async () => {
    const rx = track(open(backend));
    const tx = track(open(backend));
    const port = await bindLocal(rx);
    const txPort = await bindLocal(tx);
    const viaBatch: number[] = [];
    rx.on('batch', (b: RecvBatch) => {
      for (let i = 0; i < b.count; i++) {
        viaBatch.push(b.datagram(i).readUInt32BE(0));
        expect(b.remote(i)).toMatchObject({ address: '127.0.0.1', port: txPort, size: b.length(i) });
        expect(b.bytes[b.offset(i)]).toBe(b.datagram(i)[0]);
      }
    });
    const viaIter: number[] = [];
    const consumer = (async () => {
      for await (const batch of rx) {
        for (let i = 0; i < batch.count; i++) viaIter.push(batch.datagram(i).readUInt32BE(0));
        if (viaIter.length >= 200) break;
      }
    })();
    for (let i = 0; i < 200; i++) tx.send(seqDatagram(i), port, '127.0.0.1');
    tx.flush();
    await Promise.race([consumer, new Promise((r) => setTimeout(r, 5000))]);
    expect(inOrder(viaBatch, 200)).toBe(true);
    expect(inOrder(viaIter, 200)).toBe(true);
  });

  test('for-await ends when the socket closes', async () => {
    const rx = track(open(backend));
    await bindLocal(rx);
    const ended = (async () => {
      let n = 0;
      for await (const _ of rx) n++;
      return n;
    })();
    rx.close();
    expect(await ended).toBe(0);
  });

  test('bad input: typed errors thrown synchronously, nothing already queued is lost', async () => {
    const rx = track(open(backend));
    const tx = track(open(backend, { windowUs: 50_000 }));
    const port = await bindLocal(rx);
    const got = collect(rx, 3, 3000);
    tx.send(seqDatagram(0), port, '127.0.0.1');
    tx.send(seqDatagram(1), port, '127.0.0.1');
    const code = (fn: () => unknown): string | undefined => {
      try {
        fn();
      } catch (e) {
        return (e as NodeJS.ErrnoException).code;
      }
      return undefined;
    };
    expect(code(() => tx.send(42 as unknown as Buffer, port, '127.0.0.1'))).toBe('ERR_INVALID_ARG_TYPE');
    expect(code(() => tx.send({} as unknown as Buffer, port, '127.0.0.1'))).toBe('ERR_INVALID_ARG_TYPE');
    expect(code(() => tx.send(Buffer.alloc(0), port, '127.0.0.1'))).toBe('ERR_INVALID_ARG_VALUE');
    expect(code(() => tx.send(Buffer.alloc(65508), port, '127.0.0.1'))).toBe('EMSGSIZE');
    expect(code(() => tx.send(Buffer.from('x'), 70000, '127.0.0.1'))).toBe('ERR_SOCKET_BAD_PORT');
    expect(code(() => tx.send(Buffer.from('x'), 0, '127.0.0.1'))).toBe('ERR_SOCKET_BAD_PORT');
    expect(code(() => tx.send(Buffer.from('x'), -1, '127.0.0.1'))).toBe('ERR_SOCKET_BAD_PORT');
    expect(code(() => tx.send(Buffer.from('x'), port, '::1'))).toBe('ERR_INVALID_IP_ADDRESS');
    expect(code(() => tx.send(Buffer.from('x'), port, 'example.invalid'))).toBe('ERR_INVALID_IP_ADDRESS');
    expect(code(() => tx.send(Buffer.from('abc'), 2, 5, port, '127.0.0.1'))).toBe('ERR_BUFFER_OUT_OF_BOUNDS');
    expect(code(() => tx.bind(0))).toBe('ERR_SOCKET_ALREADY_BOUND');
    expect(code(() => createBatchSocket({ type: 'udp5' as 'udp4' }))).toBe('ERR_SOCKET_BAD_TYPE');
    expect(code(() => createBatchSocket({ type: 'udp4', maxBatch: 0 }))).toBe('ERR_OUT_OF_RANGE');
    expect(code(() => createBatchSocket({ type: 'udp4', windowUs: 1.5 }))).toBe('ERR_INVALID_ARG_TYPE');
    expect(code(() => createBatchSocket({ type: 'udp4', mode: 'soon' as 'tick' }))).toBe('ERR_INVALID_ARG_VALUE');
    const st = tx.stats();
    expect(st.enqueued).toBe(2); // rejected input is not enqueued
    tx.send(seqDatagram(2), port, '127.0.0.1');
    tx.flush();
    expect(inOrder(await got.done, 3)).toBe(true);
    expectIdentity(tx);
  });

  test('use after close throws ERR_SOCKET_DGRAM_NOT_RUNNING; close emits close once', async () => {
    const s = open(backend);
    await bindLocal(s);
    let closes = 0;
    s.on('close', () => closes++);
    s.close();
    expect(() => s.send(Buffer.from('x'), 9, '127.0.0.1')).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' }));
    expect(() => s.close()).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' }));
    expect(() => s.address()).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' }));
    await new Promise((r) => setTimeout(r, 20));
    expect(closes).toBe(1);
  });

  test('bind errors are emitted as error events (EADDRINUSE)', async () => {
    const a = track(open(backend));
    const port = await bindLocal(a);
    const b = track(open(backend));
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
      b.on('error', (e) => resolve(e as NodeJS.ErrnoException));
      b.bind(port, '127.0.0.1');
    });
    expect(err.code).toBe('EADDRINUSE');
  });

  test('stats() has every counter and buffer sizes read back from the kernel', async () => {
    const s = track(open(backend, { sendBufferSize: 1 << 20, recvBufferSize: 1 << 20 }));
    await bindLocal(s);
    const st = s.stats();
    for (const k of ['enqueued', 'sent', 'failed', 'dropped', 'queued', 'syscalls', 'partialSends', 'eagain', 'batches'] as const) {
      expect(typeof st[k]).toBe('number');
    }
    // Linux doubles the requested size for bookkeeping overhead.
    expect(st.sendBufferSize).toBeGreaterThanOrEqual(1 << 20);
    expect(st.recvBufferSize).toBeGreaterThanOrEqual(1 << 20);
    expect(st.backend).toBe(backend);
    await closeAll(s);
    expect(s.stats().sendBufferSize).toBe(st.sendBufferSize); // still readable after close
  });
});

describe.skipIf(!backends.includes('batch'))('batch backend specifics', () => {
  test('one burst larger than UIO_MAXIOV, one flush: arrives exactly once, in order, in several sendmmsg chunks (libuv #5245 case)', async () => {
    const rx = track(open('batch', { recvBufferSize: 16 << 20 }));
    const tx = track(open('batch', { maxBatch: 4096, maxQueue: 4096, windowUs: 1_000_000 }));
    const port = await bindLocal(rx);
    expect(rx.getRecvBufferSize()).toBeGreaterThanOrEqual(3000 * 768); // room for the whole burst
    const got = collect(rx, 3000, 5000);
    const flushes: FlushEvent[] = [];
    tx.on('flush', (e: FlushEvent) => flushes.push(e));
    const peer = tx.peer(port, '127.0.0.1');
    for (let i = 0; i < 3000; i++) peer.send(seqDatagram(i, 200));
    expect(tx.stats().syscalls).toBe(0);
    tx.flush();
    const seqs = await got.done;
    expect(seqs.length).toBe(3000);
    expect(inOrder(seqs, 3000)).toBe(true);
    const st = tx.stats();
    expect(st.sent).toBe(3000);
    expect(flushes).toEqual([expect.objectContaining({ requested: 3000, sent: 3000, code: null, reason: 'flush' })]);
    expect(st.syscalls).toBeGreaterThanOrEqual(3); // 1024 + 1024 + 952
    expect(st.syscalls).toBeLessThanOrEqual(6);
    expectIdentity(tx);
  });

  test('tick mode: one fan-out produced in one turn leaves together', async () => {
    const rx = track(open('batch'));
    const tx = track(open('batch', { mode: 'tick', maxBatch: 1024, windowUs: 1_000_000 }));
    const port = await bindLocal(rx);
    const flushes: FlushEvent[] = [];
    tx.on('flush', (e: FlushEvent) => flushes.push(e));
    const got = collect(rx, 64, 3000);
    for (let i = 0; i < 64; i++) tx.send(seqDatagram(i), port, '127.0.0.1');
    expect(inOrder(await got.done, 64)).toBe(true);
    await until(() => flushes.length > 0, 1000);
    expect(flushes).toHaveLength(1);
    expect(flushes[0]).toMatchObject({ requested: 64, sent: 64, reason: 'tick', code: null });
  });

  test('an idle socket makes no send system call and arms no timer', async () => {
    const tx = track(open('batch'));
    await bindLocal(tx);
    await new Promise((r) => setTimeout(r, 30));
    expect(tx.stats().syscalls).toBe(0);
    expect(tx.stats().batches).toBe(0);
  });

  test('EMSGSIZE of one datagram inside a batch (peer MTU-independent: > 65507 via IPv6 jumbo limit is not reachable, so use a udp6 socket and 65528 bytes to an IPv4-mapped peer)', async () => {
    const rx = track(open('batch', { recvBufferSize: 4 << 20 }));
    const port = await bindLocal(rx);
    const tx = track(createBatchSocket({ type: 'udp6', backend: 'batch', maxBatch: 1024, windowUs: 1_000_000 }));
    const got = collect(rx, 4, 3000);
    const codes: (string | null)[] = [];
    const cb = (err: Error | null): void => {
      codes.push(err ? (err as NodeJS.ErrnoException).code! : null);
    };
    tx.send(seqDatagram(0), port, '127.0.0.1', cb);
    tx.send(seqDatagram(1), port, '127.0.0.1', cb);
    // 65520 bytes fits udp6's limit (validated in JS) but not IPv4's: the kernel refuses this one datagram.
    const big = seqDatagram(99, 65520);
    tx.send(big, port, '127.0.0.1', cb);
    tx.send(seqDatagram(2), port, '127.0.0.1', cb);
    tx.send(seqDatagram(3), port, '127.0.0.1', cb);
    tx.flush();
    const seqs = await got.done;
    expect(seqs).toEqual([0, 1, 2, 3]);
    expect(await until(() => codes.length === 5, 2000)).toBe(true);
    expect(codes).toEqual([null, null, 'EMSGSIZE', null, null]);
    expect(tx.stats().failures).toEqual({ EMSGSIZE: 1 });
    expectIdentity(tx);
  });
});
