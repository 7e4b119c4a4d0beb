/**
 * Datagrams queued while connected go where they were addressed (issue 11 item 4): a
 * disconnect() — and a connect() to another peer after it — must not move them to the
 * new peer or make them fail with EDESTADDRREQ; and a peer handle cannot send on a
 * connected socket (ERR_SOCKET_DGRAM_IS_CONNECTED, as send(msg, port, address) does).
 */
import { describe, expect, it } from 'vitest';
import type { BatchSocket } from '../../src/index.js';
import { backends, bindLocal, closeAll, collect, expectIdentity, open, seqDatagram } from './helpers.js';

/** A sender whose window holds datagrams for 1 s unless flushed, so they are still queued at disconnect(). */
const holdingSender = (backend: (typeof backends)[number]): BatchSocket => open(backend, { windowUs: 1_000_000, maxBatch: 1024 });

function connectTo(s: BatchSocket, port: number): Promise<void> {
  return new Promise((resolve, reject) => s.connect(port, '127.0.0.1', (err?: Error) => (err ? reject(err) : resolve())));
}

/** Receivers A and B expecting 5 datagrams each, and a holding sender connected to A. */
async function connectedToA(backend: (typeof backends)[number]) {
  const a = open(backend);
  const b = open(backend);
  const [pa, pb] = [await bindLocal(a), await bindLocal(b)];
  const gotA = collect(a, 5, 5000);
  const gotB = collect(b, 5, 5000);
  const tx = holdingSender(backend);
  await connectTo(tx, pa);
  return { a, b, pb, gotA, gotB, tx };
}

describe.each(backends)('[%s] datagrams queued before disconnect()', (backend) => {
  it('go to the peer they were sent to; later ones go to the addresses given after disconnect()', async () => {
    const { a, b, pb, gotA, gotB, tx } = await connectedToA(backend);
    const codes: (string | null)[] = [];
    const cb = (err: Error | null): void => void codes.push(err ? (err as NodeJS.ErrnoException).code! : null);
    for (let i = 0; i < 5; i++) tx.send(seqDatagram(i), cb);
    if (backend === 'batch') expect(tx.stats().queued, 'still held by the window').toBe(5);
    tx.disconnect();
    for (let i = 5; i < 10; i++) tx.send(seqDatagram(i), pb, '127.0.0.1', cb);
    tx.flush();
    expect(await gotA.done).toEqual([0, 1, 2, 3, 4]);
    expect(await gotB.done).toEqual([5, 6, 7, 8, 9]);
    expect(codes).toEqual(new Array(10).fill(null));
    expectIdentity(tx);
    await closeAll(a, b, tx);
  });

  it('go to the old peer, not to the peer of a connect() that follows', async () => {
    const { a, b, pb, gotA, gotB, tx } = await connectedToA(backend);
    for (let i = 0; i < 5; i++) tx.send(seqDatagram(i));
    tx.disconnect();
    await connectTo(tx, pb);
    if (backend === 'batch') expect(tx.stats().queued, 'still held by the window').toBe(5);
    for (let i = 5; i < 10; i++) tx.send(seqDatagram(i));
    tx.flush();
    expect(await gotA.done).toEqual([0, 1, 2, 3, 4]);
    expect(await gotB.done).toEqual([5, 6, 7, 8, 9]);
    expect(tx.stats()).toMatchObject({ sent: 10, failed: 0 });
    await closeAll(a, b, tx);
  });

  it('peer(B).send() on a connected socket throws ERR_SOCKET_DGRAM_IS_CONNECTED and queues nothing', async () => {
    const a = open(backend);
    const pa = await bindLocal(a);
    const tx = open(backend);
    const handle = tx.peer(pa + 1 > 65535 ? pa - 1 : pa + 1, '127.0.0.1');
    await connectTo(tx, pa);
    expect(() => handle.send(Buffer.from('x'))).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_DGRAM_IS_CONNECTED' }));
    expect(() => tx.peer(pa, '127.0.0.1').send(Buffer.from('x'))).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_DGRAM_IS_CONNECTED' }));
    expect(tx.stats().enqueued).toBe(0);
    // After disconnect() the handle works again.
    tx.disconnect();
    const got = collect(a, 1, 5000);
    tx.peer(pa, '127.0.0.1').send(seqDatagram(7));
    tx.flush();
    expect(await got.done).toEqual([7]);
    await closeAll(a, tx);
  });
});
