// The socket's single libuv watcher (uv_poll_t) and the calls it makes into JS.
//
// Interest = UV_READABLE while receiving | UV_WRITABLE while awaitWritable(true). libuv
// polls level-triggered (epoll), so data left behind (budget spent) wakes us again on the
// next loop iteration; an idle socket has no interest, or only readable interest, and
// costs no wake-ups. Writable interest is one-shot: cleared before onWritable runs.
//
// Socket errors. When the kernel flags a pending socket error (sk_err, e.g. an ICMP port
// unreachable for a connected socket, udp(7)), epoll reports EPOLLERR; libuv's uv_poll
// then stops the watcher and calls back with status UV_EBADF and no events. We treat
// that as "readable and writable": the receive path reads the error (recvmmsg returns it
// and clears it; reported through onRecvError), a writable wait fires onWritable (the
// next send() then meets the error), and the watcher is started again.
#include <sys/socket.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <new>

#include "counters.h"
#include "errors.h"
#include "handle_block.h"
#include "udp_socket.h"

namespace dsn {

// A watcher's heap block: this header, then the uv_poll_t (uv_handle_size(UV_POLL)
// bytes of the running libuv). The handle's data points to the block. The block outlives
// the UdpSocket when the JS object is collected first, and is freed only by the uv_close
// callback. The socket's fd has one; the window timer's timerfd (window_timer.cc) another.
struct PollBlock {
  UdpSocket* owner;                             // nullptr once closing
  napi_async_cleanup_hook_handle cleanup_hook;  // removed by the close callback
};

namespace {
using Block = HandleBlock<PollBlock, uv_poll_t>;
uv_poll_t* HandleOf(PollBlock* block) { return Block::HandleOf(block); }
PollBlock* BlockOf(const uv_handle_t* handle) { return Block::BlockOf(handle); }
}  // namespace

int UdpSocket::NewPoll(napi_env env, uv_loop_t* loop, int fd, PollBlock** block_out, uv_poll_t** handle_out) {
  void* memory = Block::Allocate(UV_POLL);
  if (memory == nullptr) return ENOMEM;
  auto* block = new (memory) PollBlock{this, nullptr};
  uv_poll_t* handle = HandleOf(block);
  int r = uv_poll_init(loop, handle, fd);
  if (r != 0) {
    std::free(memory);  // never initialised: no uv_close
    return -r;
  }
  uv_handle_set_data(reinterpret_cast<uv_handle_t*>(handle), block);
  if (napi_add_async_cleanup_hook(env, OnEnvCleanup, block, &block->cleanup_hook) != napi_ok) {
    block->cleanup_hook = nullptr;
    ClosePoll(block, handle);
    return ENOMEM;
  }
  *block_out = block;
  *handle_out = handle;
  return 0;
}

void UdpSocket::ClosePoll(PollBlock* block, uv_poll_t* handle) {
  block->owner = nullptr;  // no more callbacks, and OnEnvCleanup has nothing to close
  uv_close(reinterpret_cast<uv_handle_t*>(handle), OnPollClosed);
}

int UdpSocket::OpenWatcher(napi_env env, uv_loop_t* loop) { return NewPoll(env, loop, fd_, &watcher_, &poll_); }

void UdpSocket::CloseWatcher() {
  if (watcher_ == nullptr) return;
  ClosePoll(watcher_, poll_);
  watcher_ = nullptr;
  poll_ = nullptr;
  poll_events_ = 0;
}

void UdpSocket::OnPollClosed(uv_handle_t* handle) {
  PollBlock* block = BlockOf(handle);
  napi_async_cleanup_hook_handle hook = block->cleanup_hook;
  std::free(block);
  // Last: lets a tearing-down environment finish (and possibly unload this addon).
  if (hook != nullptr) napi_remove_async_cleanup_hook(hook);
}

void UdpSocket::OnEnvCleanup(napi_async_cleanup_hook_handle /*hook*/, void* arg) {
  // The environment is going away with the socket still open: close it now. No JS runs.
  auto* block = static_cast<PollBlock*>(arg);
  if (block->owner != nullptr) block->owner->CloseNow();
}

int UdpSocket::UpdatePoll() {
  if (poll_ == nullptr) return 0;
  int want = (receiving_ ? UV_READABLE : 0) | (writable_armed_ ? UV_WRITABLE : 0);
  if (want == poll_events_) return 0;
  if (want == 0) {
    uv_poll_stop(poll_);
    poll_events_ = 0;
    return 0;
  }
  int r = uv_poll_start(poll_, want, OnPollThunk);
  if (r != 0) {
    poll_events_ = 0;
    return -r;
  }
  poll_events_ = want;
  return 0;
}

void UdpSocket::OnPollThunk(uv_poll_t* handle, int status, int events) {
  PollBlock* block = BlockOf(reinterpret_cast<uv_handle_t*>(handle));
  if (block != nullptr && block->owner != nullptr) block->owner->OnPoll(status, events);
}

void UdpSocket::OnTimerThunk(uv_poll_t* handle, int status, int /*events*/) {
  PollBlock* block = BlockOf(reinterpret_cast<uv_handle_t*>(handle));
  if (block != nullptr && block->owner != nullptr) block->owner->OnTimer(status);
}

bool UdpSocket::CallJs(const Napi::FunctionReference& fn, const std::initializer_list<napi_value>& args) {
  if (closed_ || fn.IsEmpty() || callbacks_.IsEmpty()) return false;
  Napi::Env env = Env();
  // napi_make_callback enters the callback scope with our async context: async_hooks see
  // the socket as the resource, and process.nextTick/microtasks run when it returns.
  // (Called directly rather than through FunctionReference::MakeCallback, whose failure
  // path throws a new error, which is fatal when the environment is shutting down.)
  napi_value result = nullptr;
  napi_status status = napi_make_callback(env, async_context_, callbacks_.Value(), fn.Value(), args.size(),
                                          args.begin(), &result);
  if (status == napi_ok) return true;
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    // N-API turns the exception of a MakeCallback into a pending exception of this
    // native frame, and nothing above us (libuv) would ever throw it. Raise it the way
    // Node raises errors of its own async callbacks: 'uncaughtException', or print and
    // exit when there is no handler.
    napi_value error = nullptr;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);
    return false;
  }
  // No exception, yet the call failed: the environment can no longer run JS (worker
  // termination, process teardown: Node runs the loop once more while cleaning up).
  // Stop the watcher and fd so nothing else fires; the finalizer releases the rest.
  CloseNow();
  return false;
}

void UdpSocket::OnPoll(int status, int events) {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  bool error_wake = status < 0;
  if (error_wake) {
    // libuv stopped the watcher (see the top of this file); serve whatever was armed.
    poll_events_ = 0;
    events = (receiving_ ? UV_READABLE : 0) | (writable_armed_ ? UV_WRITABLE : 0);
  }
  ++callback_depth_;
  if ((events & UV_WRITABLE) && writable_armed_ && !closed_) {
    writable_armed_ = false;  // one-shot
    UpdatePoll();
    ApplyRef();
    CallJs(on_writable_, {});
  }
  if ((events & UV_READABLE) && receiving_ && !closed_) {
    bool consumed_error = OnReadable(env);
    if (error_wake && !consumed_error && receiving_ && !closed_) {
      // The error wake was not explained by recvmmsg (it raced with another reader of
      // the error). Clear sk_err so that a level-triggered EPOLLERR cannot spin.
      int err = 0;
      socklen_t len = sizeof err;
      if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) {
        Counters(env)[kRecvErrors] += 1;
        CallJs(on_recv_error_, {Napi::Number::New(env, err)});
      }
    }
  }
  --callback_depth_;
  if (!closed_) {
    int err = UpdatePoll();  // restarts the watcher after an error wake
    if (err != 0 && receiving_) {
      receiving_ = false;
      ++callback_depth_;
      CallJs(on_recv_error_, {Napi::Number::New(env, err)});
      --callback_depth_;
    }
  }
  if (callback_depth_ == 0 && release_pending_) ReleaseJs();
}

// awaitWritable(on: boolean): void — arms (true) or cancels (false) one-shot writable
// readiness: when the socket's send buffer has room again (socket(7), poll(2) POLLOUT),
// onWritable() is called once. Counts WRITABLE_WAITS when it arms. Used after send()
// returned fewer than requested with LAST_ERRNO EAGAIN/ENOBUFS. No busy polling, no
// timers. After close(): awaitWritable(false) is a no-op, awaitWritable(true) throws
// ERR_SOCKET_DGRAM_NOT_RUNNING.
Napi::Value UdpSocket::AwaitWritable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool on = false;
  if (!ArgBool(info, 0, "on", &on)) return env.Undefined();
  if (closed_) {
    if (on) ThrowNotRunning(env);
    return env.Undefined();
  }
  if (on && !writable_armed_) Counters(env)[kWritableWaits] += 1;
  writable_armed_ = on;
  int err = UpdatePoll();
  if (err != 0) writable_armed_ = false;
  ApplyRef();
  if (err != 0) ThrowErrno(env, err, "uv_poll_start");
  return env.Undefined();
}

// ref(on: boolean): void — whether the socket keeps the event loop (and the process)
// alive while it merely receives, like dgram's socket.ref()/unref(). A send waiting for
// writability keeps it alive whatever this says (see ApplyRef). No-op after close().
Napi::Value UdpSocket::RefWatcher(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool on = false;
  if (!ArgBool(info, 0, "on", &on)) return env.Undefined();
  user_ref_ = on;
  ApplyRef();
  return env.Undefined();
}

// uv_ref/uv_unref the watcher: referenced when the user wants it (ref(), the default) or
// while a send waits for writability. A queued datagram is a promise: libuv keeps the
// loop alive for every pending uv_udp_send_t of an unref'd dgram socket (uv__req_register),
// and so do we for a send queue blocked on EAGAIN/ENOBUFS — the process exits once the
// queue drained or failed, never with datagrams silently left in it. (uv_ref/uv_unref are
// idempotent flag flips; a stopped watcher keeps nothing alive either way.)
void UdpSocket::ApplyRef() {
  if (poll_ == nullptr) return;
  if (user_ref_ || writable_armed_) {
    uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
  } else {
    uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  }
}

}  // namespace dsn
