// See rtcp_intake.h; the JS contract is NativeRtcpIntake in src/native/binding.ts.
#include "rtcp_intake.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <unordered_map>
#include <vector>

#include "args.h"
#include "errors.h"
#include "sockaddr.h"
#include "srtp.h"
#include "srtp_table.h"
#include "wire.h"

namespace dsn {

namespace {

// Stats row of a peer (doubles; JS reads them through stats()).
constexpr std::size_t kLastHeard = 0;   // wall clock (Unix ms) of the last datagram taken
constexpr std::size_t kTaken = 1;       // datagrams taken for this peer
constexpr std::size_t kVideoAt = 2;     // wall clock of the last report block about the video SSRC (0: none)
constexpr std::size_t kAudioAt = 6;     // the same for the audio SSRC
// After kVideoAt / kAudioAt: fraction lost (0..255), cumulative lost (signed), jitter (RTP units).
constexpr std::size_t kFractionLost = 1;
constexpr std::size_t kPacketsLost = 2;
constexpr std::size_t kJitter = 3;
constexpr std::size_t kStride = 10;

// Counters (doubles; JS reads them through counters()). For RTCP datagrams from registered
// peers: OFFERED = TAKEN + PASSED + UNAUTHENTICATED.
constexpr std::size_t kOffered = 0;
constexpr std::size_t kTakenTotal = 1;
constexpr std::size_t kPassed = 2;           // left to JS: feedback, loss, not valid RTCP, GRO/truncated/too long
constexpr std::size_t kUnauthenticated = 3;  // left to JS: SRTCP unprotect failed here
constexpr std::size_t kCounters = 4;

constexpr std::size_t kMaxDatagram = 1500;
constexpr std::int64_t kMaxCapacity = 1 << 16;
constexpr std::int64_t kNoSsrc = -1;

// The type tag of RtcpIntake objects (napi_type_tag_object), so setIntake cannot be handed
// another wrapped object.
constexpr napi_type_tag kTag = {0x6f2b1c0d3e4a5968ULL, 0x8d7c6b5a49382716ULL};

// A peer's transport address: IPv6 (IPv4 as IPv4-mapped) and port.
struct PeerKey {
  std::uint8_t addr[16];
  std::uint16_t port;
  bool operator==(const PeerKey& o) const { return port == o.port && std::memcmp(addr, o.addr, 16) == 0; }
};
struct PeerKeyHash {
  std::size_t operator()(const PeerKey& k) const {
    std::uint64_t a, b;
    std::memcpy(&a, k.addr, 8);
    std::memcpy(&b, k.addr + 8, 8);
    std::uint64_t h = (a * 0x9e3779b97f4a7c15ULL) ^ (b * 0x632be59bd9b4e019ULL) ^ k.port;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    return static_cast<std::size_t>(h ^ (h >> 32));
  }
};

// The key of a sockaddr the kernel wrote (AF_INET or AF_INET6); false for another family.
bool KeyOf(const std::uint8_t* sa, PeerKey* key) {
  sa_family_t family;
  std::memcpy(&family, sa, sizeof family);
  if (family == AF_INET) {
    sockaddr_in in;
    std::memcpy(&in, sa, sizeof in);
    std::memset(key->addr, 0, 10);
    key->addr[10] = 0xff;
    key->addr[11] = 0xff;
    std::memcpy(key->addr + 12, &in.sin_addr, 4);
    key->port = ntohs(in.sin_port);
    return true;
  }
  if (family == AF_INET6) {
    sockaddr_in6 in6;
    std::memcpy(&in6, sa, sizeof in6);
    std::memcpy(key->addr, &in6.sin6_addr, 16);
    key->port = ntohs(in6.sin6_port);
    return true;
  }
  return false;
}

// One report block about one of the peer's SSRCs, as RFC 3550 §6.4.1 gives it.
struct Report {
  int kind;  // 0 video, 1 audio
  double fraction_lost;
  double packets_lost;
  double jitter;
};

enum class Verdict { kTake, kPass };

// Reads a plain compound RTCP packet (RFC 3550 §6.1 validity as src/rtcp/parse.ts checks it,
// padding refused) and decides whether native code may take it: only SR/RR/SDES/BYE/APP/XR
// packets and no loss reported on `video_ssrc`. On kTake, `reports[0..*n)` are the blocks
// about video_ssrc / audio_ssrc (at most `cap`; more are ignored).
Verdict Classify(const std::uint8_t* p, std::size_t len, std::int64_t video_ssrc, std::int64_t audio_ssrc,
                 Report* reports, std::size_t cap, std::size_t* n) {
  *n = 0;
  if (len < 4) return Verdict::kPass;
  std::size_t off = 0;
  while (off < len) {
    if (len - off < 4) return Verdict::kPass;
    const std::uint8_t b0 = p[off];
    if ((b0 >> 6) != 2 || (b0 & 0x20) != 0) return Verdict::kPass;  // version; padding: JS decides
    const std::size_t count = b0 & 0x1f;
    const std::uint8_t type = p[off + 1];
    const std::size_t size = ((std::size_t{p[off + 2]} << 8 | p[off + 3]) + 1) * 4;
    if (size > len - off) return Verdict::kPass;
    if (type == 200 || type == 201) {
      const std::size_t first = type == 200 ? 28 : 8;
      if (size < first + count * 24) return Verdict::kPass;
      for (std::size_t i = 0; i < count; ++i) {
        const std::uint8_t* b = p + off + first + i * 24;
        const std::int64_t ssrc = Get32(b);
        int kind = ssrc == video_ssrc ? 0 : ssrc == audio_ssrc ? 1 : -1;
        if (kind < 0) continue;
        if (kind == 0 && b[4] != 0) return Verdict::kPass;  // loss on video: the keyframe policy hears it
        std::int32_t lost = static_cast<std::int32_t>((std::uint32_t{b[5]} << 16) | (std::uint32_t{b[6]} << 8) | b[7]);
        if (lost & 0x800000) lost -= 0x1000000;
        if (*n < cap) reports[(*n)++] = {kind, static_cast<double>(b[4]), static_cast<double>(lost), static_cast<double>(Get32(b + 12))};
      }
    } else if (type < 200 || type > 207 || type == 205 || type == 206) {
      return Verdict::kPass;  // feedback (NACK, PLI, FIR, ...) or a type JS should see
    }
    off += size;
  }
  return Verdict::kTake;
}

double WallClockMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

}  // namespace

class RtcpIntake : public Napi::ObjectWrap<RtcpIntake> {
 public:
  // new RtcpIntake(capacity: number) — rows 0 .. capacity-1 (1 .. 65536).
  explicit RtcpIntake(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RtcpIntake>(info) {
    Napi::Env env = info.Env();
    std::int64_t capacity = 0;
    if (!ArgInt(info, 0, "capacity", 1, kMaxCapacity, &capacity)) return;
    if (napi_type_tag_object(env, info.This(), &kTag) != napi_ok) {
      ThrowInvalidState(env, "cannot tag the RtcpIntake object");
      return;
    }
    peers_.resize(static_cast<std::size_t>(capacity));
    stats_ = new SharedDoubles(static_cast<std::size_t>(capacity) * kStride);
    counters_ = new SharedDoubles(kCounters);
  }
  ~RtcpIntake() override {
    if (stats_ != nullptr) stats_->Release();
    if (counters_ != nullptr) counters_->Release();
  }

  // stats(): Float64Array | undefined — the capacity x STRIDE stats rows (see
  // RtcpIntakeConstants); undefined where the runtime allows no external buffers (then the
  // intake cannot be read and should not be used).
  Napi::Value Stats(const Napi::CallbackInfo& info) { return stats_->View(info.Env()); }
  // counters(): Float64Array | undefined — OFFERED, TAKEN, PASSED, UNAUTHENTICATED.
  Napi::Value Counters(const Napi::CallbackInfo& info) { return counters_->View(info.Env()); }

  // add(row, ip: string, port, profile, masterKey: Uint8Array, masterSalt: Uint8Array,
  //     videoSsrc: number (-1: none), audioSsrc: number (-1: none)): void — row takes in the
  // SRTCP the peer at ip:port protects with these master keys (the peer's DTLS-SRTP keys,
  // RFC 5764 §4.2). A row in use is replaced; another row that had this address loses it.
  // Its stats row is zeroed. Throws TypeError/RangeError for bad arguments (unknown row,
  // an ip that is not an IPv4/IPv6 literal, a key or salt of the wrong length, an
  // unsupported profile), nothing changed then.
  Napi::Value Add(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::size_t row = 0;
    PeerKey key{};
    std::int64_t video = 0, audio = 0;
    SrtpKeyArgs keys;
    if (!ArgRow(info, 0, &row) || !ArgPeer(info, 1, &key) || !ArgSrtpKeys(info, 3, &keys) ||
        !ArgInt(info, 6, "videoSsrc", kNoSsrc, 0xffffffffLL, &video) || !ArgInt(info, 7, "audioSsrc", kNoSsrc, 0xffffffffLL, &audio)) {
      return env.Undefined();
    }
    std::unique_ptr<srtp::Context> ctx = NewSrtpContext(env, keys);
    if (!ctx) return env.Undefined();
    Unmap(row);
    Peer& peer = peers_[row];
    peer.ctx = std::move(ctx);
    peer.video_ssrc = video;
    peer.audio_ssrc = audio;
    peer.used = true;
    Map(row, key);
    std::fill_n(stats_->data() + row * kStride, kStride, 0.0);
    return env.Undefined();
  }

  // setPeer(row, ip: string, port): void — the row's peer moved (another ICE pair). Throws
  // RangeError for a row not in use, TypeError/RangeError for a bad address.
  Napi::Value SetPeer(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::size_t row = 0;
    PeerKey key{};
    if (!ArgRow(info, 0, &row) || !ArgPeer(info, 1, &key)) return env.Undefined();
    if (!peers_[row].used) {
      ThrowRangeError(env, "no peer in this RtcpIntake row");
      return env.Undefined();
    }
    Unmap(row);
    Map(row, key);
    return env.Undefined();
  }

  // remove(row): void — nothing is taken for the row's peer any more; idempotent. RangeError
  // for a row outside the capacity.
  Napi::Value Remove(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::size_t row = 0;
    if (!ArgRow(info, 0, &row)) return env.Undefined();
    Unmap(row);
    peers_[row] = Peer{};
    return env.Undefined();
  }

  std::size_t Take(const RecvSlots& s, std::size_t count) {
    if (by_peer_.empty()) return count;
    std::size_t kept = 0;
    double now = 0;  // read once per batch, when the first datagram is taken
    for (std::size_t i = 0; i < count; ++i) {
      if (TakeOne(s, i, &now)) continue;
      if (kept != i) MoveSlot(s, i, kept);
      ++kept;
    }
    return kept;
  }

 private:
  struct Peer {
    std::unique_ptr<srtp::Context> ctx;
    std::int64_t video_ssrc = kNoSsrc;
    std::int64_t audio_ssrc = kNoSsrc;
    PeerKey key{};  // its address; by_peer_ maps it here unless a later row took it over
    bool used = false;
  };

  // Slot i of the batch: taken (its reports written to the peer's row, true) or left for JS.
  bool TakeOne(const RecvSlots& s, std::size_t i, double* now) {
    const std::uint8_t* data = s.arena + i * s.slot_size;
    const std::size_t len = s.lengths[i];
    if (len < 8 || (data[0] >> 6) != 2 || data[1] < 192 || data[1] > 223) return false;  // not RTCP (RFC 5761 §4)
    PeerKey key;
    if (!KeyOf(s.addrs + i * kSockaddrStride, &key)) return false;
    auto it = by_peer_.find(key);
    if (it == by_peer_.end()) return false;
    double* c = counters_->data();
    c[kOffered] += 1;
    if (len > kMaxDatagram || s.flags[i] != 0 || (s.seg_sizes != nullptr && s.seg_sizes[i] != 0)) {
      c[kPassed] += 1;
      return false;
    }
    const Peer& peer = peers_[it->second];
    std::size_t plain = 0;
    std::memcpy(scratch_, data, len);  // the datagram stays as it was for JS if not taken
    if (peer.ctx->UnprotectRtcp(scratch_, len, &plain) != srtp::kOk) {
      c[kUnauthenticated] += 1;
      return false;
    }
    Report reports[8];
    std::size_t n = 0;
    if (Classify(scratch_, plain, peer.video_ssrc, peer.audio_ssrc, reports, 8, &n) != Verdict::kTake) {
      c[kPassed] += 1;
      return false;
    }
    if (*now == 0) *now = WallClockMs();
    double* row = stats_->data() + it->second * kStride;
    row[kLastHeard] = *now;
    row[kTaken] += 1;
    for (std::size_t r = 0; r < n; ++r) {
      double* k = row + (reports[r].kind == 0 ? kVideoAt : kAudioAt);
      k[0] = *now;
      k[kFractionLost] = reports[r].fraction_lost;
      k[kPacketsLost] = reports[r].packets_lost;
      k[kJitter] = reports[r].jitter;
    }
    c[kTakenTotal] += 1;
    return true;
  }

  static void MoveSlot(const RecvSlots& s, std::size_t from, std::size_t to) {
    std::memmove(s.arena + to * s.slot_size, s.arena + from * s.slot_size, s.lengths[from]);
    s.lengths[to] = s.lengths[from];
    std::memcpy(s.addrs + to * kSockaddrStride, s.addrs + from * kSockaddrStride, kSockaddrStride);
    s.flags[to] = s.flags[from];
    if (s.seg_sizes != nullptr) s.seg_sizes[to] = s.seg_sizes[from];
  }

  // The row's address no longer maps to it (if it still did: a later row may own it now).
  void Unmap(std::size_t row) {
    if (!peers_[row].used) return;
    auto it = by_peer_.find(peers_[row].key);
    if (it != by_peer_.end() && it->second == row) by_peer_.erase(it);
  }
  // `key` maps to the row, taken from any row that had it.
  void Map(std::size_t row, const PeerKey& key) {
    by_peer_[key] = row;
    peers_[row].key = key;
  }

  bool ArgRow(const Napi::CallbackInfo& info, std::size_t i, std::size_t* out) {
    std::int64_t v = 0;
    if (!ArgInt(info, i, "row", 0, static_cast<std::int64_t>(peers_.size()) - 1, &v)) return false;
    *out = static_cast<std::size_t>(v);
    return true;
  }
  // info[i] an IPv4 or IPv6 literal, info[i + 1] a port (0 .. 65535).
  static bool ArgPeer(const Napi::CallbackInfo& info, std::size_t i, PeerKey* key) {
    char ip[kMaxIpLiteral];
    bool fits = false;
    std::int64_t port = 0;
    if (!ArgString(info, i, "ip", ip, sizeof ip, &fits) || !ArgInt(info, i + 1, "port", 0, 65535, &port)) return false;
    sockaddr_storage ss;
    socklen_t len = 0;
    if (!fits || EncodeSockaddr(AF_INET6, ip, static_cast<std::uint16_t>(port), &ss, &len) != 0 ||
        !KeyOf(reinterpret_cast<const std::uint8_t*>(&ss), key)) {
      ThrowTypeError(info.Env(), "ip must be an IPv4 or IPv6 address literal");
      return false;
    }
    return true;
  }

  std::vector<Peer> peers_;
  std::unordered_map<PeerKey, std::size_t, PeerKeyHash> by_peer_;
  SharedDoubles* stats_ = nullptr;
  SharedDoubles* counters_ = nullptr;
  std::uint8_t scratch_[kMaxDatagram];
};

RtcpIntake* UnwrapRtcpIntake(napi_env env, napi_value object) {
  bool tagged = false;
  if (napi_check_object_type_tag(env, object, &kTag, &tagged) != napi_ok || !tagged) return nullptr;
  return RtcpIntake::Unwrap(Napi::Object(env, object));
}

std::size_t TakeFromBatch(RtcpIntake* intake, const RecvSlots& slots, std::size_t count) {
  return intake->Take(slots, count);
}

Napi::Function DefineRtcpIntake(Napi::Env env) {
  return RtcpIntake::DefineClass(env, "RtcpIntake",
                                 {
                                     RtcpIntake::InstanceMethod<&RtcpIntake::Stats>("stats"),
                                     RtcpIntake::InstanceMethod<&RtcpIntake::Counters>("counters"),
                                     RtcpIntake::InstanceMethod<&RtcpIntake::Add>("add"),
                                     RtcpIntake::InstanceMethod<&RtcpIntake::SetPeer>("setPeer"),
                                     RtcpIntake::InstanceMethod<&RtcpIntake::Remove>("remove"),
                                 });
}

Napi::Object RtcpIntakeConstants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  auto set = [&](const char* name, std::size_t v) { c.Set(name, Napi::Number::New(env, static_cast<double>(v))); };
  set("STRIDE", kStride);
  set("LAST_HEARD", kLastHeard);
  set("TAKEN", kTaken);
  set("VIDEO_AT", kVideoAt);
  set("AUDIO_AT", kAudioAt);
  set("FRACTION_LOST", kFractionLost);
  set("PACKETS_LOST", kPacketsLost);
  set("JITTER", kJitter);
  set("OFFERED", kOffered);
  set("TAKEN_TOTAL", kTakenTotal);
  set("PASSED", kPassed);
  set("UNAUTHENTICATED", kUnauthenticated);
  set("COUNTERS", kCounters);
  set("MAX_DATAGRAM", kMaxDatagram);
  return c;
}

}  // namespace dsn
