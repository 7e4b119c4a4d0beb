// See ingest_route.h. Mirrors src/relay/rtp.ts (parseRtpHeader), src/relay/source-lock.ts
// (the owner's contiguous packets), src/relay/h264.ts (keyframeMark, collectParameterSets)
// and RelayStream.checkDecodeOrder: a packet any of them would act on is not steady.
#include "ingest_route.h"

#include <sys/socket.h>

#include <cstring>

#include "sockaddr.h"
#include "wire.h"

namespace dsn {
namespace {

// The sender part of two sockaddr entries (kSockaddrStride bytes): family and port (bytes 0-3), then
// sockaddr_in's address (4-7) or sockaddr_in6's address and scope id (8-27); not the flow label.
bool SameSender(const std::uint8_t* a, const std::uint8_t* b) {
  if (std::memcmp(a, b, 4) != 0) return false;
  sa_family_t family;
  std::memcpy(&family, a, sizeof family);
  return family == AF_INET ? std::memcmp(a + 4, b + 4, 4) == 0 : std::memcmp(a + 8, b + 8, 20) == 0;
}

// The payload of an RTP packet as parseRtpHeader finds it; false where it returns null.
bool RtpPayload(const std::uint8_t* p, std::size_t len, std::size_t* off, std::size_t* end) {
  if (len < 12 || (p[0] >> 6) != 2) return false;
  const std::uint32_t pt = p[1] & 0x7f;
  if (pt >= 72 && pt <= 76) return false;  // RTCP on a muxed port
  std::size_t o = 12 + 4u * (p[0] & 0x0f);
  if (o > len) return false;
  if (p[0] & 0x10) {
    if (o + 4 > len) return false;
    o += 4 + 4u * ((std::size_t{p[o + 2]} << 8) | p[o + 3]);
    if (o > len) return false;
  }
  std::size_t e = len;
  if (p[0] & 0x20) {
    const std::size_t pad = p[len - 1];
    if (pad == 0 || o + pad > len) return false;
    e -= pad;
  }
  *off = o;
  *end = e;
  return true;
}

// Whether an H.264 payload (RFC 6184) is one the stream acts on: an SPS, PPS or IDR slice,
// a STAP-A (it may carry them), or the first fragment of an IDR slice.
bool H264Decision(const std::uint8_t* payload, std::size_t len) {
  if (len < 1) return false;
  const std::uint32_t type = payload[0] & 0x1f;
  if (type == 5 || type == 7 || type == 8 || type == 24) return true;
  return type == 28 && len >= 2 && (payload[1] & 0x80) != 0 && (payload[1] & 0x1f) == 5;
}

}  // namespace

bool ScanSteady(const double* state, const IngestSlots& in, std::vector<std::uint32_t>* packets, SteadyBatch* out) {
  packets->clear();
  *out = SteadyBatch{};
  const std::uint32_t armed = ToU32(state[kIngestArmed]);
  if (armed == 0 || in.count == 0) return false;
  const std::uint32_t pts[2] = {ToU32(state[kIngestVideoPt]), ToU32(state[kIngestAudioPt])};
  const std::size_t max_length = ToU32(state[kIngestMaxLength]);
  const auto* owners = reinterpret_cast<const std::uint8_t*>(state) + kIngestOwnerOffset;
  bool ts_check = state[kIngestKinds + kKindTsCheck] == 1;
  for (int k = 0; k < 2; ++k) {
    const double* ks = state + kIngestKinds + k * kIngestKindStride;
    out->next_seq[k] = ToU32(ks[kKindNextSeq]) & 0xffff;
    out->last_ts[k] = ToU32(ks[kKindLastTs]);
  }
  for (std::size_t s = 0; s < in.count; ++s) {
    const std::size_t slot_len = in.lengths[s];
    if ((in.flags[s] & 1) != 0 || slot_len == 0 || slot_len > in.slot_size) return false;
    // A GRO buffer (udp(7) UDP_GRO) holds consecutive datagrams of one sender, all of the
    // segment size but the last: each is checked and forwarded as a datagram of its own.
    const std::size_t g = in.seg_sizes != nullptr && in.seg_sizes[s] != 0 ? in.seg_sizes[s] : slot_len;
    const std::uint8_t* sender = in.addrs + s * kSockaddrStride;
    for (std::size_t at = 0; at < slot_len; at += g) {
      const std::size_t len = slot_len - at < g ? slot_len - at : g;
      if (len > max_length) return false;
      const std::uint8_t* p = in.arena + s * in.slot_size + at;
      std::size_t off = 0, end = 0;
      if (!RtpPayload(p, len, &off, &end)) return false;
      const std::uint32_t pt = p[1] & 0x7f;
      int k;
      if (pt == pts[0] && (armed & kIngestArmVideo)) {
        k = 0;
      } else if (pt == pts[1] && pt != pts[0] && (armed & kIngestArmAudio)) {
        k = 1;
      } else {
        return false;
      }
      const double* ks = state + kIngestKinds + k * kIngestKindStride;
      if (!SameSender(sender, owners + k * kSockaddrStride)) return false;
      if (Get32(p + 8) != ToU32(ks[kKindSsrc])) return false;
      const std::uint32_t seq = (std::uint32_t{p[2]} << 8) | p[3];
      if (seq != out->next_seq[k]) return false;
      const std::uint32_t ts = Get32(p + 4);
      if (k == 0) {
        if (H264Decision(p + off, end - off)) return false;
        // A frame whose timestamp is behind the previous packet's, in sequence: a B-frame.
        if (ts_check && ts != out->last_ts[0] && static_cast<std::int32_t>(ts - out->last_ts[0]) < 0) return false;
        ts_check = true;
      }
      out->next_seq[k] = (seq + 1) & 0xffff;
      out->last_ts[k] = ts;
      out->packets[k] += 1;
      out->bytes[k] += static_cast<double>(len);
      packets->push_back(static_cast<std::uint32_t>(s * in.slot_size + at));
      packets->push_back(static_cast<std::uint32_t>(len));
      packets->push_back(k == 0 ? kIngestPacketVideo : 0);
    }
  }
  return true;
}

void ApplySteady(double* state, const SteadyBatch& batch, double now) {
  for (int k = 0; k < 2; ++k) {
    if (batch.packets[k] == 0) continue;
    double* ks = state + kIngestKinds + k * kIngestKindStride;
    ks[kKindNextSeq] = batch.next_seq[k];
    ks[kKindLastTs] = batch.last_ts[k];
    ks[kKindPackets] += batch.packets[k];
    ks[kKindBytes] += batch.bytes[k];
    ks[kKindLastArrival] = now;
    if (k == 0) ks[kKindTsCheck] = 1;
  }
}

Napi::Object IngestConstants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  c.Set("ARMED", static_cast<double>(kIngestArmed));
  c.Set("VIDEO_PT", static_cast<double>(kIngestVideoPt));
  c.Set("AUDIO_PT", static_cast<double>(kIngestAudioPt));
  c.Set("MAX_LENGTH", static_cast<double>(kIngestMaxLength));
  c.Set("KINDS", static_cast<double>(kIngestKinds));
  c.Set("KIND_STRIDE", static_cast<double>(kIngestKindStride));
  c.Set("SSRC", static_cast<double>(kKindSsrc));
  c.Set("NEXT_SEQ", static_cast<double>(kKindNextSeq));
  c.Set("LAST_TS", static_cast<double>(kKindLastTs));
  c.Set("TS_CHECK", static_cast<double>(kKindTsCheck));
  c.Set("PACKETS", static_cast<double>(kKindPackets));
  c.Set("BYTES", static_cast<double>(kKindBytes));
  c.Set("LAST_ARRIVAL", static_cast<double>(kKindLastArrival));
  c.Set("ARM_VIDEO", static_cast<double>(kIngestArmVideo));
  c.Set("ARM_AUDIO", static_cast<double>(kIngestArmAudio));
  c.Set("OWNER_OFFSET", static_cast<double>(kIngestOwnerOffset));
  c.Set("STATE_BYTES", static_cast<double>(kIngestStateBytes));
  return c;
}

}  // namespace dsn
