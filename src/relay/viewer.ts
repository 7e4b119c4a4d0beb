/**
 * One WHEP viewer: a werift `RTCPeerConnection` that answers the viewer's offer with a
 * send-only H.264 video and/or Opus audio track, and the state the fan-out needs —
 * connected or not, one {@link RtpOutput} per kind (gated or live, outgoing SSRC,
 * payload type, sequence/timestamp offsets), RTP packets in flight, signs of life and
 * what its RTCP says.
 *
 * On the werift egress the relay rewrites every packet for the viewer itself (output.ts)
 * and hands werift the finished bytes; werift's own rewrite (SSRC, payload type, zero
 * offsets) is then the identity, and werift keeps doing SRTP, RTCP sender reports and NACK
 * retransmission. On the fast egress (fast-egress.ts; chosen when the viewer connects) the
 * native fan-out does rewrite, SRTP and send from the stream's batch, and werift never
 * sends RTP on its tracks: it keeps signalling, ICE and DTLS; the viewer's SRTCP is
 * unprotected and parsed by the relay ({@link Viewer.tapRtcp}, inbound-rtcp.ts), and the
 * relay's {@link SenderRtcp} ({@link Viewer.useFastPathRtcp}) sends the sender reports and
 * answers NACKs from the fan-out's history (sender-rtcp.ts, fanout-rtcp.ts). Either way PLI
 * and FIR reach the keyframe policy here: counted, the viewer marked as wanting a keyframe
 * (frozen after {@link FROZEN_AFTER_MS}), and its next keyframe preceded by the cached
 * SPS/PPS (stream.ts), since the relay cannot ask the encoder for one.
 *
 * Liveness: a viewer whose last sign of life — an incoming STUN binding request (ICE
 * consent, RFC 7675) or any other datagram (SRTCP receiver reports, DTLS) — is older
 * than {@link LIVENESS_TIMEOUT_MS} is reaped, checked every second; werift's own consent
 * expiry (30 s) is too slow for a tab closed without DELETE.
 *
 * Source: werift packages/webrtc/src/peerConnection.ts (answering a remote offer: the
 * offer's recvonly m-lines become sendonly transceivers that `addTrack` fills),
 * packages/webrtc/src/media/rtpSender.ts (`sendRtp`, `onRtcp`, `onPictureLossIndication`)
 * and packages/ice/src/ice.ts (`onData`, the protocols' `onRequestReceived`).
 */
import { randomUUID } from 'node:crypto';
import type * as Werift from 'werift';
import type { RtpFanout } from '../fanout/index.js';
import type { EgressPath, FastOutput } from './fast-egress.js';
import { RtpOutput } from './output.js';
import { BaseWeriftTransport } from '../werift/transport.js';
import { ConsentResponder, consentResponderAvailable, type ConsentResponderCounters } from '../werift/consent-responder.js';
import { relayTimers, type CancelTimer } from './coalesced-timers.js';
import type { InboundRtcp, InboundRtcpViewer } from './inbound-rtcp.js';
import type { ParsedRtcp } from '../rtcp/parse.js';
import { SenderRtcp, suppressWeriftSenderReports, type RtcpOutput, type RtcpPath, type SenderRtcpCounters } from './sender-rtcp.js';

export type WeriftModule = typeof Werift;
type PeerConnection = InstanceType<WeriftModule['RTCPeerConnection']>;
type RtpSender = PeerConnection['getSenders'] extends () => (infer S)[] ? S : never;

/** How long a viewer may take to connect (ICE + DTLS) before it is reaped, ms. */
export const CONNECT_TIMEOUT_MS = 30_000;
/** How long a connection may stay 'disconnected' before it is reaped, ms. */
export const DISCONNECT_GRACE_MS = 10_000;
/** RTP packets a viewer may have in flight through werift before it counts as fallen behind. */
export const MAX_IN_FLIGHT = 512;
/** A connected viewer silent for this long (no STUN, no RTCP, nothing) is reaped, ms; checked every second, so within 10 s. */
export const LIVENESS_TIMEOUT_MS = 8_000;
/** A viewer that asked for a picture (PLI) or reported loss and got no keyframe for this long counts as frozen, ms. */
export const FROZEN_AFTER_MS = 2_000;

export interface ViewerNetwork {
  /** Address announced in host candidates and bound by werift's sockets (IP literal). */
  host: string;
  /** Reap a viewer that has not connected (ICE + DTLS) after this long, ms (default {@link CONNECT_TIMEOUT_MS}). */
  connectTimeoutMs?: number;
  /** The egress path wanted (default 'werift'); 'fast' may fall back to 'werift' when the viewer connects. */
  egress?: EgressPath;
  /** The relay's ICE role (default 'lite'): see {@link IceMode}. */
  ice?: IceMode;
}

/**
 * How the relay takes part in ICE (RFC 8445). 'lite' (§2.5, the default): the relay only
 * answers the viewer's connectivity and consent checks (RFC 7675) and sends none of its own,
 * as a server reachable on the host candidates it announces can (mediasoup always runs so);
 * a viewer whose checks stop is reaped as silent (LIVENESS_TIMEOUT_MS). 'full': werift's full
 * agent, which also sends a consent check to every viewer every 4–6 s and retransmits them:
 * per viewer, timers, AbortControllers and HMACs that cost a 64-viewer relay 0.6–2 µs of CPU
 * per forwarded packet (measure-relay 1 × 64, alternating lite/full).
 */
export type IceMode = 'lite' | 'full';
export const ICE_MODES: readonly IceMode[] = ['lite', 'full'];

/** A viewer's place in the native fan-out (fast egress). */
export interface ViewerFastPath {
  fanout: RtpFanout;
  /** Its SRTP session in the fan-out. */
  session: number;
  video?: FastOutput;
  audio?: FastOutput;
}

export type ViewerEvent = 'connected' | 'closed';

/** Why a viewer was closed. */
export type CloseReason = 'deleted' | 'connect-timeout' | 'silent' | 'disconnected' | 'failed' | 'relay-stop';

/** Counters the stream reads per viewer. */
export interface ViewerCounters {
  /** RTP packets handed to werift for this viewer. */
  forwarded: number;
  /** Picture loss indications (RTCP PLI) the viewer sent. */
  pli: number;
  /** Full intra requests (RTCP FIR, RFC 5104) the viewer sent, repeats of one request counted once. */
  fir: number;
  /** Times the viewer fell behind and was moved back to waiting for a keyframe. */
  stalls: number;
  /** Times the viewer froze: asked for a picture or reported loss, then got no keyframe for {@link FROZEN_AFTER_MS}. */
  freezes: number;
}

/** The latest RTCP receiver report about one of the viewer's outgoing streams (RFC 3550 §6.4.1). */
export interface ReceiverReport {
  /** Fraction lost since the previous report, 0–1. */
  fractionLost: number;
  /** Cumulative packets lost. */
  packetsLost: number;
  /** Interarrival jitter, seconds. */
  jitterSeconds: number;
  /** When it arrived, ms. */
  at: number;
}

/** What the fast path gives a viewer's RTCP per output: its counters and its history (sender-rtcp.ts). */
export type FastPathOutput = Pick<RtcpOutput, 'sent' | 'retransmit' | 'nativeReports'>;

/** The fast path's side of a viewer's RTCP: per kind, the output; and where RTCP leaves. */
export interface FastPathRtcp {
  video?: FastPathOutput;
  audio?: FastPathOutput;
  /** SRTCP-protects and queues the relay's RTCP to the viewer, in order with its RTP. */
  path: RtcpPath;
  /** The clock of the outputs' `lastSentAtMs`, Unix ms (default: `performance.timeOrigin + performance.now()`). */
  now?: () => number;
}

export class Viewer {
  readonly id = randomUUID();
  readonly createdAt = Date.now();
  private readonly own: ViewerCounters = { forwarded: 0, pli: 0, fir: 0, stalls: 0, freezes: 0 };
  /**
   * Set by the stream while the viewer is on the fast path: folds the native packet counts
   * into `forwarded` (read lazily, not per ingest batch).
   */
  foldFastCounters: (() => void) | undefined;
  /** Packets forwarded (werift and fast path), PLI/FIR received, stalls and freezes. */
  get counters(): ViewerCounters {
    this.foldFastCounters?.();
    return this.own;
  }
  /** Counts `n` more packets the fast path sent this viewer (the stream's fold). */
  addForwarded(n: number): void {
    this.own.forwarded += n;
  }
  /** DTLS is up: RTP can be sent. */
  connected = false;
  /** Per-kind output state; undefined when the offer did not ask for that kind. */
  video: RtpOutput | undefined;
  audio: RtpOutput | undefined;
  /** When the current keyframe wait started (ms), or 0. */
  waitingSince = 0;
  /** Last sign of life (STUN request, RTCP or any datagram), ms. */
  lastSignOfLife = Date.now();
  /** Latest receiver reports per kind that reached JS (werift's or the relay's parse). */
  private readonly parsedReports: { video?: ReceiverReport; audio?: ReceiverReport } = {};
  /** Since when the viewer has wanted a keyframe (PLI or reported loss) and not got one, ms; 0 = content. */
  troubleSince = 0;
  /** Why it was closed (once closed). */
  closeReason: CloseReason | undefined;
  /** The viewer asked for a keyframe (PLI/FIR): its next keyframe starts with the cached SPS/PPS (stream.ts). */
  parameterSetsDue = false;
  /** The viewer's RTCP (sender reports and NACK on the fast path; PLI/FIR always), from 'connected' on. */
  rtcp: SenderRtcp | undefined;
  private fastPath: FastPathRtcp | undefined;
  private unsubscribeRtcp: (() => void) | undefined;
  /** Its place in the relay's native inbound RTCP, and the transport whose RTCP goes there. */
  private inbound: { rtcp: InboundRtcpViewer; transport: BaseWeriftTransport } | undefined;
  /** The consent responder on the nominated pair's transport ({@link answerConsentChecks}). */
  private consent: { responder: ConsentResponder; transport: BaseWeriftTransport; local: string; remote: string; password: string } | undefined;
  /** What earlier responders of this viewer counted (a new pair or ICE restart makes a new one). */
  private readonly consentDone: ConsentResponderCounters = { answered: 0, passed: 0 };
  private readonly ice: IceMode;
  /** The egress path its RTP takes ('fast' is settled when it connects: it may fall back to 'werift'). */
  egress: EgressPath;
  /** Its outputs in the native fan-out while on the fast path. */
  fast: ViewerFastPath | undefined;
  private frozenCounted = false;
  private inFlight = 0;
  private closed = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly repeating = new Set<CancelTimer>();
  private readonly listeners: ((e: ViewerEvent, v: Viewer) => void)[] = [];
  private readonly pc: PeerConnection;
  private videoSender: RtpSender | undefined;
  private audioSender: RtpSender | undefined;
  private readonly onSent = (): void => {
    this.inFlight--;
  };
  private readonly alive = (): void => {
    this.lastSignOfLife = Date.now();
  };
  /** The ICE pair's remote address and port the native intake was last told ({@link followIcePair}). */
  private intakePeer: [string, number] = ['', 0];

  /** Latest receiver reports per kind: the newer of those JS parsed and those the native intake took in (inbound-rtcp.ts). */
  get reports(): { video?: ReceiverReport; audio?: ReceiverReport } {
    const out = { ...this.parsedReports };
    const rtcp = this.inbound?.rtcp;
    if (!rtcp?.native) return out;
    for (const kind of ['video', 'audio'] as const) {
      const r = rtcp.report(kind);
      if (!r || (out[kind] && out[kind].at >= r.at)) continue;
      out[kind] = { fractionLost: r.fractionLost / 256, packetsLost: r.packetsLost, jitterSeconds: r.jitter / (kind === 'video' ? 90000 : 48000), at: r.at };
    }
    return out;
  }

  /** Last sign of life, ms: {@link lastSignOfLife} or a report the native intake took in, whichever is later. */
  signOfLife(): number {
    return Math.max(this.lastSignOfLife, this.inbound?.rtcp.lastHeard() ?? 0);
  }

  constructor(
    private readonly werift: WeriftModule,
    net: ViewerNetwork,
  ) {
    this.egress = net.egress ?? 'werift';
    this.ice = net.ice ?? 'lite';
    const { RTCPeerConnection, useH264, useOPUS, useNACK, usePLI } = werift;
    this.pc = new RTCPeerConnection({
      // Host candidates only, on the relay's address: no STUN/TURN servers, no interface scan.
      iceServers: [],
      iceUseIpv4: false,
      iceUseIpv6: false,
      iceAdditionalHostAddresses: [net.host],
      iceInterfaceAddresses: { udp4: net.host },
      bundlePolicy: 'max-bundle',
      iceLite: this.ice === 'lite',
      codecs: {
        video: [useH264({ rtcpFeedback: [useNACK(), usePLI()] })],
        audio: [useOPUS()],
      },
    });
    this.pc.connectionStateChange.subscribe((state) => this.onState(state));
    this.after(net.connectTimeoutMs ?? CONNECT_TIMEOUT_MS, () => {
      if (!this.connected) void this.close('connect-timeout');
    });
  }

  /**
   * Answers a WHEP offer (RFC 9725 §4.2): sets it, attaches send-only tracks to its
   * video and audio m-lines (either may be missing: audio-only and video-only viewers
   * are served), and returns the answer SDP with every host candidate (no trickle:
   * gathering completes first, bounded by `gatherTimeoutMs`).
   * @throws Error when the offer is not valid SDP or nothing could be negotiated.
   */
  async answer(offerSdp: string, gatherTimeoutMs = 5000): Promise<string> {
    const { MediaStreamTrack } = this.werift;
    await this.pc.setRemoteDescription({ type: 'offer', sdp: offerSdp });
    const kinds = this.pc.getTransceivers().map((t) => t.kind);
    if (!kinds.includes('video') && !kinds.includes('audio')) throw new Error('the offer has no video or audio m-line');
    if (kinds.includes('video')) {
      this.videoSender = this.pc.addTrack(new MediaStreamTrack({ kind: 'video' }));
      this.video = new RtpOutput(90000);
      this.videoSender.onRtcp.subscribe((p) => this.onRtcp('video', this.videoSender!, p));
    }
    if (kinds.includes('audio')) {
      this.audioSender = this.pc.addTrack(new MediaStreamTrack({ kind: 'audio' }));
      this.audio = new RtpOutput(48000);
      this.audio.live = true; // audio needs no keyframe
      this.audioSender.onRtcp.subscribe((p) => this.onRtcp('audio', this.audioSender!, p));
    }
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    if (this.pc.iceGatheringState !== 'complete') {
      await new Promise<void>((resolve) => {
        const t = this.after(gatherTimeoutMs, resolve);
        this.pc.iceGatheringStateChange.subscribe((s) => {
          if (s === 'complete') {
            clearTimeout(t);
            resolve();
          }
        });
      });
    }
    const sdp = this.pc.localDescription?.sdp;
    if (!sdp) throw new Error('werift produced no local description');
    const videoOk = /^m=video [1-9]/m.test(sdp);
    const audioOk = /^m=audio [1-9]/m.test(sdp);
    if (this.video && !videoOk) throw new Error('no H.264 video could be negotiated with this offer');
    if (!videoOk && !audioOk) throw new Error('neither H.264 video nor Opus audio could be negotiated with this offer');
    this.watchSignsOfLife();
    return sdp;
  }

  on(listener: (e: ViewerEvent, v: Viewer) => void): void {
    this.listeners.push(listener);
  }

  /** Room for another packet (false: the viewer fell behind; the caller stalls it). */
  get hasRoom(): boolean {
    return this.inFlight < MAX_IN_FLIGHT;
  }

  /** Asked for the fast egress and not (yet) moved off it. */
  get wantsFast(): boolean {
    return this.egress === 'fast' && this.fast === undefined;
  }

  /** The werift RTCRtpSenders of its tracks (the fast path reads their keys, ICE pair and extensions). */
  senders(): { video?: unknown; audio?: unknown } {
    return { video: this.videoSender, audio: this.audioSender };
  }

  /** Now on the fast path: the stream's fan-out sends its RTP. */
  attachFast(fast: ViewerFastPath): void {
    this.fast = fast;
    this.egress = 'fast';
  }

  /** On the fast path: a new ICE pair (werift nominated another, e.g. after an ICE restart) gets the packets from now on. */
  private followIcePair(): void {
    const f = this.fast;
    if (!f) return;
    const sender = (this.videoSender ?? this.audioSender) as { dtlsTransport?: { iceTransport?: { connection?: { nominated?: { remoteAddr?: [string, number] } } } } } | undefined;
    const addr = sender?.dtlsTransport?.iceTransport?.connection?.nominated?.remoteAddr;
    if (!addr) return;
    for (const o of [f.video, f.audio]) if (o) f.fanout.setPeer(o.id, addr[1], addr[0]);
    if (this.inbound && (addr[0] !== this.intakePeer[0] || addr[1] !== this.intakePeer[1])) {
      this.intakePeer = [addr[0], addr[1]];
      this.inbound.rtcp.setPeer(addr[0], addr[1]);
    }
  }

  /** Video is flowing (started at a keyframe); false while waiting for the next one. */
  get videoLive(): boolean {
    return (this.fast?.video ?? this.video)?.live ?? false;
  }

  /** The viewer fell behind: drop video until the next keyframe (newest wins), re-based then. */
  stall(now: number): void {
    (this.fast?.video ?? this.video)?.gate();
    this.waitingSince = now;
    this.own.stalls++;
  }

  /** Sends a keyframe's first packet (or the cached parameter sets before it): no longer frozen. */
  gotKeyframe(): void {
    this.parameterSetsDue = false;
    this.troubleSince = 0;
    this.frozenCounted = false;
    this.waitingSince = 0;
  }

  /**
   * Frozen: wanted a keyframe (PLI or reported loss) more than {@link FROZEN_AFTER_MS}
   * ago and got none since. Counts each freeze once in `counters.freezes`.
   */
  frozen(now: number): boolean {
    if (this.troubleSince === 0 || now - this.troubleSince <= FROZEN_AFTER_MS) return false;
    if (!this.frozenCounted) {
      this.frozenCounted = true;
      this.own.freezes++;
    }
    return true;
  }

  /** Hands one rewritten packet (from {@link RtpOutput.apply}) to werift's sender of that kind. */
  sendVideo(packet: Buffer): void {
    this.send(this.videoSender, packet);
  }
  sendAudio(packet: Buffer): void {
    this.send(this.audioSender, packet);
  }

  private send(sender: RtpSender | undefined, packet: Buffer): void {
    if (!sender) return;
    this.inFlight++;
    this.own.forwarded++;
    // werift awaits the transport per packet; with the batching plug this settles at enqueue.
    sender.sendRtp(packet).then(this.onSent, this.onSent);
  }

  /**
   * The viewer's RTP leaves on the native fast path, which werift never sees: from now on
   * (or from 'connected' on) the relay sends its sender reports with `fast`'s counts through
   * `fast.path` and answers its NACKs from `fast`'s history; werift's own sender reports
   * for these tracks are switched off. Call it before the first packet goes out on the
   * fast path.
   */
  useFastPathRtcp(fast: FastPathRtcp): void {
    this.fastPath = fast;
    for (const s of [this.videoSender, this.audioSender]) if (s) suppressWeriftSenderReports(s as unknown as Parameters<typeof suppressWeriftSenderReports>[0]);
    if (this.connected) this.startRtcp();
  }

  /**
   * On the fast path: the viewer's SRTCP (receiver reports, NACK, PLI, FIR) is taken off
   * werift's DTLS transport at the shared socket's receive loop and unprotected natively in
   * `inbound` (inbound-rtcp.ts), then handled here as werift's would have been (sender
   * RTCP, receiver reports, signs of life). Returns false — werift keeps it — before DTLS is
   * up, without the viewer's remote SRTP keys, or when its ICE pair is not on the batching
   * plug. RTCP that reaches werift anyway (another ICE pair) is still handled through its
   * `onRtcp`.
   */
  tapRtcp(inbound: InboundRtcp): boolean {
    if (this.closed || this.inbound) return false;
    type Dtls = {
      state?: string;
      srtp?: { config?: { profile?: number; keys?: { remoteMasterKey?: Uint8Array; remoteMasterSalt?: Uint8Array } } };
      iceTransport?: { connection?: { nominated?: { protocol?: { transport?: unknown }; remoteAddr?: [string, number] } } };
    };
    const dtls = (this.videoSender ?? this.audioSender)?.dtlsTransport as unknown as Dtls | undefined;
    const cfg = dtls?.srtp?.config;
    const nominated = dtls?.iceTransport?.connection?.nominated;
    const transport = nominated?.protocol?.transport;
    if (dtls?.state !== 'connected' || !cfg?.keys?.remoteMasterKey || !cfg.keys.remoteMasterSalt || cfg.profile === undefined) return false;
    if (!(transport instanceof BaseWeriftTransport) || transport.rtcpSink !== undefined) return false;
    // Receiver reports from the pair's remote address are taken in natively where they can be.
    const addr = nominated?.remoteAddr;
    const peer = addr ? { socket: transport.socket, address: addr[0], port: addr[1], videoSsrc: this.videoSender?.ssrc, audioSsrc: this.audioSender?.ssrc } : undefined;
    let rtcp: InboundRtcpViewer;
    try {
      rtcp = inbound.add({ profile: cfg.profile, masterKey: cfg.keys.remoteMasterKey, masterSalt: cfg.keys.remoteMasterSalt }, this.onInboundRtcp, peer);
    } catch {
      return false;
    }
    if (addr) this.intakePeer = [addr[0], addr[1]];
    transport.rtcpSink = rtcp.sink;
    this.inbound = { rtcp, transport };
    return true;
  }

  /** The viewer's RTCP compound, unprotected by the relay (see {@link tapRtcp}). */
  private readonly onInboundRtcp = (packets: ParsedRtcp[]): void => {
    if (this.closed) return;
    this.alive();
    let failure: unknown;
    for (const p of packets) {
      // One packet's failure does not cost the compound's others theirs; reported after.
      try {
        this.rtcp?.handleRtcp(p);
        if (this.videoSender) this.onRtcp('video', this.videoSender, p);
        if (this.audioSender) this.onRtcp('audio', this.audioSender, p);
      } catch (err) {
        failure ??= err;
      }
    }
    if (failure !== undefined) throw failure;
  };

  /**
   * ICE-lite: the viewer's consent checks on the nominated pair are answered in the receive
   * loop (src/werift/consent-responder.ts) instead of by werift; what the responder does not
   * answer still reaches werift. Follows the nominated pair and the ICE credentials (called
   * on connect and every second). Nothing with full ICE (werift's agent keeps its own state
   * per check), on a Node without zlib.crc32, or off the batched transports.
   */
  private answerConsentChecks(): void {
    if (this.closed || this.ice !== 'lite' || !consentResponderAvailable()) return;
    type Conn = { localUsername?: string; localPassword?: string; remoteUsername?: string; nominated?: { protocol?: { transport?: unknown } } };
    const dtls = (this.videoSender ?? this.audioSender)?.dtlsTransport as unknown as { iceTransport?: { connection?: Conn } } | undefined;
    const conn = dtls?.iceTransport?.connection;
    const transport = conn?.nominated?.protocol?.transport;
    const c = this.consent;
    if (c && c.transport === transport && c.local === conn?.localUsername && c.remote === conn.remoteUsername && c.password === conn.localPassword) return;
    this.dropConsentResponder();
    if (!(transport instanceof BaseWeriftTransport) || transport.stunResponder !== undefined) return;
    const local = conn?.localUsername;
    const remote = conn?.remoteUsername;
    const password = conn?.localPassword;
    if (!local || !remote || !password) return;
    const responder = new ConsentResponder(local, password, remote, (data, address, port) => transport.sendAndForget(data, [address, port]), this.alive);
    transport.stunResponder = responder;
    this.consent = { responder, transport, local, remote, password };
  }

  private dropConsentResponder(): void {
    const c = this.consent;
    if (!c) return;
    this.consent = undefined;
    if (c.transport.stunResponder === c.responder) c.transport.stunResponder = undefined;
    this.consentDone.answered += c.responder.counters.answered;
    this.consentDone.passed += c.responder.counters.passed;
  }

  /** Consent checks the relay answered itself and those it left to werift since connected (zeros with full ICE). */
  consentCounters(): ConsentResponderCounters {
    const now = this.consent?.responder.counters;
    return { answered: this.consentDone.answered + (now?.answered ?? 0), passed: this.consentDone.passed + (now?.passed ?? 0) };
  }

  /** Gives the viewer's RTCP back to werift and frees its native context (idempotent). */
  private untapRtcp(): void {
    const t = this.inbound;
    if (!t) return;
    this.inbound = undefined;
    if (t.transport.rtcpSink === t.rtcp.sink) t.transport.rtcpSink = undefined;
    t.rtcp.close();
  }

  /** Counters of the viewer's RTCP (zeros before 'connected'). */
  rtcpCounters(): SenderRtcpCounters {
    return this.rtcp ? { ...this.rtcp.counters, senderReports: this.rtcp.senderReportsSent() } : { senderReports: 0, senderReportsFailed: 0, nacks: 0, nackRequested: 0, retransmitted: 0, nackMissed: 0, nackThrottled: 0, pli: 0, fir: 0 };
  }

  /** (Re)starts the RTCP handling: fast-path mode when {@link Viewer.useFastPathRtcp} was called, else werift's. */
  private startRtcp(): void {
    const previous = this.rtcp;
    previous?.stop();
    this.unsubscribeRtcp?.();
    const fast = this.fastPath;
    const outputs: RtcpOutput[] = [];
    const noHistory = (seqs: readonly number[]): { retransmitted: number; missed: number } => ({ retransmitted: 0, missed: seqs.length });
    const unsent = (): { packets: number; octets: number; lastTs: number; lastSentAtMs: number } => ({ packets: 0, octets: 0, lastTs: 0, lastSentAtMs: 0 });
    for (const [kind, sender, clockRate] of [
      ['video', this.videoSender, 90000],
      ['audio', this.audioSender, 48000],
    ] as const) {
      if (!sender) continue;
      const out = fast?.[kind];
      outputs.push({ kind, ssrc: sender.ssrc, clockRate, sent: out ? () => out.sent() : unsent, retransmit: out ? (s) => out.retransmit(s) : noHistory, nativeReports: out?.nativeReports });
    }
    const cnameOf = this.videoSender ?? this.audioSender;
    const rtcp = new SenderRtcp({
      outputs,
      path: fast?.path,
      retransmit: fast !== undefined,
      cname: () => (cnameOf as unknown as { cname?: string } | undefined)?.cname,
      onKeyframeRequest: (kind, why) => this.keyframeRequested(kind, why),
      now: fast?.now,
    });
    if (previous) {
      // Counts so far stay with the viewer.
      for (const k of Object.keys(rtcp.counters) as (keyof SenderRtcpCounters)[]) rtcp.counters[k] += previous.counters[k];
    }
    this.rtcp = rtcp;
    type DtlsLike = { onRtcp?: { subscribe(f: (p: unknown) => void): { unSubscribe(): void } } };
    const dtls = (this.videoSender ?? this.audioSender)?.dtlsTransport as unknown as DtlsLike | undefined;
    const sub = dtls?.onRtcp?.subscribe((p) => rtcp.handleRtcp(p));
    this.unsubscribeRtcp = sub ? () => sub.unSubscribe() : undefined;
    rtcp.start();
  }

  /** PLI/FIR from the viewer: counted; video wants a keyframe, which starts with the cached SPS/PPS. */
  private keyframeRequested(kind: 'video' | 'audio', why: 'pli' | 'fir'): void {
    if (why === 'pli') this.own.pli++;
    else this.own.fir++;
    if (kind !== 'video') return;
    this.wantKeyframe(Date.now());
    this.parameterSetsDue = true;
  }

  /** Closes the peer connection (idempotent); listeners get 'closed' once. */
  async close(reason: CloseReason = 'deleted'): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    this.connected = false;
    this.rtcp?.stop();
    this.unsubscribeRtcp?.();
    this.unsubscribeRtcp = undefined;
    this.untapRtcp();
    this.dropConsentResponder();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const cancel of this.repeating) cancel();
    this.repeating.clear();
    for (const l of this.listeners) l('closed', this);
    try {
      await this.pc.close();
    } catch {
      // already torn down by werift
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private wantKeyframe(now: number): void {
    if (this.troubleSince === 0) this.troubleSince = now;
  }

  private onRtcp(kind: 'video' | 'audio', sender: RtpSender, packet: unknown): void {
    const p = packet as { type?: number; reports?: { ssrc: number; fractionLost: number; packetsLost: number; jitter: number }[] };
    if ((p.type !== 200 && p.type !== 201) || !p.reports) return; // SR / RR (RFC 3550 §6.4)
    for (const r of p.reports) {
      if (r.ssrc !== sender.ssrc) continue;
      const now = Date.now();
      this.parsedReports[kind] = { fractionLost: r.fractionLost / 256, packetsLost: r.packetsLost, jitterSeconds: r.jitter / (kind === 'video' ? 90000 : 48000), at: now };
      if (kind === 'video' && r.fractionLost > 0) this.wantKeyframe(now);
    }
  }

  /** Counts incoming STUN binding requests and every other datagram as signs of life. */
  private watchSignsOfLife(): void {
    type Ice = { connection?: { onData?: { subscribe(f: () => void): unknown }; protocols?: { onRequestReceived?: { subscribe(f: () => void): unknown } }[] } };
    for (const t of (this.pc as unknown as { iceTransports?: Ice[] }).iceTransports ?? []) {
      t.connection?.onData?.subscribe(this.alive);
      for (const proto of t.connection?.protocols ?? []) proto.onRequestReceived?.subscribe(this.alive);
    }
  }

  private onState(state: string): void {
    if (this.closed) return;
    if (state === 'connected') {
      if (!this.connected) {
        this.connected = true;
        this.waitingSince = Date.now();
        this.lastSignOfLife = Date.now();
        const vpt = this.videoSender?.codec?.payloadType;
        const apt = this.audioSender?.codec?.payloadType;
        if (this.video && this.videoSender) Object.assign(this.video.rewrite, { ssrc: this.videoSender.ssrc, payloadType: vpt ?? 0 });
        if (this.audio && this.audioSender) Object.assign(this.audio.rewrite, { ssrc: this.audioSender.ssrc, payloadType: apt ?? 0 });
        this.startRtcp();
        this.answerConsentChecks();
        this.every(1000, () => {
          const now = Date.now();
          if (now - this.signOfLife() > LIVENESS_TIMEOUT_MS) void this.close('silent');
          else this.frozen(now); // counts a freeze even when nobody scrapes /metrics during it
          this.followIcePair();
          this.answerConsentChecks();
        });
        for (const l of this.listeners) l('connected', this);
      }
    } else if (state === 'failed' || state === 'closed') {
      void this.close('failed');
    } else if (state === 'disconnected') {
      this.after(DISCONNECT_GRACE_MS, () => {
        if (this.pc.connectionState === 'disconnected') void this.close('disconnected');
      });
    }
  }

  private after(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    t.unref();
    this.timers.add(t);
    return t;
  }

  /** Runs `fn` every `ms` on the relay's shared timers (one wake-up for the viewers due together) until close. */
  private every(ms: number, fn: () => void): void {
    this.repeating.add(relayTimers.every(ms, fn));
  }
}
