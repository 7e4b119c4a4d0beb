// Module init: exports { UdpSocket, SrtpTable, RtpFanout, RtcpIntake, UIO_MAXIOV, errno, constants, interfaceName,
// interfaceIndex, guessHandle } (src/native/binding.ts, NativeBinding). N-API version 8, context-aware
// (usable from worker threads).
#include <napi.h>
#include <net/if.h>

#include <cerrno>
#include <cstdint>

#include "counters.h"
#include "recv_dispatch.h"
#include "shared_memory.h"
#include "fanout.h"
#include "ingest_route.h"
#include "sockaddr.h"
#include "args.h"
#include "rtcp_intake.h"
#include "srtp_table.h"
#include "udp_offload.h"
#include "udp_socket.h"

namespace {

Napi::Number Num(Napi::Env env, double v) { return Napi::Number::New(env, v); }

// Every number JS and native code must agree on, so that src/native/binding.ts can check
// its own against them at load instead of trusting comments to keep them in step.
Napi::Object Constants(Napi::Env env) {
  Napi::Object counters = Napi::Object::New(env);
#define DSN_COUNTER_EXPORT(enumerator, name, index) counters.Set(name, Num(env, index));
  DSN_COUNTERS(DSN_COUNTER_EXPORT)
#undef DSN_COUNTER_EXPORT
  counters.Set("COUNT", Num(env, dsn::kCounterCount));
  Napi::Object bind = Napi::Object::New(env);
  bind.Set("REUSEPORT", Num(env, dsn::kBindReusePort));
  bind.Set("IPV6ONLY", Num(env, dsn::kBindIpv6Only));
  bind.Set("REUSEADDR", Num(env, dsn::kBindReuseAddr));
  Napi::Object buffer = Napi::Object::New(env);
  buffer.Set("SNDBUF", Num(env, dsn::kSndBuf));
  buffer.Set("RCVBUF", Num(env, dsn::kRcvBuf));
  Napi::Object c = Napi::Object::New(env);
  c.Set("counters", counters);
  c.Set("bind", bind);
  c.Set("buffer", buffer);
  c.Set("SOCKADDR_STRIDE", Num(env, dsn::kSockaddrStride));
  c.Set("GSO_MAX_SEGMENTS", Num(env, dsn::kGsoMaxSegments));
  c.Set("MAX_PAYLOAD_V4", Num(env, dsn::kGsoMaxPayloadV4));
  c.Set("MAX_PAYLOAD_V6", Num(env, dsn::kGsoMaxPayloadV6));
  c.Set("GRO_MIN_SLOT", Num(env, dsn::kGroMinSlot));
  c.Set("fanout", dsn::FanoutConstants(env));
  c.Set("ingest", dsn::IngestConstants(env));
  c.Set("rtcpIntake", dsn::RtcpIntakeConstants(env));
  return c;
}

// interfaceName(index: number): string | undefined — if_indextoname(3): the name of the
// network interface with that index in this network namespace, or undefined when there
// is none (ENXIO). Used to print the scope of a link-local sender as dgram does
// ("fe80::2%eth0"). Throws RangeError unless 0 <= index <= 2^32-1.
Napi::Value InterfaceName(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::int64_t index = 0;
  if (!dsn::ArgInt(info, 0, "index", 0, UINT32_MAX, &index)) return env.Undefined();
  char name[IF_NAMESIZE];
  if (index == 0 || if_indextoname(static_cast<unsigned int>(index), name) == nullptr) return env.Undefined();
  return Napi::String::New(env, name);
}

// interfaceIndex(name: string): number — if_nametoindex(3): the index of the interface
// called `name` in this network namespace, 0 when there is none (or the name is longer
// than IF_NAMESIZE - 1). Used to validate the scope of an IPv6 literal ("%eth0") before
// anything is bound or sent. Throws TypeError for a non-string.
Napi::Value InterfaceIndex(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  char name[IF_NAMESIZE];
  bool fits = false;
  if (!dsn::ArgString(info, 0, "name", name, sizeof name, &fits)) return env.Undefined();
  if (!fits || name[0] == '\0') return Napi::Number::New(env, 0);
  return Napi::Number::New(env, static_cast<double>(if_nametoindex(name)));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("UdpSocket", dsn::UdpSocket::Define(env));
  exports.Set("SrtpTable", dsn::DefineSrtpTable(env));  // SRTP/SRTCP contexts (addon/srtp_table.h)
  exports.Set("RtpFanout", dsn::DefineRtpFanout(env));  // the relay's native RTP fan-out (addon/fanout.h)
  exports.Set("RtcpIntake", dsn::DefineRtcpIntake(env));  // viewers' receiver reports taken natively (addon/rtcp_intake.h)
  exports.Set("UIO_MAXIOV", Napi::Number::New(env, static_cast<double>(dsn::kUioMaxIov)));
  exports.Set("interfaceName", Napi::Function::New(env, InterfaceName, "interfaceName"));
  exports.Set("interfaceIndex", Napi::Function::New(env, InterfaceIndex, "interfaceIndex"));
  exports.Set("setRecvDispatcher", Napi::Function::New(env, dsn::RecvDispatcher::SetDispatcher, "setRecvDispatcher"));  // recv_dispatch.h
  exports.Set("allocShared", Napi::Function::New(env, dsn::AllocShared, "allocShared"));  // shared_memory.h
  exports.Set("guessHandle", Napi::Function::New(env, dsn::GuessHandle, "guessHandle"));  // inherited_fd.cc

  // errno values the TypeScript side needs, by name (positive, as in counters[LAST_ERRNO]
  // and onRecvError; thrown errors carry the negative value in `errno`, as Node does).
  struct Entry {
    const char* name;
    int value;
  };
  static const Entry kErrno[] = {
      {"EACCES", EACCES},           {"EADDRINUSE", EADDRINUSE},     {"EADDRNOTAVAIL", EADDRNOTAVAIL},
      {"EAFNOSUPPORT", EAFNOSUPPORT}, {"EAGAIN", EAGAIN},           {"EBADF", EBADF},
      {"ECONNREFUSED", ECONNREFUSED}, {"ECONNRESET", ECONNRESET},   {"EDESTADDRREQ", EDESTADDRREQ},
      {"EFAULT", EFAULT},           {"EHOSTDOWN", EHOSTDOWN},       {"EHOSTUNREACH", EHOSTUNREACH},
      {"EINTR", EINTR},             {"EINVAL", EINVAL},             {"EIO", EIO},
      {"EISCONN", EISCONN},         {"EMSGSIZE", EMSGSIZE},         {"ENETDOWN", ENETDOWN},
      {"ENETUNREACH", ENETUNREACH}, {"ENOBUFS", ENOBUFS},           {"ENODEV", ENODEV},
      {"ENOMEM", ENOMEM},           {"ENOTCONN", ENOTCONN},         {"ENOTSOCK", ENOTSOCK},
      {"ENXIO", ENXIO},             {"EOPNOTSUPP", EOPNOTSUPP},     {"EPERM", EPERM},
      {"EPIPE", EPIPE},             {"ETIMEDOUT", ETIMEDOUT},       {"EWOULDBLOCK", EWOULDBLOCK},
  };
  Napi::Object table = Napi::Object::New(env);
  for (const Entry& e : kErrno) table.Set(e.name, Napi::Number::New(env, e.value));
  exports.Set("errno", table);
  exports.Set("constants", Constants(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(dgram_sendmmsg_native, Init)
