/**
 * Async iteration over received batches (issue 11 item 9): concurrent `next()` calls
 * resolve in call order, one batch each; `close()` (and `return()`) settle every pending
 * one with `done: true`.
 */
import { describe, expect, it } from 'vitest';
import type { RecvBatch } from '../../src/index.js';
import { backends, bindLocal, closeAll, open, seqDatagram } from './helpers.js';

/** `p`, or a rejection after `ms` (a promise that never settles is the bug under test). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const seqs = (b: RecvBatch): number[] => Array.from({ length: b.count }, (_, i) => b.datagram(i).readUInt32BE(0));

describe.each(backends)('[%s] async iterator', (backend) => {
  it('three concurrent next() calls resolve in call order, each with the next batch', async () => {
    const rx = open(backend);
    const tx = open(backend);
    const port = await bindLocal(rx);
    const it = rx[Symbol.asyncIterator]();
    const pending = [it.next(), it.next(), it.next()];
    const settled: number[] = [];
    pending.forEach((p, i) => void p.then(() => settled.push(i)));
    for (let i = 0; i < 3; i++) {
      tx.send(seqDatagram(i), port, '127.0.0.1');
      tx.flush();
      const r = await within(pending[i], 5000, `next() #${i}`);
      expect(r.done).toBe(false);
      expect(seqs(r.value as RecvBatch)).toEqual([i]);
    }
    expect(settled).toEqual([0, 1, 2]);
    await it.return!();
    await closeAll(rx, tx);
  });

  it('close() settles every pending next() with done: true; later next() calls are done at once', async () => {
    const rx = open(backend);
    await bindLocal(rx);
    const it = rx[Symbol.asyncIterator]();
    const pending = [it.next(), it.next(), it.next()];
    await closeAll(rx);
    const results = await within(Promise.all(pending), 2000, 'pending next() after close()');
    expect(results).toEqual(new Array(3).fill({ value: undefined, done: true }));
    expect(await within(it.next(), 1000, 'next() after close()')).toEqual({ value: undefined, done: true });
  });

  it('return() settles every pending next() with done: true', async () => {
    const rx = open(backend);
    await bindLocal(rx);
    const it = rx[Symbol.asyncIterator]();
    const pending = [it.next(), it.next()];
    expect(await it.return!()).toEqual({ value: undefined, done: true });
    expect(await within(Promise.all(pending), 2000, 'pending next() after return()')).toEqual(new Array(2).fill({ value: undefined, done: true }));
    await closeAll(rx);
  });
});
