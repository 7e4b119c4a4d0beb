// A libuv handle in a heap block, after a small header of the owner's (watcher.cc's
// PollBlock, recv_dispatch.cc's CheckBlock): for handles whose memory must outlive the C++
// object that opened them, so it is freed only by the uv_close callback. The handle's size
// is the running libuv's (uv_handle_size; no struct layout assumed, uv_abi.h) and its data
// points to the block.
#pragma once

#include <cstddef>
#include <cstdlib>

#include "uv_abi.h"

namespace dsn {

template <typename Header, typename Handle>
struct HandleBlock {
  static constexpr std::size_t kAlign = alignof(std::max_align_t);
  static constexpr std::size_t kOffset = (sizeof(Header) + kAlign - 1) / kAlign * kAlign;

  // Memory for the header and a handle of `type` (std::free it; nullptr when out of memory).
  static void* Allocate(uv_handle_type type) { return std::malloc(kOffset + uv_handle_size(type)); }
  static Handle* HandleOf(Header* block) {
    return reinterpret_cast<Handle*>(reinterpret_cast<unsigned char*>(block) + kOffset);
  }
  static Header* BlockOf(const uv_handle_t* handle) { return static_cast<Header*>(uv_handle_get_data(handle)); }
};

}  // namespace dsn
