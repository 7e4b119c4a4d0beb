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

namespace {
// The first control message of `level`/`type` inside [control, control + controllen):
// its data and data length, or nullptr. Walks the messages with explicit bounds (not
// CMSG_NXTHDR, whose pointer arithmetic can overflow on a hostile cmsg_len): every header
// and its data must lie inside the buffer; an incomplete message ends the walk.
const unsigned char* FindCmsg(const void* control, std::size_t controllen, int level, int type, std::size_t* data_len) {
  if (control == nullptr) return nullptr;
  const auto* base = static_cast<const unsigned char*>(control);
  std::size_t off = 0;
  while (controllen - off >= sizeof(cmsghdr)) {
    cmsghdr header;
    std::memcpy(&header, base + off, sizeof header);
    std::size_t len = header.cmsg_len;
    if (len < kCmsgDataOffset || len > controllen - off) return nullptr;
    if (header.cmsg_level == level && header.cmsg_type == type) {
      *data_len = len - kCmsgDataOffset;
      return base + off + kCmsgDataOffset;
    }
    std::size_t step = CMSG_ALIGN(len);
    if (step > controllen - off) break;
    off += step;
  }
  return nullptr;
}
}  // namespace

int ParseGroCmsg(const void* control, std::size_t controllen) {
  std::size_t n = 0;
  const unsigned char* data = FindCmsg(control, controllen, SOL_UDP, UDP_GRO, &n);
  if (data == nullptr) return 0;
  // udp_cmsg_recv: put_cmsg(msg, SOL_UDP, UDP_GRO, sizeof(int), &gso_size).
  if (n != sizeof(int)) return -1;
  int size = 0;
  std::memcpy(&size, data, sizeof size);
  if (size <= 0 || size > 65535) return -1;
  return size;
}

bool ParseRxqOvflCmsg(const void* control, std::size_t controllen, std::uint32_t* drops) {
  std::size_t n = 0;
  const unsigned char* data = FindCmsg(control, controllen, SOL_SOCKET, SO_RXQ_OVFL, &n);
  // sock_recv_drops: put_cmsg(msg, SOL_SOCKET, SO_RXQ_OVFL, sizeof(__u32), &dropcount).
  if (data == nullptr || n != sizeof(std::uint32_t)) return false;
  std::memcpy(drops, data, sizeof *drops);
  return true;
}

}  // namespace dsn
