// Batched send: the send ring and sendmmsg(2).
// Man pages: sendmmsg(2), sendmsg(2), udp(7), socket(7).
//
// Kernel behaviour this relies on (net/socket.c __sys_sendmmsg): datagrams are taken in
// order; the call returns how many were taken if that is at least one, and the error of
// the first one not taken is then dropped, so the next call (starting at that datagram)
// meets it again. Only when the very first datagram fails does the call return -1/errno.
// vlen is capped at UIO_MAXIOV (1024), hence the chunking.
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "counters.h"
#include "errors.h"
#include "sockaddr.h"
#include "udp_socket.h"

namespace dsn {

namespace {

struct SendRing {
  std::uint8_t* arena = nullptr;
  std::size_t arena_len = 0;
  const std::uint32_t* offsets = nullptr;
  const std::uint32_t* lengths = nullptr;
  const std::int32_t* peers = nullptr;
  std::uint8_t* table = nullptr;
  std::size_t table_len = 0;
  std::size_t capacity = 0;
};

// sockaddr length for a peer-table entry of `entry_family` on a socket of `family`, or 0
// when that entry cannot be used on this socket.
socklen_t PeerLength(int family, sa_family_t entry_family) {
  if (family == AF_INET && entry_family == AF_INET) return sizeof(sockaddr_in);
  if (family == AF_INET6 && entry_family == AF_INET6) return sizeof(sockaddr_in6);
  return 0;
}

}  // namespace

// setSendRing(arena: Uint8Array, offsets: Uint32Array, lengths: Uint32Array,
//             peers: Int32Array, peerTable: Uint8Array): void
// Registers the send ring: slot s is lengths[s] bytes at arena[offsets[s]], to the
// 32-byte entry peers[s] of peerTable (written by encodePeer), or to the connected peer
// when peers[s] == -1. offsets, lengths and peers must have the same length (the ring
// capacity, >= 1; else RangeError). Keeps strong references to all five arrays until the
// next setSendRing or close(). Sizes the reusable mmsghdr/iovec arrays to
// min(capacity, UIO_MAXIOV): the only allocation of the send path.
Napi::Value UdpSocket::SetSendRing(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  Napi::TypedArray arena, offsets, lengths, peers, table;
  if (!ArgTypedArray(info, 0, "arena", napi_uint8_array, &arena) ||
      !ArgTypedArray(info, 1, "offsets", napi_uint32_array, &offsets) ||
      !ArgTypedArray(info, 2, "lengths", napi_uint32_array, &lengths) ||
      !ArgTypedArray(info, 3, "peers", napi_int32_array, &peers) ||
      !ArgTypedArray(info, 4, "peerTable", napi_uint8_array, &table)) {
    return env.Undefined();
  }
  std::size_t capacity = offsets.ElementLength();
  if (capacity == 0 || lengths.ElementLength() != capacity || peers.ElementLength() != capacity) {
    ThrowRangeError(env, "offsets, lengths and peers must have the same length >= 1 (the ring capacity)");
    return env.Undefined();
  }
  std::size_t batch = capacity < kUioMaxIov ? capacity : kUioMaxIov;
  if (batch > send_batch_) {
    send_msgs_.reset(new mmsghdr[batch]());
    send_iov_.reset(new iovec[batch]());
    send_batch_ = batch;
  }
  send_arena_.Set(arena);
  send_offsets_.Set(offsets);
  send_lengths_.Set(lengths);
  send_peers_.Set(peers);
  peer_table_.Set(table);
  return env.Undefined();
}

// send(start: number, count: number): number
// Sends ring slots start, start+1, ... (mod capacity), `count` of them, in order, with
// sendmmsg(fd, msgs, n <= UIO_MAXIOV, 0) per chunk:
//  - r > 0: r datagrams taken; if r < n (SEND_PARTIAL) the next call starts at the first
//    one not taken and either takes it or reports its errno;
//  - -1/EINTR: retried;
//  - -1/other: counters[LAST_ERRNO] = errno, counted as SEND_EAGAIN (EAGAIN/EWOULDBLOCK),
//    SEND_ENOBUFS or SEND_ERRORS, and send returns what was taken so far.
// Returns the number of datagrams taken (0..count); LAST_ERRNO is 0 when all were.
// Counts SEND_SYSCALLS per sendmmsg call, SEND_DATAGRAMS, SEND_BYTES (sum of msg_len).
// Every slot is validated before anything is sent: start < capacity, count <= capacity,
// offsets[s] + lengths[s] <= arena.length, peers[s] == -1 or its 32-byte entry inside
// peerTable holding the socket's family; a violation throws RangeError and sends nothing.
// Throws ERR_INVALID_STATE before setSendRing, ERR_SOCKET_DGRAM_NOT_RUNNING after close().
// No allocation: the mmsghdr/iovec arrays were sized by setSendRing.
Napi::Value UdpSocket::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  std::int64_t start_arg = 0;
  std::int64_t count_arg = 0;
  if (!ArgInt(info, 0, "start", 0, UINT32_MAX, &start_arg)) return env.Undefined();
  if (!ArgInt(info, 1, "count", 0, UINT32_MAX, &count_arg)) return env.Undefined();
  if (send_offsets_.IsEmpty()) {
    ThrowInvalidState(env, "send() before setSendRing()");
    return env.Undefined();
  }

  // Where the ring's arrays are now (JS may have detached or shrunk a buffer since).
  SendRing ring;
  ArrayView arena, offsets, lengths, peers, table;
  if (!send_arena_.Get(env, &arena) || !send_offsets_.Get(env, &offsets) || !send_lengths_.Get(env, &lengths) ||
      !send_peers_.Get(env, &peers) || !peer_table_.Get(env, &table) || offsets.length == 0 ||
      lengths.length != offsets.length || peers.length != offsets.length) {
    ThrowRangeError(env, "the registered send ring is no longer valid (detached or resized arrays)");
    return env.Undefined();
  }
  ring.arena = static_cast<std::uint8_t*>(arena.data);
  ring.arena_len = arena.length;
  ring.offsets = static_cast<const std::uint32_t*>(offsets.data);
  ring.lengths = static_cast<const std::uint32_t*>(lengths.data);
  ring.peers = static_cast<const std::int32_t*>(peers.data);
  ring.table = static_cast<std::uint8_t*>(table.data);
  ring.table_len = table.length;
  ring.capacity = offsets.length;

  const std::size_t start = static_cast<std::size_t>(start_arg);
  const std::size_t count = static_cast<std::size_t>(count_arg);
  if (start >= ring.capacity || count > ring.capacity || send_batch_ == 0) {
    char message[160];
    std::snprintf(message, sizeof message, "send(start=%zu, count=%zu) outside the ring of capacity %zu", start, count,
                  ring.capacity);
    ThrowRangeError(env, message);
    return env.Undefined();
  }

  // Validation pass: nothing is sent unless every slot is inside its arrays.
  for (std::size_t i = 0; i < count; ++i) {
    std::size_t s = start + i;
    if (s >= ring.capacity) s -= ring.capacity;
    const char* problem = nullptr;
    if (static_cast<std::uint64_t>(ring.offsets[s]) + ring.lengths[s] > ring.arena_len) {
      problem = "offsets[s] + lengths[s] exceeds the arena";
    } else if (ring.peers[s] != -1) {
      std::int32_t p = ring.peers[s];
      if (p < 0 || static_cast<std::uint64_t>(p) * kSockaddrStride + kSockaddrStride > ring.table_len) {
        problem = "peers[s] is outside the peer table";
      } else {
        sa_family_t fam;
        std::memcpy(&fam, ring.table + static_cast<std::size_t>(p) * kSockaddrStride, sizeof fam);
        if (PeerLength(family_, fam) == 0) problem = "peer table entry peers[s] has no address of the socket's family";
      }
    }
    if (problem != nullptr) {
      char message[160];
      std::snprintf(message, sizeof message, "send ring slot %zu: %s", s, problem);
      ThrowRangeError(env, message);
      return env.Undefined();
    }
  }

  double* counters = Counters(env);
  counters[kLastErrno] = 0;
  std::size_t total = 0;
  mmsghdr* msgs = send_msgs_.get();
  iovec* iov = send_iov_.get();
  while (total < count) {
    std::size_t n = count - total;
    if (n > send_batch_) n = send_batch_;
    for (std::size_t j = 0; j < n; ++j) {
      std::size_t s = start + total + j;
      if (s >= ring.capacity) s -= ring.capacity;
      iov[j].iov_base = ring.arena + ring.offsets[s];
      iov[j].iov_len = ring.lengths[s];
      msghdr& h = msgs[j].msg_hdr;
      if (ring.peers[s] == -1) {
        h.msg_name = nullptr;
        h.msg_namelen = 0;
      } else {
        std::uint8_t* entry = ring.table + static_cast<std::size_t>(ring.peers[s]) * kSockaddrStride;
        sa_family_t fam;
        std::memcpy(&fam, entry, sizeof fam);
        h.msg_name = entry;
        h.msg_namelen = PeerLength(family_, fam);
      }
      h.msg_iov = &iov[j];
      h.msg_iovlen = 1;
      h.msg_control = nullptr;
      h.msg_controllen = 0;
      h.msg_flags = 0;
      msgs[j].msg_len = 0;
    }
    int r = sendmmsg(fd_, msgs, static_cast<unsigned int>(n), 0);
    counters[kSendSyscalls] += 1;
    if (r < 0) {
      int err = errno;
      if (err == EINTR) continue;
      counters[kLastErrno] = err;
      if (err == EAGAIN || err == EWOULDBLOCK) {
        counters[kSendEagain] += 1;
      } else if (err == ENOBUFS) {
        counters[kSendEnobufs] += 1;
      } else {
        counters[kSendErrors] += 1;
      }
      break;
    }
    if (r == 0) {
      // Not produced by Linux for n >= 1; treat as "try again when writable" rather
      // than loop.
      counters[kLastErrno] = EAGAIN;
      counters[kSendEagain] += 1;
      break;
    }
    std::size_t taken = static_cast<std::size_t>(r);
    double bytes = 0;
    for (std::size_t j = 0; j < taken; ++j) bytes += msgs[j].msg_len;
    counters[kSendDatagrams] += static_cast<double>(taken);
    counters[kSendBytes] += bytes;
    total += taken;
    if (taken < n) counters[kSendPartial] += 1;
  }
  return Napi::Number::New(env, static_cast<double>(total));
}

}  // namespace dsn
