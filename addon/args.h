// Validation of arguments coming from JS, and pinned typed arrays shared with JS.
//
// Every Arg* function returns false with a pending JS exception (TypeError for a wrong
// type, RangeError for a value out of range); the caller must return to JS at once.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <memory>

namespace dsn {

// info[i] must be a Number holding an integer in [min, max].
bool ArgInt(const Napi::CallbackInfo& info, std::size_t i, const char* name, std::int64_t min, std::int64_t max,
            std::int64_t* out);

// info[i] must be a Boolean.
bool ArgBool(const Napi::CallbackInfo& info, std::size_t i, const char* name, bool* out);

// info[i] must be a String. Copies its UTF-8 into buf (NUL-terminated) and sets *fits to
// false when it does not fit in cap - 1 bytes or contains a NUL (the caller decides what
// that means; for an IP literal it is EINVAL).
bool ArgString(const Napi::CallbackInfo& info, std::size_t i, const char* name, char* buf, std::size_t cap,
               bool* fits);

// info[i] must be a typed array of exactly `type` (a Buffer counts as a Uint8Array) over an
// ArrayBuffer — not a SharedArrayBuffer, which a PinnedGroup cannot hold (TypeError
// ERR_INVALID_ARG_TYPE). For arrays that are registered (pinned), not per-batch arguments.
bool ArgTypedArray(const Napi::CallbackInfo& info, std::size_t i, const char* name, napi_typedarray_type type,
                   Napi::TypedArray* out);

// info[i] must be a typed array of exactly `type` (a Buffer counts as a Uint8Array): its
// data pointer (null when empty) and length in elements, from one napi_get_typedarray_info
// call — for per-batch entry points, where ArgTypedArray's Napi::TypedArray costs three.
bool ArgArray(const Napi::CallbackInfo& info, std::size_t i, const char* name, napi_typedarray_type type, void** data,
              std::size_t* length);

// info[i..i+3] must be a send ring's arena (Uint8Array), offsets and lengths (Uint32Array)
// and peers (Int32Array), the last three of one length >= 1 (the ring's capacity): TypeError
// or RangeError otherwise. Shared by setSendRing (the socket) and setRing (the fan-out).
bool ArgSendRing(const Napi::CallbackInfo& info, std::size_t i, Napi::TypedArray* arena, Napi::TypedArray* offsets,
                 Napi::TypedArray* lengths, Napi::TypedArray* peers);

// Where a typed array's elements are right now.
struct ArrayView {
  void* data = nullptr;
  std::size_t length = 0;  // elements
};

// A typed array registered with native code: a strong reference keeps it from being
// collected while registered. Its data pointer and length are read again at every use
// (Get), never cached across calls into JS: JS may detach its buffer (transfer to a
// worker, ArrayBuffer.prototype.transfer) or shrink a resizable one, which then reads as
// length 0 and fails the caller's bounds checks instead of leaving a dangling pointer.
// Get needs an open HandleScope.
class PinnedArray {
 public:
  void Set(const Napi::TypedArray& array) { ref_ = Napi::Reference<Napi::TypedArray>::New(array, 1); }
  void Reset() { ref_.Reset(); }
  bool IsEmpty() const { return ref_.IsEmpty(); }
  // The registered array itself (needs an open HandleScope; not set: an empty value).
  Napi::TypedArray Value() const { return ref_.Value(); }
  // Returns false (view left empty) if not set or no longer readable.
  bool Get(napi_env env, ArrayView* view) const;

 private:
  Napi::Reference<Napi::TypedArray> ref_;
};

// An ArrayBuffer registered with native code, for typed arrays that JS carved from one
// buffer: one lookup (Get) gives where all of them are, instead of one per array. The same
// rules as PinnedArray: a strong reference, the data pointer and byte length read again at
// every use (a detached buffer reads as length 0 and fails the caller's bounds checks) —
// except for memory from allocShared (shared_memory.h): then a reference to the native
// block is kept instead, and Get returns its pointer without touching JS.
struct SharedBlock;
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  ~PinnedBuffer() { Reset(); }
  void Set(const Napi::ArrayBuffer& buffer);
  void Reset();
  bool IsEmpty() const { return block_ == nullptr && ref_.IsEmpty(); }
  // Returns false (data null, length 0) if not set or no longer readable.
  bool Get(napi_env env, std::uint8_t** data, std::size_t* byte_length) const {
    if (block_ != nullptr) {
      *data = base_;
      *byte_length = length_;
      return true;
    }
    return Lookup(env, data, byte_length);
  }

 private:
  bool Lookup(napi_env env, std::uint8_t** data, std::size_t* byte_length) const;
  Napi::Reference<Napi::ArrayBuffer> ref_;
  SharedBlock* block_ = nullptr;  // native memory: base_/length_ stay valid while held
  std::uint8_t* base_ = nullptr;
  std::size_t length_ = 0;
};

// Doubles in native memory that JS reads through a Float64Array over an external
// ArrayBuffer: the native owner reads and writes them with no lookup (a lookup of a JS
// typed array touches several cold V8 objects: ~0.5 us per readable wake-up of a socket
// among many). The memory is freed when both the owner (Release) and JS (the buffer's
// finalizer) are done with it, so neither a dropped nor a transferred view can leave
// native code writing freed memory.
class SharedDoubles {
 public:
  explicit SharedDoubles(std::size_t n) : values_(new double[n]()), n_(n) {}
  double* data() { return values_.get(); }
  // A new Float64Array over the memory (one more reference, released by its finalizer);
  // an empty value, with no reference taken, where the runtime allows no external buffers.
  Napi::Value View(Napi::Env env);
  // The owner is done; deletes this when JS is too.
  void Release();

 private:
  static void Finalize(napi_env env, void* data, void* hint);
  std::unique_ptr<double[]> values_;
  std::size_t n_;
  int refs_ = 1;  // the owner's; each view adds one
};

// Typed arrays registered together (a ring's arrays), found together at each use with one
// lookup per distinct ArrayBuffer behind them (none for allocShared memory, see
// PinnedBuffer): one when JS carved them from one buffer (src/socket/recv-batch.ts,
// src/scheduler/slot-ring.ts), else one per array. Each array
// keeps the byte offset and length it had when registered; a lookup fails when a buffer no
// longer spans them (detached: length 0; a resizable buffer shrunk), so a stale view is
// never written through. Strong references keep the buffers while registered.
class PinnedGroup {
 public:
  static constexpr std::size_t kMax = 6;
  // Registers `arrays` (at most kMax; a null entry = absent, its Get pointer is null).
  void Set(std::initializer_list<const Napi::TypedArray*> arrays);
  void Reset();
  bool IsEmpty() const { return count_ == 0; }
  // data[i] = where array i's elements are now; false when a buffer no longer spans its
  // arrays (or nothing is registered). Needs an open HandleScope.
  bool Get(napi_env env, void* data[kMax]) const;
  // Elements array i had when registered (0 when absent).
  std::size_t Length(std::size_t i) const { return i < count_ ? length_[i] : 0; }

 private:
  std::size_t count_ = 0;    // arrays registered (absent ones included)
  std::size_t buffers_ = 0;  // distinct ArrayBuffers
  PinnedBuffer buffer_[kMax];
  std::size_t need_[kMax] = {};    // bytes buffer b must hold
  int of_[kMax] = {};              // the buffer of array i (-1 = absent)
  std::size_t offset_[kMax] = {};  // byte offset of array i in its buffer
  std::size_t length_[kMax] = {};  // elements of array i
};

}  // namespace dsn
