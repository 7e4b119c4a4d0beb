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

#include <cstddef>
#include <cstdint>
#include <memory>

#include "srtp.h"

namespace dsn {

Napi::Function DefineSrtpTable(Napi::Env env);

// One direction's DTLS-SRTP key material as JS hands it to the SRTP table, the fan-out and
// the RTCP intake.
struct SrtpKeyArgs {
  srtp::Profile profile;
  const std::uint8_t* key;
  std::size_t key_len;
  const std::uint8_t* salt;
  std::size_t salt_len;
};

// info[i] a supported profile id (0x0001, 0x0007), info[i + 1] the master key (Uint8Array,
// 16 bytes), info[i + 2] the master salt (Uint8Array, the profile's salt length): false with
// a pending TypeError/RangeError otherwise.
bool ArgSrtpKeys(const Napi::CallbackInfo& info, std::size_t i, SrtpKeyArgs* out);

// A context with session keys derived from `keys` (RFC 3711 §4.3), or nullptr with a
// pending Error (code ERR_SRTP_CRYPTO) when OpenSSL fails.
std::unique_ptr<srtp::Context> NewSrtpContext(Napi::Env env, const SrtpKeyArgs& keys);

// Throws the Error (code ERR_SRTP_CRYPTO) for an OpenSSL failure while setting up a context.
void ThrowSrtpCrypto(Napi::Env env);

}  // namespace dsn
