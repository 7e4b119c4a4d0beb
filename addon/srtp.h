// SRTP/SRTCP crypto contexts (RFC 3711, RFC 7714), pure C++ with no N-API: the N-API
// wrapper is srtp_table.cc, and the native RTP fan-out calls Context directly per packet,
// inside one batch call, on bytes it already holds.
//
// Profiles (IANA DTLS-SRTP protection profile ids, RFC 5764 §4.1.2 / RFC 7714 §14.2):
//   kAes128CmHmacSha1_80 (0x0001): AES-128 counter mode + HMAC-SHA1, 80-bit tag (RFC 3711
//     §4.1.1, §4.2). Master key 16 bytes, master salt 14 bytes. RTP +10 bytes, RTCP +14.
//   kAeadAes128Gcm (0x0007): AES-128-GCM, 128-bit tag (RFC 7714). Master key 16 bytes,
//     master salt 12 bytes. RTP +16 bytes, RTCP +20.
// Session keys come from the master key/salt through the AES-CM PRF of RFC 3711 §4.3
// (key derivation rate 0: derived once, at Init).
//
// Crypto: OpenSSL's EVP as linked into Node itself (the headers ship with Node, the
// symbols are exported by the node binary; nothing else is linked). Every cipher/MAC
// context is created once, at Init; a packet only sets a new IV (cipher) or restarts the
// MAC with the key it already holds. Nothing here allocates after Init.
//
// A Context is one direction of one SRTP session: protect what you send with one, unprotect
// what you receive with another (built from the peer's keys). It keeps a rollover counter
// per SSRC (up to kMaxSsrcs SSRCs per direction): packets to protect and packets to
// unprotect have separate tables, so one Context can do both (tests do).
//
// Not implemented (documented limits): MKI, key derivation rate > 0, replay protection on
// unprotect (RFC 3711 §3.3.2; callers that need it keep a window above this), header
// extension encryption (RFC 6904) and cryptex. An SRTCP index wraps to 0 only after 2^31
// packets per SSRC: protect then fails with kIndexExhausted (re-key, RFC 3711 §9.2).
#pragma once

#include <cstddef>
#include <cstdint>

// Opaque OpenSSL types (openssl/types.h), so users of this header need no OpenSSL headers.
struct evp_cipher_ctx_st;
struct evp_mac_ctx_st;

namespace dsn {
namespace srtp {

enum class Profile : int {
  kAes128CmHmacSha1_80 = 0x0001,
  kAeadAes128Gcm = 0x0007,
};

// Result of a protect/unprotect: kOk, or one of these negative values (the N-API layer
// returns them as is; src/srtp/ maps them to error codes).
enum Status : int {
  kOk = 0,
  kInvalidPacket = -1,    // too short, not RTP version 2, header longer than the packet
  kNoRoom = -2,           // capacity < length + overhead
  kAuthFailed = -3,       // tag mismatch (wrong key, tampered packet, wrong index)
  kCryptoError = -4,      // OpenSSL failed (should not happen once Init succeeded)
  kTooManySsrcs = -5,     // more than kMaxSsrcs SSRCs in one direction
  kIndexExhausted = -6,   // SRTCP index or SRTP packet index would wrap: re-key
  kNotInitialized = -7,
};

constexpr std::size_t kMaxSsrcs = 64;
constexpr std::size_t kMasterKeyLength = 16;

// Master salt length of a profile (14 or 12 bytes), 0 for an unknown profile.
std::size_t MasterSaltLength(Profile p);
// Bytes protect adds to an RTP packet (10 or 16) / to an RTCP packet (14 or 20).
std::size_t RtpOverhead(Profile p);
std::size_t RtcpOverhead(Profile p);
// The most RtpOverhead is for any profile (GCM's tag), bytes.
constexpr std::size_t kMaxRtpOverhead = 16;
bool IsSupported(int profile);

// Session keys as derived (RFC 3711 §4.3.1); exposed for the RFC 3711 B.3 test vector.
struct SessionKeys {
  std::uint8_t rtp_key[16];
  std::uint8_t rtp_salt[14];  // 12 used by GCM
  std::uint8_t rtp_auth[20];  // CM only
  std::uint8_t rtcp_key[16];
  std::uint8_t rtcp_salt[14];
  std::uint8_t rtcp_auth[20];
};

class Context {
 public:
  Context() = default;
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // Derives the session keys from a master key (16 bytes) and salt (MasterSaltLength bytes)
  // and creates the cipher/MAC contexts. Returns kOk, kInvalidPacket for wrong lengths or an
  // unknown profile, kCryptoError if OpenSSL fails. May be called once.
  int Init(Profile profile, const std::uint8_t* master_key, std::size_t key_len, const std::uint8_t* master_salt,
           std::size_t salt_len);
  // Test vectors (RFC 3711 B.2, RFC 7714 §16-17) publish session keys, not master keys:
  // uses `keys` as the session keys for RTP and RTCP alike, without derivation.
  int InitWithSessionKeys(Profile profile, const SessionKeys& keys);

  Profile profile() const { return profile_; }
  const SessionKeys& session_keys() const { return keys_; }

  // In place: `packet` holds `length` bytes of plain RTP (or RTCP) and has room for
  // `capacity` bytes; on kOk `*out_length` is the protected length (length + overhead).
  // On any error the bytes are unchanged and no state moved.
  int ProtectRtp(std::uint8_t* packet, std::size_t length, std::size_t capacity, std::size_t* out_length);
  int ProtectRtcp(std::uint8_t* packet, std::size_t length, std::size_t capacity, std::size_t* out_length);
  // In place: on kOk `*out_length` is the plain length. On kAuthFailed the packet may hold
  // garbage (GCM decrypts before the tag check); no state moved.
  int UnprotectRtp(std::uint8_t* packet, std::size_t length, std::size_t* out_length);
  int UnprotectRtcp(std::uint8_t* packet, std::size_t length, std::size_t* out_length);

  // The SRTCP index the next ProtectRtcp of `ssrc` uses (tests: RFC 7714 §17 uses 0x5d4).
  int SetNextRtcpIndex(std::uint32_t ssrc, std::uint32_t index);

 private:
  struct SsrcState {
    std::uint32_t ssrc;
    std::uint32_t roc;       // rollover counter (RTP); SRTCP: next index
    std::uint16_t s_l;       // highest sequence number seen (RTP)
    bool used;
    // RTP: the rollover counter v for `seq` (RFC 3711 Appendix A; 0 before the first packet).
    std::uint64_t RocFor(std::uint16_t seq) const;
    // RTP: after a packet with (v, seq) was protected or authenticated, RFC 3711 §3.3.1's
    // update; the first packet starts the stream at ROC 0, s_l = seq.
    void Commit(std::uint64_t v, std::uint16_t seq);
  };
  struct SsrcTable {
    SsrcState entries[kMaxSsrcs];
    std::size_t count = 0;
    std::size_t last = 0;
    SsrcState* Find(std::uint32_t ssrc);
    SsrcState* FindOrAdd(std::uint32_t ssrc);  // nullptr when full
  };

  int CreateContexts();
  int CmCrypt(evp_cipher_ctx_st* ctx, const std::uint8_t* salt, std::uint32_t ssrc, std::uint64_t index,
              std::uint8_t* data, std::size_t len);
  int HmacTag(evp_mac_ctx_st* mac, const std::uint8_t* data, std::size_t len, const std::uint8_t* extra,
              std::size_t extra_len, std::uint8_t out[20]);
  // AES-128-GCM over `data` in place with AAD = aad1 || aad2; encrypt writes the 16-byte
  // tag to `tag`, decrypt checks it (kAuthFailed).
  int Gcm(evp_cipher_ctx_st* ctx, bool encrypt, const std::uint8_t iv[12], const std::uint8_t* aad1,
          std::size_t aad1_len, const std::uint8_t* aad2, std::size_t aad2_len, std::uint8_t* data, std::size_t len,
          std::uint8_t* tag);

  Profile profile_ = Profile::kAes128CmHmacSha1_80;
  bool ready_ = false;
  SessionKeys keys_{};
  // CM: ctr contexts for RTP and RTCP (CTR encrypt == decrypt). GCM: encrypt and decrypt
  // contexts for RTP and RTCP.
  evp_cipher_ctx_st* rtp_enc_ = nullptr;
  evp_cipher_ctx_st* rtp_dec_ = nullptr;
  evp_cipher_ctx_st* rtcp_enc_ = nullptr;
  evp_cipher_ctx_st* rtcp_dec_ = nullptr;
  evp_mac_ctx_st* rtp_mac_ = nullptr;
  evp_mac_ctx_st* rtcp_mac_ = nullptr;
  SsrcTable tx_rtp_;
  SsrcTable rx_rtp_;
  SsrcTable tx_rtcp_;
};

}  // namespace srtp
}  // namespace dsn
