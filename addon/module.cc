// Module init: exports { UdpSocket, SrtpTable, UIO_MAXIOV, errno } (src/native/binding.ts,
// NativeBinding). N-API version 8, context-aware (usable from worker threads).
#include <napi.h>

#include <cerrno>

#include "srtp_table.h"
#include "udp_socket.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("UdpSocket", dsn::UdpSocket::Define(env));
  exports.Set("SrtpTable", dsn::DefineSrtpTable(env));  // SRTP/SRTCP contexts (addon/srtp_table.h)
  exports.Set("UIO_MAXIOV", Napi::Number::New(env, static_cast<double>(dsn::kUioMaxIov)));

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
  return exports;
}

}  // namespace

NODE_API_MODULE(dgram_sendmmsg_native, Init)
