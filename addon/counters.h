// Indices into the Float64Array counters block shared with JS.
// Mirrors `C` in src/native/binding.ts exactly: native code writes, JS reads without a call.
// Float64 holds integers exactly up to 2^53, which no counter reaches.
#pragma once

#include <cstddef>

namespace dsn {

enum Counter : std::size_t {
  kSendSyscalls = 0,         // sendmmsg(2) calls made, including failed ones
  kSendDatagrams = 1,        // datagrams the kernel accepted
  kSendBytes = 2,            // payload bytes the kernel accepted
  kSendPartial = 3,          // sendmmsg calls that took fewer datagrams than offered (but > 0)
  kSendEagain = 4,           // sendmmsg calls that failed with EAGAIN/EWOULDBLOCK
  kSendEnobufs = 5,          // sendmmsg calls that failed with ENOBUFS
  kSendErrors = 6,           // sendmmsg calls that failed with any other errno (EINTR is retried)
  kWritableWaits = 7,        // times writable readiness was armed
  kRecvSyscalls = 8,         // recvmmsg(2) calls made, including failed ones
  kRecvDatagrams = 9,        // datagrams received (truncated ones included)
  kRecvBytes = 10,           // payload bytes received (copied into the slots)
  kRecvTruncated = 11,       // datagrams longer than a receive slot (MSG_TRUNC)
  kRecvWakeups = 12,         // readable wake-ups from libuv
  kRecvErrors = 13,          // recvmmsg calls that failed with an errno other than EAGAIN/EINTR
  kRecvBudgetExhausted = 14, // wake-ups that stopped because the per-wake budget was spent
  kLastErrno = 15,           // output of send(): errno of the first datagram not taken, else 0
  kRecvBatches = 16,         // receive batches delivered to JS (one onRecv call each)
  kGsoMessages = 17,         // UDP_SEGMENT messages the kernel accepted (each carries >= 2 datagrams)
  kGsoSegments = 18,         // datagrams sent inside those messages (also counted in kSendDatagrams)
  kGsoFallbacks = 19,        // times GSO was turned off for the socket after EIO/EINVAL on a GSO message
  kGroBuffers = 20,          // received buffers that held several datagrams coalesced by UDP_GRO
  kGroDatagrams = 21,        // datagrams in those buffers (also counted in kRecvDatagrams)
  kGsoActive = 22,           // 1 while GSO is in use on sends, else 0 (written by setGso and fallback)
  kGroActive = 23,           // 1 while UDP_GRO is enabled on the socket, else 0 (written by setGro)
  kGsoResends = 24,          // GSO runs resent as plain datagrams after a per-datagram errno
  kCounterCount = 32,        // length the JS side allocates (room to grow)
};

}  // namespace dsn
