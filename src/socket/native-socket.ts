/**
 * The `'batch'` backend: a {@link BaseSocket} over the native addon. Sends go through
 * the {@link SendScheduler} (one `sendmmsg` per batch); receives arrive from
 * `recvmmsg` as one callback per batch.
 */
import { constants } from 'node:os';
import { BIND_IPV6ONLY, BIND_REUSEADDR, BIND_REUSEPORT, C, RCVBUF, SNDBUF, type NativeBinding, type NativeRtcpIntake, type NativeUdpSocket } from '../native/binding.js';
import { validateAddress, validatePort } from '../address.js';
import { BatchSocketError, BatchSocketTypeError, bufferSizeError, systemError } from '../errors.js';
import { MAX_PAYLOAD_V6 } from '../limits.js';
import { MAX_BUFFER_SIZE, validateBufferSize, type ResolvedOptions } from '../options.js';
import type { PayloadView } from '../payload.js';
import { toPayload } from '../payload.js';
import { keepFirst, throwFirst, type FirstError } from '../scheduler/completions.js';
import { SendScheduler, type SendRing, type SlotReservation } from '../scheduler/send-scheduler.js';
import type { BatchSocketStats, FlushEvent, Peer, SendCallback, SendPayload } from '../types.js';
import { BaseSocket } from './base-socket.js';
import { PeerHandles } from './peer-handles.js';
import { PeerTable } from './peer-table.js';
import { RecvRing, RingBatch } from './recv-batch.js';
import { deferToDeliveryEnd, enrollRecvDispatch, withdrawRecvDispatch } from './recv-dispatch.js';

const { errno } = constants;

/**
 * The `'batch'` backend: a {@link BatchSocket} over the native addon (sendmmsg(2)/recvmmsg(2),
 * UDP GSO/GRO, udp(7)). Created by {@link createBatchSocket}.
 */
export class NativeBatchSocket extends BaseSocket {
  /** Always `'batch'`. */
  readonly backend = 'batch' as const;
  private readonly native: NativeUdpSocket;
  /** The socket's counters (indices `C`), in the addon's memory: it writes them with no lookup per wake-up. */
  private readonly counters: Float64Array;
  private scheduler!: SendScheduler;
  private peers!: PeerTable;
  private recvRing!: RecvRing;
  private batchView!: RingBatch;
  /** Live `peer()` handles by peer id; releasing one (or its collection) unpins its entry. */
  private readonly handles = new PeerHandles<number, NativePeer>((id) => this.peers.unpin(id));
  private readonly peerView: PayloadView = { bytes: new Uint8Array(0), start: 0, length: 0 };
  private finalBufferSizes: [number, number] = [0, 0];

  private readonly binding: NativeBinding;
  /** This socket's id with the receive dispatcher (`recvDispatch: 'loop'`), or -1. */
  private dispatchId = -1;

  constructor(binding: NativeBinding, opts: ResolvedOptions) {
    super(opts);
    this.binding = binding;
    // Refused before the fd exists (node:dgram would throw this out of bind()).
    if ((opts.sendBufferSize ?? 0) > MAX_BUFFER_SIZE) throw bufferSizeError('send', EINVAL);
    if ((opts.recvBufferSize ?? 0) > MAX_BUFFER_SIZE) throw bufferSizeError('recv', EINVAL);
    this.native = new binding.UdpSocket(opts.type === 'udp4' ? 4 : 6, null, {
      onRecv: (count) => this.onRecv(count),
      onWritable: () => this.scheduler.onWritable(),
      onRecvError: (errno) => this.onRecvError(errno),
      onTimer: () => this.scheduler.onWindowTimer(),
    });
    this.counters = this.native.counters();
    const native = this.native;
    try {
      this.setUp(opts);
    } catch (err) {
      // The fd exists from here on: a refused option must not leak it (issue 11 item 7).
      native.close();
      if (this.dispatchId >= 0) withdrawRecvDispatch(this.dispatchId);
      throw err;
    }
    this.watchSignal();
  }

  private setUp(opts: ResolvedOptions): void {
    const native = this.native;
    // The rings and the peer table live in native memory: the addon finds them without a
    // lookup per recvmmsg/sendmmsg call.
    const alloc = (bytes: number): ArrayBuffer => this.binding.allocShared(bytes);
    this.peers = new PeerTable(
      (ip, port, table, offset) => native.encodePeer(ip, port, table, offset),
      () => this.scheduler.reattach(),
      undefined,
      alloc,
    );
    const backend = {
      attach: (r: SendRing): void => {
        native.setSendRing(r.arena, r.offsets, r.lengths, r.peers, this.peers.table);
      },
      allocate: alloc,
      send: (start: number, count: number): number => native.send(start, count),
      lastErrno: (): number => this.counters[C.LAST_ERRNO],
      awaitWritable: (on: boolean): void => native.awaitWritable(on),
      gsoActive: (): boolean => this.counters[C.GSO_ACTIVE] === 1,
      armTimer: (us: number): void => native.armTimer(us),
      disarmTimer: (): void => native.disarmTimer(),
    };
    this.scheduler = new SendScheduler(
      backend,
      {
        maxBatch: opts.maxBatch,
        windowUs: opts.windowUs,
        mode: opts.mode,
        maxQueue: opts.maxQueue,
        maxQueueBytes: opts.maxQueueBytes,
        order: opts.order,
        onFlush: (ev: FlushEvent) => {
          if (this.listenerCount('flush') > 0) this.emit('flush', ev);
        },
        onDrain: () => this.emit('drain'),
        onIdle: () => {
          if (this.listenerCount('idle') > 0) this.emit('idle');
        },
        // A relay flushes hundreds of times a second and rarely listens to either.
        wants: (notice) => this.listenerCount(notice) > 0,
        describePeer: (id) => (id < 0 ? {} : { address: this.peers.address(id), port: this.peers.port(id) }),
      },
      this.peers,
    );
    this.recvRing = new RecvRing(opts.recvBatch, opts.recvSlotSize, alloc);
    this.batchView = new RingBatch(this.recvRing);
    const r = this.recvRing;
    native.setRecvRing(r.arena, r.slotSize, r.lengths, r.addrs, r.flags, opts.recvBudget, r.segSizes);
    if (opts.recvDispatch === 'loop') {
      this.dispatchId = enrollRecvDispatch(this.binding, this);
      if (this.dispatchId >= 0) native.setRecvDispatch(this.dispatchId);
    }
    this.enableOffloads();
    this.applyOptionBufferSizes();
  }

  /** GSO/GRO where the kernel has them (probed per socket; see README "GSO and GRO"). GRO only with slots that hold any coalesced buffer whole. */
  private enableOffloads(): void {
    const opts = this.opts;
    if (opts.gso) this.native.setGso(true);
    if (opts.gro && opts.recvSlotSize >= GRO_MIN_SLOT) {
      try {
        this.native.setGro(true); // false where the kernel lacks UDP_GRO
      } catch {
        // An unexpected setsockopt errno: GRO is an optimisation, the socket works without it
        // (stats().gro stays false).
      }
    }
  }

  /** The `sendBufferSize`/`recvBufferSize` options, on the socket's fd. */
  private applyOptionBufferSizes(): void {
    if (this.opts.sendBufferSize) this.applyBufferSize(SNDBUF, this.opts.sendBufferSize);
    if (this.opts.recvBufferSize) this.applyBufferSize(RCVBUF, this.opts.recvBufferSize);
  }

  /**
   * SO_SNDBUF/SO_RCVBUF (`which`) = `bytes` (validated by validateBufferSize; 0 = leave as
   * is, as libuv). Throws ERR_SOCKET_BUFFER_SIZE with EINVAL above 2147483647 (what dgram
   * answers) or with the kernel's errno.
   */
  private applyBufferSize(which: typeof SNDBUF | typeof RCVBUF, bytes: number): void {
    const name = which === SNDBUF ? 'send' : 'recv';
    if (bytes > MAX_BUFFER_SIZE) throw bufferSizeError(name, EINVAL);
    if (bytes === 0) return;
    try {
      this.native.setBufferSize(which, bytes);
    } catch (err) {
      const errno = (err as { errno?: unknown }).errno;
      if (typeof errno === 'number') throw bufferSizeError(name, errno);
      throw err;
    }
  }

  /** dgram answers EBADF (ERR_SOCKET_BUFFER_SIZE) for buffer sizes before bind: libuv has no fd yet. */
  private assertBoundForBufferSize(name: 'send' | 'recv'): void {
    this.assertOpen();
    if (this.state !== 'bound') throw bufferSizeError(name, EBADF);
  }

  // ---- lifecycle ------------------------------------------------------------------------

  protected doBind(port: number, address: string, _exclusive: boolean, done: (err?: Error) => void): void {
    let flags = 0;
    if (this.opts.reusePort) flags |= BIND_REUSEPORT;
    if (this.opts.reuseAddr) flags |= BIND_REUSEADDR;
    if (this.opts.ipv6Only) flags |= BIND_IPV6ONLY;
    try {
      this.native.bind(address, port, flags);
    } catch (err) {
      done(err as Error);
      return;
    }
    this.native.startRecv();
    done();
  }

  /**
   * bind({ fd }): adopts an open UDP socket of this socket's family (inherited from a parent
   * process, or made by node:dgram elsewhere) in place of the socket's own fd — as
   * node:dgram (libuv's uv_udp_open) does: from then on the fd is this socket's, is
   * non-blocking, and is closed by close(). Thrown synchronously, as dgram does, with the
   * fd left untouched and open: ERR_INVALID_FD_TYPE (not a UDP socket: 'Unsupported fd
   * type: TCP'), ERR_INVALID_ARG_VALUE (a UDP socket of the other family), `open EEXIST`
   * (this process's event loop already watches it, e.g. through a live node:dgram socket).
   * The `sendBufferSize`/`recvBufferSize` options are applied to the adopted fd (as dgram
   * does when it starts listening); if the kernel refuses one, that is an 'error' event
   * after 'listening'.
   */
  protected doBindFd(fd: number, done: (err?: Error) => void): void {
    const [kind, family] = this.binding.guessHandle(fd);
    if (kind !== 'UDP') throw new BatchSocketTypeError('ERR_INVALID_FD_TYPE', `Unsupported fd type: ${kind}`);
    const want = this.type === 'udp4' ? 4 : 6;
    if (family !== want) {
      throw new BatchSocketTypeError('ERR_INVALID_ARG_VALUE', `The property 'options.fd' is an IPv${family} UDP socket (fd ${fd}); this socket's type is '${this.type}'. Received ${fd}`);
    }
    this.native.adopt(fd); // throws `open <errno>` with the fd untouched
    this.enableOffloads();
    this.native.startRecv();
    done();
    try {
      this.applyOptionBufferSizes();
    } catch (err) {
      process.nextTick(() => this.emit('error', err as Error));
    }
  }

  /** dgram binds implicitly on the first send/connect; so do we (any address, port 0). */
  private ensureBound(): void {
    if (this.state !== 'unbound') return;
    this.bind(0);
  }

  protected doConnect(port: number, address: string, done: (err?: Error) => void): void {
    this.ensureBound();
    try {
      this.native.connect(address, port);
    } catch (err) {
      done(err as Error);
      return;
    }
    done();
  }

  /**
   * Datagrams queued while connected (peer id -1) were addressed to the connected peer:
   * before the kernel forgets it, they get that peer's address as an explicit destination,
   * so they still go there — not to a later connect()'s peer, and not EDESTADDRREQ.
   */
  protected doDisconnect(): void {
    if (this.scheduler.queued > 0) {
      const [address, port] = this.native.remoteAddress();
      this.scheduler.readdress(-1, this.peers.lookup(address, port));
    }
    this.native.disconnect();
  }

  protected doClose(): void {
    this.scheduler.close();
    // Keep the real buffer sizes readable in stats() after close.
    this.finalBufferSizes = [this.native.getBufferSize(SNDBUF), this.native.getBufferSize(RCVBUF)];
    this.native.close();
    if (this.dispatchId >= 0) withdrawRecvDispatch(this.dispatchId);
  }

  // ---- send -----------------------------------------------------------------------------

  protected doSend(view: PayloadView, port: number | undefined, address: string | undefined, cb: SendCallback | undefined): boolean {
    if (this.state === 'unbound') this.ensureBound();
    const id = port === undefined ? -1 : this.peers.lookup(address!, port);
    return this.scheduler.enqueue(view.bytes, view.start, view.length, id, cb);
  }

  /**
   * A pinned handle for `address`:`port`: its `send` skips address validation and the
   * peer lookup (the fast path for a relay's viewers). The same destination returns the
   * same handle while it is held (see {@link Peer}).
   */
  peer(port: number, address: string): Peer {
    this.assertOpen();
    const p = validatePort(port, 'Port', false);
    const ip = validateAddress(address, this.type, this.loopback, this.opts.ipv6Only);
    const id = this.peers.lookup(ip, p, true);
    const live = this.handles.get(id);
    if (live) return live;
    const handle = new NativePeer(this, id, ip, p);
    this.handles.add(id, handle);
    return handle;
  }

  /** @internal {@link NativePeer.release}: the handle no longer pins its entry. */
  releasePeer(handle: NativePeer): void {
    this.handles.release(handle.id, handle);
  }

  /** Peer-table entries and live handles now (diagnostics; bounded for short-lived destinations). */
  peerCacheSize(): {
    /** Entries in the peer table (pinned and unpinned). */
    entries: number;
    /** Live `peer()` handles. */
    handles: number;
  } {
    return { entries: this.peers.size, handles: this.handles.size };
  }

  /** @internal fast path used by {@link NativePeer}. */
  sendToPeer(id: number, msg: SendPayload, cb: SendCallback | undefined): boolean {
    this.assertOpen();
    if (this.connected) throw new BatchSocketError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected: a peer handle cannot send on a connected socket');
    if (this.state === 'unbound') this.ensureBound();
    let bytes: Uint8Array;
    let start = 0;
    let length: number;
    if (msg instanceof Uint8Array && msg.length > 0 && msg.length <= this.maxSize) {
      bytes = msg;
      length = msg.length;
    } else {
      const v = toPayload(msg, undefined, undefined, this.maxSize, this.peerView);
      bytes = v.bytes;
      start = v.start;
      length = v.length;
    }
    return this.scheduler.enqueue(bytes, start, length, id, cb);
  }

  /**
   * @internal For the native RTP fan-out (src/fanout/): room in the send ring for up to
   * `slots` datagrams and `bytes` bytes (see SendScheduler.reserve); undefined once closed.
   */
  reserveSlots(slots: number, bytes: number): SlotReservation | undefined {
    if (this.state === 'closed') return undefined;
    if (this.state === 'unbound') this.ensureBound();
    return this.scheduler.reserve(slots, bytes);
  }

  /** @internal Queues what the fan-out wrote into the last reservation and counts what it dropped (SendScheduler.commit). */
  commitSlots(n: number, bytes: number, arenaOff: number, dropped: number): void {
    // Inside a receive-dispatcher delivery a tick-mode socket is flushed at its end, once,
    // instead of by an immediate: the same turn, every batch of the iteration in one sendmmsg.
    const defer = n > 0 && this.scheduler.opts.mode === 'tick' && deferToDeliveryEnd(this);
    this.scheduler.commit(n, bytes, arenaOff, dropped, !defer);
  }

  /** @internal The end-of-delivery flush {@link commitSlots} deferred (src/socket/recv-dispatch.ts). */
  flushDeferred(): void {
    if (this.state !== 'closed') this.scheduler.flushDeferred();
  }

  /** @internal Sends what is queued now unless a send is already waiting for room (the fan-out's end of batch). */
  flushQueued(): void {
    if (this.state !== 'closed') this.scheduler.flush('batch');
  }

  /**
   * @internal For the native fan-out's ingest routes (RtpFanout.routeIngest): routes this
   * socket's dispatched batches to stream `stream` of the fan-out with serial `fanout`
   * (0: no route), with the stream's ingest state (addon/ingest_route.h). False when the
   * socket cannot be routed: closed, or not delivering through the loop dispatcher
   * (`recvDispatch: 'loop'`).
   */
  setIngestRoute(fanout: number, stream = 0, state?: Uint8Array): boolean {
    if (this.state === 'closed') return false;
    if (fanout === 0) {
      this.native.setIngestRoute(0);
      return true;
    }
    if (this.dispatchId < 0) return false;
    this.native.setIngestRoute(fanout, stream, state);
    return true;
  }

  /**
   * @internal For the relay's inbound RTCP (src/relay/inbound-rtcp.ts): offers every batch
   * this socket reads to `intake` (addon/rtcp_intake.h) before JS sees it; null detaches.
   * False when the socket is closed.
   */
  setIntake(intake: NativeRtcpIntake | null): boolean {
    if (this.state === 'closed') return false;
    this.native.setIntake(intake);
    return true;
  }

  /** @internal The 32-byte sockaddr entry of `ip`:`port` for this socket's family at `table[offset]` (as the receive ring holds senders). */
  encodeSockaddr(ip: string, port: number, table: Uint8Array, offset: number): void {
    this.native.encodePeer(ip, port, table, offset);
  }

  /** @internal Whether sends wait for writable readiness (or an ENOBUFS back-off) now. */
  get sendBlocked(): boolean {
    return this.scheduler.blocked;
  }

  /** {@inheritDoc BatchSocket.flush} */
  flush(): void {
    this.assertOpen();
    this.scheduler.flush('flush');
  }

  // ---- receive --------------------------------------------------------------------------

  /** @internal One batch of `slots` ring slots from the receive dispatcher (`recvDispatch: 'loop'`, recv-dispatch.ts). */
  deliverRecv(slots: number): void {
    this.onRecv(slots);
  }

  private onRecv(slots: number): void {
    if (this.closed) return; // nothing after close(), whatever the kernel still held
    const batch = this.batchView;
    batch.load(slots); // one entry per datagram: GRO buffers are split here
    // Every consumer gets the batch even when one throws; the first error is rethrown
    // afterwards (the addon raises it as an uncaught exception), a second one next tick.
    let first: FirstError;
    try {
      this.emit('batch', batch); // (no listener: emit returns false; no listenerCount first, one lookup less per batch)
    } catch (error) {
      first = keepFirst(first, error);
    }
    if (!this.closed && this.hasIterators) this.deliverToIterators(batch.copy());
    if (!this.closed && this.listenerCount('message') > 0) {
      try {
        this.emitMessages(batch);
      } catch (error) {
        first = keepFirst(first, error);
      }
    }
    throwFirst(first);
  }

  private onRecvError(errno: number): void {
    const err = systemError(errno, 'recvmmsg');
    // dgram emits receive errors (e.g. ECONNREFUSED after an ICMP port unreachable on a
    // connected socket) as 'error'. Without a listener that would kill the process, so
    // they are then only counted (stats().recvErrors).
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  // ---- introspection ----------------------------------------------------------------------

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
    if (this.state !== 'bound') throw systemError(errno.EBADF, 'getsockname');
    const [address, port] = this.native.localAddress();
    return { address, family: this.type === 'udp4' ? 'IPv4' : 'IPv6', port };
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
    const [address, port] = this.native.remoteAddress();
    return { address, family: this.type === 'udp4' ? 'IPv4' : 'IPv6', port };
  }

  /** {@inheritDoc BatchSocket.stats} */
  stats(): BatchSocketStats {
    const s = this.scheduler;
    const c = this.counters;
    const open = this.state !== 'closed';
    return {
      backend: 'batch',
      enqueued: s.enqueued,
      sent: s.sent,
      failed: s.failed,
      dropped: s.dropped,
      queued: s.queued,
      queuedBytes: s.bytesQueued,
      bytesSent: s.bytesSent,
      syscalls: c[C.SEND_SYSCALLS],
      partialSends: s.partialSends,
      eagain: s.eagain,
      batches: s.batches,
      failures: { ...s.failures },
      drops: { queueFull: s.droppedQueueFull, closed: s.droppedClosed },
      holdUs: s.holdTime(),
      received: c[C.RECV_DATAGRAMS],
      bytesReceived: c[C.RECV_BYTES],
      recvSyscalls: c[C.RECV_SYSCALLS],
      recvBatches: c[C.RECV_BATCHES],
      recvTruncated: c[C.RECV_TRUNCATED],
      recvErrors: c[C.RECV_ERRORS],
      recvKernelDrops: c[C.RECV_KERNEL_DROPS],
      recvTaken: c[C.RECV_TAKEN],
      recvBatchesDropped: this.recvBatchesDropped,
      sendBufferSize: open ? this.native.getBufferSize(SNDBUF) : this.finalBufferSizes[0],
      recvBufferSize: open ? this.native.getBufferSize(RCVBUF) : this.finalBufferSizes[1],
      gsoMessages: c[C.GSO_MESSAGES],
      gsoSegments: c[C.GSO_SEGMENTS],
      gsoFallbacks: c[C.GSO_FALLBACKS],
      gsoPeerFallbacks: c[C.GSO_PEER_FALLBACKS],
      groBuffers: c[C.GRO_BUFFERS],
      groDatagrams: c[C.GRO_DATAGRAMS],
      gso: open && c[C.GSO_ACTIVE] === 1,
      gro: open && c[C.GRO_ACTIVE] === 1,
    };
  }

  /** @internal Raw native counters (indices in `C` of src/native/binding.ts), for tests and benchmarks. */
  nativeCounters(): Float64Array {
    return this.counters;
  }

  /**
   * @internal The window timer's timerfd (-1 when none: before the first sub-millisecond
   * window was armed, for whole-millisecond windows, and after close), for tests that read
   * the kernel's view of it in /proc/self/fdinfo.
   */
  windowTimerFd(): number {
    return this.native.timerFd();
  }

  /** Which window timer the scheduler uses: `'precise'` (timerfd, µs) for windows that are not whole milliseconds, else `'libuv'`. */
  get windowTimer(): 'precise' | 'libuv' {
    return this.scheduler.windowTimer;
  }

  /**
   * @internal TEST ONLY: makes the next `count` sendmmsg calls (with `gsoOnly`, only those
   * that start with a GSO message) fail with `errno`, without reaching the kernel — to
   * drive the GSO fallback and resend paths. See `NativeUdpSocket.debugInjectSendErrno`.
   */
  debugInjectSendErrno(errno: number, count: number, gsoOnly: boolean): void {
    this.native.debugInjectSendErrno(errno, count, gsoOnly);
  }

  /** {@inheritDoc BatchSocket.setSendBufferSize} */
  setSendBufferSize(bytes: number): void {
    const size = validateBufferSize(bytes);
    this.assertBoundForBufferSize('send');
    this.applyBufferSize(SNDBUF, size);
  }
  /** {@inheritDoc BatchSocket.setRecvBufferSize} */
  setRecvBufferSize(bytes: number): void {
    const size = validateBufferSize(bytes);
    this.assertBoundForBufferSize('recv');
    this.applyBufferSize(RCVBUF, size);
  }
  /** {@inheritDoc BatchSocket.getSendBufferSize} */
  getSendBufferSize(): number {
    this.assertBoundForBufferSize('send');
    return this.native.getBufferSize(SNDBUF);
  }
  /** {@inheritDoc BatchSocket.getRecvBufferSize} */
  getRecvBufferSize(): number {
    this.assertBoundForBufferSize('recv');
    return this.native.getBufferSize(RCVBUF);
  }
  protected doSetBroadcast(on: boolean): void {
    this.native.setBroadcast(on);
  }
  protected doSetTTL(ttl: number): void {
    this.native.setTTL(ttl);
  }
  protected doSetMulticastTTL(ttl: number): void {
    this.native.setMulticastTTL(ttl);
  }
  protected doSetMulticastLoopback(on: boolean): void {
    this.native.setMulticastLoopback(on);
  }
  protected doSetMulticastInterface(interfaceAddress: string): void {
    this.native.setMulticastInterface(interfaceAddress);
  }
  protected doMembership(group: string, interfaceAddress: string | undefined, join: boolean): void {
    this.native.setMembership(group, interfaceAddress, join);
  }
  protected doSourceMembership(source: string, group: string, interfaceAddress: string | undefined, join: boolean): void {
    this.native.setSourceMembership(source, group, interfaceAddress, join);
  }
  /** {@inheritDoc BatchSocket.ref} */
  ref(): this {
    if (this.state !== 'closed') this.native.ref(true);
    return this;
  }
  /** {@inheritDoc BatchSocket.unref} */
  unref(): this {
    if (this.state !== 'closed') this.native.ref(false);
    return this;
  }
}

/** Smallest receive slot GRO is enabled with: the largest UDP payload, so no coalesced buffer is cut. */
const GRO_MIN_SLOT = MAX_PAYLOAD_V6;
const EBADF = 9;
const EINVAL = 22;


/** Handle returned by {@link NativeBatchSocket.peer}. */
export class NativePeer implements Peer {
  private released = false;
  constructor(
    private readonly socket: NativeBatchSocket,
    readonly id: number,
    readonly address: string,
    readonly port: number,
  ) {}
  send(msg: SendPayload, callback?: SendCallback): boolean {
    // Released: the id may since belong to another destination; take the ordinary path.
    if (this.released) return this.socket.send(msg, this.port, this.address, callback);
    return this.socket.sendToPeer(this.id, msg, callback);
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
