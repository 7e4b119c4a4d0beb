/**
 * Steady-state ingest: the part of a stream's ingest policy (stream.ts) that the addon
 * applies itself (addon/ingest_route.h), so that a receive batch needing no decision —
 * every datagram from the locked owner of its kind, with the next sequence number, and for
 * video no keyframe, parameter set or B-frame — is forwarded by the fan-out's native ingest
 * route (RtpFanout.routeIngest) before JS is called for it: no per-batch JS on the relay's
 * common path.
 *
 * This module holds the stream's side of that contract, the ingest state in native memory
 * (layout `INGEST`, binding.ts):
 * - {@link SteadyIngest.arm} writes what the TypeScript policy allows natively now, per kind:
 *   the owner (sockaddr and SSRC), the next sequence number, the last timestamp (for the
 *   B-frame check); {@link SteadyIngest.disarm} withdraws it;
 * - {@link SteadyIngest.take} returns what the addon accepted since (packets, bytes, the
 *   sequence number, timestamp and arrival time reached) and zeroes the counts, for the
 *   stream to fold into its source lock and counters before it decides anything itself.
 */
import { INGEST, SOCKADDR_STRIDE } from '../native/binding.js';
import type { Allocate } from '../scheduler/slot-ring.js';
import type { RtpFanout } from '../fanout/index.js';
import type { NativeBatchSocket } from '../socket/native-socket.js';

/** Media kind index of the ingest state: 0 video (H.264), 1 audio (Opus). */
export type SteadyKind = 0 | 1;

/** What the addon accepted of one kind since the last {@link SteadyIngest.take}. */
export interface SteadyProgress {
  packets: number;
  bytes: number;
  /** Sequence number and timestamp of the last accepted packet. */
  lastSeq: number;
  lastTs: number;
  /** Its arrival time (the forward's `Date.now()`), ms. */
  lastArrival: number;
}

/** The owner of a kind and where its sequence stands, as the stream's source lock has it. */
export interface SteadyArm {
  address: string;
  port: number;
  ssrc: number;
  /** Sequence number the next packet must carry. */
  nextSeq: number;
  /** Timestamp of the last accepted packet, and whether the next packet is checked against it (B-frames). */
  lastTs: number;
  tsCheck: boolean;
}

export class SteadyIngest {
  /** The whole state block (what the socket's route holds). */
  readonly bytes: Uint8Array;
  private readonly f: Float64Array;
  /** Owner last encoded per kind (encodePeer is a native call: once per owner). */
  private readonly encoded = [
    { address: '', port: -1 },
    { address: '', port: -1 },
  ];
  private routedTo: RtpFanout | undefined;
  private routedStream = -1;
  private readonly progress: SteadyProgress = { packets: 0, bytes: 0, lastSeq: 0, lastTs: 0, lastArrival: 0 };

  /**
   * @param socket the stream's ingest socket (`recvDispatch: 'loop'`)
   * @param alloc native memory (the addon's allocShared)
   * @param config the stream's payload types and the longest datagram forwarded natively, bytes
   */
  constructor(
    private readonly socket: NativeBatchSocket,
    alloc: Allocate,
    config: { videoPayloadType: number; audioPayloadType: number; maxLength: number },
  ) {
    const buffer = alloc(INGEST.STATE_BYTES);
    this.bytes = new Uint8Array(buffer, 0, INGEST.STATE_BYTES);
    this.f = new Float64Array(buffer, 0, INGEST.OWNER_OFFSET / 8);
    this.f[INGEST.VIDEO_PT] = config.videoPayloadType;
    this.f[INGEST.AUDIO_PT] = config.audioPayloadType;
    this.f[INGEST.MAX_LENGTH] = config.maxLength;
  }

  /**
   * Routes the socket to `stream` of `fanout` (again only when either changed); `undefined`
   * removes the route. Returns whether the socket is routed.
   */
  route(fanout: RtpFanout | undefined, stream: number): boolean {
    if (fanout === this.routedTo && stream === this.routedStream) return fanout !== undefined;
    this.routedTo?.unrouteIngest(this.socket);
    this.routedTo = undefined;
    this.routedStream = -1;
    if (fanout === undefined || !fanout.routeIngest(this.socket, stream, this.bytes)) return false;
    this.routedTo = fanout;
    this.routedStream = stream;
    return true;
  }

  /** Lets the addon accept `kind`'s steady packets from `a`'s owner on. */
  arm(kind: SteadyKind, a: SteadyArm): void {
    const f = this.f;
    const k = INGEST.KINDS + kind * INGEST.KIND_STRIDE;
    const e = this.encoded[kind];
    if (e.address !== a.address || e.port !== a.port) {
      this.socket.encodeSockaddr(a.address, a.port, this.bytes, INGEST.OWNER_OFFSET + SOCKADDR_STRIDE * kind);
      e.address = a.address;
      e.port = a.port;
    }
    f[k + INGEST.SSRC] = a.ssrc >>> 0;
    f[k + INGEST.NEXT_SEQ] = a.nextSeq & 0xffff;
    f[k + INGEST.LAST_TS] = a.lastTs >>> 0;
    f[k + INGEST.TS_CHECK] = a.tsCheck ? 1 : 0;
    f[INGEST.ARMED] = f[INGEST.ARMED] | (kind === 0 ? INGEST.ARM_VIDEO : INGEST.ARM_AUDIO);
  }

  /** Leaves `kind`'s batches to TypeScript (both kinds when omitted). */
  disarm(kind?: SteadyKind): void {
    const f = this.f;
    if (kind === undefined) f[INGEST.ARMED] = 0;
    else f[INGEST.ARMED] = f[INGEST.ARMED] & ~(kind === 0 ? INGEST.ARM_VIDEO : INGEST.ARM_AUDIO);
  }

  /** Whether `kind` is armed. */
  armed(kind: SteadyKind): boolean {
    return (this.f[INGEST.ARMED] & (kind === 0 ? INGEST.ARM_VIDEO : INGEST.ARM_AUDIO)) !== 0;
  }

  /** What the addon accepted of `kind` since the last call (a reused object), or undefined for nothing; zeroes the counts. */
  take(kind: SteadyKind): SteadyProgress | undefined {
    const f = this.f;
    const k = INGEST.KINDS + kind * INGEST.KIND_STRIDE;
    const packets = f[k + INGEST.PACKETS];
    if (packets === 0) return undefined;
    const p = this.progress;
    p.packets = packets;
    p.bytes = f[k + INGEST.BYTES];
    p.lastSeq = (f[k + INGEST.NEXT_SEQ] - 1) & 0xffff;
    p.lastTs = f[k + INGEST.LAST_TS];
    p.lastArrival = f[k + INGEST.LAST_ARRIVAL];
    f[k + INGEST.PACKETS] = 0;
    f[k + INGEST.BYTES] = 0;
    return p;
  }
}
