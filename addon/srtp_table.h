// SrtpTable: the N-API face of addon/srtp.{h,cc}, exposed to JS as the `SrtpTable` class of
// src/native/binding.ts (NativeSrtpTable; src/srtp/ validates user input before calling it).
//
// A table owns many SRTP contexts (one per output direction: a viewer, a werift DTLS
// transport), addressed by small integer ids, so that one call protects a whole batch of
// packets for many outputs: the batch names each packet's context by id and no JS object is
// touched per packet. Single-packet calls exist for tests and for rare packets.
//
// Results never throw on the packet path: a protect/unprotect returns the new length (>= 0)
// or a negative srtp::Status, and the batch writes one status per packet. Wrong argument
// types throw TypeError, indices or lengths out of range RangeError (nothing is touched).
#pragma once

#include <napi.h>

namespace dsn {

Napi::Function DefineSrtpTable(Napi::Env env);

}  // namespace dsn
