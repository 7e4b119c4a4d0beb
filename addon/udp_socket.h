// UdpSocket: one non-blocking UDP socket plus exactly one libuv uv_poll_t watcher on its
// fd, exposed to JS as the `UdpSocket` class of src/native/binding.ts (the contract).
//
// The implementation is split by concern:
//   udp_socket.cc  lifecycle: socket(2), bind(2), connect(2), getsockname(2),
//                  getpeername(2), SO_SNDBUF/SO_RCVBUF, encodePeer, close(2), fd
//   socket_options.cc  dgram's options: TTL, broadcast, multicast TTL/loop/interface,
//                  group membership (any-source and source-specific)
//   watcher.cc     the uv_poll_t watcher: interest mask, readiness dispatch,
//                  awaitWritable, ref/unref, calls into JS
//   send.cc        the send ring and batched send with sendmmsg(2)
//   recv.cc        the receive ring and batched receive with recvmmsg(2)
//
// Lifetime. While the fd is open the JS object is kept alive (ObjectWrap::Ref), so it is
// never collected with a live watcher. close() closes the watcher (the heap-allocated
// uv_poll_t is freed by its uv_close callback, which never touches this object) and the
// fd, then drops every JS reference it holds (callbacks, rings, self). If close() is
// called from inside a JS callback, the JS references are dropped only once the native
// frame that made the callback has unwound. The destructor (finalizer without close(),
// which can only happen at environment teardown) closes the watcher and fd itself.
//
// Environment teardown (worker exit). Each watcher registers an async cleanup hook
// (napi_add_async_cleanup_hook) that closes the socket, and removes it only from the
// uv_close callback: Node keeps the environment, its loop and this shared object loaded
// until then. Without it, a close callback could run after a worker's last reference
// to the addon was dlclose()d, i.e. jump into unmapped code.
//
// Folder addon/: C++17, one concern per file as listed above, plus udp_offload.* (GSO/GRO
// limits and control messages, pure functions), sockaddr.*, args.* (argument checks),
// errors.* (Node-style errors), counters.h and module.cc (exports and constants). Only
// N-API, libuv's ABI and libc; the TypeScript contract is src/native/binding.ts.
//
// Threads: none. Everything runs on the JS thread of the environment that created the
// socket, in libuv callbacks of its loop.
#pragma once

#include <napi.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>

#include "args.h"
#include "counters.h"
#include "ingest_route.h"
#include "recv_dispatch.h"
#include "uv_abi.h"

namespace dsn {

struct PollBlock;  // watcher.cc: the heap block holding the uv_poll_t
struct SendRing;   // send.cc: where the send ring's arrays are for one send() call
struct RecvRing;   // recv.cc: where the receive ring's arrays are for one recvmmsg call
struct RecvRingArgs;  // recv.cc: setRecvRing's arguments, read and checked
class RecvDispatcher;  // recv_dispatch.h: loop-coalesced receive delivery
class RtcpIntake;      // rtcp_intake.h: receiver reports taken in natively

// Most messages one sendmmsg(2)/recvmmsg(2) call takes (the kernel caps vlen at UIO_MAXIOV).
constexpr std::size_t kUioMaxIov = UIO_MAXIOV;

// bind() flags and the setBufferSize()/getBufferSize() selector; exported to JS as
// constants.bind and constants.buffer (module.cc).
constexpr std::int64_t kBindReusePort = 1;  // SO_REUSEPORT
constexpr std::int64_t kBindIpv6Only = 2;   // IPV6_V6ONLY
constexpr std::int64_t kBindReuseAddr = 4;  // SO_REUSEADDR (dgram's reuseAddr)
constexpr std::int64_t kSndBuf = 0;
constexpr std::int64_t kRcvBuf = 1;

// guessHandle(fd) of the module (inherited_fd.cc): what kind of fd it is, as uv_guess_handle.
Napi::Value GuessHandle(const Napi::CallbackInfo& info);

class UdpSocket : public Napi::ObjectWrap<UdpSocket> {
 public:
  static Napi::Function Define(Napi::Env env);

  // new UdpSocket(family: 4 | 6, counters: Float64Array, callbacks: NativeCallbacks)
  explicit UdpSocket(const Napi::CallbackInfo& info);
  ~UdpSocket() override;

  // For RtpFanout::ForwardIngest (fanout.cc), during a dispatcher delivery: when this
  // socket is routed to the fan-out with serial `fanout` (setIngestRoute), the `slots`
  // slots of its ring as they hold the batch, the route's stream id and ingest state
  // (ingest_route.h). False (nothing set) for no such route or memory no longer valid.
  bool IngestBatch(napi_env env, double fanout, std::size_t slots, IngestSlots* in, std::uint32_t* stream, double** state);

 private:
  // ---- udp_socket.cc ----
  Napi::Value Bind(const Napi::CallbackInfo& info);
  Napi::Value Connect(const Napi::CallbackInfo& info);
  Napi::Value Disconnect(const Napi::CallbackInfo& info);
  Napi::Value LocalAddress(const Napi::CallbackInfo& info);
  Napi::Value CountersView(const Napi::CallbackInfo& info);
  Napi::Value RemoteAddress(const Napi::CallbackInfo& info);
  Napi::Value SetBufferSize(const Napi::CallbackInfo& info);
  Napi::Value GetBufferSize(const Napi::CallbackInfo& info);
  Napi::Value EncodePeer(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Fd(const Napi::CallbackInfo& info);

  // ---- inherited_fd.cc (bind({ fd })) ----
  Napi::Value Adopt(const Napi::CallbackInfo& info);

  // ---- socket_options.cc (dgram's setTTL, setBroadcast, multicast) ----
  Napi::Value SetBroadcast(const Napi::CallbackInfo& info);
  Napi::Value SetTtl(const Napi::CallbackInfo& info);
  Napi::Value SetMulticastTtl(const Napi::CallbackInfo& info);
  Napi::Value SetMulticastLoopback(const Napi::CallbackInfo& info);
  Napi::Value SetMulticastInterface(const Napi::CallbackInfo& info);
  Napi::Value SetMembership(const Napi::CallbackInfo& info);
  Napi::Value SetSourceMembership(const Napi::CallbackInfo& info);

  // Throws ERR_SOCKET_DGRAM_NOT_RUNNING and returns false after close().
  bool CheckOpen(Napi::Env env) const;
  // Reads a string argument that must be an IP literal of this socket's family plus a
  // port argument, into a sockaddr. Returns false with a pending exception.
  bool ArgAddress(const Napi::CallbackInfo& info, std::size_t ip_index, std::size_t port_index,
                  const char* syscall, sockaddr_storage* addr, socklen_t* len);
  // Closes watcher and fd; idempotent.
  void CloseNow();
  // Drops the JS references (callbacks, rings, async context, self-ref).
  void ReleaseJs();
  // The counters block (or a scratch block if JS made it unreadable). Needs a HandleScope.
  double* Counters(napi_env env);

  // ---- watcher.cc ----
  // Allocates and initialises a uv_poll_t (stopped) for `fd` in a PollBlock owned by this
  // socket, with its environment cleanup hook; returns 0 or a positive errno.
  int NewPoll(napi_env env, uv_loop_t* loop, int fd, PollBlock** block, uv_poll_t** handle);
  // uv_close()s a handle made by NewPoll; its block is freed by the close callback.
  static void ClosePoll(PollBlock* block, uv_poll_t* handle);
  // Allocates and initialises the watcher (stopped) for fd_; returns 0 or a positive errno.
  int OpenWatcher(napi_env env, uv_loop_t* loop);
  // uv_close()s the watcher; its memory is freed by its close callback. Idempotent.
  void CloseWatcher();
  Napi::Value AwaitWritable(const Napi::CallbackInfo& info);
  Napi::Value RefWatcher(const Napi::CallbackInfo& info);  // JS ref(on)
  // uv_ref()s the watcher when user_ref_ or writable_armed_, else uv_unref()s it.
  void ApplyRef();
  // Starts/stops the watcher for the current interest; returns 0 or a positive errno.
  int UpdatePoll();
  static void OnPollThunk(uv_poll_t* handle, int status, int events);
  static void OnPollClosed(uv_handle_t* handle);
  static void OnEnvCleanup(napi_async_cleanup_hook_handle hook, void* arg);
  void OnPoll(int status, int events);
  // Calls a JS callback through MakeCallback (async context, microtasks afterwards).
  // A JS exception becomes an uncaught exception (napi_fatal_exception) and false is
  // returned; true otherwise.
  bool CallJs(const Napi::FunctionReference& fn, const std::initializer_list<napi_value>& args);

  // ---- window_timer.cc ----
  Napi::Value ArmTimer(const Napi::CallbackInfo& info);     // JS armTimer(us)
  Napi::Value DisarmTimer(const Napi::CallbackInfo& info);  // JS disarmTimer()
  Napi::Value TimerFd(const Napi::CallbackInfo& info);      // JS timerFd()
  // Creates the timerfd and its watcher (started, unreferenced); false with a pending exception.
  bool OpenTimer(Napi::Env env);
  // Closes the timer's watcher and timerfd; idempotent.
  void CloseTimer();
  // timerfd_settime(2) to `us` µs from now (0 = disarm); returns 0 or a positive errno.
  int SetTimer(std::int64_t us);
  static void OnTimerThunk(uv_poll_t* handle, int status, int events);
  void OnTimer(int status);

  // ---- send.cc ----
  // The send contract (the one statement of it: src/native/binding.ts types it and
  // refers here; the kernel's side and the GSO cases are at the top of send.cc).
  //
  // setSendRing(arena: Uint8Array, offsets: Uint32Array, lengths: Uint32Array,
  //             peers: Int32Array, peerTable: Uint8Array): void
  //   Registers the send ring: slot s is lengths[s] bytes at arena[offsets[s]], to the
  //   32-byte peerTable entry peers[s] (written by encodePeer, of the socket's family:
  //   udp6 tables hold IPv4 peers IPv4-mapped), or to the connected peer when
  //   peers[s] == -1. offsets, lengths and peers have one length, the ring capacity
  //   (>= 1; else RangeError). Keeps references to all five arrays until the next
  //   setSendRing or close(): call it again after growing any of them. Sizes the reusable
  //   mmsghdr/iovec arrays to min(capacity, UIO_MAXIOV), the send path's only allocation.
  //
  // send(start: number, count: number): number
  //   Sends ring slots start, start+1, ... (mod capacity), `count` of them, in order, with
  //   sendmmsg(2) in chunks of at most UIO_MAXIOV, and returns how many datagrams the
  //   kernel took (0..count). It stops at the first datagram not taken: then
  //   counters[LAST_ERRNO] holds its errno (EAGAIN, EMSGSIZE, ECONNREFUSED, ...), else 0.
  //   EINTR is retried. Each call counts SEND_SYSCALLS per sendmmsg, SEND_DATAGRAMS,
  //   SEND_BYTES, SEND_PARTIAL (a call that took fewer than offered, but > 0) and, for the
  //   errno that stopped it, SEND_EAGAIN (EAGAIN/EWOULDBLOCK), SEND_ENOBUFS or SEND_ERRORS.
  //   On a connected socket that is not receiving, the pending ICMP error of an earlier
  //   datagram (ECONNREFUSED) is charged to the next datagram offered, which is not sent.
  //   With setGso(true), runs of equal-size datagrams to one peer go as one UDP_SEGMENT
  //   message; the return value, LAST_ERRNO and SEND_DATAGRAMS still count datagrams, and
  //   GSO_MESSAGES/GSO_SEGMENTS/GSO_FALLBACKS/GSO_RESENDS/GSO_ACTIVE tell what happened.
  //   Nothing is sent unless every slot is inside its arrays: start < capacity,
  //   count <= capacity, offsets[s] + lengths[s] <= arena.length, peers[s] == -1 or an
  //   entry inside peerTable holding the socket's family (RangeError naming the first
  //   violation; also when JS detached or resized a registered array). Throws
  //   ERR_INVALID_STATE before setSendRing, ERR_SOCKET_DGRAM_NOT_RUNNING after close().
  //   No allocation.
  Napi::Value SetSendRing(const Napi::CallbackInfo& info);
  Napi::Value Send(const Napi::CallbackInfo& info);
  // setGso(on): GSO on sends where the kernel supports it; returns whether it is on.
  Napi::Value SetGso(const Napi::CallbackInfo& info);
  // debugInjectSendErrno(errno, count, gsoOnly): TEST ONLY, see send.cc.
  Napi::Value DebugInjectSendErrno(const Napi::CallbackInfo& info);
  // One sendmmsg(2) of messages built by Send; applies a pending test injection.
  int SendmmsgOnce(double* counters, mmsghdr* msgs, unsigned int n, bool first_is_gso);
  // The steps of Send (send.cc): resolve the ring, validate the slots, then the loop of
  // build messages (GSO runs) → SendmmsgOnce → classify the errno or account what was taken.
  enum class SendRetry { kStop, kAgain, kPlain };
  bool ResolveSendRing(Napi::Env env, SendRing* ring);
  bool ValidateSlots(Napi::Env env, const SendRing& ring, std::size_t start, std::size_t count) const;
  std::size_t SendSlots(double* counters, const SendRing& ring, std::size_t start, std::size_t count);
  std::size_t BuildMessages(const SendRing& ring, std::size_t start, std::size_t first, std::size_t end,
                            std::size_t plain_until);
  SendRetry OnSendError(double* counters, const SendRing& ring, std::size_t first_slot, int err);
  std::size_t AccountTaken(double* counters, std::size_t m, std::size_t r);

  // ---- recv.cc ----
  Napi::Value SetRecvRing(const Napi::CallbackInfo& info);
  // The last step of SetRecvRing (after ReadRecvRingArgs and CheckRecvRingShape in recv.cc).
  void AdoptRecvRing(const RecvRingArgs& ring);
  Napi::Value StartRecv(const Napi::CallbackInfo& info);
  Napi::Value StopRecv(const Napi::CallbackInfo& info);
  // setGro(on): UDP_GRO on the socket; returns whether it is on.
  Napi::Value SetGro(const Napi::CallbackInfo& info);
  // setRecvDispatch(id: number): void — id >= 0 (< 2^31): batches are delivered through the
  // environment's receive dispatcher (recv_dispatch.h) with this id; -1: by this socket's
  // own onRecv (the default). Throws ERR_INVALID_STATE for id >= 0 before
  // setRecvDispatcher, RangeError out of range, ERR_SOCKET_DGRAM_NOT_RUNNING after close().
  Napi::Value SetRecvDispatch(const Napi::CallbackInfo& info);
  // setIngestRoute(fanout: number, stream: number, state: Uint8Array): void — routes this
  // socket's dispatched batches to stream `stream` (0 .. 65535) of the fan-out whose serial
  // is `fanout` (>= 1; RtpFanout.serial), with the stream's ingest state (>= STATE_BYTES
  // bytes, 8-byte aligned; ingest_route.h): the fan-out's forwardIngest() then forwards
  // this socket's steady batches itself, and they are not delivered to JS. fanout = 0
  // removes the route (no other argument read). TypeError/RangeError for bad arguments,
  // ERR_SOCKET_DGRAM_NOT_RUNNING after close().
  Napi::Value SetIngestRoute(const Napi::CallbackInfo& info);
  // setIntake(intake: RtcpIntake | null): void — every batch this socket reads is offered
  // to `intake` (addon/rtcp_intake.h) before JS sees it: the datagrams it takes are
  // counted in RECV_DATAGRAMS and RECV_TAKEN and never delivered; a batch it takes whole
  // makes no call into JS. null detaches. TypeError for another object,
  // ERR_SOCKET_DGRAM_NOT_RUNNING after close().
  Napi::Value SetIntake(const Napi::CallbackInfo& info);
  // The intake's pass over `n` slots just read (AccountReceived done): the slots left for JS.
  std::size_t OfferToIntake(double* counters, const RecvRing& ring, std::size_t n);
  // Readable wake-up: recvmmsg until EAGAIN, a short read, an error or the budget.
  // Returns true if recvmmsg reported an error (which consumes a pending socket error).
  bool OnReadable(Napi::Env env);
  // OnReadable of a socket in dispatch mode: one recvmmsg call, the batch queued with the
  // dispatcher instead of a call into JS; nothing read while a batch waits. Same return.
  bool ReadForDispatch(Napi::Env env);
  // One recvmmsg(2) of `want` prepared slots, retried on EINTR (each call counted): the
  // slots filled, 0 when nothing was queued (EAGAIN), or -1 after reporting any other errno
  // once through onRecvError.
  int RecvmmsgOnce(Napi::Env env, double* counters, std::size_t want);
  // The steps of OnReadable (recv.cc).
  bool ResolveRecvRing(Napi::Env env, RecvRing* ring);
  bool ResolveRecvRingOrStop(Napi::Env env, double* counters, RecvRing* ring);
  void PrepareRecvHeaders(const RecvRing& ring, std::size_t want);
  std::size_t AccountReceived(double* counters, const RecvRing& ring, std::size_t n);

  int family_ = 0;  // AF_INET or AF_INET6
  int fd_ = -1;
  PollBlock* watcher_ = nullptr;  // freed by OnPollClosed, never by us
  uv_poll_t* poll_ = nullptr;     // the handle inside watcher_
  int poll_events_ = 0;        // interest the watcher is started with (0 = stopped)
  bool receiving_ = false;     // startRecv() in effect
  bool writable_armed_ = false;
  bool user_ref_ = true;       // ref(true) (default) / ref(false): see ApplyRef
  bool closed_ = false;
  int callback_depth_ = 0;       // > 0 while a JS callback made by OnPoll is on the stack
  bool release_pending_ = false; // close() ran inside a callback; ReleaseJs when unwound
  bool self_ref_ = false;        // holds an ObjectWrap::Ref

  // Window timer (window_timer.cc): a timerfd with its own uv_poll_t, created by the first
  // armTimer(). Referenced (keeps the loop alive) only while armed.
  int timer_fd_ = -1;
  PollBlock* timer_block_ = nullptr;  // freed by OnPollClosed, never by us
  uv_poll_t* timer_poll_ = nullptr;   // the handle inside timer_block_
  bool timer_armed_ = false;
  Napi::FunctionReference on_timer_;

  napi_async_context async_context_ = nullptr;
  Napi::ObjectReference callbacks_;
  Napi::FunctionReference on_recv_;
  Napi::FunctionReference on_writable_;
  Napi::FunctionReference on_recv_error_;
  // The counters: in native memory lent to JS (own_counters_, constructor given null), or a
  // JS array looked up at every use. counters_ holds the JS array either way (counters()).
  SharedDoubles* own_counters_ = nullptr;
  PinnedArray counters_;
  double scratch_counters_[kCounterCount] = {};

  // Send ring (send.cc). The mmsghdr/iovec arrays hold min(capacity, UIO_MAXIOV)
  // entries, allocated by setSendRing, reused by every send(); so do the per-message
  // GSO control buffers (kGsoCmsgSpace bytes each, 8-byte aligned) and segment counts.
  // arena, offsets, lengths, peers, peer table (SlotRing carves the slot arrays from one
  // buffer: three lookups per send, not five).
  PinnedGroup send_ring_;
  std::unique_ptr<mmsghdr[]> send_msgs_;
  std::unique_ptr<iovec[]> send_iov_;
  std::unique_ptr<std::uint64_t[]> send_control_;
  std::unique_ptr<std::uint32_t[]> send_segments_;  // datagrams in message j (1 = plain)
  std::size_t send_batch_ = 0;
  bool gso_supported_ = false;  // probed at open: setsockopt(SOL_UDP, UDP_SEGMENT, 0) worked
  bool gso_on_ = false;         // setGso(true) and no fallback since
  // Test-only fault injection (debugInjectSendErrno): the next inject_count_ sendmmsg
  // calls (only those whose first message is a GSO message, if inject_gso_only_) fail
  // with inject_errno_ without reaching the kernel.
  int inject_errno_ = 0;
  std::int64_t inject_count_ = 0;
  bool inject_gso_only_ = false;

  // Receive ring (recv.cc). The mmsghdr/iovec arrays point into the JS arena and address
  // table; they are rebuilt when setRecvRing is called or the arrays' memory moved.
  // arena, lengths, addrs, flags, segSizes (absent unless given; required by setGro(true)).
  PinnedGroup recv_ring_;
  bool recv_has_segs_ = false;
  std::size_t recv_slots_ = 0;
  std::size_t recv_slot_size_ = 0;
  std::size_t recv_budget_ = 0;
  std::unique_ptr<mmsghdr[]> recv_msgs_;
  std::unique_ptr<iovec[]> recv_iov_;
  // Control data per slot (kRecvCmsgSpace bytes, 8-byte aligned) for the UDP_GRO and
  // SO_RXQ_OVFL control messages.
  std::unique_ptr<std::uint64_t[]> recv_control_;
  std::size_t recv_alloc_ = 0;
  void* recv_built_arena_ = nullptr;
  void* recv_built_addrs_ = nullptr;
  // Headers [0, recv_clean_) are prepared; of those, the first recv_dirty_ were (or may have
  // been) written by the last recvmmsg call and are reset before the next (PrepareRecvHeaders).
  std::size_t recv_clean_ = 0;
  std::size_t recv_dirty_ = 0;
  bool gro_on_ = false;  // UDP_GRO enabled by setGro(true)
  // Last cumulative drop count (SO_RXQ_OVFL, u32, wraps) seen on a received datagram;
  // its growth is added to counters[RECV_KERNEL_DROPS].
  std::uint32_t rxq_drops_seen_ = 0;
  // The RtcpIntake (setIntake) and the reference that keeps its JS object alive.
  RtcpIntake* intake_ = nullptr;
  Napi::ObjectReference intake_ref_;

  // Dispatch mode (setRecvDispatch): the dispatcher, this socket's id there (-1: off), and
  // whether a batch read into the ring waits for delivery (the dispatcher clears it).
  friend class RecvDispatcher;
  std::shared_ptr<RecvDispatcher> dispatcher_;
  double dispatch_id_ = -1;
  bool dispatch_pending_ = false;

  // Ingest route (setIngestRoute): the fan-out's serial (0: none), the stream, its state.
  double ingest_fanout_ = 0;
  std::uint32_t ingest_stream_ = 0;
  PinnedGroup ingest_state_;
};

}  // namespace dsn
