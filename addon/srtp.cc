// SRTP/SRTCP protect and unprotect with OpenSSL EVP (see srtp.h for the contract).
//
// Sources: RFC 3711 §3.3.1 (index estimation, Appendix A), §4.1.1 (AES-CM IV), §4.2
// (HMAC-SHA1 over the packet and the ROC), §4.3.1 (key derivation), §3.4 (SRTCP: E flag and
// 31-bit index); RFC 7714 §8.1 (SRTP IV), §9.1 (SRTCP IV and AAD), §7.2 (RTP AAD = header).
#include "srtp.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <climits>
#include <cstring>

namespace dsn {
namespace srtp {

namespace {

constexpr std::size_t kCmTag = 10;
constexpr std::size_t kGcmTag = 16;
static_assert(kGcmTag <= kMaxRtpOverhead && kCmTag <= kMaxRtpOverhead, "kMaxRtpOverhead bounds every profile");
constexpr std::size_t kSrtcpIndexLen = 4;
constexpr std::uint32_t kMaxSrtcpIndex = 0x7fffffffu;

// RFC 3711 §4.3.1 labels.
constexpr std::uint8_t kLabelRtpKey = 0x00;
constexpr std::uint8_t kLabelRtpAuth = 0x01;
constexpr std::uint8_t kLabelRtpSalt = 0x02;
constexpr std::uint8_t kLabelRtcpKey = 0x03;
constexpr std::uint8_t kLabelRtcpAuth = 0x04;
constexpr std::uint8_t kLabelRtcpSalt = 0x05;

inline std::uint32_t Load32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
}
inline std::uint16_t Load16(const std::uint8_t* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }
inline void Store32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

bool IsCm(Profile p) { return p == Profile::kAes128CmHmacSha1_80; }

// Length of the RTP header (fixed part, CSRCs, extension) of `len` bytes, or 0 if malformed.
std::size_t RtpHeaderLength(const std::uint8_t* p, std::size_t len) {
  if (len < 12 || (p[0] >> 6) != 2) return 0;
  std::size_t h = 12 + 4 * static_cast<std::size_t>(p[0] & 0x0f);
  if (p[0] & 0x10) {
    if (len < h + 4) return 0;
    h += 4 + 4 * static_cast<std::size_t>(Load16(p + h + 2));
  }
  return h <= len ? h : 0;
}

bool IsRtcp(const std::uint8_t* p, std::size_t len) { return len >= 8 && (p[0] >> 6) == 2; }

// RFC 3711 Appendix A: the rollover counter v to use with sequence number `seq`, given the
// current ROC and the highest sequence number s_l. A guess of ROC - 1 while ROC is 0 (a
// packet from before the first one) is clamped to 0, as werift and libsrtp senders do.
std::uint64_t EstimateRoc(std::uint32_t roc, std::uint16_t s_l, std::uint16_t seq) {
  std::int64_t v = roc;
  if (s_l < 32768) {
    if (static_cast<int>(seq) - static_cast<int>(s_l) > 32768) v = static_cast<std::int64_t>(roc) - 1;
  } else {
    if (static_cast<int>(s_l) - 32768 > static_cast<int>(seq)) v = static_cast<std::int64_t>(roc) + 1;
  }
  return v < 0 ? 0 : static_cast<std::uint64_t>(v);
}

}  // namespace

std::uint64_t Context::SsrcState::RocFor(std::uint16_t seq) const { return used ? EstimateRoc(roc, s_l, seq) : 0; }

void Context::SsrcState::Commit(std::uint64_t v, std::uint16_t seq) {
  if (!used) {
    used = true;
    roc = 0;
    s_l = seq;
  } else if (v == std::uint64_t{roc} + 1) {
    roc = static_cast<std::uint32_t>(v);
    s_l = seq;
  } else if (v == roc && seq > s_l) {
    s_l = seq;
  }
}

std::size_t MasterSaltLength(Profile p) {
  switch (p) {
    case Profile::kAes128CmHmacSha1_80:
      return 14;
    case Profile::kAeadAes128Gcm:
      return 12;
  }
  return 0;
}
std::size_t RtpOverhead(Profile p) { return IsCm(p) ? kCmTag : kGcmTag; }
std::size_t RtcpOverhead(Profile p) { return RtpOverhead(p) + kSrtcpIndexLen; }
bool IsSupported(int profile) {
  return profile == static_cast<int>(Profile::kAes128CmHmacSha1_80) || profile == static_cast<int>(Profile::kAeadAes128Gcm);
}

Context::SsrcState* Context::SsrcTable::Find(std::uint32_t ssrc) {
  if (last < count && entries[last].ssrc == ssrc) return &entries[last];
  for (std::size_t i = 0; i < count; ++i) {
    if (entries[i].ssrc == ssrc) {
      last = i;
      return &entries[i];
    }
  }
  return nullptr;
}

Context::SsrcState* Context::SsrcTable::FindOrAdd(std::uint32_t ssrc) {
  SsrcState* s = Find(ssrc);
  if (s) return s;
  if (count == kMaxSsrcs) return nullptr;
  s = &entries[count];
  *s = SsrcState{ssrc, 0, 0, false};
  last = count++;
  return s;
}

Context::~Context() {
  EVP_CIPHER_CTX_free(rtp_enc_);
  EVP_CIPHER_CTX_free(rtp_dec_);
  EVP_CIPHER_CTX_free(rtcp_enc_);
  EVP_CIPHER_CTX_free(rtcp_dec_);
  EVP_MAC_CTX_free(rtp_mac_);
  EVP_MAC_CTX_free(rtcp_mac_);
  OPENSSL_cleanse(&keys_, sizeof keys_);
}

// RFC 3711 §4.3.1-4.3.3 with key derivation rate 0: x = (label << 48) XOR master_salt, the
// salt left-aligned in 112 bits (a 12-byte GCM salt is zero-padded, RFC 7714 §11 and as
// libsrtp does); output = AES-CM keystream with IV x * 2^16 under the master key.
static int Derive(EVP_CIPHER_CTX* ctr, const std::uint8_t* salt, std::size_t salt_len, std::uint8_t label,
                  std::uint8_t* out, std::size_t out_len) {
  std::uint8_t iv[16] = {};
  std::memcpy(iv, salt, salt_len);
  iv[7] ^= label;
  std::memset(out, 0, out_len);
  int outl = 0;
  if (EVP_EncryptInit_ex(ctr, nullptr, nullptr, nullptr, iv) != 1) return kCryptoError;
  if (EVP_EncryptUpdate(ctr, out, &outl, out, static_cast<int>(out_len)) != 1) return kCryptoError;
  return kOk;
}

int Context::Init(Profile profile, const std::uint8_t* master_key, std::size_t key_len, const std::uint8_t* master_salt,
                  std::size_t salt_len) {
  if (ready_ || !IsSupported(static_cast<int>(profile)) || key_len != kMasterKeyLength ||
      salt_len != MasterSaltLength(profile)) {
    return kInvalidPacket;
  }
  profile_ = profile;
  EVP_CIPHER_CTX* kdf = EVP_CIPHER_CTX_new();
  if (!kdf) return kCryptoError;
  int rc = EVP_EncryptInit_ex(kdf, EVP_aes_128_ctr(), nullptr, master_key, nullptr) == 1 ? kOk : kCryptoError;
  if (rc == kOk) rc = Derive(kdf, master_salt, salt_len, kLabelRtpKey, keys_.rtp_key, sizeof keys_.rtp_key);
  if (rc == kOk) rc = Derive(kdf, master_salt, salt_len, kLabelRtpSalt, keys_.rtp_salt, sizeof keys_.rtp_salt);
  if (rc == kOk) rc = Derive(kdf, master_salt, salt_len, kLabelRtpAuth, keys_.rtp_auth, sizeof keys_.rtp_auth);
  if (rc == kOk) rc = Derive(kdf, master_salt, salt_len, kLabelRtcpKey, keys_.rtcp_key, sizeof keys_.rtcp_key);
  if (rc == kOk) rc = Derive(kdf, master_salt, salt_len, kLabelRtcpSalt, keys_.rtcp_salt, sizeof keys_.rtcp_salt);
  if (rc == kOk) rc = Derive(kdf, master_salt, salt_len, kLabelRtcpAuth, keys_.rtcp_auth, sizeof keys_.rtcp_auth);
  EVP_CIPHER_CTX_free(kdf);
  if (rc != kOk) return rc;
  return CreateContexts();
}

int Context::InitWithSessionKeys(Profile profile, const SessionKeys& keys) {
  if (ready_ || !IsSupported(static_cast<int>(profile))) return kInvalidPacket;
  profile_ = profile;
  keys_ = keys;
  return CreateContexts();
}

static EVP_MAC_CTX* NewHmacSha1(const std::uint8_t* key, std::size_t key_len) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (!mac) return nullptr;
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  EVP_MAC_free(mac);  // the context holds its own reference
  if (!ctx) return nullptr;
  char digest[] = "SHA1";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(ctx, key, key_len, params) != 1) {
    EVP_MAC_CTX_free(ctx);
    return nullptr;
  }
  return ctx;
}

static EVP_CIPHER_CTX* NewCipher(const EVP_CIPHER* cipher, const std::uint8_t* key, bool encrypt) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (!ctx) return nullptr;
  int ok = encrypt ? EVP_EncryptInit_ex(ctx, cipher, nullptr, key, nullptr)
                   : EVP_DecryptInit_ex(ctx, cipher, nullptr, key, nullptr);
  if (ok != 1) {
    EVP_CIPHER_CTX_free(ctx);
    return nullptr;
  }
  return ctx;
}

int Context::CreateContexts() {
  if (IsCm(profile_)) {
    rtp_enc_ = NewCipher(EVP_aes_128_ctr(), keys_.rtp_key, true);
    rtcp_enc_ = NewCipher(EVP_aes_128_ctr(), keys_.rtcp_key, true);
    rtp_mac_ = NewHmacSha1(keys_.rtp_auth, sizeof keys_.rtp_auth);
    rtcp_mac_ = NewHmacSha1(keys_.rtcp_auth, sizeof keys_.rtcp_auth);
    if (!rtp_enc_ || !rtcp_enc_ || !rtp_mac_ || !rtcp_mac_) return kCryptoError;
  } else {
    // GCM's default IV length is 12 bytes, the length RFC 7714 uses.
    rtp_enc_ = NewCipher(EVP_aes_128_gcm(), keys_.rtp_key, true);
    rtp_dec_ = NewCipher(EVP_aes_128_gcm(), keys_.rtp_key, false);
    rtcp_enc_ = NewCipher(EVP_aes_128_gcm(), keys_.rtcp_key, true);
    rtcp_dec_ = NewCipher(EVP_aes_128_gcm(), keys_.rtcp_key, false);
    if (!rtp_enc_ || !rtp_dec_ || !rtcp_enc_ || !rtcp_dec_) return kCryptoError;
  }
  ready_ = true;
  return kOk;
}

// AES-CM (RFC 3711 §4.1.1): IV = (salt * 2^16) XOR (SSRC * 2^64) XOR (index * 2^16).
int Context::CmCrypt(EVP_CIPHER_CTX* ctx, const std::uint8_t* salt, std::uint32_t ssrc, std::uint64_t index,
                     std::uint8_t* data, std::size_t len) {
  if (len == 0) return kOk;
  if (len > static_cast<std::size_t>(INT_MAX)) return kInvalidPacket;
  std::uint8_t iv[16];
  std::memcpy(iv, salt, 14);
  iv[14] = iv[15] = 0;
  iv[4] ^= static_cast<std::uint8_t>(ssrc >> 24);
  iv[5] ^= static_cast<std::uint8_t>(ssrc >> 16);
  iv[6] ^= static_cast<std::uint8_t>(ssrc >> 8);
  iv[7] ^= static_cast<std::uint8_t>(ssrc);
  for (int i = 0; i < 6; ++i) iv[8 + i] ^= static_cast<std::uint8_t>(index >> (40 - 8 * i));
  int outl = 0;
  if (EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, iv) != 1) return kCryptoError;
  if (EVP_EncryptUpdate(ctx, data, &outl, data, static_cast<int>(len)) != 1) return kCryptoError;
  return kOk;
}

int Context::HmacTag(EVP_MAC_CTX* mac, const std::uint8_t* data, std::size_t len, const std::uint8_t* extra,
                     std::size_t extra_len, std::uint8_t out[20]) {
  std::size_t outl = 0;
  // A NULL key restarts the MAC with the key set at Init (no re-keying).
  if (EVP_MAC_init(mac, nullptr, 0, nullptr) != 1) return kCryptoError;
  if (EVP_MAC_update(mac, data, len) != 1) return kCryptoError;
  if (extra_len && EVP_MAC_update(mac, extra, extra_len) != 1) return kCryptoError;
  if (EVP_MAC_final(mac, out, &outl, 20) != 1 || outl != 20) return kCryptoError;
  return kOk;
}

int Context::Gcm(EVP_CIPHER_CTX* ctx, bool encrypt, const std::uint8_t iv[12], const std::uint8_t* aad1,
                 std::size_t aad1_len, const std::uint8_t* aad2, std::size_t aad2_len, std::uint8_t* data,
                 std::size_t len, std::uint8_t* tag) {
  if (len > static_cast<std::size_t>(INT_MAX) || aad1_len > static_cast<std::size_t>(INT_MAX)) return kInvalidPacket;
  int outl = 0;
  std::uint8_t scratch[16];
  if (encrypt) {
    if (EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, iv) != 1) return kCryptoError;
    if (EVP_EncryptUpdate(ctx, nullptr, &outl, aad1, static_cast<int>(aad1_len)) != 1) return kCryptoError;
    if (aad2_len && EVP_EncryptUpdate(ctx, nullptr, &outl, aad2, static_cast<int>(aad2_len)) != 1) return kCryptoError;
    if (len && EVP_EncryptUpdate(ctx, data, &outl, data, static_cast<int>(len)) != 1) return kCryptoError;
    if (EVP_EncryptFinal_ex(ctx, scratch, &outl) != 1) return kCryptoError;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, static_cast<int>(kGcmTag), tag) != 1) return kCryptoError;
    return kOk;
  }
  if (EVP_DecryptInit_ex(ctx, nullptr, nullptr, nullptr, iv) != 1) return kCryptoError;
  if (EVP_DecryptUpdate(ctx, nullptr, &outl, aad1, static_cast<int>(aad1_len)) != 1) return kCryptoError;
  if (aad2_len && EVP_DecryptUpdate(ctx, nullptr, &outl, aad2, static_cast<int>(aad2_len)) != 1) return kCryptoError;
  if (len && EVP_DecryptUpdate(ctx, data, &outl, data, static_cast<int>(len)) != 1) return kCryptoError;
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, static_cast<int>(kGcmTag), tag) != 1) return kCryptoError;
  return EVP_DecryptFinal_ex(ctx, scratch, &outl) == 1 ? kOk : kAuthFailed;
}

// RFC 7714 §8.1: IV = (00 00 || SSRC || ROC || SEQ) XOR salt (12 bytes).
static void GcmRtpIv(const std::uint8_t* salt, std::uint32_t ssrc, std::uint32_t roc, std::uint16_t seq,
                     std::uint8_t iv[12]) {
  iv[0] = iv[1] = 0;
  Store32(iv + 2, ssrc);
  Store32(iv + 6, roc);
  iv[10] = static_cast<std::uint8_t>(seq >> 8);
  iv[11] = static_cast<std::uint8_t>(seq);
  for (int i = 0; i < 12; ++i) iv[i] ^= salt[i];
}

// RFC 7714 §9.1: IV = (00 00 || SSRC || 00 00 || 0 || 31-bit index) XOR salt.
static void GcmRtcpIv(const std::uint8_t* salt, std::uint32_t ssrc, std::uint32_t index, std::uint8_t iv[12]) {
  iv[0] = iv[1] = 0;
  Store32(iv + 2, ssrc);
  iv[6] = iv[7] = 0;
  Store32(iv + 8, index & kMaxSrtcpIndex);
  for (int i = 0; i < 12; ++i) iv[i] ^= salt[i];
}

int Context::ProtectRtp(std::uint8_t* p, std::size_t len, std::size_t cap, std::size_t* out_len) {
  if (!ready_) return kNotInitialized;
  const std::size_t h = RtpHeaderLength(p, len);
  if (h == 0) return kInvalidPacket;
  const std::size_t tag = RtpOverhead(profile_);
  if (cap < len || cap - len < tag) return kNoRoom;
  const std::uint16_t seq = Load16(p + 2);
  const std::uint32_t ssrc = Load32(p + 8);
  SsrcState* s = tx_rtp_.FindOrAdd(ssrc);
  if (!s) return kTooManySsrcs;
  const std::uint64_t v = s->RocFor(seq);
  if (v > 0xffffffffu) return kIndexExhausted;
  const std::uint32_t roc = static_cast<std::uint32_t>(v);
  int rc;
  if (IsCm(profile_)) {
    const std::uint64_t index = (std::uint64_t{roc} << 16) | seq;
    rc = CmCrypt(rtp_enc_, keys_.rtp_salt, ssrc, index, p + h, len - h);
    if (rc != kOk) return rc;
    std::uint8_t roc_be[4];
    Store32(roc_be, roc);
    std::uint8_t mac[20];
    rc = HmacTag(rtp_mac_, p, len, roc_be, 4, mac);
    if (rc != kOk) return rc;
    std::memcpy(p + len, mac, kCmTag);
  } else {
    std::uint8_t iv[12];
    GcmRtpIv(keys_.rtp_salt, ssrc, roc, seq, iv);
    rc = Gcm(rtp_enc_, true, iv, p, h, nullptr, 0, p + h, len - h, p + len);
    if (rc != kOk) return rc;
  }
  s->Commit(v, seq);
  *out_len = len + tag;
  return kOk;
}

int Context::UnprotectRtp(std::uint8_t* p, std::size_t len, std::size_t* out_len) {
  if (!ready_) return kNotInitialized;
  const std::size_t tag = RtpOverhead(profile_);
  if (len < 12 + tag) return kInvalidPacket;
  const std::size_t body = len - tag;
  const std::size_t h = RtpHeaderLength(p, body);
  if (h == 0) return kInvalidPacket;
  const std::uint16_t seq = Load16(p + 2);
  const std::uint32_t ssrc = Load32(p + 8);
  SsrcState* s = rx_rtp_.Find(ssrc);
  if (!s && rx_rtp_.count == kMaxSsrcs) return kTooManySsrcs;
  const std::uint64_t v = s ? s->RocFor(seq) : 0;
  if (v > 0xffffffffu) return kIndexExhausted;
  const std::uint32_t roc = static_cast<std::uint32_t>(v);
  int rc;
  if (IsCm(profile_)) {
    std::uint8_t roc_be[4];
    Store32(roc_be, roc);
    std::uint8_t mac[20];
    rc = HmacTag(rtp_mac_, p, body, roc_be, 4, mac);
    if (rc != kOk) return rc;
    if (CRYPTO_memcmp(mac, p + body, kCmTag) != 0) return kAuthFailed;
    rc = CmCrypt(rtp_enc_, keys_.rtp_salt, ssrc, (std::uint64_t{roc} << 16) | seq, p + h, body - h);
    if (rc != kOk) return rc;
  } else {
    std::uint8_t iv[12];
    GcmRtpIv(keys_.rtp_salt, ssrc, roc, seq, iv);
    rc = Gcm(rtp_dec_, false, iv, p, h, nullptr, 0, p + h, body - h, p + body);
    if (rc != kOk) return rc;
  }
  if (!s) s = rx_rtp_.FindOrAdd(ssrc);  // room checked above
  s->Commit(v, seq);
  *out_len = body;
  return kOk;
}

int Context::ProtectRtcp(std::uint8_t* p, std::size_t len, std::size_t cap, std::size_t* out_len) {
  if (!ready_) return kNotInitialized;
  if (!IsRtcp(p, len)) return kInvalidPacket;
  const std::size_t over = RtcpOverhead(profile_);
  if (cap < len || cap - len < over) return kNoRoom;
  const std::uint32_t ssrc = Load32(p + 4);
  SsrcState* s = tx_rtcp_.FindOrAdd(ssrc);
  if (!s) return kTooManySsrcs;
  const std::uint32_t index = s->roc;
  if (index > kMaxSrtcpIndex) return kIndexExhausted;
  const std::uint32_t e_index = 0x80000000u | index;  // E = 1: the payload is encrypted
  int rc;
  if (IsCm(profile_)) {
    rc = CmCrypt(rtcp_enc_, keys_.rtcp_salt, ssrc, index, p + 8, len - 8);
    if (rc != kOk) return rc;
    Store32(p + len, e_index);
    std::uint8_t mac[20];
    rc = HmacTag(rtcp_mac_, p, len + kSrtcpIndexLen, nullptr, 0, mac);
    if (rc != kOk) return rc;
    std::memcpy(p + len + kSrtcpIndexLen, mac, kCmTag);
  } else {
    std::uint8_t iv[12];
    GcmRtcpIv(keys_.rtcp_salt, ssrc, index, iv);
    std::uint8_t e_be[4];
    Store32(e_be, e_index);
    rc = Gcm(rtcp_enc_, true, iv, p, 8, e_be, 4, p + 8, len - 8, p + len);
    if (rc != kOk) return rc;
    std::memcpy(p + len + kGcmTag, e_be, 4);
  }
  s->used = true;
  s->roc = index + 1;
  *out_len = len + over;
  return kOk;
}

int Context::UnprotectRtcp(std::uint8_t* p, std::size_t len, std::size_t* out_len) {
  if (!ready_) return kNotInitialized;
  const std::size_t over = RtcpOverhead(profile_);
  if (len < 8 + over || !IsRtcp(p, len)) return kInvalidPacket;
  const std::uint32_t ssrc = Load32(p + 4);
  int rc;
  std::size_t body;
  if (IsCm(profile_)) {
    // packet || E+index || tag(10)
    body = len - over;
    const std::size_t auth_len = len - kCmTag;
    std::uint8_t mac[20];
    rc = HmacTag(rtcp_mac_, p, auth_len, nullptr, 0, mac);
    if (rc != kOk) return rc;
    if (CRYPTO_memcmp(mac, p + auth_len, kCmTag) != 0) return kAuthFailed;
    const std::uint32_t e_index = Load32(p + body);
    if (e_index & 0x80000000u) {
      rc = CmCrypt(rtcp_enc_, keys_.rtcp_salt, ssrc, e_index & kMaxSrtcpIndex, p + 8, body - 8);
      if (rc != kOk) return rc;
    }
  } else {
    // packet || tag(16) || E+index
    body = len - over;
    const std::uint8_t* e_be = p + len - kSrtcpIndexLen;
    const std::uint32_t e_index = Load32(e_be);
    std::uint8_t iv[12];
    GcmRtcpIv(keys_.rtcp_salt, ssrc, e_index & kMaxSrtcpIndex, iv);
    if (e_index & 0x80000000u) {
      rc = Gcm(rtcp_dec_, false, iv, p, 8, e_be, 4, p + 8, body - 8, p + body);
    } else {
      // RFC 7714 §9.2: unencrypted SRTCP authenticates the whole packet as AAD.
      rc = Gcm(rtcp_dec_, false, iv, p, body, e_be, 4, nullptr, 0, p + body);
    }
    if (rc != kOk) return rc;
  }
  *out_len = body;
  return kOk;
}

int Context::SetNextRtcpIndex(std::uint32_t ssrc, std::uint32_t index) {
  if (index > kMaxSrtcpIndex) return kIndexExhausted;
  SsrcState* s = tx_rtcp_.FindOrAdd(ssrc);
  if (!s) return kTooManySsrcs;
  s->used = true;
  s->roc = index;
  return kOk;
}

}  // namespace srtp
}  // namespace dsn
