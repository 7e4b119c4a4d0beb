// Indices into the Float64Array counters block shared with JS (native writes, JS reads
// without a call). The addon exports the list as `constants.counters` (module.cc) and
// src/native/binding.ts checks its `C` against it at load; what each counter means is
// documented there. Float64 holds integers exactly up to 2^53, which no counter reaches.
#pragma once

#include <cstddef>

namespace dsn {

// X(enumerator, name in JS, index): the one list of counters.
#define DSN_COUNTERS(X) \
  X(kSendSyscalls, "SEND_SYSCALLS", 0)                 \
  X(kSendDatagrams, "SEND_DATAGRAMS", 1)               \
  X(kSendBytes, "SEND_BYTES", 2)                       \
  X(kSendPartial, "SEND_PARTIAL", 3)                   \
  X(kSendEagain, "SEND_EAGAIN", 4)                     \
  X(kSendEnobufs, "SEND_ENOBUFS", 5)                   \
  X(kSendErrors, "SEND_ERRORS", 6)                     \
  X(kWritableWaits, "WRITABLE_WAITS", 7)               \
  X(kRecvSyscalls, "RECV_SYSCALLS", 8)                 \
  X(kRecvDatagrams, "RECV_DATAGRAMS", 9)               \
  X(kRecvBytes, "RECV_BYTES", 10)                      \
  X(kRecvTruncated, "RECV_TRUNCATED", 11)              \
  X(kRecvWakeups, "RECV_WAKEUPS", 12)                  \
  X(kRecvErrors, "RECV_ERRORS", 13)                    \
  X(kRecvBudgetExhausted, "RECV_BUDGET_EXHAUSTED", 14) \
  X(kLastErrno, "LAST_ERRNO", 15)                      \
  X(kRecvBatches, "RECV_BATCHES", 16)                  \
  X(kGsoMessages, "GSO_MESSAGES", 17)                  \
  X(kGsoSegments, "GSO_SEGMENTS", 18)                  \
  X(kGsoFallbacks, "GSO_FALLBACKS", 19)                \
  X(kGroBuffers, "GRO_BUFFERS", 20)                    \
  X(kGroDatagrams, "GRO_DATAGRAMS", 21)                \
  X(kGsoActive, "GSO_ACTIVE", 22)                      \
  X(kGroActive, "GRO_ACTIVE", 23)                      \
  X(kGsoResends, "GSO_RESENDS", 24)                   \
  X(kGsoPeerFallbacks, "GSO_PEER_FALLBACKS", 25)      \
  X(kRecvKernelDrops, "RECV_KERNEL_DROPS", 26)       \
  X(kTimerArms, "TIMER_ARMS", 27)                     \
  X(kTimerWakeups, "TIMER_WAKEUPS", 28)               \
  X(kTimerFires, "TIMER_FIRES", 29)                   \
  X(kRecvTaken, "RECV_TAKEN", 30)

enum Counter : std::size_t {
#define DSN_COUNTER_ENUM(enumerator, name, index) enumerator = index,
  DSN_COUNTERS(DSN_COUNTER_ENUM)
#undef DSN_COUNTER_ENUM
  kCounterCount = 32,  // length the JS side allocates (room to grow)
};

}  // namespace dsn
