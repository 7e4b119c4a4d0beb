// Native memory lent to JS as an external ArrayBuffer (allocShared), so native code that
// registers typed arrays over it (PinnedGroup in args.h: the receive ring, the send ring,
// the fan-out's state) keeps a pointer and a reference to the memory itself and never looks
// the arrays up again per call: a lookup of a JS typed array touches several cold V8
// objects (napi_get_reference_value, the ArrayBuffer's backing store), ~0.3 µs per readable
// wake-up or fan-out call, at thousands of calls per second.
//
// Lifetime: a block is freed when JS is done with it (the ArrayBuffer's finalizer, also
// after a transfer: the memory moves with the buffer) and every native holder released it,
// so neither a dropped, a transferred nor a detached view can leave native code writing
// freed memory. Where the runtime allows no external buffers, allocShared returns an
// ordinary ArrayBuffer and holders fall back to the per-call lookup.
#pragma once

#include <napi.h>

#include <cstddef>

namespace dsn {

struct SharedBlock;

// allocShared(bytes: number): ArrayBuffer — `bytes` (1 .. 2^31-1) zeroed bytes of native
// memory (see above). Throws TypeError for a non-integer, RangeError out of range or when
// the memory cannot be allocated.
Napi::Value AllocShared(const Napi::CallbackInfo& info);

// A reference to the block whose memory is exactly [data, data + byte_length) (an
// ArrayBuffer allocShared made, or the one it was transferred into), or nullptr when the
// memory is not such a block. Thread-safe.
SharedBlock* AcquireShared(const void* data, std::size_t byte_length);

// Drops a reference AcquireShared took; the last one frees the memory. Thread-safe.
void ReleaseShared(SharedBlock* block);

}  // namespace dsn
