/**
 * The `'dgram'` backend: the same {@link BatchSocket} API over `node:dgram`, for
 * platforms without the addon and as the baseline the benchmarks compare against.
 *
 * It does not batch: each `send()` copies the bytes (so the caller may reuse its
 * buffer, as with the batch backend) and hands them to `dgram.Socket#send` at once;
 * libuv makes one `sendmsg` per datagram. Datagrams count as `queued` until dgram's
 * callback reports them sent or failed, which keeps the accounting identity. There is
 * no `'flush'` event (nothing is held), `flush()` is a no-op, and `stats()` cannot see
 * system calls: `syscalls` counts datagrams handed to libuv.
 */
import dgram from 'node:dgram';
import { isIPv4 } from 'node:net';
import { Buffer } from 'node:buffer';
import { validateAddress, validatePort } from '../address.js';
import { BatchSocketError, bufferSizeError, errnoName } from '../errors.js';
import { MAX_BUFFER_SIZE, validateBufferSize, type ResolvedOptions } from '../options.js';
import { toPayload, type PayloadView } from '../payload.js';
import type { BatchSocketStats, Peer, SendCallback, SendPayload } from '../types.js';
import { BaseSocket } from './base-socket.js';
import { PeerHandles } from './peer-handles.js';
import { kernelDrops } from './proc-net-udp.js';
import { CopiedBatch } from './recv-batch.js';
import { zeroStats } from './stats.js';

/**
 * The `'dgram'` backend: a {@link BatchSocket} over a node:dgram socket (no batching, GSO or
 * GRO). Created by {@link createBatchSocket}.
 */
export class DgramBatchSocket extends BaseSocket {
  /** Always `'dgram'`. */
  readonly backend = 'dgram' as const;
  private readonly sock: dgram.Socket;
  private readonly peerView: PayloadView = { bytes: new Uint8Array(0), start: 0, length: 0 };
  private inflight = 0;
  private finalBufferSizes: [number, number] = [0, 0];
  private finalKernelDrops = 0;
  /** Live `peer()` handles by destination, so the same destination returns the same handle. */
  private readonly handles = new PeerHandles<string, DgramPeer>(() => {});
  private inflightBytes = 0;
  private needDrain = false;
  private enqueued = 0;
  private sent = 0;
  private failed = 0;
  private bytesSent = 0;
  private droppedQueueFull = 0;
  private droppedClosed = 0;
  /**
   * Sends handed to dgram whose callback has not run yet, each with the function that
   * settles it as dropped at close. node:dgram never calls back a send that was still
   * waiting for the implicit bind (or its address lookup) when the socket closed.
   */
  private readonly pending = new Map<(err: Error | null) => void, () => void>();
  private handedToLibuv = 0;
  private received = 0;
  private bytesReceived = 0;
  private recvErrors = 0;
  private readonly failures: Record<string, number> = Object.create(null);

  constructor(opts: ResolvedOptions) {
    super(opts);
    if (opts.reusePort) {
      throw new BatchSocketError('ERR_INVALID_ARG_VALUE', 'reusePort is not supported by the dgram backend on this Node version');
    }
    // node:dgram accepts these and then throws ERR_SOCKET_BUFFER_SIZE (EINVAL) out of bind()
    // as an uncaught exception; both backends refuse them here, synchronously, instead.
    if ((opts.sendBufferSize ?? 0) > MAX_BUFFER_SIZE) throw bufferSizeError('send', 22);
    if ((opts.recvBufferSize ?? 0) > MAX_BUFFER_SIZE) throw bufferSizeError('recv', 22);
    this.sock = dgram.createSocket({
      type: opts.type,
      ipv6Only: opts.ipv6Only,
      reuseAddr: opts.reuseAddr,
      recvBufferSize: opts.recvBufferSize,
      sendBufferSize: opts.sendBufferSize,
    });
    this.sock.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    this.watchSignal();
    this.sock.on('error', (err) => {
      // A bind failure is reported once, by bind() (doBind's own listener), not here too.
      if (this.state === 'binding') return;
      this.recvErrors++;
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
  }

  protected doBind(port: number, address: string, exclusive: boolean, done: (err?: Error) => void): void {
    const onError = (err: Error): void => done(err);
    this.sock.once('error', onError);
    this.sock.bind({ port, address, exclusive }, () => {
      this.sock.off('error', onError);
      done();
    });
  }

  protected doBindFd(fd: number, done: (err?: Error) => void): void {
    const onError = (err: Error): void => done(err);
    this.sock.once('error', onError);
    try {
      this.sock.bind({ fd }, () => {
        this.sock.off('error', onError);
        done();
      });
    } catch (err) {
      // dgram refuses synchronously (ERR_INVALID_FD_TYPE, `open EEXIST`): nothing to wait for.
      this.sock.off('error', onError);
      throw err;
    }
  }

  protected doConnect(port: number, address: string, done: (err?: Error) => void): void {
    if (this.state === 'unbound') this.bind(0);
    this.sock.connect(port, address, (err?: Error) => done(err ?? undefined));
  }

  protected doDisconnect(): void {
    this.sock.disconnect();
  }

  protected doClose(): void {
    try {
      this.finalBufferSizes = [this.sock.getSendBufferSize(), this.sock.getRecvBufferSize()];
      this.finalKernelDrops = this.kernelDrops();
    } catch {
      // never bound: nothing to keep
    }
    this.sock.close();
    // Whatever dgram will not call back is dropped as closed: libuv's ECANCELED callbacks
    // run in the loop's closing phase, after 'close' (a nextTick), so look one timer later.
    this.sock.once('close', () => {
      setTimeout(() => {
        for (const abandon of [...this.pending.values()]) abandon();
      }, 1);
    });
  }

  protected doSend(view: PayloadView, port: number | undefined, address: string | undefined, cb: SendCallback | undefined): boolean {
    this.enqueued++;
    if (this.inflight >= this.opts.maxQueue || this.inflightBytes + view.length > this.opts.maxQueueBytes) {
      this.droppedQueueFull++;
      this.needDrain = true;
      if (cb) process.nextTick(cb, new BatchSocketError('ERR_SOCKET_QUEUE_FULL', `Send queue full (${this.inflight} datagrams in flight): datagram dropped`), 0);
      return false;
    }
    if (this.state === 'unbound') this.bind(0);
    const len = view.length;
    const copy = Buffer.allocUnsafe(len);
    copy.set(view.start === 0 && len === view.bytes.length ? view.bytes : view.bytes.subarray(view.start, view.start + len));
    this.inflight++;
    this.inflightBytes += len;
    this.handedToLibuv++;
    const done = (err: Error | null): void => {
      if (!this.pending.delete(done)) return; // already settled (dropped at close)
      this.inflight--;
      this.inflightBytes -= len;
      if (err) {
        this.failed++;
        const code = (err as NodeJS.ErrnoException).code ?? errnoName(0);
        this.failures[code] = (this.failures[code] ?? 0) + 1;
      } else {
        this.sent++;
        this.bytesSent += len;
      }
      if (this.needDrain && this.inflight <= this.opts.maxQueue / 2 && this.inflightBytes <= this.opts.maxQueueBytes / 2) {
        this.needDrain = false;
        this.emit('drain');
      }
      if (cb) cb(err, err ? 0 : len);
      if (this.inflight === 0) this.emit('idle');
    };
    this.pending.set(done, () => {
      if (!this.pending.delete(done)) return;
      this.inflight--;
      this.inflightBytes -= len;
      this.droppedClosed++;
      if (cb) cb(new BatchSocketError('ERR_SOCKET_CLOSED', 'The socket was closed before the datagram was sent'), 0);
    });
    try {
      if (port === undefined) this.sock.send(copy, done);
      else this.sock.send(copy, port, this.mapped(address!), done);
    } catch (err) {
      // dgram refused synchronously (e.g. ERR_SOCKET_DGRAM_IS_CONNECTED for a peer handle's
      // send on a connected socket): nothing was queued, so undo the accounting and throw,
      // as for any other bad input. Left counted, the datagram stayed `queued` forever.
      this.pending.delete(done);
      this.enqueued--;
      this.inflight--;
      this.inflightBytes -= len;
      this.handedToLibuv--;
      throw err;
    }
    return true;
  }

  /** dgram's udp6 socket wants IPv4 destinations in IPv4-mapped form (dual stack). */
  private mapped(address: string): string {
    return this.type === 'udp6' && isIPv4(address) ? `::ffff:${address}` : address;
  }

  /** {@inheritDoc BatchSocket.peer} */
  peer(port: number, address: string): Peer {
    this.assertOpen();
    const p = validatePort(port, 'Port', false);
    const ip = validateAddress(address, this.type, this.loopback, this.opts.ipv6Only);
    const key = `${p}/${ip}`;
    const live = this.handles.get(key);
    if (live) return live;
    const handle = new DgramPeer(this, key, ip, p);
    this.handles.add(key, handle);
    return handle;
  }

  /** @internal {@link DgramPeer}: validated send to a peer handle's destination. */
  sendToPeer(port: number, address: string, msg: SendPayload, callback: SendCallback | undefined): boolean {
    this.assertOpen();
    if (this.connected) throw new BatchSocketError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected: a peer handle cannot send on a connected socket');
    return this.doSend(toPayload(msg, undefined, undefined, this.maxSize, this.peerView), port, address, callback);
  }

  /** @internal {@link DgramPeer.release}. Nothing is pinned on this backend: the handle is only forgotten. */
  releasePeer(handle: DgramPeer): void {
    this.handles.release(handle.key, handle);
  }

  /** Nothing is held by this backend: a no-op kept for API parity. */
  flush(): void {
    this.assertOpen();
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.closed) return; // no 'message' after close()
    this.received++;
    this.bytesReceived += msg.length;
    if (this.listenerCount('batch') > 0 || this.hasIterators) {
      const batch = CopiedBatch.single(msg, rinfo);
      this.emit('batch', batch);
      if (this.hasIterators) this.deliverToIterators(batch);
    }
    this.emit('message', msg, rinfo);
  }

  /** {@inheritDoc BatchSocket.address} */
  address(): {
    /** Local IP address. */
    address: string;
    /** `'IPv4'` or `'IPv6'`. */
    family: string;
    /** Local UDP port. */
    port: number;
  } {
    this.assertOpen();
    return this.sock.address();
  }
  /** {@inheritDoc BatchSocket.remoteAddress} */
  remoteAddress(): {
    /** The connected peer's IP address. */
    address: string;
    /** `'IPv4'` or `'IPv6'`. */
    family: string;
    /** The connected peer's UDP port. */
    port: number;
  } {
    this.assertOpen();
    if (!this.connectedNow) throw new BatchSocketError('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
    return this.sock.remoteAddress();
  }

  /** {@inheritDoc BatchSocket.stats} */
  stats(): BatchSocketStats {
    const bound = this.state === 'bound';
    // node:dgram has no batches, no GSO/GRO and no hold time: those stay zero.
    const s = zeroStats('dgram');
    s.enqueued = this.enqueued;
    s.sent = this.sent;
    s.failed = this.failed;
    s.dropped = this.droppedQueueFull + this.droppedClosed;
    s.queued = this.inflight;
    s.queuedBytes = this.inflightBytes;
    s.bytesSent = this.bytesSent;
    s.syscalls = this.handedToLibuv;
    s.failures = { ...this.failures };
    // Datagrams in flight at close() are cancelled by libuv (failed, ECANCELED); those dgram never
    // handed to libuv (still waiting for the implicit bind) are dropped as closed.
    s.drops = { queueFull: this.droppedQueueFull, closed: this.droppedClosed };
    s.received = this.received;
    s.bytesReceived = this.bytesReceived;
    s.recvBatches = this.received;
    s.recvErrors = this.recvErrors;
    s.recvKernelDrops = bound ? this.kernelDrops() : this.finalKernelDrops;
    s.recvBatchesDropped = this.recvBatchesDropped;
    s.sendBufferSize = bound ? this.sock.getSendBufferSize() : this.finalBufferSizes[0];
    s.recvBufferSize = bound ? this.sock.getRecvBufferSize() : this.finalBufferSizes[1];
    return s;
  }

  /**
   * sk_drops of the dgram socket's fd from /proc/net/udp(6) (node:dgram has no
   * SO_RXQ_OVFL); 0 when unknown. The fd is read from dgram's internal state object (the
   * UDP handle's `fd`) without the deprecated `_handle` getter, which would warn.
   */
  private kernelDrops(): number {
    const state = Object.getOwnPropertySymbols(this.sock).find((s) => s.description === 'state symbol');
    const handle = state ? (this.sock as unknown as Record<symbol, { handle?: { fd?: number } } | undefined>)[state]?.handle : undefined;
    return kernelDrops(handle?.fd) ?? 0;
  }

  /** {@inheritDoc BatchSocket.setSendBufferSize} */
  setSendBufferSize(bytes: number): void {
    this.assertOpen();
    this.sock.setSendBufferSize(validateBufferSize(bytes));
  }
  /** {@inheritDoc BatchSocket.setRecvBufferSize} */
  setRecvBufferSize(bytes: number): void {
    this.assertOpen();
    this.sock.setRecvBufferSize(validateBufferSize(bytes));
  }
  /** {@inheritDoc BatchSocket.getSendBufferSize} */
  getSendBufferSize(): number {
    this.assertOpen();
    return this.sock.getSendBufferSize();
  }
  /** {@inheritDoc BatchSocket.getRecvBufferSize} */
  getRecvBufferSize(): number {
    this.assertOpen();
    return this.sock.getRecvBufferSize();
  }
  protected doSetBroadcast(on: boolean): void {
    this.sock.setBroadcast(on);
  }
  protected doSetTTL(ttl: number): void {
    this.sock.setTTL(ttl);
  }
  protected doSetMulticastTTL(ttl: number): void {
    this.sock.setMulticastTTL(ttl);
  }
  protected doSetMulticastLoopback(on: boolean): void {
    this.sock.setMulticastLoopback(on);
  }
  protected doSetMulticastInterface(interfaceAddress: string): void {
    this.sock.setMulticastInterface(interfaceAddress);
  }
  protected doMembership(group: string, interfaceAddress: string | undefined, join: boolean): void {
    if (join) this.sock.addMembership(group, interfaceAddress);
    else this.sock.dropMembership(group, interfaceAddress);
  }
  protected doSourceMembership(source: string, group: string, interfaceAddress: string | undefined, join: boolean): void {
    if (join) this.sock.addSourceSpecificMembership(source, group, interfaceAddress);
    else this.sock.dropSourceSpecificMembership(source, group, interfaceAddress);
  }
  /** {@inheritDoc BatchSocket.ref} */
  ref(): this {
    this.sock.ref();
    return this;
  }
  /** {@inheritDoc BatchSocket.unref} */
  unref(): this {
    this.sock.unref();
    return this;
  }
}


/** Handle returned by {@link DgramBatchSocket.peer}. */
class DgramPeer implements Peer {
  private released = false;
  constructor(
    private readonly socket: DgramBatchSocket,
    readonly key: string,
    readonly address: string,
    readonly port: number,
  ) {}
  send(msg: SendPayload, callback?: SendCallback): boolean {
    return this.socket.sendToPeer(this.port, this.address, msg, callback);
  }
  release(): void {
    if (this.released) return;
    this.released = true;
    this.socket.releasePeer(this);
  }
  [Symbol.dispose](): void {
    this.release();
  }
}
