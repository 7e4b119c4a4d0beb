// Batched send: the send ring and sendmmsg(2).
// Man pages: sendmmsg(2), sendmsg(2), udp(7), socket(7).
//
// Kernel behaviour this relies on (net/socket.c __sys_sendmmsg): datagrams are taken in
// order; the call returns how many were taken if that is at least one, and the error of
// the first one not taken is then dropped, so the next call (starting at that datagram)
// meets it again. Only when the very first datagram fails does the call return -1/errno.
// vlen is capped at UIO_MAXIOV (1024), hence the chunking.
//
// GSO (udp_offload.h, udp(7) UDP_SEGMENT). With setGso(true), a run of consecutive ring
// slots to the same peer id and of the same length, the last one possibly shorter, within
// the limits of udp_offload.h (GsoRunLength), goes as ONE message: one iovec per datagram
// (no copy), plus a UDP_SEGMENT control message with the run's length as gso_size; the
// kernel cuts it back into exactly those datagrams. GSO and plain messages mix in one sendmmsg. sendmmsg counts messages, and a
// message is taken whole or not at all, so "k messages taken" maps back to the exact
// number of datagrams taken (the sum of their segment counts), and the datagram-level
// contract of send() is unchanged.
//
// Errors of a GSO message (only when it is the first message of a call, i.e. when
// sendmmsg returns -1 for it; a later one is just "not taken" and comes first next time):
//  - EIO/EINVAL: the device or route cannot segment (udp_send_skb; quinn-udp reacts the
//    same way). GSO is turned off for the socket (counted in GSO_FALLBACKS, GSO_ACTIVE
//    becomes 0) and the same datagrams are sent again at once as plain messages: nothing
//    is lost or reordered, and an EINVAL that belongs to one datagram then lands on it.
//  - EMSGSIZE: the route's MTU is below the segment size. Plain UDP would fragment such
//    a datagram and deliver it; a GSO message cannot be fragmented (udp_send_skb, and
//    __ip_append_data/__ip6_append_data refuse a segmented message longer than the path
//    MTU). The datagrams are resent plain and GSO is turned off where that path is: for
//    the socket when it is connected (GSO_FALLBACKS, as above), else for that peer only
//    (its peer-table entry gets kPeerNoGso, counted in GSO_PEER_FALLBACKS and
//    GSO_RESENDS), so other peers keep GSO. A connected socket's EMSGSIZE could also be a
//    pending ICMP "fragmentation needed" (sk_err), which the failed attempt consumed; that
//    one belongs to no datagram that can be resent (plain datagrams are fragmented to the
//    new path MTU), so nothing is charged for it.
//  - EAGAIN/EWOULDBLOCK/ENOBUFS: transient, reported as usual; nothing was taken.
//  - anything else on an unconnected socket: the error may belong to any one datagram of
//    the run (EPERM from a firewall rule, ...), so the run is resent as plain
//    messages (GSO_RESENDS) and the error, if it recurs, is reported for the datagram it
//    belongs to. Without IP_RECVERR (never set here) the kernel does not leave ICMP
//    errors pending on an unconnected socket, so nothing is lost by the first attempt.
//  - anything else on a connected socket (peer id -1): the error may be the pending ICMP
//    error of an earlier datagram (ECONNREFUSED, EHOSTUNREACH, ...: udp(7), sk_err),
//    which the failed attempt has consumed. A plain resend would then succeed and the
//    error would be lost, so it is charged to the first datagram of the run, exactly as
//    a plain sendmmsg charges a pending error to the first datagram it is offered.
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "counters.h"
#include "errors.h"
#include "sockaddr.h"
#include "udp_offload.h"
#include "udp_socket.h"

namespace dsn {

// Where the ring's arrays are for one send() call (JS may detach or shrink a buffer
// between calls, so this is resolved anew each time).
struct SendRing {
  std::uint8_t* arena = nullptr;
  std::size_t arena_len = 0;
  const std::uint32_t* offsets = nullptr;
  const std::uint32_t* lengths = nullptr;
  const std::int32_t* peers = nullptr;
  std::uint8_t* table = nullptr;
  std::size_t table_len = 0;
  std::size_t capacity = 0;

  // Ring slot of the datagram `i` places after slot `start`.
  std::size_t Slot(std::size_t start, std::size_t i) const {
    std::size_t s = start + i;
    return s >= capacity ? s - capacity : s;
  }
  // The 32-byte peer-table entry of slot s, or nullptr for the connected peer (-1).
  std::uint8_t* Entry(std::size_t s) const {
    return peers[s] == -1 ? nullptr : table + static_cast<std::size_t>(peers[s]) * kSockaddrStride;
  }
};

namespace {

bool IsTransient(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS; }

sa_family_t EntryFamily(const std::uint8_t* entry) {
  sa_family_t fam = 0;
  if (entry != nullptr) std::memcpy(&fam, entry, sizeof fam);
  return fam;
}

// sockaddr length for a peer-table entry of `entry_family` on a socket of `family`, or 0
// when that entry cannot be used on this socket.
socklen_t PeerLength(int family, sa_family_t entry_family) {
  if (family == AF_INET && entry_family == AF_INET) return sizeof(sockaddr_in);
  if (family == AF_INET6 && entry_family == AF_INET6) return sizeof(sockaddr_in6);
  return 0;
}

// What is wrong with ring slot s, or nullptr when it is inside its arrays.
const char* SlotProblem(const SendRing& ring, std::size_t s, int family) {
  if (static_cast<std::uint64_t>(ring.offsets[s]) + ring.lengths[s] > ring.arena_len) {
    return "offsets[s] + lengths[s] exceeds the arena";
  }
  const std::int32_t p = ring.peers[s];
  if (p == -1) return nullptr;
  if (p < 0 || static_cast<std::uint64_t>(p) * kSockaddrStride + kSockaddrStride > ring.table_len) {
    return "peers[s] is outside the peer table";
  }
  if (PeerLength(family, EntryFamily(ring.Entry(s))) == 0) {
    return "peer table entry peers[s] has no address of the socket's family";
  }
  return nullptr;
}

// How many datagrams from slot s (at most `limit`) form one GSO message: same peer id,
// same length (a shorter, non-empty one ends the run), within the segment and
// total-payload limits of udp_send_skb/__ip_append_data.
std::size_t GsoRunLength(const SendRing& ring, std::size_t s, std::size_t limit, std::size_t max_payload) {
  const std::int32_t peer = ring.peers[s];
  const std::size_t seg = ring.lengths[s];
  std::size_t bytes = seg;
  std::size_t run = 1;
  while (run < kGsoMaxSegments && run < limit) {
    const std::size_t s2 = ring.Slot(s, run);
    if (ring.peers[s2] != peer) break;
    const std::size_t len2 = ring.lengths[s2];
    if (len2 == 0 || len2 > seg || bytes + len2 > max_payload) break;
    bytes += len2;
    ++run;
    if (len2 < seg) break;  // the short last segment closes the run
  }
  return run;
}

// Counts a send() that stops on `err` and leaves it in LAST_ERRNO for the scheduler.
void RecordSendErrno(double* counters, int err) {
  counters[kLastErrno] = err;
  if (err == EAGAIN || err == EWOULDBLOCK) {
    counters[kSendEagain] += 1;
  } else if (err == ENOBUFS) {
    counters[kSendEnobufs] += 1;
  } else {
    counters[kSendErrors] += 1;
  }
}

}  // namespace

// The contract of setSendRing and send: udp_socket.h.
Napi::Value UdpSocket::SetSendRing(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  Napi::TypedArray arena, offsets, lengths, peers, table;
  if (!ArgSendRing(info, 0, &arena, &offsets, &lengths, &peers) ||
      !ArgTypedArray(info, 4, "peerTable", napi_uint8_array, &table)) {
    return env.Undefined();
  }
  const std::size_t capacity = offsets.ElementLength();
  std::size_t batch = capacity < kUioMaxIov ? capacity : kUioMaxIov;
  if (batch > send_batch_) {
    send_msgs_.reset(new mmsghdr[batch]());
    send_iov_.reset(new iovec[batch]());
    send_control_.reset(new std::uint64_t[batch * kGsoCmsgSpace / sizeof(std::uint64_t)]());
    send_segments_.reset(new std::uint32_t[batch]());
    send_batch_ = batch;
  }
  send_ring_.Set({&arena, &offsets, &lengths, &peers, &table});
  return env.Undefined();
}

Napi::Value UdpSocket::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  std::int64_t start_arg = 0;
  std::int64_t count_arg = 0;
  if (!ArgInt(info, 0, "start", 0, UINT32_MAX, &start_arg)) return env.Undefined();
  if (!ArgInt(info, 1, "count", 0, UINT32_MAX, &count_arg)) return env.Undefined();
  SendRing ring;
  if (!ResolveSendRing(env, &ring)) return env.Undefined();
  const std::size_t start = static_cast<std::size_t>(start_arg);
  const std::size_t count = static_cast<std::size_t>(count_arg);
  if (!ValidateSlots(env, ring, start, count)) return env.Undefined();
  const std::size_t taken = SendSlots(Counters(env), ring, start, count);
  return Napi::Number::New(env, static_cast<double>(taken));
}

// Reads where the registered ring's arrays are now; throws (and returns false) before
// setSendRing or when JS detached or resized one of them.
bool UdpSocket::ResolveSendRing(Napi::Env env, SendRing* ring) {
  if (send_ring_.IsEmpty()) {
    ThrowInvalidState(env, "send() before setSendRing()");
    return false;
  }
  // setSendRing checked the slot arrays' equal lengths (>= 1); each still spans what it had.
  void* data[PinnedGroup::kMax];
  if (!send_ring_.Get(env, data)) {
    ThrowRangeError(env, "the registered send ring is no longer valid (detached or resized arrays)");
    return false;
  }
  ring->arena = static_cast<std::uint8_t*>(data[0]);
  ring->arena_len = send_ring_.Length(0);
  ring->offsets = static_cast<const std::uint32_t*>(data[1]);
  ring->lengths = static_cast<const std::uint32_t*>(data[2]);
  ring->peers = static_cast<const std::int32_t*>(data[3]);
  ring->table = static_cast<std::uint8_t*>(data[4]);
  ring->table_len = send_ring_.Length(4);
  ring->capacity = send_ring_.Length(1);
  return true;
}

// Nothing is sent unless the range and every slot in it are inside their arrays; throws
// RangeError (and returns false) naming the first violation.
bool UdpSocket::ValidateSlots(Napi::Env env, const SendRing& ring, std::size_t start, std::size_t count) const {
  char message[160];
  if (start >= ring.capacity || count > ring.capacity || send_batch_ == 0) {
    std::snprintf(message, sizeof message, "send(start=%zu, count=%zu) outside the ring of capacity %zu", start, count,
                  ring.capacity);
    ThrowRangeError(env, message);
    return false;
  }
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t s = ring.Slot(start, i);
    const char* problem = SlotProblem(ring, s, family_);
    if (problem != nullptr) {
      std::snprintf(message, sizeof message, "send ring slot %zu: %s", s, problem);
      ThrowRangeError(env, message);
      return false;
    }
  }
  return true;
}

// The send loop over validated slots: one sendmmsg per chunk of at most send_batch_
// datagrams, until all are taken or an errno stops it. Returns the datagrams taken.
std::size_t UdpSocket::SendSlots(double* counters, const SendRing& ring, std::size_t start, std::size_t count) {
  counters[kLastErrno] = 0;
  std::size_t total = 0;        // datagrams taken so far
  std::size_t plain_until = 0;  // datagrams [total, plain_until) go without GSO (resend)
  while (total < count) {
    const std::size_t end = count - total > send_batch_ ? total + send_batch_ : count;
    const std::size_t m = BuildMessages(ring, start, total, end, plain_until);
    const int r = SendmmsgOnce(counters, send_msgs_.get(), static_cast<unsigned int>(m), send_segments_[0] > 1);
    if (r < 0) {
      const SendRetry next = OnSendError(counters, ring, ring.Slot(start, total), errno);
      if (next == SendRetry::kStop) break;
      if (next == SendRetry::kPlain) plain_until = total + send_segments_[0];
      continue;
    }
    if (r == 0) {
      // Not produced by Linux for n >= 1; treat as "try again when writable" rather than loop.
      RecordSendErrno(counters, EAGAIN);
      break;
    }
    total += AccountTaken(counters, m, static_cast<std::size_t>(r));
  }
  return total;
}

// Builds the messages of one sendmmsg call from datagrams [first, end) (counted from
// `start`; end - first <= send_batch_): with GSO on, each run of datagrams from
// plain_until on that GsoRunLength allows becomes one message with a UDP_SEGMENT control
// message and one iovec per datagram (no copy); the rest go one per message.
// send_segments_[j] = datagrams in message j. Returns the number of messages.
std::size_t UdpSocket::BuildMessages(const SendRing& ring, std::size_t start, std::size_t first, std::size_t end,
                                     std::size_t plain_until) {
  mmsghdr* msgs = send_msgs_.get();
  iovec* iov = send_iov_.get();
  auto* control = reinterpret_cast<unsigned char*>(send_control_.get());
  std::size_t m = 0;
  for (std::size_t d = first; d < end; ++m) {
    const std::size_t s = ring.Slot(start, d);
    std::uint8_t* entry = ring.Entry(s);
    const sa_family_t fam = EntryFamily(entry);
    const std::size_t seg = ring.lengths[s];
    const bool gso = gso_on_ && d >= plain_until && seg > 0 && (entry == nullptr || (entry[kPeerFlagsOffset] & kPeerNoGso) == 0);
    const std::size_t run = gso ? GsoRunLength(ring, s, end - d, GsoMaxPayload(entry, fam)) : 1;
    iovec* v = &iov[d - first];
    for (std::size_t k = 0; k < run; ++k) {
      const std::size_t sk = ring.Slot(s, k);
      v[k].iov_base = ring.arena + ring.offsets[sk];
      v[k].iov_len = ring.lengths[sk];
    }
    msghdr& h = msgs[m].msg_hdr;
    h.msg_name = entry;
    h.msg_namelen = entry == nullptr ? 0 : PeerLength(family_, fam);
    h.msg_iov = v;
    h.msg_iovlen = run;
    h.msg_control = run > 1 ? control + m * kGsoCmsgSpace : nullptr;
    h.msg_controllen = run > 1 ? WriteGsoCmsg(h.msg_control, static_cast<std::uint16_t>(seg)) : 0;
    h.msg_flags = 0;
    msgs[m].msg_len = 0;
    send_segments_[m] = static_cast<std::uint32_t>(run);
    d += run;
  }
  return m;
}

// sendmmsg returned -1/err for the first message of the call (first datagram in ring
// slot `first_slot`); the GSO cases are the ones listed at the top of this file.
// kAgain: build and send again (EINTR; a GSO message the device or path cannot take,
// after turning GSO off for the socket). kPlain: resend the run as plain messages (a GSO message on an
// unconnected socket). kStop: err recorded in LAST_ERRNO, send() returns.
UdpSocket::SendRetry UdpSocket::OnSendError(double* counters, const SendRing& ring, std::size_t first_slot, int err) {
  if (err == EINTR) return SendRetry::kAgain;
  if (send_segments_[0] > 1 && !IsTransient(err)) {
    const bool connected = ring.peers[first_slot] == -1;
    if (err == EIO || err == EINVAL || (err == EMSGSIZE && connected)) {
      gso_on_ = false;
      counters[kGsoActive] = 0;
      counters[kGsoFallbacks] += 1;
      return SendRetry::kAgain;
    }
    if (!connected) {
      if (err == EMSGSIZE) {
        std::uint8_t* entry = ring.Entry(first_slot);
        if ((entry[kPeerFlagsOffset] & kPeerNoGso) == 0) counters[kGsoPeerFallbacks] += 1;
        entry[kPeerFlagsOffset] |= kPeerNoGso;
      }
      counters[kGsoResends] += 1;
      return SendRetry::kPlain;
    }
    // Connected: possibly the consumed pending ICMP error; charge the first datagram.
  }
  RecordSendErrno(counters, err);
  return SendRetry::kStop;
}

// The kernel took the first `r` (>= 1) of `m` messages: counts them and returns how many
// datagrams that is (a GSO message counts its segments).
std::size_t UdpSocket::AccountTaken(double* counters, std::size_t m, std::size_t r) {
  const std::size_t taken = r < m ? r : m;
  std::size_t datagrams = 0;
  double bytes = 0;
  for (std::size_t j = 0; j < taken; ++j) {
    const std::uint32_t segs = send_segments_[j];
    datagrams += segs;
    bytes += send_msgs_[j].msg_len;
    if (segs > 1) {
      counters[kGsoMessages] += 1;
      counters[kGsoSegments] += segs;
    }
  }
  counters[kSendDatagrams] += static_cast<double>(datagrams);
  counters[kSendBytes] += bytes;
  if (taken < m) counters[kSendPartial] += 1;
  return datagrams;
}

}  // namespace dsn

namespace dsn {

int UdpSocket::SendmmsgOnce(double* counters, mmsghdr* msgs, unsigned int n, bool first_is_gso) {
  if (inject_count_ > 0 && (!inject_gso_only_ || first_is_gso)) {
    --inject_count_;
    errno = inject_errno_;
    return -1;
  }
  int r = sendmmsg(fd_, msgs, n, 0);
  // Counted here so that the injected failures above are not: SEND_SYSCALLS stays equal
  // to what perf/strace count. (No call between sendmmsg and the caller's errno read.)
  counters[kSendSyscalls] += 1;
  return r;
}

// setGso(on: boolean): boolean
// Turns GSO on sends on or off (udp(7) UDP_SEGMENT as a per-message control message).
// Support was probed when the socket opened; where the kernel lacks UDP_SEGMENT (Linux
// < 4.18) setGso(true) returns false and sends stay plain. Returns whether GSO is on now
// and mirrors it in counters[GSO_ACTIVE]. A fallback (EIO/EINVAL, or EMSGSIZE on a
// connected socket, on a GSO message) turns it off again; setGso(true) may turn it back on.
Napi::Value UdpSocket::SetGso(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  bool on = false;
  if (!ArgBool(info, 0, "on", &on)) return env.Undefined();
  gso_on_ = on && gso_supported_;
  Counters(env)[kGsoActive] = gso_on_ ? 1 : 0;
  return Napi::Boolean::New(env, gso_on_);
}

// debugInjectSendErrno(errno: number, count: number, gsoOnly: boolean): void
// TEST ONLY: fault injection for the GSO fallback and error paths. The next `count`
// sendmmsg calls made by send() (with gsoOnly: only calls whose first message is a GSO
// message) fail with `errno` (1..4095) as if the kernel had rejected their first
// message, without making the system call (not counted in SEND_SYSCALLS). count 0
// cancels; at most 1024 (send() retries an EINTR at once: an injected run of them must
// end — the fuzzer hung the send loop with EINTR x 2^31). Never called by the library itself.
Napi::Value UdpSocket::DebugInjectSendErrno(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  std::int64_t err = 0;
  std::int64_t count = 0;
  bool gso_only = false;
  if (!ArgInt(info, 0, "errno", 1, 4095, &err) || !ArgInt(info, 1, "count", 0, 1024, &count) ||
      !ArgBool(info, 2, "gsoOnly", &gso_only)) {
    return env.Undefined();
  }
  inject_errno_ = static_cast<int>(err);
  inject_count_ = count;
  inject_gso_only_ = gso_only;
  return env.Undefined();
}

}  // namespace dsn
