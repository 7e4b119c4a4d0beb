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
import { BatchSocketError, BatchSocketTypeError, notRunning } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import { toPayload, type PayloadView } from '../payload.js';
import { keepFirst, throwFirst, type FirstError } from '../scheduler/completions.js';
import type { BackendName, BatchSocket, BatchSocketEvent, BatchSocketEventMap, BatchSocketListener, BatchSocketStats, Peer, RecvBatch, SendCallback, SendPayload, SocketType } from '../types.js';
import type { CopiedBatch } from './recv-batch.js';

type State = 'unbound' | 'binding' | 'bound' | 'closed';

/** Pending batches of one `for await` consumer. */
class BatchQueue {
  items: CopiedBatch[] = [];
  waiter: ((r: IteratorResult<RecvBatch>) => void) | undefined;
  done = false;
}

/**
 * The typed event methods of {@link BatchSocket} ({@link BatchSocketEventMap}), merged into
 * the class so that both backends' exported classes check event names and listeners too.
 */
export interface BaseSocket {
  on<E extends BatchSocketEvent>(event: E, listener: BatchSocketListener<E>): this;
  once<E extends BatchSocketEvent>(event: E, listener: BatchSocketListener<E>): this;
  off<E extends BatchSocketEvent>(event: E, listener: BatchSocketListener<E>): this;
  addListener<E extends BatchSocketEvent>(event: E, listener: BatchSocketListener<E>): this;
  removeListener<E extends BatchSocketEvent>(event: E, listener: BatchSocketListener<E>): this;
  prependListener<E extends BatchSocketEvent>(event: E, listener: BatchSocketListener<E>): this;
  prependOnceListener<E extends BatchSocketEvent>(event: E, listener: BatchSocketListener<E>): this;
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

  // ---- backend hooks ----------------------------------------------------------------

  /** Bind now or later; call `done` exactly once (synchronously allowed). */
  protected abstract doBind(port: number, address: string, exclusive: boolean, done: (err?: Error) => void): void;
  protected abstract doConnect(port: number, address: string, done: (err?: Error) => void): void;
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

  // ---- bind / connect ---------------------------------------------------------------

  bind(port?: number, address?: string, callback?: () => void): this;
  bind(options: { port?: number; address?: string; exclusive?: boolean }, callback?: () => void): this;
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
      const o = a as { port?: unknown; address?: unknown; exclusive?: unknown };
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
    if (cb !== undefined && typeof cb !== 'function') throw new BatchSocketTypeError('ERR_INVALID_ARG_TYPE', `The "callback" argument must be of type function. Received ${describe(cb)}`);
    const listener = typeof cb === 'function' ? (cb as () => void) : undefined;
    if (listener) this.once('listening', listener);
    this.state = 'binding';
    this.doBind(p, ip, exclusive, (err) => {
      if (err) {
        if (this.state === 'binding') this.state = 'unbound';
        // A failed bind's callback must not fire on the next, successful bind.
        if (listener) this.off('listening', listener);
        process.nextTick(() => this.emit('error', err));
        return;
      }
      if (this.state === 'binding') this.state = 'bound';
      process.nextTick(() => {
        if (this.state === 'bound') this.emit('listening');
      });
    });
    return this;
  }

  connect(port: number, address?: string | (() => void), callback?: (err?: Error) => void): void {
    this.assertOpen();
    if (typeof address === 'function') {
      callback = address as (err?: Error) => void;
      address = undefined;
    }
    if (this.connected) throw new BatchSocketError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
    const p = validatePort(port, 'Port', false);
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
    this.assertOpen();
    // Same overload resolution as node:dgram's Socket#send.
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
    if (connected) return this.doSend(view, undefined, undefined, (cb ?? undefined) as SendCallback | undefined);
    const p = validatePort(port, 'Port', false);
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
      if (q.waiter) {
        const w = q.waiter;
        q.waiter = undefined;
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
    if (q.waiter) {
      const w = q.waiter;
      q.waiter = undefined;
      w({ value: undefined, done: true });
    }
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
          q.waiter = resolve;
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
        this.emit('message', Buffer.from(src), batch.remote(i) as RemoteInfo);
      } catch (error) {
        first = keepFirst(first, error);
      }
      if (this.closed) break;
    }
    throwFirst(first);
  }
}
