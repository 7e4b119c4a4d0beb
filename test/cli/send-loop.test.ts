/**
 * The sender's loop against a scripted in-test socket (a shim that lives only in this
 * file): backpressure (send() → false = dropped) must not leave gaps in the sequence,
 * bursts must yield to the event loop, pacing must send each datagram at its due time on
 * the clock it reads (a fake one here: the machine's speed is not under test).
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import type { SendOptions } from '../../src/cli/args.js';
import { UBL1_MAGIC } from '../../src/cli/ubl1.js';

interface Fake extends EventEmitter {
  captured: Array<[number, number, bigint]>;
  refusals: number;
  ticks: number;
}

let current: Fake;
/** Queue capacity of the fake; a 'kernel' drains it on every setImmediate turn. */
let capacity = 1000;

vi.mock('../../src/index.js', () => ({
  createBatchSocket: () => {
    const s = new EventEmitter() as Fake & Record<string, unknown>;
    s.captured = [];
    s.refusals = 0;
    s.ticks = 0;
    let queued = 0;
    let sent = 0;
    let needDrain = false;
    let open = true;
    const kernel = (): void => {
      if (!open) return;
      s.ticks++;
      const wasQueued = queued;
      sent += queued;
      queued = 0;
      if (needDrain) {
        needDrain = false;
        s.emit('drain');
      }
      if (wasQueued > 0) s.emit('idle'); // as the library: the queue just became empty
      setImmediate(kernel);
    };
    Object.assign(s, {
      backend: 'dgram',
      bind: (_port: number, _addr: string, cb: () => void) => {
        setImmediate(kernel);
        setImmediate(cb);
        return s;
      },
      peer: () => ({
        send(buf: Buffer): boolean {
          if (queued >= capacity) {
            s.refusals++;
            needDrain = true;
            return false;
          }
          expect(buf.readUInt32BE(0)).toBe(UBL1_MAGIC);
          s.captured.push([buf.readUInt32BE(4), buf.readUInt32BE(12), buf.readBigUInt64BE(16)]);
          queued++;
          return true;
        },
      }),
      flush: () => {},
      close: (cb: () => void) => {
        open = false;
        setImmediate(cb);
      },
      stats: () => ({
        backend: 'dgram', enqueued: sent + queued + s.refusals, sent, failed: 0, dropped: s.refusals, queued, queuedBytes: 0, bytesSent: sent * 100,
        syscalls: sent, partialSends: 0, eagain: 0, batches: 0, failures: {}, drops: { queueFull: s.refusals, closed: 0 },
        holdUs: { p50: 0, p99: 0, max: 0, count: 0 }, sendBufferSize: 0,
      }),
    });
    current = s;
    return s;
  },
}));

const { runSend } = await import('../../src/cli/send.js');

function options(over: Partial<SendOptions>): SendOptions {
  return {
    command: 'send', to: { host: '127.0.0.1', port: 9, family: 4 }, count: 10_000, durationS: null, size: 100, rate: 0, flows: 1,
    backend: 'dgram', batch: null, windowUs: null, sendBufferSize: null, gso: true, json: true, allowRemote: false, ...over,
  };
}

function expectContiguous(captured: Array<[number, number, bigint]>, flows: number, total: number): void {
  const next = new Array<number>(flows).fill(0);
  captured.forEach(([flow, seq], i) => {
    expect(flow).toBe(i % flows); // round-robin
    expect(seq).toBe(next[flow]); // no gap, no repeat
    next[flow]++;
  });
  expect(captured.length).toBe(total);
}

/**
 * Runs `start` with setTimeout and process.hrtime on a fake clock advanced 1 ms at a time
 * (setImmediate stays real: the fake socket's 'kernel' turns on it), so pacing is checked
 * against the clock it reads, not against how busy the machine is. Returns the result and
 * each captured datagram's send time in ms after the first one's.
 */
async function onFakeClock<T>(start: () => Promise<T>): Promise<{ result: T; sendTimesMs: number[] }> {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'hrtime'] });
  try {
    let done = false;
    const run = start().finally(() => {
      done = true;
    });
    for (let ms = 0; !done && ms < 60_000; ms++) await vi.advanceTimersByTimeAsync(1);
    const result = await run;
    const t0 = current.captured[0][2];
    return { result, sendTimesMs: current.captured.map(([, , t]) => Number(t - t0) / 1e6) };
  } finally {
    vi.useRealTimers();
  }
}

describe('runSend loop', () => {
  it('at --rate 0, a refused datagram is re-sent with the same seq after drain: no gaps', async () => {
    const r = await runSend(options({ count: 10_000, flows: 3 }));
    expect(current.refusals).toBeGreaterThan(0); // backpressure really happened
    expectContiguous(current.captured, 3, 10_000);
    expect(r.enqueued).toBe(10_000);
    expect(r.sent).toBe(10_000);
    expect(r.resent).toBe(current.refusals);
    expect(r.drainWaits).toBe(current.refusals);
    // Send times are stamped per datagram and never go backwards.
    for (let i = 1; i < current.captured.length; i++) expect(current.captured[i][2] >= current.captured[i - 1][2]).toBe(true);
  });

  it('yields to the event loop between bursts even without backpressure', async () => {
    capacity = 1_000_000;
    try {
      await runSend(options({ count: 3 * 4096 + 1 }));
    } finally {
      capacity = 1000;
    }
    expect(current.refusals).toBe(0);
    // Four bursts of at most 4096, each followed by a setImmediate turn the 'kernel' ran in.
    expect(current.ticks).toBeGreaterThanOrEqual(4);
    expectContiguous(current.captured, 1, 3 * 4096 + 1);
  });

  it('paces at --rate: each datagram leaves at its due time (i / rate), none early, and it stops at --count', async () => {
    const { result: r, sendTimesMs } = await onFakeClock(() => runSend(options({ count: 600, rate: 3000 })));
    expectContiguous(current.captured, 1, 600);
    expect(r.enqueued).toBe(600);
    // The pacing timer wakes every 1 ms (libuv's granularity) and sends what is due by then:
    // datagram i is due at i/3 ms and leaves at the first wake-up at or after that.
    expect(sendTimesMs).toEqual(Array.from({ length: 600 }, (_, i) => Math.ceil(i / 3)));
    expect(r.durationS).toBeGreaterThanOrEqual(0.199);
  });

  it('stops at --duration when no count is given: what was due before it, nothing after', async () => {
    const { result: r, sendTimesMs } = await onFakeClock(() => runSend(options({ count: null, durationS: 0.2, rate: 1000 })));
    // Due at 0, 1, …, 199 ms; the one due at 200 ms is past the duration.
    expect(sendTimesMs).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expectContiguous(current.captured, 1, 200);
    expect(r.enqueued).toBe(200);
    expect(r.durationS).toBeGreaterThanOrEqual(0.2);
  });

  it('stops early on abort and still reports', async () => {
    const ac = new AbortController();
    const { result: r, sendTimesMs } = await onFakeClock(() => {
      setTimeout(() => ac.abort(), 50);
      return runSend(options({ count: 1_000_000, rate: 1000 }), { signal: ac.signal });
    });
    // The abort at 50 ms ends the pacing: nothing due later is sent.
    expect(Math.max(...sendTimesMs)).toBeLessThanOrEqual(50);
    expect(r.enqueued).toBe(sendTimesMs.length);
    expect(r.sent).toBe(r.enqueued);
  });
});
