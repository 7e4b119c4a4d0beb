// See sockaddr.h. Address formats: ip(7), ipv6(7); inet_pton(3), inet_ntop(3),
// if_nametoindex(3).
#include "sockaddr.h"

#include <arpa/inet.h>
#include <net/if.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace dsn {

namespace {

// Scope id from "eth0" or "3". Returns false when neither an interface nor a number.
bool ParseScope(const char* scope, std::uint32_t* out) {
  if (*scope == '\0') return false;
  bool numeric = true;
  for (const char* p = scope; *p != '\0'; ++p) {
    if (*p < '0' || *p > '9') {
      numeric = false;
      break;
    }
  }
  if (numeric) {
    if (std::strlen(scope) > 10) return false;
    unsigned long long v = std::strtoull(scope, nullptr, 10);
    if (v > UINT32_MAX) return false;
    *out = static_cast<std::uint32_t>(v);
    return true;
  }
  unsigned int index = if_nametoindex(scope);  // 0: no such interface
  if (index == 0) return false;
  *out = index;
  return true;
}

}  // namespace

int EncodeSockaddr(int family, const char* ip, std::uint16_t port, sockaddr_storage* out, socklen_t* len) {
  std::memset(out, 0, sizeof *out);
  if (family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(out);
    if (inet_pton(AF_INET, ip, &sin->sin_addr) != 1) return EINVAL;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    *len = sizeof(sockaddr_in);
    return 0;
  }
  if (family != AF_INET6) return EINVAL;

  auto* sin6 = reinterpret_cast<sockaddr_in6*>(out);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  *len = sizeof(sockaddr_in6);

  char addr[kMaxIpLiteral];
  const char* percent = std::strchr(ip, '%');
  std::size_t addr_len = percent != nullptr ? static_cast<std::size_t>(percent - ip) : std::strlen(ip);
  if (addr_len >= sizeof addr) return EINVAL;
  std::memcpy(addr, ip, addr_len);
  addr[addr_len] = '\0';

  if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
    if (percent != nullptr && !ParseScope(percent + 1, &sin6->sin6_scope_id)) return EINVAL;
    return 0;
  }
  // IPv4 literal on an IPv6 socket: IPv4-mapped address ::ffff:a.b.c.d (no scope).
  in_addr v4;
  if (percent == nullptr && inet_pton(AF_INET, addr, &v4) == 1) {
    sin6->sin6_addr.s6_addr[10] = 0xff;
    sin6->sin6_addr.s6_addr[11] = 0xff;
    std::memcpy(&sin6->sin6_addr.s6_addr[12], &v4, sizeof v4);
    return 0;
  }
  return EINVAL;
}

bool FormatSockaddr(const sockaddr_storage& addr, socklen_t len, char (&ip)[kMaxIpText], int* port) {
  if (addr.ss_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&addr);
    if (inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof ip) == nullptr) return false;
    *port = ntohs(sin->sin_port);
    return true;
  }
  if (addr.ss_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    if (inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof ip) == nullptr) return false;
    // As Node's AddressToJS: a link-local address carries its interface.
    if (IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr) && sin6->sin6_scope_id != 0) {
      std::size_t n = std::strlen(ip);
      char name[IF_NAMESIZE];
      if (if_indextoname(sin6->sin6_scope_id, name) != nullptr) {
        std::snprintf(ip + n, sizeof ip - n, "%%%s", name);
      } else {
        std::snprintf(ip + n, sizeof ip - n, "%%%u", sin6->sin6_scope_id);
      }
    }
    *port = ntohs(sin6->sin6_port);
    return true;
  }
  return false;
}

}  // namespace dsn
