import { afterEach, describe, expect, it, vi } from 'vitest';
import { CoalescedTimers } from '../../src/relay/coalesced-timers.js';
import { SenderRtcp, type RtcpOutput } from '../../src/relay/sender-rtcp.js';

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('CoalescedTimers (the relay’s shared per-viewer timers)', () => {
  it('callbacks due in the same slot run from one timer, never early and less than one grain late, in the order scheduled', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const t = new CoalescedTimers(50);
    const ran: [string, number][] = [];
    const start = performance.now();
    const at = (name: string, ms: number) => t.after(ms, () => ran.push([name, performance.now() - start]));
    at('a', 101);
    at('b', 120);
    at('c', 149);
    at('d', 151);
    expect(t.armed).toBe(2); // slot (100, 150] and slot (150, 200]
    expect(t.pending).toBe(4);
    expect(vi.getTimerCount()).toBe(2);
    vi.advanceTimersByTime(149);
    expect(ran).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(ran).toEqual([['a', 150], ['b', 150], ['c', 150]]);
    vi.advanceTimersByTime(50);
    expect(ran.map((r) => r[0])).toEqual(['a', 'b', 'c', 'd']);
    for (const [name, when] of ran) {
      const due = { a: 101, b: 120, c: 149, d: 151 }[name]!;
      expect(when).toBeGreaterThanOrEqual(due);
      expect(when - due).toBeLessThan(50);
    }
    expect(t.armed).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('cancel removes one callback; the slot’s timer goes with its last callback; a second cancel or one after running does nothing', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const t = new CoalescedTimers(50);
    const ran: string[] = [];
    const f = () => ran.push('f');
    const c1 = t.after(10, f);
    const c2 = t.after(20, f); // the same function twice: two entries
    const c3 = t.after(500, () => ran.push('late'));
    c1();
    c1();
    expect(t.pending).toBe(2);
    vi.advanceTimersByTime(50);
    expect(ran).toEqual(['f']);
    c2(); // already ran
    c3();
    expect(t.armed).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(1000);
    expect(ran).toEqual(['f']);
  });

  it('a callback that schedules again lands in a later slot (no tight loop), and the timers do not keep the process alive', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const t = new CoalescedTimers(50);
    let n = 0;
    const again = () => {
      n++;
      if (n < 5) t.after(0, again);
    };
    t.after(0, again);
    vi.advanceTimersByTime(0);
    expect(n).toBe(1); // a zero delay runs at the current slot's end, once
    vi.advanceTimersByTime(50 * 4);
    expect(n).toBe(5);
    const real = new CoalescedTimers(50);
    vi.useRealTimers();
    const spy = vi.spyOn(globalThis, 'setTimeout');
    const cancel = real.after(10_000, () => {});
    const handle = spy.mock.results[0]!.value as NodeJS.Timeout;
    expect(handle.hasRef()).toBe(false);
    cancel();
  });

  it('every() repeats each interval (less than one grain late) until cancelled, also from inside the callback', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const t = new CoalescedTimers(50);
    const start = performance.now();
    const runs: number[] = [];
    let cancel = () => {};
    cancel = t.every(1000, () => {
      runs.push(performance.now() - start);
      if (runs.length === 3) cancel();
    });
    vi.advanceTimersByTime(10_000);
    expect(runs.length).toBe(3);
    runs.forEach((at, i) => {
      expect(at).toBeGreaterThanOrEqual(1000 * (i + 1));
      expect(at).toBeLessThan(1000 * (i + 1) + 50 * (i + 1));
    });
    expect(t.pending).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    const other = t.every(100, () => {});
    vi.advanceTimersByTime(250);
    other();
    expect(t.pending).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects a grain that is not a positive number with ERR_OUT_OF_RANGE', () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new CoalescedTimers(bad)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE', name: 'RangeError' }));
    }
  });

  it('64 viewers’ sender reports (2 outputs, 0.5–1.5 s apart) and 1 s checks for 10 s: every report sent, one timer per 50 ms slot (≤ 20 wake-ups a second)', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance', 'Date'] });
    const spy = vi.spyOn(globalThis, 'setTimeout');
    const timers = new CoalescedTimers(50);
    let sent = 0;
    let checks = 0;
    let seed = 1;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const path = { send: () => (sent++, true) };
    const output = (kind: 'video' | 'audio', ssrc: number): RtcpOutput => ({
      kind,
      ssrc,
      clockRate: kind === 'video' ? 90000 : 48000,
      sent: () => ({ packets: 10, octets: 1000, lastTs: 0, lastSentAtMs: Date.now() }),
      retransmit: () => ({ retransmitted: 0, missed: 0 }),
    });
    const viewers = Array.from({ length: 64 }, (_, i) => new SenderRtcp({ outputs: [output('video', 2 * i + 1), output('audio', 2 * i + 2)], path, random, timers }));
    for (const v of viewers) v.start();
    const check = () => {
      checks++;
      timers.after(1000, check);
    };
    for (let i = 0; i < 64; i++) timers.after(1000 + i * 15, check);
    vi.advanceTimersByTime(10_000);
    for (const v of viewers) v.stop();
    // Each output reports every 0.5–1.5 s (mean 1 s): about 128 × 10 reports; each check once a second.
    expect(sent).toBeGreaterThan(128 * 10 * 0.8);
    expect(viewers.every((v) => v.counters.senderReports >= 2 * 6)).toBe(true);
    expect(checks).toBeGreaterThanOrEqual(64 * 9);
    // Separate timers would be one timer and one wake-up per report and per check (≈ 1,770 in
    // 10 s); shared 50 ms slots: one per slot up to the last one armed (10 s + 1.5 s) ≤ 231.
    expect(sent + checks).toBeGreaterThan(1600);
    expect(spy.mock.calls.length).toBeLessThanOrEqual(Math.ceil(11_500 / 50) + 1);
  });
});
