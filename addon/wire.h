// Small helpers shared by the RTP code (fanout.cc, ingest_route.cc): network-order reads
// and writes of packet fields, and the u32 fields JS writes into shared Float64Arrays.
#pragma once

#include <cstdint>

namespace dsn {

inline std::uint16_t Get16(const std::uint8_t* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }
inline std::uint32_t Get32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
inline void Put16(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
inline void Put32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

// A double from JS as u32 (0 for NaN or out of range; JS writes integers in range).
inline std::uint32_t ToU32(double d) {
  if (!(d >= 0) || d > 4294967295.0) return 0;
  return static_cast<std::uint32_t>(d);
}

}  // namespace dsn
