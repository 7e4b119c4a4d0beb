// See fanout.h. The JS contract is NativeRtpFanout in src/native/binding.ts.
#include "fanout.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "errors.h"
#include "ingest_route.h"
#include "recv_dispatch.h"
#include "srtp.h"
#include "srtp_table.h"
#include "udp_socket.h"
#include "wire.h"

namespace dsn {

namespace {

// Per-output fields of the shared state array (doubles; u32 values are exact in a double).
// JS writes FLAGS, SSRC, PAYLOAD_TYPE, SEQ_OFFSET, TS_OFFSET, START (and the initial
// LAST_SEQ/LAST_TS); native writes the rest and resets START to 0 once the output's part of
// a forward() is done.
enum Field : std::size_t {
  kFlags = 0,        // bit 0 LIVE: forward packets (0 = gated); bit 1 STARTING: goes live at START in this batch
  kSsrc = 1,         // outgoing SSRC, u32
  kPayloadType = 2,  // outgoing payload type, 0-127 (the marker bit is kept)
  kSeqOffset = 3,    // added to the ingest sequence number, mod 2^16
  kTsOffset = 4,     // added to the ingest timestamp, mod 2^32
  kStart = 5,        // first packet index of the next forward() this output takes
  kLastSeq = 6,      // outgoing sequence number of the last packet queued
  kLastTs = 7,       // outgoing RTP timestamp of the last packet queued
  kPackets = 8,      // RTP packets queued (RFC 3550 SR sender's packet count; retransmissions not counted)
  kOctets = 9,       // RTP payload octets queued (SR sender's octet count)
  kLastSentAt = 10,  // `now` (io NOW, ms) of the forward() that queued the last packet
  kDropped = 11,     // packets not queued: the send queue was full
  kOversize = 12,    // packets not queued: longer than the path MTU after SRTP
  kRetransmitted = 13,  // packets queued again by retransmit()
  kErrors = 14,      // SRTP protect failures (packet not sent)
  kBytes = 15,       // protected bytes queued (retransmissions included)
  kSrDueAt = 16,     // JS: wall clock (Unix ms, the clock of io NOW) the next sender report is due; 0 = none from here
  kClockRate = 17,   // JS: RTP clock rate, Hz (the sender report's RTP timestamp)
  kSenderReports = 18,  // sender reports queued by the fan-out (SenderReportInto)
  kStride = 20,
};
constexpr std::uint32_t kFlagLive = 1;
constexpr std::uint32_t kFlagStarting = 2;  // START names this batch's first packet (INJECTED packets go only to these)

// io: per-call parameters and results (Float64Array of kIoLength).
enum Io : std::size_t {
  kIoSlot = 0,           // in: ring slot the first produced datagram goes to
  kIoSlots = 1,          // in: free slots from there (wrapping at the ring capacity)
  kIoArenaOff = 2,       // in: arena offset where produced bytes start
  kIoArenaEnd = 3,       // in: end of the contiguous arena region that may be written
  kIoNow = 4,            // in: time of the batch, ms (stored in LAST_SENT_AT)
  kIoDrop = 5,           // in: 1 = what does not fit is counted as dropped; 0 = stop and resume later
  kIoCursorOutput = 6,   // in/out: where a stopped forward() resumes (0, 0 = a new batch)
  kIoCursorPacket = 7,
  kIoMtu = 8,            // in: largest protected datagram, bytes
  kIoProduced = 9,       // out: slots filled
  kIoBytes = 10,         // out: arena bytes used
  kIoDone = 11,          // out: 1 = the batch is finished, 0 = stopped for room (resume with the cursor)
  kIoDropped = 12,       // out: packets dropped for room
  kIoOversize = 13,      // out: packets over the MTU
  kIoMisses = 14,        // out (retransmit): sequence numbers no longer (or never) in the history
  kIoErrors = 15,        // out: SRTP failures
  kIoNeedSlots = 16,     // out (forwardIngest): slots the first batch that did not fit needs (0: all fitted)
  kIoNeedBytes = 17,     // out (forwardIngest): arena bytes it needs
  kIoLength = 18,
};

// Packet descriptor flags (third u32 of each (offset, length, flags) triple).
constexpr std::uint32_t kPacketVideo = 1;     // video; else audio (an output takes one kind)
constexpr std::uint32_t kPacketInjected = 2;  // sent only to STARTING outputs whose START is this index (SPS/PPS before an IDR)
constexpr std::uint32_t kPacketExtra = 4;     // the packet's bytes are in `extra`, not `src` (packets the relay made)
static_assert(kPacketVideo == kIngestPacketVideo, "ingest_route.cc writes the fan-out's video flag");

constexpr std::size_t kHistory = 512;      // ingest packets kept per stream, outgoing seqs mapped per output
constexpr std::size_t kHistorySlot = 1200; // bytes kept per ingest packet (larger ones can never go out)
constexpr std::size_t kMaxOutputs = 1 << 16;
constexpr std::size_t kMaxStreams = 1 << 16;
constexpr std::size_t kMaxSessions = 1 << 16;
constexpr std::int64_t kMaxBatches = 1 << 16;
constexpr std::size_t kRtpHeader = 12;

// Sender report intervals: 500 + U[0, 1) x 1000 ms, as werift's RTCRtpSender draws them
// (RFC 3550 §6.3.1 randomises the interval to [0.5, 1.5] x the nominal one).
constexpr double kSrIntervalMinMs = 500;
constexpr double kSrIntervalSpreadMs = 1000;
constexpr double kNtpUnixOffsetS = 2208988800.0;  // 1900-01-01 to 1970-01-01
constexpr std::size_t kSrBytes = 28;              // SR header, SSRC, sender info; no report blocks
constexpr std::size_t kMaxCname = 255;

// Bytes of SR + SDES CNAME with a CNAME of `cname_len` bytes (0: the SR alone): the SDES
// chunk holds the item (2 + text), at least one null octet, padded to 32 bits.
constexpr std::size_t SenderReportLength(std::size_t cname_len) {
  return cname_len == 0 ? kSrBytes : kSrBytes + 8 + ((2 + cname_len + 1 + 3) & ~std::size_t{3});
}

// Writes the compound RTCP packet SR + SDES CNAME (RFC 3550 §6.4.1, §6.5.1, §6.1) that
// src/rtcp/sender-report.ts writeSenderReport writes, at `p`; returns its length. The
// report describes `now_ms` (Unix ms): NTP time of that instant, RTP timestamp of the last
// packet advanced by the time since it was sent. `cname_len` 0: the SR alone.
std::size_t WriteSenderReport(std::uint8_t* p, std::uint32_t ssrc, double now_ms, std::uint32_t last_ts,
                              double last_sent_ms, double clock_rate, double packets, double octets,
                              const std::uint8_t* cname, std::size_t cname_len) {
  p[0] = 0x80;
  p[1] = 200;
  Put16(p + 2, kSrBytes / 4 - 1);
  Put32(p + 4, ssrc);
  double whole = std::floor(now_ms / 1000);
  double fraction = std::nearbyint((now_ms - whole * 1000) / 1000 * 4294967296.0);
  if (fraction >= 4294967296.0) {
    fraction -= 4294967296.0;
    whole += 1;
  }
  Put32(p + 8, static_cast<std::uint32_t>(std::fmod(whole + kNtpUnixOffsetS, 4294967296.0)));
  Put32(p + 12, static_cast<std::uint32_t>(fraction));
  const double ticks = std::nearbyint((now_ms - last_sent_ms) * clock_rate / 1000);
  Put32(p + 16, last_ts + static_cast<std::uint32_t>(static_cast<std::int64_t>(ticks)));  // mod 2^32
  Put32(p + 20, static_cast<std::uint32_t>(std::fmod(packets, 4294967296.0)));
  Put32(p + 24, static_cast<std::uint32_t>(std::fmod(octets, 4294967296.0)));
  const std::size_t total = SenderReportLength(cname_len);
  if (cname_len == 0) return total;
  const std::size_t chunk = total - kSrBytes - 8;
  std::uint8_t* d = p + kSrBytes;
  d[0] = 0x81;
  d[1] = 202;
  Put16(d + 2, static_cast<std::uint32_t>((8 + chunk) / 4 - 1));
  Put32(d + 4, ssrc);
  d[8] = 1;  // CNAME
  d[9] = static_cast<std::uint8_t>(cname_len);
  std::memcpy(d + 10, cname, cname_len);
  std::memset(d + 10 + cname_len, 0, chunk - 2 - cname_len);
  return total;
}

// RTP payload octets of a packet (RFC 3550 §6.4.1 "sender's octet count": no header,
// CSRCs, extension or padding). The header was checked to be at least 12 bytes.
std::size_t PayloadOctets(const std::uint8_t* p, std::size_t len) {
  std::size_t h = kRtpHeader + 4u * (p[0] & 0x0f);
  if ((p[0] & 0x10) && h + 4 <= len) h += 4 + 4u * Get16(p + h + 2);
  std::size_t pad = (p[0] & 0x20) ? p[len - 1] : 0;
  return h + pad >= len ? 0 : len - h - pad;
}

// The rewrite of rewriteRtpHeader (src/relay/output.ts), in place.
void Rewrite(std::uint8_t* p, std::uint32_t ssrc, std::uint32_t pt, std::uint32_t seq_offset, std::uint32_t ts_offset,
             std::uint32_t* seq_out, std::uint32_t* ts_out) {
  p[1] = static_cast<std::uint8_t>((p[1] & 0x80) | (pt & 0x7f));
  const std::uint32_t seq = (Get16(p + 2) + seq_offset) & 0xffff;
  Put16(p + 2, seq);
  const std::uint32_t ts = Get32(p + 4) + ts_offset;  // mod 2^32
  Put32(p + 4, ts);
  Put32(p + 8, ssrc);
  *seq_out = seq;
  *ts_out = ts;
}

// What retransmit() needs to rebuild an outgoing packet: which ingest packet (absolute
// history index of its stream) and the offsets it went out with.
struct HistoryEntry {
  std::uint32_t ingest = 0;
  std::uint32_t seq_offset = 0;
  std::uint32_t ts_offset = 0;
  std::uint16_t out_seq = 0;
  std::uint16_t valid = 0;
};

struct Output {
  bool used = false;
  std::uint32_t stream = 0;
  std::int32_t session = -1;
  std::int32_t peer = -1;
  std::uint32_t kind = 0;  // kPacketVideo or 0 (audio)
  std::unique_ptr<HistoryEntry[]> history;  // kHistory entries, by outgoing seq mod kHistory
};

struct Stream {
  bool used = false;
  std::vector<std::uint32_t> outputs;  // output ids, in the order they were added
  std::uint32_t outputs_of_kind[2] = {0, 0};  // of those: audio (kind 0), video (kind 1)
  std::unique_ptr<std::uint8_t[]> bytes;  // kHistory * kHistorySlot
  std::unique_ptr<std::uint16_t[]> lengths;  // 0 = not kept
  std::unique_ptr<std::uint32_t[]> index;    // absolute index of the packet in each slot
  std::uint32_t count = 0;       // absolute index the next ingest packet gets
  std::uint32_t batch_base = 0;  // absolute index of packet 0 of the current forward() batch
};

// The shared socket's send ring as handed to one call, plus the io block.
struct RingArgs {
  std::uint8_t* arena = nullptr;
  std::size_t arena_len = 0;
  std::uint32_t* offsets = nullptr;
  std::uint32_t* lengths = nullptr;
  std::int32_t* peers = nullptr;
  std::size_t capacity = 0;
  double* io = nullptr;
  // From io, checked:
  std::size_t slot = 0, slots = 0, pos = 0, end = 0, mtu = 0;
  bool drop = false;
  double now = 0;
  // Results so far.
  std::size_t produced = 0;
  double dropped = 0, oversize = 0, errors = 0;

  // Whether a datagram of `len` protected bytes fits.
  bool Fits(std::size_t len) const { return produced < slots && pos + len <= end; }
  void Fill(std::size_t len, std::int32_t peer) {
    std::size_t s = slot + produced;
    if (s >= capacity) s -= capacity;
    offsets[s] = static_cast<std::uint32_t>(pos);
    lengths[s] = static_cast<std::uint32_t>(len);
    peers[s] = peer;
    pos += len;
    ++produced;
  }
  void Finish(std::size_t arena_off) const {
    io[kIoProduced] = static_cast<double>(produced);
    io[kIoBytes] = static_cast<double>(pos - arena_off);
    io[kIoDropped] = dropped;
    io[kIoOversize] = oversize;
    io[kIoErrors] = errors;
  }
};

class RtpFanout : public Napi::ObjectWrap<RtpFanout> {
 public:
  // new RtpFanout(state: Float64Array, io: Float64Array): the state array holds
  // state.length / STRIDE outputs (<= 65536); ids are its output indices. io (>= IO_LENGTH
  // doubles) carries every forward()/retransmit() call's parameters and results. Both are
  // registered once (no lookup per call when they lie in allocShared memory, as
  // src/fanout/fanout.ts allocates them; one when they share an ordinary ArrayBuffer).
  explicit RtpFanout(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RtpFanout>(info) {
    Napi::Env env = info.Env();
    Napi::TypedArray state, io;
    if (!ArgTypedArray(info, 0, "state", napi_float64_array, &state) ||
        !ArgTypedArray(info, 1, "io", napi_float64_array, &io)) {
      return;
    }
    const std::size_t n = state.ElementLength() / kStride;
    if (n == 0 || n > kMaxOutputs) {
      ThrowRangeError(env, "state must hold 1 to 65536 outputs (STRIDE doubles each)");
      return;
    }
    if (io.ElementLength() < kIoLength) {
      ThrowRangeError(env, "io must hold at least IO_LENGTH doubles");
      return;
    }
    state_.Set({&state, &io});
    outputs_.resize(n);
    // forwardBatch, the per-ingest-batch call, is an own property of the instance (not a prototype method): a
    // function whose callback data is this object, so a call needs no napi_unwrap (a V8
    // private-symbol lookup through the runtime, ~0.6 % of a relay's samples at 64 x 1).
    // The function keeps the instance alive (its `owner`), so the pointer outlives it.
    Napi::Object self = info.This().As<Napi::Object>();
    Napi::Function fast = Napi::Function::New(env, &RtpFanout::ForwardBatchThis, "forwardBatch", this);
    fast.Set("owner", self);
    self.DefineProperty(Napi::PropertyDescriptor::Value("forwardBatch", fast, napi_default));
    // serial: this fan-out's number for ingest routes (UdpSocket setIngestRoute), unique in the process.
    static std::atomic<std::uint64_t> next_serial{1};
    serial_ = static_cast<double>(next_serial.fetch_add(1));
    // Not for security: spreads the viewers' sender reports in time (RFC 3550 §6.3.1).
    rng_ = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
           (static_cast<std::uint64_t>(serial_) * 0x9e3779b97f4a7c15ULL) ^ 0x2545f4914f6cdd1dULL;
    if (rng_ == 0) rng_ = 1;
    self.DefineProperty(Napi::PropertyDescriptor::Value("serial", Napi::Number::New(env, serial_), napi_enumerable));
  }

  // setRing(arena: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, peers: Int32Array)
  // — the shared socket's send ring, which forward() and retransmit() fill (the same arrays
  // the socket sends from: src/scheduler/slot-ring.ts); registered again whenever the ring
  // grows. Throws TypeError for wrong types, RangeError unless offsets, lengths and peers
  // have one length >= 1 (the ring's capacity).
  Napi::Value SetRing(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::TypedArray arena, offsets, lengths, peers;
    if (!ArgSendRing(info, 0, &arena, &offsets, &lengths, &peers)) return env.Undefined();
    ring_.Set({&arena, &offsets, &lengths, &peers});
    return env.Undefined();
  }

  // addStream() → stream id. Allocates the stream's history (kHistory x 1200 bytes).
  Napi::Value AddStream(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::size_t id = streams_.size();
    for (std::size_t i = 0; i < streams_.size(); ++i) {
      if (!streams_[i].used) {
        id = i;
        break;
      }
    }
    if (id == streams_.size()) {
      if (streams_.size() >= kMaxStreams) {
        ThrowRangeError(env, "too many streams in one fan-out");
        return env.Undefined();
      }
      streams_.emplace_back();
    }
    Stream& s = streams_[id];
    s.used = true;
    s.outputs.clear();
    s.outputs_of_kind[0] = s.outputs_of_kind[1] = 0;
    if (!s.bytes) {
      s.bytes.reset(new std::uint8_t[kHistory * kHistorySlot]);
      s.lengths.reset(new std::uint16_t[kHistory]);
      s.index.reset(new std::uint32_t[kHistory]);
    }
    std::memset(s.lengths.get(), 0, kHistory * sizeof(std::uint16_t));
    std::memset(s.index.get(), 0, kHistory * sizeof(std::uint32_t));
    s.count = 0;
    s.batch_base = 0;
    return Napi::Number::New(env, static_cast<double>(id));
  }

  // removeStream(id): removes the stream and every output still on it.
  Napi::Value RemoveStream(const Napi::CallbackInfo& info) {
    std::size_t id;
    if (!ArgStream(info, 0, &id)) return info.Env().Undefined();
    for (std::uint32_t o : streams_[id].outputs) outputs_[o].used = false;
    streams_[id].outputs.clear();
    streams_[id].used = false;
    return info.Env().Undefined();
  }

  // addSession(profile, masterKey: Uint8Array, masterSalt: Uint8Array) → session id: one
  // SRTP context (RFC 3711 §4.3 key derivation) for one viewer's DTLS-SRTP session; its
  // outputs (video, audio) share it, and protectRtcp() uses it for the viewer's RTCP.
  Napi::Value AddSession(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    SrtpKeyArgs keys;
    if (!ArgSrtpKeys(info, 0, &keys)) return env.Undefined();
    std::size_t id = sessions_.size();
    for (std::size_t i = 0; i < sessions_.size(); ++i) {
      if (!sessions_[i]) {
        id = i;
        break;
      }
    }
    if (id == sessions_.size() && sessions_.size() >= kMaxSessions) {
      ThrowRangeError(env, "too many SRTP sessions in one fan-out");
      return env.Undefined();
    }
    std::unique_ptr<srtp::Context> ctx = NewSrtpContext(env, keys);
    if (!ctx) return env.Undefined();
    if (id == sessions_.size()) sessions_.emplace_back();
    sessions_[id] = std::move(ctx);
    return Napi::Number::New(env, static_cast<double>(id));
  }

  // removeSession(id): frees the context; outputs still naming it stop sending (session -1).
  Napi::Value RemoveSession(const Napi::CallbackInfo& info) {
    std::size_t id;
    if (!ArgSession(info, 0, &id)) return info.Env().Undefined();
    sessions_[id].reset();
    if (id < cnames_.size()) cnames_[id].clear();
    for (Output& o : outputs_) {
      if (o.used && o.session == static_cast<std::int32_t>(id)) o.session = -1;
    }
    return info.Env().Undefined();
  }

  // protectRtcp(session, buf: Uint8Array, offset, length, capacity) → protected length or
  // an srtp::Status < 0. SRTCP (RFC 3711 §3.4 / RFC 7714 §9) with the session's context, so
  // the relay's own RTCP (sender reports) shares the viewer's SRTCP index sequence.
  Napi::Value ProtectRtcp(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::size_t id;
    void* data = nullptr;
    std::size_t buf_len = 0;
    std::int64_t offset = 0, length = 0, capacity = 0;
    if (!ArgSession(info, 0, &id) || !ArgArray(info, 1, "buf", napi_uint8_array, &data, &buf_len) ||
        !ArgInt(info, 2, "offset", 0, static_cast<std::int64_t>(buf_len), &offset) ||
        !ArgInt(info, 3, "length", 0, static_cast<std::int64_t>(buf_len) - offset, &length) ||
        !ArgInt(info, 4, "capacity", length, static_cast<std::int64_t>(buf_len) - offset, &capacity)) {
      return env.Undefined();
    }
    std::size_t out = 0;
    int rc = sessions_[id]->ProtectRtcp(static_cast<std::uint8_t*>(data) + offset, static_cast<std::size_t>(length),
                                        static_cast<std::size_t>(capacity), &out);
    return Napi::Number::New(env, rc == srtp::kOk ? static_cast<double>(out) : static_cast<double>(rc));
  }

  // setSessionCname(session, cname: Uint8Array): the SDES CNAME (1-255 bytes of UTF-8; empty:
  // none) the session's outputs put in their sender reports. TypeError/RangeError otherwise.
  Napi::Value SetSessionCname(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::size_t id;
    void* data = nullptr;
    std::size_t len = 0;
    if (!ArgSession(info, 0, &id) || !ArgArray(info, 1, "cname", napi_uint8_array, &data, &len)) return env.Undefined();
    if (len > kMaxCname) {
      ThrowRangeError(env, "cname must be at most 255 bytes");
      return env.Undefined();
    }
    if (cnames_.size() < sessions_.size()) cnames_.resize(sessions_.size());
    cnames_[id].assign(static_cast<const char*>(data), len);
    return env.Undefined();
  }

  // addOutput(stream, session, peer, kind) → output id (its index in the state array).
  // kind 1 = video, 0 = audio; peer is the shared socket's peer-table id of the viewer.
  // The output's state fields are zeroed: JS then sets SSRC, PAYLOAD_TYPE, LAST_SEQ/LAST_TS
  // and FLAGS (gated until then).
  Napi::Value AddOutput(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::size_t stream, session;
    std::int64_t peer = 0, kind = 0;
    if (!ArgStream(info, 0, &stream) || !ArgSession(info, 1, &session) || !ArgInt(info, 2, "peer", 0, INT32_MAX, &peer) ||
        !ArgInt(info, 3, "kind", 0, 1, &kind)) {
      return env.Undefined();
    }
    double* st = State(env);
    if (st == nullptr) return env.Undefined();
    std::size_t id = outputs_.size();
    for (std::size_t i = 0; i < outputs_.size(); ++i) {
      if (!outputs_[i].used) {
        id = i;
        break;
      }
    }
    if (id == outputs_.size()) {
      ThrowRangeError(env, "no free output in the fan-out's state array");
      return env.Undefined();
    }
    Output& o = outputs_[id];
    o.used = true;
    o.stream = static_cast<std::uint32_t>(stream);
    o.session = static_cast<std::int32_t>(session);
    o.peer = static_cast<std::int32_t>(peer);
    o.kind = static_cast<std::uint32_t>(kind);
    if (!o.history) o.history.reset(new HistoryEntry[kHistory]);
    for (std::size_t i = 0; i < kHistory; ++i) o.history[i] = HistoryEntry{};
    std::fill(st + id * kStride, st + (id + 1) * kStride, 0.0);
    streams_[stream].outputs.push_back(static_cast<std::uint32_t>(id));
    streams_[stream].outputs_of_kind[o.kind] += 1;
    return Napi::Number::New(env, static_cast<double>(id));
  }

  // removeOutput(id): the output stops at once; its id (and state row) may be reused.
  Napi::Value RemoveOutput(const Napi::CallbackInfo& info) {
    std::size_t id;
    if (!ArgOutput(info, 0, &id)) return info.Env().Undefined();
    Output& o = outputs_[id];
    auto& list = streams_[o.stream].outputs;
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (list[i] == id) {
        list.erase(list.begin() + static_cast<std::ptrdiff_t>(i));
        streams_[o.stream].outputs_of_kind[o.kind] -= 1;
        break;
      }
    }
    o.used = false;
    return info.Env().Undefined();
  }

  // setOutputPeer(id, peer): the viewer's address changed (new ICE pair): its peer-table id.
  Napi::Value SetOutputPeer(const Napi::CallbackInfo& info) {
    std::size_t id;
    std::int64_t peer = 0;
    if (!ArgOutput(info, 0, &id) || !ArgInt(info, 1, "peer", 0, INT32_MAX, &peer)) return info.Env().Undefined();
    outputs_[id].peer = static_cast<std::int32_t>(peer);
    return info.Env().Undefined();
  }

  // forward(stream, src: Uint8Array, extra: Uint8Array, packets: Uint32Array, count) → slots
  // filled, into the ring registered with setRing(), with the parameters and results in the
  // io array given at construction.
  // Packet i (< count) is packets[3i+1] bytes of RTP at src[packets[3i]] (extra[...] with
  // flag EXTRA), flags packets[3i+2] (VIDEO, INJECTED, EXTRA). Each live output of the
  // stream whose kind matches takes packets START.. in order (an INJECTED packet only when
  // the output is STARTING at exactly that index), output-major; each becomes
  // one datagram (rewritten, SRTP-protected) in ring slot io.SLOT + k (mod the ring's
  // capacity = offsets.length) at arena offsets from io.ARENA_OFF up to io.ARENA_END, to the
  // output's peer. When the next datagram does not fit (io.SLOTS slots, the arena region):
  // io.DROP = 1 counts it dropped (per output DROPPED, io.DROPPED) and goes on; io.DROP = 0
  // stops with io.DONE = 0 and the cursor set, and the next call with the cursor continues
  // exactly there (the caller commits and flushes in between). A new batch starts with the
  // cursor at (0, 0): the packets then enter the stream's history (retransmit()).
  // Throws TypeError/RangeError (nothing touched) for bad arguments: an unknown stream, a
  // packet outside src or shorter than 12 bytes, io fields outside the ring or arena;
  // ERR_INVALID_STATE before setRing().
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::size_t stream_id;
    void* src_data = nullptr;
    void* extra_data = nullptr;
    void* pk_data = nullptr;
    std::size_t src_len = 0, extra_len = 0, pk_len = 0;
    std::int64_t count = 0;
    if (!ArgStream(info, 0, &stream_id) || !ArgArray(info, 1, "src", napi_uint8_array, &src_data, &src_len) ||
        !ArgArray(info, 2, "extra", napi_uint8_array, &extra_data, &extra_len) ||
        !ArgArray(info, 3, "packets", napi_uint32_array, &pk_data, &pk_len) ||
        !ArgInt(info, 4, "count", 0, static_cast<std::int64_t>(pk_len / 3), &count)) {
      return env.Undefined();
    }
    return ForwardPackets(env, stream_id, src_data, src_len, extra_data, extra_len, pk_data, count);
  }

  // setBatch(slot, src: Uint8Array, extra: Uint8Array, packets: Uint32Array): registers a
  // batch's arrays (as forward() takes them) under `slot` (0 .. 65535), for forwardBatch();
  // registered again whenever one of them changes (a batch over another receive arena, or
  // grown). Throws TypeError for wrong types, RangeError for a slot out of range.
  Napi::Value SetBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::int64_t slot = 0;
    Napi::TypedArray src, extra, packets;
    if (!ArgInt(info, 0, "slot", 0, kMaxBatches - 1, &slot) || !ArgTypedArray(info, 1, "src", napi_uint8_array, &src) ||
        !ArgTypedArray(info, 2, "extra", napi_uint8_array, &extra) ||
        !ArgTypedArray(info, 3, "packets", napi_uint32_array, &packets)) {
      return env.Undefined();
    }
    const auto i = static_cast<std::size_t>(slot);
    if (i >= batches_.size()) batches_.resize(i + 1);
    if (!batches_[i]) batches_[i] = std::make_unique<PinnedGroup>();
    batches_[i]->Set({&src, &extra, &packets});
    return env.Undefined();
  }

  // releaseBatch(slot): forgets what setBatch registered there (no-op when nothing is).
  Napi::Value ReleaseBatch(const Napi::CallbackInfo& info) {
    std::int64_t slot = 0;
    if (!ArgInt(info, 0, "slot", 0, kMaxBatches - 1, &slot)) return info.Env().Undefined();
    const auto i = static_cast<std::size_t>(slot);
    if (i < batches_.size()) batches_[i].reset();
    return info.Env().Undefined();
  }

  // forwardBatch(stream, slot, count) → slots filled: forward() over the arrays registered
  // with setBatch(slot, …) — no typed-array argument to look up per call. The same results,
  // errors and io contract as forward(); RangeError for an unregistered slot, a count over
  // the registered packets' length / 3, or arrays no longer valid (detached or shrunk).
  static Napi::Value ForwardBatchThis(const Napi::CallbackInfo& info) { return static_cast<RtpFanout*>(info.Data())->ForwardBatch(info); }

  Napi::Value ForwardBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::size_t stream_id;
    std::int64_t slot = 0, count = 0;
    if (!ArgStream(info, 0, &stream_id) || !ArgInt(info, 1, "slot", 0, kMaxBatches - 1, &slot)) return env.Undefined();
    const auto i = static_cast<std::size_t>(slot);
    PinnedGroup* batch = i < batches_.size() ? batches_[i].get() : nullptr;
    if (batch == nullptr || batch->IsEmpty()) {
      ThrowRangeError(env, "no batch registered in this slot (setBatch)");
      return env.Undefined();
    }
    if (!ArgInt(info, 2, "count", 0, static_cast<std::int64_t>(batch->Length(2) / 3), &count)) return env.Undefined();
    void* data[PinnedGroup::kMax];
    if (!batch->Get(env, data)) {
      ThrowRangeError(env, "the registered batch is no longer valid (detached or resized arrays)");
      return env.Undefined();
    }
    return ForwardPackets(env, stream_id, data[0], batch->Length(0), data[1], batch->Length(1), data[2], count);
  }

  // forwardIngest() → receive batches forwarded. Only during a delivery of the receive
  // dispatcher (recv_dispatch.h), before JS handles its batches: for each batch of a socket
  // routed to this fan-out (UdpSocket setIngestRoute, by `serial`) that is steady for the
  // route's ingest state (ingest_route.h), forward() of its datagrams to the route's stream
  // into the ring region io describes (SLOT, SLOTS, ARENA_OFF, ARENA_END, NOW, MTU; DROP and
  // the cursor are not used), in delivery order — as long as the whole batch fits for every
  // output of the stream at the worst case (each output all the batch's packets of its
  // kind, each packet SRTP's largest overhead); the first batch that may not fit, and every
  // routed batch after it, stay (io NEED_SLOTS/NEED_BYTES = what it needs: the caller may
  // make room and call again; entries already forwarded are skipped). A forwarded batch's list entry is
  // marked delivered (JS skips it) and its ingest state advanced (ApplySteady, arrival =
  // io.NOW). io PRODUCED/BYTES/DROPPED/OVERSIZE/ERRORS total the call, as forward()'s.
  // Outside a delivery: 0, nothing touched. Throws as forward() for a bad ring or io.
  Napi::Value ForwardIngest(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<RecvDispatcher> d = RecvDispatcher::For(env);
    if (d == nullptr || d->Delivering().empty()) return Napi::Number::New(env, 0);
    double* io_data = nullptr;
    double* st = State(env, &io_data);
    if (st == nullptr) return env.Undefined();
    RingArgs ring;
    if (!ResolveRing(env, io_data, &ring)) return env.Undefined();
    ring.drop = true;  // never taken: a batch goes only where it fits whole
    const std::size_t arena_off = ring.pos;
    const std::vector<RecvDispatcher::Entry>& entries = d->Delivering();
    double forwarded = 0;
    io_data[kIoNeedSlots] = 0;
    io_data[kIoNeedBytes] = 0;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const RecvDispatcher::Entry& e = entries[i];
      if (d->IsDelivered(i)) continue;  // forwarded by an earlier call of this delivery
      IngestSlots in;
      std::uint32_t stream_id = 0;
      double* ingest = nullptr;
      if (e.socket == nullptr || !(e.slots > 0) ||
          !e.socket->IngestBatch(env, serial_, static_cast<std::size_t>(e.slots), &in, &stream_id, &ingest)) {
        continue;
      }
      if (stream_id >= streams_.size() || !streams_[stream_id].used) continue;
      SteadyBatch steady;
      if (!ScanSteady(ingest, in, &scratch_, &steady)) continue;
      // The most this batch can take: each output all packets of its kind, each packet SRTP's largest overhead.
      const Stream& stream = streams_[stream_id];
      const std::size_t n = scratch_.size() / 3;
      std::size_t need_slots = 0;
      double need_bytes = 0;
      for (int k = 0; k < 2; ++k) {
        const std::size_t outs = stream.outputs_of_kind[k == 0 ? kPacketVideo : 0];
        need_slots += outs * steady.packets[k];
        need_bytes += static_cast<double>(outs) * (steady.bytes[k] + static_cast<double>(srtp::kMaxRtpOverhead * steady.packets[k]));
      }
      if (need_slots > ring.slots - ring.produced || need_bytes > static_cast<double>(ring.end - ring.pos)) {
        io_data[kIoNeedSlots] = static_cast<double>(need_slots);
        io_data[kIoNeedBytes] = need_bytes;
        break;
      }
      io_data[kIoCursorOutput] = 0;
      io_data[kIoCursorPacket] = 0;
      ForwardInto(st, &ring, stream_id, in.arena, nullptr, scratch_.data(), n);
      ApplySteady(ingest, steady, ring.now);
      d->MarkDelivered(i);
      forwarded += 1;
    }
    io_data[kIoDone] = 1;
    ring.Finish(arena_off);
    return Napi::Number::New(env, forwarded);
  }

 private:
  // forward()'s work once its arguments are resolved: `count` packets described by pk_data
  // (u32 triples) over src/extra (lengths in bytes).
  Napi::Value ForwardPackets(Napi::Env env, std::size_t stream_id, void* src_data, std::size_t src_len, void* extra_data,
                             std::size_t extra_len, void* pk_data, std::int64_t count) {
    double* io_data = nullptr;
    double* st = State(env, &io_data);
    if (st == nullptr) return env.Undefined();
    RingArgs ring;
    if (!ResolveRing(env, io_data, &ring)) return env.Undefined();
    const auto* src = static_cast<const std::uint8_t*>(src_data);
    const auto* extra = static_cast<const std::uint8_t*>(extra_data);
    const auto* pk = static_cast<const std::uint32_t*>(pk_data);
    const auto n = static_cast<std::size_t>(count);
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t off = pk[3 * i], len = pk[3 * i + 1];
      const std::size_t in_len = (pk[3 * i + 2] & kPacketExtra) ? extra_len : src_len;
      if (off > in_len || len > in_len - off || len < kRtpHeader) {
        char message[128];
        std::snprintf(message, sizeof message, "packet %zu lies outside its buffer or is shorter than an RTP header", i);
        ThrowRangeError(env, message);
        return env.Undefined();
      }
    }
    const std::size_t arena_off = ring.pos;
    ForwardInto(st, &ring, stream_id, src, extra, pk, n);
    ring.Finish(arena_off);
    return Napi::Number::New(env, static_cast<double>(ring.produced));
  }

  // A uniform double in [0, 1) (xorshift64*).
  double NextUniform() {
    rng_ ^= rng_ >> 12;
    rng_ ^= rng_ << 25;
    rng_ ^= rng_ >> 27;
    return static_cast<double>((rng_ * 0x2545f4914f6cdd1dULL) >> 11) * 0x1.0p-53;
  }

  // The output's sender report is due (s[kSrDueAt] <= io NOW): queues SR + SDES CNAME for it,
  // SRTCP-protected with its session, behind the RTP just queued to the same viewer, and draws
  // the next due time. When the ring has no room for it now, it stays due (the next batch
  // tries again); an SRTCP failure counts in ERRORS and skips this interval.
  void SenderReportInto(double* s, const Output& o, srtp::Context* ctx, RingArgs* ring) {
    const std::string* cname = static_cast<std::size_t>(o.session) < cnames_.size() ? &cnames_[static_cast<std::size_t>(o.session)] : nullptr;
    const std::size_t cname_len = cname != nullptr ? cname->size() : 0;
    const std::size_t protected_len = SenderReportLength(cname_len) + srtp::RtcpOverhead(ctx->profile());
    if (protected_len > ring->mtu || !ring->Fits(protected_len)) return;
    std::uint8_t* dst = ring->arena + ring->pos;
    const std::size_t len = WriteSenderReport(dst, ToU32(s[kSsrc]), ring->now, ToU32(s[kLastTs]), s[kLastSentAt], s[kClockRate],
                                              s[kPackets], s[kOctets],
                                              cname_len ? reinterpret_cast<const std::uint8_t*>(cname->data()) : nullptr, cname_len);
    std::size_t out_len = 0;
    s[kSrDueAt] = ring->now + kSrIntervalMinMs + NextUniform() * kSrIntervalSpreadMs;
    if (ctx->ProtectRtcp(dst, len, ring->end - ring->pos, &out_len) != srtp::kOk) {
      s[kErrors] += 1;
      ring->errors += 1;
      return;
    }
    ring->Fill(out_len, o.peer);
    s[kSenderReports] += 1;
    s[kBytes] += static_cast<double>(out_len);
  }

  // The output loop of forward() over resolved arguments, filling `ring` from where it
  // stands (several calls may share one ring: forwardIngest). Stopped for room (io.DROP = 0):
  // io.DONE = 0 and the cursor set; done: io.DONE = 1, the cursor reset.
  void ForwardInto(double* st, RingArgs* ringp, std::size_t stream_id, const std::uint8_t* src,
                   const std::uint8_t* extra, const std::uint32_t* pk, std::size_t n) {
    RingArgs& ring = *ringp;
    Stream& stream = streams_[stream_id];
    double* io = ring.io;
    std::size_t cur_output = static_cast<std::size_t>(ToU32(io[kIoCursorOutput]));
    std::size_t cur_packet = static_cast<std::size_t>(ToU32(io[kIoCursorPacket]));
    if (cur_output == 0 && cur_packet == 0) Remember(stream, src, extra, pk, n);
    for (std::size_t oi = cur_output; oi < stream.outputs.size(); ++oi) {
      const std::uint32_t id = stream.outputs[oi];
      Output& o = outputs_[id];
      double* s = st + std::size_t{id} * kStride;
      const std::size_t start = static_cast<std::size_t>(ToU32(s[kStart]));
      const std::uint32_t out_flags = ToU32(s[kFlags]);
      if (!(out_flags & kFlagLive) || o.session < 0 || !sessions_[static_cast<std::size_t>(o.session)]) {
        s[kStart] = 0;
        s[kFlags] = out_flags & ~kFlagStarting;
        continue;
      }
      const bool starting = (out_flags & kFlagStarting) != 0;
      srtp::Context* ctx = sessions_[static_cast<std::size_t>(o.session)].get();
      const std::size_t overhead = srtp::RtpOverhead(ctx->profile());
      const std::uint32_t ssrc = ToU32(s[kSsrc]), pt = ToU32(s[kPayloadType]);
      const std::uint32_t seq_offset = ToU32(s[kSeqOffset]), ts_offset = ToU32(s[kTsOffset]);
      std::size_t pi = start;
      if (oi == cur_output && cur_packet > pi) pi = cur_packet;
      for (; pi < n; ++pi) {
        const std::uint32_t flags = pk[3 * pi + 2];
        if ((flags & kPacketVideo) != o.kind) continue;
        if ((flags & kPacketInjected) && (!starting || pi != start)) continue;
        const std::uint8_t* in = ((flags & kPacketExtra) ? extra : src) + pk[3 * pi];
        const std::size_t len = pk[3 * pi + 1];
        if (len + overhead > ring.mtu) {
          s[kOversize] += 1;
          ring.oversize += 1;
          continue;
        }
        if (!ring.Fits(len + overhead)) {
          if (ring.drop) {
            s[kDropped] += 1;
            ring.dropped += 1;
            continue;
          }
          io[kIoCursorOutput] = static_cast<double>(oi);
          io[kIoCursorPacket] = static_cast<double>(pi);
          io[kIoDone] = 0;
          return;
        }
        std::uint8_t* dst = ring.arena + ring.pos;
        std::memcpy(dst, in, len);
        std::uint32_t seq = 0, ts = 0;
        Rewrite(dst, ssrc, pt, seq_offset, ts_offset, &seq, &ts);
        std::size_t out_len = 0;
        if (ctx->ProtectRtp(dst, len, ring.end - ring.pos, &out_len) != srtp::kOk) {
          s[kErrors] += 1;
          ring.errors += 1;
          continue;
        }
        const std::size_t payload = PayloadOctets(in, len);
        ring.Fill(out_len, o.peer);
        s[kLastSeq] = seq;
        s[kLastTs] = ts;
        s[kPackets] += 1;
        s[kOctets] += static_cast<double>(payload);
        s[kBytes] += static_cast<double>(out_len);
        s[kLastSentAt] = ring.now;
        HistoryEntry& h = o.history[seq & (kHistory - 1)];
        h.ingest = stream.batch_base + static_cast<std::uint32_t>(pi);
        h.seq_offset = seq_offset;
        h.ts_offset = ts_offset;
        h.out_seq = static_cast<std::uint16_t>(seq);
        h.valid = 1;
      }
      if (s[kSrDueAt] > 0 && ring.now >= s[kSrDueAt] && s[kPackets] > 0) SenderReportInto(s, o, ctx, &ring);
      s[kStart] = 0;
      s[kFlags] = out_flags & ~kFlagStarting;
    }
    io[kIoCursorOutput] = 0;
    io[kIoCursorPacket] = 0;
    io[kIoDone] = 1;
  }

 public:
  // retransmit(output, seqs: Uint32Array, count) → slots filled (the ring and io as forward())
  // Queues again, in the order given, the packets this output sent with outgoing sequence
  // numbers seqs[0..count) (an RTCP NACK's list, RFC 4585 §6.2.1): rebuilt from the stream's
  // history with the offsets they first went out with and the output's current SSRC and
  // payload type, protected again (the same SRTP index: the same packet). A number no longer
  // in the history (older than the last 512 packets of the output or of the stream, never
  // sent, or a gap) counts in io.MISSES; what does not fit is dropped (io.DROPPED, DROPPED).
  // RETRANSMITTED and BYTES count what was queued. The cursor fields are not used.
  Napi::Value Retransmit(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::size_t id;
    void* seq_data = nullptr;
    std::size_t seq_len = 0;
    std::int64_t count = 0;
    if (!ArgOutput(info, 0, &id) || !ArgArray(info, 1, "seqs", napi_uint32_array, &seq_data, &seq_len) ||
        !ArgInt(info, 2, "count", 0, static_cast<std::int64_t>(seq_len), &count)) {
      return env.Undefined();
    }
    double* io_data = nullptr;
    double* st = State(env, &io_data);
    if (st == nullptr) return env.Undefined();
    RingArgs ring;
    if (!ResolveRing(env, io_data, &ring)) return env.Undefined();
    Output& o = outputs_[id];
    Stream& stream = streams_[o.stream];
    double* s = st + id * kStride;
    const auto* seqs = static_cast<const std::uint32_t*>(seq_data);
    const std::size_t arena_off = ring.pos;
    double misses = 0;
    srtp::Context* ctx =
        o.session >= 0 && sessions_[static_cast<std::size_t>(o.session)] ? sessions_[static_cast<std::size_t>(o.session)].get() : nullptr;
    for (std::size_t i = 0; i < static_cast<std::size_t>(count); ++i) {
      const std::uint32_t seq = seqs[i] & 0xffff;
      const HistoryEntry& h = o.history[seq & (kHistory - 1)];
      const std::size_t slot = h.ingest & (kHistory - 1);
      if (ctx == nullptr || !h.valid || h.out_seq != seq || stream.index[slot] != h.ingest || stream.lengths[slot] == 0 ||
          stream.count - h.ingest > kHistory) {
        misses += 1;
        continue;
      }
      const std::size_t len = stream.lengths[slot];
      const std::size_t overhead = srtp::RtpOverhead(ctx->profile());
      if (!ring.Fits(len + overhead)) {
        s[kDropped] += 1;
        ring.dropped += 1;
        continue;
      }
      std::uint8_t* dst = ring.arena + ring.pos;
      std::memcpy(dst, stream.bytes.get() + slot * kHistorySlot, len);
      std::uint32_t out_seq = 0, ts = 0;
      Rewrite(dst, ToU32(s[kSsrc]), ToU32(s[kPayloadType]), h.seq_offset, h.ts_offset, &out_seq, &ts);
      std::size_t out_len = 0;
      if (ctx->ProtectRtp(dst, len, ring.end - ring.pos, &out_len) != srtp::kOk) {
        s[kErrors] += 1;
        ring.errors += 1;
        continue;
      }
      ring.Fill(out_len, o.peer);
      s[kRetransmitted] += 1;
      s[kBytes] += static_cast<double>(out_len);
    }
    ring.io[kIoMisses] = misses;
    ring.io[kIoDone] = 1;
    ring.Finish(arena_off);
    return Napi::Number::New(env, static_cast<double>(ring.produced));
  }

 private:
  // Copies a new batch's packets into the stream's history (those that fit a slot).
  static void Remember(Stream& stream, const std::uint8_t* src, const std::uint8_t* extra, const std::uint32_t* pk,
                       std::size_t n) {
    stream.batch_base = stream.count;
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint32_t abs = stream.count + static_cast<std::uint32_t>(i);
      const std::size_t slot = abs & (kHistory - 1);
      const std::size_t len = pk[3 * i + 1];
      stream.index[slot] = abs;
      if (len > kHistorySlot) {
        stream.lengths[slot] = 0;
        continue;
      }
      std::memcpy(stream.bytes.get() + slot * kHistorySlot, ((pk[3 * i + 2] & kPacketExtra) ? extra : src) + pk[3 * i], len);
      stream.lengths[slot] = static_cast<std::uint16_t>(len);
    }
    stream.count += static_cast<std::uint32_t>(n);
  }

  // The state array's doubles, and io's in *io (throws and returns nullptr if JS detached
  // or shrank either).
  double* State(Napi::Env env, double** io = nullptr) {
    void* data[PinnedGroup::kMax];
    if (!state_.Get(env, data)) {
      ThrowRangeError(env, "the fan-out's state or io array is no longer valid (detached or resized)");
      return nullptr;
    }
    if (io != nullptr) *io = static_cast<double*>(data[1]);
    return static_cast<double*>(data[0]);
  }

  // The registered send ring (setRing) and io's fields, checked against each other.
  bool ResolveRing(Napi::Env env, double* d, RingArgs* r) {
    void* data[PinnedGroup::kMax];
    if (ring_.IsEmpty()) {
      ThrowInvalidState(env, "forward()/retransmit() before setRing()");
      return false;
    }
    if (!ring_.Get(env, data)) {
      ThrowRangeError(env, "the registered send ring is no longer valid (detached or resized arrays)");
      return false;
    }
    const std::size_t n_arena = ring_.Length(0);
    const double slot = d[kIoSlot], slots = d[kIoSlots], pos = d[kIoArenaOff], end = d[kIoArenaEnd], mtu = d[kIoMtu];
    const double cap = static_cast<double>(ring_.Length(1));
    if (!(slot >= 0 && slot < cap) || !(slots >= 0 && slots <= cap) || !(pos >= 0 && pos <= end) ||
        !(end <= static_cast<double>(n_arena)) || !(mtu >= kRtpHeader && mtu <= 65535)) {
      ThrowRangeError(env, "io SLOT/SLOTS/ARENA_OFF/ARENA_END/MTU outside the ring or arena");
      return false;
    }
    r->arena = static_cast<std::uint8_t*>(data[0]);
    r->arena_len = n_arena;
    r->offsets = static_cast<std::uint32_t*>(data[1]);
    r->lengths = static_cast<std::uint32_t*>(data[2]);
    r->peers = static_cast<std::int32_t*>(data[3]);
    r->capacity = ring_.Length(1);
    r->io = d;
    r->slot = static_cast<std::size_t>(slot);
    r->slots = static_cast<std::size_t>(slots);
    r->pos = static_cast<std::size_t>(pos);
    r->end = static_cast<std::size_t>(end);
    r->mtu = static_cast<std::size_t>(mtu);
    r->drop = d[kIoDrop] == 1;
    r->now = d[kIoNow];
    return true;
  }

  bool ArgStream(const Napi::CallbackInfo& info, std::size_t i, std::size_t* out) {
    std::int64_t v = 0;
    if (!ArgInt(info, i, "stream", 0, kMaxStreams - 1, &v)) return false;
    if (static_cast<std::size_t>(v) >= streams_.size() || !streams_[static_cast<std::size_t>(v)].used) {
      ThrowRangeError(info.Env(), "no stream with this id in the fan-out");
      return false;
    }
    *out = static_cast<std::size_t>(v);
    return true;
  }
  bool ArgSession(const Napi::CallbackInfo& info, std::size_t i, std::size_t* out) {
    std::int64_t v = 0;
    if (!ArgInt(info, i, "session", 0, kMaxSessions - 1, &v)) return false;
    if (static_cast<std::size_t>(v) >= sessions_.size() || !sessions_[static_cast<std::size_t>(v)]) {
      ThrowRangeError(info.Env(), "no SRTP session with this id in the fan-out");
      return false;
    }
    *out = static_cast<std::size_t>(v);
    return true;
  }
  bool ArgOutput(const Napi::CallbackInfo& info, std::size_t i, std::size_t* out) {
    std::int64_t v = 0;
    if (!ArgInt(info, i, "output", 0, kMaxOutputs - 1, &v)) return false;
    if (static_cast<std::size_t>(v) >= outputs_.size() || !outputs_[static_cast<std::size_t>(v)].used) {
      ThrowRangeError(info.Env(), "no output with this id in the fan-out");
      return false;
    }
    *out = static_cast<std::size_t>(v);
    return true;
  }

  PinnedGroup state_;  // state, io
  PinnedGroup ring_;   // arena, offsets, lengths, peers (setRing)
  std::vector<std::unique_ptr<PinnedGroup>> batches_;  // src, extra, packets per slot (setBatch)
  std::vector<Output> outputs_;
  std::vector<Stream> streams_;
  std::vector<std::unique_ptr<srtp::Context>> sessions_;
  std::vector<std::string> cnames_;  // per session (setSessionCname), empty = none
  std::uint64_t rng_ = 0;            // xorshift64* state for the sender report intervals
  double serial_ = 0;
  std::vector<std::uint32_t> scratch_;  // forwardIngest's packet triples (capacity reused)
};

}  // namespace

Napi::Function DefineRtpFanout(Napi::Env env) {
  return RtpFanout::DefineClass(env, "RtpFanout",
                                {
                                    RtpFanout::InstanceMethod<&RtpFanout::AddStream>("addStream"),
                                    RtpFanout::InstanceMethod<&RtpFanout::RemoveStream>("removeStream"),
                                    RtpFanout::InstanceMethod<&RtpFanout::AddSession>("addSession"),
                                    RtpFanout::InstanceMethod<&RtpFanout::RemoveSession>("removeSession"),
                                    RtpFanout::InstanceMethod<&RtpFanout::ProtectRtcp>("protectRtcp"),
                                    RtpFanout::InstanceMethod<&RtpFanout::SetSessionCname>("setSessionCname"),
                                    RtpFanout::InstanceMethod<&RtpFanout::AddOutput>("addOutput"),
                                    RtpFanout::InstanceMethod<&RtpFanout::RemoveOutput>("removeOutput"),
                                    RtpFanout::InstanceMethod<&RtpFanout::SetOutputPeer>("setOutputPeer"),
                                    RtpFanout::InstanceMethod<&RtpFanout::SetRing>("setRing"),
                                    RtpFanout::InstanceMethod<&RtpFanout::Forward>("forward"),
                                    RtpFanout::InstanceMethod<&RtpFanout::SetBatch>("setBatch"),
                                    RtpFanout::InstanceMethod<&RtpFanout::ReleaseBatch>("releaseBatch"),
                                    RtpFanout::InstanceMethod<&RtpFanout::Retransmit>("retransmit"),
                                    RtpFanout::InstanceMethod<&RtpFanout::ForwardIngest>("forwardIngest"),
                                });
}

Napi::Object FanoutConstants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  auto set = [&](const char* name, std::size_t v) { c.Set(name, Napi::Number::New(env, static_cast<double>(v))); };
  set("STRIDE", kStride);
  set("FLAGS", kFlags);
  set("SSRC", kSsrc);
  set("PAYLOAD_TYPE", kPayloadType);
  set("SEQ_OFFSET", kSeqOffset);
  set("TS_OFFSET", kTsOffset);
  set("START", kStart);
  set("LAST_SEQ", kLastSeq);
  set("LAST_TS", kLastTs);
  set("PACKETS", kPackets);
  set("OCTETS", kOctets);
  set("LAST_SENT_AT", kLastSentAt);
  set("DROPPED", kDropped);
  set("OVERSIZE", kOversize);
  set("RETRANSMITTED", kRetransmitted);
  set("ERRORS", kErrors);
  set("BYTES", kBytes);
  set("SR_DUE_AT", kSrDueAt);
  set("CLOCK_RATE", kClockRate);
  set("SENDER_REPORTS", kSenderReports);
  set("FLAG_LIVE", kFlagLive);
  set("FLAG_STARTING", kFlagStarting);
  set("PACKET_EXTRA", kPacketExtra);
  set("PACKET_VIDEO", kPacketVideo);
  set("PACKET_INJECTED", kPacketInjected);
  set("HISTORY", kHistory);
  set("IO_SLOT", kIoSlot);
  set("IO_SLOTS", kIoSlots);
  set("IO_ARENA_OFF", kIoArenaOff);
  set("IO_ARENA_END", kIoArenaEnd);
  set("IO_NOW", kIoNow);
  set("IO_DROP", kIoDrop);
  set("IO_CURSOR_OUTPUT", kIoCursorOutput);
  set("IO_CURSOR_PACKET", kIoCursorPacket);
  set("IO_MTU", kIoMtu);
  set("IO_PRODUCED", kIoProduced);
  set("IO_BYTES", kIoBytes);
  set("IO_DONE", kIoDone);
  set("IO_DROPPED", kIoDropped);
  set("IO_OVERSIZE", kIoOversize);
  set("IO_MISSES", kIoMisses);
  set("IO_ERRORS", kIoErrors);
  set("IO_NEED_SLOTS", kIoNeedSlots);
  set("IO_NEED_BYTES", kIoNeedBytes);
  set("IO_LENGTH", kIoLength);
  return c;
}

}  // namespace dsn
