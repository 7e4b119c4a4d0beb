/**
 * One named stream: RTP in (H.264 video and Opus audio, told apart by payload type),
 * forwarded to every connected viewer. This module is the per-stream ingest policy; the
 * per-packet, per-viewer work is the header rewrite of each viewer's {@link RtpOutput}.
 *
 * Per ingest datagram, in order:
 * 1. RTP header check; unknown payload types are counted (and named in a warning when a
 *    stream sees nothing else).
 * 2. Source lock per kind (source-lock.ts): only the owner (address, port, SSRC) gets
 *    through, its sequence numbers validated as RFC 3550 A.1; a new source (first lock,
 *    encoder restart, switch after the owner's silence) or a discontinuity within it
 *    gates every viewer's video until the next keyframe and re-bases every output, so
 *    viewers see one continuous RTP stream on the same SSRC.
 * 3. Video: keyframe detection (h264.ts), the latest SPS/PPS cached (and given out of
 *    band from an SDP / sprop-parameter-sets), B-frames detected (decode-order
 *    timestamps going backwards) and reported once.
 * 4. Fan-out: a viewer's video starts — at join, after it fell behind (more than
 *    `MAX_IN_FLIGHT` packets in flight through werift, see viewer.ts; on the fast path, a
 *    packet the send queue could not take) and after a discontinuity — at the first
 *    packet of a keyframe: an SPS, or an IDR slice preceded by the cached SPS/PPS in one
 *    STAP-A. Audio flows as soon as the viewer is connected.
 * 5. Keyframe requests: the relay cannot ask the encoder for a keyframe, so a viewer's
 *    PLI or FIR (viewer.ts) is counted, marks the viewer as wanting one (frozen when none
 *    comes within 2 s) and makes the next keyframe it gets start with the cached SPS/PPS:
 *    an IDR without in-band SPS/PPS gets them inserted before it, in one STAP-A with the
 *    IDR's timestamp, taking the next sequence number (later packets shift by one), so a
 *    viewer that lost the parameter sets can decode it. Frames in between are still sent
 *    (NACK may repair them).
 *
 * Two egress paths (fast-egress.ts). Viewers on werift get each packet per viewer through
 * werift's sender. Viewers on the fast path get the whole receive batch in one native
 * call ({@link RelayStream.endBatch}): per datagram this module only records it in the
 * batch ({@link FanoutBatch}) and, where a decision falls on it (a keyframe start for gated
 * viewers, an audio re-base, SPS/PPS for a viewer that asked for a keyframe), sets those
 * outputs' start index / offsets; a discontinuity first forwards what the batch holds so
 * far, then re-bases, so every decision applies exactly from the packet it belongs to.
 *
 * Steady-state ingest (steady-ingest.ts): while only fast viewers watch, the stream arms its
 * ingest route with the owners and where their sequences stand, and the addon forwards
 * every batch that needs none of the decisions above without calling this module; the
 * first batch that does (a keyframe, a foreign sender, a gap, a B-frame) comes here, after
 * what the addon accepted is folded into the source locks and counters
 * ({@link RelayStream.beginBatch}). Anything that changes what may be decided natively
 * (a viewer joins, connects or leaves; an audio re-base is due) re-arms it at once.
 */
import type { FanoutBatch, RtpFanout } from '../fanout/index.js';
import { FastOutput, type FastEgress } from './fast-egress.js';
import { fanoutRtcp } from './fanout-rtcp.js';
import { KeyframeMark, collectParameterSets, keyframeMark, parameterSetPacket, type ParameterSets } from './h264.js';
import { parseRtpHeader } from './rtp.js';
import { Admit, SourceLock, type SourceChange } from './source-lock.js';
import type { SteadyArm, SteadyIngest } from './steady-ingest.js';
import type { CloseReason, Viewer } from './viewer.js';

/** Largest SRTP datagram that fits a WebRTC path without fragmentation, bytes (what browsers send). */
export const WEBRTC_MAX_RTP_BYTES = 1200;
/** Most bytes SRTP adds to an RTP packet (AEAD_AES_128_GCM's tag; AES-CM's is 10). */
export const SRTP_MAX_RTP_OVERHEAD = 16;
/** Largest ingest RTP datagram that still fits {@link WEBRTC_MAX_RTP_BYTES} once SRTP-protected, bytes. */
export const INGEST_MAX_RTP_BYTES = WEBRTC_MAX_RTP_BYTES - SRTP_MAX_RTP_OVERHEAD;
/** Unknown-payload-type datagrams (with nothing else received) before the stream says which types it sees. */
const UNKNOWN_PT_WARN_AFTER = 50;

export interface StreamConfig {
  name: string;
  /** Payload type of H.264 video in the ingest (default 96). */
  videoPayloadType: number;
  /** Payload type of Opus audio in the ingest (default 97). */
  audioPayloadType: number;
  /** Owner silence after which another sender may take the stream, ms (default 2000). */
  sourceTimeoutMs?: number;
  /** H.264 parameter sets given out of band (SDP `sprop-parameter-sets`); in-band ones replace them. */
  parameterSets?: ParameterSets;
  /** Where operator warnings go (one line each, no trailing newline). Default: nowhere. */
  log?: (line: string) => void;
  /** The relay's fast egress: viewers that want it are served by the native fan-out. */
  fast?: FastEgress;
}

/** Counters of one stream (datagrams unless named otherwise). */
export interface StreamCounters {
  ingestVideo: number;
  ingestAudio: number;
  ingestBytes: number;
  /** Ingest datagrams that are not RTP. */
  ingestInvalid: number;
  ingestUnknownPayloadType: number;
  /** Dropped: from a sender that does not own the stream. */
  ingestForeign: number;
  /** Dropped: a would-be source on RFC 3550 probation. */
  ingestProbation: number;
  /** Dropped: the owner's sequence number jumped (RFC 3550 A.1). */
  ingestBadSequence: number;
  /** Accepted datagrams longer than {@link INGEST_MAX_RTP_BYTES} (too long for the WebRTC path once SRTP-protected). */
  ingestOversize: number;
  /** Owner changes (first lock included), by reason; and discontinuities within an owner. */
  sourceChanges: Record<'first' | 'restart' | 'switch', number>;
  discontinuities: number;
  keyframes: number;
  /** Video frames whose timestamp went backwards in decode order (B-frames). */
  bframes: number;
  /** Warnings logged: B-frames, unknown payload types, oversized packets. */
  warnings: Record<'bframes' | 'unknown_payload_type' | 'oversize', number>;
  /** Keyframe starts where the cached SPS/PPS were sent first. */
  parameterSetsSent: number;
  /** Of those, keyframes a live viewer had asked for (PLI/FIR) that got the cached SPS/PPS inserted before them. */
  parameterSetsOnRequest: number;
  /** RTP packets handed to werift or queued by the fast path, all viewers. */
  egressVideo: number;
  egressAudio: number;
  /** Viewers that waited for a keyframe (joins, stalls, discontinuities), and how long in total (ms). */
  keyframeWaits: number;
  keyframeWaitMs: number;
  stalls: number;
  pli: number;
}

export class RelayStream {
  readonly viewers = new Set<Viewer>();
  /** Viewers whose RTP goes through werift (every one until it connects, then those the fast path does not serve). */
  private readonly weriftViewers = new Set<Viewer>();
  /** Connected viewers on the fast path. */
  readonly fastViewers = new Set<Viewer>();
  /** The stream's id in the fast egress's fan-out (once a fast viewer connected), and its batch. */
  private fastStream = -1;
  private fastBatch: FanoutBatch | undefined;
  /** The fan-out `fastStream` lives in (the egress makes a new one when the plug reopens its shared socket). */
  private fastFanout: RtpFanout | undefined;
  /** The receive arena of the batch being read (beginBatch), or undefined outside a batch. */
  private batchSrc: Uint8Array | undefined;
  /** Some fast audio output waits for a re-base at the next audio packet. */
  private fastAudioRebase = false;
  /** The fan-out's drop total (forward and retransmit) when this stream's viewers were last checked for drops. */
  private seenFanoutDrops = 0;
  /** The ingest route's state, once the ingest socket has one ({@link RelayStream.useSteadyIngest}), and the arm record reused for it. */
  private steady: SteadyIngest | undefined;
  private readonly steadyArm: SteadyArm = { address: '', port: 0, ssrc: 0, nextSeq: 0, lastTs: 0, tsCheck: false };
  private readonly counts: StreamCounters = {
    ingestVideo: 0,
    ingestAudio: 0,
    ingestBytes: 0,
    ingestInvalid: 0,
    ingestUnknownPayloadType: 0,
    ingestForeign: 0,
    ingestProbation: 0,
    ingestBadSequence: 0,
    ingestOversize: 0,
    sourceChanges: { first: 0, restart: 0, switch: 0 },
    discontinuities: 0,
    keyframes: 0,
    bframes: 0,
    warnings: { bframes: 0, unknown_payload_type: 0, oversize: 0 },
    parameterSetsSent: 0,
    parameterSetsOnRequest: 0,
    egressVideo: 0,
    egressAudio: 0,
    keyframeWaits: 0,
    keyframeWaitMs: 0,
    stalls: 0,
    pli: 0,
  };
  /** When the last keyframe arrived (ms), or when the stream was created. */
  lastKeyframeAt = Date.now();
  /** Latest SPS/PPS (in band, or out of band until the first in-band ones). */
  readonly parameterSets: ParameterSets;
  /** Closed viewers' counters, folded in so totals survive them. */
  private readonly gone = { forwarded: 0, pli: 0, fir: 0, stalls: 0, freezes: 0, nackRequested: 0, retransmitted: 0, nackMissed: 0, nackThrottled: 0, senderReports: 0, consentAnswered: 0, consentPassed: 0 };
  /** Viewers gone, by why they were closed. */
  readonly closed: Partial<Record<CloseReason, number>> = {};
  private readonly videoLock: SourceLock;
  private readonly audioLock: SourceLock;
  private readonly log: (line: string) => void;
  private readonly unknownTypes = new Set<number>();
  /** Decode-order tracking of the current video source: last accepted sequence number and timestamp (-1: none). */
  private prevVideoSeq = -1;
  private prevVideoTs = 0;
  /** Timestamp of the access unit that started the last keyframe (-1: none since the last discontinuity). */
  private keyAuTs = -1;

  constructor(readonly config: StreamConfig) {
    this.videoLock = new SourceLock({ clockRate: 90000, sourceTimeoutMs: config.sourceTimeoutMs });
    this.audioLock = new SourceLock({ clockRate: 48000, sourceTimeoutMs: config.sourceTimeoutMs });
    this.parameterSets = { ...config.parameterSets };
    this.log = config.log ?? (() => {});
  }

  /** The stream's counters (the packets the addon accepted and the fast viewers' native packet counts folded in first). */
  get counters(): StreamCounters {
    this.foldSteady();
    for (const v of this.fastViewers) this.foldFastEgress(v);
    return this.counts;
  }

  /**
   * Lets the addon forward this stream's steady ingest batches (steady-ingest.ts) through
   * the fast egress's fan-out, whenever only fast viewers watch.
   */
  useSteadyIngest(steady: SteadyIngest): void {
    this.steady = steady;
    this.rearm();
  }

  /** Folds what the addon accepted natively into the source locks and counters (before this module decides anything). */
  private foldSteady(): void {
    const st = this.steady;
    if (st === undefined) return;
    const c = this.counts;
    const v = st.take(0);
    if (v !== undefined) {
      c.ingestVideo += v.packets;
      c.ingestBytes += v.bytes;
      this.videoLock.advanceOwner(v.lastSeq, v.lastTs, v.lastArrival, v.packets);
      this.prevVideoSeq = v.lastSeq;
      this.prevVideoTs = v.lastTs;
    }
    const a = st.take(1); // (take reuses its result object: video's is done with)
    if (a !== undefined) {
      c.ingestAudio += a.packets;
      c.ingestBytes += a.bytes;
      this.audioLock.advanceOwner(a.lastSeq, a.lastTs, a.lastArrival, a.packets);
    }
  }

  /**
   * Arms the steady-state ingest with what may be decided natively now: nothing while a
   * werift viewer is attached (its packets go through werift, per viewer) or before a fast
   * viewer made a fan-out stream; video once it has an owner; audio once it has an owner
   * and no fast output waits for a re-base. Folds first, so the positions are current.
   */
  private rearm(): void {
    const st = this.steady;
    if (st === undefined) return;
    this.foldSteady();
    if (this.weriftViewers.size > 0 || this.fastFanout === undefined || !st.route(this.fastFanout, this.fastStream)) {
      st.disarm();
      return;
    }
    const arm = this.steadyArm;
    if (this.videoLock.steadyInto(arm)) {
      // The B-frame check applies when the last video packet was the owner's last in sequence (checkDecodeOrder).
      arm.tsCheck = this.prevVideoSeq === ((arm.nextSeq - 1) & 0xffff);
      if (arm.tsCheck) arm.lastTs = this.prevVideoTs;
      st.arm(0, arm);
    } else {
      st.disarm(0);
    }
    if (!this.fastAudioRebase && this.audioLock.steadyInto(arm)) {
      arm.tsCheck = false;
      st.arm(1, arm);
    } else {
      st.disarm(1);
    }
  }

  get name(): string {
    return this.config.name;
  }

  /** Current owners of the video and audio payload types. */
  sources(): { video?: { address: string; port: number; ssrc: number }; audio?: { address: string; port: number; ssrc: number } } {
    return { video: this.videoLock.source, audio: this.audioLock.source };
  }

  add(viewer: Viewer): void {
    this.viewers.add(viewer);
    this.weriftViewers.add(viewer);
    this.rearm(); // a werift viewer (until it connects on the fast path): every batch through here
    viewer.on((event, v) => {
      if (event === 'connected') {
        if (v.wantsFast) this.attachFast(v);
        if (v.video) this.counts.keyframeWaits++;
        this.rearm();
      }
      if (event === 'closed') {
        this.remove(v);
        this.rearm();
      }
    });
  }

  /**
   * Moves a just-connected viewer to the fast path: a session with its DTLS-SRTP keys and
   * one output per kind in the fan-out, continuing its RtpOutput's sequence/timestamp
   * start. Where the fast path cannot serve it, it stays on werift (one log line).
   */
  private attachFast(v: Viewer): void {
    const fast = this.config.fast;
    if (!fast || !this.viewers.has(v)) return;
    const r = fast.prepare(v.senders());
    if (typeof r === 'string') {
      v.egress = 'werift';
      this.log(`stream ${this.name}: viewer ${v.id} uses the werift egress: ${r}`);
      return;
    }
    const { fanout, session } = r;
    if (this.fastFanout !== fanout) {
      this.fastFanout = fanout;
      this.fastStream = fanout.addStream();
      this.fastBatch = fanout.batch();
      if (this.batchSrc !== undefined) this.fastBatch.reset(this.batchSrc);
    }
    const outputs: { video?: FastOutput; audio?: FastOutput } = {};
    try {
      for (const kind of ['video', 'audio'] as const) {
        const o = v[kind];
        if (!o) continue;
        const id = fanout.addOutput({ stream: this.fastStream, session, address: r.address, port: r.port, kind, ssrc: o.rewrite.ssrc, payloadType: o.rewrite.payloadType, lastSeq: o.lastSeq, lastTs: o.lastTs });
        outputs[kind] = new FastOutput(fanout, id, kind === 'video' ? 90000 : 48000);
      }
    } catch (err) {
      for (const o of Object.values(outputs)) fanout.removeOutput(o.id);
      fanout.removeSession(session);
      v.egress = 'werift';
      this.log(`stream ${this.name}: viewer ${v.id} uses the werift egress: ${(err as Error).message}`);
      return;
    }
    if (outputs.audio) {
      outputs.audio.startAt(0); // audio needs no keyframe; re-based at its first packet
      this.fastAudioRebase = true;
    }
    v.attachFast({ fanout, session, ...outputs });
    v.foldFastCounters = () => this.foldFastEgress(v);
    // Sender reports from the fan-out's counts, NACKs from its history, SRTCP with the session.
    v.useFastPathRtcp(fanoutRtcp(fanout, { video: outputs.video?.id, audio: outputs.audio?.id, session }));
    // Its SRTCP unprotected natively, not by werift (werift keeps it where this cannot be done).
    if (fast.inboundRtcp) v.tapRtcp(fast.inboundRtcp);
    this.weriftViewers.delete(v);
    this.fastViewers.add(v);
  }

  private remove(v: Viewer): void {
    if (!this.viewers.delete(v)) return;
    this.weriftViewers.delete(v);
    const r = v.rtcpCounters(); // before its outputs go: their sender report counts are in the fan-out's state
    if (this.fastViewers.delete(v)) {
      const f = v.fast!;
      this.checkFastDrops(v, Date.now());
      this.foldFastEgress(v);
      v.foldFastCounters = undefined;
      for (const o of [f.video, f.audio]) if (o) f.fanout.removeOutput(o.id);
      f.fanout.removeSession(f.session);
    }
    this.gone.forwarded += v.counters.forwarded;
    this.gone.pli += v.counters.pli;
    this.gone.fir += v.counters.fir;
    this.gone.nackRequested += r.nackRequested;
    this.gone.retransmitted += r.retransmitted;
    this.gone.nackMissed += r.nackMissed;
    this.gone.nackThrottled += r.nackThrottled;
    this.gone.senderReports += r.senderReports;
    const c = v.consentCounters();
    this.gone.consentAnswered += c.answered;
    this.gone.consentPassed += c.passed;
    this.gone.stalls += v.counters.stalls;
    this.gone.freezes += v.counters.freezes;
    const why = v.closeReason ?? 'deleted';
    this.closed[why] = (this.closed[why] ?? 0) + 1;
  }

  /**
   * Receiver-report statistics over the connected viewers (reports younger than
   * `maxAgeMs`): mean and max of fraction lost (0–1) and jitter (s), per kind.
   */
  receiverReports(now = Date.now(), maxAgeMs = 10_000): Record<'video' | 'audio', { viewers: number; lossMean: number; lossMax: number; jitterMean: number; jitterMax: number }> {
    const out = {
      video: { viewers: 0, lossMean: 0, lossMax: 0, jitterMean: 0, jitterMax: 0 },
      audio: { viewers: 0, lossMean: 0, lossMax: 0, jitterMean: 0, jitterMax: 0 },
    };
    for (const v of this.viewers) {
      for (const kind of ['video', 'audio'] as const) {
        const r = v.reports[kind];
        if (!r || now - r.at > maxAgeMs) continue;
        const o = out[kind];
        o.viewers++;
        o.lossMean += r.fractionLost;
        o.jitterMean += r.jitterSeconds;
        o.lossMax = Math.max(o.lossMax, r.fractionLost);
        o.jitterMax = Math.max(o.jitterMax, r.jitterSeconds);
      }
    }
    for (const o of Object.values(out)) {
      if (o.viewers === 0) continue;
      o.lossMean /= o.viewers;
      o.jitterMean /= o.viewers;
    }
    return out;
  }

  /**
   * Totals over current and past viewers: PLI, FIR, stalls, freezes; on the fast path the
   * NACKed sequence numbers (requested), the packets resent for them and those no longer in
   * the history (missed), and the sender reports sent; with ICE-lite the viewers' consent
   * checks the relay answered itself and those it left to werift. `frozen`: viewers frozen now.
   */
  totals(now = Date.now()): { pli: number; fir: number; stalls: number; freezes: number; frozen: number; nackRequested: number; retransmitted: number; nackMissed: number; nackThrottled: number; senderReports: number; consentAnswered: number; consentPassed: number } {
    const t = { ...this.gone, frozen: 0 };
    for (const v of this.viewers) {
      if (v.connected && v.frozen(now)) t.frozen++;
      t.pli += v.counters.pli;
      t.fir += v.counters.fir;
      t.stalls += v.counters.stalls;
      t.freezes += v.counters.freezes;
      const r = v.rtcpCounters();
      t.nackRequested += r.nackRequested;
      t.retransmitted += r.retransmitted;
      t.nackMissed += r.nackMissed;
      t.nackThrottled += r.nackThrottled;
      t.senderReports += r.senderReports;
      const c = v.consentCounters();
      t.consentAnswered += c.answered;
      t.consentPassed += c.passed;
    }
    const { forwarded: _forwarded, ...rest } = t;
    return rest;
  }

  /**
   * Starts a receive batch whose datagrams lie in `src` (the receive arena): the
   * {@link RelayStream.onDatagram} calls that follow collect the fast path's packets, and
   * {@link RelayStream.endBatch} forwards them in one native call.
   */
  beginBatch(src: Uint8Array): void {
    this.foldSteady();
    this.batchSrc = src;
    this.fastBatch?.reset(src);
  }

  /**
   * Ends the batch: the fast viewers' packets of it go out (one native call). Their packet
   * counts are folded in when the counters are read; a viewer is checked for drops only when
   * the fan-out dropped something since the last check.
   */
  endBatch(now: number): void {
    this.flushFast(now);
    this.batchSrc = undefined;
    const f = this.fastFanout;
    if (f === undefined) return;
    const t = f.totals;
    const drops = t.dropped + t.retransmitDropped;
    if (drops !== this.seenFanoutDrops) {
      this.seenFanoutDrops = drops;
      for (const v of this.fastViewers) this.checkFastDrops(v, now);
    }
    this.rearm();
  }

  /** Forwards what the current batch holds to the fast outputs and starts the batch's list afresh. */
  private flushFast(now: number): void {
    const b = this.fastBatch;
    if (!b || b.count === 0) return;
    this.fastFanout!.forward(this.fastStream, b, now);
    b.reset(b.src);
  }

  /** Folds a fast viewer's native packet counts (growth since the last fold) into the stream's and the viewer's counters. */
  private foldFastEgress(v: Viewer): void {
    const f = v.fast;
    if (!f) return;
    const c = this.counts;
    if (f.video) {
      const o = f.video;
      const d = o.packets - o.seenPackets;
      if (d !== 0) {
        o.seenPackets += d;
        c.egressVideo += d;
        v.addForwarded(d);
      }
    }
    if (f.audio) {
      const o = f.audio;
      const d = o.packets - o.seenPackets;
      if (d !== 0) {
        o.seenPackets += d;
        c.egressAudio += d;
        v.addForwarded(d);
      }
    }
  }

  /** A fast viewer whose video packets were dropped (send queue full) fell behind: its video waits for the next keyframe. */
  private checkFastDrops(v: Viewer, now: number): void {
    const o = v.fast?.video;
    if (!o) return;
    const d = o.dropped;
    if (d === o.seenDropped) return;
    o.seenDropped = d;
    if (o.live) {
      v.stall(now);
      this.counts.stalls++;
      this.counts.keyframeWaits++;
    }
  }

  /**
   * One ingest datagram (`bytes[offset .. offset+length)`, valid only during the call)
   * from `address`:`port`, received at `now` (ms, `Date.now()` clock). Outside a
   * {@link RelayStream.beginBatch}/{@link RelayStream.endBatch} pair it is a batch of its own.
   */
  onDatagram(bytes: Uint8Array, offset: number, length: number, address: string, port: number, now: number): void {
    if (this.batchSrc === undefined) {
      this.beginBatch(bytes);
      try {
        this.onDatagram(bytes, offset, length, address, port, now);
      } finally {
        this.endBatch(now);
      }
      return;
    }
    const h = parseRtpHeader(bytes, offset, length);
    const c = this.counts;
    if (!h) {
      c.ingestInvalid++;
      return;
    }
    const isVideo = h.payloadType === this.config.videoPayloadType;
    if (!isVideo && h.payloadType !== this.config.audioPayloadType) {
      c.ingestUnknownPayloadType++;
      this.noteUnknownType(h.payloadType);
      return;
    }
    const admit = (isVideo ? this.videoLock : this.audioLock).admit(address, port, h.ssrc, h.sequenceNumber, h.timestamp, now);
    if (admit === Admit.DropForeign) {
      c.ingestForeign++;
      return;
    }
    if (admit === Admit.DropProbation) {
      c.ingestProbation++;
      return;
    }
    if (admit === Admit.DropSequence) {
      c.ingestBadSequence++;
      return;
    }
    if (admit === Admit.AcceptDiscontinuity) {
      this.flushFast(now); // what came before goes out with the offsets it belongs to
      this.discontinuity(isVideo, now);
    }
    c.ingestBytes += length;
    if (length > INGEST_MAX_RTP_BYTES) {
      c.ingestOversize++;
      if (c.warnings.oversize === 0) {
        c.warnings.oversize++;
        this.log(
          `stream ${this.name}: warning: ingest RTP packets of ${length} bytes are over the ${INGEST_MAX_RTP_BYTES} bytes that fit the ${WEBRTC_MAX_RTP_BYTES}-byte WebRTC path once SRTP-protected, and may not reach viewers; ` +
            `packetize smaller at the encoder: ffmpeg '-f rtp "rtp://HOST:PORT?pkt_size=1184"', GStreamer 'rtph264pay mtu=1184'`,
        );
      }
    }
    let keyStart = false;
    let mark = KeyframeMark.None;
    if (isVideo) {
      c.ingestVideo++;
      const p0 = offset + h.payloadOffset;
      mark = keyframeMark(bytes, p0, h.payloadLength);
      const nal = h.payloadLength > 0 ? bytes[p0] & 0x1f : 0;
      if (nal === 7 || nal === 8 || nal === 24) collectParameterSets(bytes, p0, h.payloadLength, this.parameterSets);
      // The first SPS or IDR slice of an access unit starts a keyframe; the rest of that unit belongs to it.
      if (mark !== KeyframeMark.None && h.timestamp !== this.keyAuTs) {
        keyStart = true;
        this.keyAuTs = h.timestamp;
        this.lastKeyframeAt = now;
        c.keyframes++;
      }
      this.checkDecodeOrder(h.sequenceNumber, h.timestamp);
    } else {
      c.ingestAudio++;
    }
    if (this.viewers.size === 0) return;
    if (this.fastViewers.size > 0) this.fastDatagram(bytes, offset, length, isVideo, keyStart, mark, h.sequenceNumber, h.timestamp, h.ssrc, h.payloadType, now);
    for (const v of this.weriftViewers) {
      if (!v.connected) continue;
      if (!v.hasRoom) {
        if (v.videoLive) {
          v.stall(now);
          c.stalls++;
          c.keyframeWaits++;
        }
        continue;
      }
      if (isVideo) {
        const out = v.video;
        if (!out) continue;
        if (keyStart && out.live && v.parameterSetsDue) {
          // The viewer asked for a keyframe (PLI/FIR): this one starts with the cached SPS/PPS.
          v.parameterSetsDue = false;
          const ps = this.parameterSets;
          if (mark === KeyframeMark.IdrStart && ps.sps && ps.pps) {
            const pkt = parameterSetPacket([ps.sps, ps.pps], h.sequenceNumber, h.timestamp, h.ssrc, h.payloadType);
            v.sendVideo(out.insert(pkt, 0, pkt.length, now));
            c.parameterSetsSent++;
            c.parameterSetsOnRequest++;
            c.egressVideo++;
          }
        }
        if (!out.live) {
          if (!keyStart) continue;
          c.keyframeWaitMs += v.waitingSince ? now - v.waitingSince : 0;
          const ps = this.parameterSets;
          if (mark === KeyframeMark.IdrStart && ps.sps && ps.pps) {
            // The viewer starts at an IDR it has no SPS/PPS for: send the cached ones first, in one STAP-A.
            const inSeq = (h.sequenceNumber - 1) & 0xffff;
            out.resume(inSeq, h.timestamp, now);
            const pkt = parameterSetPacket([ps.sps, ps.pps], inSeq, h.timestamp, h.ssrc, h.payloadType);
            v.sendVideo(out.apply(pkt, 0, pkt.length, now));
            c.parameterSetsSent++;
            c.egressVideo++;
          } else {
            out.resume(h.sequenceNumber, h.timestamp, now);
          }
        }
        if (keyStart) v.gotKeyframe();
        v.sendVideo(out.apply(bytes, offset, length, now));
        c.egressVideo++;
      } else {
        const out = v.audio;
        if (!out) continue;
        if (out.rebasePending) out.resume(h.sequenceNumber, h.timestamp, now);
        v.sendAudio(out.apply(bytes, offset, length, now));
        c.egressAudio++;
      }
    }
  }

  /**
   * The fast viewers' part of one accepted datagram: decisions that fall on it (gated video
   * outputs start at a keyframe's first packet, after the cached SPS/PPS when it is an IDR;
   * audio outputs re-base), then the datagram joins the batch (no per-viewer work otherwise).
   */
  private fastDatagram(
    bytes: Uint8Array,
    offset: number,
    length: number,
    isVideo: boolean,
    keyStart: boolean,
    mark: KeyframeMark,
    seq: number,
    ts: number,
    ssrc: number,
    pt: number,
    now: number,
  ): void {
    const batch = this.fastBatch!;
    if (batch.src !== bytes) {
      // A datagram from another buffer than the batch's (a caller outside beginBatch): its own batch.
      this.flushFast(now);
      batch.reset(bytes);
    }
    const c = this.counts;
    if (isVideo && keyStart) {
      const ps = this.parameterSets;
      const inject = mark === KeyframeMark.IdrStart && ps.sps !== undefined && ps.pps !== undefined;
      this.fastParameterSetsOnRequest(inject, seq, ts, ssrc, pt, now);
      let start = -1;
      for (const v of this.fastViewers) {
        const out = v.fast!.video;
        if (!out) continue;
        if (!out.live) {
          c.keyframeWaitMs += v.waitingSince ? now - v.waitingSince : 0;
          if (inject) {
            const inSeq = (seq - 1) & 0xffff;
            if (start < 0) start = batch.pushExtra(parameterSetPacket([ps.sps!, ps.pps!], inSeq, ts, ssrc, pt), true, true);
            out.resume(inSeq, ts, now);
            c.parameterSetsSent++;
          } else {
            if (start < 0) start = batch.count;
            out.resume(seq, ts, now);
          }
          out.startAt(start);
        }
        v.gotKeyframe();
      }
    } else if (!isVideo && this.fastAudioRebase) {
      this.fastAudioRebase = false;
      for (const v of this.fastViewers) {
        const out = v.fast!.audio;
        if (out?.rebasePending) out.resume(seq, ts, now);
      }
    }
    batch.push(offset, length, isVideo);
  }

  /**
   * Live fast viewers that asked for a keyframe (PLI/FIR) get the cached SPS/PPS before
   * this IDR, as werift viewers do (see the module doc): the STAP-A takes the IDR's
   * ingest sequence number with the viewer's current offsets, and every later packet moves
   * up by one. The offsets change in the middle of the batch, so what the batch holds goes
   * out first, then the STAP-A alone (to those viewers only), then the batch goes on.
   */
  private fastParameterSetsOnRequest(inject: boolean, seq: number, ts: number, ssrc: number, pt: number, now: number): void {
    let due: FastOutput[] | undefined;
    for (const v of this.fastViewers) {
      const out = v.fast!.video;
      if (!out || !out.live || !v.parameterSetsDue) continue;
      v.parameterSetsDue = false;
      if (inject) (due ??= []).push(out);
    }
    if (!due) return;
    const batch = this.fastBatch!;
    const ps = this.parameterSets;
    this.flushFast(now);
    const idx = batch.pushExtra(parameterSetPacket([ps.sps!, ps.pps!], seq, ts, ssrc, pt), true, true);
    for (const out of due) out.startAt(idx);
    this.flushFast(now);
    for (const out of due) out.shiftSeq(1);
    this.counts.parameterSetsSent += due.length;
    this.counts.parameterSetsOnRequest += due.length;
  }

  /** A new source or a discontinuity of one kind: gate video to the next keyframe, re-base every output of that kind. */
  private discontinuity(isVideo: boolean, now: number): void {
    const lock = isVideo ? this.videoLock : this.audioLock;
    const why: SourceChange = lock.lastChange;
    const c = this.counts;
    if (why === 'first' || why === 'restart' || why === 'switch') {
      c.sourceChanges[why]++;
      const s = lock.source!;
      this.log(`stream ${this.name}: ${isVideo ? 'video' : 'audio'} source ${why === 'first' ? 'is' : `changed (${why}) to`} ${s.address}:${s.port} SSRC 0x${s.ssrc.toString(16).padStart(8, '0')}`);
    } else {
      c.discontinuities++;
    }
    if (isVideo) {
      this.prevVideoSeq = -1;
      this.keyAuTs = -1;
      for (const v of this.viewers) {
        const out = v.fast?.video ?? v.video;
        if (!out) continue;
        if (out.live && v.connected) {
          c.keyframeWaits++;
          v.waitingSince = now;
        }
        out.gate();
      }
    } else {
      for (const v of this.viewers) (v.fast?.audio ?? v.audio)?.rebase();
      this.fastAudioRebase = true;
    }
  }

  /** B-frames: within a run of consecutive sequence numbers, a frame whose timestamp is behind the previous frame's. */
  private checkDecodeOrder(seq: number, ts: number): void {
    const prevSeq = this.prevVideoSeq;
    const prevTs = this.prevVideoTs;
    this.prevVideoSeq = seq;
    this.prevVideoTs = ts;
    if (prevSeq < 0 || seq !== ((prevSeq + 1) & 0xffff) || ts === prevTs) return;
    if (((ts - prevTs) | 0) >= 0) return;
    const c = this.counts;
    c.bframes++;
    if (c.warnings.bframes === 0) {
      c.warnings.bframes++;
      this.log(
        `stream ${this.name}: warning: the H.264 ingest has B-frames (decode-order timestamps go backwards); WebRTC players do not reorder frames, ` +
          `so video stutters and viewers ask for keyframes. Encode without B-frames: ffmpeg '-bf 0' (x264: '-x264-params bframes=0'), GStreamer 'x264enc bframes=0'`,
      );
    }
  }

  private noteUnknownType(pt: number): void {
    if (this.unknownTypes.size < 16) this.unknownTypes.add(pt);
    const c = this.counts;
    if (c.warnings.unknown_payload_type === 0 && c.ingestUnknownPayloadType >= UNKNOWN_PT_WARN_AFTER && c.ingestVideo + c.ingestAudio === 0) {
      c.warnings.unknown_payload_type++;
      this.log(
        `stream ${this.name}: warning: receiving only RTP payload types ${[...this.unknownTypes].sort((a, b) => a - b).join(', ')}, ` +
          `but H.264 is expected on ${this.config.videoPayloadType} and Opus on ${this.config.audioPayloadType}: ` +
          `start the relay with --video-pt/--audio-pt set to what the encoder sends (or give it the encoder's SDP)`,
      );
    }
  }

  /** Closes every viewer. */
  async close(): Promise<void> {
    await Promise.all([...this.viewers].map((v) => v.close('relay-stop')));
  }
}
