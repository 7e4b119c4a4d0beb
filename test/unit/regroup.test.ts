/**
 * Order 'per-peer' (regrouping a flush by destination so that GSO can form runs) against
 * the scripted fake backend: each destination's order, callbacks in send order, partial
 * sends that put the un-taken datagrams back in their original relative order, per-datagram
 * errors, and the arena's integrity under a randomized workload.
 */
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { SendScheduler, type SchedulerOptions } from '../../src/scheduler/send-scheduler.js';
import { FakeBackend, datagram, seqOf, type Step } from './fake-backend.js';

const EAGAIN = 11;
const EMSGSIZE = 90;

function rig(opts: Partial<SchedulerOptions> = {}, script: FakeBackend['script'] = [], gso = true) {
  const b = new FakeBackend(script);
  const backend = Object.assign(b, { gsoActive: () => gso });
  const refs = { refs: new Int32Array(4096) };
  const s = new SendScheduler(
    backend,
    { maxBatch: 1 << 20, windowUs: 1000, mode: 'window', maxQueue: 8192, maxQueueBytes: 1 << 20, order: 'per-peer', ...opts },
    refs,
  );
  return { s, b, refs };
}

const tick = (): Promise<void> => new Promise((r) => process.nextTick(r));

/** Fan-out: packet p (0..packets-1) to every viewer v (0..viewers-1), interleaved as a relay does. */
function fanOut(s: SendScheduler, packets: number, viewers: number, done?: (seq: number) => void): void {
  for (let p = 0; p < packets; p++) {
    for (let v = 0; v < viewers; v++) {
      const seq = p * viewers + v;
      s.enqueue(datagram(seq, 8), 0, 12, v, done ? (err) => (err ? undefined : done(seq)) : undefined);
    }
  }
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe("order 'per-peer'", () => {
  test('a flush groups a fan-out by viewer (first-queued viewer first), each viewer in order', async () => {
    const { s, b } = rig();
    const completed: number[] = [];
    fanOut(s, 5, 3, (seq) => completed.push(seq));
    s.flush();
    expect(b.calls).toEqual([{ requested: 15, taken: 15, errno: 0 }]);
    expect(b.delivered.map((d) => d.peer)).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
    expect(b.delivered.map(seqOf)).toEqual([0, 3, 6, 9, 12, 1, 4, 7, 10, 13, 2, 5, 8, 11, 14]);
    expect(s.regroupedFlushes).toBe(1);
    await tick();
    // Callbacks run in send order.
    expect(completed).toEqual(b.delivered.map(seqOf));
    expect(s.enqueued).toBe(s.sent + s.failed + s.dropped + s.queued);
  });

  test("'global' and a backend without GSO keep enqueue order", () => {
    for (const [order, gso] of [['global', true], ['per-peer', false]] as const) {
      const { s, b } = rig({ order }, [], gso);
      fanOut(s, 3, 2);
      s.flush();
      expect(b.delivered.map(seqOf)).toEqual([0, 1, 2, 3, 4, 5]);
      expect(s.regroupedFlushes).toBe(0);
    }
  });

  test('an already grouped queue is left alone; a connected destination (-1) and large peer ids group too', () => {
    const { s, b } = rig();
    for (let i = 0; i < 4; i++) s.enqueue(datagram(i), 0, 4, 7);
    for (let i = 4; i < 8; i++) s.enqueue(datagram(i), 0, 4, 3);
    s.flush();
    expect(s.regroupedFlushes).toBe(0);
    expect(b.delivered.map(seqOf)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const peers = [-1, 1000, -1, 3000, 1000, -1];
    peers.forEach((p, i) => s.enqueue(datagram(100 + i), 0, 4, p));
    s.flush();
    expect(b.delivered.slice(8).map((d) => [d.peer, seqOf(d)])).toEqual([
      [-1, 100],
      [-1, 102],
      [-1, 105],
      [1000, 101],
      [1000, 104],
      [3000, 103],
    ]);
  });

  test('partial send: the un-taken datagrams go back in their original relative order, then everything arrives once per viewer in order', () => {
    const { s, b } = rig({}, [{ take: 4, errno: EAGAIN }]);
    fanOut(s, 4, 3); // seqs 0..11, viewer = seq % 3
    s.flush();
    // Sent in regrouped order: viewer 0's four, then EAGAIN.
    expect(b.delivered.map(seqOf)).toEqual([0, 3, 6, 9]);
    expect(s.queued).toBe(8);
    expect(s.blocked).toBe(true);
    // Newer datagrams queue behind the (restored) tail.
    s.enqueue(datagram(12, 8), 0, 12, 1);
    s.enqueue(datagram(13, 8), 0, 12, 0);
    s.onWritable();
    const rest = b.delivered.slice(4).map(seqOf);
    // Regrouped again from the restored queue order 1,2,4,5,7,8,10,11,12,13.
    expect(rest).toEqual([1, 4, 7, 10, 12, 2, 5, 8, 11, 13]);
    for (const v of [0, 1, 2]) {
      const seqs = b.delivered.filter((d) => d.peer === v).map(seqOf);
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    }
    expect(s.sent).toBe(14);
    expect(s.enqueued).toBe(s.sent + s.failed + s.dropped + s.queued);
  });

  test('after a partial regrouped send the arena never overwrites a queued datagram (slot order is byte order again)', () => {
    // Arena 64 KiB: A0 [0,100) X [100,200) A1 [200,300) A2 [300,65300). Regrouped: A0 A1 A2 X;
    // the kernel takes A0 only. Were A1 left at the head, [0, A1's offset) would look free and
    // a wrapping datagram would land on X.
    const { s, b } = rig({ maxQueueBytes: 1 << 20 }, [{ take: 1, errno: EAGAIN }]);
    const mk = (seq: number, len: number): Buffer => {
      const d = Buffer.alloc(len, seq);
      d.writeUInt32BE(seq, 0);
      return d;
    };
    const sent = [mk(0, 100), mk(1, 100), mk(2, 100), mk(3, 65_000), mk(4, 150), mk(5, 150)];
    const peers = [0, 1, 0, 0, 2, 2];
    for (let i = 0; i < 4; i++) s.enqueue(sent[i], 0, sent[i].length, peers[i]);
    s.flush();
    expect(b.delivered.map(seqOf)).toEqual([0]);
    for (let i = 4; i < 6; i++) s.enqueue(sent[i], 0, sent[i].length, peers[i]);
    s.onWritable();
    expect(s.queued).toBe(0);
    for (const d of b.delivered) expect(d.bytes.equals(sent[seqOf(d)])).toBe(true);
    expect(b.delivered.map(seqOf).sort()).toEqual([0, 1, 2, 3, 4, 5]);
  });

  test('a per-datagram error fails the datagram at the head of the regrouped order, alone', async () => {
    const { s, b } = rig({}, [{ take: 2, errno: EMSGSIZE }]);
    const errs: (string | null)[] = [];
    for (let p = 0; p < 3; p++) {
      for (let v = 0; v < 2; v++) s.enqueue(datagram(p * 2 + v), 0, 4, v, (err) => errs[p * 2 + v] = err ? (err as NodeJS.ErrnoException).code! : null);
    }
    s.flush();
    // Regrouped: 0,2,4 (viewer 0), 1,3,5 (viewer 1); kernel takes 0,2 then 4 fails.
    expect(b.delivered.map(seqOf)).toEqual([0, 2, 1, 3, 5]);
    await tick();
    expect(errs).toEqual([null, null, null, null, 'EMSGSIZE', null]);
    expect(s.failed).toBe(1);
    expect(s.enqueued).toBe(s.sent + s.failed + s.dropped + s.queued);
  });

  test('randomized: partial sends, errors, arena wrap-around and ring growth never lose, duplicate, corrupt or reorder a viewer', async () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const script: ((requested: number) => Step)[] = [];
    // Big datagrams and rare full flushes keep the queue non-empty while the arena wraps.
    const { s, b } = rig({ maxQueue: 600, maxQueueBytes: 60_000 }, script);
    const expected = new Map<number, Buffer>();
    const failedSeqs = new Set<number>();
    const errs = new Map<number, boolean>();
    let seq = 0;
    for (let round = 0; round < 3000; round++) {
      const n = 1 + rand(12);
      for (let i = 0; i < n; i++) {
        const peer = rand(5) - 1;
        const len = 4 + rand(4000);
        const bytes = Buffer.alloc(len, seq & 255);
        bytes.writeUInt32BE(seq, 0);
        const mySeq = seq++;
        if (s.enqueue(bytes, 0, len, peer, (err) => errs.set(mySeq, err !== null))) expected.set(mySeq, bytes);
      }
      // The next send answers at random: all, some then EAGAIN, some then a per-datagram error.
      const kind = rand(10);
      script.push((requested) =>
        kind === 0 ? { take: requested } : kind < 6 ? { take: rand(requested), errno: EAGAIN } : { take: rand(requested), errno: EMSGSIZE },
      );
      s.flush();
      if (s.blocked) s.onWritable();
      expect(s.enqueued).toBe(s.sent + s.failed + s.dropped + s.queued);
    }
    script.length = 0;
    if (s.blocked) s.onWritable();
    s.flush();
    expect(s.queued).toBe(0);
    await tick(); // callbacks run on process.nextTick
    for (const [q, failed] of errs) if (failed && expected.has(q)) failedSeqs.add(q); // (drops were never accepted)
    expect(failedSeqs.size).toBe(s.failed);
    // Every datagram delivered at most once, with its exact bytes; per viewer in order.
    const seen = new Set<number>();
    const lastByPeer = new Map<number, number>();
    for (const d of b.delivered) {
      const q = seqOf(d);
      expect(seen.has(q)).toBe(false);
      seen.add(q);
      expect(d.bytes.equals(expected.get(q)!)).toBe(true);
      expect(q).toBeGreaterThan(lastByPeer.get(d.peer) ?? -1);
      lastByPeer.set(d.peer, q);
    }
    // Delivered + failed = everything accepted.
    expect(seen.size + failedSeqs.size).toBe(expected.size);
    for (const q of failedSeqs) expect(seen.has(q)).toBe(false);
    expect(s.regroupedFlushes).toBeGreaterThan(1000);
    expect(s.enqueued).toBe(s.sent + s.failed + s.dropped + s.queued);
  });
});
