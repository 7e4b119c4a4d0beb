/**
 * `peer()` handles have a lifecycle (issue 11 item 10): the same destination returns the
 * same handle; `release()` / `Symbol.dispose` unpin it; a dropped handle is released when
 * collected (FinalizationRegistry); 200k short-lived destinations stay bounded.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { NativeBatchSocket } from '../../src/socket/native-socket.js';
import { backends, batchAvailable, bindLocal, closeAll, collect, open, seqDatagram } from './helpers.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** 200k distinct destinations: ports 1..50000 on 127.0.0.1..4 (nothing listens; nothing is sent). */
const destination = (i: number): [number, string] => [1 + (i % 50_000), `127.0.0.${1 + Math.floor(i / 50_000)}`];
const N = 200_000;

describe.each(backends)('[%s] peer() handles', (backend) => {
  it('the same destination returns the same handle; release() and Symbol.dispose end it; a released handle still sends', async () => {
    const rx = open(backend);
    const port = await bindLocal(rx);
    const tx = open(backend);
    const h = tx.peer(port, '127.0.0.1');
    expect(tx.peer(port, '127.0.0.1')).toBe(h);
    expect(tx.peer(port + 1 > 65535 ? port - 1 : port + 1, '127.0.0.1')).not.toBe(h);
    h.release();
    h.release(); // idempotent
    const h2 = tx.peer(port, '127.0.0.1');
    expect(h2).not.toBe(h);
    h2[Symbol.dispose]();
    expect(tx.peer(port, '127.0.0.1')).not.toBe(h2);
    const got = collect(rx, 2, 5000);
    h.send(seqDatagram(1));
    h2.send(seqDatagram(2));
    tx.flush();
    expect(await got.done).toEqual([1, 2]);
    await closeAll(rx, tx);
  });
});

describe.runIf(batchAvailable)('[batch] peer-table entries stay bounded', () => {
  it('200k released handles: the table holds at most its cache (4096) of unpinned entries', async () => {
    const tx = open('batch') as NativeBatchSocket;
    for (let i = 0; i < N; i++) tx.peer(...destination(i)).release();
    const size = tx.peerCacheSize();
    expect(size.handles).toBe(0);
    expect(size.entries).toBeLessThanOrEqual(4096 + 1);
    await closeAll(tx);
  });

  it('200k dropped handles (never released) are released when collected: entries and heap stay bounded', async () => {
    const tx = open('batch') as NativeBatchSocket;
    gc();
    const heap0 = process.memoryUsage().heapUsed;
    let maxEntries = 0;
    for (let round = 0; round < N / 10_000; round++) {
      for (let i = round * 10_000; i < (round + 1) * 10_000; i++) tx.peer(...destination(i));
      maxEntries = Math.max(maxEntries, tx.peerCacheSize().entries);
      // Let the collector reclaim the round's handles and the registry's callbacks run.
      gc();
      await turn();
      await turn();
    }
    // Bounded number of rounds until every finalizer ran.
    for (let k = 0; k < 50 && tx.peerCacheSize().handles > 0; k++) {
      gc();
      await turn();
    }
    gc();
    const heapGrowth = process.memoryUsage().heapUsed - heap0;
    const size = tx.peerCacheSize();
    expect(size.handles).toBe(0);
    // At most: the round's pinned entries + the previous round's (unpinned once collected,
    // evicted by the next lookups) + the unpinned cache; not 200k.
    expect(maxEntries).toBeLessThanOrEqual(10_000 + 10_000 + 4096);
    expect(size.entries).toBeLessThanOrEqual(10_000 + 10_000 + 4096);
    expect(heapGrowth).toBeLessThan(8 << 20);
    await closeAll(tx);
  });
});
