// See recv_dispatch.h. The socket side is UdpSocket::ReadForDispatch (recv.cc).
#include "recv_dispatch.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <new>

#include "errors.h"
#include "handle_block.h"
#include "udp_socket.h"

namespace dsn {

// The check handle's heap block (handle_block.h, as PollBlock in watcher.cc): freed only by
// the uv_close callback, so it outlives the dispatcher when that goes first.
struct CheckBlock {
  RecvDispatcher* owner;                        // nullptr once the dispatcher is gone or closing
  napi_async_cleanup_hook_handle cleanup_hook;  // removed by the close callback
};

namespace {
using Block = HandleBlock<CheckBlock, uv_check_t>;
uv_check_t* HandleOf(CheckBlock* block) { return Block::HandleOf(block); }
CheckBlock* BlockOf(const uv_handle_t* handle) { return Block::BlockOf(handle); }
uv_handle_t* AsHandle(uv_check_t* check) { return reinterpret_cast<uv_handle_t*>(check); }
}  // namespace

std::shared_ptr<RecvDispatcher> RecvDispatcher::For(napi_env env) {
  void* data = nullptr;
  if (napi_get_instance_data(env, &data) != napi_ok || data == nullptr) return nullptr;
  return *static_cast<std::shared_ptr<RecvDispatcher>*>(data);
}

Napi::Value RecvDispatcher::SetDispatcher(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) {
    ThrowTypeError(env, "The \"deliver\" argument must be of type function");
    return env.Undefined();
  }
  std::shared_ptr<RecvDispatcher> d = For(env);
  if (d == nullptr) {
    d.reset(new RecvDispatcher(env));
    const int err = d->OpenCheck();
    if (err != 0) {
      ThrowInvalidState(env, "libuv refused the receive dispatcher's check handle");
      return env.Undefined();
    }
    d->pending_.reserve(64);
    d->delivering_.reserve(64);
    d->list_ = new SharedDoubles(2 * kMaxPerCall);
    Napi::Object resource = Napi::Object::New(env);
    if (napi_async_init(env, resource, Napi::String::New(env, "UdpSendmmsgRecvDispatch"), &d->context_) != napi_ok) {
      d->context_ = nullptr;
      ThrowInvalidState(env, "napi_async_init failed for the receive dispatcher");
      return env.Undefined();
    }
    d->resource_ = Napi::Persistent(resource);
    auto* holder = new std::shared_ptr<RecvDispatcher>(d);
    if (napi_set_instance_data(env, holder, FinalizeInstance, nullptr) != napi_ok) {
      delete holder;
      ThrowInvalidState(env, "napi_set_instance_data failed for the receive dispatcher");
      return env.Undefined();
    }
  }
  d->deliver_ = Napi::Persistent(info[0].As<Napi::Function>());
  Napi::Value view = d->list_->View(env);
  if (view.IsEmpty()) {
    // No external buffers in this runtime: the list cannot be shared.
    ThrowInvalidState(env, "the receive dispatcher needs external ArrayBuffers, which this runtime refuses");
    return env.Undefined();
  }
  return view;
}

int RecvDispatcher::OpenCheck() {
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env_, &loop) != napi_ok || loop == nullptr) return EINVAL;
  void* memory = Block::Allocate(UV_CHECK);
  if (memory == nullptr) return ENOMEM;
  auto* block = new (memory) CheckBlock{this, nullptr};
  uv_check_t* handle = HandleOf(block);
  const int r = uv_check_init(loop, handle);
  if (r != 0) {
    std::free(memory);  // never initialised: no uv_close
    return -r;
  }
  uv_handle_set_data(AsHandle(handle), block);
  uv_unref(AsHandle(handle));  // the sockets' watchers keep the loop alive, not this
  if (napi_add_async_cleanup_hook(env_, OnEnvCleanup, block, &block->cleanup_hook) != napi_ok) {
    block->cleanup_hook = nullptr;
    block->owner = nullptr;
    uv_close(AsHandle(handle), OnCheckClosed);
    return ENOMEM;
  }
  block_ = block;
  check_ = handle;
  return 0;
}

RecvDispatcher::~RecvDispatcher() {
  if (block_ != nullptr) {
    // The handle stays open until the environment's cleanup hook closes it; stopped, and
    // with no owner, it never calls back.
    if (active_) uv_check_stop(check_);
    block_->owner = nullptr;
  }
  for (const Entry& e : pending_) e.socket->dispatch_pending_ = false;
  if (list_ != nullptr) list_->Release();
}

void RecvDispatcher::FinalizeInstance(napi_env /*env*/, void* data, void* /*hint*/) {
  auto* holder = static_cast<std::shared_ptr<RecvDispatcher>*>(data);
  (*holder)->ReleaseJs();
  delete holder;  // sockets still in this mode keep the C++ object until they close
}

void RecvDispatcher::ReleaseJs() {
  deliver_.Reset();
  resource_.Reset();
  if (context_ != nullptr) {
    napi_async_destroy(env_, context_);
    context_ = nullptr;
  }
}

void RecvDispatcher::OnEnvCleanup(napi_async_cleanup_hook_handle /*hook*/, void* arg) {
  auto* block = static_cast<CheckBlock*>(arg);
  if (block->owner != nullptr) {
    RecvDispatcher* d = block->owner;
    d->block_ = nullptr;
    d->check_ = nullptr;
    d->active_ = false;
    block->owner = nullptr;
  }
  uv_close(AsHandle(HandleOf(block)), OnCheckClosed);
}

void RecvDispatcher::OnCheckClosed(uv_handle_t* handle) {
  CheckBlock* block = BlockOf(handle);
  napi_async_cleanup_hook_handle hook = block->cleanup_hook;
  std::free(block);
  if (hook != nullptr) napi_remove_async_cleanup_hook(hook);
}

bool RecvDispatcher::Enqueue(UdpSocket* socket, double id, std::size_t slots) {
  if (check_ == nullptr) return false;
  pending_.push_back(Entry{socket, id, static_cast<double>(slots)});  // capacity grows with the sockets, not per batch
  if (!active_) {
    if (uv_check_start(check_, OnCheckThunk) != 0) {
      pending_.pop_back();
      return false;
    }
    active_ = true;
  }
  return true;
}

void RecvDispatcher::Remove(UdpSocket* socket) {
  pending_.erase(std::remove_if(pending_.begin(), pending_.end(), [socket](const Entry& e) { return e.socket == socket; }),
                 pending_.end());
  for (Entry& e : delivering_) {
    if (e.socket == socket) e.socket = nullptr;
  }
  socket->dispatch_pending_ = false;
}

void RecvDispatcher::OnCheckThunk(uv_check_t* handle) {
  CheckBlock* block = BlockOf(AsHandle(handle));
  if (block != nullptr && block->owner != nullptr) block->owner->OnCheck();
}

void RecvDispatcher::OnCheck() {
  uv_check_stop(check_);
  active_ = false;
  if (deliver_.IsEmpty()) {  // the environment is going away: nobody to deliver to
    for (const Entry& e : pending_) e.socket->dispatch_pending_ = false;
    pending_.clear();
    return;
  }
  Napi::Env env(env_);
  Napi::HandleScope scope(env);
  while (!pending_.empty()) {
    // Take the entries out before JS runs: it may close sockets (Remove) or drop them.
    const std::size_t n = std::min(pending_.size(), kMaxPerCall);
    double* list = list_->data();
    for (std::size_t i = 0; i < n; ++i) {
      list[2 * i] = pending_[i].id;
      list[2 * i + 1] = pending_[i].slots;
      pending_[i].socket->dispatch_pending_ = false;
    }
    delivering_.assign(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
    napi_value arg = Napi::Number::New(env, static_cast<double>(n));
    napi_value result = nullptr;
    const napi_status status =
        napi_make_callback(env, context_, resource_.Value(), deliver_.Value(), 1, &arg, &result);
    delivering_.clear();
    if (status == napi_ok) continue;
    bool pending_exception = false;
    if (napi_is_exception_pending(env, &pending_exception) == napi_ok && pending_exception) {
      // As UdpSocket::CallJs: the exception of a callback becomes an uncaught exception;
      // the remaining entries are still delivered.
      napi_value error = nullptr;
      napi_get_and_clear_last_exception(env, &error);
      napi_fatal_exception(env, error);
      continue;
    }
    // The environment can no longer run JS (teardown): drop the rest.
    for (const Entry& e : pending_) e.socket->dispatch_pending_ = false;
    pending_.clear();
    return;
  }
}

}  // namespace dsn
