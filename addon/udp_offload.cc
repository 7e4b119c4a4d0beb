// See udp_offload.h. Pure functions: no N-API, no system calls.
#include "udp_offload.h"

#include <netinet/in.h>

#include <cstring>

namespace dsn {

namespace {
// Offset of the data of a control message from its header: CMSG_DATA - cmsghdr.
constexpr std::size_t kCmsgDataOffset = CMSG_LEN(0);
}  // namespace

std::size_t GsoMaxPayload(const void* addr, int entry_family) {
  if (addr == nullptr || entry_family != AF_INET6) return kGsoMaxPayloadV4;
  sockaddr_in6 sin6;
  std::memcpy(&sin6, addr, sizeof sin6);
  // An IPv4-mapped destination leaves through udp_sendmsg (IPv4 limits).
  if (IN6_IS_ADDR_V4MAPPED(&sin6.sin6_addr)) return kGsoMaxPayloadV4;
  return kGsoMaxPayloadV6;
}

std::size_t WriteGsoCmsg(void* control, std::uint16_t gso_size) {
  // udp_cmsg_send requires cmsg_len == CMSG_LEN(sizeof(__u16)) exactly.
  cmsghdr header;
  std::memset(&header, 0, sizeof header);
  header.cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
  header.cmsg_level = SOL_UDP;
  header.cmsg_type = UDP_SEGMENT;
  auto* bytes = static_cast<unsigned char*>(control);
  std::memset(bytes, 0, kGsoCmsgSpace);
  std::memcpy(bytes, &header, sizeof header);
  std::memcpy(bytes + kCmsgDataOffset, &gso_size, sizeof gso_size);
  return kGsoCmsgSpace;
}

int ParseGroCmsg(const void* control, std::size_t controllen) {
  if (control == nullptr) return 0;
  const auto* base = static_cast<const unsigned char*>(control);
  std::size_t off = 0;
  // Walk the messages with explicit bounds (not CMSG_NXTHDR, whose pointer arithmetic
  // can overflow on a hostile cmsg_len): every header and its data must lie inside
  // [0, controllen).
  while (controllen - off >= sizeof(cmsghdr)) {
    cmsghdr header;
    std::memcpy(&header, base + off, sizeof header);
    std::size_t len = header.cmsg_len;
    if (len < kCmsgDataOffset || len > controllen - off) return 0;  // not a (complete) message: stop
    if (header.cmsg_level == SOL_UDP && header.cmsg_type == UDP_GRO) {
      // udp_cmsg_recv: put_cmsg(msg, SOL_UDP, UDP_GRO, sizeof(int), &gso_size).
      if (len - kCmsgDataOffset != sizeof(int)) return -1;
      int size = 0;
      std::memcpy(&size, base + off + kCmsgDataOffset, sizeof size);
      if (size <= 0 || size > 65535) return -1;
      return size;
    }
    std::size_t step = CMSG_ALIGN(len);
    if (step > controllen - off) break;
    off += step;
  }
  return 0;
}

}  // namespace dsn
