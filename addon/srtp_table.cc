// See srtp_table.h; the JS contract is NativeSrtpTable in src/native/binding.ts.
#include "srtp_table.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "args.h"
#include "errors.h"
#include "srtp.h"

namespace dsn {

namespace {

// Operations of transform()/transformBatch() (SRTP_OP in src/native/binding.ts).
enum Op : int { kProtectRtp = 0, kProtectRtcp = 1, kUnprotectRtp = 2, kUnprotectRtcp = 3 };
// add() flags: use key/salt as the session key/salt (test vectors only), no derivation.
constexpr std::int64_t kFlagSessionKeys = 1;
// Most contexts one table holds (ids are 0 .. kMaxContexts-1).
constexpr std::int64_t kMaxContexts = 1 << 20;

int Run(srtp::Context* ctx, int op, std::uint8_t* p, std::size_t len, std::size_t cap, std::size_t* out) {
  switch (op) {
    case kProtectRtp:
      return ctx->ProtectRtp(p, len, cap, out);
    case kProtectRtcp:
      return ctx->ProtectRtcp(p, len, cap, out);
    case kUnprotectRtp:
      return ctx->UnprotectRtp(p, len, out);
    case kUnprotectRtcp:
      return ctx->UnprotectRtcp(p, len, out);
    default:
      return srtp::kInvalidPacket;
  }
}

class SrtpTable : public Napi::ObjectWrap<SrtpTable> {
 public:
  explicit SrtpTable(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SrtpTable>(info) {}

  // add(profile, key: Uint8Array, salt: Uint8Array, flags) → id
  Napi::Value Add(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::int64_t flags = 0;
    SrtpKeyArgs k;
    if (!ArgSrtpKeys(info, 0, &k) || !ArgInt(info, 3, "flags", 0, kFlagSessionKeys, &flags)) return env.Undefined();
    if (free_.empty() && contexts_.size() >= static_cast<std::size_t>(kMaxContexts)) {
      ThrowRangeError(env, "too many SRTP contexts in one table");
      return env.Undefined();
    }
    std::unique_ptr<srtp::Context> ctx;
    if (flags & kFlagSessionKeys) {
      srtp::SessionKeys keys{};
      std::memcpy(keys.rtp_key, k.key, k.key_len);
      std::memcpy(keys.rtcp_key, k.key, k.key_len);
      std::memcpy(keys.rtp_salt, k.salt, k.salt_len);
      std::memcpy(keys.rtcp_salt, k.salt, k.salt_len);
      ctx = std::make_unique<srtp::Context>();
      if (ctx->InitWithSessionKeys(k.profile, keys) != srtp::kOk) {
        ThrowSrtpCrypto(env);
        return env.Undefined();
      }
    } else {
      ctx = NewSrtpContext(env, k);
      if (!ctx) return env.Undefined();
    }
    std::size_t id;
    if (!free_.empty()) {
      id = free_.back();
      free_.pop_back();
      contexts_[id] = std::move(ctx);
    } else {
      id = contexts_.size();
      contexts_.push_back(std::move(ctx));
    }
    return Napi::Number::New(env, static_cast<double>(id));
  }

  // remove(id): frees the context (its keys are wiped); the id may be reused by add().
  Napi::Value Remove(const Napi::CallbackInfo& info) {
    std::size_t id;
    if (!ArgId(info, 0, &id)) return info.Env().Undefined();
    contexts_[id].reset();
    free_.push_back(id);
    return info.Env().Undefined();
  }

  // transform(op, id, buf: Uint8Array, offset, length, capacity) → new length or status < 0
  Napi::Value Transform(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::int64_t op = 0, offset = 0, length = 0, capacity = 0;
    std::size_t id;
    void* data = nullptr;
    std::size_t buf_len = 0;
    if (!ArgInt(info, 0, "op", kProtectRtp, kUnprotectRtcp, &op) || !ArgId(info, 1, &id) ||
        !ArgArray(info, 2, "buf", napi_uint8_array, &data, &buf_len) ||
        !ArgInt(info, 3, "offset", 0, static_cast<std::int64_t>(buf_len), &offset) ||
        !ArgInt(info, 4, "length", 0, static_cast<std::int64_t>(buf_len) - offset, &length) ||
        !ArgInt(info, 5, "capacity", length, static_cast<std::int64_t>(buf_len) - offset, &capacity)) {
      return env.Undefined();
    }
    std::size_t out = 0;
    std::uint8_t* p = static_cast<std::uint8_t*>(data) + offset;
    int rc = Run(contexts_[id].get(), static_cast<int>(op), p, static_cast<std::size_t>(length),
                 static_cast<std::size_t>(capacity), &out);
    return Napi::Number::New(env, rc == srtp::kOk ? static_cast<double>(out) : static_cast<double>(rc));
  }

  // transformBatch(op, arena: Uint8Array, offsets: Uint32Array, lengths: Uint32Array,
  //                ids: Int32Array, status: Int32Array, start, count) → packets done
  // Packet i (start <= i < start+count) is lengths[i] bytes at arena[offsets[i]], for context
  // ids[i]; a protect may grow it up to the end of the arena (the caller leaves room for the
  // tag after each packet). lengths[i] becomes the new length, status[i] 0 or an
  // srtp::Status (< 0; the packet is then unchanged for protect). Every index, id and range
  // is checked before any packet is touched.
  Napi::Value TransformBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::int64_t op = 0, start = 0, count = 0;
    void *arena = nullptr, *offsets = nullptr, *lengths = nullptr, *ids = nullptr, *status = nullptr;
    std::size_t arena_len = 0, n_off = 0, n_len = 0, n_ids = 0, n_status = 0;
    if (!ArgInt(info, 0, "op", kProtectRtp, kUnprotectRtcp, &op) ||
        !ArgArray(info, 1, "arena", napi_uint8_array, &arena, &arena_len) ||
        !ArgArray(info, 2, "offsets", napi_uint32_array, &offsets, &n_off) ||
        !ArgArray(info, 3, "lengths", napi_uint32_array, &lengths, &n_len) ||
        !ArgArray(info, 4, "ids", napi_int32_array, &ids, &n_ids) ||
        !ArgArray(info, 5, "status", napi_int32_array, &status, &n_status)) {
      return env.Undefined();
    }
    std::size_t n = n_off;
    if (n_len < n) n = n_len;
    if (n_ids < n) n = n_ids;
    if (n_status < n) n = n_status;
    if (!ArgInt(info, 6, "start", 0, static_cast<std::int64_t>(n), &start) ||
        !ArgInt(info, 7, "count", 0, static_cast<std::int64_t>(n) - start, &count)) {
      return env.Undefined();
    }
    auto* off = static_cast<std::uint32_t*>(offsets);
    auto* len = static_cast<std::uint32_t*>(lengths);
    auto* id = static_cast<std::int32_t*>(ids);
    auto* st = static_cast<std::int32_t*>(status);
    const auto s0 = static_cast<std::size_t>(start);
    const auto end = s0 + static_cast<std::size_t>(count);
    for (std::size_t i = s0; i < end; ++i) {
      if (std::size_t{off[i]} > arena_len || std::size_t{len[i]} > arena_len - off[i]) {
        char message[128];
        std::snprintf(message, sizeof message, "packet %zu lies outside the arena", i);
        ThrowRangeError(env, message);
        return env.Undefined();
      }
      if (id[i] < 0 || static_cast<std::size_t>(id[i]) >= contexts_.size() || !contexts_[static_cast<std::size_t>(id[i])]) {
        char message[128];
        std::snprintf(message, sizeof message, "packet %zu names no SRTP context (id %d)", i, id[i]);
        ThrowRangeError(env, message);
        return env.Undefined();
      }
    }
    auto* base = static_cast<std::uint8_t*>(arena);
    std::size_t done = 0;
    for (std::size_t i = s0; i < end; ++i) {
      std::size_t out = 0;
      int rc = Run(contexts_[static_cast<std::size_t>(id[i])].get(), static_cast<int>(op), base + off[i], len[i],
                   arena_len - off[i], &out);
      st[i] = rc;
      if (rc == srtp::kOk) {
        len[i] = static_cast<std::uint32_t>(out);
        ++done;
      }
    }
    return Napi::Number::New(env, static_cast<double>(done));
  }

  // setNextRtcpIndex(id, ssrc, index) → status (test vectors: RFC 7714 §17 uses 0x5d4)
  Napi::Value SetNextRtcpIndex(const Napi::CallbackInfo& info) {
    std::size_t id;
    std::int64_t ssrc = 0, index = 0;
    if (!ArgId(info, 0, &id) || !ArgInt(info, 1, "ssrc", 0, 0xffffffffLL, &ssrc) ||
        !ArgInt(info, 2, "index", 0, 0x7fffffffLL, &index)) {
      return info.Env().Undefined();
    }
    int rc = contexts_[id]->SetNextRtcpIndex(static_cast<std::uint32_t>(ssrc), static_cast<std::uint32_t>(index));
    return Napi::Number::New(info.Env(), rc);
  }

  // sessionKeys(id) → Uint8Array: rtp key(16) salt(14) auth(20), rtcp key(16) salt(14) auth(20).
  // TEST ONLY (RFC 3711 B.3 key derivation vector); never used by the library.
  Napi::Value SessionKeys(const Napi::CallbackInfo& info) {
    std::size_t id;
    if (!ArgId(info, 0, &id)) return info.Env().Undefined();
    const srtp::SessionKeys& k = contexts_[id]->session_keys();
    Napi::Uint8Array out = Napi::Uint8Array::New(info.Env(), 100);
    std::uint8_t* d = out.Data();
    std::memcpy(d, k.rtp_key, 16);
    std::memcpy(d + 16, k.rtp_salt, 14);
    std::memcpy(d + 30, k.rtp_auth, 20);
    std::memcpy(d + 50, k.rtcp_key, 16);
    std::memcpy(d + 66, k.rtcp_salt, 14);
    std::memcpy(d + 80, k.rtcp_auth, 20);
    return out;
  }

  // size() → contexts alive.
  Napi::Value Size(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(contexts_.size() - free_.size()));
  }

 private:
  bool ArgId(const Napi::CallbackInfo& info, std::size_t i, std::size_t* out) {
    std::int64_t v = 0;
    if (!ArgInt(info, i, "id", 0, kMaxContexts - 1, &v)) return false;
    const auto id = static_cast<std::size_t>(v);
    if (id >= contexts_.size() || !contexts_[id]) {
      ThrowRangeError(info.Env(), "no SRTP context with this id");
      return false;
    }
    *out = id;
    return true;
  }

  std::vector<std::unique_ptr<srtp::Context>> contexts_;
  std::vector<std::size_t> free_;
};

}  // namespace

bool ArgSrtpKeys(const Napi::CallbackInfo& info, std::size_t i, SrtpKeyArgs* out) {
  Napi::Env env = info.Env();
  std::int64_t profile = 0;
  void* key = nullptr;
  void* salt = nullptr;
  std::size_t key_len = 0, salt_len = 0;
  if (!ArgInt(info, i, "profile", 0, 0xffff, &profile)) return false;
  if (!srtp::IsSupported(static_cast<int>(profile))) {
    ThrowRangeError(env, "unsupported SRTP protection profile (supported: 0x0001 SRTP_AES128_CM_HMAC_SHA1_80, 0x0007 SRTP_AEAD_AES_128_GCM)");
    return false;
  }
  if (!ArgArray(info, i + 1, "masterKey", napi_uint8_array, &key, &key_len) ||
      !ArgArray(info, i + 2, "masterSalt", napi_uint8_array, &salt, &salt_len)) {
    return false;
  }
  const auto p = static_cast<srtp::Profile>(profile);
  if (key_len != srtp::kMasterKeyLength || salt_len != srtp::MasterSaltLength(p)) {
    ThrowRangeError(env, "wrong SRTP key or salt length for this profile (key 16 bytes; salt 14 bytes for AES-CM, 12 for GCM)");
    return false;
  }
  *out = {p, static_cast<const std::uint8_t*>(key), key_len, static_cast<const std::uint8_t*>(salt), salt_len};
  return true;
}

void ThrowSrtpCrypto(Napi::Env env) {
  Napi::Error error = Napi::Error::New(env, "OpenSSL failed to set up an SRTP context");
  error.Set("code", Napi::String::New(env, "ERR_SRTP_CRYPTO"));
  error.ThrowAsJavaScriptException();
}

std::unique_ptr<srtp::Context> NewSrtpContext(Napi::Env env, const SrtpKeyArgs& k) {
  auto ctx = std::make_unique<srtp::Context>();
  if (ctx->Init(k.profile, k.key, k.key_len, k.salt, k.salt_len) != srtp::kOk) {
    ThrowSrtpCrypto(env);
    return nullptr;
  }
  return ctx;
}

Napi::Function DefineSrtpTable(Napi::Env env) {
  return SrtpTable::DefineClass(env, "SrtpTable",
                                {
                                    SrtpTable::InstanceMethod<&SrtpTable::Add>("add"),
                                    SrtpTable::InstanceMethod<&SrtpTable::Remove>("remove"),
                                    SrtpTable::InstanceMethod<&SrtpTable::Transform>("transform"),
                                    SrtpTable::InstanceMethod<&SrtpTable::TransformBatch>("transformBatch"),
                                    SrtpTable::InstanceMethod<&SrtpTable::SetNextRtcpIndex>("setNextRtcpIndex"),
                                    SrtpTable::InstanceMethod<&SrtpTable::SessionKeys>("sessionKeys"),
                                    SrtpTable::InstanceMethod<&SrtpTable::Size>("size"),
                                });
}

}  // namespace dsn
