// See errors.h.
#include "errors.h"

#include <cstdio>
#include <cstring>

namespace dsn {

const char* ErrnoName(int err) {
  // strerrorname_np: glibc >= 2.32; returns NULL for values without a name.
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : "UNKNOWN";
}

void ThrowErrno(Napi::Env env, int err, const char* syscall, const char* address, int port) {
  const char* code = ErrnoName(err);
  char message[256];
  if (address != nullptr && port >= 0) {
    std::snprintf(message, sizeof message, "%s %s %s:%d", syscall, code, address, port);
  } else if (address != nullptr) {
    std::snprintf(message, sizeof message, "%s %s %s", syscall, code, address);
  } else {
    std::snprintf(message, sizeof message, "%s %s", syscall, code);
  }
  Napi::Error error = Napi::Error::New(env, message);
  Napi::Object obj = error.Value();
  obj.Set("errno", Napi::Number::New(env, -err));
  obj.Set("code", Napi::String::New(env, code));
  obj.Set("syscall", Napi::String::New(env, syscall));
  if (address != nullptr) obj.Set("address", Napi::String::New(env, address));
  if (address != nullptr && port >= 0) obj.Set("port", Napi::Number::New(env, port));
  error.ThrowAsJavaScriptException();
}

void ThrowTypeError(Napi::Env env, const char* message) {
  Napi::TypeError error = Napi::TypeError::New(env, message);
  error.Value().Set("code", Napi::String::New(env, "ERR_INVALID_ARG_TYPE"));
  error.ThrowAsJavaScriptException();
}

void ThrowRangeError(Napi::Env env, const char* message) {
  Napi::RangeError error = Napi::RangeError::New(env, message);
  error.Value().Set("code", Napi::String::New(env, "ERR_OUT_OF_RANGE"));
  error.ThrowAsJavaScriptException();
}

void ThrowNotRunning(Napi::Env env) {
  Napi::Error error = Napi::Error::New(env, "Not running");
  error.Value().Set("code", Napi::String::New(env, "ERR_SOCKET_DGRAM_NOT_RUNNING"));
  error.ThrowAsJavaScriptException();
}

void ThrowInvalidState(Napi::Env env, const char* message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Value().Set("code", Napi::String::New(env, "ERR_INVALID_STATE"));
  error.ThrowAsJavaScriptException();
}

}  // namespace dsn
