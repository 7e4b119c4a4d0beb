/**
 * One WHEP viewer: a werift `RTCPeerConnection` that answers the viewer's offer with a
 * send-only H.264 video and Opus audio track, and the state the fan-out needs —
 * connected or not, live or waiting for a keyframe, RTP packets in flight.
 *
 * Source: werift packages/webrtc/src/peerConnection.ts (answering a remote offer: the
 * offer's recvonly m-lines become sendonly transceivers that `addTrack` fills) and
 * packages/webrtc/src/media/rtpSender.ts (`sendRtp`, which rewrites SSRC, payload type
 * and keeps the sequence numbers, and `replaceRTP`, which re-bases them after a gap).
 */
import { randomUUID } from 'node:crypto';
import type * as Werift from 'werift';

export type WeriftModule = typeof Werift;
type PeerConnection = InstanceType<WeriftModule['RTCPeerConnection']>;
type RtpSender = PeerConnection['getSenders'] extends () => (infer S)[] ? S : never;
type RtpPacket = InstanceType<WeriftModule['RtpPacket']>;

/** How long a viewer may take to connect (ICE + DTLS) before it is reaped, ms. */
export const CONNECT_TIMEOUT_MS = 30_000;
/** How long a connection may stay 'disconnected' before it is reaped, ms. */
export const DISCONNECT_GRACE_MS = 10_000;
/** RTP packets a viewer may have in flight through werift before it counts as fallen behind. */
export const MAX_IN_FLIGHT = 512;

export interface ViewerNetwork {
  /** Address announced in host candidates and bound by werift's sockets (IP literal). */
  host: string;
  /** Reap a viewer that has not connected (ICE + DTLS) after this long, ms (default {@link CONNECT_TIMEOUT_MS}). */
  connectTimeoutMs?: number;
}

export type ViewerEvent = 'connected' | 'closed';

/** Counters the stream reads per viewer. */
export interface ViewerCounters {
  /** RTP packets handed to werift for this viewer. */
  forwarded: number;
  /** Picture loss indications (RTCP PLI) the viewer sent. */
  pli: number;
  /** Times the viewer fell behind and was moved back to waiting for a keyframe. */
  stalls: number;
}

export class Viewer {
  readonly id = randomUUID();
  readonly createdAt = Date.now();
  readonly counters: ViewerCounters = { forwarded: 0, pli: 0, stalls: 0 };
  /** DTLS is up: RTP can be sent. */
  connected = false;
  /** Video is flowing (started at a keyframe); false while waiting for the next one. */
  videoLive = false;
  /** When the current keyframe wait started (ms), or 0. */
  waitingSince = 0;
  /** Whether the next video start must re-base sequence numbers (after a stall, not at the first start). */
  private resync = false;
  private inFlight = 0;
  private closed = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly listeners: ((e: ViewerEvent, v: Viewer) => void)[] = [];
  private readonly pc: PeerConnection;
  private video: RtpSender | undefined;
  private audio: RtpSender | undefined;
  private readonly onSent = (): void => {
    this.inFlight--;
  };

  constructor(
    private readonly werift: WeriftModule,
    net: ViewerNetwork,
  ) {
    const { RTCPeerConnection, useH264, useOPUS, useNACK, usePLI } = werift;
    this.pc = new RTCPeerConnection({
      // Host candidates only, on the relay's address: no STUN/TURN servers, no interface scan.
      iceServers: [],
      iceUseIpv4: false,
      iceUseIpv6: false,
      iceAdditionalHostAddresses: [net.host],
      iceInterfaceAddresses: { udp4: net.host },
      bundlePolicy: 'max-bundle',
      codecs: {
        video: [useH264({ rtcpFeedback: [useNACK(), usePLI()] })],
        audio: [useOPUS()],
      },
    });
    this.pc.connectionStateChange.subscribe((state) => this.onState(state));
    this.after(net.connectTimeoutMs ?? CONNECT_TIMEOUT_MS, () => {
      if (!this.connected) void this.close();
    });
  }

  /**
   * Answers a WHEP offer (RFC 9725 §4.2): sets it, attaches send-only tracks to its
   * video and audio m-lines, and returns the answer SDP with every host candidate (no
   * trickle: gathering completes first, bounded by `gatherTimeoutMs`).
   * @throws Error when the offer is not valid SDP or offers no H.264 video.
   */
  async answer(offerSdp: string, gatherTimeoutMs = 5000): Promise<string> {
    const { MediaStreamTrack } = this.werift;
    await this.pc.setRemoteDescription({ type: 'offer', sdp: offerSdp });
    const kinds = this.pc.getTransceivers().map((t) => t.kind);
    if (!kinds.includes('video')) throw new Error('the offer has no video m-line');
    const videoTrack = new MediaStreamTrack({ kind: 'video' });
    this.video = this.pc.addTrack(videoTrack);
    if (kinds.includes('audio')) this.audio = this.pc.addTrack(new MediaStreamTrack({ kind: 'audio' }));
    this.video.onPictureLossIndication.subscribe(() => {
      this.counters.pli++;
    });
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
    if (!/^m=video [1-9]/m.test(sdp)) throw new Error('no H.264 video could be negotiated with this offer');
    return sdp;
  }

  on(listener: (e: ViewerEvent, v: Viewer) => void): void {
    this.listeners.push(listener);
  }

  /** Room for another packet (false: the viewer fell behind; the caller stalls it). */
  get hasRoom(): boolean {
    return this.inFlight < MAX_IN_FLIGHT;
  }

  /** Starts (or restarts after a stall) video at a keyframe packet. */
  startVideo(header: RtpPacket['header']): void {
    if (this.resync) this.video?.replaceRTP(header);
    this.videoLive = true;
    this.waitingSince = 0;
  }

  /** The viewer fell behind: drop video until the next keyframe (newest wins). */
  stall(now: number): void {
    this.videoLive = false;
    this.resync = true;
    this.waitingSince = now;
    this.counters.stalls++;
  }

  /** Hands one packet to werift (it clones and rewrites it per sender). */
  sendVideo(packet: RtpPacket): void {
    this.send(this.video, packet);
  }
  sendAudio(packet: RtpPacket): void {
    this.send(this.audio, packet);
  }

  private send(sender: RtpSender | undefined, packet: RtpPacket): void {
    if (!sender) return;
    this.inFlight++;
    this.counters.forwarded++;
    // werift awaits the transport per packet; with the batching plug this settles at enqueue.
    sender.sendRtp(packet).then(this.onSent, this.onSent);
  }

  /** Closes the peer connection (idempotent); listeners get 'closed' once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.connected = false;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
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

  private onState(state: string): void {
    if (this.closed) return;
    if (state === 'connected') {
      if (!this.connected) {
        this.connected = true;
        this.waitingSince = Date.now();
        for (const l of this.listeners) l('connected', this);
      }
    } else if (state === 'failed' || state === 'closed') {
      void this.close();
    } else if (state === 'disconnected') {
      this.after(DISCONNECT_GRACE_MS, () => {
        if (this.pc.connectionState === 'disconnected') void this.close();
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
}
