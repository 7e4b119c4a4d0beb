// See args.h.
#include "args.h"

#include <cmath>
#include <cstdio>
#include <cstring>

#include "errors.h"
#include "shared_memory.h"

namespace dsn {

bool ArgInt(const Napi::CallbackInfo& info, std::size_t i, const char* name, std::int64_t min, std::int64_t max,
            std::int64_t* out) {
  char message[160];
  Napi::Value v = info[i];
  if (!v.IsNumber()) {
    std::snprintf(message, sizeof message, "The \"%s\" argument must be of type number", name);
    ThrowTypeError(info.Env(), message);
    return false;
  }
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::trunc(d) != d || d < static_cast<double>(min) || d > static_cast<double>(max)) {
    std::snprintf(message, sizeof message, "The value of \"%s\" is out of range. It must be an integer >= %lld and <= %lld",
                  name, static_cast<long long>(min), static_cast<long long>(max));
    ThrowRangeError(info.Env(), message);
    return false;
  }
  *out = static_cast<std::int64_t>(d);
  return true;
}

bool ArgBool(const Napi::CallbackInfo& info, std::size_t i, const char* name, bool* out) {
  Napi::Value v = info[i];
  if (!v.IsBoolean()) {
    char message[160];
    std::snprintf(message, sizeof message, "The \"%s\" argument must be of type boolean", name);
    ThrowTypeError(info.Env(), message);
    return false;
  }
  *out = v.As<Napi::Boolean>().Value();
  return true;
}

bool ArgString(const Napi::CallbackInfo& info, std::size_t i, const char* name, char* buf, std::size_t cap,
               bool* fits) {
  Napi::Value v = info[i];
  if (!v.IsString()) {
    char message[160];
    std::snprintf(message, sizeof message, "The \"%s\" argument must be of type string", name);
    ThrowTypeError(info.Env(), message);
    return false;
  }
  std::size_t full = 0;
  napi_status status = napi_get_value_string_utf8(info.Env(), v, nullptr, 0, &full);
  if (status != napi_ok) {
    ThrowTypeError(info.Env(), "could not read a string argument");
    return false;
  }
  buf[0] = '\0';
  if (full >= cap) {
    *fits = false;
    return true;
  }
  std::size_t copied = 0;
  status = napi_get_value_string_utf8(info.Env(), v, buf, cap, &copied);
  if (status != napi_ok) {
    ThrowTypeError(info.Env(), "could not read a string argument");
    return false;
  }
  *fits = copied == full && std::strlen(buf) == copied;  // no embedded NUL
  return true;
}

namespace {
const char* TypeName(napi_typedarray_type type) {
  switch (type) {
    case napi_uint8_array: return "Uint8Array";
    case napi_int32_array: return "Int32Array";
    case napi_uint32_array: return "Uint32Array";
    case napi_float64_array: return "Float64Array";
    default: return "TypedArray";
  }
}
}  // namespace

bool ArgTypedArray(const Napi::CallbackInfo& info, std::size_t i, const char* name, napi_typedarray_type type,
                   Napi::TypedArray* out) {
  Napi::Value v = info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
    char message[160];
    std::snprintf(message, sizeof message, "The \"%s\" argument must be an instance of %s", name, TypeName(type));
    ThrowTypeError(info.Env(), message);
    return false;
  }
  // Pinned arrays keep a reference to their ArrayBuffer, which N-API cannot read for a
  // SharedArrayBuffer (napi_get_arraybuffer_info fails): refused here, with a TypeError.
  napi_value buffer = nullptr;
  bool plain = false;
  if (napi_get_typedarray_info(info.Env(), v, nullptr, nullptr, nullptr, &buffer, nullptr) != napi_ok ||
      napi_is_arraybuffer(info.Env(), buffer, &plain) != napi_ok || !plain) {
    char message[160];
    std::snprintf(message, sizeof message, "The \"%s\" argument must not be backed by a SharedArrayBuffer", name);
    ThrowTypeError(info.Env(), message);
    return false;
  }
  *out = v.As<Napi::TypedArray>();
  return true;
}

bool ArgArray(const Napi::CallbackInfo& info, std::size_t i, const char* name, napi_typedarray_type type, void** data,
              std::size_t* length) {
  napi_typedarray_type actual;
  *data = nullptr;
  *length = 0;
  if (napi_get_typedarray_info(info.Env(), info[i], &actual, length, data, nullptr, nullptr) != napi_ok ||
      actual != type) {
    char message[160];
    std::snprintf(message, sizeof message, "The \"%s\" argument must be an instance of %s", name, TypeName(type));
    ThrowTypeError(info.Env(), message);
    return false;
  }
  if (*length == 0) *data = nullptr;
  return true;
}

bool ArgSendRing(const Napi::CallbackInfo& info, std::size_t i, Napi::TypedArray* arena, Napi::TypedArray* offsets,
                 Napi::TypedArray* lengths, Napi::TypedArray* peers) {
  if (!ArgTypedArray(info, i, "arena", napi_uint8_array, arena) ||
      !ArgTypedArray(info, i + 1, "offsets", napi_uint32_array, offsets) ||
      !ArgTypedArray(info, i + 2, "lengths", napi_uint32_array, lengths) ||
      !ArgTypedArray(info, i + 3, "peers", napi_int32_array, peers)) {
    return false;
  }
  const std::size_t capacity = offsets->ElementLength();
  if (capacity == 0 || lengths->ElementLength() != capacity || peers->ElementLength() != capacity) {
    ThrowRangeError(info.Env(), "offsets, lengths and peers must have the same length >= 1 (the ring capacity)");
    return false;
  }
  return true;
}

bool PinnedArray::Get(napi_env env, ArrayView* view) const {
  *view = ArrayView{};
  if (ref_.IsEmpty()) return false;
  napi_value value = nullptr;
  if (napi_get_reference_value(env, ref_, &value) != napi_ok || value == nullptr) return false;
  napi_typedarray_type type;
  std::size_t length = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, value, &type, &length, &data, nullptr, nullptr) != napi_ok) return false;
  if (length != 0 && data == nullptr) return false;
  view->data = data;
  view->length = length;
  return true;
}

void PinnedBuffer::Set(const Napi::ArrayBuffer& buffer) {
  Reset();
  Napi::ArrayBuffer b = buffer;  // Data()/ByteLength() are not const
  void* data = b.Data();
  const std::size_t length = b.ByteLength();
  block_ = AcquireShared(data, length);
  if (block_ != nullptr) {
    base_ = static_cast<std::uint8_t*>(data);
    length_ = length;
    return;
  }
  ref_ = Napi::Reference<Napi::ArrayBuffer>::New(buffer, 1);
}

void PinnedBuffer::Reset() {
  if (block_ != nullptr) {
    ReleaseShared(block_);
    block_ = nullptr;
    base_ = nullptr;
    length_ = 0;
  }
  ref_.Reset();
}

bool PinnedBuffer::Lookup(napi_env env, std::uint8_t** data, std::size_t* byte_length) const {
  *data = nullptr;
  *byte_length = 0;
  if (ref_.IsEmpty()) return false;
  napi_value value = nullptr;
  if (napi_get_reference_value(env, ref_, &value) != napi_ok || value == nullptr) return false;
  void* raw = nullptr;
  std::size_t length = 0;
  if (napi_get_arraybuffer_info(env, value, &raw, &length) != napi_ok) return false;
  if (length != 0 && raw == nullptr) return false;
  *data = static_cast<std::uint8_t*>(raw);
  *byte_length = length;
  return true;
}

Napi::Value SharedDoubles::View(Napi::Env env) {
  napi_value buffer = nullptr;
  if (napi_create_external_arraybuffer(env, values_.get(), n_ * sizeof(double), Finalize, this, &buffer) != napi_ok) {
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
      napi_value ignored = nullptr;
      napi_get_and_clear_last_exception(env, &ignored);
    }
    return Napi::Value();
  }
  ++refs_;
  return Napi::Float64Array::New(env, n_, Napi::ArrayBuffer(env, buffer), 0);
}

void SharedDoubles::Release() {
  if (--refs_ == 0) delete this;
}

void SharedDoubles::Finalize(napi_env /*env*/, void* /*data*/, void* hint) { static_cast<SharedDoubles*>(hint)->Release(); }

void PinnedGroup::Set(std::initializer_list<const Napi::TypedArray*> arrays) {
  Reset();
  Napi::ArrayBuffer seen[kMax];
  for (const Napi::TypedArray* array : arrays) {
    if (count_ == kMax) break;
    const std::size_t i = count_++;
    of_[i] = -1;
    if (array == nullptr || array->IsEmpty()) continue;
    Napi::ArrayBuffer buffer = array->ArrayBuffer();
    std::size_t b = 0;
    while (b < buffers_ && !seen[b].StrictEquals(buffer)) ++b;
    if (b == buffers_) {
      seen[b] = buffer;
      buffer_[b].Set(buffer);
      need_[b] = 0;
      ++buffers_;
    }
    of_[i] = static_cast<int>(b);
    offset_[i] = array->ByteOffset();
    length_[i] = array->ElementLength();
    const std::size_t end = offset_[i] + array->ByteLength();
    if (end > need_[b]) need_[b] = end;
  }
}

void PinnedGroup::Reset() {
  for (std::size_t b = 0; b < buffers_; ++b) buffer_[b].Reset();
  count_ = 0;
  buffers_ = 0;
}

bool PinnedGroup::Get(napi_env env, void* data[kMax]) const {
  if (count_ == 0) return false;
  std::uint8_t* base[kMax] = {};
  for (std::size_t b = 0; b < buffers_; ++b) {
    std::size_t bytes = 0;
    if (!buffer_[b].Get(env, &base[b], &bytes) || bytes < need_[b]) return false;
  }
  for (std::size_t i = 0; i < count_; ++i) {
    data[i] = of_[i] < 0 || length_[i] == 0 ? nullptr : base[of_[i]] + offset_[i];
  }
  return true;
}

}  // namespace dsn
