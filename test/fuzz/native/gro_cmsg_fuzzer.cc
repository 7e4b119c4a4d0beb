// libFuzzer harness for the native control-message code of GSO/GRO (addon/udp_offload.*):
// pure functions with no N-API and no socket, so they are fuzzed directly.
//
//   scripts/fuzz-native.sh [seconds]      (clang with -fsanitize=fuzzer,address,undefined)
//
// Properties, per input:
//  1. ParseGroCmsg over the raw bytes (a heap copy of exactly `size` bytes, so ASan sees any
//     read past the end) returns -1, 0 or a size in 1..65535, and never reads outside.
//  2. A well-formed chain built from the input — filler control messages of other levels /
//     types and data lengths, then one (SOL_UDP, UDP_GRO, int) — parses to that int when it
//     is 1..65535, else -1; a chain whose GRO message has the wrong data length gives -1.
//  3. GroSegmentCount(length, gso) is the number of gso-sized pieces that cover `length`.
//  4. WriteGsoCmsg writes exactly one well-formed (SOL_UDP, UDP_SEGMENT, u16) message inside
//     kGsoCmsgSpace bytes, which ParseGroCmsg (looking for UDP_GRO) reports as absent (0).
#include <sys/socket.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../../../addon/udp_offload.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

struct Reader {
  const std::uint8_t* p;
  std::size_t n;
  std::uint32_t U32() {
    std::uint32_t v = 0;
    std::size_t k = n < 4 ? n : 4;
    std::memcpy(&v, p, k);
    p += k;
    n -= k;
    return v;
  }
  std::uint8_t U8() {
    if (n == 0) return 0;
    --n;
    return *p++;
  }
};

void Append(std::vector<std::uint64_t>* words, std::size_t* used, int level, int type, const void* data, std::size_t len,
            std::size_t declared_len) {
  std::size_t space = CMSG_SPACE(len);
  std::size_t need = (*used + space + 7) / 8;
  if (words->size() < need) words->resize(need, 0);
  auto* bytes = reinterpret_cast<unsigned char*>(words->data()) + *used;
  cmsghdr h;
  std::memset(&h, 0, sizeof h);
  h.cmsg_len = declared_len;
  h.cmsg_level = level;
  h.cmsg_type = type;
  std::memcpy(bytes, &h, sizeof h);
  if (len) std::memcpy(bytes + CMSG_LEN(0), data, len);
  *used += space;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // 1. Raw bytes.
  {
    auto* copy = static_cast<std::uint8_t*>(std::malloc(size ? size : 1));
    if (size) std::memcpy(copy, data, size);
    int r = dsn::ParseGroCmsg(copy, size);
    Check(r >= -1 && r <= 65535);
    std::uint32_t drops = 0;
    static_cast<void>(dsn::ParseRxqOvflCmsg(copy, size, &drops));
    std::free(copy);
    Check(dsn::ParseGroCmsg(nullptr, size) == 0);
  }

  Reader in{data, size};
  // 2. A well-formed chain.
  {
    std::vector<std::uint64_t> words;
    std::size_t used = 0;
    unsigned fillers = in.U8() % 5;
    unsigned char junk[40];
    for (unsigned i = 0; i < fillers; ++i) {
      std::size_t len = in.U8() % sizeof junk;
      for (std::size_t j = 0; j < len; ++j) junk[j] = in.U8();
      int level = (in.U8() & 1) ? SOL_SOCKET : SOL_UDP;
      int type = level == SOL_UDP ? UDP_SEGMENT : static_cast<int>(in.U8() % 64);
      Append(&words, &used, level, type, junk, len, CMSG_LEN(len));
    }
    int gso = static_cast<int>(in.U32());
    bool bad_len = (in.U8() & 7) == 0;
    if (bad_len) {
      std::uint16_t small = static_cast<std::uint16_t>(gso);
      Append(&words, &used, SOL_UDP, UDP_GRO, &small, sizeof small, CMSG_LEN(sizeof small));
    } else {
      Append(&words, &used, SOL_UDP, UDP_GRO, &gso, sizeof gso, CMSG_LEN(sizeof gso));
    }
    // Exactly `used` bytes on the heap (no slack for an over-read to hide in).
    auto* buf = static_cast<std::uint8_t*>(std::malloc(used ? used : 1));
    if (used) std::memcpy(buf, words.data(), used);
    int r = dsn::ParseGroCmsg(buf, used);
    if (bad_len) Check(r == -1);
    else if (gso >= 1 && gso <= 65535) Check(r == gso);
    else Check(r == -1);
    // Truncated anywhere: still in range, still in bounds.
    std::size_t cut = used ? in.U32() % used : 0;
    int t = dsn::ParseGroCmsg(buf, cut);
    Check(t >= -1 && t <= 65535);
    std::free(buf);
  }

  // 3. Segment count.
  {
    std::size_t length = in.U32() % 70000;
    std::size_t seg = in.U32() % 70000;
    std::size_t n = dsn::GroSegmentCount(length, seg);
    Check(n >= 1);
    if (seg != 0 && length > seg) {
      Check(n * seg >= length);
      Check((n - 1) * seg < length);
    } else {
      Check(n == 1);
    }
  }

  // 4. GSO control message.
  {
    alignas(cmsghdr) unsigned char control[dsn::kGsoCmsgSpace];
    std::uint16_t gso = static_cast<std::uint16_t>(in.U32());
    std::size_t len = dsn::WriteGsoCmsg(control, gso);
    Check(len == dsn::kGsoCmsgSpace);
    cmsghdr h;
    std::memcpy(&h, control, sizeof h);
    Check(h.cmsg_level == SOL_UDP && h.cmsg_type == UDP_SEGMENT && h.cmsg_len == CMSG_LEN(sizeof(std::uint16_t)));
    std::uint16_t back = 0;
    std::memcpy(&back, control + CMSG_LEN(0), sizeof back);
    Check(back == gso);
    Check(dsn::ParseGroCmsg(control, len) == 0);
  }
  return 0;
}
