// UDP segmentation offload (GSO, send) and generic receive offload (GRO, receive):
// the kernel's limits and the control messages, as pure functions with no N-API and no
// socket, so that a fuzzer or a unit test can drive them directly.
//
// Sources: udp(7) (UDP_SEGMENT, UDP_GRO); Linux net/ipv4/udp.c (udp_send_skb,
// udp_cmsg_send, udp_cmsg_recv), net/ipv6/udp.c (udp_v6_send_skb),
// net/ipv4/ip_output.c (__ip_append_data), net/ipv6/ip6_output.c (__ip6_append_data),
// net/ipv4/udp_offload.c (udp_gro_receive_segment), include/linux/udp.h.
//
// GSO. A sendmsg(2) whose control data holds (SOL_UDP, UDP_SEGMENT, u16 gso_size) hands
// the kernel one buffer that it cuts into datagrams of gso_size bytes, the last one
// possibly shorter, all to the message's destination, and pays the per-datagram path of
// the stack once. udp_send_skb rejects with EINVAL: gso_size + IP + UDP headers above the
// route's MTU, more than UDP_MAX_SEGMENTS segments, UDP checksums disabled
// (SO_NO_CHECK); with EIO: UDP-Lite or an IPsec (xfrm) route; a device that cannot do it
// surfaces as EIO or EINVAL too. The whole buffer is one UDP "message" for the length
// checks: with UDP_SEGMENT, __ip_append_data lets it grow to IP_MAX_MTU (65535) bytes of
// IP packet, so the payload of all segments together is at most 65535 - 20 - 8 = 65507
// bytes over IPv4 (also IPv4-mapped destinations of an AF_INET6 socket, which go through
// udp_sendmsg) and 65535 - 8 = 65527 over IPv6 (__ip6_append_data: IP6_MAX_MTU minus
// the fixed IPv6 header). A larger total fails with EMSGSIZE.
//
// GRO. With (SOL_UDP, UDP_GRO) set to 1, the kernel may deliver several datagrams of one
// flow (same source, same destination) as one buffer: all of gso_size bytes except the
// last, which may be shorter, and tells the size in a (SOL_UDP, UDP_GRO, int gso_size)
// control message. The receive GRO engine caps a buffer at UDP_GRO_CNT_MAX (64)
// segments and at about 64 KiB; on loopback a GSO message from a local sender is handed
// whole to a socket with UDP_GRO (udp_unexpected_gso), so a buffer holds up to the
// sender's UDP_MAX_SEGMENTS. Nothing here relies on either number: any gso_size >= 1 is
// split correctly.
#pragma once

#include <netinet/udp.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

namespace dsn {

// Most segments one GSO message may carry: UDP_MAX_SEGMENTS of include/linux/udp.h. It
// was 64 when UDP_SEGMENT appeared (Linux 4.18); some kernels raised it to 128. 64 is
// accepted by every kernel that has UDP_SEGMENT.
constexpr std::size_t kGsoMaxSegments = 64;
// Largest total payload of one GSO message (all segments), bytes (see above): the
// largest UDP payload over IPv4 and over IPv6, which is also what one datagram may carry
// (src/limits.ts holds the same two numbers for JS; binding.ts checks them at load).
constexpr std::size_t kGsoMaxPayloadV4 = 65535 - 20 - 8;
constexpr std::size_t kGsoMaxPayloadV6 = 65535 - 8;
// Smallest receive slot that holds any buffer UDP_GRO can deliver on loopback or from a
// 64 KiB GRO engine: the largest UDP payload.
constexpr std::size_t kGroMinSlot = kGsoMaxPayloadV6;

// Bytes of control data one GSO message needs: one cmsghdr with a u16.
constexpr std::size_t kGsoCmsgSpace = CMSG_SPACE(sizeof(std::uint16_t));
// Bytes of control data reserved per receive slot: room for the UDP_GRO int and the
// SO_RXQ_OVFL u32 (the socket enables no other control message; MSG_CTRUNC is still
// checked).
constexpr std::size_t kRecvCmsgSpace = 64;
static_assert(kRecvCmsgSpace >= CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(std::uint32_t)),
              "receive control space must hold the UDP_GRO int and the SO_RXQ_OVFL count");
// Control buffers are carved out of std::uint64_t arrays: keep every one 8-byte aligned.
static_assert(kGsoCmsgSpace % 8 == 0 && kRecvCmsgSpace % 8 == 0, "control buffers must stay cmsghdr-aligned");

// Largest total payload of one GSO message to a destination of `entry_family`
// (AF_INET or AF_INET6; `addr` points at the sockaddr, used to detect IPv4-mapped IPv6).
// A connected socket's destination (`addr` null) gets the IPv4 bound, which is safe for
// both families.
std::size_t GsoMaxPayload(const void* addr, int entry_family);

// Writes one (SOL_UDP, UDP_SEGMENT, u16 gso_size) control message into `control`
// (at least kGsoCmsgSpace bytes, suitably aligned for cmsghdr) and returns the
// msg_controllen to use.
std::size_t WriteGsoCmsg(void* control, std::uint16_t gso_size);

// Reads the gso_size of a received buffer from its control data as the kernel returned
// it (`control`, `controllen` = msg_controllen after the call). Returns the size (>= 1)
// from a well-formed (SOL_UDP, UDP_GRO) message, 0 when there is none (one datagram),
// and -1 when a UDP_GRO message is malformed (wrong length, size <= 0 or > 65535).
// Never reads outside [control, control + controllen). `control` must be aligned for
// cmsghdr (it is, when it is a buffer the kernel filled for us).
int ParseGroCmsg(const void* control, std::size_t controllen);

// Reads the socket's drop count from a received datagram's control data: the (SOL_SOCKET,
// SO_RXQ_OVFL, u32) message socket(7) attaches, once SO_RXQ_OVFL is on, to a datagram
// queued after the socket dropped some (sk_drops at the time it was queued: receive
// buffer full, ...; the kernel sends none while the count is 0). Returns true and sets
// `*drops` when there is a well-formed one; false otherwise. Same bounds as ParseGroCmsg.
bool ParseRxqOvflCmsg(const void* control, std::size_t controllen, std::uint32_t* drops);

// Datagrams in a received buffer of `length` bytes with GRO segment size `gso_size`
// (0 = not coalesced): ceil(length / gso_size), at least 1.
inline std::size_t GroSegmentCount(std::size_t length, std::size_t gso_size) {
  if (gso_size == 0 || length <= gso_size) return 1;
  return (length + gso_size - 1) / gso_size;
}

}  // namespace dsn
