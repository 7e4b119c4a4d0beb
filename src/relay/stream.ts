/**
 * One named stream: RTP in (H.264 video and Opus audio, told apart by payload type),
 * forwarded to every connected viewer.
 *
 * Fan-out policy: a viewer gets video from a keyframe on — at join, and again after it
 * fell behind (more than `MAX_IN_FLIGHT` packets in flight through werift, see viewer.ts): the
 * newest keyframe wins, stale frames are skipped, nothing is queued without bound.
 * Audio flows as soon as the viewer is connected. Ingest is parsed once per packet
 * (one werift `RtpPacket` shared by all viewers; werift clones it per sender).
 */
import type * as Werift from 'werift';
import { KeyframeMark, keyframeMark } from './h264.js';
import { parseRtpHeader } from './rtp.js';
import type { Viewer } from './viewer.js';

type RtpPacketClass = (typeof Werift)['RtpPacket'];

export interface StreamConfig {
  name: string;
  /** Payload type of H.264 video in the ingest (default 96). */
  videoPayloadType: number;
  /** Payload type of Opus audio in the ingest (default 97). */
  audioPayloadType: number;
}

/** Counters of one stream (datagrams unless named otherwise). */
export interface StreamCounters {
  ingestVideo: number;
  ingestAudio: number;
  ingestBytes: number;
  /** Ingest datagrams that are not RTP, or RTP with an unknown payload type. */
  ingestInvalid: number;
  ingestUnknownPayloadType: number;
  keyframes: number;
  /** RTP packets handed to werift, all viewers. */
  egressVideo: number;
  egressAudio: number;
  /** Viewers that waited for a keyframe (joins and stalls), and how long in total (ms). */
  keyframeWaits: number;
  keyframeWaitMs: number;
  stalls: number;
  pli: number;
}

export class RelayStream {
  readonly viewers = new Set<Viewer>();
  readonly counters: StreamCounters = {
    ingestVideo: 0,
    ingestAudio: 0,
    ingestBytes: 0,
    ingestInvalid: 0,
    ingestUnknownPayloadType: 0,
    keyframes: 0,
    egressVideo: 0,
    egressAudio: 0,
    keyframeWaits: 0,
    keyframeWaitMs: 0,
    stalls: 0,
    pli: 0,
  };
  /** Closed viewers' counters, folded in so totals survive them. */
  private readonly gone = { forwarded: 0, pli: 0, stalls: 0 };
  private inbandSps = false;

  constructor(
    readonly config: StreamConfig,
    private readonly RtpPacket: RtpPacketClass,
  ) {}

  get name(): string {
    return this.config.name;
  }

  add(viewer: Viewer): void {
    this.viewers.add(viewer);
    viewer.on((event, v) => {
      if (event === 'connected') this.counters.keyframeWaits++;
      if (event === 'closed') this.remove(v);
    });
  }

  private remove(v: Viewer): void {
    if (!this.viewers.delete(v)) return;
    this.gone.forwarded += v.counters.forwarded;
    this.gone.pli += v.counters.pli;
    this.gone.stalls += v.counters.stalls;
  }

  /** PLI and stall totals over current and past viewers. */
  totals(): { pli: number; stalls: number } {
    let pli = this.gone.pli;
    let stalls = this.gone.stalls;
    for (const v of this.viewers) {
      pli += v.counters.pli;
      stalls += v.counters.stalls;
    }
    return { pli, stalls };
  }

  /** One ingest datagram (`bytes[offset .. offset+length)`, valid only during the call). */
  onDatagram(bytes: Uint8Array, offset: number, length: number): void {
    const h = parseRtpHeader(bytes, offset, length);
    if (!h) {
      this.counters.ingestInvalid++;
      return;
    }
    const c = this.counters;
    const isVideo = h.payloadType === this.config.videoPayloadType;
    if (!isVideo && h.payloadType !== this.config.audioPayloadType) {
      c.ingestUnknownPayloadType++;
      return;
    }
    c.ingestBytes += length;
    let keyStart = false;
    if (isVideo) {
      c.ingestVideo++;
      const mark = keyframeMark(bytes, offset + h.payloadOffset, h.payloadLength);
      if (mark === KeyframeMark.Sps) this.inbandSps = true;
      keyStart = mark === KeyframeMark.Sps || (mark === KeyframeMark.IdrStart && !this.inbandSps);
      if (keyStart) c.keyframes++;
    } else {
      c.ingestAudio++;
    }
    if (this.viewers.size === 0) return;
    // One parse per ingest packet; werift clones it per viewer. The copy detaches it
    // from the receive ring, which is reused after this batch.
    const packet = this.RtpPacket.deSerialize(Buffer.from(bytes.subarray(offset, offset + length)));
    const now = keyStart ? Date.now() : 0;
    for (const v of this.viewers) {
      if (!v.connected) continue;
      if (!v.hasRoom) {
        if (v.videoLive) {
          v.stall(Date.now());
          c.stalls++;
          c.keyframeWaits++;
        }
        continue;
      }
      if (isVideo) {
        if (!v.videoLive) {
          if (!keyStart) continue;
          c.keyframeWaitMs += v.waitingSince ? now - v.waitingSince : 0;
          v.startVideo(packet.header);
        }
        v.sendVideo(packet);
        c.egressVideo++;
      } else {
        v.sendAudio(packet);
        c.egressAudio++;
      }
    }
  }

  /** Closes every viewer. */
  async close(): Promise<void> {
    await Promise.all([...this.viewers].map((v) => v.close()));
  }
}
