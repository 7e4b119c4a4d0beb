// Loop-coalesced receive delivery (opt-in per socket: setRecvDispatch(id)).
//
// A socket in this mode does not call into JS from its readable wake-up: it reads one batch
// into its receive ring with recvmmsg(2) and queues (id, slots) here. One uv_check handle
// per environment then delivers every batch queued in this loop iteration in ONE call into
// JS: the check phase, right after the poll phase that read them, before setImmediate
// callbacks. A relay with many ingest ports (64 streams: ~3 sockets readable per loop
// iteration, ~2 datagrams each) so pays napi_make_callback, the async-hooks trampoline and
// the microtask checkpoint once per iteration instead of once per socket.
//
// What changes for such a socket: its batches arrive in the check phase of the iteration
// that read them (not in the poll phase), in the dispatcher's async context (not the
// socket's), and at most one batch (recvBudget and the ring's slots bound it) per loop
// iteration: level-triggered polling wakes it again for the rest. Receive errors are still
// reported at once (onRecvError). Nothing is read while a batch waits for delivery.
//
// Lifetime. The dispatcher is shared (std::shared_ptr) by the environment (instance data,
// whose finalizer drops its JS references) and by every socket in this mode (which remove
// themselves from the queue when they close). Its uv_check_t lives in a heap block closed by
// an async cleanup hook at environment teardown, like the sockets' watchers (watcher.cc).
// Threads: none; the JS thread of the environment.
#pragma once

#include <napi.h>

#include <cstddef>
#include <memory>
#include <vector>

#include "args.h"
#include "uv_abi.h"

namespace dsn {

class UdpSocket;
struct CheckBlock;

class RecvDispatcher {
 public:
  // Entries (id, slots) one call into JS delivers at most; more wait for the next call of
  // the same check phase.
  static constexpr std::size_t kMaxPerCall = 1024;

  // setRecvDispatcher(deliver: (count: number) => void): Float64Array — registers the
  // environment's delivery function (again: replaces it) and returns the list it reads:
  // entry i < count is (list[2i] = the socket's dispatch id, list[2i+1] = slots filled in
  // its receive ring), in the order the sockets were read. An exception thrown by deliver
  // becomes an uncaught exception, as from any socket callback. Throws TypeError for a
  // non-function, ERR_INVALID_STATE when libuv refuses the check handle.
  static Napi::Value SetDispatcher(const Napi::CallbackInfo& info);

  // The environment's dispatcher, or nullptr before setRecvDispatcher.
  static std::shared_ptr<RecvDispatcher> For(napi_env env);

  RecvDispatcher(const RecvDispatcher&) = delete;
  RecvDispatcher& operator=(const RecvDispatcher&) = delete;
  ~RecvDispatcher();

  // Queues `slots` datagrams `socket` (dispatch id `id`) just read; arms the check handle.
  // Returns false (nothing queued) when the environment is being torn down.
  bool Enqueue(UdpSocket* socket, double id, std::size_t slots);
  // Drops `socket`'s queued entry, if any (the socket closes or leaves this mode).
  void Remove(UdpSocket* socket);

  struct Entry {
    UdpSocket* socket;  // nullptr in Delivering() once the socket closed or left this mode
    double id;
    double slots;
  };
  // The entries of the delivery call running now (entry i is list entry i), for
  // RtpFanout::ForwardIngest; empty outside a call. Forwarding a batch natively marks its
  // list entry delivered: MarkDelivered(i) sets its slots to -1, which JS skips.
  const std::vector<Entry>& Delivering() const { return delivering_; }
  void MarkDelivered(std::size_t i) { list_->data()[2 * i + 1] = -1; }
  bool IsDelivered(std::size_t i) const { return list_->data()[2 * i + 1] < 0; }

 private:
  explicit RecvDispatcher(napi_env env) : env_(env) {}
  static void OnCheckThunk(uv_check_t* handle);
  static void OnCheckClosed(uv_handle_t* handle);
  static void OnEnvCleanup(napi_async_cleanup_hook_handle hook, void* arg);
  static void FinalizeInstance(napi_env env, void* data, void* hint);
  // Opens the check handle (stopped, unreferenced); returns 0 or a positive errno.
  int OpenCheck();
  void OnCheck();
  void ReleaseJs();

  napi_env env_;
  CheckBlock* block_ = nullptr;     // nullptr once closing (env teardown)
  uv_check_t* check_ = nullptr;     // the handle inside block_
  bool active_ = false;             // check handle started
  std::vector<Entry> pending_;      // in read order
  std::vector<Entry> delivering_;   // the running call's entries
  Napi::FunctionReference deliver_;
  Napi::ObjectReference resource_;  // the async resource of the delivery calls
  napi_async_context context_ = nullptr;
  SharedDoubles* list_ = nullptr;   // 2 * kMaxPerCall doubles, lent to JS
};

}  // namespace dsn
