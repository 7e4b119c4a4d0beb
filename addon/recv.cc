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
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "counters.h"
#include "errors.h"
#include "sockaddr.h"
#include "udp_socket.h"

namespace dsn {

namespace {
constexpr std::size_t kMaxRecvSlots = kUioMaxIov;
constexpr std::int64_t kMaxBudget = 0x7fffffff;
constexpr std::int64_t kMaxSlotSize = 1 << 24;

struct RecvRing {
  std::uint32_t* lengths = nullptr;
  std::uint8_t* flags = nullptr;
};
}  // namespace

// setRecvRing(arena: Uint8Array, slotSize: number, lengths: Uint32Array, addrs: Uint8Array,
//             flags: Uint8Array, budget: number): void
// Registers the receive ring: slots = lengths.length (1..UIO_MAXIOV); slot i is
// arena[i*slotSize, (i+1)*slotSize) (slotSize 1..2^24 bytes); addrs[i*32, i*32+32) gets
// the sender's raw sockaddr (sockaddr_in or sockaddr_in6, as the kernel wrote it); flags[i]
// bit 0 = truncated. budget (1..2^31-1 datagrams) bounds what one readable wake-up reads.
// RangeError unless arena.length >= slots*slotSize, addrs.length >= slots*32,
// flags.length >= slots. Keeps strong references to the arrays; (re)builds the mmsghdr/
// iovec arrays (the only allocation of the receive path). May be called while receiving,
// also from inside onRecv (takes effect for the next recvmmsg call).
Napi::Value UdpSocket::SetRecvRing(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  Napi::TypedArray arena, lengths, addrs, flags;
  std::int64_t slot_size = 0;
  std::int64_t budget = 0;
  if (!ArgTypedArray(info, 0, "arena", napi_uint8_array, &arena) ||
      !ArgInt(info, 1, "slotSize", 1, kMaxSlotSize, &slot_size) ||
      !ArgTypedArray(info, 2, "lengths", napi_uint32_array, &lengths) ||
      !ArgTypedArray(info, 3, "addrs", napi_uint8_array, &addrs) ||
      !ArgTypedArray(info, 4, "flags", napi_uint8_array, &flags) ||
      !ArgInt(info, 5, "budget", 1, kMaxBudget, &budget)) {
    return env.Undefined();
  }
  std::size_t slots = lengths.ElementLength();
  if (slots == 0 || slots > kMaxRecvSlots) {
    ThrowRangeError(env, "lengths.length (the number of receive slots) must be 1..UIO_MAXIOV (1024)");
    return env.Undefined();
  }
  std::size_t size = static_cast<std::size_t>(slot_size);
  if (arena.ElementLength() < slots * size) {
    ThrowRangeError(env, "arena.length must be >= slots * slotSize");
    return env.Undefined();
  }
  if (addrs.ElementLength() < slots * kSockaddrStride) {
    ThrowRangeError(env, "addrs.length must be >= slots * 32");
    return env.Undefined();
  }
  if (flags.ElementLength() < slots) {
    ThrowRangeError(env, "flags.length must be >= slots");
    return env.Undefined();
  }
  if (slots > recv_alloc_) {
    recv_msgs_.reset(new mmsghdr[slots]());
    recv_iov_.reset(new iovec[slots]());
    recv_alloc_ = slots;
  }
  recv_arena_.Set(arena);
  recv_lengths_.Set(lengths);
  recv_addrs_.Set(addrs);
  recv_flags_.Set(flags);
  recv_slots_ = slots;
  recv_slot_size_ = size;
  recv_budget_ = static_cast<std::size_t>(budget);
  recv_built_arena_ = nullptr;  // rebuild the headers at the next wake-up
  recv_built_addrs_ = nullptr;
  return env.Undefined();
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

bool UdpSocket::OnReadable(Napi::Env env) {
  Counters(env)[kRecvWakeups] += 1;
  std::size_t got = 0;
  for (;;) {
    if (closed_ || !receiving_) return false;
    // Re-read where the ring is: the previous onRecv may have re-registered it or
    // detached one of its buffers.
    ArrayView arena, lengths_v, addrs, flags_v;
    bool ok = recv_arena_.Get(env, &arena) && recv_lengths_.Get(env, &lengths_v) && recv_addrs_.Get(env, &addrs) &&
              recv_flags_.Get(env, &flags_v) && arena.length >= recv_slots_ * recv_slot_size_ &&
              lengths_v.length >= recv_slots_ && addrs.length >= recv_slots_ * kSockaddrStride &&
              flags_v.length >= recv_slots_;
    if (!ok) {
      // Memory we were given is gone: stop receiving rather than write anywhere.
      receiving_ = false;
      UpdatePoll();
      Counters(env)[kRecvErrors] += 1;
      CallJs(on_recv_error_, {Napi::Number::New(env, EFAULT)});
      return false;
    }
    mmsghdr* msgs = recv_msgs_.get();
    if (arena.data != recv_built_arena_ || addrs.data != recv_built_addrs_) {
      auto* base = static_cast<std::uint8_t*>(arena.data);
      auto* names = static_cast<std::uint8_t*>(addrs.data);
      for (std::size_t i = 0; i < recv_slots_; ++i) {
        recv_iov_[i].iov_base = base + i * recv_slot_size_;
        recv_iov_[i].iov_len = recv_slot_size_;
        msghdr& h = msgs[i].msg_hdr;
        h.msg_name = names + i * kSockaddrStride;
        h.msg_iov = &recv_iov_[i];
        h.msg_iovlen = 1;
        h.msg_control = nullptr;
        h.msg_controllen = 0;
      }
      recv_built_arena_ = arena.data;
      recv_built_addrs_ = addrs.data;
    }
    std::size_t want = recv_budget_ - got;
    if (want > recv_slots_) want = recv_slots_;
    for (std::size_t i = 0; i < want; ++i) {
      msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in6);  // value-result: reset every call
      msgs[i].msg_hdr.msg_flags = 0;
      msgs[i].msg_len = 0;
    }
    int r = recvmmsg(fd_, msgs, static_cast<unsigned int>(want), MSG_DONTWAIT, nullptr);
    double* counters = Counters(env);
    counters[kRecvSyscalls] += 1;
    if (r < 0) {
      int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) return false;
      // Any other errno (ECONNREFUSED, EHOSTUNREACH, ENETUNREACH on a connected socket
      // after ICMP; ENOMEM; ...) is reported once; reading it cleared it.
      counters[kRecvErrors] += 1;
      CallJs(on_recv_error_, {Napi::Number::New(env, err)});
      return true;
    }
    if (r == 0) return false;  // not produced by Linux for vlen >= 1
    std::size_t n = static_cast<std::size_t>(r);
    auto* lengths = static_cast<std::uint32_t*>(lengths_v.data);
    auto* flags = static_cast<std::uint8_t*>(flags_v.data);
    double bytes = 0;
    double truncated = 0;
    for (std::size_t i = 0; i < n; ++i) {
      lengths[i] = msgs[i].msg_len;
      bytes += msgs[i].msg_len;
      bool trunc = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
      flags[i] = trunc ? 1 : 0;
      truncated += trunc ? 1 : 0;
    }
    counters[kRecvDatagrams] += static_cast<double>(n);
    counters[kRecvBytes] += bytes;
    counters[kRecvTruncated] += truncated;
    counters[kRecvBatches] += 1;
    got += n;
    if (!CallJs(on_recv_, {Napi::Number::New(env, static_cast<double>(n))})) return false;
    if (closed_ || !receiving_) return false;
    if (got >= recv_budget_) {
      // Fairness: yield to the event loop; level-triggered polling wakes us again.
      Counters(env)[kRecvBudgetExhausted] += 1;
      return false;
    }
    if (n < want) return false;  // queue drained; new data wakes the watcher again
  }
}

}  // namespace dsn
