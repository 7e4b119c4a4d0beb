/**
 * The relay's egress paths and the fast one: viewers on `fast` get their RTP from the
 * native fan-out (src/fanout/: one native call per ingest batch copies, rewrites,
 * SRTP-protects and queues every packet to every live output on the shared WebRTC
 * socket), while werift keeps signalling, ICE and DTLS of those viewers
 * and never sends RTP on their tracks; their inbound SRTCP is unprotected natively and
 * handled by the relay (inbound-rtcp.ts) rather than by werift. `werift` is the batching plug's path (werift's
 * RTCRtpSender → its SRTP → the shared batched socket), `werift-unbatched` werift alone.
 *
 * A viewer the fast path cannot serve falls back to `werift` with one log line: no native
 * addon, an SRTP profile other than SRTP_AES128_CM_HMAC_SHA1_80 / SRTP_AEAD_AES_128_GCM, no
 * DTLS-SRTP keys, RTP header extensions or RTX negotiated on its senders (the fan-out
 * forwards the ingest packet's header as is and retransmits on the media SSRC), or an ICE
 * pair that is not on the shared batched socket (per-connection sockets, TURN).
 *
 * Per output the stream's decisions (keyframe gating, start at a keyframe's first packet,
 * re-basing after restarts and discontinuities, stalls) are applied per batch through
 * {@link FastOutput}, the fast twin of {@link RtpOutput}: its sequence/timestamp state lives
 * in the fan-out's native state array.
 *
 * Sources: werift packages/webrtc/src/transport/dtls.ts (`srtp.config`: the local master
 * key/salt from the DTLS exporter and the negotiated profile, set before the transport
 * reports 'connected'), packages/webrtc/src/media/rtpSender.ts (`headerExtensions`,
 * `rtxPayloadType`, `dtlsTransport`), packages/ice/src/ice.ts (`nominated.remoteAddr`).
 */
import { FANOUT, RtpFanout, fanoutUnavailableReason } from '../fanout/index.js';
import { BaseWeriftTransport } from '../werift/transport.js';
import type { BatchSocket } from '../types.js';
import { continuityOffsets } from './output.js';
import { InboundRtcp } from './inbound-rtcp.js';

/** How a viewer's RTP leaves the relay. */
export type EgressPath = 'fast' | 'werift' | 'werift-unbatched';
export const EGRESS_PATHS: readonly EgressPath[] = ['fast', 'werift', 'werift-unbatched'];

/** The SRTP profiles the native fan-out protects with (IANA DTLS-SRTP ids). */
const FAST_PROFILES = new Set([0x0001, 0x0007]);

/** One fast output: a row of the fan-out's state array plus the stream's per-output policy state. */
export class FastOutput {
  /** The next forwarded packet gets fresh offsets (after a gate, a restart or a discontinuity). */
  rebasePending = true;
  /** PACKETS as of the last fold into the counters, DROPPED as of the last drop check (their growth feeds the stream's counters and stalls). */
  seenPackets = 0;
  seenDropped = 0;
  private readonly ticksPerMs: number;

  constructor(
    readonly fanout: RtpFanout,
    readonly id: number,
    clockRate: number,
  ) {
    this.ticksPerMs = clockRate / 1000;
  }

  /** Forwarding (started at a keyframe for video); false while gated. */
  get live(): boolean {
    return this.fanout.isLive(this.id);
  }

  /** Stops forwarding from the next batch on; offsets are re-based when it starts again. */
  gate(): void {
    this.fanout.gate(this.id);
    this.rebasePending = true;
  }

  /** Re-bases at the next packet without stopping (audio after a restart). */
  rebase(): void {
    this.rebasePending = true;
  }

  /**
   * Makes ingest packet `inSeq`/`inTs` (arriving at `now` ms) follow the last packet sent
   * when a re-base is pending, as {@link RtpOutput.resume} does (timestamp advanced by the
   * wall-clock time between them).
   */
  resume(inSeq: number, inTs: number, now: number): void {
    if (!this.rebasePending) return;
    const f = this.fanout;
    const step = f.packets(this.id) === 0 ? 1 : (now - f.lastSentAt(this.id)) * this.ticksPerMs;
    const o = continuityOffsets(f.lastSeq(this.id), f.lastTs(this.id), step, inSeq, inTs);
    f.setOffsets(this.id, o.seqOffset, o.tsOffset);
    this.rebasePending = false;
  }

  /** Every later packet's outgoing sequence number moves up by `n` (a packet was inserted before them). */
  shiftSeq(n: number): void {
    const f = this.fanout;
    f.setOffsets(this.id, f.field(this.id, FANOUT.SEQ_OFFSET) + n, f.field(this.id, FANOUT.TS_OFFSET));
  }

  /** Live from packet `index` of the batch being built on. */
  startAt(index: number): void {
    this.fanout.setLive(this.id, index);
  }

  /** RTP packets sent (native counter). */
  get packets(): number {
    return this.fanout.packets(this.id);
  }
  get dropped(): number {
    return this.fanout.field(this.id, FANOUT.DROPPED);
  }
}

/** What the fast path needs of a connected viewer's werift objects. */
export interface FastViewerSource {
  /** werift RTCRtpSenders of the viewer's tracks (video, audio; undefined where absent). */
  senders: { video?: unknown; audio?: unknown };
}

/** The relay-wide fast egress: the fan-out over the shared WebRTC socket, made when the first viewer connects. */
export class FastEgress {
  fanout: RtpFanout | undefined;
  /** The fast-path viewers' inbound SRTCP, unprotected natively (made with the first viewer). */
  inboundRtcp: InboundRtcp | undefined;
  private socket: BatchSocket | undefined;
  /** Why the fast path cannot run at all (no addon), or undefined. */
  readonly unavailable: string | undefined;

  constructor(private readonly mtu?: number) {
    this.unavailable = fanoutUnavailableReason();
  }

  /**
   * The fan-out for a viewer whose senders are `senders`, with its session and peer, or the
   * reason it cannot be served (the caller logs it and keeps the viewer on werift).
   */
  prepare(senders: { video?: unknown; audio?: unknown }): { fanout: RtpFanout; session: number; address: string; port: number } | string {
    if (this.unavailable) return `the native fan-out is unavailable (${this.unavailable})`;
    const any = (senders.video ?? senders.audio) as SenderLike | undefined;
    if (!any) return 'no RTP sender';
    for (const s of [senders.video, senders.audio] as (SenderLike | undefined)[]) {
      if (!s) continue;
      if ((s.headerExtensions?.length ?? 0) > 0) return `RTP header extensions negotiated (${s.headerExtensions!.map((e) => e.uri).join(', ')})`;
      if (s.rtxPayloadType) return 'RTX negotiated';
    }
    const dtls = any.dtlsTransport;
    const cfg = dtls?.srtp?.config;
    const key = cfg?.keys?.localMasterKey;
    const salt = cfg?.keys?.localMasterSalt;
    if (!cfg || !key || !salt) return 'no DTLS-SRTP keys yet';
    if (!FAST_PROFILES.has(cfg.profile as number)) return `SRTP profile 0x${Number(cfg.profile).toString(16).padStart(4, '0')} is not one the fast path protects`;
    const pair = dtls?.iceTransport?.connection?.nominated;
    const transport = pair?.protocol?.transport;
    if (!pair || !(transport instanceof BaseWeriftTransport)) return 'its ICE pair is not on the batching plug';
    const socket = transport.socket;
    if (socket.backend !== 'batch') return "the plug's socket is on the 'dgram' backend";
    if (this.fanout && (this.socket as unknown as { closed?: boolean }).closed) {
      // The plug closed the shared socket with its last connection and opened a new one
      // since: a new fan-out over the new socket (the old one has no outputs left).
      this.fanout.close();
      this.fanout = undefined;
      this.socket = undefined;
    }
    if (!this.fanout) {
      this.fanout = new RtpFanout(socket, this.mtu !== undefined ? { mtu: this.mtu } : {});
      this.socket = socket;
    } else if (this.socket !== socket) {
      return 'its ICE pair is on another socket than the shared port (per-connection sockets or TURN)';
    }
    if (!this.inboundRtcp && InboundRtcp.available()) this.inboundRtcp = new InboundRtcp();
    const session = this.fanout.addSession({ profile: cfg.profile as number, masterKey: key, masterSalt: salt });
    return { fanout: this.fanout, session, address: pair.remoteAddr[0], port: pair.remoteAddr[1] };
  }
}

/** The parts of werift's RTCRtpSender the fast path reads. */
interface SenderLike {
  headerExtensions?: { uri: string }[];
  rtxPayloadType?: number;
  dtlsTransport?: {
    srtp?: { config?: { keys?: { localMasterKey?: Uint8Array; localMasterSalt?: Uint8Array }; profile?: number } };
    iceTransport?: { connection?: { nominated?: { remoteAddr: [string, number]; protocol?: { transport?: unknown } } } };
  };
}
