/**
 * Public types of dgram-sendmmsg-native. The names here are a contract.
 */
import type { EventEmitter } from 'node:events';
import type { RemoteInfo } from 'node:dgram';

/** Address family of a socket: `'udp4'` (IPv4) or `'udp6'` (IPv6, dual-stack unless `ipv6Only`), as node:dgram's `type`. */
export type SocketType = 'udp4' | 'udp6';
/** Which implementation a socket uses: `'batch'` (native sendmmsg(2)/recvmmsg(2) addon) or `'dgram'` (node:dgram). */
export type BackendName = 'batch' | 'dgram';
/**
 * `'window'`: flush when `maxBatch` datagrams are queued or `windowUs` after the oldest
 * queued datagram, whichever comes first. `'tick'`: flush at the end of the current
 * event-loop turn (libuv check phase, `setImmediate`), so everything produced while
 * handling one batch of I/O leaves together with no added wait.
 */
export type FlushMode = 'window' | 'tick';
/**
 * Which order datagrams leave a socket in. `'global'`: exactly `send()` order.
 * `'per-peer'`: each destination's datagrams keep their `send()` order, but a flush may
 * group them by destination (first-queued destination first) so that equal-size runs to
 * one destination form GSO messages — what a relay's fan-out (packet 1 to viewers 1…N,
 * packet 2 to viewers 1…N, …) needs. Receivers only ever see per-destination order.
 */
export type SendOrder = 'global' | 'per-peer';

/** Options of {@link createBatchSocket}. Units are in the names' docs. */
export interface BatchSocketOptions {
  /** Address family. */
  type: SocketType;
  /** `'batch'` (native sendmmsg/recvmmsg; default where it loads) or `'dgram'` (node:dgram). */
  backend?: BackendName;
  /** Datagrams that trigger a flush (default 64). Above UIO_MAXIOV (1024) one flush makes several sendmmsg calls. */
  maxBatch?: number;
  /**
   * Longest hold of the oldest queued datagram, µs (default 1000, 1..1_000_000). On the
   * batch backend a window that is not a whole number of ms (e.g. 250) is held by a
   * timerfd (µs precision, one timerfd_settime(2) to arm and one to cancel); whole-ms
   * windows by a libuv timer (1 ms granularity: it may hold up to ~1 ms longer). The dgram
   * backend holds nothing (each send goes to node:dgram at once).
   */
  windowUs?: number;
  /** Flush policy (default `'window'`). */
  mode?: FlushMode;
  /** Most datagrams queued (default 8192). A send beyond it is dropped and `send()` returns false. */
  maxQueue?: number;
  /** Most payload bytes queued (default 8 MiB). */
  maxQueueBytes?: number;
  /** SO_SNDBUF request, bytes (the kernel doubles it; `stats()` reports the real size). */
  sendBufferSize?: number;
  /** SO_RCVBUF request, bytes. */
  recvBufferSize?: number;
  /** SO_REUSEPORT (default false; batch backend only). */
  reusePort?: boolean;
  /**
   * SO_REUSEADDR before bind (default false), as dgram's `reuseAddr`: several sockets that
   * all set it may bind the same address and port (e.g. receivers of one multicast group);
   * unicast datagrams then go to one of them (socket(7)).
   */
  reuseAddr?: boolean;
  /** IPV6_V6ONLY for udp6 (default false: dual-stack). */
  ipv6Only?: boolean;
  /** Datagrams per recvmmsg call (default 32, 1..1024). */
  recvBatch?: number;
  /** Receive slot size, bytes (default 65536): a longer datagram is cut to it, flagged `truncated: true` in its `'message'` rinfo and counted in `stats().recvTruncated`. */
  recvSlotSize?: number;
  /** Most datagrams read per readable wake-up before yielding to the event loop (default 256). */
  recvBudget?: number;
  /**
   * How receive batches reach the handlers (batch backend; the dgram backend ignores it):
   * `'immediate'` (default) from the socket's readable wake-up, in the socket's async
   * context, as node:dgram does; `'loop'` coalesced per event-loop iteration: the batch is
   * read in the poll phase and delivered in the check phase of the same iteration (before
   * `setImmediate` callbacks), together with the batches of every other `'loop'` socket
   * read in that iteration, in ONE call into JS — for servers with many sparse sockets
   * (a relay's ingest ports), where the cost of a call into JS per socket dominated. A
   * `'loop'` socket reads at most one batch (`recvBatch` datagrams) per iteration and its
   * handlers run in a shared async context (AsyncLocalStorage stores of the code that
   * created the socket are not seen there). Default `'immediate'`.
   */
  recvDispatch?: 'immediate' | 'loop';
  /** Most batches buffered for a slow `for await` consumer before the oldest are dropped (default 1024). */
  maxPendingBatches?: number;
  /**
   * UDP GSO on sends (udp(7) UDP_SEGMENT; batch backend, Linux >= 4.18): `'auto'`
   * (default) sends each run of queued datagrams to one destination with the same size
   * (the last may be shorter; up to 64 datagrams, 65507 bytes) as one message the kernel
   * segments, where the kernel supports it, and falls back to plain sends for good if a
   * device cannot (EIO/EINVAL; counted in `stats().gsoFallbacks`). `false`: never.
   */
  gso?: 'auto' | false;
  /**
   * UDP GRO on receives (udp(7) UDP_GRO; batch backend, Linux >= 5.0): `'auto'` (default)
   * lets the kernel hand over several datagrams of one sender in one buffer; they are split
   * back into the original datagrams (boundaries, order, sender) before any handler sees
   * them. Only used when `recvSlotSize >= 65527` (the default 65536), so that no coalesced
   * buffer is ever cut. `false`: never.
   */
  gro?: 'auto' | false;
  /** Send order guarantee (default `'global'`); `'per-peer'` lets a flush regroup by destination for GSO. */
  order?: SendOrder;
  /** As dgram's: aborting it closes the socket (an already aborted signal closes it at once). */
  signal?: AbortSignal;
  /**
   * dgram's custom DNS lookup. Not supported (destinations are IP literals, no DNS on the send
   * path): passing one throws ERR_INVALID_ARG_VALUE rather than being ignored.
   */
  lookup?: never;
}

/** Outcome of one native send call: observable as the `'flush'` event. */
export interface FlushEvent {
  /** Datagrams offered to the kernel in this call. */
  requested: number;
  /** Datagrams the kernel took. */
  sent: number;
  /** Errno name of the first datagram not taken (`'EAGAIN'`, `'EMSGSIZE'`, …), or null when all were taken. */
  code: string | null;
  /** Negative errno (Node convention) or 0. */
  errno: number;
  /** What happened to the datagram at `code`: `'retry'` (transient, waits for writability), `'failed'` (that datagram alone failed), or null. */
  action: 'retry' | 'failed' | null;
  /** Hold time of the oldest datagram in this flush, µs. */
  holdUs: number;
  /** What triggered it. */
  reason: 'batch' | 'window' | 'tick' | 'flush' | 'close' | 'writable';
}

/** Hold-time percentiles, µs (oldest datagram of each flush). */
export interface HoldTimeStats {
  /** Median hold time, µs. */
  p50: number;
  /** 99th-percentile hold time, µs. */
  p99: number;
  /** Longest hold time seen, µs. */
  max: number;
  /** Flushes measured (samples behind the percentiles). */
  count: number;
}

/**
 * Counters of one socket. Datagram counts satisfy, at every moment,
 * `enqueued === sent + failed + dropped + queued`.
 */
export interface BatchSocketStats {
  /** Backend of the socket these counters belong to. */
  backend: BackendName;
  /** Datagrams handed to `send()` that passed validation. */
  enqueued: number;
  /** Datagrams the kernel accepted. */
  sent: number;
  /** Datagrams that failed with an error of their own (see `failures`). */
  failed: number;
  /** Datagrams dropped by this library (see `drops`). */
  dropped: number;
  /** Datagrams waiting in the queue now. */
  queued: number;
  /** Payload bytes waiting now. */
  queuedBytes: number;
  /** Payload bytes accepted by the kernel. */
  bytesSent: number;
  /** Send system calls (sendmmsg for 'batch'; counted sends for 'dgram'). */
  syscalls: number;
  /** Send calls where the kernel took some but not all datagrams offered. */
  partialSends: number;
  /**
   * Times the queue stopped on a transient errno (EAGAIN/EWOULDBLOCK/ENOBUFS/EINTR) and waited:
   * for writability, or for the ENOBUFS back-off timer. Always 0 on the dgram backend (libuv
   * retries internally).
   */
  eagain: number;
  /**
   * Native send calls (batch backend): one per flush, plus one more each time a flush goes
   * on after a datagram that failed alone or after a partial send; each call makes one
   * sendmmsg(2) per 1024 datagrams (`syscalls`). Always 0 on the dgram backend.
   */
  batches: number;
  /** Failed datagrams by errno code. */
  failures: Record<string, number>;
  /** Dropped datagrams by reason. */
  drops: {
    /** Datagrams refused because the queue was at `maxQueue` datagrams or `maxQueueBytes` bytes (`send()` returned false; callback error ERR_SOCKET_QUEUE_FULL). */
    queueFull: number;
    /** Datagrams not sent because the socket closed first (callback error ERR_SOCKET_CLOSED). */
    closed: number;
  };
  /** Hold time of the oldest datagram per flush, µs. */
  holdUs: HoldTimeStats;
  /** Receive side. */
  received: number;
  /** Payload bytes received (after any truncation to `recvSlotSize`). */
  bytesReceived: number;
  /** recvmmsg(2) calls (batch backend); always 0 on the dgram backend. */
  recvSyscalls: number;
  /** Receive batches (`'batch'` events): per recvmmsg(2) call on 'batch', per datagram on 'dgram'. */
  recvBatches: number;
  /** Datagrams longer than the receive slot (`recvSlotSize`), cut to it; each is also flagged `truncated: true` in its `'message'` rinfo. */
  recvTruncated: number;
  /** Receive errors (errno of recvmmsg(2) or dgram's socket error); emitted as `'error'` when a listener is attached, else only counted. */
  recvErrors: number;
  /**
   * Datagrams the kernel dropped for this socket before it read them (receive buffer full,
   * ...), per socket: on 'batch' the SO_RXQ_OVFL count (socket(7)) the kernel attaches to
   * the next datagram queued after a drop, so a drop shows once a later datagram has been
   * received; on 'dgram' the socket's `drops` column of /proc/net/udp(6), read when
   * `stats()` is called (0 where that file is unavailable). The system-wide
   * `/proc/net/snmp` Udp RcvbufErrors counts the same kind of loss for all sockets.
   */
  recvKernelDrops: number;
  /**
   * Of `received`, datagrams taken in by native code before JS saw them (the relay's
   * viewers' receiver reports, `setIntake` in src/native/binding.ts); never emitted. 0 on 'dgram'.
   */
  recvTaken: number;
  /** Batches dropped because a `for await` consumer fell behind. */
  recvBatchesDropped: number;
  /** Real SO_SNDBUF / SO_RCVBUF sizes (bytes), 0 before the socket exists. */
  sendBufferSize: number;
  /** Real SO_RCVBUF size, bytes (socket(7); the kernel doubles the requested value), 0 before the socket exists. */
  recvBufferSize: number;
  /** GSO messages the kernel accepted (each carries >= 2 datagrams, all counted in `sent`). */
  gsoMessages: number;
  /** Datagrams sent inside GSO messages. */
  gsoSegments: number;
  /**
   * Times GSO was turned off for the socket after a device or route refused it (EIO/EINVAL,
   * or EMSGSIZE on a connected socket: a path MTU below the datagram size); the datagrams
   * were resent without it.
   */
  gsoFallbacks: number;
  /**
   * Destinations of an unconnected socket whose GSO was turned off after EMSGSIZE (a path
   * MTU below the datagram size); their datagrams were resent plain and go plain from then
   * on, other destinations keep GSO.
   */
  gsoPeerFallbacks: number;
  /** Received buffers the kernel had coalesced (GRO), each split back into its datagrams. */
  groBuffers: number;
  /** Datagrams that arrived inside those buffers (all counted in `received`). */
  groDatagrams: number;
  /** Whether GSO is in use on sends now (false after a fallback, with `gso: false`, or where unsupported). */
  gso: boolean;
  /** Whether GRO is enabled on the socket now. */
  gro: boolean;
}

/** Sender address of a received datagram. Same shape as dgram's `rinfo`. */
export type { RemoteInfo };

/**
 * The `rinfo` of a `'message'` event: dgram's shape, plus `truncated: true` on a
 * datagram that was longer than the receive slot (`recvSlotSize`) and was cut to it
 * (MSG_TRUNC; `size` is then the slot size). Absent otherwise, so a dgram `rinfo` and
 * this one compare equal for every whole datagram.
 */
export interface MessageInfo extends RemoteInfo {
  /** Present (true) only when the datagram was cut to `recvSlotSize` (MSG_TRUNC, recvmsg(2)). */
  truncated?: true;
}

/**
 * A batch of received datagrams. In a `'batch'` handler its buffers are views into the
 * receive ring, valid only until the handler returns; batches yielded by
 * `for await (const batch of socket)` are copies and stay valid.
 */
export interface RecvBatch {
  /** Datagrams in this batch. */
  readonly count: number;
  /** The bytes behind the batch: datagram i is `bytes[offset(i) .. offset(i)+length(i))`. Zero-copy access for hot loops. */
  readonly bytes: Uint8Array;
  /** Byte offset of datagram i in {@link RecvBatch.bytes}. */
  offset(i: number): number;
  /** Payload of datagram i (0 <= i < count), a Buffer view (no copy). */
  datagram(i: number): Buffer;
  /** Length of datagram i, bytes. */
  length(i: number): number;
  /** Sender of datagram i. */
  remote(i: number): RemoteInfo;
  /**
   * Whether datagrams i and j came from the same sender (address, port and, for IPv6,
   * scope), compared without decoding either: a per-datagram source check (a relay's
   * source lock) decodes {@link RecvBatch.remote} only where the sender changes, so a
   * batch from one sender allocates one address string, not one per datagram.
   */
  sameRemote(i: number, j: number): boolean;
  /** True when datagram i was longer than the receive slot and was cut. */
  truncated(i: number): boolean;
}

/** A destination registered once: its sends skip address parsing and lookup. */
/**
 * A handle for one destination, from {@link BatchSocket.peer}: `peer(port, address)`
 * returns the same handle for the same destination while the program holds it. On the
 * batch backend the handle pins the destination's peer-table entry (its `send` needs no
 * address parsing or lookup); `release()` — or `using h = sock.peer(…)` (`Symbol.dispose`)
 * — unpins it, and a handle the program drops without releasing is released when the
 * garbage collector reclaims it (FinalizationRegistry), so short-lived destinations do
 * not accumulate. A released handle still sends (through the ordinary per-send lookup).
 */
export interface Peer {
  /** Destination IP address (as given to `peer()`, validated). */
  readonly address: string;
  /** Destination UDP port, 1..65535. */
  readonly port: number;
  /**
   * Queue one datagram for this peer; same contract as {@link BatchSocket.send}. Throws
   * ERR_SOCKET_DGRAM_IS_CONNECTED on a connected socket (as `send(msg, port, address)` does).
   */
  send(msg: SendPayload, callback?: SendCallback): boolean;
  /** Unpins the destination (idempotent); the next `peer()` for it returns a new handle. */
  release(): void;
  /** Same as `release()`, for `using`. */
  [Symbol.dispose](): void;
}

/**
 * What `send()` accepts, as node:dgram: bytes (Buffer, Uint8Array, any ArrayBufferView), a
 * string (UTF-8), or an array of those sent as one datagram (concatenated).
 */
export type SendPayload = Buffer | Uint8Array | ArrayBufferView | string | ReadonlyArray<Buffer | Uint8Array | string>;
/** `(err, bytes)`: `err` is null when the kernel took the datagram; `bytes` is its length. */
export type SendCallback = (err: Error | null, bytes?: number) => void;

/**
 * Every event a {@link BatchSocket} emits, with its listener's arguments — the source of the
 * typed `on`/`once`/`off`/… overloads, as node:dgram's `Socket` declares its own.
 */
export interface BatchSocketEventMap {
  /** The socket is bound (after `bind()`; also after an implicit bind by the first `send()`). */
  listening: [];
  /** One received datagram, dgram-style: `msg` is a copy (bytes), `rinfo` its sender. Emitted per datagram of each receive batch. */
  message: [msg: Buffer, rinfo: RemoteInfo];
  /**
   * One receive batch (one recvmmsg(2) call on the batch backend, one datagram on the dgram
   * backend): its buffers are views valid only until the listener returns.
   */
  batch: [batch: RecvBatch];
  /** Outcome of one native send call (sendmmsg(2)): requested, sent, errno of the first datagram not taken. */
  flush: [event: FlushEvent];
  /** Room in the send queue again after a `send()` returned false (a drop): the Node stream convention. */
  drain: [];
  /**
   * The send queue became empty: every datagram enqueued so far was sent, failed or dropped.
   * Emitted after that flush's callbacks.
   */
  idle: [];
  /**
   * An error without a callback to take it: a failed `bind()`, a failed `connect()` without a
   * callback, or a receive error (recvmmsg(2) errno, e.g. ECONNREFUSED on a connected socket).
   * Errors carry Node-style `code`, `errno` and `syscall`.
   */
  error: [err: Error];
  /** `connect()` finished; datagrams now go to the connected peer. */
  connect: [];
  /** The socket closed (after `close()`); no event follows. */
  close: [];
}

/** Names of the events of a {@link BatchSocket}. */
export type BatchSocketEvent = keyof BatchSocketEventMap;
/** The listener type of event `E`. */
export type BatchSocketListener<E extends BatchSocketEvent> = (...args: BatchSocketEventMap[E]) => void;

/**
 * A UDP socket that sends in batches. dgram-compatible where dgram has the method; the
 * batching additions are `flush()`, `peer()`, `stats()`, the `'flush'`, `'drain'`, `'idle'`
 * and `'batch'` events and async iteration.
 *
 * Events (typed: {@link BatchSocketEventMap}): `'listening'`, `'message'` `(msg, rinfo)`,
 * `'batch'` `(batch)`, `'flush'` `(FlushEvent)`, `'drain'` (room again after a drop), `'idle'`
 * (the send queue became empty: every datagram enqueued so far was sent, failed or dropped;
 * emitted after that flush's callbacks), `'error'` `(err)`, `'connect'`, `'close'`.
 */
export interface BatchSocket extends EventEmitter, AsyncIterable<RecvBatch> {
  // Typed events: a misspelt event name or a listener of the wrong shape is a compile error.
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
  /** Backend in use (`'batch'` or `'dgram'`), fixed at creation. */
  readonly backend: BackendName;
  /** Address family, as given to {@link createBatchSocket}. */
  readonly type: SocketType;
  /**
   * Binds to `port` (default 0: any) on `address` (default all interfaces), as dgram's
   * `bind()`: asynchronous, `'listening'` (and `callback`) follow, a failure is an `'error'` event.
   * @throws ERR_SOCKET_ALREADY_BOUND when bound already; ERR_SOCKET_BAD_PORT / ERR_INVALID_IP_ADDRESS / ERR_INVALID_ARG_TYPE for bad arguments; ERR_SOCKET_DGRAM_NOT_RUNNING after close.
   */
  bind(port?: number, address?: string, callback?: () => void): this;
  /**
   * With `fd`: takes over an open UDP socket (bound or not; e.g. inherited from a parent
   * process through spawn's `stdio`) instead of binding — as dgram: from then on the fd is
   * the socket's, made non-blocking, and closed by {@link close}; `port`/`address`/`exclusive`
   * are ignored. `'listening'` (and `callback`) follow asynchronously.
   * @throws ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE unless `fd` is an integer 0..2^31-1;
   * ERR_INVALID_FD_TYPE (TypeError, `Unsupported fd type: TCP`, as dgram) when it is not a UDP
   * socket; batch backend: ERR_INVALID_ARG_VALUE for a UDP socket of the other family,
   * `open EEXIST` (SystemError) when this process's event loop already watches the fd (a live
   * node:dgram socket owns it). A refused fd is left open and untouched.
   */
  bind(options: { port?: number; address?: string; exclusive?: boolean; fd?: number }, callback?: () => void): this;
  /** Binds to any port on all interfaces; `callback` runs on `'listening'`. */
  bind(callback: () => void): this;
  /**
   * Associates the socket with one peer (connect(2) on a UDP socket, as dgram's `connect()`);
   * asynchronous: `'connect'` and `callback` follow, a failure goes to `callback` or `'error'`.
   * Binds implicitly first when unbound. `address` defaults to loopback.
   * @throws ERR_SOCKET_DGRAM_IS_CONNECTED when already connected (or connecting); ERR_SOCKET_BAD_PORT / ERR_INVALID_IP_ADDRESS for bad arguments.
   */
  connect(port: number, address?: string, callback?: (err?: Error) => void): void;
  /**
   * Dissolves the association made by {@link BatchSocket.connect}, as dgram's; datagrams already
   * queued still go to the peer they were sent to.
   * @throws ERR_SOCKET_DGRAM_NOT_CONNECTED when not connected (or still connecting).
   */
  disconnect(): void;
  /**
   * Queues one datagram to `address`:`port` (default address: loopback; on a connected socket,
   * no port or address). Returns false when the datagram was dropped (queue full:
   * ERR_SOCKET_QUEUE_FULL to `callback`, `'drain'` later), true otherwise. `callback(err, bytes)`
   * runs once the kernel took the datagram or it failed (node:dgram's `send()` contract).
   * @throws ERR_SOCKET_BAD_PORT, ERR_INVALID_IP_ADDRESS, ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE (empty datagram), EMSGSIZE (over the family's maximum), ERR_SOCKET_DGRAM_IS_CONNECTED (address given on a connected socket), ERR_SOCKET_DGRAM_NOT_RUNNING (closed).
   */
  send(msg: SendPayload, port?: number, address?: string, callback?: SendCallback): boolean;
  /** `send(msg, port, callback)`: to `port` on loopback. */
  send(msg: SendPayload, port?: number, callback?: SendCallback): boolean;
  /** `send(msg, callback)`: to the connected peer. */
  send(msg: SendPayload, callback?: SendCallback): boolean;
  /** `send(msg, offset, length, …)`: bytes `offset .. offset+length` of a single buffer or string (ERR_BUFFER_OUT_OF_BOUNDS outside it). */
  send(msg: SendPayload, offset: number, length: number, port?: number, address?: string, callback?: SendCallback): boolean;
  /**
   * A {@link Peer} handle for `address`:`port` (same handle while held): sends to it skip address
   * parsing and, on the batch backend, the peer lookup. Validates like `send()`.
   */
  peer(port: number, address: string): Peer;
  /** Sends everything queued now instead of waiting for the batch, window or tick (a no-op on the dgram backend). @throws ERR_SOCKET_DGRAM_NOT_RUNNING after close. */
  flush(): void;
  /**
   * The bound local address, as dgram's `address()` (getsockname(2)).
   * @throws a system error `getsockname EBADF` before bind; ERR_SOCKET_DGRAM_NOT_RUNNING after close.
   */
  address(): {
    /** Local IP address. */
    address: string;
    /** `'IPv4'` or `'IPv6'`. */
    family: string;
    /** Local UDP port. */
    port: number;
  };
  /**
   * The connected peer's address, as dgram's `remoteAddress()` (getpeername(2)).
   * @throws ERR_SOCKET_DGRAM_NOT_CONNECTED when not connected.
   */
  remoteAddress(): {
    /** The connected peer's IP address. */
    address: string;
    /** `'IPv4'` or `'IPv6'`. */
    family: string;
    /** The connected peer's UDP port. */
    port: number;
  };
  /**
   * Closes the socket, as dgram's `close()`: queued datagrams get one last flush attempt and any
   * not sent then fail to their callbacks; `'close'` (and `callback`) follow on the next tick.
   * @throws ERR_SOCKET_DGRAM_NOT_RUNNING when already closed.
   */
  close(callback?: () => void): this;
  /** A snapshot of the socket's counters (works before bind and after close). */
  stats(): BatchSocketStats;
  /**
   * Sets SO_SNDBUF, bytes (socket(7); the kernel doubles the value), as dgram's.
   * @throws ERR_SOCKET_BAD_BUFFER_SIZE for a bad value; ERR_SOCKET_BUFFER_SIZE (a SystemError, e.g. EBADF before bind).
   */
  setSendBufferSize(bytes: number): void;
  /**
   * Sets SO_RCVBUF, bytes (socket(7); the kernel doubles the value), as dgram's.
   * @throws ERR_SOCKET_BAD_BUFFER_SIZE for a bad value; ERR_SOCKET_BUFFER_SIZE (a SystemError, e.g. EBADF before bind).
   */
  setRecvBufferSize(bytes: number): void;
  /** SO_SNDBUF as the kernel reports it, bytes. @throws ERR_SOCKET_BUFFER_SIZE (EBADF) before bind. */
  getSendBufferSize(): number;
  /** SO_RCVBUF as the kernel reports it, bytes. @throws ERR_SOCKET_BUFFER_SIZE (EBADF) before bind. */
  getRecvBufferSize(): number;
  /** Lets the socket keep the event loop alive again (the default), as dgram's `ref()`. */
  ref(): this;
  /**
   * Lets the process exit while the socket is open, as dgram's `unref()`. Queued datagrams
   * still keep it alive: while the send queue is not empty (window or tick pending, a send
   * waiting for writability after EAGAIN, an ENOBUFS back-off) the process does not exit
   * before each of them was sent or failed and called back — as libuv's pending send
   * requests do for an unref'd dgram socket.
   */
  unref(): this;
  /** dgram's socket options; each throws `<method> EBADF` before the socket is bound, as dgram. */
  setBroadcast(flag: boolean): void;
  /** IP_TTL / IPV6_UNICAST_HOPS (ip(7), ipv6(7)), 1..255 (`setTTL EINVAL` outside). Returns `ttl`, as dgram. */
  setTTL(ttl: number): number;
  /** IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS (ip(7), ipv6(7)), 0..255 (`setMulticastTTL EINVAL` outside). Returns `ttl`, as dgram. */
  setMulticastTTL(ttl: number): number;
  /** IP_MULTICAST_LOOP / IPV6_MULTICAST_LOOP (ip(7), ipv6(7)). Returns `flag`, as dgram. */
  setMulticastLoopback(flag: boolean): boolean;
  /**
   * Outgoing interface for multicast (IP_MULTICAST_IF / IPV6_MULTICAST_IF): udp4 the interface's
   * IPv4 address, udp6 `'::%ifname'` (or `'::%index'`); `setMulticastInterface EINVAL` otherwise, as dgram.
   */
  setMulticastInterface(interfaceAddress: string): void;
  /** Joins an any-source multicast group (IP_ADD_MEMBERSHIP / IPV6_ADD_MEMBERSHIP) on `interfaceAddress` or the kernel's choice. */
  addMembership(multicastAddress: string, interfaceAddress?: string): void;
  /** Leaves a group joined with {@link BatchSocket.addMembership} (IP_DROP_MEMBERSHIP / IPV6_DROP_MEMBERSHIP). */
  dropMembership(multicastAddress: string, interfaceAddress?: string): void;
  /** Joins `groupAddress` for datagrams from `sourceAddress` only (RFC 4607 SSM; IP_ADD_SOURCE_MEMBERSHIP / MCAST_JOIN_SOURCE_GROUP). */
  addSourceSpecificMembership(sourceAddress: string, groupAddress: string, interfaceAddress?: string): void;
  /** Leaves a source-specific membership. */
  dropSourceSpecificMembership(sourceAddress: string, groupAddress: string, interfaceAddress?: string): void;
  /** Payload bytes queued, not yet taken by the kernel. */
  getSendQueueSize(): number;
  /** Datagrams queued, not yet taken by the kernel. */
  getSendQueueCount(): number;
  /** dgram's legacy `sendto(msg, offset, length, port, address[, callback])`. */
  sendto(msg: SendPayload, offset: number, length: number, port: number, address: string, callback?: SendCallback): boolean;
  /** Closes the socket (`await using`). */
  [Symbol.asyncDispose](): Promise<void>;
}
