// Throwing JS errors shaped like Node's own (see lib/internal/errors.js):
//   system errors: Error { message: "bind EADDRINUSE 127.0.0.1:1234", code: "EADDRINUSE",
//                          errno: -98, syscall: "bind", address?, port? }
//   argument errors: TypeError (code ERR_INVALID_ARG_TYPE), RangeError (code ERR_OUT_OF_RANGE)
//   out of order: Error { code: "ERR_INVALID_STATE" }
//   use after close: Error { message: "Not running", code: "ERR_SOCKET_DGRAM_NOT_RUNNING" }
// Every function throws as a pending JS exception (C++ exceptions are disabled); the
// caller must return to JS at once.
#pragma once

#include <napi.h>

namespace dsn {

// Name of an errno value ("EAGAIN"), or "UNKNOWN" for a value glibc has no name for.
const char* ErrnoName(int err);

// Throws a system error for `err` (positive errno). `address`/`port` are optional
// (nullptr / negative port = absent) and appended to the message as Node does.
void ThrowErrno(Napi::Env env, int err, const char* syscall, const char* address = nullptr, int port = -1);

void ThrowTypeError(Napi::Env env, const char* message);
void ThrowRangeError(Napi::Env env, const char* message);
void ThrowNotRunning(Napi::Env env);
// Error with code ERR_INVALID_STATE (a method called out of order).
void ThrowInvalidState(Napi::Env env, const char* message);

}  // namespace dsn
