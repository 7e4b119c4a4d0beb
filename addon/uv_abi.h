// The part of libuv's public ABI this addon uses (a uv_poll_t watcher per socket, and one
// uv_check_t per environment for loop-coalesced receive delivery, recv_dispatch.h).
//
// The build uses the N-API headers from node-api-headers, which do not ship uv.h
// (nothing is downloaded at install time). libuv 1.x keeps a stable ABI, and Node
// exports its libuv symbols to addons, so the few declarations below are enough.
// The handle is treated as opaque: its size comes from uv_handle_size(UV_POLL) of
// the libuv actually running, and its user data goes through uv_handle_{get,set}_data
// (libuv >= 1.34; Node >= 20 ships >= 1.44), so no struct layout is assumed here.
//
// When a real uv.h is on the include path it is used instead and the constants
// below are checked against it.
#pragma once

#include <cstddef>

#if __has_include(<uv.h>)
#include <uv.h>
static_assert(UV_POLL == 8, "libuv ABI: UV_POLL");
static_assert(UV_CHECK == 2, "libuv ABI: UV_CHECK");
static_assert(UV_READABLE == 1 && UV_WRITABLE == 2, "libuv ABI: uv_poll_event");
#else
extern "C" {
struct uv_loop_s;  // also forward-declared by node_api.h
struct uv_handle_s;
struct uv_poll_s;
struct uv_check_s;
typedef struct uv_loop_s uv_loop_t;
typedef struct uv_handle_s uv_handle_t;
typedef struct uv_poll_s uv_poll_t;
typedef struct uv_check_s uv_check_t;

// uv_handle_type: UV_UNKNOWN_HANDLE = 0, then ASYNC, CHECK, FS_EVENT, FS_POLL, HANDLE,
// IDLE, NAMED_PIPE, POLL, ... (UV_HANDLE_TYPE_MAP in uv.h); stable across libuv 1.x.
typedef enum { UV_CHECK = 2, UV_POLL = 8 } uv_handle_type;
// uv_poll_event
enum { UV_READABLE = 1, UV_WRITABLE = 2 };

typedef void (*uv_poll_cb)(uv_poll_t* handle, int status, int events);
typedef void (*uv_close_cb)(uv_handle_t* handle);
typedef void (*uv_check_cb)(uv_check_t* handle);

size_t uv_handle_size(uv_handle_type type);
void* uv_handle_get_data(const uv_handle_t* handle);
void uv_handle_set_data(uv_handle_t* handle, void* data);
int uv_poll_init(uv_loop_t* loop, uv_poll_t* handle, int fd);
int uv_poll_start(uv_poll_t* handle, int events, uv_poll_cb cb);
int uv_poll_stop(uv_poll_t* handle);
int uv_check_init(uv_loop_t* loop, uv_check_t* check);
int uv_check_start(uv_check_t* check, uv_check_cb cb);
int uv_check_stop(uv_check_t* check);
void uv_close(uv_handle_t* handle, uv_close_cb close_cb);
void uv_ref(uv_handle_t* handle);
void uv_unref(uv_handle_t* handle);
}
#endif
