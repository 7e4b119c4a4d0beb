// IP literal <-> sockaddr conversions (no DNS, no allocation).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>

namespace dsn {

// Bytes of one peer-table / receive-address entry (SOCKADDR_STRIDE in binding.ts).
// Holds a sockaddr_in (16 bytes) or a sockaddr_in6 (28 bytes).
constexpr std::size_t kSockaddrStride = 32;
static_assert(sizeof(sockaddr_in6) <= kSockaddrStride, "sockaddr_in6 must fit a table entry");
// The last byte of a peer-table entry is past any sockaddr: per-peer flags the send path
// keeps there. encodePeer zero-fills the entry, so a reused peer id starts with none.
constexpr std::size_t kPeerFlagsOffset = kSockaddrStride - 1;
static_assert(sizeof(sockaddr_in6) <= kPeerFlagsOffset, "the flags byte must not overlap the sockaddr");
// GSO is off for this peer: a GSO message to it failed with EMSGSIZE (a path whose MTU is
// below the segment size), its datagrams go as plain messages from then on.
constexpr std::uint8_t kPeerNoGso = 1;

// Longest IP literal accepted, including a "%scope" suffix and the NUL.
constexpr std::size_t kMaxIpLiteral = 128;
// Longest formatted address: INET6_ADDRSTRLEN + '%' + IF_NAMESIZE.
constexpr std::size_t kMaxIpText = 80;

// Encodes `ip`:`port` as the address a socket of `family` (AF_INET or AF_INET6) uses:
//  - AF_INET:  dotted quad only (inet_pton(3)), -> sockaddr_in.
//  - AF_INET6: an IPv6 literal with an optional "%ifname" or "%index" scope suffix
//    (if_nametoindex(3)); or a dotted quad, which becomes the IPv4-mapped ::ffff:a.b.c.d
//    (ipv6(7)), so one dual-stack socket reaches IPv4 peers -> sockaddr_in6.
// Writes the address to `out` (zero-filled first) and its length to `len`.
// Returns 0, or EINVAL when `ip` is not a literal of that family (or names an unknown
// interface).
int EncodeSockaddr(int family, const char* ip, std::uint16_t port, sockaddr_storage* out, socklen_t* len);

// Formats an AF_INET/AF_INET6 address as Node does: inet_ntop(3) text (an IPv4-mapped
// address stays "::ffff:a.b.c.d"), plus "%ifname" for a link-local address with a scope
// id. Returns false for another family or a too-short `len`.
bool FormatSockaddr(const sockaddr_storage& addr, socklen_t len, char (&ip)[kMaxIpText], int* port);

}  // namespace dsn
