// Steady-state ingest: the common case of the relay's per-stream ingest policy
// (src/relay/stream.ts) in native code, so a receive batch that needs no decision is
// forwarded by the fan-out (addon/fanout.cc, forwardIngest) without a call into JS for it.
//
// A socket gets a route (UdpSocket setIngestRoute): the fan-out (its serial), the stream id
// in it, and the stream's ingest state, a kIngestStateBytes block of native memory that
// TypeScript arms and reads (src/relay/steady-ingest.ts; layout below). A batch is steady
// when every datagram in it
//   - is a whole datagram (not truncated; a GRO buffer counts as the datagrams it holds, as
//     src/socket/recv-batch.ts splits it) the RTP parser of src/relay/rtp.ts accepts, of at
//     most MAX_LENGTH bytes;
//   - has an armed kind's payload type (H.264 video or Opus audio), comes from that kind's
//     owner (the sender's sockaddr and SSRC) and carries exactly the next sequence number
//     (RFC 3550 A.1: a valid, contiguous packet of the locked source);
//   - for video, starts no keyframe and carries no parameter set (NAL unit types 5, 7, 8,
//     STAP-A 24, an FU-A starting an IDR slice: what h264.ts keyframeMark /
//     collectParameterSets act on), and its timestamp does not go back against the previous
//     packet's (a B-frame, which the stream reports).
// Anything else — a foreign sender, a gap, a keyframe, an RTCP packet — leaves the whole
// batch to TypeScript, which first folds what native code accepted (packets, bytes, the
// sequence number, timestamp and arrival time reached) into its source lock and counters.
// TypeScript disarms a kind whenever a decision is pending for it (a re-base, a werift
// viewer to feed, no owner yet) and re-arms it after the batch that settled it.
//
// Threads: none (the JS thread of the environment).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <napi.h>

#include "sockaddr.h"

namespace dsn {

// Doubles of the ingest state (byte offset = 8 * field).
enum IngestField : std::size_t {
  kIngestArmed = 0,      // bits: kIngestArmVideo, kIngestArmAudio (written by TS)
  kIngestVideoPt = 1,    // payload type of H.264 video (TS)
  kIngestAudioPt = 2,    // payload type of Opus audio (TS)
  kIngestMaxLength = 3,  // longest datagram forwarded natively, bytes (TS)
  kIngestKinds = 4,      // per kind (video = 0, audio = 1), kIngestKindStride doubles from
                         // kIngestKinds + kind * kIngestKindStride:
  kIngestKindStride = 8,
  kIngestStateDoubles = kIngestKinds + 2 * kIngestKindStride,
};
enum IngestKindField : std::size_t {
  kKindSsrc = 0,         // the owner's SSRC (TS)
  kKindNextSeq = 1,      // the sequence number the next packet must have (TS, then native)
  kKindLastTs = 2,       // timestamp of the last accepted packet (TS, then native)
  kKindTsCheck = 3,      // video: 1 = LAST_TS is the previous packet's, check for B-frames (TS, then native)
  kKindPackets = 4,      // packets accepted natively since TS last folded them (native; TS zeroes)
  kKindBytes = 5,        // their bytes (native; TS zeroes)
  kKindLastArrival = 6,  // arrival time of the last of them, ms (the forward's io NOW) (native)
};
constexpr std::uint32_t kIngestArmVideo = 1;
constexpr std::uint32_t kIngestArmAudio = 2;
// The fan-out's packet flag for video (fanout.cc kPacketVideo; audio packets have none).
constexpr std::uint32_t kIngestPacketVideo = 1;
// The owners' raw sockaddrs (kSockaddrStride bytes each, as encodePeer writes them and the
// receive ring holds them) follow the doubles: video's, then audio's.
constexpr std::size_t kIngestOwnerOffset = 8 * kIngestStateDoubles;
constexpr std::size_t kIngestStateBytes = kIngestOwnerOffset + 2 * kSockaddrStride;

// One receive batch as the socket's ring holds it.
struct IngestSlots {
  const std::uint8_t* arena = nullptr;
  std::size_t slot_size = 0;
  const std::uint32_t* lengths = nullptr;
  const std::uint8_t* addrs = nullptr;      // sockaddr entries, kSockaddrStride bytes each
  const std::uint8_t* flags = nullptr;      // bit 0: truncated
  const std::uint32_t* seg_sizes = nullptr; // GRO segment sizes, or nullptr
  std::size_t count = 0;                    // slots filled
};

// What a steady batch moves the state to (applied only once it was forwarded).
struct SteadyBatch {
  std::uint32_t packets[2] = {0, 0};
  double bytes[2] = {0, 0};
  std::uint32_t next_seq[2] = {0, 0};
  std::uint32_t last_ts[2] = {0, 0};
};

// Whether the batch is steady for `state` (see above); if so, `packets` holds its
// (offset, length, flags) triples over the arena as RtpFanout::forward takes them
// (cleared first; its capacity is reused) and `out` what applying it changes.
bool ScanSteady(const double* state, const IngestSlots& in, std::vector<std::uint32_t>* packets, SteadyBatch* out);
// Applies a forwarded steady batch: next sequence numbers, last timestamps, counts, arrival `now` (ms).
void ApplySteady(double* state, const SteadyBatch& batch, double now);

// The layout constants for src/native/binding.ts (INGEST).
Napi::Object IngestConstants(Napi::Env env);

}  // namespace dsn
