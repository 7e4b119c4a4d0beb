/**
 * Typed view of the native addon (`addon/`, built by cmake-js into
 * `build/Release/dgram_sendmmsg_native.node`) and its loader.
 *
 * The binding is deliberately low level: everything the hot path touches is a
 * preallocated typed array shared with native code, so that one batch costs one
 * N-API call and no allocation. Validation of user input happens in TypeScript
 * before any of these methods is called; the native side still bounds-checks
 * every index it is given and throws `RangeError` rather than touch memory it
 * does not own.
 *
 * Linux only (sendmmsg(2), recvmmsg(2)). Where the addon cannot load,
 * {@link loadNative} returns the reason and the public API falls back to the
 * `node:dgram` backend.
 *
 * Folder src/native/: the loader (locate.ts finds the addon file: build from source or
 * prebuild) and this typed view, nothing else. Imports only ../limits.ts and ./locate.ts; everything that talks to the addon (src/socket/native-socket.ts) builds on it.
 */
import { constants as osConstants } from 'node:os';
import { existsSync } from 'node:fs';
import { GSO_MAX_SEGMENTS, MAX_PAYLOAD_V4, MAX_PAYLOAD_V6 } from '../limits.js';
import { addonCandidates, requireHere } from './locate.js';

// The numbers below are also the addon's (it exports them as `constants`):
// {@link loadNative} refuses an addon whose numbers differ (see checkConstants).

/** Size in bytes of one entry of a peer table or of a receive address table. */
export const SOCKADDR_STRIDE = 32;

/** Flags for {@link NativeUdpSocket.bind}. */
export const BIND_REUSEPORT = 1;
/** Flags for {@link NativeUdpSocket.bind}: set IPV6_V6ONLY on a udp6 socket. */
export const BIND_IPV6ONLY = 2;
/** Flags for {@link NativeUdpSocket.bind}: set SO_REUSEADDR (dgram's `reuseAddr`). */
export const BIND_REUSEADDR = 4;

/** Which socket buffer {@link NativeUdpSocket.setBufferSize} addresses. */
export const SNDBUF = 0;
export const RCVBUF = 1;

/**
 * Indices into the `Float64Array` counters block shared with native code
 * (native writes, JS reads with no call); the list is `DSN_COUNTERS` in addon/counters.h.
 */
export const C = {
  /** sendmmsg(2) calls made, including failed ones. */
  SEND_SYSCALLS: 0,
  /** Datagrams the kernel accepted. */
  SEND_DATAGRAMS: 1,
  /** Payload bytes the kernel accepted. */
  SEND_BYTES: 2,
  /** sendmmsg calls that took fewer datagrams than offered (but > 0). */
  SEND_PARTIAL: 3,
  /** sendmmsg calls that failed with EAGAIN/EWOULDBLOCK. */
  SEND_EAGAIN: 4,
  /** sendmmsg calls that failed with ENOBUFS. */
  SEND_ENOBUFS: 5,
  /** sendmmsg calls that failed with any other errno (EINTR is retried, not counted here). */
  SEND_ERRORS: 6,
  /** Times writable readiness was armed. */
  WRITABLE_WAITS: 7,
  /**
   * recvmmsg(2) calls made, including failed ones. A short read (fewer than asked) ends the
   * wake-up without the extra call that would only return EAGAIN.
   */
  RECV_SYSCALLS: 8,
  /** Datagrams received (truncated ones included). */
  RECV_DATAGRAMS: 9,
  /** Payload bytes received (copied into slots: a truncated datagram counts its slot size). */
  RECV_BYTES: 10,
  /** Datagrams longer than a receive slot (MSG_TRUNC); delivered with `truncated` flag. */
  RECV_TRUNCATED: 11,
  /** Readable wake-ups from libuv. */
  RECV_WAKEUPS: 12,
  /**
   * recvmmsg calls that failed with an errno other than EAGAIN/EINTR (each also reported by
   * `onRecvError`), plus EFAULT when a registered receive array was detached (receiving stops).
   */
  RECV_ERRORS: 13,
  /** Wake-ups that stopped because the per-wake budget was spent (data may remain). */
  RECV_BUDGET_EXHAUSTED: 14,
  /** Output of send(): errno of the first datagram not taken (0 if all taken). */
  LAST_ERRNO: 15,
  /** Receive batches delivered to JS (one callback each). */
  RECV_BATCHES: 16,
  /** UDP_SEGMENT (GSO) messages the kernel accepted; each carries >= 2 datagrams. */
  GSO_MESSAGES: 17,
  /** Datagrams sent inside GSO messages (also counted in SEND_DATAGRAMS). */
  GSO_SEGMENTS: 18,
  /** Times GSO was turned off for the socket after EIO/EINVAL (or EMSGSIZE when connected) on a GSO message (the datagrams were resent plain). */
  GSO_FALLBACKS: 19,
  /** Received buffers that held several datagrams coalesced by UDP_GRO. */
  GRO_BUFFERS: 20,
  /** Datagrams in those buffers (also counted in RECV_DATAGRAMS). */
  GRO_DATAGRAMS: 21,
  /** 1 while GSO is used on sends ({@link NativeUdpSocket.setGso}, cleared by a fallback), else 0. */
  GSO_ACTIVE: 22,
  /** 1 while UDP_GRO is enabled ({@link NativeUdpSocket.setGro}), else 0. */
  GRO_ACTIVE: 23,
  /** GSO runs resent as plain datagrams after a per-datagram errno on an unconnected socket. */
  GSO_RESENDS: 24,
  /**
   * Peers of an unconnected socket for which GSO was turned off after a GSO message to
   * them failed with EMSGSIZE (a path MTU below the segment size); their datagrams were
   * resent plain and go plain from then on. A connected socket counts GSO_FALLBACKS instead.
   */
  GSO_PEER_FALLBACKS: 25,
  /**
   * Datagrams the kernel dropped for this socket before it could read them (receive buffer
   * full, ...): the growth of the SO_RXQ_OVFL count (socket(7), sk_drops) carried by the
   * datagrams received since the socket opened. A drop becomes visible with the next
   * datagram that is queued after it.
   */
  RECV_KERNEL_DROPS: 26,
  /** Times the window timer was armed ({@link NativeUdpSocket.armTimer}). */
  TIMER_ARMS: 27,
  /** Wake-ups of the window timer's watcher (an idle socket has none). */
  TIMER_WAKEUPS: 28,
  /** Window timer expiries delivered to `onTimer`. */
  TIMER_FIRES: 29,
  /**
   * Datagrams the attached {@link NativeRtcpIntake} took in natively ({@link
   * NativeUdpSocket.setIntake}): counted in RECV_DATAGRAMS too, never delivered to `onRecv`.
   */
  RECV_TAKEN: 30,
  /** Number of slots; the JS side allocates `new Float64Array(COUNT)`. */
  COUNT: 32,
} as const;

/** Callbacks the native socket makes into JS (each is one N-API crossing per event, never per datagram). */
export interface NativeCallbacks {
  /**
   * A receive batch is ready: `count` slots (1..recvBatch) are filled in the receive ring
   * registered with {@link NativeUdpSocket.setRecvRing}, slot i at byte offset
   * `i * slotSize`, length `lengths[i]` (bytes copied, at most `slotSize`), sender
   * `addrs[i*32 .. i*32+32)`, `flags[i]` bit 0 = truncated (the rest of that datagram is
   * lost). Without GRO a slot is one datagram. With GRO ({@link NativeUdpSocket.setGro})
   * `segSizes[i] > 0` means slot i holds several datagrams of that sender, coalesced by
   * the kernel: consecutive pieces of `segSizes[i]` bytes, the last one possibly shorter
   * (udp(7) UDP_GRO); the caller must split them (src/socket/recv-batch.ts does, before
   * any user code sees the batch); a truncated flag then applies to the last piece
   * copied. The ring is overwritten after this callback returns. Called once per recvmmsg(2)
   * call, several times per wake-up up to the budget; `process.nextTick`s and promise jobs
   * queued here run before the next call. It may call `close()`/`stopRecv()`: no further
   * callback follows. An exception thrown here becomes an `'uncaughtException'`.
   */
  onRecv(count: number): void;
  /** Writable readiness armed by {@link NativeUdpSocket.awaitWritable} fired (one-shot). */
  onWritable(): void;
  /**
   * recvmmsg failed with `errno` (positive), e.g. ECONNREFUSED on a connected socket: Linux
   * records the ICMP error of each refused datagram on the socket, and the next read returns
   * (and clears) it. EFAULT: a registered receive array was detached; receiving stopped.
   */
  onRecvError(errno: number): void;
  /**
   * The window timer armed by {@link NativeUdpSocket.armTimer} expired (one-shot; called
   * once per arming that was not disarmed or re-armed first). Optional: without it
   * `armTimer` throws `ERR_INVALID_STATE`.
   */
  onTimer?(): void;
}

/**
 * One non-blocking UDP socket (`SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC`) plus one
 * libuv `uv_poll_t` watcher on its fd (readable while receiving, writable while a
 * send waits). System errors thrown are `Error`s with `code` (e.g. `'EADDRINUSE'`), `errno`
 * (negative, as Node reports it), `syscall`, and `address`/`port` where one is involved,
 * message as Node's (`'bind EADDRINUSE 127.0.0.1:1234'`). Wrong argument types throw
 * `TypeError`, bad numbers and out-of-bounds ring indices `RangeError` (nothing is touched).
 * After `close()` every method throws `code: 'ERR_SOCKET_DGRAM_NOT_RUNNING'` except
 * `close`, `fd`, `encodePeer`, `ref`, `stopRecv` and `awaitWritable(false)`.
 */
export interface NativeUdpSocket {
  /** The counters the socket writes (indices `C`): native memory when constructed with null; undefined after close released them. */
  counters(): Float64Array;
  /**
   * Bind (`bind(2)`); `port` 0 lets the kernel choose. `flags`: BIND_REUSEPORT | BIND_IPV6ONLY | BIND_REUSEADDR
   * (EINVAL on a udp4 socket). An IPv4 literal on a udp6 socket binds its IPv4-mapped form.
   */
  bind(ip: string, port: number, flags: number): void;
  /**
   * bind({ fd }): takes over `fd`, a UDP socket of this socket's family (bound or not), in
   * place of the socket's own fd, which is closed (addon/inherited_fd.cc). From then on the
   * fd is the socket's: made non-blocking (on the shared open file description) and
   * close(2)d by {@link close}, as node:dgram does. GSO and GRO start off and receiving
   * stopped: call setGso/setGro/startRecv again. Throws, leaving the fd untouched and open:
   * `open EINVAL` unless {@link NativeBinding.guessHandle} says `['UDP', family]`,
   * `open EEXIST` when this event loop already watches the fd (one libuv watcher per fd:
   * e.g. a live node:dgram socket of this process owns it), other uv_poll_init errnos.
   */
  adopt(fd: number): void;
  /** `connect(2)`; afterwards sends use peer id -1. */
  connect(ip: string, port: number): void;
  /**
   * `connect(2)` with AF_UNSPEC. Linux: a socket whose port the kernel chose (bound to port
   * 0, or not bound before connect) loses that port here; an explicitly bound port stays.
   */
  disconnect(): void;
  /** `getsockname(2)` → [ip, port]. */
  localAddress(): [string, number];
  /** `getpeername(2)` → [ip, port]; throws ENOTCONN when not connected. */
  remoteAddress(): [string, number];
  /**
   * setsockopt SO_SNDBUF/SO_RCVBUF then reads back the real size (bytes) the kernel uses:
   * Linux doubles the request and enforces a minimum. With CAP_NET_ADMIN the
   * SO_SNDBUFFORCE/SO_RCVBUFFORCE variant is used, so net.core.{w,r}mem_max do not cap it.
   */
  setBufferSize(which: 0 | 1, bytes: number): number;
  /** getsockopt SO_SNDBUF/SO_RCVBUF (bytes). */
  getBufferSize(which: 0 | 1): number;
  /**
   * Writes a `sockaddr_in`/`sockaddr_in6` for `ip`:`port` into `table` at byte `offset`
   * (32-byte entries). On a udp6 socket an IPv4 literal becomes IPv4-mapped
   * (`::ffff:a.b.c.d`); `fe80::1%eth0` (or `%3`) resolves the scope id.
   * `offset` must be a multiple of 32 with `offset + 32 <= table.length` (else RangeError).
   * Throws EINVAL (code `'EINVAL'`, syscall `'inet_pton'`) for anything that is not an IP
   * literal of the socket's family.
   */
  encodePeer(ip: string, port: number, table: Uint8Array, offset: number): void;
  /**
   * Registers the send ring: slot s is `lengths[s]` bytes at `arena[offsets[s]]`, to peer
   * entry `peers[s]` of `peerTable` (-1: the connected peer). The contract — shapes,
   * limits, errors, what is kept — is stated once, at the entry point: addon/udp_socket.h.
   */
  setSendRing(arena: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, peers: Int32Array, peerTable: Uint8Array): void;
  /**
   * Sends `count` ring slots from `start` (mod capacity) with sendmmsg(2); returns how many
   * the kernel took, and leaves the errno of the first one not taken in
   * `counters[C.LAST_ERRNO]` (0 when all were). Contract (chunking, EINTR, GSO, counters,
   * bounds checks, errors): addon/udp_socket.h.
   */
  send(start: number, count: number): number;
  /**
   * GSO on sends (udp(7) UDP_SEGMENT; support probed when the socket opened, Linux >=
   * 4.18); off by default at this level. While on, `send()` sends each run of consecutive
   * slots with the same peer id and length as one message — which runs, the fallback and
   * how errors land on datagrams: README "GSO and GRO"; the kernel's side: the top of
   * addon/send.cc. `send()`'s result, LAST_ERRNO and SEND_DATAGRAMS still count datagrams;
   * GSO_MESSAGES, GSO_SEGMENTS, GSO_FALLBACKS, GSO_RESENDS and GSO_ACTIVE tell what
   * happened. Returns whether GSO is on (false where the kernel lacks it).
   */
  setGso(on: boolean): boolean;
  /**
   * TEST ONLY — fault injection, never used by the library: the next `count` sendmmsg
   * calls of `send()` (with `gsoOnly`, only those whose first message is a GSO message)
   * fail with `errno` as if the kernel had rejected their first message, without making
   * the system call (not counted in SEND_SYSCALLS). `count` 0 cancels; at most 1024
   * (RangeError above: send() retries an EINTR at once, so a run of them must end).
   */
  debugInjectSendErrno(errno: number, count: number, gsoOnly: boolean): void;
  /**
   * Registers the receive ring: `slots` datagram slots of `slotSize` bytes in `arena`,
   * with `lengths` (Uint32Array(slots)), `addrs` (Uint8Array(slots*32), raw sockaddr as
   * the kernel wrote it) and `flags` (Uint8Array(slots), bit 0 = truncated). `budget`
   * bounds the datagrams read per readable wake-up (fairness to the event loop).
   * Limits: 1 <= slots <= UIO_MAXIOV, slotSize >= 1, arena.length >= slots*slotSize,
   * addrs.length >= slots*32, flags.length >= slots, budget >= 1 (else RangeError).
   * `segSizes` (optional, Uint32Array(>= slots)) receives each slot's GRO segment size
   * (0 = one datagram); {@link setGro} needs it. The budget counts datagrams (with GRO the
   * last recvmmsg call of a wake-up may overshoot it by what its coalesced buffers hold).
   * While GRO is on, registering without `segSizes` or with `slotSize < 65527` throws
   * `ERR_INVALID_STATE`.
   */
  setRecvRing(
    arena: Uint8Array,
    slotSize: number,
    lengths: Uint32Array,
    addrs: Uint8Array,
    flags: Uint8Array,
    budget: number,
    segSizes?: Uint32Array,
  ): void;
  /**
   * setsockopt(SOL_UDP, UDP_GRO) (udp(7), Linux >= 5.0): lets the kernel deliver several
   * datagrams of one sender in one slot (see {@link NativeCallbacks.onRecv}). Turning it
   * on needs a receive ring with `segSizes` and `slotSize >= 65527` (else
   * `ERR_INVALID_STATE`), so that no coalesced buffer is ever cut. Returns whether GRO is
   * on: false where the kernel lacks it (ENOPROTOOPT); other errors throw.
   */
  setGro(on: boolean): boolean;
  /** Start/stop delivering receive batches (readable interest on the watcher). `startRecv` before `setRecvRing` throws `ERR_INVALID_STATE`. */
  startRecv(): void;
  stopRecv(): void;
  /**
   * Loop-coalesced delivery (addon/recv_dispatch.h): with `id` >= 0 the socket no longer
   * calls `onRecv` from its readable wake-up; it reads one batch and the environment's
   * dispatcher ({@link NativeBinding.setRecvDispatcher}) delivers it, with every other
   * such socket's batch of the same loop iteration, in one call (the check phase). -1: off.
   * `ERR_INVALID_STATE` before setRecvDispatcher.
   */
  setRecvDispatch(id: number): void;
  /**
   * Ingest route (addon/ingest_route.h, addon/udp_socket.h SetIngestRoute): this socket's
   * dispatched batches that are steady for `state` (an {@link INGEST} block, ≥
   * INGEST.STATE_BYTES bytes, 8-aligned) are forwarded to stream `stream` of the fan-out
   * whose `serial` is `fanout` by its `forwardIngest()`, and not delivered to JS.
   * `fanout` 0 removes the route.
   */
  setIngestRoute(fanout: number, stream?: number, state?: Uint8Array): void;
  /**
   * Offers every batch this socket reads to `intake` (addon/rtcp_intake.h) before JS sees
   * it: the datagrams it takes (viewers' receiver reports) are counted in RECV_DATAGRAMS and
   * RECV_TAKEN and never reach `onRecv`; a batch taken whole makes no call into JS. `null`
   * detaches. TypeError for anything but an `RtcpIntake` or null; ERR_SOCKET_DGRAM_NOT_RUNNING after close.
   */
  setIntake(intake: NativeRtcpIntake | null): void;
  /** Arm (true) or cancel (false) one-shot writable readiness → `onWritable`. */
  awaitWritable(on: boolean): void;
  /**
   * Whether the socket keeps the event loop alive while it only receives (uv_ref/uv_unref
   * of the watcher, dgram's ref()/unref()). While writable readiness is armed
   * ({@link awaitWritable}) the watcher is referenced regardless, so a send queue blocked on
   * EAGAIN keeps the process alive until it drains (addon/watcher.cc ApplyRef).
   */
  ref(on: boolean): void;
  /**
   * Arms the window timer to expire `us` µs from now (1 ≤ us ≤ 3.6e9): a timerfd
   * (timerfd_create(2), CLOCK_MONOTONIC) with its own uv_poll_t, created by the first call
   * (addon/window_timer.cc). Re-arming moves the expiry. One timerfd_settime(2) per call;
   * while armed the timer keeps the event loop alive (even after `ref(false)`), disarmed
   * it never does and causes no wake-ups. Throws `ERR_INVALID_STATE` without
   * {@link NativeCallbacks.onTimer}, a system error (`syscall` 'timerfd_create',
   * 'uv_poll_start' or 'timerfd_settime') when the kernel refuses.
   */
  armTimer(us: number): void;
  /** Cancels a pending expiry (one timerfd_settime(2)); no-op when not armed or closed. */
  disarmTimer(): void;
  /** The window timer's fd (for /proc/self/fdinfo in tests), -1 before the first `armTimer` and after close. */
  timerFd(): number;
  /** Stops the watcher and closes the fd; idempotent, also from inside a callback. No callback runs afterwards. */
  close(): void;
  /** The fd, or -1 after close. */
  fd(): number;
  /**
   * dgram's socket options (addon/socket_options.cc; libuv's ranges and address forms;
   * errors thrown as Node does, `syscall` = the dgram method's name, e.g. 'setTTL EINVAL').
   * SO_BROADCAST.
   */
  setBroadcast(on: boolean): void;
  /** IP_TTL / IPV6_UNICAST_HOPS, 1..255. */
  setTTL(ttl: number): void;
  /** IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS, 0..255. */
  setMulticastTTL(ttl: number): void;
  /** IP_MULTICAST_LOOP / IPV6_MULTICAST_LOOP. */
  setMulticastLoopback(on: boolean): void;
  /** IP_MULTICAST_IF (udp4: an interface's IPv4 address) / IPV6_MULTICAST_IF (udp6: '::%ifname' or '::%index'). */
  setMulticastInterface(interfaceAddress: string): void;
  /** IP_ADD/DROP_MEMBERSHIP (IPv4 group) or IPV6_ADD/DROP_MEMBERSHIP (IPv6 group, interface from the scope). */
  setMembership(group: string, interfaceAddress: string | undefined, join: boolean): void;
  /** IP_ADD/DROP_SOURCE_MEMBERSHIP or MCAST_JOIN/LEAVE_SOURCE_GROUP (RFC 3678). */
  setSourceMembership(source: string, group: string, interfaceAddress: string | undefined, join: boolean): void;
}

/**
 * Layout shared with the native RTP fan-out (addon/fanout.cc): the per-output state array
 * (STRIDE doubles per output, fields at these indices), the io block of forward()/
 * retransmit() (IO_LENGTH doubles) and the packet descriptor flags.
 */
export const FANOUT = {
  STRIDE: 20,
  FLAGS: 0,
  SSRC: 1,
  PAYLOAD_TYPE: 2,
  SEQ_OFFSET: 3,
  TS_OFFSET: 4,
  START: 5,
  LAST_SEQ: 6,
  LAST_TS: 7,
  PACKETS: 8,
  OCTETS: 9,
  LAST_SENT_AT: 10,
  DROPPED: 11,
  OVERSIZE: 12,
  RETRANSMITTED: 13,
  ERRORS: 14,
  BYTES: 15,
  /** JS writes: Unix ms (the clock of IO_NOW) the output's next sender report is due; 0 = the fan-out sends none. */
  SR_DUE_AT: 16,
  /** JS writes: the output's RTP clock rate, Hz (its sender reports' RTP timestamps). */
  CLOCK_RATE: 17,
  /** Sender reports the fan-out queued for the output. */
  SENDER_REPORTS: 18,
  FLAG_LIVE: 1,
  FLAG_STARTING: 2,
  PACKET_EXTRA: 4,
  PACKET_VIDEO: 1,
  PACKET_INJECTED: 2,
  HISTORY: 512,
  IO_SLOT: 0,
  IO_SLOTS: 1,
  IO_ARENA_OFF: 2,
  IO_ARENA_END: 3,
  IO_NOW: 4,
  IO_DROP: 5,
  IO_CURSOR_OUTPUT: 6,
  IO_CURSOR_PACKET: 7,
  IO_MTU: 8,
  IO_PRODUCED: 9,
  IO_BYTES: 10,
  IO_DONE: 11,
  IO_DROPPED: 12,
  IO_OVERSIZE: 13,
  IO_MISSES: 14,
  IO_ERRORS: 15,
  IO_NEED_SLOTS: 16,
  IO_NEED_BYTES: 17,
  IO_LENGTH: 18,
} as const;

/**
 * Layout of a stream's ingest state (addon/ingest_route.h): doubles ARMED, VIDEO_PT,
 * AUDIO_PT, MAX_LENGTH; then per kind (video, audio) KIND_STRIDE doubles from
 * KINDS + kind × KIND_STRIDE with the fields SSRC … LAST_ARRIVAL; then the owners' 32-byte
 * sockaddrs (video's, audio's) from byte OWNER_OFFSET. STATE_BYTES bytes in all.
 */
export const INGEST = {
  ARMED: 0,
  VIDEO_PT: 1,
  AUDIO_PT: 2,
  MAX_LENGTH: 3,
  KINDS: 4,
  KIND_STRIDE: 8,
  SSRC: 0,
  NEXT_SEQ: 1,
  LAST_TS: 2,
  TS_CHECK: 3,
  PACKETS: 4,
  BYTES: 5,
  LAST_ARRIVAL: 6,
  ARM_VIDEO: 1,
  ARM_AUDIO: 2,
  OWNER_OFFSET: 160,
  STATE_BYTES: 224,
} as const;

/**
 * The addon's `RtpFanout` (addon/fanout.{h,cc}): the relay's per-packet path — copy, RTP
 * header rewrite, SRTP protect, send-ring slot — for a whole receive batch in one call.
 * Low level and checked only for memory safety (RangeError/TypeError before anything is
 * touched); src/fanout/fanout.ts is the API.
 */
export interface NativeRtpFanout {
  /** A stream (its 512-packet ingest history is allocated now). */
  addStream(): number;
  /** Removes a stream and its outputs. */
  removeStream(id: number): void;
  /** One SRTP context (RFC 3711 §4.3 derivation) for a viewer's DTLS-SRTP session; throws RangeError for an unsupported profile or wrong key/salt length, ERR_SRTP_CRYPTO if OpenSSL fails. */
  addSession(profile: number, masterKey: Uint8Array, masterSalt: Uint8Array): number;
  removeSession(id: number): void;
  /** The SDES CNAME (UTF-8, ≤ 255 bytes; empty: none) in the sender reports of the session's outputs. */
  setSessionCname(session: number, cname: Uint8Array): void;
  /** SRTCP-protects `length` bytes at `buf[offset]` in place (room up to `capacity`): new length or an SRTP status < 0. */
  protectRtcp(session: number, buf: Uint8Array, offset: number, length: number, capacity: number): number;
  /** An output of `kind` (1 video, 0 audio) of a stream, sending through `session` to send-ring peer id `peer`; returns its state row. */
  addOutput(stream: number, session: number, peer: number, kind: number): number;
  removeOutput(id: number): void;
  setOutputPeer(id: number, peer: number): void;
  /** See addon/fanout.cc SetRing: the send ring forward() and retransmit() fill, registered again when it grows. */
  setRing(arena: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, peers: Int32Array): void;
  /** See addon/fanout.cc Forward: one receive batch of a stream into the registered send ring; returns slots filled (io holds the rest). */
  forward(stream: number, src: Uint8Array, extra: Uint8Array, packets: Uint32Array, count: number): number;
  /** See addon/fanout.cc SetBatch: a batch's arrays registered under `slot` (0–65535) for forwardBatch(). */
  setBatch(slot: number, src: Uint8Array, extra: Uint8Array, packets: Uint32Array): void;
  /** See addon/fanout.cc ReleaseBatch. */
  releaseBatch(slot: number): void;
  /** See addon/fanout.cc ForwardBatch: forward() over the arrays registered in `slot` (no typed-array argument per call). */
  forwardBatch(stream: number, slot: number, count: number): number;
  /** See addon/fanout.cc Retransmit: packets an output sent, by outgoing sequence number, queued again into the registered send ring. */
  retransmit(output: number, seqs: Uint32Array, count: number): number;
  /** See addon/fanout.cc ForwardIngest: during a receive-dispatcher delivery, the steady batches of sockets routed here, forwarded before JS sees them; returns batches forwarded. */
  forwardIngest(): number;
  /** This fan-out's number for ingest routes ({@link NativeUdpSocket.setIngestRoute}), unique in the process. */
  readonly serial: number;
}

/**
 * Layout of {@link NativeRtcpIntake}'s stats rows and counters (addon/rtcp_intake.cc). Row r
 * is STRIDE doubles from r × STRIDE: LAST_HEARD (Unix ms of the last datagram taken), TAKEN
 * (datagrams taken), then per kind from VIDEO_AT / AUDIO_AT: the time of the last report
 * block about that SSRC (Unix ms, 0 = none) and at +FRACTION_LOST the fraction lost
 * (0–255), +PACKETS_LOST the cumulative packets lost (signed), +JITTER the interarrival
 * jitter (RTP timestamp units), RFC 3550 §6.4.1. Counters: of the RTCP datagrams from
 * registered peers, OFFERED = TAKEN_TOTAL + PASSED (left to JS for what they hold: feedback,
 * reported video loss, not valid RTCP, too long) + UNAUTHENTICATED (left to JS: SRTCP
 * unprotect failed).
 */
export const RTCP_INTAKE = {
  STRIDE: 10,
  LAST_HEARD: 0,
  TAKEN: 1,
  VIDEO_AT: 2,
  AUDIO_AT: 6,
  FRACTION_LOST: 1,
  PACKETS_LOST: 2,
  JITTER: 3,
  OFFERED: 0,
  TAKEN_TOTAL: 1,
  PASSED: 2,
  UNAUTHENTICATED: 3,
  COUNTERS: 4,
  MAX_DATAGRAM: 1500,
} as const;

/**
 * The addon's `RtcpIntake` (addon/rtcp_intake.{h,cc}): viewers' SRTCP receiver reports
 * taken in by native code in the receive loop of the sockets it is attached to
 * ({@link NativeUdpSocket.setIntake}), with their numbers in a stats row JS reads without a
 * call; everything it does not take (feedback, loss on video, anything it cannot verify)
 * reaches JS unchanged. src/relay/inbound-rtcp.ts is the API.
 */
export interface NativeRtcpIntake {
  /** The capacity × RTCP_INTAKE.STRIDE stats rows (native memory); undefined where the runtime allows no external buffers. */
  stats(): Float64Array | undefined;
  /** OFFERED, TAKEN_TOTAL, PASSED, UNAUTHENTICATED (native memory); undefined as for stats(). */
  counters(): Float64Array | undefined;
  /**
   * Row `row` takes in the SRTCP the peer at `ip`:`port` protects with this master key and
   * salt (its DTLS-SRTP keys, RFC 5764 §4.2), reports about `videoSsrc`/`audioSsrc` (-1:
   * none) going to its stats row (zeroed now). Replaces the row; another row with this
   * address loses it. TypeError/RangeError for bad arguments (nothing changed).
   */
  add(row: number, ip: string, port: number, profile: number, masterKey: Uint8Array, masterSalt: Uint8Array, videoSsrc: number, audioSsrc: number): void;
  /** The row's peer is now at `ip`:`port` (another ICE pair). RangeError for a row not in use. */
  setPeer(row: number, ip: string, port: number): void;
  /** Nothing is taken for the row any more; idempotent. */
  remove(row: number): void;
}

/** The numbers the addon was built with (addon/module.cc), checked against this file's at load. */
export interface NativeConstants {
  counters: Record<string, number>;
  bind: { REUSEPORT: number; IPV6ONLY: number; REUSEADDR: number };
  buffer: { SNDBUF: number; RCVBUF: number };
  SOCKADDR_STRIDE: number;
  GSO_MAX_SEGMENTS: number;
  MAX_PAYLOAD_V4: number;
  MAX_PAYLOAD_V6: number;
  GRO_MIN_SLOT: number;
  fanout?: Record<string, number>;
  ingest?: Record<string, number>;
  rtcpIntake?: Record<string, number>;
}

export interface NativeBinding {
  /** counters: null = native memory, read through `counters()`; or a Float64Array of at least C.COUNT (looked up at every use). */
  UdpSocket: new (family: 4 | 6, counters: Float64Array | null, callbacks: NativeCallbacks) => NativeUdpSocket;
  /** The native RTP fan-out: `new RtpFanout(state, io)` with state a Float64Array of outputs × FANOUT.STRIDE (1..65536 outputs), io one of at least FANOUT.IO_LENGTH. */
  RtpFanout: new (state: Float64Array, io: Float64Array) => NativeRtpFanout;
  /** Viewers' receiver reports taken in natively: `new RtcpIntake(capacity)` with rows 0 … capacity-1 (1 … 65536). */
  RtcpIntake: new (capacity: number) => NativeRtcpIntake;
  /** UIO_MAXIOV of this build (1024 on Linux). */
  UIO_MAXIOV: number;
  /** errno values of the platform the addon was built for, by name (EAGAIN, ENOBUFS, EMSGSIZE, …); must equal `os.constants.errno`. */
  errno: Record<string, number>;
  /**
   * if_indextoname(3): the name of the interface with this index in the process's network
   * namespace, or undefined when there is none. Scopes of link-local senders (`fe80::2%eth0`).
   */
  interfaceName(index: number): string | undefined;
  /** if_nametoindex(3): the index of the interface called `name`, 0 when there is none. */
  interfaceIndex(name: string): number;
  /**
   * What kind of fd `fd` is, as libuv's uv_guess_handle (Node's guessHandleType, which
   * node:dgram's `bind({ fd })` checks): `['UDP', 4 | 6]` for an AF_INET/AF_INET6
   * SOCK_DGRAM socket of protocol UDP, else `['TCP' | 'PIPE' | 'FILE' | 'TTY' | 'UNKNOWN', 0]`
   * ('UNKNOWN' also for an fd that is not open). Never changes the fd (addon/inherited_fd.cc).
   */
  guessHandle(fd: number): [type: string, family: 0 | 4 | 6];
  /**
   * `bytes` (1 to 2^31-1) zeroed bytes of native memory as an ArrayBuffer (external where
   * the runtime allows, else an ordinary one): typed arrays over it that are registered
   * with native code (the receive and send rings, the fan-out's state) are found without a
   * lookup per call; the memory lives until JS and every native holder are done with it
   * (addon/shared_memory.h). Throws TypeError for a non-integer, RangeError out of range or
   * when the memory cannot be allocated.
   */
  allocShared(bytes: number): ArrayBuffer;
  /**
   * Registers the environment's receive dispatcher (addon/recv_dispatch.h): once per loop
   * iteration in which sockets in dispatch mode (`setRecvDispatch(id)`) read batches,
   * `deliver(count)` is called with entries `(list[2i] = id, list[2i+1] = slots)`, i < count,
   * in read order; returns that list (native memory). Calling it again replaces `deliver`.
   */
  setRecvDispatcher(deliver: (count: number) => void): Float64Array;
  constants: NativeConstants;
}

/**
 * Where the addon's numbers differ from this file's (and limits.ts, and Node's errno
 * values): a description of the first difference, or undefined when they all agree.
 */
export function checkConstants(binding: Pick<NativeBinding, 'constants' | 'errno'>): string | undefined {
  const k = binding.constants;
  if (k === null || typeof k !== 'object' || typeof k.counters !== 'object') return 'it exports no constants';
  const pairs: [string, unknown, number][] = [
    ['bind.REUSEPORT', k.bind?.REUSEPORT, BIND_REUSEPORT],
    ['bind.IPV6ONLY', k.bind?.IPV6ONLY, BIND_IPV6ONLY],
    ['bind.REUSEADDR', k.bind?.REUSEADDR, BIND_REUSEADDR],
    ['buffer.SNDBUF', k.buffer?.SNDBUF, SNDBUF],
    ['buffer.RCVBUF', k.buffer?.RCVBUF, RCVBUF],
    ['SOCKADDR_STRIDE', k.SOCKADDR_STRIDE, SOCKADDR_STRIDE],
    ['GSO_MAX_SEGMENTS', k.GSO_MAX_SEGMENTS, GSO_MAX_SEGMENTS],
    ['MAX_PAYLOAD_V4', k.MAX_PAYLOAD_V4, MAX_PAYLOAD_V4],
    ['MAX_PAYLOAD_V6', k.MAX_PAYLOAD_V6, MAX_PAYLOAD_V6],
    ['GRO_MIN_SLOT', k.GRO_MIN_SLOT, MAX_PAYLOAD_V6],
  ];
  for (const name of new Set([...Object.keys(FANOUT), ...Object.keys(k.fanout ?? {})])) {
    pairs.push([`fanout.${name}`, k.fanout?.[name], (FANOUT as Record<string, number>)[name]]);
  }
  for (const name of new Set([...Object.keys(INGEST), ...Object.keys(k.ingest ?? {})])) {
    pairs.push([`ingest.${name}`, k.ingest?.[name], (INGEST as Record<string, number>)[name]]);
  }
  for (const name of new Set([...Object.keys(RTCP_INTAKE), ...Object.keys(k.rtcpIntake ?? {})])) {
    pairs.push([`rtcpIntake.${name}`, k.rtcpIntake?.[name], (RTCP_INTAKE as Record<string, number>)[name]]);
  }
  const names = new Set([...Object.keys(C), ...Object.keys(k.counters)]);
  for (const name of names) pairs.push([`counters.${name}`, k.counters[name], (C as Record<string, number>)[name]]);
  const nodeErrno = osConstants.errno as Record<string, number | undefined>;
  for (const [name, value] of Object.entries(binding.errno ?? {})) {
    const js = nodeErrno[name];
    if (js !== undefined) pairs.push([`errno.${name}`, value, js]); // (Node lacks a few, e.g. EHOSTDOWN)
  }
  for (const [name, native, js] of pairs) {
    if (native !== js) return `${name} is ${String(native)} in the addon but ${String(js)} here`;
  }
  return undefined;
}

export type NativeLoadResult = { ok: true; binding: NativeBinding; path: string } | { ok: false; reason: string };

let cached: NativeLoadResult | undefined;

/** What a consumer runs to get the addon when it did not load (a build from source). */
export const REBUILD_ADVICE =
  'to build it from source, install cmake and a C++17 compiler, add the build tools (`npm install --save-dev cmake-js node-addon-api`), then run `npm rebuild dgram-sendmmsg-native`';

/**
 * Loads the addon once: a build from source if there is one, else the prebuilt binary for
 * this platform shipped in the package (see `src/native/locate.ts` for the order). Never
 * throws: on a platform without it, or without a matching build, returns
 * `{ ok: false, reason }`, the reason naming what to do about it.
 * `DGRAM_SENDMMSG_NATIVE_PATH` overrides the location (used by the sanitizer builds);
 * `DGRAM_SENDMMSG_NATIVE=0` disables it (the dgram backend is then used, as on a
 * platform without the addon).
 */
export function loadNative(): NativeLoadResult {
  if (cached) return cached;
  if (process.env.DGRAM_SENDMMSG_NATIVE === '0') {
    cached = { ok: false, reason: 'the native addon is disabled (DGRAM_SENDMMSG_NATIVE=0)' };
    return cached;
  }
  if (process.platform !== 'linux') {
    cached = { ok: false, reason: `the native addon supports Linux only (this is ${process.platform})` };
    return cached;
  }
  const { paths, prebuildReason } = addonCandidates();
  const errors: string[] = [];
  for (const path of paths) {
    if (!existsSync(path)) {
      errors.push(`${path}: no such file`);
      continue;
    }
    try {
      const binding = requireHere(path) as Partial<NativeBinding>;
      // A stale build from another version of this package loads but lacks the API.
      if (
        typeof binding.UdpSocket !== 'function' ||
        typeof binding.UIO_MAXIOV !== 'number' ||
        typeof (binding.UdpSocket.prototype as Partial<NativeUdpSocket>).setGso !== 'function' ||
        typeof binding.interfaceIndex !== 'function' ||
        typeof binding.guessHandle !== 'function' ||
        typeof binding.allocShared !== 'function' ||
        typeof binding.setRecvDispatcher !== 'function' ||
        typeof binding.RtpFanout !== 'function' ||
        typeof binding.RtcpIntake !== 'function'
      ) {
        errors.push(`${path}: built from another version of this package`);
        continue;
      }
      const mismatch = checkConstants(binding as NativeBinding);
      if (mismatch !== undefined) {
        errors.push(`${path}: built from another version of this package: ${mismatch}`);
        continue;
      }
      cached = { ok: true, binding: binding as NativeBinding, path };
      return cached;
    } catch (err) {
      errors.push(`${path}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  cached = {
    ok: false,
    reason: errors.length
      ? `the native addon failed to load (${errors.join('; ')}); ${REBUILD_ADVICE}`
      : `${prebuildReason ?? 'the native addon is not built'} and none was built from source; ${REBUILD_ADVICE}`,
  };
  return cached;
}
