/**
 * Per-viewer timers that share event-loop wake-ups.
 *
 * A relay with N viewers runs, per viewer, a sender report timer per output (RFC 3550
 * §6.2: a random 0.5–1.5 s apart) and a 1 s liveness check. As separate libuv timers they
 * expire at N distinct instants: with 64 idle viewers the relay woke ≈ 480 times a second
 * (`perf stat -e syscalls:sys_enter_epoll_pwait`) for ≈ 190 timer callbacks a second, and
 * each wake-up of the event loop costs far more than the callback. Here every callback due
 * within the same `grainMs` slot of the monotonic clock runs from one libuv timer: at most
 * `1000 / grainMs` wake-ups a second whatever the number of viewers, each callback late by
 * less than `grainMs` (a report interval of 0.5–1.5 s stays within RFC 3550's).
 *
 * Timers are unref'd (they never keep the process alive), as the per-viewer timers were.
 */

/** Cancels a scheduled callback; calling it again, or after the callback ran, does nothing. */
export type CancelTimer = () => void;

/** What {@link CoalescedTimers} offers; the relay's RTCP and viewers take it by injection. */
export interface TimerSource {
  /** Runs `fn` once, at least `ms` (milliseconds) from now and less than the grain later. */
  after(ms: number, fn: () => void): CancelTimer;
}

/** Callbacks grouped by the slot (of `grainMs`) their due time falls in; one libuv timer per slot. */
export class CoalescedTimers implements TimerSource {
  private readonly slots = new Map<number, { timer: NodeJS.Timeout; fns: Set<() => void> }>();

  /**
   * @param grainMs slot width in milliseconds (> 0; default 50): the most a callback can be
   *   late, and 1000 / grainMs the most wake-ups a second.
   * @param now monotonic clock in ms (default `performance.now`).
   * @throws RangeError with code ERR_OUT_OF_RANGE when `grainMs` is not a positive finite number.
   */
  constructor(
    readonly grainMs = 50,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(grainMs > 0) || !Number.isFinite(grainMs)) {
      throw Object.assign(new RangeError(`grainMs must be a positive number of milliseconds, got ${grainMs}`), { code: 'ERR_OUT_OF_RANGE' });
    }
  }

  /** Number of callbacks waiting (for tests and metrics). */
  get pending(): number {
    let n = 0;
    for (const s of this.slots.values()) n += s.fns.size;
    return n;
  }

  /** Number of libuv timers armed: one per non-empty slot. */
  get armed(): number {
    return this.slots.size;
  }

  after(ms: number, fn: () => void): CancelTimer {
    const now = this.now();
    const slot = Math.ceil((now + Math.max(0, ms)) / this.grainMs);
    let s = this.slots.get(slot);
    if (!s) {
      const timer = setTimeout(() => this.fire(slot), Math.max(0, slot * this.grainMs - now));
      timer.unref();
      s = { timer, fns: new Set() };
      this.slots.set(slot, s);
    }
    // A wrapper per call, so one function scheduled twice is two entries, each cancellable.
    const entry = (): void => fn();
    s.fns.add(entry);
    const held = s;
    return () => {
      if (!held.fns.delete(entry) || held.fns.size > 0) return;
      clearTimeout(held.timer);
      if (this.slots.get(slot) === held) this.slots.delete(slot);
    };
  }

  /**
   * Runs `fn` every `ms` (milliseconds) after its previous run, less than the grain late, until the returned
   * cancel is called (also from inside `fn`). The next run is scheduled before `fn` runs, so a
   * throwing `fn` keeps repeating, as with setInterval.
   */
  every(ms: number, fn: () => void): CancelTimer {
    let cancel: CancelTimer;
    const tick = (): void => {
      cancel = this.after(ms, tick);
      fn();
    };
    cancel = this.after(ms, tick);
    return () => cancel();
  }

  private fire(slot: number): void {
    const s = this.slots.get(slot);
    if (!s) return;
    this.slots.delete(slot);
    for (const fn of s.fns) {
      try {
        fn();
      } catch (err) {
        // As from a timer of its own: the error is uncaught; the other callbacks still run.
        process.nextTick(() => {
          throw err;
        });
      }
    }
  }
}

/** The relay-wide instance (50 ms grain). */
export const relayTimers = new CoalescedTimers(50);
