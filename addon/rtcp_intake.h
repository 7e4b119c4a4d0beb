// RtcpIntake: the fast path's viewers' receiver reports taken in by native code in the
// receive loop, exposed to JS as the `RtcpIntake` class of src/native/binding.ts
// (NativeRtcpIntake; src/relay/inbound-rtcp.ts drives it).
//
// Why. A relay with 64 viewers receives ~128 SRTCP receiver reports a second on its shared
// WebRTC port, one or two per receive batch; handing each batch to JS (the socket's onRecv,
// the ICE mux's routing, the batch unprotect, the parse, the viewer's handler) cost ~12 % of
// the relay's CPU at 1 stream x 64 viewers (scripts/profile-relay.mjs), about 100 us per
// datagram, for what in the common case is four numbers to remember.
//
// What it takes. A socket with an intake attached (UdpSocket.setIntake) offers it every
// batch it reads, after the counters and before JS sees it (Take). A datagram is taken —
// removed from the batch, never delivered to JS — only when all of this holds:
//   - one datagram in its slot (no GRO buffer), not truncated, at most kMaxDatagram bytes;
//   - RTCP by RFC 5761 §4 demultiplexing (version 2, second byte 192..223);
//   - its sender's address and port are those of a registered peer (add/setPeer);
//   - it authenticates and decrypts as SRTCP with that peer's context (RFC 3711 §3.4,
//     RFC 7714 §9: srtp.h), into scratch memory — the datagram itself is left as it was;
//   - the plain compound is valid RTCP (RFC 3550 §6.1, as src/rtcp/parse.ts checks it: version
//     2 throughout, lengths that add up to the datagram, no padding) and holds only SR (200),
//     RR (201), SDES (202), BYE (203), APP (204) or XR (207) packets — no feedback (RTPFB
//     205, PSFB 206: NACK, PLI, FIR), which only JS acts on;
//   - no report block about the peer's video SSRC reports loss (fraction lost > 0: the
//     relay's keyframe policy in JS reacts to that at once).
// Anything else stays in the batch, in order, byte for byte, and JS handles it as before
// (its SRTCP unprotect keeps no replay state, so a datagram decrypted here and passed on is
// not harmed). A taken datagram updates the peer's row of the stats block, which JS reads
// without a call: last heard (wall clock, ms) and, per report block about the peer's video or
// audio SSRC, the time, fraction lost (0..255), cumulative packets lost (signed 24-bit) and
// interarrival jitter (RTP units) — what the relay's viewer kept from werift's parsed RR.
//
// Costs on the packet path: per datagram that looks like RTCP one hash lookup; per datagram
// taken a copy of <= 1500 bytes and one SRTCP unprotect; no allocation, no call into JS.
// Threads: none (the JS thread that owns the sockets).
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace dsn {

// The slots of one receive batch as the socket's ring holds them (recv.cc): slot i is
// lengths[i] bytes at arena + i * slot_size, from the sockaddr at addrs + i * kSockaddrStride,
// flags[i] 1 when truncated, seg_sizes[i] != 0 for a GRO buffer (seg_sizes may be null).
struct RecvSlots {
  std::uint8_t* arena;
  std::size_t slot_size;
  std::uint32_t* lengths;
  std::uint8_t* addrs;
  std::uint8_t* flags;
  std::uint32_t* seg_sizes;
};

class RtcpIntake;

// The intake behind a JS object made by the RtcpIntake class (type-tagged at construction),
// or nullptr for any other object.
RtcpIntake* UnwrapRtcpIntake(napi_env env, napi_value object);

// Offers the intake the `count` slots of a batch just read; the slots it takes are removed
// and the rest moved down, in order. Returns the slots left for JS (0..count).
std::size_t TakeFromBatch(RtcpIntake* intake, const RecvSlots& slots, std::size_t count);

Napi::Function DefineRtcpIntake(Napi::Env env);
// constants.rtcpIntake: the stats row layout and the counters' indices (src/native/binding.ts).
Napi::Object RtcpIntakeConstants(Napi::Env env);

}  // namespace dsn
