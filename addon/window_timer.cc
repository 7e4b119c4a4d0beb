// The send window's timer: a timerfd (timerfd_create(2), CLOCK_MONOTONIC,
// TFD_NONBLOCK | TFD_CLOEXEC) with its own uv_poll_t — a different fd from the socket's,
// so the rule "one libuv watcher per fd" holds. libuv's own timers have millisecond
// granularity (the loop time is in ms), so a window below 1 ms cannot be held with them;
// a timerfd expires on the kernel's hrtimer, and epoll wakes the loop for it with µs
// precision (plus the process's timer slack, 50 µs by default, prctl(2) PR_SET_TIMERSLACK).
//
// Cost model. The timerfd and its watcher are created by the first armTimer() and live
// until the socket closes. The watcher is started once (readable interest, one
// epoll_ctl) and stays started: a disarmed timerfd never becomes readable, so an idle
// socket causes zero wake-ups. armTimer() is one timerfd_settime(2); disarmTimer() (the
// queue was flushed before the window ended) another; an expiry is one epoll wake-up and
// one read(2) of the expiration count.
//
// Keeping the process alive. While armed, the watcher is referenced (uv_ref): a queued
// datagram is a promise, even on an unref()'d socket. Disarmed, it is unreferenced, so
// the timer never keeps an idle process alive.
//
// The timer is one-shot: after it fired (onTimer called) it is disarmed until the next
// armTimer(). A wake-up that finds no expiration (read(2) EAGAIN: disarmed or re-armed
// after it expired but before the loop got to it) calls nothing.
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <ctime>

#include "counters.h"
#include "errors.h"
#include "udp_socket.h"

namespace dsn {

namespace {
// Longest window armTimer() takes: one hour, in µs (the JS side caps windowUs far lower).
constexpr std::int64_t kMaxTimerUs = INT64_C(3600) * 1000 * 1000;
}  // namespace

bool UdpSocket::OpenTimer(Napi::Env env) {
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    Napi::Error::New(env, "no libuv event loop").ThrowAsJavaScriptException();
    return false;
  }
  int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0) {
    ThrowErrno(env, errno, "timerfd_create");  // EMFILE, ENFILE, ENOMEM, ENODEV
    return false;
  }
  timer_fd_ = fd;
  int err = NewPoll(env, loop, fd, &timer_block_, &timer_poll_);
  if (err == 0) {
    int r = uv_poll_start(timer_poll_, UV_READABLE, OnTimerThunk);
    if (r != 0) err = -r;
  }
  if (err != 0) {
    CloseTimer();
    ThrowErrno(env, err, "uv_poll_start");
    return false;
  }
  uv_unref(reinterpret_cast<uv_handle_t*>(timer_poll_));  // referenced only while armed
  return true;
}

void UdpSocket::CloseTimer() {
  timer_armed_ = false;
  if (timer_block_ != nullptr) {
    ClosePoll(timer_block_, timer_poll_);  // stops the watcher before the fd goes
    timer_block_ = nullptr;
    timer_poll_ = nullptr;
  }
  if (timer_fd_ >= 0) {
    ::close(timer_fd_);
    timer_fd_ = -1;
  }
}

int UdpSocket::SetTimer(std::int64_t us) {
  itimerspec spec{};  // it_interval 0: one-shot; it_value 0: disarm
  spec.it_value.tv_sec = static_cast<time_t>(us / 1000000);
  spec.it_value.tv_nsec = static_cast<long>((us % 1000000) * 1000);
  return timerfd_settime(timer_fd_, 0, &spec, nullptr) == 0 ? 0 : errno;
}

// armTimer(us: number): void — (re)arms the window timer to expire `us` µs from now
// (1 <= us <= 3.6e9, else RangeError); when it expires, onTimer() is called once. Arming
// an armed timer moves its expiry. The first call creates the timerfd and its watcher.
// Counts TIMER_ARMS. Throws ERR_INVALID_STATE without an onTimer callback, a system error
// (syscall 'timerfd_create', 'uv_poll_start' or 'timerfd_settime') if the timer cannot be
// made or set — the caller then keeps its own (coarser) timer — and
// ERR_SOCKET_DGRAM_NOT_RUNNING after close().
Napi::Value UdpSocket::ArmTimer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  std::int64_t us = 0;
  if (!ArgInt(info, 0, "us", 1, kMaxTimerUs, &us)) return env.Undefined();
  if (on_timer_.IsEmpty()) {
    ThrowInvalidState(env, "armTimer() needs an onTimer callback (new UdpSocket(..., { onTimer }))");
    return env.Undefined();
  }
  if (timer_fd_ < 0 && !OpenTimer(env)) return env.Undefined();
  int err = SetTimer(us);
  if (err != 0) {
    ThrowErrno(env, err, "timerfd_settime");
    return env.Undefined();
  }
  if (!timer_armed_) {
    timer_armed_ = true;
    uv_ref(reinterpret_cast<uv_handle_t*>(timer_poll_));
  }
  Counters(env)[kTimerArms] += 1;
  return env.Undefined();
}

// disarmTimer(): void — cancels a pending expiry (timerfd_settime(2) with a zero value);
// no-op when not armed or after close(). Throws a system error (syscall 'timerfd_settime')
// if the kernel refuses; the timer is then treated as disarmed (a late expiry is ignored).
Napi::Value UdpSocket::DisarmTimer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!timer_armed_ || closed_) return env.Undefined();
  timer_armed_ = false;
  uv_unref(reinterpret_cast<uv_handle_t*>(timer_poll_));
  int err = SetTimer(0);
  if (err != 0) ThrowErrno(env, err, "timerfd_settime");
  return env.Undefined();
}

// timerFd(): number — the window timer's timerfd, or -1 before the first armTimer() and
// after close(). For tests that read the kernel's view of it (/proc/self/fdinfo).
Napi::Value UdpSocket::TimerFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), timer_fd_); }

// OnTimerThunk (watcher.cc, beside OnPollThunk) calls OnTimer while the socket owns the handle.
void UdpSocket::OnTimer(int status) {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  double* counters = Counters(env);
  counters[kTimerWakeups] += 1;
  bool expired = false;
  if (status < 0) {
    // libuv stopped the watcher (EPOLLERR/EPOLLHUP; not expected of a timerfd). Start it
    // again; if that fails, give the timer up (the next armTimer() makes a new one) and
    // fire now rather than hold the window forever.
    int r = uv_poll_start(timer_poll_, UV_READABLE, OnTimerThunk);
    if (r != 0) {
      bool was_armed = timer_armed_;
      CloseTimer();
      expired = was_armed;
      timer_armed_ = was_armed;  // consumed below
    }
  }
  if (!expired && timer_fd_ >= 0) {
    std::uint64_t expirations = 0;
    ssize_t n;
    do {
      n = ::read(timer_fd_, &expirations, sizeof expirations);
    } while (n < 0 && errno == EINTR);
    // EAGAIN: no expiration (disarmed or re-armed since it expired). Any other failure is
    // not documented for a timerfd without TFD_TIMER_CANCEL_ON_SET; count it as expired,
    // so a queued window is flushed early rather than never.
    expired = n == static_cast<ssize_t>(sizeof expirations) || (n < 0 && errno != EAGAIN);
  }
  if (!expired || !timer_armed_ || closed_) return;
  timer_armed_ = false;
  if (timer_poll_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(timer_poll_));
  counters[kTimerFires] += 1;
  ++callback_depth_;
  CallJs(on_timer_, {});
  --callback_depth_;
  if (callback_depth_ == 0 && release_pending_) ReleaseJs();
}

}  // namespace dsn
