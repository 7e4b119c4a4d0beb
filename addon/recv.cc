// Batched receive: the receive ring and recvmmsg(2).
// Man pages: recvmmsg(2), recvmsg(2), udp(7), socket(7).
//
// Kernel behaviour this relies on (net/socket.c do_recvmmsg): with MSG_DONTWAIT the call
// returns the datagrams already queued (up to vlen) and stops at the first EAGAIN, so a
// short read means the queue was empty at that moment; when an error interrupts a batch
// after >= 1 datagram, the datagrams are returned and the error is left pending on the
// socket (sk_err) for the next call. A pending error (e.g. ECONNREFUSED from an ICMP port
// unreachable on a connected socket) is returned, and cleared, by the next call, before
// any queued data. MSG_TRUNC in msg_flags marks a datagram cut to the slot size; msg_len
// is then the copied length (the slot size).
//
// GRO (udp(7) UDP_GRO, udp_offload.h). With setGro(true) the kernel may hand one slot a
// buffer of several datagrams of one sender, each `gso_size` bytes but the last, which
// may be shorter; it says so in a (SOL_UDP, UDP_GRO, int gso_size) control message. Each
// slot gets its own preallocated control buffer; the size is parsed by ParseGroCmsg
// (udp_offload.cc, a pure function a fuzzer can drive) and written to segSizes[i] (0 = one
// datagram). The split into datagrams, with their boundaries, order and the slot's
// sender address, is done by the JS ring view (src/socket/recv-batch.ts) before any
// handler sees the batch; counters here count datagrams, not buffers.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "counters.h"
#include "errors.h"
#include "rtcp_intake.h"
#include "sockaddr.h"
#include "udp_offload.h"
#include "udp_socket.h"

namespace dsn {

// setRecvRing's arguments, read and checked before anything is kept.
struct RecvRingArgs {
  Napi::TypedArray arena, lengths, addrs, flags, seg_sizes;
  bool has_seg_sizes = false;
  std::size_t slots = 0;      // lengths.length
  std::size_t slot_size = 0;  // bytes
  std::size_t budget = 0;     // datagrams per readable wake-up
};

namespace {
constexpr std::size_t kMaxRecvSlots = kUioMaxIov;
constexpr std::int64_t kMaxBudget = 0x7fffffff;
constexpr std::int64_t kMaxSlotSize = 1 << 24;


// Per recvmmsg call: what it adds to the counters.
struct RecvTally {
  std::size_t datagrams = 0;  // GRO buffers count their segments
  double bytes = 0;
  double truncated = 0;
  double gro_buffers = 0;
  double gro_datagrams = 0;
  double malformed = 0;  // unreadable UDP_GRO control messages
};

// Adds the growth of the socket's cumulative u32 drop count (sk_drops as SO_RXQ_OVFL
// reports it) from `*last` to `seen`, modulo 2^32, to `*total`; a count that did not move
// forward (an older datagram's value) adds nothing.
void AddKernelDrops(std::uint32_t seen, std::uint32_t* last, double* total) {
  const std::uint32_t delta = seen - *last;
  if (delta == 0 || delta >= 0x80000000u) return;
  *total += delta;
  *last = seen;
}

// setRecvRing's arguments: types and integer ranges (TypeError/RangeError pending and
// false when one is wrong).
bool ReadRecvRingArgs(const Napi::CallbackInfo& info, RecvRingArgs* ring) {
  std::int64_t slot_size = 0;
  std::int64_t budget = 0;
  if (!ArgTypedArray(info, 0, "arena", napi_uint8_array, &ring->arena) ||
      !ArgInt(info, 1, "slotSize", 1, kMaxSlotSize, &slot_size) ||
      !ArgTypedArray(info, 2, "lengths", napi_uint32_array, &ring->lengths) ||
      !ArgTypedArray(info, 3, "addrs", napi_uint8_array, &ring->addrs) ||
      !ArgTypedArray(info, 4, "flags", napi_uint8_array, &ring->flags) ||
      !ArgInt(info, 5, "budget", 1, kMaxBudget, &budget)) {
    return false;
  }
  ring->has_seg_sizes = info.Length() > 6 && !info[6].IsUndefined();
  if (ring->has_seg_sizes && !ArgTypedArray(info, 6, "segSizes", napi_uint32_array, &ring->seg_sizes)) return false;
  ring->slots = ring->lengths.ElementLength();
  ring->slot_size = static_cast<std::size_t>(slot_size);
  ring->budget = static_cast<std::size_t>(budget);
  return true;
}

// The arrays fit the slot count and size, and a GRO socket gets a ring GRO can use;
// throws (and returns false) naming the first violation.
bool CheckRecvRingShape(Napi::Env env, const RecvRingArgs& ring, bool gro_on) {
  const std::size_t slots = ring.slots;
  const char* problem = nullptr;
  if (slots == 0 || slots > kMaxRecvSlots) {
    problem = "lengths.length (the number of receive slots) must be 1..UIO_MAXIOV (1024)";
  } else if (ring.arena.ElementLength() < slots * ring.slot_size) {
    problem = "arena.length must be >= slots * slotSize";
  } else if (ring.addrs.ElementLength() < slots * kSockaddrStride) {
    problem = "addrs.length must be >= slots * 32";
  } else if (ring.flags.ElementLength() < slots) {
    problem = "flags.length must be >= slots";
  } else if (ring.has_seg_sizes && ring.seg_sizes.ElementLength() < slots) {
    problem = "segSizes.length must be >= slots";
  }
  if (problem != nullptr) {
    ThrowRangeError(env, problem);
    return false;
  }
  if (gro_on && (!ring.has_seg_sizes || ring.slot_size < kGroMinSlot)) {
    ThrowInvalidState(env, "GRO is on: the receive ring needs segSizes and slots of >= 65527 bytes (setGro(false) first)");
    return false;
  }
  return true;
}
}  // namespace

// Where the receive ring's arrays are for one recvmmsg call (the previous onRecv may have
// re-registered the ring or detached one of its buffers).
struct RecvRing {
  ArrayView arena, lengths, addrs, flags, seg_sizes;
  bool has_segs = false;
};

// setRecvRing(arena: Uint8Array, slotSize: number, lengths: Uint32Array, addrs: Uint8Array,
//             flags: Uint8Array, budget: number, segSizes?: Uint32Array): void
// Registers the receive ring: slots = lengths.length (1..UIO_MAXIOV); slot i is
// arena[i*slotSize, (i+1)*slotSize) (slotSize 1..2^24 bytes); addrs[i*32, i*32+32) gets
// the sender's raw sockaddr (sockaddr_in or sockaddr_in6, as the kernel wrote it); flags[i]
// bit 0 = truncated. budget (1..2^31-1 datagrams) bounds what one readable wake-up reads.
// RangeError unless arena.length >= slots*slotSize, addrs.length >= slots*32,
// flags.length >= slots. Keeps strong references to the arrays; (re)builds the mmsghdr/
// iovec arrays (the only allocation of the receive path). May be called while receiving,
// also from inside onRecv (takes effect for the next recvmmsg call).
// segSizes (optional, length >= slots): segSizes[i] gets the GRO segment size of slot i
// (0 = one datagram); needed by setGro(true). While GRO is on, re-registering without
// segSizes or with slotSize < 65527 throws ERR_INVALID_STATE (setGro(false) first).
Napi::Value UdpSocket::SetRecvRing(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  RecvRingArgs ring;
  if (!ReadRecvRingArgs(info, &ring) || !CheckRecvRingShape(env, ring, gro_on_)) return env.Undefined();
  AdoptRecvRing(ring);
  return env.Undefined();
}

// Sizes the reusable mmsghdr/iovec/control arrays for ring.slots (they only grow) and
// keeps the ring's arrays; the headers are rebuilt at the next readable wake-up.
void UdpSocket::AdoptRecvRing(const RecvRingArgs& ring) {
  // A batch waiting for dispatch lies in the old ring: it is dropped with it.
  if (dispatch_pending_ && dispatcher_ != nullptr) dispatcher_->Remove(this);
  if (ring.slots > recv_alloc_) {
    recv_msgs_.reset(new mmsghdr[ring.slots]());
    recv_iov_.reset(new iovec[ring.slots]());
    recv_control_.reset(new std::uint64_t[ring.slots * kRecvCmsgSpace / sizeof(std::uint64_t)]());
    recv_alloc_ = ring.slots;
  }
  // No lookup per recvmmsg call when RecvRing carved the arrays from allocShared memory
  // (one when from an ordinary buffer).
  recv_ring_.Set({&ring.arena, &ring.lengths, &ring.addrs, &ring.flags, ring.has_seg_sizes ? &ring.seg_sizes : nullptr});
  recv_has_segs_ = ring.has_seg_sizes;
  recv_slots_ = ring.slots;
  recv_slot_size_ = ring.slot_size;
  recv_budget_ = ring.budget;
  recv_built_arena_ = nullptr;  // rebuild the headers at the next wake-up
  recv_built_addrs_ = nullptr;
}

// startRecv(): void — readable interest on: each readable wake-up reads with recvmmsg and
// calls onRecv(count) once per recvmmsg call that returned datagrams. Throws
// ERR_INVALID_STATE before setRecvRing, ERR_SOCKET_DGRAM_NOT_RUNNING after close().
Napi::Value UdpSocket::StartRecv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  if (recv_slots_ == 0) {
    ThrowInvalidState(env, "startRecv() before setRecvRing()");
    return env.Undefined();
  }
  receiving_ = true;
  int err = UpdatePoll();
  if (err != 0) {
    receiving_ = false;
    ThrowErrno(env, err, "uv_poll_start");
  }
  return env.Undefined();
}

// stopRecv(): void — readable interest off (no onRecv/onRecvError afterwards, also when
// called from inside onRecv). Datagrams keep queueing in SO_RCVBUF. No-op after close().
Napi::Value UdpSocket::StopRecv(const Napi::CallbackInfo& info) {
  receiving_ = false;
  UpdatePoll();
  return info.Env().Undefined();
}

// setGro(on: boolean): boolean — setsockopt(SOL_UDP, UDP_GRO, on) (udp(7), Linux >= 5.0).
// Turning it on needs a receive ring with segSizes and slots of >= 65527 bytes (any
// coalesced buffer fits; else ERR_INVALID_STATE). Returns whether GRO is on: false where
// the kernel lacks the option (ENOPROTOOPT); other errors throw (syscall 'setsockopt').
// Mirrors the state in counters[GRO_ACTIVE]. Buffers the kernel queued while GRO was on
// keep their control message only while it stays on: turn it off before stopping reads.
Napi::Value UdpSocket::SetGro(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  bool on = false;
  if (!ArgBool(info, 0, "on", &on)) return env.Undefined();
  if (on && (!recv_has_segs_ || recv_slot_size_ < kGroMinSlot)) {
    ThrowInvalidState(env, "setGro(true) needs setRecvRing with segSizes and slots of >= 65527 bytes");
    return env.Undefined();
  }
  int value = on ? 1 : 0;
  if (setsockopt(fd_, SOL_UDP, UDP_GRO, &value, sizeof value) != 0) {
    int err = errno;
    if (err != ENOPROTOOPT) {
      ThrowErrno(env, err, "setsockopt");
      return env.Undefined();
    }
    gro_on_ = false;  // the kernel has no UDP_GRO: nothing to turn off either
  } else {
    gro_on_ = on;
  }
  Counters(env)[kGroActive] = gro_on_ ? 1 : 0;
  return Napi::Boolean::New(env, gro_on_);
}

Napi::Value UdpSocket::SetRecvDispatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::int64_t id = 0;
  if (!ArgInt(info, 0, "id", -1, 0x7fffffff, &id)) return env.Undefined();
  if (!CheckOpen(env)) return env.Undefined();
  if (id < 0) {
    if (dispatcher_ != nullptr) dispatcher_->Remove(this);
    dispatcher_.reset();
    dispatch_id_ = -1;
    return env.Undefined();
  }
  std::shared_ptr<RecvDispatcher> d = RecvDispatcher::For(env);
  if (d == nullptr) {
    ThrowInvalidState(env, "setRecvDispatch() before setRecvDispatcher()");
    return env.Undefined();
  }
  if (dispatcher_ != nullptr && dispatcher_ != d) dispatcher_->Remove(this);
  dispatcher_ = std::move(d);
  dispatch_id_ = static_cast<double>(id);
  return env.Undefined();
}

Napi::Value UdpSocket::SetIngestRoute(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::int64_t fanout = 0, stream = 0;
  if (!ArgInt(info, 0, "fanout", 0, std::int64_t{1} << 52, &fanout)) return env.Undefined();
  if (!CheckOpen(env)) return env.Undefined();
  if (fanout == 0) {
    ingest_fanout_ = 0;
    ingest_state_.Reset();
    return env.Undefined();
  }
  Napi::TypedArray state;
  if (!ArgInt(info, 1, "stream", 0, 0xffff, &stream) || !ArgTypedArray(info, 2, "state", napi_uint8_array, &state)) {
    return env.Undefined();
  }
  if (state.ByteLength() < kIngestStateBytes || state.ByteOffset() % 8 != 0) {
    ThrowRangeError(env, "state must be at least INGEST.STATE_BYTES bytes at an 8-byte aligned offset");
    return env.Undefined();
  }
  ingest_state_.Set({&state});
  ingest_fanout_ = static_cast<double>(fanout);
  ingest_stream_ = static_cast<std::uint32_t>(stream);
  return env.Undefined();
}

bool UdpSocket::IngestBatch(napi_env env, double fanout, std::size_t slots, IngestSlots* in, std::uint32_t* stream,
                            double** state) {
  if (ingest_fanout_ != fanout || fanout == 0 || closed_ || slots > recv_slots_) return false;
  void* st[PinnedGroup::kMax];
  RecvRing ring;
  if (!ingest_state_.Get(env, st) || !ResolveRecvRing(Napi::Env(env), &ring)) return false;
  in->arena = static_cast<const std::uint8_t*>(ring.arena.data);
  in->slot_size = recv_slot_size_;
  in->lengths = static_cast<const std::uint32_t*>(ring.lengths.data);
  in->addrs = static_cast<const std::uint8_t*>(ring.addrs.data);
  in->flags = static_cast<const std::uint8_t*>(ring.flags.data);
  in->seg_sizes = ring.has_segs ? static_cast<const std::uint32_t*>(ring.seg_sizes.data) : nullptr;
  in->count = slots;
  *stream = ingest_stream_;
  *state = static_cast<double*>(st[0]);
  return true;
}

int UdpSocket::RecvmmsgOnce(Napi::Env env, double* counters, std::size_t want) {
  int r;
  do {
    r = recvmmsg(fd_, recv_msgs_.get(), static_cast<unsigned int>(want), MSG_DONTWAIT, nullptr);
    counters[kRecvSyscalls] += 1;
  } while (r < 0 && errno == EINTR);
  if (r >= 0) {
    recv_dirty_ = static_cast<std::size_t>(r);  // the headers it filled (PrepareRecvHeaders resets them)
    return r;  // 0 is not produced by Linux for vlen >= 1
  }
  const int err = errno;
  if (err == EAGAIN || err == EWOULDBLOCK) {
    recv_dirty_ = 0;  // a failed first datagram writes no header back
    return 0;
  }
  // Any other errno (ECONNREFUSED, EHOSTUNREACH, ENETUNREACH on a connected socket after
  // ICMP; ENOMEM; ...) is reported once; reading it cleared it.
  counters[kRecvErrors] += 1;
  CallJs(on_recv_error_, {Napi::Number::New(env, err)});
  return -1;
}

bool UdpSocket::ReadForDispatch(Napi::Env env) {
  // The batch read earlier in this loop iteration is not delivered yet (its slots are the
  // ring): the rest stays queued in the kernel, and level-triggered polling comes back.
  if (dispatch_pending_) return false;
  double* counters = Counters(env);
  counters[kRecvWakeups] += 1;
  RecvRing ring;
  if (!ResolveRecvRingOrStop(env, counters, &ring)) return false;
  const std::size_t want = recv_budget_ < recv_slots_ ? recv_budget_ : recv_slots_;
  PrepareRecvHeaders(ring, want);
  const int r = RecvmmsgOnce(env, counters, want);
  if (r < 0) return true;
  if (r == 0) return false;
  const std::size_t n = static_cast<std::size_t>(r);
  if (AccountReceived(counters, ring, n) >= recv_budget_) counters[kRecvBudgetExhausted] += 1;
  const std::size_t left = OfferToIntake(counters, ring, n);
  if (left > 0 && dispatcher_->Enqueue(this, dispatch_id_, left)) dispatch_pending_ = true;
  return false;
}

bool UdpSocket::OnReadable(Napi::Env env) {
  if (dispatcher_ != nullptr) return ReadForDispatch(env);
  std::size_t got = 0;
  for (bool first = true;; first = false) {
    if (closed_ || !receiving_) return false;
    // Looked up again after every call into JS (onRecv may have re-registered or detached
    // them); nothing runs JS between here and the end of this iteration's accounting.
    double* counters = Counters(env);
    if (first) counters[kRecvWakeups] += 1;
    RecvRing ring;
    if (!ResolveRecvRingOrStop(env, counters, &ring)) return false;
    const std::size_t want = recv_budget_ - got < recv_slots_ ? recv_budget_ - got : recv_slots_;
    PrepareRecvHeaders(ring, want);
    const int r = RecvmmsgOnce(env, counters, want);
    if (r < 0) return true;
    if (r == 0) return false;
    const std::size_t n = static_cast<std::size_t>(r);
    got += AccountReceived(counters, ring, n);
    const std::size_t left = OfferToIntake(counters, ring, n);
    if (left > 0) {
      if (!CallJs(on_recv_, {Napi::Number::New(env, static_cast<double>(left))})) return false;
      if (closed_ || !receiving_) return false;
    }
    if (got >= recv_budget_) {  // counted in datagrams: the last GRO buffer may overshoot it
      // Fairness: yield to the event loop; level-triggered polling wakes us again.
      Counters(env)[kRecvBudgetExhausted] += 1;
      return false;
    }
    if (n < want) return false;  // queue drained; new data wakes the watcher again
  }
}

// Hands the batch to the attached RtcpIntake, if any (rtcp_intake.h): what it takes is
// counted in RECV_TAKEN and removed from the ring's first `n` slots, the rest moved down in
// order. Returns the slots left for JS.
std::size_t UdpSocket::OfferToIntake(double* counters, const RecvRing& ring, std::size_t n) {
  if (intake_ == nullptr) return n;
  const RecvSlots slots{static_cast<std::uint8_t*>(ring.arena.data), recv_slot_size_,
                        static_cast<std::uint32_t*>(ring.lengths.data), static_cast<std::uint8_t*>(ring.addrs.data),
                        static_cast<std::uint8_t*>(ring.flags.data),
                        ring.has_segs ? static_cast<std::uint32_t*>(ring.seg_sizes.data) : nullptr};
  const std::size_t left = TakeFromBatch(intake_, slots, n);
  counters[kRecvTaken] += static_cast<double>(n - left);
  return left;
}

// setIntake(intake | null): see udp_socket.h.
Napi::Value UdpSocket::SetIntake(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || (!info[0].IsNull() && !info[0].IsObject())) {
    ThrowTypeError(env, "intake must be an RtcpIntake or null");
    return env.Undefined();
  }
  RtcpIntake* intake = nullptr;
  if (!info[0].IsNull()) {
    intake = UnwrapRtcpIntake(env, info[0]);
    if (intake == nullptr) {
      ThrowTypeError(env, "intake must be an RtcpIntake or null");
      return env.Undefined();
    }
  }
  if (!CheckOpen(env)) return env.Undefined();
  intake_ref_.Reset();
  intake_ = intake;
  if (intake != nullptr) intake_ref_ = Napi::Persistent(info[0].As<Napi::Object>());
  return env.Undefined();
}

// ResolveRecvRing, and when the memory we were given is gone: stop receiving rather than
// write anywhere, reported as EFAULT (onRecvError). False then.
bool UdpSocket::ResolveRecvRingOrStop(Napi::Env env, double* counters, RecvRing* ring) {
  if (ResolveRecvRing(env, ring)) return true;
  receiving_ = false;
  UpdatePoll();
  counters[kRecvErrors] += 1;
  CallJs(on_recv_error_, {Napi::Number::New(env, EFAULT)});
  return false;
}

// Reads where the registered ring's arrays are now; false when one was detached or shrunk
// below what setRecvRing checked.
bool UdpSocket::ResolveRecvRing(Napi::Env env, RecvRing* ring) {
  void* data[PinnedGroup::kMax];
  if (!recv_ring_.Get(env, data)) return false;
  // Each array still spans what setRecvRing checked (CheckRecvRingShape): slot counts only.
  ring->has_segs = recv_has_segs_;
  ring->arena = {data[0], recv_slots_ * recv_slot_size_};
  ring->lengths = {data[1], recv_slots_};
  ring->addrs = {data[2], recv_slots_ * kSockaddrStride};
  ring->flags = {data[3], recv_slots_};
  ring->seg_sizes = {data[4], recv_has_segs_ ? recv_slots_ : 0};
  return true;
}

// Points the mmsghdr/iovec arrays at the ring's slots (again, when its memory moved) and
// resets the value-result fields of the first `want` headers for the next call.
void UdpSocket::PrepareRecvHeaders(const RecvRing& ring, std::size_t want) {
  mmsghdr* msgs = recv_msgs_.get();
  if (ring.arena.data != recv_built_arena_ || ring.addrs.data != recv_built_addrs_) {
    auto* base = static_cast<std::uint8_t*>(ring.arena.data);
    auto* names = static_cast<std::uint8_t*>(ring.addrs.data);
    for (std::size_t i = 0; i < recv_slots_; ++i) {
      recv_iov_[i].iov_base = base + i * recv_slot_size_;
      recv_iov_[i].iov_len = recv_slot_size_;
      msghdr& h = msgs[i].msg_hdr;
      h.msg_name = names + i * kSockaddrStride;
      h.msg_iov = &recv_iov_[i];
      h.msg_iovlen = 1;
    }
    recv_built_arena_ = ring.arena.data;
    recv_built_addrs_ = ring.addrs.data;
    recv_clean_ = 0;
    recv_dirty_ = 0;
  }
  // The kernel writes the value-result fields only of the headers it filled: those of the
  // last call (recv_dirty_) are reset, and any beyond what earlier calls prepared. A
  // relay's ingest socket (~2 datagrams per wake-up) so touches 2 headers, not recvBatch.
  auto* control = reinterpret_cast<unsigned char*>(recv_control_.get());
  auto reset = [&](std::size_t i) {
    msghdr& h = msgs[i].msg_hdr;
    h.msg_namelen = sizeof(sockaddr_in6);
    h.msg_flags = 0;
    // Room for the UDP_GRO size and the SO_RXQ_OVFL drop count.
    h.msg_control = control + i * kRecvCmsgSpace;
    h.msg_controllen = kRecvCmsgSpace;
    msgs[i].msg_len = 0;
  };
  const std::size_t dirty = recv_dirty_ < recv_clean_ ? recv_dirty_ : recv_clean_;
  for (std::size_t i = 0; i < dirty; ++i) reset(i);
  for (std::size_t i = recv_clean_; i < want; ++i) reset(i);
  if (want > recv_clean_) recv_clean_ = want;
  // Until the call reports what it filled, count every prepared header as written.
  recv_dirty_ = want;
}

// Writes lengths, flags and GRO segment sizes of the `n` slots recvmmsg filled and adds
// them to the counters, with the kernel's drop count (SO_RXQ_OVFL) in RECV_KERNEL_DROPS. Returns the datagrams received (GRO buffers count their segments).
std::size_t UdpSocket::AccountReceived(double* counters, const RecvRing& ring, std::size_t n) {
  const mmsghdr* msgs = recv_msgs_.get();
  auto* lengths = static_cast<std::uint32_t*>(ring.lengths.data);
  auto* flags = static_cast<std::uint8_t*>(ring.flags.data);
  auto* seg_sizes = static_cast<std::uint32_t*>(ring.seg_sizes.data);
  RecvTally t;
  for (std::size_t i = 0; i < n; ++i) {
    const msghdr& h = msgs[i].msg_hdr;
    const std::size_t len = msgs[i].msg_len;
    lengths[i] = msgs[i].msg_len;
    t.bytes += msgs[i].msg_len;
    const bool trunc = (h.msg_flags & MSG_TRUNC) != 0;
    flags[i] = trunc ? 1 : 0;
    t.truncated += trunc ? 1 : 0;
    std::uint32_t drops = 0;
    if (ParseRxqOvflCmsg(h.msg_control, h.msg_controllen, &drops)) {
      AddKernelDrops(drops, &rxq_drops_seen_, &counters[kRecvKernelDrops]);
    }
    std::size_t segs = 1;
    if (ring.has_segs) {
      const int g = ParseGroCmsg(h.msg_control, h.msg_controllen);
      // MSG_CTRUNC cannot happen with the room reserved (UDP_GRO and SO_RXQ_OVFL are the
      // only ones enabled); a malformed size is counted and the buffer delivered as one
      // datagram.
      if (g < 0 || (h.msg_flags & MSG_CTRUNC) != 0) t.malformed += 1;
      const std::size_t size = g > 0 ? static_cast<std::size_t>(g) : 0;
      segs = GroSegmentCount(len, size);
      seg_sizes[i] = segs > 1 ? static_cast<std::uint32_t>(size) : 0;
      if (segs > 1) {
        t.gro_buffers += 1;
        t.gro_datagrams += static_cast<double>(segs);
      }
    }
    t.datagrams += segs;
  }
  counters[kRecvDatagrams] += static_cast<double>(t.datagrams);
  counters[kRecvBytes] += t.bytes;
  counters[kRecvTruncated] += t.truncated;
  counters[kRecvBatches] += 1;
  counters[kGroBuffers] += t.gro_buffers;
  counters[kGroDatagrams] += t.gro_datagrams;
  counters[kRecvErrors] += t.malformed;
  return t.datagrams;
}

}  // namespace dsn
