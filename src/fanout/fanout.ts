/**
 * The native RTP fan-out (addon/fanout.{h,cc}): a relay hands one ingest receive batch of a
 * stream to native code in ONE call; for each packet and each live output of that stream
 * native code copies it into the shared WebRTC socket's send ring, rewrites the RTP header
 * (exactly `rewriteRtpHeader` of src/relay/output.ts), SRTP-protects it in place with the
 * output's session (RFC 3711 AES_CM_128_HMAC_SHA1_80 / RFC 7714 AEAD_AES_128_GCM) and queues
 * it to the output's peer; the flush is the socket's sendmmsg path with GSO. TypeScript keeps
 * every decision (joins, keyframe gating, resyncs, leaves) and applies it per batch through
 * the per-output state array.
 *
 * ## API (for the relay, RTCP and bench code)
 *
 * ```ts
 * const fanout = new RtpFanout(muxSocket);            // the shared socket werift's ICE uses
 * const stream = fanout.addStream();
 * const session = fanout.addSession({ profile, masterKey, masterSalt }); // a viewer's DTLS-SRTP keys
 * const out = fanout.addOutput({ stream, session, port, address, kind: 'video', ssrc, payloadType });
 * fanout.setLive(out, 0);                              // goes live at packet 0 of the next batch
 * const batch = fanout.batch();                        // reused per call
 * batch.reset(recv.bytes); batch.push(off, len, true); …
 * fanout.forward(stream, batch, Date.now());           // one native call (+1 per ~ring fill)
 * fanout.retransmit(out, [seq1, seq2]);               // RTCP NACK → resend from the history
 * fanout.routeIngest(ingestSocket, stream, state);   // steady batches forwarded natively (relay/steady-ingest.ts)
 * fanout.protectRtcp(session, srBytes);                // SRTCP with the viewer's context
 * fanout.sendRtcp(out, srBytes);                       // …and queued to the output's viewer
 * fanout.packets(out); fanout.octets(out);             // RFC 3550 SR sender's counts
 * fanout.lastTs(out); fanout.lastSentAt(out);          // RTP ↔ wall clock (ms) of the last packet
 * ```
 *
 * State per output (read without a native call; `state` is a Float64Array, `FANOUT.STRIDE`
 * doubles per output at `id * STRIDE`, fields `FANOUT.*`): live/starting flags, SSRC,
 * payload type, sequence/timestamp offsets, start index (written by TS); last sequence
 * number and timestamp sent, packets, payload octets, protected bytes, last send time,
 * dropped (queue full), oversize (over the path MTU after SRTP), retransmitted, SRTP errors
 * (written by native code).
 *
 * Guarantees: per output, packets leave in ingest order, output-major within a batch (all
 * of one viewer's packets, then the next viewer's), so a frame's equal-size fragments to one
 * viewer are adjacent ring slots and leave as one GSO message. No datagram is longer than
 * the MTU (default 1200 bytes after SRTP); what would be is counted, not sent. The socket's
 * accounting identity (enqueued = sent + failed + dropped + queued) holds: what the queue
 * cannot take is counted as dropped (reason queue full) there and per output.
 *
 * Folder src/fanout/: the typed wrapper of the addon's fan-out. Imports native/, socket/ and
 * srtp/; the relay builds on it.
 */
import { Buffer } from 'node:buffer';
import { FANOUT, INGEST, loadNative, type NativeBinding, type NativeRtpFanout } from '../native/binding.js';
import { plainAllocate, type Allocate } from '../scheduler/slot-ring.js';
import { NativeBatchSocket } from '../socket/native-socket.js';
import { addRecvDispatchHook } from '../socket/recv-dispatch.js';
import { BatchSocketError, BatchSocketTypeError } from '../errors.js';
import { srtpOverhead, type SrtpKeyMaterial } from '../srtp/index.js';
import { statusError } from '../srtp/errors.js';
import type { BatchSocket, Peer } from '../types.js';

export { FANOUT } from '../native/binding.js';

/** Largest datagram the fan-out emits by default (after SRTP), bytes: the WebRTC path MTU browsers assume. */
export const FANOUT_DEFAULT_MTU = 1200;
/** Ingest packets (and per-output sequence mappings) kept for {@link RtpFanout.retransmit}. */
export const FANOUT_HISTORY = FANOUT.HISTORY;
/** Arena bytes reserved per output for a sender report with its SDES CNAME and SRTCP trailer (a longer one waits for room). */
const SR_ROOM = 128;
/** Slots asked for per ring reservation at most (a batch beyond goes in several native calls). */
const MAX_RESERVE_SLOTS = 4096;
/** Batches one fan-out registers natively at most (addon/fanout.cc kMaxBatches); more use the per-call path. */
const MAX_BATCH_SLOTS = 65536;

/** Media kind of an output: it takes only the batch's packets of that kind. */
export type FanoutKind = 'video' | 'audio';

export interface FanoutOutputOptions {
  /** Stream id from {@link RtpFanout.addStream}. */
  stream: number;
  /** SRTP session id from {@link RtpFanout.addSession}. */
  session: number;
  /** The viewer's address on the shared socket (its ICE pair's remote candidate). */
  address: string;
  port: number;
  kind: FanoutKind;
  /** Outgoing SSRC (u32) and payload type (0–127). */
  ssrc: number;
  payloadType: number;
  /** As if a packet (seq, ts) had been sent last (RFC 3550 §5.1 random start); default random. */
  lastSeq?: number;
  lastTs?: number;
}

/** What one {@link RtpFanout.forward} did. Reused: copy what you keep. */
export interface ForwardResult {
  /** Datagrams queued on the socket. */
  queued: number;
  /** Native calls it took (1 unless the send ring filled up). */
  calls: number;
  /** Datagrams not queued: the socket's send queue was full (counted there as dropped too). */
  dropped: number;
  /** Datagrams not sent: longer than the MTU after SRTP. */
  oversize: number;
  /** SRTP failures. */
  errors: number;
}

/** What one {@link RtpFanout.retransmit} did. */
export interface RetransmitResult {
  queued: number;
  /** Sequence numbers not in the history (too old, never sent). */
  misses: number;
  dropped: number;
}

/**
 * One receive batch's packets for {@link RtpFanout.forward}: (offset, length, flags)
 * triples over the receive arena (`src`), plus packets the relay made itself (SPS/PPS
 * STAP-A before an IDR) in a side buffer. Reused across batches; nothing is copied at
 * {@link FanoutBatch.push}.
 */
export class FanoutBatch {
  /** The receive arena the packets point into. */
  src: Uint8Array = new Uint8Array(0);
  /** Packets the relay made (flag EXTRA), appended by {@link FanoutBatch.pushExtra}. */
  extra: Buffer;
  private extraUsed = 0;
  packets: Uint32Array;
  /** Packets pushed. */
  count = 0;
  /** Payload bytes pushed (the ring room a batch needs per output). */
  bytes = 0;
  videoCount = 0;
  /** @internal The fan-out that made this batch ({@link RtpFanout.batch}) and registered it natively, its slot there, and the arrays registered. */
  owner: RtpFanout | undefined;
  /** @internal */
  slot = -1;
  /** @internal */
  registered: [src: Uint8Array, extra: Uint8Array, packets: Uint32Array] | undefined;

  /**
   * @param alloc memory for the packet list and the side buffer ({@link RtpFanout.batch}
   *   passes the addon's native memory, which it reads without a lookup per call).
   */
  constructor(private readonly alloc: Allocate = plainAllocate) {
    this.extra = Buffer.from(alloc(4096));
    this.packets = new Uint32Array(alloc(4 * 3 * 256));
  }

  /** Starts a new batch over `src`. */
  reset(src: Uint8Array): void {
    this.src = src;
    this.count = 0;
    this.bytes = 0;
    this.videoCount = 0;
    this.extraUsed = 0;
  }

  /** Adds `src[offset .. offset+length)` (an RTP packet ≥ 12 bytes); returns its index. */
  push(offset: number, length: number, video: boolean): number {
    return this.add(offset, length, video ? FANOUT.PACKET_VIDEO : 0);
  }

  /**
   * Adds a packet the relay made (copied now into the side buffer). `injected`: it goes
   * only to outputs that start at exactly this index ({@link RtpFanout.setLive} with
   * `start` = the returned index), e.g. the cached SPS/PPS before the IDR they start at.
   */
  pushExtra(packet: Uint8Array, video: boolean, injected: boolean): number {
    if (this.extraUsed + packet.length > this.extra.length) {
      const grown = Buffer.from(this.alloc(Math.max(this.extra.length * 2, this.extraUsed + packet.length)));
      this.extra.copy(grown, 0, 0, this.extraUsed);
      this.extra = grown;
    }
    this.extra.set(packet, this.extraUsed);
    const off = this.extraUsed;
    this.extraUsed += packet.length;
    return this.add(off, packet.length, (video ? FANOUT.PACKET_VIDEO : 0) | FANOUT.PACKET_EXTRA | (injected ? FANOUT.PACKET_INJECTED : 0));
  }

  private add(offset: number, length: number, flags: number): number {
    if (this.count * 3 + 3 > this.packets.length) {
      const grown = new Uint32Array(this.alloc(4 * this.packets.length * 2));
      grown.set(this.packets);
      this.packets = grown;
    }
    const i = this.count++;
    const p = this.packets;
    p[3 * i] = offset;
    p[3 * i + 1] = length;
    p[3 * i + 2] = flags;
    this.bytes += length;
    if (flags & FANOUT.PACKET_VIDEO) this.videoCount++;
    return i;
  }
}

interface OutputInfo {
  stream: number;
  session: number;
  peer: Peer;
  kind: FanoutKind;
}

/**
 * Why the native fan-out cannot run here (no addon), or undefined when it can.
 */
export function fanoutUnavailableReason(): string | undefined {
  const r = loadNative();
  if (!r.ok) return r.reason;
  if (typeof r.binding.RtpFanout !== 'function') return 'the native addon has no RtpFanout (built from another version)';
  return undefined;
}

/**
 * The native fan-out over one batched socket (the shared WebRTC socket). See the module
 * doc for the API and guarantees.
 */
export class RtpFanout {
  /** Per-output state shared with native code (`FANOUT.STRIDE` doubles per output; fields `FANOUT.*`). */
  readonly state: Float64Array;
  /** Largest datagram emitted, bytes (after SRTP). */
  readonly mtu: number;
  /** Totals over the fan-out's life. */
  readonly totals = { forwardCalls: 0, queued: 0, dropped: 0, oversize: 0, errors: 0, retransmitted: 0, retransmitMisses: 0, retransmitDropped: 0 };
  private readonly native: NativeRtpFanout;
  /** Each native call's parameters and results (`FANOUT.IO_*`), in the state's buffer. */
  private readonly io: Float64Array;
  /** The send-ring arrays last registered with the native side (setRing). */
  private ring: { arena?: Uint8Array; offsets?: Uint32Array; lengths?: Uint32Array; peers?: Int32Array } = {};
  private readonly outputs = new Map<number, OutputInfo>();
  /** Outputs per kind of each stream (room estimates), by stream id (small, reused ids: an array, not a Map, for forward()'s lookup). */
  private readonly streamOutputs: ({ video: number; audio: number } | undefined)[] = [];
  private readonly sessions = new Map<number, number>(); // id → profile
  private readonly result: ForwardResult = { queued: 0, calls: 0, dropped: 0, oversize: 0, errors: 0 };
  private readonly seqs = new Uint32Array(1024);
  private readonly defaultBatch = new FanoutBatch();
  /** Native memory (the addon's allocShared) for the batches {@link RtpFanout.batch} makes. */
  private readonly alloc: Allocate;
  /** Native batch slots (setBatch): the next never used, and those whose batch was collected. */
  private nextBatchSlot = 0;
  private readonly freeBatchSlots: number[] = [];
  private readonly batchSlots = new FinalizationRegistry<number>((slot) => {
    this.native.releaseBatch(slot);
    this.freeBatchSlots.push(slot);
  });
  private rtcpScratch = Buffer.allocUnsafe(256);
  /** Ingest sockets routed here ({@link RtpFanout.routeIngest}) with their stream, and the removal of the dispatch hook while any is. */
  private readonly routed = new Map<NativeBatchSocket, number>();
  private unhookIngest: (() => void) | undefined;
  /** Most outputs one stream has (the ingest reservation's estimate). */
  private maxStreamOutputs = 0;
  /** Batches forwarded by {@link RtpFanout.routeIngest}'s native path (not seen by JS). */
  ingestBatches = 0;

  /**
   * @param socket the batched socket the viewers' ICE pairs use (the werift plug's shared
   *   port); it must be a `'batch'` backend socket.
   * @param options `maxOutputs` (default 1024, at most 65536), `mtu` (default 1200 bytes).
   * @throws ERR_BACKEND_UNAVAILABLE without the native addon or on a `'dgram'` backend
   *   socket; ERR_INVALID_ARG_VALUE for bad options.
   */
  constructor(
    readonly socket: BatchSocket,
    options: { maxOutputs?: number; mtu?: number } = {},
  ) {
    const reason = fanoutUnavailableReason();
    if (reason) throw new BatchSocketError('ERR_BACKEND_UNAVAILABLE', `the native RTP fan-out is unavailable: ${reason}`);
    if (!(socket instanceof NativeBatchSocket)) {
      throw new BatchSocketError('ERR_BACKEND_UNAVAILABLE', "the native RTP fan-out needs a 'batch' backend socket (this one is 'dgram')");
    }
    const maxOutputs = options.maxOutputs ?? 1024;
    const mtu = options.mtu ?? FANOUT_DEFAULT_MTU;
    if (!Number.isInteger(maxOutputs) || maxOutputs < 1 || maxOutputs > 65536) {
      throw new BatchSocketTypeError('ERR_INVALID_ARG_VALUE', `options.maxOutputs must be an integer in 1..65536. Received ${String(maxOutputs)}`);
    }
    if (!Number.isInteger(mtu) || mtu < 28 || mtu > 65535) {
      throw new BatchSocketTypeError('ERR_INVALID_ARG_VALUE', `options.mtu must be an integer in 28..65535 bytes. Received ${String(mtu)}`);
    }
    this.mtu = mtu;
    // state and io in one buffer of native memory: the native side finds both without a lookup per call.
    const binding = (loadNative() as { ok: true; binding: Pick<NativeBinding, 'RtpFanout' | 'allocShared'> }).binding;
    const buffer = binding.allocShared(8 * (maxOutputs * FANOUT.STRIDE + FANOUT.IO_LENGTH));
    this.state = new Float64Array(buffer, 0, maxOutputs * FANOUT.STRIDE);
    this.io = new Float64Array(buffer, 8 * maxOutputs * FANOUT.STRIDE, FANOUT.IO_LENGTH);
    this.native = new binding.RtpFanout(this.state, this.io);
    this.alloc = (bytes) => binding.allocShared(bytes);
  }

  /**
   * Registers `r`'s arrays with the native side when they are not the ones it has (the
   * socket's send ring grew, or the empty stand-in of a closed socket): the per-batch calls
   * then pass none of them.
   */
  private useRing(r: { arena: Uint8Array; offsets: Uint32Array; lengths: Uint32Array; peers: Int32Array }): void {
    const c = this.ring;
    if (c.arena === r.arena && c.offsets === r.offsets && c.lengths === r.lengths && c.peers === r.peers) return;
    this.native.setRing(r.arena, r.offsets, r.lengths, r.peers);
    this.ring = { arena: r.arena, offsets: r.offsets, lengths: r.lengths, peers: r.peers };
  }

  private get sock(): NativeBatchSocket {
    return this.socket as NativeBatchSocket;
  }

  /**
   * A reusable batch builder (one per caller that builds batches), registered with this
   * fan-out: {@link RtpFanout.forward} then passes no arrays per call, only when the batch's
   * arrays changed (another receive arena, or grown). Any other batch works too, with its
   * arrays passed per call.
   */
  batch(): FanoutBatch {
    const b = new FanoutBatch(this.alloc);
    const slot = this.freeBatchSlots.pop() ?? (this.nextBatchSlot < MAX_BATCH_SLOTS ? this.nextBatchSlot++ : -1);
    if (slot >= 0) {
      b.owner = this;
      b.slot = slot;
      this.batchSlots.register(b, slot);
    }
    return b;
  }

  /** One native forward() call over `batch` (its registered slot when this fan-out made it). */
  private forwardOnce(stream: number, batch: FanoutBatch): number {
    if (batch.owner !== this) return this.native.forward(stream, batch.src, batch.extra, batch.packets, batch.count);
    const r = batch.registered;
    if (r === undefined || r[0] !== batch.src || r[1] !== batch.extra || r[2] !== batch.packets) {
      this.native.setBatch(batch.slot, batch.src, batch.extra, batch.packets);
      batch.registered = [batch.src, batch.extra, batch.packets];
    }
    return this.native.forwardBatch(stream, batch.slot, batch.count);
  }

  // ---- streams, sessions, outputs ------------------------------------------------------

  /** A new stream; its ingest history (512 packets × 1200 bytes) is allocated now. */
  addStream(): number {
    const id = this.native.addStream();
    this.streamOutputs[id] = { video: 0, audio: 0 };
    return id;
  }

  /** Removes a stream, every output on it and every ingest route to it. */
  removeStream(id: number): void {
    for (const [socket, stream] of this.routed) if (stream === id) this.unrouteIngest(socket);
    for (const [o, info] of this.outputs) if (info.stream === id) this.removeOutput(o);
    this.native.removeStream(id);
    this.streamOutputs[id] = undefined;
  }

  /**
   * One SRTP context for a viewer's DTLS-SRTP session (local master key 16 bytes, salt 14
   * bytes AES-CM / 12 bytes GCM, as werift's `RTCDtlsTransport.srtp.config.keys`); the
   * viewer's outputs share it. Throws RangeError for an unsupported profile or wrong
   * lengths, ERR_SRTP_CRYPTO if OpenSSL fails.
   */
  addSession(keys: SrtpKeyMaterial): number {
    const profile = typeof keys.profile === 'number' ? keys.profile : keys.profile === 'SRTP_AEAD_AES_128_GCM' ? 0x0007 : keys.profile === 'SRTP_AES128_CM_HMAC_SHA1_80' ? 0x0001 : -1;
    const id = this.native.addSession(profile, keys.masterKey, keys.masterSalt);
    this.sessions.set(id, profile);
    return id;
  }

  /** Frees a session; outputs still on it stop sending. */
  removeSession(id: number): void {
    this.native.removeSession(id);
    this.sessions.delete(id);
  }

  /**
   * SRTCP-protects a compound RTCP packet with the session's context (so the relay's own
   * RTCP — sender reports — continues the viewer's SRTCP index); returns a new Buffer.
   * @throws SrtpError (code from the SRTP status) for a malformed packet.
   */
  protectRtcp(session: number, packet: Uint8Array): Buffer {
    if (!this.sessions.has(session)) throw new BatchSocketError('ERR_INVALID_ARG_VALUE', `no SRTP session ${session} in this fan-out`);
    return Buffer.from(this.protectRtcpInScratch(session, packet));
  }

  /** Protects `packet` with `session` (known) into the reused scratch buffer; the view is valid until the next call. */
  private protectRtcpInScratch(session: number, packet: Uint8Array): Buffer {
    const capacity = packet.length + srtpOverhead(this.sessions.get(session)!, 'rtcp');
    if (this.rtcpScratch.length < capacity) this.rtcpScratch = Buffer.allocUnsafe(Math.max(capacity, 2 * this.rtcpScratch.length));
    const buf = this.rtcpScratch;
    buf.set(packet, 0);
    const n = this.native.protectRtcp(session, buf, 0, packet.length, capacity);
    if (n < 0) throw statusError(n, 'protectRtcp');
    return buf.subarray(0, n);
  }

  /**
   * SRTCP-protects one plain compound RTCP packet with the SRTP session of output `id` (its
   * SRTCP index continues in native memory) and queues it to that output's viewer on the
   * fan-out's socket, behind the RTP already queued there — the relay's sender reports,
   * sent the way its RTP is (no per-packet Buffer: protected in a reused scratch buffer, then
   * copied into the send queue). Returns false when the send queue could not take it
   * (counted there as dropped).
   * @throws BatchSocketError ERR_INVALID_ARG_VALUE for an unknown output; SrtpError for a
   *   malformed packet.
   */
  sendRtcp(id: number, packet: Uint8Array): boolean {
    const info = this.outputs.get(id);
    if (!info) throw new BatchSocketError('ERR_INVALID_ARG_VALUE', `no output ${id} in this fan-out`);
    return info.peer.send(this.protectRtcpInScratch(info.session, packet));
  }

  /**
   * An output of one kind of a stream to one viewer; gated (not live) until
   * {@link RtpFanout.setLive}. Pins the viewer's address in the socket's peer table.
   * Returns its id (its row in {@link RtpFanout.state}).
   */
  addOutput(o: FanoutOutputOptions): number {
    const peer = this.sock.peer(o.port, o.address);
    const peerId = (peer as unknown as { id: number }).id;
    let id: number;
    try {
      id = this.native.addOutput(o.stream, o.session, peerId, o.kind === 'video' ? 1 : 0);
    } catch (err) {
      peer.release();
      throw err;
    }
    this.outputs.set(id, { stream: o.stream, session: o.session, peer, kind: o.kind });
    this.streamOutputs[o.stream]![o.kind]++;
    this.updateMaxStreamOutputs();
    const s = this.state;
    const b = id * FANOUT.STRIDE;
    s[b + FANOUT.SSRC] = o.ssrc >>> 0;
    s[b + FANOUT.PAYLOAD_TYPE] = o.payloadType & 0x7f;
    s[b + FANOUT.LAST_SEQ] = (o.lastSeq ?? (Math.random() * 0x10000) >>> 0) & 0xffff;
    s[b + FANOUT.LAST_TS] = (o.lastTs ?? (Math.random() * 0x100000000) >>> 0) >>> 0;
    return id;
  }

  /** Stops and removes an output (its peer-table entry is unpinned). */
  removeOutput(id: number): void {
    const info = this.outputs.get(id);
    if (!info) return;
    this.native.removeOutput(id);
    this.outputs.delete(id);
    this.streamOutputs[info.stream]![info.kind]--;
    this.updateMaxStreamOutputs();
    info.peer.release();
  }

  private updateMaxStreamOutputs(): void {
    let max = 0;
    for (const c of this.streamOutputs) if (c) max = Math.max(max, c.video + c.audio);
    this.maxStreamOutputs = max;
  }

  /** The viewer's ICE pair moved to another address. */
  setPeer(id: number, port: number, address: string): void {
    const info = this.outputs.get(id);
    if (!info || (info.peer.port === port && info.peer.address === address)) return;
    const peer = this.sock.peer(port, address);
    this.native.setOutputPeer(id, (peer as unknown as { id: number }).id);
    info.peer.release();
    info.peer = peer;
  }

  /** Outputs alive. */
  get size(): number {
    return this.outputs.size;
  }

  // ---- per-batch decisions (state writes) ------------------------------------------------

  /**
   * Live from packet index `start` of the next {@link RtpFanout.forward} batch on (a
   * keyframe's first packet; injected packets at `start` included), or from the start of
   * every batch after that.
   */
  setLive(id: number, start = 0): void {
    const b = id * FANOUT.STRIDE;
    this.state[b + FANOUT.FLAGS] = FANOUT.FLAG_LIVE | FANOUT.FLAG_STARTING;
    this.state[b + FANOUT.START] = start;
  }

  /** Gated: nothing is sent until {@link RtpFanout.setLive}. */
  gate(id: number): void {
    this.state[id * FANOUT.STRIDE + FANOUT.FLAGS] = 0;
  }

  isLive(id: number): boolean {
    return (this.state[id * FANOUT.STRIDE + FANOUT.FLAGS] & FANOUT.FLAG_LIVE) !== 0;
  }

  /** Offsets added to the ingest sequence number (mod 2^16) and timestamp (mod 2^32). */
  setOffsets(id: number, seqOffset: number, tsOffset: number): void {
    const b = id * FANOUT.STRIDE;
    this.state[b + FANOUT.SEQ_OFFSET] = seqOffset & 0xffff;
    this.state[b + FANOUT.TS_OFFSET] = tsOffset >>> 0;
  }

  /** Outgoing SSRC / payload type (e.g. once werift negotiated them). */
  setRewrite(id: number, ssrc: number, payloadType: number): void {
    const b = id * FANOUT.STRIDE;
    this.state[b + FANOUT.SSRC] = ssrc >>> 0;
    this.state[b + FANOUT.PAYLOAD_TYPE] = payloadType & 0x7f;
  }

  /** A state field of an output (`FANOUT.*`). */
  field(id: number, f: number): number {
    return this.state[id * FANOUT.STRIDE + f];
  }
  /** Outgoing sequence number of the last packet queued (or the initial one). */
  lastSeq(id: number): number {
    return this.state[id * FANOUT.STRIDE + FANOUT.LAST_SEQ];
  }
  /** Outgoing RTP timestamp of the last packet queued. */
  lastTs(id: number): number {
    return this.state[id * FANOUT.STRIDE + FANOUT.LAST_TS];
  }
  /** When the last packet was queued: the `now` (ms) given to that forward(). */
  lastSentAt(id: number): number {
    return this.state[id * FANOUT.STRIDE + FANOUT.LAST_SENT_AT];
  }
  /** RTP packets queued (RFC 3550 SR sender's packet count; retransmissions not counted). */
  packets(id: number): number {
    return this.state[id * FANOUT.STRIDE + FANOUT.PACKETS];
  }
  /** RTP payload octets queued (RFC 3550 SR sender's octet count). */
  octets(id: number): number {
    return this.state[id * FANOUT.STRIDE + FANOUT.OCTETS];
  }

  /**
   * The fan-out sends the output's RTCP sender reports itself from now on (RFC 3550 §6.4.1,
   * with the session's SDES CNAME: {@link RtpFanout.setCname}): the first in the first
   * batch of its stream forwarded at or after `firstDueAt` (Unix ms, the clock of
   * forward()'s `now`), each next one 0.5–1.5 s (uniformly drawn) later, each
   * SRTCP-protected and queued right after the output's RTP of that batch — so its counts
   * are what the viewer has when it arrives. The report describes the batch's `now`: its
   * RTP timestamp is the last packet's advanced by the time since it was sent. None while
   * the output is gated, has sent no packet yet, or its stream forwards nothing (RFC 3550
   * §6.4: a participant that stopped sending sends no SR). A report that finds no room in
   * the send ring waits for the next batch.
   * @param clockRate the output's RTP clock rate, Hz (90000 video, 48000 Opus).
   */
  startSenderReports(id: number, clockRate: number, firstDueAt: number): void {
    if (!this.outputs.has(id)) throw new BatchSocketError('ERR_INVALID_ARG_VALUE', `no output ${id} in this fan-out`);
    if (!(clockRate > 0) || !Number.isFinite(clockRate)) throw new BatchSocketTypeError('ERR_INVALID_ARG_VALUE', `clockRate must be a positive number of Hz. Received ${String(clockRate)}`);
    if (!(firstDueAt > 0) || !Number.isFinite(firstDueAt)) throw new BatchSocketTypeError('ERR_INVALID_ARG_VALUE', `firstDueAt must be a positive Unix time in ms. Received ${String(firstDueAt)}`);
    const b = id * FANOUT.STRIDE;
    this.state[b + FANOUT.CLOCK_RATE] = clockRate;
    this.state[b + FANOUT.SR_DUE_AT] = firstDueAt;
  }

  /** The fan-out sends no more sender reports for the output (idempotent; unknown ids ignored). */
  stopSenderReports(id: number): void {
    if (this.outputs.has(id)) this.state[id * FANOUT.STRIDE + FANOUT.SR_DUE_AT] = 0;
  }

  /** When the output's next sender report is due (Unix ms), 0 when the fan-out sends none. */
  senderReportDueAt(id: number): number {
    return this.outputs.has(id) ? this.state[id * FANOUT.STRIDE + FANOUT.SR_DUE_AT] : 0;
  }

  /** Sender reports the fan-out queued for the output ({@link RtpFanout.startSenderReports}). */
  senderReports(id: number): number {
    return this.state[id * FANOUT.STRIDE + FANOUT.SENDER_REPORTS];
  }

  /**
   * The SDES CNAME (RFC 3550 §6.5.1) of the session's sender reports: 1–255 bytes of UTF-8
   * (werift's `RTCRtpSender.cname`); empty or undefined: reports without SDES.
   * @throws ERR_INVALID_ARG_VALUE for an unknown session or a longer CNAME.
   */
  setCname(session: number, cname: string | undefined): void {
    if (!this.sessions.has(session)) throw new BatchSocketError('ERR_INVALID_ARG_VALUE', `no SRTP session ${session} in this fan-out`);
    const bytes = Buffer.from(cname ?? '', 'utf8');
    if (bytes.length > 255) throw new BatchSocketTypeError('ERR_INVALID_ARG_VALUE', `cname must be at most 255 bytes of UTF-8. Received ${bytes.length} bytes`);
    this.native.setSessionCname(session, bytes);
  }

  // ---- ingest routes: steady batches forwarded before JS sees them ---------------------------

  /**
   * Routes the receive batches of `socket` (a 'batch' backend socket created with
   * `recvDispatch: 'loop'`) to `stream`: in every delivery of the receive dispatcher, before
   * any socket's handler runs, this fan-out forwards those of the socket's batches that are
   * steady for `state` natively, in one call for all routed sockets (addon/ingest_route.h:
   * every datagram from the armed kind's owner, with the next sequence number, and for
   * video neither a keyframe, a parameter set nor a B-frame); the socket's `'batch'`
   * handlers see only the other batches. `state` is the stream's ingest state
   * (`INGEST.STATE_BYTES` bytes, 8-byte aligned; src/relay/steady-ingest.ts arms it).
   * Replaces the socket's previous route. Returns false (nothing routed) when the socket
   * is closed or not in 'loop' dispatch.
   * @throws ERR_INVALID_ARG_VALUE for a socket of another backend, an unknown stream or a wrong-sized state.
   */
  routeIngest(socket: BatchSocket, stream: number, state: Uint8Array): boolean {
    if (!(socket instanceof NativeBatchSocket)) throw new BatchSocketTypeError('ERR_INVALID_ARG_VALUE', "routeIngest needs a 'batch' backend socket");
    if (!this.streamOutputs[stream]) throw new BatchSocketTypeError('ERR_INVALID_ARG_VALUE', `no stream ${String(stream)} in this fan-out`);
    if (!(state instanceof Uint8Array) || state.byteLength < INGEST.STATE_BYTES || state.byteOffset % 8 !== 0) {
      throw new BatchSocketTypeError('ERR_INVALID_ARG_VALUE', `the ingest state must be a Uint8Array of at least ${INGEST.STATE_BYTES} bytes at an 8-byte aligned offset`);
    }
    if (!socket.setIngestRoute(this.native.serial, stream, state)) return false;
    this.routed.set(socket, stream);
    this.unhookIngest ??= addRecvDispatchHook((list, count) => this.forwardIngest(list, count));
    return true;
  }

  /** Removes `socket`'s route (its batches all reach its handlers again). */
  unrouteIngest(socket: BatchSocket): void {
    if (!this.routed.delete(socket as NativeBatchSocket)) return;
    (socket as NativeBatchSocket).setIngestRoute(0);
    if (this.routed.size === 0) {
      this.unhookIngest?.();
      this.unhookIngest = undefined;
    }
  }

  /**
   * The dispatch hook: one reservation of the send ring for the delivery's batches (at most
   * their slots × the largest stream's outputs; the arena's free region as it is), one
   * native forwardIngest(), one commit. When a steady batch did not fit, once more with a
   * reservation of what it needs (the arena grows, up to the queue's byte limit) for the
   * batches left. Returns the batches forwarded.
   */
  private forwardIngest(list: Float64Array, count: number): number {
    let slots = 0;
    for (let i = 0; i < count; i++) {
      const s = list[2 * i + 1];
      if (s > 0) slots += s;
    }
    if (slots === 0 || this.maxStreamOutputs === 0) return 0;
    const io = this.io;
    // + a slot per output for a sender report that falls due (startSenderReports).
    const want = (slots + 1) * this.maxStreamOutputs;
    let forwarded = this.forwardIngestInto(Math.min(MAX_RESERVE_SLOTS, want), 0);
    if (io[FANOUT.IO_NEED_BYTES] > 0) forwarded += this.forwardIngestInto(Math.min(MAX_RESERVE_SLOTS, Math.max(io[FANOUT.IO_NEED_SLOTS], want)), io[FANOUT.IO_NEED_BYTES]);
    this.ingestBatches += forwarded;
    return forwarded;
  }

  /** One reservation (`slots`, `bytes` to grow the arena to), one native forwardIngest(), one commit. */
  private forwardIngestInto(slots: number, bytes: number): number {
    const sock = this.sock;
    const io = this.io;
    const res = sock.reserveSlots(slots, bytes);
    if (!res || res.slots === 0) {
      io[FANOUT.IO_NEED_BYTES] = 0;
      return 0;
    }
    io[FANOUT.IO_SLOT] = res.slot;
    io[FANOUT.IO_SLOTS] = res.slots;
    io[FANOUT.IO_ARENA_OFF] = res.arenaOff;
    io[FANOUT.IO_ARENA_END] = res.arenaEnd;
    io[FANOUT.IO_NOW] = Date.now();
    io[FANOUT.IO_MTU] = this.mtu;
    this.useRing(res);
    const forwarded = this.native.forwardIngest();
    const n = io[FANOUT.IO_PRODUCED];
    sock.commitSlots(n, io[FANOUT.IO_BYTES], res.arenaOff, io[FANOUT.IO_DROPPED]);
    this.account(this.result, n);
    return forwarded;
  }

  // ---- the per-batch call ------------------------------------------------------------------

  /**
   * Forwards one batch of `stream` to its live outputs (see the module doc): one native
   * call, more only when the send ring fills (each then commits, flushes and continues at
   * the exact packet); the socket's own flush policy (the plug's 'tick': end of the
   * event-loop turn) sends what was queued, with the other streams' batches of that turn. `now` (ms) is stored as the
   * outputs' last send time. Returns the totals of this call (a reused object).
   */
  forward(stream: number, batch: FanoutBatch, now: number): ForwardResult {
    const r = this.result;
    r.queued = r.calls = r.dropped = r.oversize = r.errors = 0;
    const counts = this.streamOutputs[stream];
    if (!counts || batch.count === 0) return r;
    const io = this.io;
    io[FANOUT.IO_CURSOR_OUTPUT] = 0;
    io[FANOUT.IO_CURSOR_PACKET] = 0;
    io[FANOUT.IO_NOW] = now;
    io[FANOUT.IO_MTU] = this.mtu;
    io[FANOUT.IO_DROP] = 0;
    const outputs = counts.video + counts.audio;
    // + room per output for a sender report that falls due (startSenderReports).
    const wantSlots = Math.min(MAX_RESERVE_SLOTS, Math.max(1, outputs * (batch.count + 1)));
    const wantBytes = Math.max(2048, outputs * (batch.bytes + 16 * batch.count + SR_ROOM));
    const sock = this.sock;
    for (;;) {
      const res = sock.reserveSlots(wantSlots, wantBytes);
      if (!res) {
        io[FANOUT.IO_DROP] = 1; // closed: everything counts as dropped (per output), nothing is queued
        io[FANOUT.IO_SLOT] = 0;
        io[FANOUT.IO_SLOTS] = 0;
        io[FANOUT.IO_ARENA_OFF] = 0;
        io[FANOUT.IO_ARENA_END] = 0;
        this.useRing(CLOSED_RING);
        this.forwardOnce(stream, batch);
        this.account(r, 0);
        break;
      }
      io[FANOUT.IO_SLOT] = res.slot;
      io[FANOUT.IO_SLOTS] = res.slots;
      io[FANOUT.IO_ARENA_OFF] = res.arenaOff;
      io[FANOUT.IO_ARENA_END] = res.arenaEnd;
      this.useRing(res);
      const n = this.forwardOnce(stream, batch);
      sock.commitSlots(n, io[FANOUT.IO_BYTES], res.arenaOff, io[FANOUT.IO_DROPPED]);
      this.account(r, n);
      if (io[FANOUT.IO_DONE] === 1) break;
      // The ring is full: send what is queued, then go on where it stopped. If that made no
      // room (the kernel's buffer is full and the socket waits for writability), the rest of
      // the batch is dropped and counted: a relay never blocks on one batch.
      sock.flushQueued();
      if (n === 0 || sock.sendBlocked) io[FANOUT.IO_DROP] = 1;
    }
    // No flush here: the socket's tick flush (setImmediate, the end of this event-loop turn)
    // sends it together with every other stream's batch of the same turn, so 64 streams × 1
    // viewer share one sendmmsg instead of one each.
    this.totals.forwardCalls++;
    return r;
  }

  private account(r: ForwardResult, n: number): void {
    const io = this.io;
    r.calls++;
    r.queued += n;
    r.dropped += io[FANOUT.IO_DROPPED];
    r.oversize += io[FANOUT.IO_OVERSIZE];
    r.errors += io[FANOUT.IO_ERRORS];
    const t = this.totals;
    t.queued += n;
    t.dropped += io[FANOUT.IO_DROPPED];
    t.oversize += io[FANOUT.IO_OVERSIZE];
    t.errors += io[FANOUT.IO_ERRORS];
  }

  /**
   * Queues again the packets output `id` sent with these outgoing sequence numbers (an RTCP
   * NACK's, RFC 4585 §6.2.1), from the stream's history of the last 512 ingest packets,
   * rewritten with the offsets they first had and SRTP-protected again; then flushes.
   * Numbers no longer in the history count as misses.
   */
  retransmit(id: number, seqs: ArrayLike<number>): RetransmitResult {
    if (!this.outputs.has(id)) throw new BatchSocketError('ERR_INVALID_ARG_VALUE', `no output ${id} in this fan-out`);
    const out: RetransmitResult = { queued: 0, misses: 0, dropped: 0 };
    const io = this.io;
    for (let i = 0; i < seqs.length; i += this.seqs.length) {
      const n = Math.min(this.seqs.length, seqs.length - i);
      for (let j = 0; j < n; j++) this.seqs[j] = seqs[i + j] & 0xffff;
      const res = this.sock.reserveSlots(n, n * (this.mtu + 16));
      if (!res) {
        out.dropped += n;
        continue;
      }
      io[FANOUT.IO_SLOT] = res.slot;
      io[FANOUT.IO_SLOTS] = res.slots;
      io[FANOUT.IO_ARENA_OFF] = res.arenaOff;
      io[FANOUT.IO_ARENA_END] = res.arenaEnd;
      io[FANOUT.IO_MTU] = this.mtu;
      this.useRing(res);
      const q = this.native.retransmit(id, this.seqs, n);
      this.sock.commitSlots(q, io[FANOUT.IO_BYTES], res.arenaOff, io[FANOUT.IO_DROPPED]);
      out.queued += q;
      out.misses += io[FANOUT.IO_MISSES];
      out.dropped += io[FANOUT.IO_DROPPED];
    }
    this.totals.retransmitted += out.queued;
    this.totals.retransmitMisses += out.misses;
    this.totals.retransmitDropped += out.dropped;
    this.sock.flushQueued();
    return out;
  }

  /** Removes every output and stream (their peer entries unpinned). The socket stays open. */
  close(): void {
    for (const socket of [...this.routed.keys()]) this.unrouteIngest(socket);
    for (const id of [...this.outputs.keys()]) this.removeOutput(id);
    this.streamOutputs.forEach((c, id) => c && this.removeStream(id));
    for (const id of [...this.sessions.keys()]) this.removeSession(id);
  }

  /** @internal the batch builder used by callers that do not keep their own. */
  get scratchBatch(): FanoutBatch {
    return this.defaultBatch;
  }
}

/** The ring registered while the socket is closed: nothing fits, everything counts as dropped. */
const CLOSED_RING = { arena: new Uint8Array(0), offsets: new Uint32Array(1), lengths: new Uint32Array(1), peers: new Int32Array(1) };
