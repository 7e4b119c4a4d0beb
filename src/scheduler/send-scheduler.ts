/**
 * The packet scheduler: accumulates outgoing datagrams for at most one window (or until
 * a batch is full) and hands them to a {@link SendBackend} in one call, in order,
 * accounting for every datagram. The contract (order, per-datagram errors, accounting,
 * backpressure, `'per-peer'` order) is README "Semantics"; what is here is the policy —
 * enqueue, flush, close, timers and back-off. Storage is {@link SlotRing}, the per-peer
 * permutation {@link Regrouper}, and user callbacks run from {@link Completions}.
 *
 * This folder imports only ../types.ts, ../errors.ts and its own files: the socket layer
 * builds on it, never the reverse.
 */
import { constants } from 'node:os';
import hdr from 'hdr-histogram-js';
import { BatchSocketError, errnoName, systemError } from '../errors.js';
import type { FlushEvent, FlushMode, HoldTimeStats, SendCallback, SendOrder } from '../types.js';
import { Completions } from './completions.js';
import { Regrouper } from './regroup.js';
import { SlotRing, type PeerRefs, type SendRing, type SlotReservation } from './slot-ring.js';

export type { PeerRefs, SendRing, SlotReservation } from './slot-ring.js';

/** What the scheduler needs from the layer that talks to the kernel (native addon, or a scripted fake in tests). */
export interface SendBackend {
  /** The ring's arrays were (re)allocated: register them. */
  attach(ring: SendRing): void;
  /** Memory for the ring's arrays (e.g. native memory the backend reads without a lookup). Absent = ordinary ArrayBuffers. */
  allocate?(bytes: number): ArrayBuffer;
  /** Send ring slots `start … start+count-1 (mod capacity)`; returns how many the kernel took. */
  send(start: number, count: number): number;
  /** Errno (positive) of the first datagram the last `send` did not take. */
  lastErrno(): number;
  /** Arm (true) or cancel (false) a one-shot writable notification that calls {@link SendScheduler.onWritable}. */
  awaitWritable(on: boolean): void;
  /**
   * Whether `send` currently turns runs of equal-size datagrams to one peer into GSO
   * messages (regrouping by peer only pays off then). Absent = true.
   */
  gsoActive?(): boolean;
  /**
   * A precise one-shot timer for windows that are not a whole number of milliseconds
   * (libuv's timers have 1 ms granularity): arm it to call {@link SendScheduler.onWindowTimer}
   * `us` µs from now (re-arming moves the expiry). May throw when the system refuses a
   * timer: the scheduler then keeps the libuv timer. Absent = libuv timer only.
   */
  armTimer?(us: number): void;
  /** Cancels what {@link armTimer} armed. */
  disarmTimer?(): void;
}

export interface SchedulerOptions {
  maxBatch: number;
  windowUs: number;
  mode: FlushMode;
  maxQueue: number;
  maxQueueBytes: number;
  /** `'global'` (default): send order = enqueue order. `'per-peer'`: a flush may group by destination (see regroup.ts). */
  order?: SendOrder;
  /** Called with every flush outcome (deferred to after the flush, in order). */
  onFlush?: (event: FlushEvent) => void;
  /** Called when room returns after a drop. */
  onDrain?: () => void;
  /** Called when a flush leaves the queue empty (every datagram enqueued so far is sent, failed or dropped). */
  onIdle?: () => void;
  /**
   * Whether anyone wants `onFlush` / `onIdle` now (e.g. the socket has a `'flush'` / `'idle'`
   * listener). Asked only for a flush the event loop started (window, tick, writability)
   * that defers nothing else (no send callback): false then means that notice is neither
   * built nor deferred (no object, no `process.nextTick`). Flushes user code starts
   * (`flush()`, a full batch, `close()`) and flushes with send callbacks defer their notices
   * as always: a listener added right after, or in a callback, still gets them. Default:
   * wanted.
   */
  wants?: (notice: 'flush' | 'idle') => boolean;
  /** Address/port to attach to per-datagram errors. */
  describePeer?: (peerId: number) => { address?: string; port?: number };
}

const { EAGAIN, ENOBUFS, EINTR } = constants.errno;
/** Errnos that mean "not now": wait for writability and retry. */
const TRANSIENT = new Set([EAGAIN, ENOBUFS, EINTR]);
/** After this many ENOBUFS in a row with no progress, back off with a timer instead of writability (which may already be true). */
const ENOBUFS_BACKOFF_AFTER = 2;
/**
 * After this many ENOBUFS in a row with no progress (about 0.5 s of back-off), the
 * datagram at the head is taken to be one that can never get buffer space (e.g. a
 * fragmenting datagram on a device whose queue cannot hold its fragments): it fails
 * alone with ENOBUFS and the datagrams behind it go on.
 */
const ENOBUFS_FAIL_AFTER = 12;
const ENOBUFS_BACKOFF_MAX_MS = 64;

type Reason = FlushEvent['reason'];
/** Flushes the event loop starts (no user code on the stack to add a listener right after). */
const FROM_EVENT_LOOP: ReadonlySet<Reason> = new Set<Reason>(['window', 'tick', 'writable']);

export class SendScheduler {
  readonly opts: Readonly<SchedulerOptions>;
  private readonly backend: SendBackend;
  private readonly ring: SlotRing;
  private readonly regrouper = new Regrouper();
  private readonly done: Completions;
  private readonly reservation: SlotReservation = { arena: new Uint8Array(0), offsets: new Uint32Array(0), lengths: new Uint32Array(0), peers: new Int32Array(0), slot: 0, slots: 0, arenaOff: 0, arenaEnd: 0 };

  private oldestAt = 0; // performance.now() ms of the oldest queued datagram's window start
  private timer: NodeJS.Timeout | undefined;
  /** The backend's precise window timer is armed. */
  private preciseArmed = false;
  /** Window timer in use: 'precise' (backend.armTimer, µs) or 'libuv' (setTimeout, whole ms). */
  private timerKind: 'precise' | 'libuv';
  private immediate: NodeJS.Immediate | undefined;
  private backoffTimer: NodeJS.Timeout | undefined;
  private enobufsStreak = 0;
  private waitingWritable = false;
  private flushing = false;
  private closed = false;
  private needDrain = false;

  // Counters (datagrams unless named otherwise).
  enqueued = 0;
  sent = 0;
  failed = 0;
  droppedQueueFull = 0;
  droppedClosed = 0;
  bytesSent = 0;
  batches = 0;
  partialSends = 0;
  eagain = 0;
  readonly failures: Record<string, number> = Object.create(null);
  private readonly hold = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 2 });

  constructor(backend: SendBackend, opts: SchedulerOptions, peerRefs?: PeerRefs) {
    this.backend = backend;
    this.opts = opts;
    this.done = new Completions({ onFlush: opts.onFlush, onDrain: opts.onDrain, onIdle: opts.onIdle, isEmpty: () => this.ring.count === 0 });
    this.ring = new SlotRing(opts.maxQueue, opts.maxQueueBytes, (r) => backend.attach(r), peerRefs, backend.allocate?.bind(backend));
    // Whole-millisecond windows keep libuv's timer (no system call to arm or cancel); the
    // others need µs precision, which only the backend's timer has.
    this.timerKind = opts.mode === 'window' && opts.windowUs % 1000 !== 0 && backend.armTimer && backend.disarmTimer ? 'precise' : 'libuv';
  }

  /** The window timer in use: `'precise'` (the backend's µs timer) or `'libuv'` (setTimeout, 1 ms granularity). */
  get windowTimer(): 'precise' | 'libuv' {
    return this.timerKind;
  }

  /** Datagrams queued now. */
  get queued(): number {
    return this.ring.count;
  }
  get bytesQueued(): number {
    return this.ring.bytes;
  }
  get dropped(): number {
    return this.droppedQueueFull + this.droppedClosed;
  }
  /** Flushes whose queue was regrouped by peer (order `'per-peer'`). */
  get regroupedFlushes(): number {
    return this.regrouper.flushes;
  }
  /** True while a send waits for writable readiness (or an ENOBUFS back-off). */
  get blocked(): boolean {
    return this.waitingWritable || this.backoffTimer !== undefined;
  }
  /** True when a flush timer (window, tick or back-off) is pending. */
  get timerArmed(): boolean {
    return this.timer !== undefined || this.preciseArmed || this.immediate !== undefined || this.backoffTimer !== undefined;
  }

  /** The backend's precise window timer expired (see {@link SendBackend.armTimer}). */
  onWindowTimer(): void {
    if (!this.preciseArmed) return;
    this.preciseArmed = false;
    this.flush('window');
  }

  /**
   * Queues `bytes[start .. start+length)` (copied now) for `peerId` (-1 = connected).
   * Returns false, counts a drop and (later) calls `cb` with ERR_SOCKET_QUEUE_FULL when
   * the queue is full or the scheduler closed (ERR_SOCKET_CLOSED). Never throws for a
   * valid payload.
   */
  enqueue(bytes: Uint8Array, start: number, length: number, peerId: number, cb?: SendCallback): boolean {
    this.enqueued++;
    const ring = this.ring;
    if (this.closed) {
      this.droppedClosed++;
      if (cb) this.done.callback(cb, closedError(), 0);
      return false;
    }
    if (ring.count >= this.opts.maxQueue || ring.bytes + length > this.opts.maxQueueBytes) {
      this.droppedQueueFull++;
      this.needDrain = true;
      if (cb) this.done.callback(cb, new BatchSocketError('ERR_SOCKET_QUEUE_FULL', `Send queue full (${ring.count} datagrams, ${ring.bytes} bytes): datagram dropped`), 0);
      return false;
    }
    ring.push(bytes, start, length, peerId, cb);
    if (ring.count === 1) this.onFirstQueued();
    if (ring.count >= this.opts.maxBatch && !this.blocked) this.flush('batch');
    return true;
  }

  /**
   * Room for a producer that fills ring slots itself (the native RTP fan-out, one call per
   * receive batch): at most `slots` datagrams and `bytes` arena bytes, within the queue
   * limits (`maxQueue`, `maxQueueBytes`) — possibly less, possibly none (then `slots` is 0).
   * Returns undefined once closed. Pair with {@link SendScheduler.commit}; nothing may be
   * enqueued in between.
   */
  reserve(slots: number, bytes: number): SlotReservation | undefined {
    if (this.closed) return undefined;
    const ring = this.ring;
    const r = ring.reserve(Math.max(0, Math.min(slots, this.opts.maxQueue - ring.count)), Math.max(0, Math.min(bytes, this.opts.maxQueueBytes - ring.bytes)), this.reservation);
    if (ring.count >= this.opts.maxQueue) r.slots = 0;
    if (ring.bytes >= this.opts.maxQueueBytes) r.arenaEnd = r.arenaOff;
    return r;
  }

  /**
   * Queues the `n` datagrams (`bytes` bytes from `arenaOff`) a producer wrote into the last
   * reservation, and counts `dropped` more it could not fit (enqueued and dropped with
   * reason queue full, as {@link SendScheduler.enqueue} counts a refused datagram): the
   * accounting identity holds. They have no callbacks; their outcome is in the counters and
   * flush events like any other datagram's. Arms the window/tick timer as enqueue does.
   */
  /**
   * @param arm false: do not schedule the flush (tick mode's immediate) for a queue this
   *   commit makes non-empty: the caller promises {@link SendScheduler.flushDeferred} before
   *   the event-loop turn ends (the receive dispatcher's end of delivery).
   */
  commit(n: number, bytes: number, arenaOff: number, dropped = 0, arm = true): void {
    if (dropped > 0) {
      this.enqueued += dropped;
      this.droppedQueueFull += dropped;
      this.needDrain = true;
    }
    if (n === 0) return;
    const ring = this.ring;
    const wasEmpty = ring.count === 0;
    ring.commit(n, bytes, arenaOff);
    this.enqueued += n;
    if (wasEmpty) {
      if (arm) this.onFirstQueued();
      else this.oldestAt = performance.now();
    }
  }

  /**
   * The flush a `commit(…, arm = false)` deferred, in the same event-loop turn: sends what is
   * queued now, as the tick would have; what stays queued (no room in the kernel) waits for
   * writability as usual, or gets the tick if it is not blocked.
   */
  flushDeferred(): void {
    this.flush('tick');
    if (this.ring.count > 0 && !this.blocked) this.armTimer();
  }

  /** Sends everything queued now (as far as the kernel takes it). */
  flush(reason: Reason = 'flush'): void {
    const ring = this.ring;
    if (this.flushing || ring.count === 0) return;
    if (this.blocked && reason !== 'writable' && reason !== 'close') return;
    this.flushing = true;
    this.cancelTimers();
    try {
      const holdUs = Math.max(0, Math.round((performance.now() - this.oldestAt) * 1000));
      this.hold.recordValue(Math.max(1, holdUs));
      if (this.opts.order === 'per-peer' && ring.count > 1 && (this.backend.gsoActive?.() ?? true)) this.regrouper.regroup(ring);
      while (ring.count > 0 && this.sendOnce(holdUs, reason));
    } finally {
      this.regrouper.restore(ring);
      this.flushing = false;
    }
    // No user code runs inside the loop (completions are deferred), so it ends with the
    // queue empty or blocked on writability.
    if (ring.count === 0 && !this.skips('idle', reason)) this.done.idle();
    this.checkDrain();
  }

  /** Writable readiness arrived after EAGAIN/ENOBUFS. */
  onWritable(): void {
    if (!this.waitingWritable) return;
    this.waitingWritable = false;
    this.flush('writable');
  }

  /**
   * Flushes once more (best effort, no waiting), then drops whatever the kernel did not
   * take with reason `closed`; their callbacks get ERR_SOCKET_CLOSED. Idempotent.
   */
  close(): void {
    if (this.closed) return;
    if (this.waitingWritable) {
      this.backend.awaitWritable(false);
      this.waitingWritable = false;
    }
    if (this.backoffTimer) {
      clearTimeout(this.backoffTimer);
      this.backoffTimer = undefined;
    }
    this.closed = true;
    if (this.ring.count > 0 && !this.flushing) this.flush('close');
    this.cancelTimers();
    while (this.ring.count > 0) {
      const cb = this.ring.shift();
      this.droppedClosed++;
      if (cb) this.done.callback(cb, closedError(), 0);
    }
  }

  /** Hold-time percentiles (µs) of the oldest datagram per flush. */
  holdTime(): HoldTimeStats {
    const h = this.hold;
    if (h.totalCount === 0) return { p50: 0, p99: 0, max: 0, count: 0 };
    return { p50: h.getValueAtPercentile(50), p99: h.getValueAtPercentile(99), max: h.maxValue, count: h.totalCount };
  }

  /**
   * Queued datagrams addressed to peer `from` (-1: the connected peer) go to peer `to`
   * instead: used when the socket disconnects, so that what was queued while connected
   * still goes to the peer it was sent to. Returns how many were readdressed.
   */
  readdress(from: number, to: number): number {
    return this.ring.readdress(from, to);
  }

  /** Registers the ring with the backend again (e.g. after the backend re-created its state). */
  reattach(): void {
    this.backend.attach(this.ring.view());
  }

  // ---- internals -------------------------------------------------------------------

  /**
   * One backend call for everything queued; settles what it took and, on an errno, either
   * fails the head datagram (returns true: go on) or waits for room (returns false).
   */
  private sendOnce(holdUs: number, reason: Reason): boolean {
    const ring = this.ring;
    const requested = ring.count;
    const taken = this.backend.send(ring.head, requested);
    this.batches++;
    if (taken > 0) {
      this.enobufsStreak = 0;
      this.completeHead(taken);
    }
    if (taken === requested) {
      this.record(requested, taken, 0, null, holdUs, reason);
      return false;
    }
    this.partialSends += taken > 0 ? 1 : 0;
    const errno = this.backend.lastErrno() || EAGAIN;
    if (errno === ENOBUFS && this.enobufsStreak >= ENOBUFS_FAIL_AFTER) {
      // Permanent ENOBUFS: stop retrying this datagram (see ENOBUFS_FAIL_AFTER).
      this.enobufsStreak = 0;
    } else if (TRANSIENT.has(errno)) {
      this.record(requested, taken, errno, 'retry', holdUs, reason);
      this.eagain++;
      if (!this.closed) this.waitForRoom(errno);
      return false;
    }
    this.record(requested, taken, errno, 'failed', holdUs, reason);
    this.failHead(errno);
    return true;
  }

  private onFirstQueued(): void {
    this.oldestAt = performance.now();
    if (!this.blocked) this.armTimer();
  }

  private armTimer(): void {
    if (this.closed || this.timer || this.immediate || this.preciseArmed) return;
    if (this.opts.mode === 'tick') {
      this.immediate = setImmediate(this.onTick);
      return;
    }
    if (this.timerKind === 'precise') {
      try {
        this.backend.armTimer!(this.opts.windowUs);
        this.preciseArmed = true;
        return;
      } catch {
        // The system refused a timer (e.g. EMFILE for the timerfd): hold the window with
        // libuv's timer from now on — coarser, never lost.
        this.timerKind = 'libuv';
      }
    }
    this.timer = setTimeout(this.onWindow, Math.max(1, Math.ceil(this.opts.windowUs / 1000)));
  }

  private cancelTimers(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.preciseArmed) {
      this.preciseArmed = false;
      try {
        this.backend.disarmTimer!();
      } catch {
        // Refused to disarm: a late expiry finds preciseArmed false and is ignored.
      }
    }
    if (this.immediate) {
      clearImmediate(this.immediate);
      this.immediate = undefined;
    }
  }

  private readonly onWindow = (): void => {
    this.timer = undefined;
    this.flush('window');
  };

  private readonly onTick = (): void => {
    this.immediate = undefined;
    this.flush('tick');
  };

  private waitForRoom(errno: number): void {
    if (errno === ENOBUFS && ++this.enobufsStreak > ENOBUFS_BACKOFF_AFTER) {
      // ENOBUFS need not clear with writability: back off (1, 2, 4 … 64 ms) rather than spin.
      const ms = Math.min(ENOBUFS_BACKOFF_MAX_MS, 1 << Math.min(6, this.enobufsStreak - ENOBUFS_BACKOFF_AFTER - 1));
      this.backoffTimer = setTimeout(() => {
        this.backoffTimer = undefined;
        this.flush('writable');
      }, ms);
      return;
    }
    this.waitingWritable = true;
    this.backend.awaitWritable(true);
  }

  /** The `taken` datagrams at the head were accepted by the kernel. */
  private completeHead(taken: number): void {
    const ring = this.ring;
    for (let i = 0; i < taken; i++) {
      const len = ring.lengths[ring.head];
      const cb = ring.shift();
      this.bytesSent += len;
      if (cb) this.done.callback(cb, null, len);
    }
    this.sent += taken;
  }

  /** The datagram at the head failed with `errno`: it alone fails. */
  private failHead(errno: number): void {
    const peer = this.ring.peers[this.ring.head];
    const cb = this.ring.shift();
    this.failed++;
    const code = errnoName(errno);
    this.failures[code] = (this.failures[code] ?? 0) + 1;
    if (cb) {
      const where = this.opts.describePeer?.(peer) ?? {};
      this.done.callback(cb, systemError(errno, 'sendmmsg', where.address, where.port), 0);
    }
  }

  private record(requested: number, sent: number, errno: number, action: FlushEvent['action'], holdUs: number, reason: Reason): void {
    if (!this.opts.onFlush || this.skips('flush', reason)) return;
    this.done.flush({ requested, sent, code: errno ? errnoName(errno) : null, errno: -errno, action, holdUs, reason });
  }

  /** Whether a notice of this flush can be left out: unwanted, from the event loop, and nothing else deferred (see `wants`). */
  private skips(notice: 'flush' | 'idle', reason: Reason): boolean {
    return this.opts.wants !== undefined && FROM_EVENT_LOOP.has(reason) && !this.done.pending && !this.opts.wants(notice);
  }

  private checkDrain(): void {
    const ring = this.ring;
    if (this.needDrain && ring.count <= this.opts.maxQueue / 2 && ring.bytes <= this.opts.maxQueueBytes / 2) {
      this.needDrain = false;
      this.done.drain();
    }
  }
}

function closedError(): BatchSocketError {
  return new BatchSocketError('ERR_SOCKET_CLOSED', 'The socket was closed before the datagram was sent');
}
