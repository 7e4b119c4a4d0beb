import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { SendScheduler, type SchedulerOptions } from '../../src/scheduler/send-scheduler.js';
import type { FlushEvent } from '../../src/types.js';
import { FakeBackend, datagram, seqOf } from './fake-backend.js';

const EAGAIN = 11;
const ENOBUFS = 105;
const EMSGSIZE = 90;
const ECONNREFUSED = 111;

interface Rig {
  s: SendScheduler;
  b: FakeBackend;
  events: FlushEvent[];
  drains: number;
  idles: number;
  refs: { refs: Int32Array };
}

function rig(opts: Partial<SchedulerOptions> = {}, script: FakeBackend['script'] = []): Rig {
  const b = new FakeBackend(script);
  const r: Rig = { s: undefined as unknown as SendScheduler, b, events: [], drains: 0, idles: 0, refs: { refs: new Int32Array(16) } };
  r.s = new SendScheduler(
    b,
    {
      maxBatch: 64,
      windowUs: 1000,
      mode: 'window',
      maxQueue: 8192,
      maxQueueBytes: 1 << 20,
      onFlush: (e) => r.events.push(e),
      onDrain: () => r.drains++,
      onIdle: () => r.idles++,
      ...opts,
    },
    r.refs,
  );
  return r;
}

/** The accounting identity of design.md, checked after every scenario. */
function expectIdentity(s: SendScheduler): void {
  expect(s.enqueued).toBe(s.sent + s.failed + s.dropped + s.queued);
}

const tick = (): Promise<void> => new Promise((r) => process.nextTick(r));

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('flush triggers', () => {
  test('nothing is sent before the window expires; then one call sends all, in order', () => {
    const { s, b } = rig({ windowUs: 1000 });
    for (let i = 0; i < 3; i++) s.enqueue(datagram(i), 0, 4, 0);
    expect(b.calls).toHaveLength(0);
    vi.advanceTimersByTime(0);
    expect(b.calls).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(b.calls).toEqual([{ requested: 3, taken: 3, errno: 0 }]);
    expect(b.delivered.map(seqOf)).toEqual([0, 1, 2]);
    expectIdentity(s);
  });

  test('a window of 2500 µs waits 3 ms (libuv timers have 1 ms granularity)', () => {
    const { s, b } = rig({ windowUs: 2500 });
    s.enqueue(datagram(0), 0, 4, 0);
    vi.advanceTimersByTime(2);
    expect(b.calls).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(b.calls).toHaveLength(1);
  });

  test('a full batch flushes at once, synchronously, without waiting for the window', () => {
    const { s, b } = rig({ maxBatch: 4 });
    for (let i = 0; i < 3; i++) s.enqueue(datagram(i), 0, 4, 0);
    expect(b.calls).toHaveLength(0);
    s.enqueue(datagram(3), 0, 4, 0);
    expect(b.calls).toEqual([{ requested: 4, taken: 4, errno: 0 }]);
    expect(vi.getTimerCount()).toBe(0);
    expectIdentity(s);
  });

  test('flush() sends what is queued now; tick mode flushes at the end of the loop turn', async () => {
    const w = rig();
    w.s.enqueue(datagram(0), 0, 4, 0);
    w.s.flush();
    expect(w.b.calls).toHaveLength(1);

    const t = rig({ mode: 'tick', windowUs: 1_000_000 });
    t.s.enqueue(datagram(0), 0, 4, 0);
    t.s.enqueue(datagram(1), 0, 4, 0);
    expect(t.b.calls).toHaveLength(0);
    vi.runOnlyPendingTimers(); // setImmediate
    expect(t.b.calls).toEqual([{ requested: 2, taken: 2, errno: 0 }]);
    await tick();
    expect(t.events.map((e) => e.reason)).toEqual(['tick']);
  });

  test('an idle scheduler arms no timer; the timer is armed on empty → non-empty only and cleared by a batch flush', () => {
    const { s } = rig({ maxBatch: 2 });
    expect(vi.getTimerCount()).toBe(0);
    s.enqueue(datagram(0), 0, 4, 0);
    expect(vi.getTimerCount()).toBe(1);
    s.enqueue(datagram(1), 0, 4, 0); // batch full → flush → timer cleared
    expect(vi.getTimerCount()).toBe(0);
    expect(s.timerArmed).toBe(false);
    vi.advanceTimersByTime(100);
    expect(vi.getTimerCount()).toBe(0);
  });
});

/** A backend with the precise (µs) window timer of the native one: records arm/disarm, fires on demand. */
class TimerBackend extends FakeBackend {
  armed: number | null = null;
  arms: number[] = [];
  disarms = 0;
  failArm = false;
  armTimer(us: number): void {
    if (this.failArm) throw Object.assign(new Error('timerfd_create EMFILE'), { code: 'EMFILE' });
    this.armed = us;
    this.arms.push(us);
  }
  disarmTimer(): void {
    if (this.armed !== null) this.disarms++;
    this.armed = null;
  }
  /** The timer expires: what the native onTimer does. */
  fire(s: SendScheduler): void {
    if (this.armed === null) throw new Error('fired while disarmed');
    this.armed = null;
    s.onWindowTimer();
  }
}

function timerRig(opts: Partial<SchedulerOptions>, b = new TimerBackend()): { s: SendScheduler; b: TimerBackend; events: FlushEvent[] } {
  const events: FlushEvent[] = [];
  const s = new SendScheduler(b, { maxBatch: 64, windowUs: 250, mode: 'window', maxQueue: 8192, maxQueueBytes: 1 << 20, onFlush: (e) => events.push(e), ...opts });
  return { s, b, events };
}

describe('sub-millisecond windows: the backend\'s precise timer', () => {
  test('a 250 µs window arms the backend timer with 250 µs on empty → non-empty only, no libuv timer; its expiry flushes once', async () => {
    const { s, b, events } = timerRig({ windowUs: 250 });
    expect(s.windowTimer).toBe('precise');
    expect(b.arms).toEqual([]);
    for (let i = 0; i < 3; i++) s.enqueue(datagram(i), 0, 4, 0);
    expect(b.arms).toEqual([250]); // once, not per datagram
    expect(vi.getTimerCount()).toBe(0);
    expect(s.timerArmed).toBe(true);
    expect(b.calls).toHaveLength(0);
    b.fire(s);
    expect(b.calls).toEqual([{ requested: 3, taken: 3, errno: 0 }]);
    expect(s.timerArmed).toBe(false);
    s.onWindowTimer(); // a late or duplicate expiry does nothing
    expect(b.calls).toHaveLength(1);
    await tick();
    expect(events.map((e) => e.reason)).toEqual(['window']);
    expectIdentity(s);
  });

  test('a flush before the window ends (batch full, flush(), close()) disarms it', () => {
    const { s, b } = timerRig({ windowUs: 500, maxBatch: 2 });
    s.enqueue(datagram(0), 0, 4, 0);
    s.enqueue(datagram(1), 0, 4, 0); // batch full
    expect(b.arms).toEqual([500]);
    expect(b.disarms).toBe(1);
    expect(b.armed).toBeNull();
    s.enqueue(datagram(2), 0, 4, 0);
    s.flush();
    expect(b.disarms).toBe(2);
    s.enqueue(datagram(3), 0, 4, 0);
    s.close();
    expect(b.arms).toHaveLength(3);
    expect(b.disarms).toBe(3);
    expect(b.armed).toBeNull();
    expect(b.delivered.map(seqOf)).toEqual([0, 1, 2, 3]);
  });

  test('whole-millisecond windows and tick mode keep libuv timers (no system call to arm)', () => {
    for (const opts of [{ windowUs: 1000 }, { windowUs: 3000 }, { mode: 'tick' as const, windowUs: 250 }]) {
      const { s, b } = timerRig(opts);
      expect(s.windowTimer).toBe('libuv');
      s.enqueue(datagram(0), 0, 4, 0);
      expect(b.arms).toEqual([]);
      expect(vi.getTimerCount()).toBe(1);
      s.close();
    }
  });

  test('a backend that refuses a timer (EMFILE): the window falls back to the libuv timer, nothing is held forever', () => {
    const b = new TimerBackend();
    b.failArm = true;
    const { s } = timerRig({ windowUs: 250 }, b);
    s.enqueue(datagram(0), 0, 4, 0);
    expect(s.windowTimer).toBe('libuv');
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(1);
    expect(b.calls).toHaveLength(1);
    expectIdentity(s);
  });

  test('while blocked on writability no window timer is armed; the writable flush sends everything', () => {
    const { s, b } = timerRig({ windowUs: 250 });
    b.script.push({ take: 1, errno: EAGAIN });
    s.enqueue(datagram(0), 0, 4, 0);
    s.enqueue(datagram(1), 0, 4, 0);
    b.fire(s);
    expect(b.writableArmed).toBe(true);
    s.enqueue(datagram(2), 0, 4, 0);
    expect(b.arms).toHaveLength(1);
    expect(b.armed).toBeNull();
    s.onWritable();
    expect(b.delivered.map(seqOf)).toEqual([0, 1, 2]);
    expectIdentity(s);
  });
});

describe('partial sends and transient errors', () => {
  test('EAGAIN after a partial send: waits for writability (no timer), then the tail goes first, before newer datagrams', async () => {
    const { s, b, events } = rig({ maxBatch: 5 }, [{ take: 2, errno: EAGAIN }]);
    for (let i = 0; i < 5; i++) s.enqueue(datagram(i), 0, 4, 0);
    expect(b.calls[0]).toEqual({ requested: 5, taken: 2, errno: EAGAIN });
    expect(b.writableArmed).toBe(true);
    expect(s.blocked).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
    // Newer datagrams queue behind the tail; a full batch does not flush while blocked.
    for (let i = 5; i < 12; i++) s.enqueue(datagram(i), 0, 4, 0);
    expect(b.calls).toHaveLength(1);
    expectIdentity(s);
    s.onWritable();
    expect(b.calls[1]).toEqual({ requested: 10, taken: 10, errno: 0 });
    expect(b.delivered.map(seqOf)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(s.partialSends).toBe(1);
    expect(s.eagain).toBe(1);
    await tick();
    expect(events.map((e) => [e.requested, e.sent, e.code, e.action])).toEqual([
      [5, 2, 'EAGAIN', 'retry'],
      [10, 10, null, null],
    ]);
    expectIdentity(s);
  });

  test('EAGAIN with nothing taken, several times in a row: nothing lost, nothing reordered', () => {
    const { s, b } = rig({ maxBatch: 3 }, [{ take: 0 }, { take: 1 }, { take: 0 }, { take: 0 }]);
    for (let i = 0; i < 3; i++) s.enqueue(datagram(i), 0, 4, 0);
    for (let k = 0; k < 3; k++) s.onWritable();
    expect(b.delivered.map(seqOf)).toEqual([0]);
    s.onWritable();
    expect(b.delivered.map(seqOf)).toEqual([0, 1, 2]);
    expect(s.sent).toBe(3);
    expectIdentity(s);
  });

  test('repeated ENOBUFS backs off with a timer instead of spinning on writability, then sends', () => {
    const { s, b } = rig({ maxBatch: 1 }, [{ take: 0, errno: ENOBUFS }, { take: 0, errno: ENOBUFS }, { take: 0, errno: ENOBUFS }]);
    s.enqueue(datagram(0), 0, 4, 0);
    expect(b.writableArms).toBe(1);
    s.onWritable();
    expect(b.writableArms).toBe(2);
    s.onWritable(); // third ENOBUFS in a row → back-off timer
    expect(b.writableArms).toBe(2);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(1);
    expect(b.delivered.map(seqOf)).toEqual([0]);
    expect(s.blocked).toBe(false);
    expectIdentity(s);
  });
});

describe('idle', () => {
  test('fires once the queue is empty, after the callbacks; not while a send waits for writability', async () => {
    const r = rig({ maxBatch: 3 }, [{ take: 1, errno: EAGAIN }]);
    const order: string[] = [];
    for (let i = 0; i < 3; i++) r.s.enqueue(datagram(i), 0, 4, 0, () => order.push(`cb${i}`));
    await tick();
    expect(r.idles).toBe(0); // two datagrams still queued, waiting for writability
    r.s.onWritable();
    await tick();
    expect(r.idles).toBe(1);
    expect(r.s.queued).toBe(0);
    expect(order).toEqual(['cb0', 'cb1', 'cb2']);
  });

  test('a callback that queues more defers idle to the flush that empties the queue', async () => {
    const r = rig({ maxBatch: 1 });
    r.s.enqueue(datagram(0), 0, 4, 0, () => r.s.enqueue(datagram(1), 0, 4, 0));
    await tick();
    expect(r.b.delivered.map(seqOf)).toEqual([0, 1]);
    await tick();
    expect(r.idles).toBe(1);
  });
});

describe('permanent ENOBUFS', () => {
  test('after bounded back-offs with no progress the head datagram fails alone; the rest go on in order', async () => {
    const steps = Array.from({ length: 40 }, (_, k) => (k < 13 ? { take: 0, errno: ENOBUFS } : { take: 1 << 20 }));
    const { s, b } = rig({ maxBatch: 3 }, steps);
    const codes: (string | null)[] = [];
    for (let i = 0; i < 3; i++) s.enqueue(datagram(i), 0, 4, 0, (e) => codes.push(e ? (e as NodeJS.ErrnoException).code! : null));
    // Two writability waits, then back-off timers (1, 2, 4 … 64 ms), never a spin.
    for (let k = 0; k < 40 && s.queued > 0; k++) {
      if (b.writableArmed) {
        b.writableArmed = false; // readiness is one-shot, as in the addon
        s.onWritable();
      } else vi.advanceTimersByTime(64);
    }
    expect(s.queued).toBe(0);
    expect(b.delivered.map(seqOf)).toEqual([1, 2]);
    expect(s.failures).toEqual({ ENOBUFS: 1 });
    expect(b.calls.length).toBeLessThanOrEqual(14);
    await tick();
    expect(codes).toEqual(['ENOBUFS', null, null]);
    expectIdentity(s);
  });
});

describe('per-datagram errors', () => {
  test('an error in the middle of a batch fails that datagram alone; the rest go on, in order', async () => {
    const { s, b, events } = rig({ maxBatch: 6 }, [{ take: 2, errno: EMSGSIZE }]);
    const results: (string | null)[] = [];
    for (let i = 0; i < 6; i++) s.enqueue(datagram(i), 0, 4, 0, (err) => results.push(err ? (err as NodeJS.ErrnoException).code! : null));
    expect(b.delivered.map(seqOf)).toEqual([0, 1, 3, 4, 5]);
    expect(s.failed).toBe(1);
    expect(s.failures).toEqual({ EMSGSIZE: 1 });
    expect(results).toEqual([]); // callbacks are never called from inside send()
    await tick();
    expect(results).toEqual([null, null, 'EMSGSIZE', null, null, null]);
    expect(events.map((e) => e.action)).toEqual(['failed', null]);
    expectIdentity(s);
  });

  test('the failed datagram’s error names errno, syscall and the destination', async () => {
    const { s } = rig({ maxBatch: 1, describePeer: () => ({ address: '127.0.0.1', port: 9 }) }, [{ take: 0, errno: ECONNREFUSED }]);
    let error: NodeJS.ErrnoException | null = null;
    s.enqueue(datagram(0), 0, 4, 3, (err) => (error = err as NodeJS.ErrnoException));
    await tick();
    expect(error).not.toBeNull();
    expect(error!.code).toBe('ECONNREFUSED');
    expect(error!.errno).toBe(-ECONNREFUSED);
    expect(error!.syscall).toBe('sendmmsg');
    expect(error!.message).toContain('127.0.0.1:9');
  });

  test('every datagram failing (a socket-level errno) fails each once and loses none unaccounted', () => {
    const { s } = rig({ maxBatch: 4 }, Array.from({ length: 4 }, () => ({ take: 0, errno: 22 })));
    for (let i = 0; i < 4; i++) s.enqueue(datagram(i), 0, 4, 0);
    expect(s.failed).toBe(4);
    expect(s.queued).toBe(0);
    expectIdentity(s);
  });
});

describe('close', () => {
  test('close() flushes once, then drops the rest as closed; callbacks get ERR_SOCKET_CLOSED', async () => {
    const { s, b } = rig({ maxBatch: 100 }, [{ take: 2, errno: EAGAIN }]);
    const codes: (string | null)[] = [];
    for (let i = 0; i < 5; i++) s.enqueue(datagram(i), 0, 4, 0, (e) => codes.push(e ? (e as NodeJS.ErrnoException).code! : null));
    s.close();
    expect(b.delivered.map(seqOf)).toEqual([0, 1]);
    expect(s.droppedClosed).toBe(3);
    expect(vi.getTimerCount()).toBe(0);
    await tick();
    expect(codes).toEqual([null, null, 'ERR_SOCKET_CLOSED', 'ERR_SOCKET_CLOSED', 'ERR_SOCKET_CLOSED']);
    expect(s.enqueue(datagram(9), 0, 4, 0)).toBe(false);
    expect(s.droppedClosed).toBe(4);
    expectIdentity(s);
  });

  test('close() while a flush waits for writability cancels the wait', () => {
    const { s, b } = rig({ maxBatch: 2 }, [{ take: 0 }, { take: 0 }]);
    s.enqueue(datagram(0), 0, 4, 0);
    s.enqueue(datagram(1), 0, 4, 0);
    expect(b.writableArmed).toBe(true);
    s.close();
    expect(b.writableArmed).toBe(false);
    expect(s.queued).toBe(0);
    s.onWritable(); // a late readiness event does nothing
    expect(b.calls).toHaveLength(2);
    expectIdentity(s);
  });

  test('close() from inside a send callback and a flush handler is safe', async () => {
    const { s, b, events } = rig({ maxBatch: 2 });
    let closedInside = false;
    s.enqueue(datagram(0), 0, 4, 0, () => {
      s.close();
      closedInside = true;
    });
    s.enqueue(datagram(1), 0, 4, 0);
    await tick();
    expect(closedInside).toBe(true);
    expect(events).toHaveLength(1);
    expect(b.delivered).toHaveLength(2);
    expectIdentity(s);
  });
});

describe('backpressure', () => {
  test('a full queue drops (counted) and returns false; drain fires once half the room is back', async () => {
    const { s, b } = rig({ maxBatch: 1024, maxQueue: 4 }, [{ take: 0 }]);
    for (let i = 0; i < 4; i++) expect(s.enqueue(datagram(i), 0, 4, 0)).toBe(true);
    let err: NodeJS.ErrnoException | null = null;
    expect(s.enqueue(datagram(4), 0, 4, 0, (e) => (err = e as NodeJS.ErrnoException))).toBe(false);
    expect(s.droppedQueueFull).toBe(1);
    expectIdentity(s);
    s.flush(); // EAGAIN: still full
    await tick();
    expect(err!.code).toBe('ERR_SOCKET_QUEUE_FULL');
    expect(b.calls).toHaveLength(1);
    s.onWritable();
    await tick();
    expect(b.delivered.map(seqOf)).toEqual([0, 1, 2, 3]);
    expectIdentity(s);
  });

  test('drain is emitted after the queue frees up', async () => {
    const r = rig({ maxBatch: 1024, maxQueue: 4 });
    for (let i = 0; i < 5; i++) r.s.enqueue(datagram(i), 0, 4, 0);
    expect(r.drains).toBe(0);
    r.s.flush();
    await tick();
    expect(r.drains).toBe(1);
    r.s.enqueue(datagram(5), 0, 4, 0);
    r.s.flush();
    await tick();
    expect(r.drains).toBe(1); // only after a drop
  });

  test('the byte limit counts too', () => {
    const { s } = rig({ maxBatch: 1024, maxQueueBytes: 65536 });
    const big = Buffer.alloc(40000);
    expect(s.enqueue(big, 0, big.length, 0)).toBe(true);
    expect(s.enqueue(big, 0, big.length, 0)).toBe(false);
    expect(s.bytesQueued).toBe(40000);
    expectIdentity(s);
  });
});

describe('storage', () => {
  test('bytes are copied at enqueue: the caller may reuse its buffer at once', () => {
    const { s, b } = rig({ maxBatch: 3 });
    const buf = Buffer.alloc(8);
    for (let i = 0; i < 3; i++) {
      buf.fill(i);
      s.enqueue(buf, 0, buf.length, 0);
    }
    expect(b.delivered.map((d) => d.bytes[0])).toEqual([0, 1, 2]);
  });

  test('offset/length select a range', () => {
    const { s, b } = rig({ maxBatch: 1 });
    s.enqueue(Buffer.from('xxhelloxx'), 2, 5, 0);
    expect(b.delivered[0].bytes.toString()).toBe('hello');
  });

  test('ring wrap-around and growth keep every byte and the order across partial sends (randomised, seeded)', () => {
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const script = Array.from({ length: 4000 }, () => (rnd(3) === 0 ? { take: rnd(5), errno: EAGAIN } : { take: 1 << 20 }));
    const { s, b } = rig({ maxBatch: 37, maxQueue: 600, maxQueueBytes: 200_000 }, script);
    const expected: Buffer[] = [];
    let i = 0;
    for (let round = 0; round < 3000 && i < 20_000; round++) {
      const n = 1 + rnd(60);
      for (let k = 0; k < n; k++) {
        const d = datagram(i, rnd(1400));
        if (s.enqueue(d, 0, d.length, 0)) expected.push(d);
        i++;
      }
      if (s.blocked) s.onWritable();
      expectIdentity(s);
    }
    while (s.queued > 0) {
      if (s.blocked) s.onWritable();
      else s.flush();
    }
    expect(b.delivered.length).toBe(expected.length);
    for (let k = 0; k < expected.length; k++) {
      if (!b.delivered[k].bytes.equals(expected[k])) throw new Error(`datagram ${k} differs`);
    }
    expect(b.attachCount).toBeGreaterThan(1); // the ring grew at least once
    expect(s.sent + s.dropped).toBe(s.enqueued);
    expectIdentity(s);
  });

  test('peer reference counts follow queued datagrams', () => {
    const { s, refs } = rig({ maxBatch: 3 }, [{ take: 1 }]);
    s.enqueue(datagram(0), 0, 4, 2);
    s.enqueue(datagram(1), 0, 4, 2);
    expect(refs.refs[2]).toBe(2);
    s.enqueue(datagram(2), 0, 4, 5);
    expect(refs.refs[2]).toBe(1); // one of the two taken
    expect(refs.refs[5]).toBe(1);
    s.onWritable();
    expect(refs.refs[2]).toBe(0);
    expect(refs.refs[5]).toBe(0);
  });

  test('hold time is reported per flush from the oldest datagram', () => {
    const { s } = rig({ windowUs: 2000 });
    s.enqueue(datagram(0), 0, 4, 0);
    vi.advanceTimersByTime(2);
    const h = s.holdTime();
    expect(h.count).toBe(1);
    expect(h.max).toBeGreaterThanOrEqual(1900);
    expect(h.max).toBeLessThanOrEqual(2100);
  });
});

describe('reserve/commit (producers that fill slots themselves, e.g. the native RTP fan-out)', () => {
  /** Writes datagrams `seqs` into a reservation as native code does: contiguous bytes, consecutive slots. */
  function produce(s: SendScheduler, seqs: number[], pad: number, peer: number, arm = true): number {
    const r = s.reserve(seqs.length, seqs.length * (4 + pad))!;
    let pos = r.arenaOff;
    let n = 0;
    for (const seq of seqs) {
      const d = datagram(seq, pad);
      if (n >= r.slots || pos + d.length > r.arenaEnd) break;
      r.arena.set(d, pos);
      const slot = (r.slot + n) % r.offsets.length;
      r.offsets[slot] = pos;
      r.lengths[slot] = d.length;
      r.peers[slot] = peer;
      pos += d.length;
      n++;
    }
    s.commit(n, pos - r.arenaOff, r.arenaOff, seqs.length - n, arm);
    return n;
  }

  test('commit(…, arm = false) schedules no tick; flushDeferred() sends it in order; what the kernel refuses waits for writability', () => {
    const { s, b } = rig({ mode: 'tick' }, [{ take: 2, errno: EAGAIN }]);
    expect(produce(s, [0, 1, 2], 8, 1, false)).toBe(3);
    vi.advanceTimersByTime(10); // no immediate was armed
    expect(b.calls).toHaveLength(0);
    expect(s.queued).toBe(3);
    s.flushDeferred();
    expect(b.delivered.map(seqOf)).toEqual([0, 1]);
    expect(s.blocked).toBe(true); // EAGAIN: waits for writability, no tick armed behind it
    s.onWritable();
    expect(b.delivered.map(seqOf)).toEqual([0, 1, 2]);
    // An armed commit still gets its tick.
    expect(produce(s, [3], 8, 1)).toBe(1);
    expect(b.delivered).toHaveLength(3);
    vi.advanceTimersByTime(0);
    expect(b.delivered.map(seqOf)).toEqual([0, 1, 2, 3]);
    expectIdentity(s);
  });

  test('committed slots go after what was enqueued, in order, across arena wrap and slot growth; partial sends keep the tail first', () => {
    const { s, b, refs } = rig({ maxBatch: 1 << 20, mode: 'window' }, [{ take: 3, errno: EAGAIN }]);
    let seq = 0;
    const sent: number[] = [];
    for (let round = 0; round < 40; round++) {
      s.enqueue(datagram(seq), 0, 4, 1);
      sent.push(seq++);
      const batch = Array.from({ length: 37 }, () => seq++);
      expect(produce(s, batch, 900, 2)).toBe(37);
      sent.push(...batch);
      if (round % 3 === 2) {
        s.flush();
        if (s.blocked) s.onWritable();
      }
      expectIdentity(s);
    }
    s.flush();
    if (s.blocked) s.onWritable();
    expect(b.delivered.map(seqOf)).toEqual(sent);
    expect(b.delivered.filter((d) => d.peer === 2)).toHaveLength(40 * 37);
    expect(refs.refs[2]).toBe(0); // peer references released as the committed slots were sent
    expect(s.sent).toBe(sent.length);
    expectIdentity(s);
  });

  test('the queue limits bound a reservation; what does not fit is counted as dropped (queue full) and drain follows', () => {
    const { s, b } = rig({ maxQueue: 10, maxQueueBytes: 65536 });
    expect(produce(s, Array.from({ length: 25 }, (_, i) => i), 0, 0)).toBe(10);
    expect(s.droppedQueueFull).toBe(15);
    expect(s.enqueued).toBe(25);
    expectIdentity(s);
    expect(s.reserve(5, 100)!.slots).toBe(0);
    s.flush();
    expect(b.delivered.map(seqOf)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expectIdentity(s);
  });

  test('after close() there is no reservation', () => {
    const { s } = rig();
    s.close();
    expect(s.reserve(1, 10)).toBeUndefined();
  });
});

describe('flush and idle notices only when wanted', () => {
  test('unwanted: no notice is built or deferred; wanted again: the next flushes are reported', async () => {
    const wanted = { flush: false, idle: false };
    const nextTicks = vi.spyOn(process, 'nextTick');
    const r = rig({ wants: (n) => wanted[n] });
    for (let i = 0; i < 3; i++) r.s.enqueue(datagram(i), 0, 4, 0);
    vi.advanceTimersByTime(1);
    expect(r.b.calls).toEqual([{ requested: 3, taken: 3, errno: 0 }]);
    expect(nextTicks).not.toHaveBeenCalled(); // nothing deferred for this flush
    await tick();
    expect(r.events).toEqual([]);
    expect(r.idles).toBe(0);
    wanted.flush = wanted.idle = true;
    r.s.enqueue(datagram(3), 0, 4, 0);
    vi.advanceTimersByTime(1);
    await tick();
    expect(r.events.map((e) => [e.requested, e.sent])).toEqual([[1, 1]]);
    expect(r.idles).toBe(1);
    expectIdentity(r.s);
    nextTicks.mockRestore();
  });

  test('with a send callback deferred anyway, the notices are deferred too (decided at delivery: a callback may add a listener)', async () => {
    const r = rig({ wants: () => false });
    const done: (number | undefined)[] = [];
    r.s.enqueue(datagram(0), 0, 4, 0, (_err, bytes) => done.push(bytes));
    vi.advanceTimersByTime(1);
    await tick();
    expect(done).toEqual([4]);
    expect(r.events).toHaveLength(1);
    expect(r.idles).toBe(1);
  });

  test('flushes user code starts (flush(), a full batch) defer their notices whatever wants says', async () => {
    const r = rig({ wants: () => false, maxBatch: 2 });
    r.s.enqueue(datagram(0), 0, 4, 0);
    r.s.flush('flush');
    await tick();
    expect(r.events.map((e) => e.reason)).toEqual(['flush']);
    expect(r.idles).toBe(1);
  });
});
