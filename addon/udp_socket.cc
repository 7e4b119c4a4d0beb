// UdpSocket lifecycle: creation, bind, connect, addresses, buffer sizes, close.
// Man pages: socket(2), bind(2), connect(2), getsockname(2), getpeername(2), socket(7)
// (SO_SNDBUF, SO_RCVBUF, SO_REUSEPORT), ipv6(7) (IPV6_V6ONLY), udp(7).
#include "udp_socket.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "errors.h"
#include "sockaddr.h"
#include "udp_offload.h"

namespace dsn {

Napi::Function UdpSocket::Define(Napi::Env env) {
  return DefineClass(env, "UdpSocket",
                     {
                         InstanceMethod<&UdpSocket::CountersView>("counters"),
                         InstanceMethod<&UdpSocket::Bind>("bind"),
                         InstanceMethod<&UdpSocket::Adopt>("adopt"),
                         InstanceMethod<&UdpSocket::Connect>("connect"),
                         InstanceMethod<&UdpSocket::Disconnect>("disconnect"),
                         InstanceMethod<&UdpSocket::LocalAddress>("localAddress"),
                         InstanceMethod<&UdpSocket::RemoteAddress>("remoteAddress"),
                         InstanceMethod<&UdpSocket::SetBufferSize>("setBufferSize"),
                         InstanceMethod<&UdpSocket::GetBufferSize>("getBufferSize"),
                         InstanceMethod<&UdpSocket::EncodePeer>("encodePeer"),
                         InstanceMethod<&UdpSocket::SetSendRing>("setSendRing"),
                         InstanceMethod<&UdpSocket::Send>("send"),
                         InstanceMethod<&UdpSocket::SetGso>("setGso"),
                         InstanceMethod<&UdpSocket::DebugInjectSendErrno>("debugInjectSendErrno"),
                         InstanceMethod<&UdpSocket::SetGro>("setGro"),
                         InstanceMethod<&UdpSocket::SetRecvRing>("setRecvRing"),
                         InstanceMethod<&UdpSocket::StartRecv>("startRecv"),
                         InstanceMethod<&UdpSocket::StopRecv>("stopRecv"),
                         InstanceMethod<&UdpSocket::SetRecvDispatch>("setRecvDispatch"),
                         InstanceMethod<&UdpSocket::SetIngestRoute>("setIngestRoute"),
                         InstanceMethod<&UdpSocket::SetIntake>("setIntake"),
                         InstanceMethod<&UdpSocket::AwaitWritable>("awaitWritable"),
                         InstanceMethod<&UdpSocket::RefWatcher>("ref"),
                         InstanceMethod<&UdpSocket::ArmTimer>("armTimer"),
                         InstanceMethod<&UdpSocket::DisarmTimer>("disarmTimer"),
                         InstanceMethod<&UdpSocket::TimerFd>("timerFd"),
                         InstanceMethod<&UdpSocket::Close>("close"),
                         InstanceMethod<&UdpSocket::Fd>("fd"),
                         InstanceMethod<&UdpSocket::SetBroadcast>("setBroadcast"),
                         InstanceMethod<&UdpSocket::SetTtl>("setTTL"),
                         InstanceMethod<&UdpSocket::SetMulticastTtl>("setMulticastTTL"),
                         InstanceMethod<&UdpSocket::SetMulticastLoopback>("setMulticastLoopback"),
                         InstanceMethod<&UdpSocket::SetMulticastInterface>("setMulticastInterface"),
                         InstanceMethod<&UdpSocket::SetMembership>("setMembership"),
                         InstanceMethod<&UdpSocket::SetSourceMembership>("setSourceMembership"),
                     });
}

// new UdpSocket(family: 4 | 6, counters: Float64Array(>= 32) | null, callbacks: { onRecv, onWritable, onRecvError, onTimer? })
// counters null: they live in native memory, read by JS through counters() (no lookup per
// wake-up); a Float64Array: written there, looked up at every use.
// Creates socket(AF_INET|AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) (socket(2))
// and its uv_poll_t watcher (stopped). Throws TypeError/RangeError for bad arguments, a
// system error (syscall 'socket', e.g. EMFILE, EAFNOSUPPORT without IPv6) if the socket
// cannot be created.
UdpSocket::UdpSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<UdpSocket>(info) {
  Napi::Env env = info.Env();
  std::int64_t family = 0;
  if (!ArgInt(info, 0, "family", 4, 6, &family)) return;
  if (family != 4 && family != 6) {
    ThrowRangeError(env, "The value of \"family\" is out of range. It must be 4 or 6");
    return;
  }
  // counters: null = in native memory (counters() gives JS its view), else a JS array.
  Napi::TypedArray counters;
  const bool own_counters = info[1].IsNull() || info[1].IsUndefined();
  if (!own_counters) {
    if (!ArgTypedArray(info, 1, "counters", napi_float64_array, &counters)) return;
    if (counters.ElementLength() < kCounterCount) {
      ThrowRangeError(env, "The \"counters\" Float64Array must have at least 32 elements");
      return;
    }
  }
  if (!info[2].IsObject()) {
    ThrowTypeError(env, "The \"callbacks\" argument must be of type object");
    return;
  }
  Napi::Object callbacks = info[2].As<Napi::Object>();
  Napi::FunctionReference* targets[] = {&on_recv_, &on_writable_, &on_recv_error_};
  const char* names[] = {"onRecv", "onWritable", "onRecvError"};
  for (std::size_t i = 0; i < 3; ++i) {
    Napi::Value fn = callbacks.Get(names[i]);
    if (env.IsExceptionPending()) return;  // a throwing getter
    if (!fn.IsFunction()) {
      char message[96];
      std::snprintf(message, sizeof message, "The \"callbacks.%s\" property must be of type function", names[i]);
      ThrowTypeError(env, message);
      return;
    }
    *targets[i] = Napi::Persistent(fn.As<Napi::Function>());
  }
  // Optional: the window timer's expiry (window_timer.cc); armTimer() needs it.
  {
    Napi::Value fn = callbacks.Get("onTimer");
    if (env.IsExceptionPending()) return;
    if (!fn.IsUndefined()) {
      if (!fn.IsFunction()) {
        ThrowTypeError(env, "The \"callbacks.onTimer\" property must be of type function");
        return;
      }
      on_timer_ = Napi::Persistent(fn.As<Napi::Function>());
    }
  }

  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    Napi::Error::New(env, "no libuv event loop").ThrowAsJavaScriptException();
    return;
  }

  family_ = family == 4 ? AF_INET : AF_INET6;
  fd_ = ::socket(family_, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    ThrowErrno(env, errno, "socket");
    return;
  }
  // Probe UDP GSO (udp(7) UDP_SEGMENT, Linux >= 4.18): setting the socket-wide segment
  // size to 0 (the default: no segmentation unless a message asks for it) succeeds only
  // where the option exists; ENOPROTOOPT otherwise. GSO stays off until setGso(true).
  {
    int zero = 0;
    gso_supported_ = setsockopt(fd_, SOL_UDP, UDP_SEGMENT, &zero, sizeof zero) == 0;
  }
  // Kernel receive drops (socket(7) SO_RXQ_OVFL, Linux >= 2.6.33): each datagram queued
  // after a drop carries the socket's cumulative drop count (recv.cc, RECV_KERNEL_DROPS).
  // Costs no system call on the receive path. Where it fails (no such option), the
  // counter stays 0; nothing else depends on it.
  {
    int one = 1;
    static_cast<void>(setsockopt(fd_, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one));
  }
  int err = OpenWatcher(env, loop);
  if (err != 0) {
    CloseNow();
    ThrowErrno(env, err, "uv_poll_init");
    return;
  }

  if (napi_async_init(env, info.This(), Napi::String::New(env, "UdpSendmmsgSocket"), &async_context_) != napi_ok) {
    CloseNow();
    Napi::Error::New(env, "napi_async_init failed").ThrowAsJavaScriptException();
    return;
  }
  callbacks_ = Napi::Persistent(callbacks);
  if (own_counters) {
    own_counters_ = new SharedDoubles(kCounterCount);
    Napi::Value view = own_counters_->View(env);
    if (view.IsEmpty()) {
      // A runtime without external buffers: a JS array, looked up at every use.
      own_counters_->Release();
      own_counters_ = nullptr;
      counters = Napi::Float64Array::New(env, kCounterCount);
    } else {
      counters = view.As<Napi::TypedArray>();
    }
  }
  counters_.Set(counters);
  Napi::ObjectWrap<UdpSocket>::Ref();  // alive while the fd is open
  self_ref_ = true;
}

UdpSocket::~UdpSocket() {
  // Reached without close() only at environment teardown (an open socket holds a
  // reference to itself). Close the watcher and the fd; the references are deleted by
  // their own destructors.
  CloseNow();
  if (own_counters_ != nullptr) own_counters_->Release();
  if (async_context_ != nullptr) {
    napi_async_destroy(Env(), async_context_);
    async_context_ = nullptr;
  }
}

bool UdpSocket::CheckOpen(Napi::Env env) const {
  if (closed_) {
    ThrowNotRunning(env);
    return false;
  }
  return true;
}

// counters(): Float64Array — the counters this socket writes (indices: counters.h): a view
// of native memory when the constructor was given null, else the array it was given.
// undefined once the socket released its JS references (after close()).
Napi::Value UdpSocket::CountersView(const Napi::CallbackInfo& info) {
  if (counters_.IsEmpty()) return info.Env().Undefined();
  return counters_.Value();
}

double* UdpSocket::Counters(napi_env env) {
  if (own_counters_ != nullptr) return own_counters_->data();
  ArrayView view;
  if (counters_.Get(env, &view) && view.length >= kCounterCount) return static_cast<double*>(view.data);
  return scratch_counters_;  // JS detached or shrank it: counts go nowhere, memory stays safe
}

bool UdpSocket::ArgAddress(const Napi::CallbackInfo& info, std::size_t ip_index, std::size_t port_index,
                           const char* syscall, sockaddr_storage* addr, socklen_t* len) {
  char ip[kMaxIpLiteral];
  bool fits = false;
  if (!ArgString(info, ip_index, "ip", ip, sizeof ip, &fits)) return false;
  std::int64_t port = 0;
  if (!ArgInt(info, port_index, "port", 0, 65535, &port)) return false;
  int err = fits ? EncodeSockaddr(family_, ip, static_cast<std::uint16_t>(port), addr, len) : EINVAL;
  if (err != 0) {
    ThrowErrno(info.Env(), err, syscall, fits ? ip : "(too long)", static_cast<int>(port));
    return false;
  }
  return true;
}

// bind(ip: string, port: number, flags: number): void — bind(2).
// `ip` is an IP literal of the socket's family (an IPv4 literal on a udp6 socket binds the
// IPv4-mapped address); port 0..65535 (0: the kernel picks one). flags: BIND_REUSEPORT (1)
// sets SO_REUSEPORT first (socket(7)); BIND_IPV6ONLY (2) sets IPV6_V6ONLY (ipv6(7)), udp6
// only (EINVAL on udp4, as libuv); BIND_REUSEADDR (4) sets SO_REUSEADDR (socket(7)), as
// libuv's UV_UDP_REUSEADDR does on Linux. Throws system errors like Node:
// "bind EADDRINUSE 127.0.0.1:1234" with code/errno/syscall/address/port.
Napi::Value UdpSocket::Bind(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  sockaddr_storage addr;
  socklen_t len = 0;
  if (!ArgAddress(info, 0, 1, "bind", &addr, &len)) return env.Undefined();
  std::int64_t flags = 0;
  if (!ArgInt(info, 2, "flags", 0, kBindReusePort | kBindIpv6Only | kBindReuseAddr, &flags)) return env.Undefined();
  if (flags & kBindIpv6Only) {
    if (family_ != AF_INET6) {
      ThrowErrno(env, EINVAL, "bind");
      return env.Undefined();
    }
    int one = 1;
    if (setsockopt(fd_, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) {
      ThrowErrno(env, errno, "setsockopt");
      return env.Undefined();
    }
  }
  if (flags & kBindReuseAddr) {
    int one = 1;
    if (setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
      ThrowErrno(env, errno, "setsockopt");
      return env.Undefined();
    }
  }
  if (flags & kBindReusePort) {
    int one = 1;
    if (setsockopt(fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      ThrowErrno(env, errno, "setsockopt");
      return env.Undefined();
    }
  }
  if (::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
    int err = errno;
    char ip[kMaxIpText];
    int port = 0;
    if (!FormatSockaddr(addr, len, ip, &port)) std::strcpy(ip, "?");
    ThrowErrno(env, err, "bind", ip, port);
  }
  return env.Undefined();
}

// connect(ip: string, port: number): void — connect(2) on a datagram socket: sets the
// default destination (sends may then use peer id -1) and filters received datagrams to
// that peer (udp(7)). Binds an ephemeral port if unbound. Throws system errors
// ("connect ENETUNREACH ...").
Napi::Value UdpSocket::Connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  sockaddr_storage addr;
  socklen_t len = 0;
  if (!ArgAddress(info, 0, 1, "connect", &addr, &len)) return env.Undefined();
  int r;
  do {
    r = ::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), len);
  } while (r != 0 && errno == EINTR);
  if (r != 0) {
    int err = errno;
    char ip[kMaxIpText];
    int port = 0;
    if (!FormatSockaddr(addr, len, ip, &port)) std::strcpy(ip, "?");
    ThrowErrno(env, err, "connect", ip, port);
  }
  return env.Undefined();
}

// disconnect(): void — connect(2) with AF_UNSPEC dissolves the association (udp(7)).
// Note (Linux): if the local port was chosen implicitly by connect() rather than by
// bind(), the socket also loses that port.
Napi::Value UdpSocket::Disconnect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  sockaddr_storage addr;
  std::memset(&addr, 0, sizeof addr);
  addr.ss_family = AF_UNSPEC;
  socklen_t len = family_ == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), len) != 0) ThrowErrno(env, errno, "connect");
  return env.Undefined();
}

namespace {
Napi::Value AddressPair(Napi::Env env, const sockaddr_storage& addr, socklen_t len, const char* syscall) {
  char ip[kMaxIpText];
  int port = 0;
  if (!FormatSockaddr(addr, len, ip, &port)) {
    ThrowErrno(env, EAFNOSUPPORT, syscall);
    return env.Undefined();
  }
  Napi::Array pair = Napi::Array::New(env, 2);
  pair.Set(0u, Napi::String::New(env, ip));
  pair.Set(1u, Napi::Number::New(env, port));
  return pair;
}
}  // namespace

// localAddress(): [ip, port] — getsockname(2). Before bind: the wildcard and port 0.
Napi::Value UdpSocket::LocalAddress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  sockaddr_storage addr;
  socklen_t len = sizeof addr;
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ThrowErrno(env, errno, "getsockname");
    return env.Undefined();
  }
  return AddressPair(env, addr, len, "getsockname");
}

// remoteAddress(): [ip, port] — getpeername(2). Throws ENOTCONN (syscall 'getpeername')
// when not connected.
Napi::Value UdpSocket::RemoteAddress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  sockaddr_storage addr;
  socklen_t len = sizeof addr;
  if (getpeername(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ThrowErrno(env, errno, "getpeername");
    return env.Undefined();
  }
  return AddressPair(env, addr, len, "getpeername");
}

namespace {
bool ReadBufferSize(int fd, int opt, int* out) {
  socklen_t len = sizeof *out;
  return getsockopt(fd, SOL_SOCKET, opt, out, &len) == 0;
}
}  // namespace

// setBufferSize(which: 0 (SNDBUF) | 1 (RCVBUF), bytes: 1..2^31-1 (INT32_MAX)): number — socket(7).
// Tries SO_SNDBUFFORCE/SO_RCVBUFFORCE first, which only a process with CAP_NET_ADMIN may
// use and which ignores net.core.{w,r}mem_max; on EPERM falls back to SO_SNDBUF/SO_RCVBUF
// (capped by {w,r}mem_max). Returns the size the kernel really uses, read back with
// getsockopt: Linux doubles the request for bookkeeping overhead and enforces a minimum
// (about 4.5 KiB for SNDBUF, 2.3 KiB for RCVBUF). Throws system errors (syscall 'setsockopt').
Napi::Value UdpSocket::SetBufferSize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  std::int64_t which = 0;
  std::int64_t bytes = 0;
  if (!ArgInt(info, 0, "which", kSndBuf, kRcvBuf, &which)) return env.Undefined();
  if (!ArgInt(info, 1, "bytes", 1, INT32_MAX, &bytes)) return env.Undefined();
  int value = static_cast<int>(bytes);
  int force = which == kSndBuf ? SO_SNDBUFFORCE : SO_RCVBUFFORCE;
  int plain = which == kSndBuf ? SO_SNDBUF : SO_RCVBUF;
  if (setsockopt(fd_, SOL_SOCKET, force, &value, sizeof value) != 0) {
    if (errno != EPERM || setsockopt(fd_, SOL_SOCKET, plain, &value, sizeof value) != 0) {
      ThrowErrno(env, errno, "setsockopt");
      return env.Undefined();
    }
  }
  int real = 0;
  if (!ReadBufferSize(fd_, plain, &real)) {
    ThrowErrno(env, errno, "getsockopt");
    return env.Undefined();
  }
  return Napi::Number::New(env, real);
}

// getBufferSize(which: 0 (SNDBUF) | 1 (RCVBUF)): number — getsockopt(2) SO_SNDBUF /
// SO_RCVBUF, in bytes, as the kernel reports it (the doubled value, see setBufferSize).
Napi::Value UdpSocket::GetBufferSize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  std::int64_t which = 0;
  if (!ArgInt(info, 0, "which", kSndBuf, kRcvBuf, &which)) return env.Undefined();
  int real = 0;
  if (!ReadBufferSize(fd_, which == kSndBuf ? SO_SNDBUF : SO_RCVBUF, &real)) {
    ThrowErrno(env, errno, "getsockopt");
    return env.Undefined();
  }
  return Napi::Number::New(env, real);
}

// encodePeer(ip: string, port: number, table: Uint8Array, offset: number): void
// Writes the 32-byte entry at byte `offset` (a multiple of 32, offset + 32 <= table
// length, else RangeError) of a peer table: a sockaddr_in (AF_INET socket) or
// sockaddr_in6 (AF_INET6 socket; IPv4 literals become ::ffff:a.b.c.d; "%ifname"/"%index"
// scope), zero padded. Throws EINVAL (code 'EINVAL', syscall 'inet_pton') for anything
// that is not an IP literal of the socket's family. Works after close() too (no fd use).
Napi::Value UdpSocket::EncodePeer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sockaddr_storage addr;
  socklen_t len = 0;
  if (!ArgAddress(info, 0, 1, "inet_pton", &addr, &len)) return env.Undefined();
  Napi::TypedArray table;
  if (!ArgTypedArray(info, 2, "table", napi_uint8_array, &table)) return env.Undefined();
  std::int64_t offset = 0;
  if (!ArgInt(info, 3, "offset", 0, INT64_C(1) << 52, &offset)) return env.Undefined();
  std::size_t length = table.ElementLength();
  if (offset % kSockaddrStride != 0 || static_cast<std::uint64_t>(offset) + kSockaddrStride > length) {
    ThrowRangeError(env, "The value of \"offset\" is out of range: it must be a multiple of 32 and offset + 32 <= table.length");
    return env.Undefined();
  }
  auto* entry = static_cast<std::uint8_t*>(table.As<Napi::Uint8Array>().Data()) + offset;
  std::memset(entry, 0, kSockaddrStride);
  std::memcpy(entry, &addr, len);
  return env.Undefined();
}

void UdpSocket::CloseNow() {
  closed_ = true;
  if (dispatcher_ != nullptr) dispatcher_->Remove(this);  // a batch read but not delivered: nothing after close()
  ingest_fanout_ = 0;
  ingest_state_.Reset();
  receiving_ = false;
  writable_armed_ = false;
  // uv_close stops the watcher (and removes the fd from epoll) before the fd is closed.
  CloseWatcher();
  CloseTimer();
  if (fd_ >= 0) {
    ::close(fd_);  // Linux releases the fd even when close(2) reports EINTR: never retry
    fd_ = -1;
  }
}

void UdpSocket::ReleaseJs() {
  release_pending_ = false;
  on_recv_.Reset();
  on_writable_.Reset();
  on_recv_error_.Reset();
  on_timer_.Reset();
  callbacks_.Reset();
  send_ring_.Reset();
  recv_ring_.Reset();
  ingest_state_.Reset();
  intake_ = nullptr;
  intake_ref_.Reset();
  counters_.Reset();
  if (async_context_ != nullptr) {
    napi_async_destroy(Env(), async_context_);
    async_context_ = nullptr;
  }
  if (self_ref_) {
    self_ref_ = false;
    Napi::ObjectWrap<UdpSocket>::Unref();  // may now be collected
  }
}

// close(): void — stops the watcher, close(2)s the fd, drops the registered rings and
// callbacks. Idempotent. No callback runs afterwards, even when called from inside one.
Napi::Value UdpSocket::Close(const Napi::CallbackInfo& info) {
  CloseNow();
  if (callback_depth_ > 0) {
    release_pending_ = true;
  } else if (self_ref_ || async_context_ != nullptr || !callbacks_.IsEmpty()) {
    ReleaseJs();
  }
  return info.Env().Undefined();
}

// fd(): number — the socket's file descriptor, or -1 after close().
Napi::Value UdpSocket::Fd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }

}  // namespace dsn
