// See shared_memory.h.
#include "shared_memory.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <unordered_map>

#include "args.h"
#include "errors.h"

namespace dsn {

struct SharedBlock {
  void* data = nullptr;
  std::size_t length = 0;
  std::atomic<int> refs{1};  // JS's (the ArrayBuffer's finalizer drops it) + one per holder
};

namespace {

constexpr std::int64_t kMaxSharedBytes = 0x7fffffff;

// Blocks JS still holds, by their memory. Entries are added by allocShared and removed by
// the finalizer, on whichever thread runs it (a worker's, after a transfer), hence the lock.
// Leaked on purpose: finalizers may run while statics are being destroyed at exit.
std::mutex& RegistryLock() {
  static auto* mu = new std::mutex;
  return *mu;
}
std::unordered_map<const void*, SharedBlock*>& Registry() {
  static auto* map = new std::unordered_map<const void*, SharedBlock*>;
  return *map;
}

void Unregister(SharedBlock* block) {
  std::lock_guard<std::mutex> lock(RegistryLock());
  auto it = Registry().find(block->data);
  if (it != Registry().end() && it->second == block) Registry().erase(it);
}

void Finalize(napi_env /*env*/, void* /*data*/, void* hint) {
  auto* block = static_cast<SharedBlock*>(hint);
  Unregister(block);
  ReleaseShared(block);
}

}  // namespace

Napi::Value AllocShared(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::int64_t bytes = 0;
  if (!ArgInt(info, 0, "bytes", 1, kMaxSharedBytes, &bytes)) return env.Undefined();
  void* data = std::calloc(static_cast<std::size_t>(bytes), 1);
  if (data == nullptr) {
    ThrowRangeError(env, "cannot allocate the shared memory (out of memory)");
    return env.Undefined();
  }
  auto* block = new SharedBlock;
  block->data = data;
  block->length = static_cast<std::size_t>(bytes);
  {
    std::lock_guard<std::mutex> lock(RegistryLock());
    Registry()[data] = block;
  }
  napi_value buffer = nullptr;
  if (napi_create_external_arraybuffer(env, data, block->length, Finalize, block, &buffer) != napi_ok) {
    // No external buffers in this runtime: an ordinary one (holders look it up per call).
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
      napi_value ignored = nullptr;
      napi_get_and_clear_last_exception(env, &ignored);
    }
    Unregister(block);
    ReleaseShared(block);
    return Napi::ArrayBuffer::New(env, static_cast<std::size_t>(bytes));
  }
  return Napi::Value(env, buffer);
}

SharedBlock* AcquireShared(const void* data, std::size_t byte_length) {
  if (data == nullptr) return nullptr;
  std::lock_guard<std::mutex> lock(RegistryLock());
  auto it = Registry().find(data);
  if (it == Registry().end() || it->second->length != byte_length) return nullptr;
  it->second->refs.fetch_add(1, std::memory_order_relaxed);
  return it->second;
}

void ReleaseShared(SharedBlock* block) {
  if (block->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    std::free(block->data);
    delete block;
  }
}

}  // namespace dsn
