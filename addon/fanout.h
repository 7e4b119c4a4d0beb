// RtpFanout: the relay's per-packet media path in native code, exposed to JS as the
// `RtpFanout` class of src/native/binding.ts (NativeRtpFanout; the checked wrapper is
// src/fanout/fanout.ts).
//
// One forward() call takes one ingest receive batch of a stream (the packets TypeScript
// accepted, as (offset, length, flags) triples over the receive arena) and, for each live
// output of that stream, output-major (all of one output's packets in order, then the
// next output), for each packet of the output's kind:
//   1. copies it into the send ring's arena (the shared WebRTC socket's own ring, handed in
//      per call, so werift's STUN/DTLS/RTCP datagrams queued on that socket keep their
//      order per peer),
//   2. rewrites the header exactly as rewriteRtpHeader (src/relay/output.ts): SSRC, payload
//      type keeping the marker bit, sequence number + offset mod 2^16, timestamp + offset
//      mod 2^32 (RFC 3550 §5.1),
//   3. protects it in place with the output's SRTP session (addon/srtp.h; RFC 3711 /
//      RFC 7714),
//   4. fills the next ring slot (offset, length, peer id) for the socket's sendmmsg path
//      (addon/send.cc), where runs of equal-size datagrams to one peer become GSO messages.
// Output-major order puts a frame's equal-size FU-A fragments to one viewer next to each
// other, so send.cc's GSO run detection needs no regrouping.
//   5. when the output's RTCP sender report is due (SR_DUE_AT, set by JS; 0 = none), queues
//      it after the output's packets of the batch: SR + SDES CNAME (RFC 3550 §6.4.1, §6.5.1)
//      with the output's packet/octet counts and the batch time's NTP/RTP timestamps,
//      SRTCP-protected with the session (RFC 3711 §3.4), then draws the next due time
//      0.5-1.5 s later (werift's interval) — no JS timer per viewer.
//
// Per-output state lives in a Float64Array shared with JS (kStride doubles per output,
// fields kField*): TypeScript writes flags/offsets/start index per batch and reads counters
// without a call per read. Packets that would exceed the path MTU after SRTP are counted
// (OVERSIZE) and not sent. A per-stream history of the last kHistory ingest packets and a
// per-output map of outgoing sequence numbers to them serve retransmit() (RTCP NACK,
// RFC 4585 §6.2.1) without storing the protected bytes per viewer.
//
// No allocation, promise or N-API crossing per packet: forward() and retransmit() resolve
// their arrays once per call. Threads: none (the JS thread of the env that created it).
#pragma once

#include <napi.h>

namespace dsn {

Napi::Function DefineRtpFanout(Napi::Env env);
// The layout constants (state fields, stride, io fields, packet flags) for src/native/binding.ts.
Napi::Object FanoutConstants(Napi::Env env);

}  // namespace dsn
