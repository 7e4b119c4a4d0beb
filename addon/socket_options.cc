// UdpSocket options of dgram's Socket API: broadcast, unicast TTL / hop limit, multicast TTL,
// loopback, interface, group membership (any-source and source-specific). Semantics follow
// libuv's uv_udp_set_* (what node:dgram calls): the same ranges, the same address forms, and
// errors thrown as Node does ("addMembership EADDRINUSE", code/errno/syscall = the dgram
// method's name). Man pages: ip(7) (IP_TTL, IP_MULTICAST_TTL/LOOP/IF, IP_ADD/DROP_MEMBERSHIP,
// IP_ADD/DROP_SOURCE_MEMBERSHIP), ipv6(7) (IPV6_UNICAST_HOPS, IPV6_MULTICAST_HOPS/LOOP/IF,
// IPV6_ADD/DROP_MEMBERSHIP), socket(7) (SO_BROADCAST), RFC 3678 (MCAST_JOIN/LEAVE_SOURCE_GROUP).
//
// Argument types are checked by the TypeScript side (src/socket/native-socket.ts) before any
// of these is called; here they are checked again (TypeError/RangeError) and every address
// is parsed without DNS.
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "errors.h"
#include "udp_socket.h"

namespace dsn {

namespace {

// An IP literal argument: IPv4 (dotted quad) or IPv6 with an optional "%ifname"/"%index"
// scope. Returns false (EINVAL) for anything else.
struct IpArg {
  int family = 0;  // AF_INET or AF_INET6
  in_addr v4{};
  in6_addr v6{};
  unsigned int scope = 0;  // interface index from "%scope" (IPv6), 0 when absent
};

// `lenient_scope`: an unknown interface name gives scope 0 (the default interface) instead of
// failing, as libuv's uv_ip6_addr does for setMulticastInterface.
bool ParseIp(const char* text, IpArg* out, bool lenient_scope = false) {
  if (inet_pton(AF_INET, text, &out->v4) == 1) {
    out->family = AF_INET;
    return true;
  }
  char addr[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  const char* percent = std::strchr(text, '%');
  std::size_t len = percent != nullptr ? static_cast<std::size_t>(percent - text) : std::strlen(text);
  if (len >= sizeof addr) return false;
  std::memcpy(addr, text, len);
  addr[len] = '\0';
  if (inet_pton(AF_INET6, addr, &out->v6) != 1) return false;
  out->family = AF_INET6;
  if (percent != nullptr) {
    const char* scope = percent + 1;
    char* end = nullptr;
    unsigned long index = std::strtoul(scope, &end, 10);
    if (*scope != '\0' && end != nullptr && *end == '\0' && index > 0 && index <= UINT32_MAX) {
      out->scope = static_cast<unsigned int>(index);
    } else {
      out->scope = if_nametoindex(scope);
      if (out->scope == 0 && !lenient_scope) return false;
    }
  }
  return true;
}

// Reads string argument i as an IP literal; undefined/null (when `optional`) leaves `present`
// false. Returns false with a pending exception (TypeError, or EINVAL named `syscall`).
bool ArgIp(const Napi::CallbackInfo& info, std::size_t i, const char* name, const char* syscall, bool optional,
           IpArg* out, bool* present, bool lenient_scope = false) {
  *present = false;
  if (optional && (info[i].IsUndefined() || info[i].IsNull())) return true;
  char text[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  bool fits = false;
  if (!ArgString(info, i, name, text, sizeof text, &fits)) return false;
  if (!fits || !ParseIp(text, out, lenient_scope)) {
    ThrowErrno(info.Env(), EINVAL, syscall);
    return false;
  }
  *present = true;
  return true;
}

// setsockopt(2) or throw errno as `syscall`.
bool SetOpt(Napi::Env env, int fd, int level, int name, const void* value, socklen_t len, const char* syscall) {
  if (setsockopt(fd, level, name, value, len) != 0) {
    ThrowErrno(env, errno, syscall);
    return false;
  }
  return true;
}

}  // namespace

// setBroadcast(on: boolean): void — SO_BROADCAST (socket(7)). Throws 'setBroadcast <errno>'.
Napi::Value UdpSocket::SetBroadcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  bool on = false;
  if (!ArgBool(info, 0, "on", &on)) return env.Undefined();
  int v = on ? 1 : 0;
  SetOpt(env, fd_, SOL_SOCKET, SO_BROADCAST, &v, sizeof v, "setBroadcast");
  return env.Undefined();
}

// setTTL(ttl: 1..255): void — IP_TTL (udp4) / IPV6_UNICAST_HOPS (udp6). Outside 1..255:
// 'setTTL EINVAL', as libuv.
Napi::Value UdpSocket::SetTtl(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  std::int64_t ttl = 0;
  if (!ArgInt(info, 0, "ttl", INT32_MIN, INT32_MAX, &ttl)) return env.Undefined();
  if (ttl < 1 || ttl > 255) {
    ThrowErrno(env, EINVAL, "setTTL");
    return env.Undefined();
  }
  int v = static_cast<int>(ttl);
  if (family_ == AF_INET6) SetOpt(env, fd_, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &v, sizeof v, "setTTL");
  else SetOpt(env, fd_, IPPROTO_IP, IP_TTL, &v, sizeof v, "setTTL");
  return env.Undefined();
}

// setMulticastTTL(ttl: 0..255): void — IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS. Outside
// 0..255: 'setMulticastTTL EINVAL', as libuv.
Napi::Value UdpSocket::SetMulticastTtl(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  std::int64_t ttl = 0;
  if (!ArgInt(info, 0, "ttl", INT32_MIN, INT32_MAX, &ttl)) return env.Undefined();
  if (ttl < 0 || ttl > 255) {
    ThrowErrno(env, EINVAL, "setMulticastTTL");
    return env.Undefined();
  }
  int v = static_cast<int>(ttl);
  if (family_ == AF_INET6) SetOpt(env, fd_, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &v, sizeof v, "setMulticastTTL");
  else SetOpt(env, fd_, IPPROTO_IP, IP_MULTICAST_TTL, &v, sizeof v, "setMulticastTTL");
  return env.Undefined();
}

// setMulticastLoopback(on: boolean): void — IP_MULTICAST_LOOP / IPV6_MULTICAST_LOOP.
Napi::Value UdpSocket::SetMulticastLoopback(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  bool on = false;
  if (!ArgBool(info, 0, "on", &on)) return env.Undefined();
  int v = on ? 1 : 0;
  if (family_ == AF_INET6) SetOpt(env, fd_, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &v, sizeof v, "setMulticastLoopback");
  else SetOpt(env, fd_, IPPROTO_IP, IP_MULTICAST_LOOP, &v, sizeof v, "setMulticastLoopback");
  return env.Undefined();
}

// setMulticastInterface(address: string): void — the outgoing interface of multicast, as
// libuv's uv_udp_set_multicast_interface: an IPv4 address (udp4, or the IPv4 side of a
// dual-stack udp6 socket): IP_MULTICAST_IF ('0.0.0.0' = the default); on udp6 an IPv6
// literal: IPV6_MULTICAST_IF with the interface index of its scope ('::%eth0', '::%3'; no
// scope or an unknown name = 0, the default). Anything else: 'setMulticastInterface EINVAL'.
Napi::Value UdpSocket::SetMulticastInterface(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  IpArg ip;
  bool present = false;
  if (!ArgIp(info, 0, "interfaceAddress", "setMulticastInterface", false, &ip, &present, true)) return env.Undefined();
  if (ip.family == AF_INET) {
    SetOpt(env, fd_, IPPROTO_IP, IP_MULTICAST_IF, &ip.v4, sizeof ip.v4, "setMulticastInterface");
    return env.Undefined();
  }
  if (family_ != AF_INET6) {
    ThrowErrno(env, EINVAL, "setMulticastInterface");
    return env.Undefined();
  }
  unsigned int index = ip.scope;
  SetOpt(env, fd_, IPPROTO_IPV6, IPV6_MULTICAST_IF, &index, sizeof index, "setMulticastInterface");
  return env.Undefined();
}

// setMembership(group: string, interfaceAddress: string | undefined, join: boolean): void —
// join/leave an any-source multicast group. An IPv4 group (also on a udp6 socket):
// IP_ADD/DROP_MEMBERSHIP with the interface's IPv4 address (default INADDR_ANY: the
// kernel's choice); an IPv6 group: IPV6_ADD/DROP_MEMBERSHIP on the interface named by the
// scope of `interfaceAddress` (or of the group; default 0). Throws
// 'addMembership'/'dropMembership' errors (EINVAL for a non-multicast group, EADDRINUSE when
// already joined, EADDRNOTAVAIL when not joined, …).
Napi::Value UdpSocket::SetMembership(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  bool join = false;
  if (!ArgBool(info, 2, "join", &join)) return env.Undefined();
  const char* syscall = join ? "addMembership" : "dropMembership";
  IpArg group;
  IpArg iface;
  bool present = false;
  bool has_iface = false;
  if (!ArgIp(info, 0, "multicastAddress", syscall, false, &group, &present)) return env.Undefined();
  if (!ArgIp(info, 1, "interfaceAddress", syscall, true, &iface, &has_iface)) return env.Undefined();
  if (group.family == AF_INET) {
    if (has_iface && iface.family != AF_INET) {
      ThrowErrno(env, EINVAL, syscall);
      return env.Undefined();
    }
    ip_mreq mreq{};
    mreq.imr_multiaddr = group.v4;
    mreq.imr_interface.s_addr = has_iface ? iface.v4.s_addr : htonl(INADDR_ANY);
    SetOpt(env, fd_, IPPROTO_IP, join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, &mreq, sizeof mreq, syscall);
    return env.Undefined();
  }
  if (family_ != AF_INET6 || (has_iface && iface.family != AF_INET6)) {
    ThrowErrno(env, EINVAL, syscall);
    return env.Undefined();
  }
  ipv6_mreq mreq{};
  mreq.ipv6mr_multiaddr = group.v6;
  mreq.ipv6mr_interface = has_iface ? iface.scope : group.scope;
  SetOpt(env, fd_, IPPROTO_IPV6, join ? IPV6_ADD_MEMBERSHIP : IPV6_DROP_MEMBERSHIP, &mreq, sizeof mreq, syscall);
  return env.Undefined();
}

// setSourceMembership(source: string, group: string, interfaceAddress: string | undefined,
// join: boolean): void — source-specific multicast (RFC 4607): receive `group` only from
// `source`. IPv4: IP_ADD/DROP_SOURCE_MEMBERSHIP (ip_mreq_source); IPv6:
// MCAST_JOIN/LEAVE_SOURCE_GROUP (group_source_req, RFC 3678) on the interface named by the
// scope. Source and group must be of one family. Throws 'addSourceSpecificMembership' /
// 'dropSourceSpecificMembership' errors.
Napi::Value UdpSocket::SetSourceMembership(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  bool join = false;
  if (!ArgBool(info, 3, "join", &join)) return env.Undefined();
  const char* syscall = join ? "addSourceSpecificMembership" : "dropSourceSpecificMembership";
  IpArg source;
  IpArg group;
  IpArg iface;
  bool present = false;
  bool has_iface = false;
  if (!ArgIp(info, 0, "sourceAddress", syscall, false, &source, &present)) return env.Undefined();
  if (!ArgIp(info, 1, "groupAddress", syscall, false, &group, &present)) return env.Undefined();
  if (!ArgIp(info, 2, "interfaceAddress", syscall, true, &iface, &has_iface)) return env.Undefined();
  if (source.family != group.family || (has_iface && iface.family != group.family)) {
    ThrowErrno(env, EINVAL, syscall);
    return env.Undefined();
  }
  if (group.family == AF_INET) {
    ip_mreq_source mreq{};
    mreq.imr_multiaddr = group.v4;
    mreq.imr_sourceaddr = source.v4;
    mreq.imr_interface.s_addr = has_iface ? iface.v4.s_addr : htonl(INADDR_ANY);
    SetOpt(env, fd_, IPPROTO_IP, join ? IP_ADD_SOURCE_MEMBERSHIP : IP_DROP_SOURCE_MEMBERSHIP, &mreq, sizeof mreq,
           syscall);
    return env.Undefined();
  }
  if (family_ != AF_INET6) {
    ThrowErrno(env, EINVAL, syscall);
    return env.Undefined();
  }
  group_source_req req{};
  req.gsr_interface = has_iface ? iface.scope : group.scope;
  auto* g = reinterpret_cast<sockaddr_in6*>(&req.gsr_group);
  g->sin6_family = AF_INET6;
  g->sin6_addr = group.v6;
  auto* s = reinterpret_cast<sockaddr_in6*>(&req.gsr_source);
  s->sin6_family = AF_INET6;
  s->sin6_addr = source.v6;
  SetOpt(env, fd_, IPPROTO_IPV6, join ? MCAST_JOIN_SOURCE_GROUP : MCAST_LEAVE_SOURCE_GROUP, &req, sizeof req, syscall);
  return env.Undefined();
}

}  // namespace dsn
