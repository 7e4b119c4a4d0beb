/**
 * The packet scheduler: accumulates outgoing datagrams for at most one window (or until
 * a batch is full) and hands them to a {@link SendBackend} in one call, in order,
 * accounting for every datagram.
 *
 * Semantics (see README "Semantics"):
 * - Order: datagrams leave in enqueue order; after a partial send the unsent tail stays
 *   at the head and goes before anything newer.
 * - Errors per datagram: a transient errno (EAGAIN, EWOULDBLOCK, ENOBUFS, EINTR) waits
 *   for writability and retries with nothing lost or reordered; any other errno fails
 *   the datagram it belongs to (its callback gets the error) and the rest go on.
 * - Accounting: `enqueued === sent + failed + dropped + queued` at every moment.
 * - Idle costs nothing: the window timer is armed only on empty → non-empty.
 * - Backpressure: bounded by datagrams and bytes; a full queue drops (counted) and
 *   `send()` returns false; `'drain'` fires once room returns (half the limits free).
 *
 * Storage: a ring of slots (offset, length, peer id, callback) over a ring arena of
 * bytes. Both grow by doubling up to their limits, so an idle or lightly used socket
 * stays small. The caller's bytes are copied at enqueue, so it may reuse its buffer.
 *
 * Order `'per-peer'` (regrouping for GSO): at each flush, when the backend uses GSO, the
 * queued slots are permuted — bytes never move — into groups by destination (the
 * destination queued first goes first), each group in enqueue order, so that a fan-out
 * (packet 1 to viewers 1…N, packet 2 to viewers 1…N, …) becomes runs of equal-size
 * datagrams per viewer that the backend sends as GSO messages. Each destination's order is
 * kept; callbacks run in send order. Whatever the kernel did not take is put back in its
 * original relative order before the flush returns, which keeps the arena invariant the
 * allocator relies on (slot order = byte order in the arena ring).
 */
import { Buffer } from 'node:buffer';
import hdr from 'hdr-histogram-js';
import { BatchSocketError, errnoName, systemError } from '../errors.js';
import type { FlushEvent, FlushMode, HoldTimeStats, SendCallback, SendOrder } from '../types.js';

/** The ring the backend reads from. Slot s: `lengths[s]` bytes at `arena[offsets[s]]` to peer `peers[s]` (-1 = connected). */
export interface SendRing {
  arena: Uint8Array;
  offsets: Uint32Array;
  lengths: Uint32Array;
  peers: Int32Array;
}

/** What the scheduler needs from the layer that talks to the kernel (native addon, or a scripted fake in tests). */
export interface SendBackend {
  /** The ring's arrays were (re)allocated: register them. */
  attach(ring: SendRing): void;
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
}

/** Per-peer reference counts, so a peer table can evict entries no queued datagram uses. */
export interface PeerRefs {
  refs: Int32Array;
}

export interface SchedulerOptions {
  maxBatch: number;
  windowUs: number;
  mode: FlushMode;
  maxQueue: number;
  maxQueueBytes: number;
  /** `'global'` (default): send order = enqueue order. `'per-peer'`: a flush may group by destination (see the module doc). */
  order?: SendOrder;
  /** Called with every flush outcome (deferred to after the flush, in order). */
  onFlush?: (event: FlushEvent) => void;
  /** Called when room returns after a drop. */
  onDrain?: () => void;
  /** Called when a flush leaves the queue empty (every datagram enqueued so far is sent, failed or dropped). */
  onIdle?: () => void;
  /** Address/port to attach to per-datagram errors. */
  describePeer?: (peerId: number) => { address?: string; port?: number };
}

/** Errnos that mean "not now": wait for writability and retry. */
const EAGAIN = 11;
const ENOBUFS = 105;
const EINTR = 4;
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

const INITIAL_SLOTS = 256;
const INITIAL_ARENA = 64 * 1024;
/** Arena slack above maxQueueBytes: the ring wastes less than one largest datagram at its end. */
const ARENA_SLACK = 65536;

type Reason = FlushEvent['reason'];

export class SendScheduler {
  readonly opts: Readonly<SchedulerOptions>;
  private readonly backend: SendBackend;
  private readonly peerRefs: PeerRefs | undefined;

  // Slot ring.
  private cap = 0;
  private offsets!: Uint32Array;
  private lengths!: Uint32Array;
  private peers!: Int32Array;
  private callbacks: (SendCallback | undefined)[] = [];
  private head = 0;
  private count = 0;

  // Regrouping scratch (order 'per-peer'), sized with the ring; allocated on first use.
  private rgOffsets: Uint32Array | undefined;
  private rgLengths: Uint32Array | undefined;
  private rgPeers: Int32Array | undefined;
  private rgCallbacks: (SendCallback | undefined)[] = [];
  /** Original queue position of the datagram at each position of the regrouped queue. */
  private rgOrig: Uint32Array | undefined;
  /** Per group: count, then next write position. */
  private rgGroupPos: Uint32Array | undefined;
  /** Per peer id + 1: epoch stamp and group index (grown with the peer ids seen). */
  private rgStamp = new Uint32Array(64);
  private rgGroup = new Uint32Array(64);
  private rgEpoch = 0;
  /** Datagrams in the queue when the current flush regrouped it (0 = not regrouped). */
  private rgCount = 0;
  regroupedFlushes = 0;

  // Byte arena (a Buffer so strings can be written in place).
  private arena!: Buffer;
  private arenaTail = 0;
  private queuedBytes = 0;
  private readonly arenaMax: number;

  // Timing.
  private oldestAt = 0; // performance.now() ms of the oldest queued datagram's window start
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private backoffTimer: NodeJS.Timeout | undefined;
  private enobufsStreak = 0;
  private waitingWritable = false;
  private flushing = false;
  private closed = false;
  private needDrain = false;

  // Deferred completions: callbacks, flush events and drain run after the flush, never inside send().
  private doneCbs: SendCallback[] = [];
  private doneErrs: (Error | null)[] = [];
  private doneBytes: number[] = [];
  private doneEvents: FlushEvent[] = [];
  private drainDue = false;
  private idleDue = false;
  private completionScheduled = false;

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
    this.peerRefs = peerRefs;
    this.arenaMax = opts.maxQueueBytes + ARENA_SLACK;
    this.allocate(Math.min(INITIAL_SLOTS, opts.maxQueue), Math.min(INITIAL_ARENA, this.arenaMax));
  }

  /** Datagrams queued now. */
  get queued(): number {
    return this.count;
  }
  get bytesQueued(): number {
    return this.queuedBytes;
  }
  get dropped(): number {
    return this.droppedQueueFull + this.droppedClosed;
  }
  /** True while a send waits for writable readiness (or an ENOBUFS back-off). */
  get blocked(): boolean {
    return this.waitingWritable || this.backoffTimer !== undefined;
  }
  /** True when a flush timer (window, tick or back-off) is pending. */
  get timerArmed(): boolean {
    return this.timer !== undefined || this.immediate !== undefined || this.backoffTimer !== undefined;
  }

  /**
   * Queues `bytes[start .. start+length)` (copied now) for `peerId` (-1 = connected).
   * Returns false, counts a drop and (later) calls `cb` with ERR_SOCKET_QUEUE_FULL when
   * the queue is full or the scheduler closed (ERR_SOCKET_CLOSED). Never throws for a
   * valid payload.
   */
  enqueue(bytes: Uint8Array, start: number, length: number, peerId: number, cb?: SendCallback): boolean {
    this.enqueued++;
    if (this.closed) {
      this.droppedClosed++;
      if (cb) this.complete(cb, new BatchSocketError('ERR_SOCKET_CLOSED', 'The socket was closed before the datagram was sent'), 0);
      return false;
    }
    if (this.count >= this.opts.maxQueue || this.queuedBytes + length > this.opts.maxQueueBytes) {
      this.droppedQueueFull++;
      this.needDrain = true;
      if (cb) this.complete(cb, new BatchSocketError('ERR_SOCKET_QUEUE_FULL', `Send queue full (${this.count} datagrams, ${this.queuedBytes} bytes): datagram dropped`), 0);
      return false;
    }
    if (this.count === this.cap) this.growSlots();
    let off = this.place(length);
    if (off < 0) {
      this.growArena(length);
      off = this.place(length);
    }
    const arena = this.arena;
    if (start === 0 && length === bytes.length) arena.set(bytes, off);
    else arena.set(bytes.subarray(start, start + length), off);
    this.arenaTail = off + length;
    const slot = (this.head + this.count) % this.cap;
    this.offsets[slot] = off;
    this.lengths[slot] = length;
    this.peers[slot] = peerId;
    this.callbacks[slot] = cb;
    if (peerId >= 0 && this.peerRefs) this.peerRefs.refs[peerId]++;
    this.queuedBytes += length;
    this.count++;
    if (this.count === 1) this.onFirstQueued();
    if (this.count >= this.opts.maxBatch && !this.blocked) this.flush('batch');
    return true;
  }

  /** Sends everything queued now (as far as the kernel takes it). */
  flush(reason: Reason = 'flush'): void {
    if (this.flushing || this.count === 0) return;
    if (this.blocked && reason !== 'writable' && reason !== 'close') return;
    this.flushing = true;
    this.cancelTimers();
    try {
      const holdUs = Math.max(0, Math.round((performance.now() - this.oldestAt) * 1000));
      this.hold.recordValue(Math.max(1, holdUs));
      if (this.opts.order === 'per-peer' && this.count > 1 && (this.backend.gsoActive?.() ?? true)) this.regroup();
      while (this.count > 0) {
        const requested = this.count;
        const taken = this.backend.send(this.head, requested);
        this.batches++;
        if (taken > 0) {
          this.enobufsStreak = 0;
          this.completeHead(taken);
        }
        if (taken === requested) {
          this.record(requested, taken, 0, null, holdUs, reason);
          break;
        }
        this.partialSends += taken > 0 ? 1 : 0;
        const errno = this.backend.lastErrno() || EAGAIN;
        if (errno === ENOBUFS && this.enobufsStreak >= ENOBUFS_FAIL_AFTER) {
          // Permanent ENOBUFS: stop retrying this datagram (see ENOBUFS_FAIL_AFTER).
          this.enobufsStreak = 0;
          this.record(requested, taken, errno, 'failed', holdUs, reason);
          this.failHead(errno);
          continue;
        }
        if (TRANSIENT.has(errno)) {
          this.record(requested, taken, errno, 'retry', holdUs, reason);
          this.eagain++;
          if (!this.closed) this.waitForRoom(errno);
          break;
        }
        this.record(requested, taken, errno, 'failed', holdUs, reason);
        this.failHead(errno);
      }
    } finally {
      if (this.rgCount > 0) this.restoreOrder();
      this.flushing = false;
    }
    // No user code runs inside the loop (callbacks and events are deferred), so it ends
    // with the queue empty or blocked on writability.
    if (this.count === 0) {
      this.arenaTail = 0;
      if (this.opts.onIdle) {
        this.idleDue = true;
        this.scheduleCompletion();
      }
    }
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
    if (this.count > 0 && !this.flushing) this.flush('close');
    this.cancelTimers();
    while (this.count > 0) {
      const cb = this.releaseHead();
      this.droppedClosed++;
      if (cb) this.complete(cb, new BatchSocketError('ERR_SOCKET_CLOSED', 'The socket was closed before the datagram was sent'), 0);
    }
  }

  /** Hold-time percentiles (µs) of the oldest datagram per flush. */
  holdTime(): HoldTimeStats {
    const h = this.hold;
    if (h.totalCount === 0) return { p50: 0, p99: 0, max: 0, count: 0 };
    return { p50: h.getValueAtPercentile(50), p99: h.getValueAtPercentile(99), max: h.maxValue, count: h.totalCount };
  }

  /** Registers the ring with the backend again (e.g. after the backend re-created its state). */
  reattach(): void {
    this.backend.attach({ arena: this.arena, offsets: this.offsets, lengths: this.lengths, peers: this.peers });
  }

  // ---- internals -------------------------------------------------------------------

  private onFirstQueued(): void {
    this.oldestAt = performance.now();
    if (!this.blocked) this.armTimer();
  }

  private armTimer(): void {
    if (this.closed || this.timer || this.immediate) return;
    if (this.opts.mode === 'tick') {
      this.immediate = setImmediate(this.onTick);
    } else {
      this.timer = setTimeout(this.onWindow, Math.max(1, Math.ceil(this.opts.windowUs / 1000)));
    }
  }

  private cancelTimers(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
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
    for (let i = 0; i < taken; i++) {
      const len = this.lengths[this.head];
      const cb = this.releaseHead();
      this.bytesSent += len;
      if (cb) this.complete(cb, null, len);
    }
    this.sent += taken;
  }

  /** The datagram at the head failed with `errno`: it alone fails. */
  private failHead(errno: number): void {
    const peer = this.peers[this.head];
    const cb = this.releaseHead();
    this.failed++;
    const code = errnoName(errno);
    this.failures[code] = (this.failures[code] ?? 0) + 1;
    if (cb) {
      const where = this.opts.describePeer?.(peer) ?? {};
      this.complete(cb, systemError(errno, 'sendmmsg', where.address, where.port), 0);
    }
  }

  /** Removes the head slot; returns its callback. */
  private releaseHead(): SendCallback | undefined {
    const h = this.head;
    const cb = this.callbacks[h];
    this.callbacks[h] = undefined;
    const peer = this.peers[h];
    if (peer >= 0 && this.peerRefs) this.peerRefs.refs[peer]--;
    this.queuedBytes -= this.lengths[h];
    this.head = (h + 1) % this.cap;
    this.count--;
    return cb;
  }

  private record(requested: number, sent: number, errno: number, action: FlushEvent['action'], holdUs: number, reason: Reason): void {
    if (!this.opts.onFlush) return;
    this.doneEvents.push({ requested, sent, code: errno ? errnoName(errno) : null, errno: -errno, action, holdUs, reason });
    this.scheduleCompletion();
  }

  private complete(cb: SendCallback, err: Error | null, bytes: number): void {
    this.doneCbs.push(cb);
    this.doneErrs.push(err);
    this.doneBytes.push(bytes);
    this.scheduleCompletion();
  }

  private checkDrain(): void {
    if (this.needDrain && this.count <= this.opts.maxQueue / 2 && this.queuedBytes <= this.opts.maxQueueBytes / 2) {
      this.needDrain = false;
      if (this.opts.onDrain) {
        this.drainDue = true;
        this.scheduleCompletion();
      }
    }
  }

  private scheduleCompletion(): void {
    if (this.completionScheduled) return;
    this.completionScheduled = true;
    process.nextTick(this.runCompletions);
  }

  /** Runs deferred callbacks, then flush events, then drain, then idle — each exactly once, in order. */
  private readonly runCompletions = (): void => {
    this.completionScheduled = false;
    const cbs = this.doneCbs;
    const errs = this.doneErrs;
    const bytes = this.doneBytes;
    const events = this.doneEvents;
    this.doneCbs = [];
    this.doneErrs = [];
    this.doneBytes = [];
    this.doneEvents = [];
    // A throwing user callback must not cost the others: every callback, event and drain
    // runs; the first error is rethrown here, later ones on the next tick — each surfaces
    // as an uncaught exception, as each of node:dgram's callbacks would.
    let first: { error: unknown } | undefined;
    const caught = (error: unknown): void => {
      if (first === undefined) first = { error };
      else process.nextTick(rethrow, error);
    };
    for (let i = 0; i < cbs.length; i++) {
      try {
        cbs[i](errs[i], bytes[i]);
      } catch (e) {
        caught(e);
      }
    }
    const onFlush = this.opts.onFlush;
    if (onFlush) {
      for (const ev of events) {
        try {
          onFlush(ev);
        } catch (e) {
          caught(e);
        }
      }
    }
    if (this.drainDue) {
      this.drainDue = false;
      try {
        this.opts.onDrain?.();
      } catch (e) {
        caught(e);
      }
    }
    // Still empty after the callbacks (which may have queued more): the socket is idle.
    if (this.idleDue) {
      this.idleDue = false;
      if (this.count === 0) {
        try {
          this.opts.onIdle?.();
        } catch (e) {
          caught(e);
        }
      }
    }
    if (first !== undefined) throw first.error;
  };

  /** Byte offset where `length` bytes fit in the arena ring, or -1. */
  private place(length: number): number {
    const size = this.arena.length;
    if (this.count === 0) return length <= size ? 0 : -1;
    const headOff = this.offsets[this.head];
    const tail = this.arenaTail;
    if (tail > headOff) {
      if (size - tail >= length) return tail;
      return headOff > length ? 0 : -1;
    }
    // Wrapped: free space is [tail, headOff); keep a gap so tail never meets head.
    return headOff - tail > length ? tail : -1;
  }

  private allocate(slots: number, arenaBytes: number): void {
    this.cap = slots;
    this.offsets = new Uint32Array(slots);
    this.lengths = new Uint32Array(slots);
    this.peers = new Int32Array(slots);
    this.callbacks = new Array(slots).fill(undefined);
    this.arena = Buffer.allocUnsafeSlow(arenaBytes);
    this.reattach();
  }

  private growSlots(): void {
    const cap = Math.min(this.opts.maxQueue, this.cap * 2);
    const offsets = new Uint32Array(cap);
    const lengths = new Uint32Array(cap);
    const peers = new Int32Array(cap);
    const callbacks: (SendCallback | undefined)[] = new Array(cap).fill(undefined);
    for (let i = 0; i < this.count; i++) {
      const s = (this.head + i) % this.cap;
      offsets[i] = this.offsets[s];
      lengths[i] = this.lengths[s];
      peers[i] = this.peers[s];
      callbacks[i] = this.callbacks[s];
    }
    this.cap = cap;
    this.offsets = offsets;
    this.lengths = lengths;
    this.peers = peers;
    this.callbacks = callbacks;
    this.head = 0;
    this.rgOffsets = undefined; // regrouping scratch follows the capacity
    this.reattach();
  }

  // ---- regrouping (order 'per-peer') ---------------------------------------------------

  /**
   * Permutes the queued slots into groups by peer id (groups in order of their first
   * datagram, each group in queue order): a stable counting sort, O(queued), no
   * allocation after the scratch exists. Leaves the queue untouched when it is already
   * grouped. Records each datagram's original position for {@link restoreOrder}.
   */
  private regroup(): void {
    const n = this.count;
    const cap = this.cap;
    if (!this.rgOffsets || this.rgOffsets.length !== cap) {
      this.rgOffsets = new Uint32Array(cap);
      this.rgLengths = new Uint32Array(cap);
      this.rgPeers = new Int32Array(cap);
      this.rgCallbacks = new Array(cap).fill(undefined);
      this.rgOrig = new Uint32Array(cap);
      this.rgGroupPos = new Uint32Array(cap);
    }
    const groupPos = this.rgGroupPos!;
    // Epoch stamps mark which peer ids have a group in this flush (no clearing pass).
    let epoch = ++this.rgEpoch;
    if (epoch === 0xffffffff) {
      this.rgStamp.fill(0);
      this.rgEpoch = epoch = 1;
    }
    let groups = 0;
    let changes = 0;
    let prev = NaN;
    for (let i = 0, s = this.head; i < n; i++, s = s + 1 === cap ? 0 : s + 1) {
      const key = this.peers[s] + 1;
      if (key !== prev) {
        changes++;
        prev = key;
      }
      if (key >= this.rgStamp.length) this.growPeerScratch(key);
      if (this.rgStamp[key] !== epoch) {
        this.rgStamp[key] = epoch;
        this.rgGroup[key] = groups;
        groupPos[groups] = 0;
        groups++;
      }
      groupPos[this.rgGroup[key]]++;
    }
    // Already grouped (one stretch per peer): the permutation would be the identity.
    if (changes === groups) return;
    // Counts → start positions.
    for (let g = 0, sum = 0; g < groups; g++) {
      const c = groupPos[g];
      groupPos[g] = sum;
      sum += c;
    }
    const offs = this.rgOffsets!;
    const lens = this.rgLengths!;
    const peers = this.rgPeers!;
    const cbs = this.rgCallbacks;
    const orig = this.rgOrig!;
    for (let i = 0, s = this.head; i < n; i++, s = s + 1 === cap ? 0 : s + 1) {
      const p = this.peers[s];
      const at = groupPos[this.rgGroup[p + 1]]++;
      offs[at] = this.offsets[s];
      lens[at] = this.lengths[s];
      peers[at] = p;
      cbs[at] = this.callbacks[s];
      orig[at] = i;
    }
    for (let j = 0, s = this.head; j < n; j++, s = s + 1 === cap ? 0 : s + 1) {
      this.offsets[s] = offs[j];
      this.lengths[s] = lens[j];
      this.peers[s] = peers[j];
      this.callbacks[s] = cbs[j];
      cbs[j] = undefined;
    }
    this.rgCount = n;
    this.regroupedFlushes++;
  }

  /**
   * After a regrouped flush: the datagrams still queued (a suffix of the regrouped order)
   * go back into their original relative order, so that slot order is arena byte order
   * again (the allocator's invariant) and a later flush sees the true queue order.
   */
  private restoreOrder(): void {
    const total = this.rgCount;
    this.rgCount = 0;
    const n = this.count;
    if (n <= 1) return;
    const cap = this.cap;
    const offs = this.rgOffsets!;
    const lens = this.rgLengths!;
    const peers = this.rgPeers!;
    const cbs = this.rgCallbacks;
    const orig = this.rgOrig!;
    // The remaining n were regrouped positions [total - n, total): index them by original
    // position (scratch slots of the sent ones are free now), then read back in order.
    const present = this.rgGroupPos!;
    present.fill(0, 0, total);
    for (let j = 0, s = this.head; j < n; j++, s = s + 1 === cap ? 0 : s + 1) {
      const o = orig[total - n + j];
      offs[o] = this.offsets[s];
      lens[o] = this.lengths[s];
      peers[o] = this.peers[s];
      cbs[o] = this.callbacks[s];
      present[o] = 1;
    }
    let s = this.head;
    for (let o = 0; o < total; o++) {
      if (present[o] === 0) continue;
      this.offsets[s] = offs[o];
      this.lengths[s] = lens[o];
      this.peers[s] = peers[o];
      this.callbacks[s] = cbs[o];
      cbs[o] = undefined;
      s = s + 1 === cap ? 0 : s + 1;
    }
  }

  private growPeerScratch(key: number): void {
    let size = this.rgStamp.length * 2;
    while (size <= key) size *= 2;
    const stamp = new Uint32Array(size);
    stamp.set(this.rgStamp);
    this.rgStamp = stamp;
    const group = new Uint32Array(size);
    group.set(this.rgGroup);
    this.rgGroup = group;
  }

  /** Doubles the arena (at least enough for `length` more bytes), compacting the queue to its start. */
  private growArena(length: number): void {
    // At arenaMax the ring always has room for anything within maxQueueBytes (the slack
    // covers the end gap), so this only compacts there.
    const need = this.queuedBytes + length;
    let size = this.arena.length * 2;
    while (size < need) size *= 2;
    size = Math.max(need, Math.min(size, this.arenaMax));
    const arena = Buffer.allocUnsafeSlow(size);
    let off = 0;
    for (let i = 0; i < this.count; i++) {
      const s = (this.head + i) % this.cap;
      const len = this.lengths[s];
      this.arena.copy(arena, off, this.offsets[s], this.offsets[s] + len);
      this.offsets[s] = off;
      off += len;
    }
    this.arena = arena;
    this.arenaTail = off;
    this.reattach();
  }
}

function rethrow(error: unknown): never {
  throw error;
}
