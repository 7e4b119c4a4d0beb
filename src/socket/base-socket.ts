/**
 * What both backends share: dgram-compatible argument handling for `bind`, `connect` and
 * `send` (same overloads, same synchronous throws), socket state, receive fan-out to
 * `'message'`, `'batch'` and async iterators, and `close`.
 *
 * Folder src/socket/: the two `BatchSocket` backends (native-socket.ts on the scheduler
 * and the addon, dgram-socket.ts on node:dgram) and what they need — peer table, sockaddr
 * decoding, receive batches, stats — plus bind-and-listen for the layers above. Imports the
 * bottom layer (types, errors, limits, address, options, payload), native/ and scheduler/;
 * never index.ts, cli/, werift/ or relay/.
 */
import { EventEmitter } from 'node:events';
import type { RemoteInfo } from 'node:dgram';
import { validateAddress, validatePort, maxPayload, describe } from '../address.js';
import { BatchSocketError, BatchSocketRangeError, BatchSocketTypeError, notRunning, systemError } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import { toPayload, type PayloadView } from '../payload.js';
import { keepFirst, throwFirst, type FirstError } from '../scheduler/completions.js';
import type { BackendName, BatchSocket, BatchSocketEvent, BatchSocketEventMap, BatchSocketListener, BatchSocketStats, MessageInfo, Peer, RecvBatch, SendCallback, SendPayload, SocketType } from '../types.js';
import type { CopiedBatch } from './recv-batch.js';

type State = 'unbound' | 'binding' | 'bound' | 'closed';

/** Symbol.asyncDispose where the runtime has it (Node >= 20.4), else Node's own registered symbol. */
const asyncDispose: typeof Symbol.asyncDispose = (Symbol as { asyncDispose?: typeof Symbol.asyncDispose }).asyncDispose ?? (Symbol.for('nodejs.asyncDispose') as typeof Symbol.asyncDispose);


/**
 * Pending batches of one async-iterator consumer, and its pending `next()` calls: several
 * may wait at once (`Promise.all([it.next(), it.next()])`); they resolve in call order,
 * one batch each, and all settle `done` when the consumer ends or the socket closes.
 */
class BatchQueue {
  items: CopiedBatch[] = [];
  waiters: ((r: IteratorResult<RecvBatch>) => void)[] = [];
  done = false;
}

/**
 * The typed event methods of {@link BatchSocket} ({@link BatchSocketEventMap}), merged into
 * the class so that both backends' exported classes check event names and listeners too.
 */
export interface BaseSocket {
  /** Adds `listener` for `event` (typed by {@link BatchSocketEventMap}), as EventEmitter's `on()`. */
  on<E extends BatchSocketEvent>(event: E, listener: BatchSocketListener<E>): this;
  /** Adds a one-time `listener` for `event`, as EventEmitter's `once()`. */
  once<E extends BatchSocketEvent>(event: E, listener: BatchSocketListener<E>): this;
  /** Removes `listener` from `event`, as EventEmitter's `off()`. */
  off<E extends BatchSocketEvent>(event: E, listener: BatchSocketListener<E>): this;
  /** Same as `on()`. */
  addListener<E extends BatchSocketEvent>(event: E, listener: BatchSocketListener<E>): this;
  /** Same as `off()`. */
  removeListener<E extends BatchSocketEvent>(event: E, listener: BatchSocketListener<E>): this;
  /** Adds `listener` for `event` ahead of the others, as EventEmitter's `prependListener()`. */
  prependListener<E extends BatchSocketEvent>(event: E, listener: BatchSocketListener<E>): this;
  /** Adds a one-time `listener` for `event` ahead of the others, as EventEmitter's `prependOnceListener()`. */
  prependOnceListener<E extends BatchSocketEvent>(event: E, listener: BatchSocketListener<E>): this;
  /** Calls the listeners of `event` with `args`, as EventEmitter's `emit()`; true when there were any. */
  emit<E extends BatchSocketEvent>(event: E, ...args: BatchSocketEventMap[E]): boolean;
}

export abstract class BaseSocket extends EventEmitter implements BatchSocket {
  abstract readonly backend: BackendName;
  readonly type: SocketType;
  protected readonly opts: ResolvedOptions;
  protected state: State = 'unbound';
  /** connect() was called and has not failed (connecting or connected). */
  protected connected = false;
  /** connect() was called and 'connect' has not been emitted yet (dgram's CONNECT_STATE_CONNECTING). */
  protected connectPending = false;
  /** Receive batches dropped because an async-iterator consumer fell behind. */
  protected recvBatchesDropped = 0;
  private readonly iterators = new Set<BatchQueue>();
  private readonly view: PayloadView = { bytes: new Uint8Array(0), start: 0, length: 0 };
  protected readonly maxSize: number;
  protected readonly loopback: string;

  constructor(opts: ResolvedOptions) {
    super();
    this.type = opts.type;
    this.opts = opts;
    this.maxSize = maxPayload(opts.type);
    this.loopback = opts.type === 'udp4' ? '127.0.0.1' : '::1';
  }

  /** dgram's `signal` option: abort closes the socket. Backends call it once constructed. */
  protected watchSignal(): void {
    const signal = this.opts.signal;
    if (!signal) return;
    const onAbort = (): void => {
      if (this.state !== 'closed') this.close();
    };
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    this.once('close', () => signal.removeEventListener('abort', onAbort));
  }

  // ---- backend hooks ----------------------------------------------------------------

  /** Bind now or later; call `done` exactly once (synchronously allowed). */
  protected abstract doBind(port: number, address: string, exclusive: boolean, done: (err?: Error) => void): void;
  protected abstract doConnect(port: number, address: string, done: (err?: Error) => void): void;
  /** bind({ fd }): take over an open UDP socket (e.g. inherited); call `done` once. */
  protected abstract doBindFd(fd: number, done: (err?: Error) => void): void;
  protected abstract doDisconnect(): void;
  /** Queue one validated datagram. `port`/`address` are validated, or undefined when connected. */
  protected abstract doSend(view: PayloadView, port: number | undefined, address: string | undefined, cb: SendCallback | undefined): boolean;
  protected abstract doClose(): void;
  abstract flush(): void;
  abstract peer(port: number, address: string): Peer;
  abstract address(): { address: string; family: string; port: number };
  abstract remoteAddress(): { address: string; family: string; port: number };
  abstract stats(): BatchSocketStats;
  abstract setSendBufferSize(bytes: number): void;
  abstract setRecvBufferSize(bytes: number): void;
  abstract getSendBufferSize(): number;
  abstract getRecvBufferSize(): number;
  abstract ref(): this;
  abstract unref(): this;
  /** Socket options (validated, socket bound); throw system errors named after the dgram method. */
  protected abstract doSetBroadcast(on: boolean): void;
  protected abstract doSetTTL(ttl: number): void;
  protected abstract doSetMulticastTTL(ttl: number): void;
  protected abstract doSetMulticastLoopback(on: boolean): void;
  protected abstract doSetMulticastInterface(interfaceAddress: string): void;
  protected abstract doMembership(group: string, interfaceAddress: string | undefined, join: boolean): void;
  protected abstract doSourceMembership(source: string, group: string, interfaceAddress: string | undefined, join: boolean): void;

  // ---- dgram's socket options -----------------------------------------------------------

  /** As dgram: options need the socket's fd, which dgram has only once bound: EBADF before. */
  private assertBound(syscall: string): void {
    this.assertOpen();
    if (this.state !== 'bound') throw systemError(9, syscall);
  }

  /** SO_BROADCAST (socket(7)): allow sending to broadcast addresses. Throws `setBroadcast EBADF` before bind. */
  setBroadcast(flag: boolean): void {
    this.assertBound('setBroadcast');
    this.doSetBroadcast(Boolean(flag));
  }

  /** IP_TTL / IPV6_UNICAST_HOPS, 1..255 (`setTTL EINVAL` outside). Returns `ttl`, as dgram. */
  setTTL(ttl: number): number {
    this.doSetTTL(this.ttlArg(ttl, 'setTTL'));
    return ttl;
  }

  /** IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS, 0..255 (`setMulticastTTL EINVAL` outside). Returns `ttl`, as dgram. */
  setMulticastTTL(ttl: number): number {
    this.doSetMulticastTTL(this.ttlArg(ttl, 'setMulticastTTL'));
    return ttl;
  }

  /** IP_MULTICAST_LOOP / IPV6_MULTICAST_LOOP. Returns `flag`, as dgram. */
  setMulticastLoopback(flag: boolean): boolean {
    this.assertBound('setMulticastLoopback');
    this.doSetMulticastLoopback(Boolean(flag));
    return flag;
  }

  /**
   * Outgoing interface for multicast: udp4 the interface's IPv4 address, udp6 `'::%ifname'`
   * (or `'::%index'`). `setMulticastInterface EINVAL` for anything else, as dgram.
   */
  setMulticastInterface(interfaceAddress: string): void {
    this.assertOpen();
    validateString(interfaceAddress, 'interfaceAddress');
    this.assertBound('setMulticastInterface');
    this.doSetMulticastInterface(interfaceAddress);
  }

  /** Joins an any-source multicast group (IP_ADD_MEMBERSHIP / IPV6_ADD_MEMBERSHIP) on `interfaceAddress` or the kernel's choice. */
  addMembership(multicastAddress: string, interfaceAddress?: string): void {
    this.membership(multicastAddress, interfaceAddress, true);
  }

  /** Leaves a group joined with {@link addMembership}. */
  dropMembership(multicastAddress: string, interfaceAddress?: string): void {
    this.membership(multicastAddress, interfaceAddress, false);
  }

  /** Joins `groupAddress` for datagrams from `sourceAddress` only (RFC 4607 SSM). */
  addSourceSpecificMembership(sourceAddress: string, groupAddress: string, interfaceAddress?: string): void {
    this.sourceMembership(sourceAddress, groupAddress, interfaceAddress, true);
  }

  /** Leaves a source-specific membership. */
  dropSourceSpecificMembership(sourceAddress: string, groupAddress: string, interfaceAddress?: string): void {
    this.sourceMembership(sourceAddress, groupAddress, interfaceAddress, false);
  }

  /** Bytes queued and not yet taken by the kernel (dgram: libuv's send queue; here the scheduler's queue). */
  getSendQueueSize(): number {
    return this.stats().queuedBytes;
  }

  /** Datagrams queued and not yet taken by the kernel. */
  getSendQueueCount(): number {
    return this.stats().queued;
  }

  /**
   * dgram's legacy form: `sendto(msg, offset, length, port, address[, callback])`, all
   * required (ERR_INVALID_ARG_TYPE otherwise), then as {@link send}.
   */
  sendto(buffer: SendPayload, offset: number, length: number, port: number, address: string, callback?: SendCallback): boolean {
    for (const [v, name] of [[offset, 'offset'], [length, 'length'], [port, 'port']] as const) {
      if (typeof v !== 'number') throw new BatchSocketTypeError('ERR_INVALID_ARG_TYPE', `The "${name}" argument must be of type number. Received ${describe(v)}`);
    }
    validateString(address, 'address');
    return this.send(buffer, offset, length, port, address, callback);
  }

  /** `await using sock = createBatchSocket(…)`: closes the socket (once) and waits for 'close'. */
  async [asyncDispose](): Promise<void> {
    if (this.state === 'closed') return;
    await new Promise<void>((resolve) => this.close(() => resolve()));
  }

  private ttlArg(ttl: unknown, syscall: string): number {
    if (typeof ttl !== 'number') throw new BatchSocketTypeError('ERR_INVALID_ARG_TYPE', `The "ttl" argument must be of type number. Received ${describe(ttl)}`);
    this.assertBound(syscall);
    // As dgram's binding (Int32Value): fractions truncate, NaN/Infinity become 0 (then EINVAL).
    return Number.isFinite(ttl) ? Math.trunc(ttl) | 0 : 0;
  }

  private membership(group: unknown, iface: unknown, join: boolean): void {
    const syscall = join ? 'addMembership' : 'dropMembership';
    this.assertOpen();
    if (!group) throw new BatchSocketTypeError('ERR_MISSING_ARGS', 'The "multicastAddress" argument must be specified');
    // dgram hands anything to libuv as text: what is not an address literal is EINVAL.
    if (typeof group !== 'string' || (iface !== undefined && iface !== null && typeof iface !== 'string')) throw systemError(22, syscall);
    // dgram (libuv) binds implicitly here; so do we, then the kernel's answer is the same.
    if (this.state === 'unbound') this.bind(0);
    this.doMembership(group, (iface as string | null | undefined) ?? undefined, join);
  }

  private sourceMembership(source: unknown, group: unknown, iface: unknown, join: boolean): void {
    this.assertOpen();
    validateString(source, 'sourceAddress');
    validateString(group, 'groupAddress');
    if (iface !== undefined && iface !== null) validateString(iface, 'interfaceAddress');
    if (this.state === 'unbound') this.bind(0);
    this.doSourceMembership(source as string, group as string, (iface as string | null | undefined) ?? undefined, join);
  }

  // ---- bind / connect ---------------------------------------------------------------

  bind(port?: number, address?: string, callback?: () => void): this;
  bind(options: { port?: number; address?: string; exclusive?: boolean; fd?: number }, callback?: () => void): this;
  bind(callback: () => void): this;
  bind(a?: unknown, b?: unknown, c?: unknown): this {
    this.assertOpen();
    if (this.state !== 'unbound') throw new BatchSocketError('ERR_SOCKET_ALREADY_BOUND', 'Socket is already bound');
    let port: unknown = 0;
    let address: unknown;
    let exclusive = false;
    let cb: unknown;
    if (typeof a === 'function') cb = a;
    else if (a !== null && typeof a === 'object') {
      const o = a as { port?: unknown; address?: unknown; exclusive?: unknown; fd?: unknown };
      if (o.fd !== undefined && o.fd !== null) {
        // node:dgram silently ignores an fd that is not an int32 > 0 (and binds a port instead):
        // here it is an error, so a wrong fd never binds something else.
        if (typeof o.fd !== 'number') throw new BatchSocketTypeError('ERR_INVALID_ARG_TYPE', `The "options.fd" property must be of type number. Received ${describe(o.fd)}`);
        if (!Number.isInteger(o.fd) || o.fd < 0 || o.fd > 0x7fffffff) {
          throw new BatchSocketRangeError('ERR_OUT_OF_RANGE', `The value of "options.fd" is out of range. It must be >= 0 && <= 2147483647. Received ${String(o.fd)}`);
        }
        const fd = o.fd;
        return this.startBind(b, (done) => this.doBindFd(fd, done));
      }
      port = o.port ?? 0;
      address = o.address;
      exclusive = o.exclusive === true;
      cb = b;
    } else {
      port = a ?? 0;
      if (typeof b === 'function') cb = b;
      else {
        address = b;
        cb = c;
      }
    }
    const p = validatePort(port);
    const any = this.type === 'udp4' ? '0.0.0.0' : '::';
    const ip = validateAddress(address, this.type, any, this.opts.ipv6Only);
    return this.startBind(cb, (done) => this.doBind(p, ip, exclusive, done));
  }

  /**
   * The common tail of bind(): `callback` (checked: ERR_INVALID_ARG_TYPE) becomes a
   * one-time 'listening' listener, the state goes binding → bound and 'listening' follows
   * on the next tick; a failure goes back to unbound, emits 'error' (or, refused at once,
   * is thrown) and detaches the callback, so it never fires on the next, successful bind.
   */
  private startBind(callback: unknown, run: (done: (err?: Error) => void) => void): this {
    if (callback !== undefined && typeof callback !== 'function') throw new BatchSocketTypeError('ERR_INVALID_ARG_TYPE', `The "callback" argument must be of type function. Received ${describe(callback)}`);
    const listener = typeof callback === 'function' ? (callback as () => void) : undefined;
    if (listener) this.once('listening', listener);
    this.state = 'binding';
    try {
      run((err) => {
        if (err) {
          if (this.state === 'binding') this.state = 'unbound';
          if (listener) this.off('listening', listener);
          process.nextTick(() => this.emit('error', err));
          return;
        }
        if (this.state === 'binding') this.state = 'bound';
        process.nextTick(() => {
          if (this.state === 'bound') this.emit('listening');
        });
      });
    } catch (err) {
      // Refused synchronously (as dgram: ERR_INVALID_FD_TYPE, `open EEXIST`): the socket
      // stays unbound and usable, and the callback is not kept for a later bind.
      if (this.state === 'binding') this.state = 'unbound';
      if (listener) this.off('listening', listener);
      throw err;
    }
    return this;
  }

  connect(port: number, address?: string | (() => void), callback?: (err?: Error) => void): void {
    // dgram's order (lib/dgram.js): port, the address's type, then "already connected".
    const p = validatePort(port, 'Port', false);
    if (typeof address === 'function') {
      callback = address as (err?: Error) => void;
      address = undefined;
    }
    if (address !== undefined) validateString(address, 'address');
    this.assertOpen();
    if (this.connected) throw new BatchSocketError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
    const ip = validateAddress(address, this.type, this.loopback, this.opts.ipv6Only);
    if (callback !== undefined && typeof callback !== 'function') throw new BatchSocketTypeError('ERR_INVALID_ARG_TYPE', `The "callback" argument must be of type function. Received ${describe(callback)}`);
    // Asynchronous like dgram's: 'connect' (and the callback) come later; until then the
    // socket is CONNECTING as in dgram: send() without an address, disconnect() and
    // remoteAddress() answer as on an unconnected socket, a second connect() "already connected".
    this.connected = true;
    this.connectPending = true;
    const finish = (err?: Error): void => {
      if (err) this.connected = false;
      process.nextTick(() => {
        this.connectPending = false;
        if (this.state === 'closed') return;
        if (err) {
          this.connected = false;
          if (callback) callback(err);
          else this.emit('error', err);
          return;
        }
        this.emit('connect');
        callback?.();
      });
    };
    this.doConnect(p, ip, finish);
  }

  disconnect(): void {
    this.assertOpen();
    if (!this.connected || this.connectPending) throw new BatchSocketError('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
    this.doDisconnect();
    this.connected = false;
  }

  /** True once 'connect' was emitted (until disconnect()). */
  protected get connectedNow(): boolean {
    return this.connected && !this.connectPending;
  }

  // ---- send ---------------------------------------------------------------------------

  send(msg: SendPayload, port?: number, address?: string, callback?: SendCallback): boolean;
  send(msg: SendPayload, port?: number, callback?: SendCallback): boolean;
  send(msg: SendPayload, callback?: SendCallback): boolean;
  send(msg: SendPayload, offset: number, length: number, port?: number, address?: string, callback?: SendCallback): boolean;
  send(msg: unknown, a?: unknown, b?: unknown, c?: unknown, d?: unknown, e?: unknown): boolean {
    // Same overload resolution and validation order as node:dgram's Socket#send; as there,
    // a closed socket is reported after the arguments were checked.
    let offset: number | undefined;
    let length: number | undefined;
    let port: unknown;
    let address: unknown;
    let cb: unknown;
    // As dgram: until 'connect' the socket is not connected for send() (CONNECTING).
    const connected = this.connectedNow;
    if (!connected) {
      if (d || (c && typeof c !== 'function')) {
        offset = a as number;
        length = b as number;
        port = c;
        address = d;
        cb = e;
      } else {
        port = a;
        address = b;
        cb = c;
      }
    } else {
      if (typeof b === 'number') {
        offset = a as number;
        length = b;
        if (typeof c === 'function') {
          cb = c;
          c = undefined;
        } else cb = e;
        port = c;
        address = d;
      } else {
        cb = a;
        port = undefined;
        address = undefined;
        // send(msg, port, address, cb) with a port or an address given: dgram throws
        // ERR_SOCKET_DGRAM_IS_CONNECTED (below) rather than send and drop the callback.
        if (typeof a !== 'function' && ((a !== undefined && a !== null) || typeof b === 'string')) {
          port = a;
          address = b;
          cb = c;
        }
      }
      if (port || address) throw new BatchSocketError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected: send() takes no port or address');
    }
    if (typeof address === 'function') {
      cb = address;
      address = undefined;
    }
    if (cb !== undefined && cb !== null && typeof cb !== 'function') {
      throw new BatchSocketTypeError('ERR_INVALID_ARG_TYPE', `The "callback" argument must be of type function. Received ${describe(cb)}`);
    }
    const view = toPayload(msg, offset, length, this.maxSize, this.view);
    if (connected) {
      this.assertOpen();
      return this.doSend(view, undefined, undefined, (cb ?? undefined) as SendCallback | undefined);
    }
    const p = validatePort(port, 'Port', false);
    if (address !== undefined && address !== null) validateString(address, 'address');
    this.assertOpen();
    const ip = validateAddress(address, this.type, this.loopback, this.opts.ipv6Only);
    return this.doSend(view, p, ip, (cb ?? undefined) as SendCallback | undefined);
  }

  // ---- close --------------------------------------------------------------------------

  close(callback?: () => void): this {
    this.assertOpen();
    if (typeof callback === 'function') this.once('close', callback);
    this.state = 'closed';
    this.doClose();
    for (const q of this.iterators) this.endIterator(q);
    process.nextTick(() => this.emit('close'));
    return this;
  }

  /** True once `close()` was called (also when aborted through `signal`). */
  get closed(): boolean {
    return this.state === 'closed';
  }

  protected assertOpen(): void {
    if (this.state === 'closed') throw notRunning();
  }

  // ---- receive fan-out ------------------------------------------------------------------

  /** True when a `for await` consumer is attached (the backend then needs to copy batches). */
  protected get hasIterators(): boolean {
    return this.iterators.size > 0;
  }

  /** Queue a copied batch for every async-iterator consumer (bounded; oldest dropped and counted). */
  protected deliverToIterators(batch: CopiedBatch): void {
    for (const q of this.iterators) {
      const w = q.waiters.shift();
      if (w) {
        w({ value: batch, done: false });
      } else {
        if (q.items.length >= this.opts.maxPendingBatches) {
          q.items.shift();
          this.recvBatchesDropped++;
        }
        q.items.push(batch);
      }
    }
  }

  private endIterator(q: BatchQueue): void {
    q.done = true;
    this.iterators.delete(q);
    const waiters = q.waiters;
    q.waiters = [];
    for (const w of waiters) w({ value: undefined, done: true });
  }

  /**
   * `for await (const batch of socket)`: receive batches (copies, valid after the loop body
   * yields) until the socket closes. Breaking out of the loop detaches the consumer.
   */
  [Symbol.asyncIterator](): AsyncIterator<RecvBatch> {
    const q = new BatchQueue();
    if (this.state === 'closed') q.done = true;
    else this.iterators.add(q);
    this.onIteratorsChanged();
    return {
      next: (): Promise<IteratorResult<RecvBatch>> => {
        const item = q.items.shift();
        if (item) return Promise.resolve({ value: item, done: false });
        if (q.done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          q.waiters.push(resolve);
        });
      },
      return: (): Promise<IteratorResult<RecvBatch>> => {
        this.endIterator(q);
        this.onIteratorsChanged();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  /** Backends may react to consumers coming and going. */
  protected onIteratorsChanged(): void {}

  /**
   * dgram-style `'message'` for each datagram of a batch. A listener that throws must not
   * cost the datagrams after it in the batch (with node:dgram each datagram is its own
   * event): the rest are still emitted, the first error is rethrown at the end (it becomes
   * an 'uncaughtException', as with dgram) and any further ones are raised on the next tick.
   */
  protected emitMessages(batch: RecvBatch): void {
    let first: FirstError;
    for (let i = 0; i < batch.count; i++) {
      const src = batch.datagram(i);
      try {
        const rinfo: MessageInfo = batch.remote(i);
        if (batch.truncated(i)) rinfo.truncated = true;
        this.emit('message', Buffer.from(src), rinfo);
      } catch (error) {
        first = keepFirst(first, error);
      }
      if (this.closed) break;
    }
    throwFirst(first);
  }
}

function validateString(v: unknown, name: string): asserts v is string {
  if (typeof v !== 'string') throw new BatchSocketTypeError('ERR_INVALID_ARG_TYPE', `The "${name}" argument must be of type string. Received ${describe(v)}`);
}
