// bind({ fd }): an inherited socket (passed by a parent process, a systemd-style
// launcher, or created by node:dgram elsewhere) taken over by a UdpSocket.
//
// guessHandle(fd) classifies the fd as libuv's uv_guess_handle(3) does for node:dgram
// (lib/dgram.js: guessHandleType(fd) !== 'UDP' → ERR_INVALID_FD_TYPE), except that a
// SOCK_DGRAM socket of another protocol (an ICMP "ping" socket, UDP-Lite) is not 'UDP'.
// adopt(fd) then replaces the socket's own fd and watcher by it.
//
// Ownership, as node:dgram (libuv's uv_udp_open): once adopt() succeeded the fd belongs
// to the socket, which makes it non-blocking (O_NONBLOCK is on the open file description,
// so a process sharing it sees that too) and close(2)s it on close(). A failed adopt()
// leaves the fd untouched and open: it is not ours.
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "counters.h"
#include "errors.h"
#include "udp_offload.h"
#include "udp_socket.h"

namespace dsn {

namespace {
struct FdKind {
  const char* name;  // as Node's guessHandleType: UDP, TCP, PIPE, FILE, TTY, UNKNOWN
  int family;        // AF_INET/AF_INET6 for sockets of those families, else 0
};

FdKind Classify(int fd) {
  if (fd < 0) return {"UNKNOWN", 0};
  if (isatty(fd)) return {"TTY", 0};
  struct stat st;
  if (fstat(fd, &st) != 0) return {"UNKNOWN", 0};  // EBADF: not open
  if (S_ISREG(st.st_mode) || S_ISCHR(st.st_mode)) return {"FILE", 0};
  if (S_ISFIFO(st.st_mode)) return {"PIPE", 0};
  if (!S_ISSOCK(st.st_mode)) return {"UNKNOWN", 0};
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {"UNKNOWN", 0};
  int type = 0;
  socklen_t tlen = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0) return {"UNKNOWN", 0};
  const bool inet = ss.ss_family == AF_INET || ss.ss_family == AF_INET6;
  if (type == SOCK_DGRAM && inet) {
    int protocol = 0;
    socklen_t plen = sizeof protocol;
    if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &plen) != 0 || protocol != IPPROTO_UDP) return {"UNKNOWN", 0};
    return {"UDP", ss.ss_family};
  }
  if (type == SOCK_STREAM) {
    if (inet) return {"TCP", 0};
    if (ss.ss_family == AF_UNIX) return {"PIPE", 0};
  }
  return {"UNKNOWN", 0};
}
}  // namespace

// guessHandle(fd: number): [type: string, family: 0 | 4 | 6] — what kind of fd `fd` is:
// 'UDP' (an AF_INET/AF_INET6 SOCK_DGRAM socket of protocol UDP; family 4 or 6), 'TCP',
// 'PIPE' (FIFO or AF_UNIX stream socket), 'FILE' (regular file or character device), 'TTY'
// or 'UNKNOWN' (not open, or anything else; family 0). Uses fstat(2), isatty(3),
// getsockname(2), getsockopt(2) SO_TYPE/SO_PROTOCOL; never changes the fd. Throws
// RangeError unless 0 <= fd <= 2^31-1.
Napi::Value GuessHandle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::int64_t fd = 0;
  if (!ArgInt(info, 0, "fd", 0, INT32_MAX, &fd)) return env.Undefined();
  FdKind kind = Classify(static_cast<int>(fd));
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::String::New(env, kind.name));
  out.Set(1u, Napi::Number::New(env, kind.family == AF_INET ? 4 : kind.family == AF_INET6 ? 6 : 0));
  return out;
}

// adopt(fd: number): void — takes over `fd` (a UDP socket of this socket's family, bound
// or not) in place of the socket's own fd: a new watcher is made for it (uv_poll_init also
// makes it non-blocking), then the old watcher and fd are closed. GSO is probed afresh
// and off, GRO off, receiving stopped and any writable wait cancelled: the caller sets
// them up again as after bind() (setGso/setGro/startRecv). The ref state (ref()) carries
// over. Errors, thrown with the fd untouched and still open (it is not ours then):
// EINVAL (syscall 'open') when guessHandle(fd) is not ['UDP', this family]; EEXIST when
// this event loop already watches the fd (e.g. a live node:dgram socket of this process
// owns it: one libuv watcher per fd); other uv_poll_init errnos (ENOMEM, EBADF…).
// ERR_SOCKET_DGRAM_NOT_RUNNING after close().
Napi::Value UdpSocket::Adopt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  std::int64_t value = 0;
  if (!ArgInt(info, 0, "fd", 0, INT32_MAX, &value)) return env.Undefined();
  const int fd = static_cast<int>(value);
  FdKind kind = Classify(fd);
  if (kind.family != family_ || fd == fd_) {
    ThrowErrno(env, EINVAL, "open");
    return env.Undefined();
  }
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    Napi::Error::New(env, "no libuv event loop").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  PollBlock* block = nullptr;
  uv_poll_t* handle = nullptr;
  int err = NewPoll(env, loop, fd, &block, &handle);
  if (err != 0) {
    ThrowErrno(env, err, "open");
    return env.Undefined();
  }
  // Committed: from here on the fd is ours.
  receiving_ = false;
  writable_armed_ = false;
  CloseWatcher();
  ::close(fd_);
  fd_ = fd;
  watcher_ = block;
  poll_ = handle;
  poll_events_ = 0;
  ApplyRef();
  // The same per-socket set-up as at creation (see the constructor): GSO probe, SO_RXQ_OVFL.
  {
    int zero = 0;
    gso_supported_ = setsockopt(fd_, SOL_UDP, UDP_SEGMENT, &zero, sizeof zero) == 0;
    int one = 1;
    static_cast<void>(setsockopt(fd_, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one));
  }
  gso_on_ = false;
  // The previous owner may have left UDP_GRO on: coalesced buffers must never reach a ring
  // that was not set up for them (the caller turns it on again with setGro(true)).
  {
    int zero = 0;
    static_cast<void>(setsockopt(fd_, SOL_UDP, UDP_GRO, &zero, sizeof zero));  // ENOPROTOOPT: no GRO
  }
  gro_on_ = false;
  // Drops the socket had before it was ours are not this socket's to report: start from its
  // current sk_drops (socket(7) SO_MEMINFO, SK_MEMINFO_DROPS; 0 where unavailable).
  rxq_drops_seen_ = 0;
  {
    std::uint32_t meminfo[SK_MEMINFO_VARS] = {};
    socklen_t mlen = sizeof meminfo;
    if (getsockopt(fd_, SOL_SOCKET, SO_MEMINFO, meminfo, &mlen) == 0 && mlen > SK_MEMINFO_DROPS * sizeof(std::uint32_t)) {
      rxq_drops_seen_ = meminfo[SK_MEMINFO_DROPS];
    }
  }
  double* counters = Counters(env);
  counters[kGsoActive] = 0;
  counters[kGroActive] = 0;
  return env.Undefined();
}

}  // namespace dsn
