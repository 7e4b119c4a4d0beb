/**
 * Completion delivery: user code (send callbacks, `'flush'`, `'drain'`, `'idle'`) never
 * runs inside a flush; it is queued here and run on the next tick, in that order.
 *
 * A throwing user callback must not cost the others: every one runs, the first error is
 * rethrown at the end and later ones on later ticks — each surfaces as an uncaught
 * exception, as each of node:dgram's callbacks would. {@link keepFirst} and
 * {@link throwFirst} are that rule, shared with the receive fan-out of the sockets.
 */
import type { FlushEvent, SendCallback } from '../types.js';

/** The first error caught by a fan-out, boxed (a thrown `undefined` is still an error). */
export type FirstError = { error: unknown } | undefined;

/** Records `error`: kept when it is the first, else raised on a later tick. Returns the first. */
export function keepFirst(first: FirstError, error: unknown): FirstError {
  if (first === undefined) return { error };
  process.nextTick(rethrow, error);
  return first;
}

/** Throws the first error of a fan-out, if there was one. */
export function throwFirst(first: FirstError): void {
  if (first !== undefined) throw first.error;
}

function rethrow(error: unknown): never {
  throw error;
}

export interface CompletionHandlers {
  onFlush?: (event: FlushEvent) => void;
  onDrain?: () => void;
  onIdle?: () => void;
  /** Checked when the idle notice runs: callbacks may have queued more datagrams. */
  isEmpty: () => boolean;
}

/** The deferred completions of one scheduler. */
export class Completions {
  private cbs: SendCallback[] = [];
  private errs: (Error | null)[] = [];
  private bytes: number[] = [];
  private events: FlushEvent[] = [];
  private drainDue = false;
  private idleDue = false;
  private scheduled = false;

  constructor(private readonly h: CompletionHandlers) {}

  /** Queues `cb(err, bytes)`. */
  callback(cb: SendCallback, err: Error | null, bytes: number): void {
    this.cbs.push(cb);
    this.errs.push(err);
    this.bytes.push(bytes);
    this.schedule();
  }

  /** Queues a flush outcome (dropped at once without an `onFlush` handler). */
  flush(event: FlushEvent): void {
    if (!this.h.onFlush) return;
    this.events.push(event);
    this.schedule();
  }

  /** Queues one `onDrain`. */
  drain(): void {
    if (!this.h.onDrain) return;
    this.drainDue = true;
    this.schedule();
  }

  /** Queues one `onIdle` (run only if the queue is still empty then). */
  idle(): void {
    if (!this.h.onIdle) return;
    this.idleDue = true;
    this.schedule();
  }

  /** Something is deferred (its `process.nextTick` is queued). */
  get pending(): boolean {
    return this.scheduled;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    process.nextTick(this.run);
  }

  /** Runs deferred callbacks, then flush events, then drain, then idle — each exactly once, in order. */
  private readonly run = (): void => {
    this.scheduled = false;
    const { cbs, errs, bytes, events, h } = this;
    this.cbs = [];
    this.errs = [];
    this.bytes = [];
    this.events = [];
    let first: FirstError;
    for (let i = 0; i < cbs.length; i++) {
      try {
        cbs[i](errs[i], bytes[i]);
      } catch (e) {
        first = keepFirst(first, e);
      }
    }
    for (const ev of events) {
      try {
        h.onFlush!(ev);
      } catch (e) {
        first = keepFirst(first, e);
      }
    }
    if (this.drainDue) {
      this.drainDue = false;
      try {
        h.onDrain!();
      } catch (e) {
        first = keepFirst(first, e);
      }
    }
    if (this.idleDue) {
      this.idleDue = false;
      try {
        if (h.isEmpty()) h.onIdle!();
      } catch (e) {
        first = keepFirst(first, e);
      }
    }
    throwFirst(first);
  };
}
