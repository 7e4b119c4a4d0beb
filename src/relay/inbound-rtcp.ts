/**
 * The fast path's inbound RTCP: the SRTCP packets viewers send (receiver reports, NACK,
 * PLI, FIR) unprotected natively and parsed here, instead of by werift's DTLS transport —
 * which, per packet, builds a `createDecipheriv` (+ `createHmac` for AES-CM), parses the
 * compound into objects and routes them through its event emitters (werift
 * packages/webrtc/src/transport/dtls.ts `onRtcp`, packages/rtp/src/srtp/srtcp.ts). On a
 * relay with 64 fast-path viewers that pipeline was 12 % of the relay's CPU for about two
 * packets per viewer per second.
 *
 * One {@link InboundRtcp} per relay: a native SRTP context table with one context per
 * viewer, made from the viewer's remote DTLS-SRTP keys (RFC 5764 §4.2: the keys the viewer
 * protects with). A viewer's {@link InboundRtcpViewer.sink} is set as its werift
 * transport's `rtcpSink` (src/werift/transport.ts): the receive loop hands it each RTCP
 * datagram from that viewer (RFC 5761 demultiplexing) as a view of the receive ring; it is
 * copied into one {@link SrtpBatch}, and at the end of the receive batch (the sink's
 * `flush`) one native call unprotects them all (RFC 3711 §3.4, RFC 7714 §9, authenticated
 * before use) and each viewer gets its packets, parsed (src/rtcp/parse.ts) in werift's
 * shape. STUN, DTLS and RTP from the viewer still go to werift.
 *
 * Every datagram handed in is counted once in {@link InboundRtcpCounters}: handled, failed
 * authentication (or another SRTCP error: dropped, as werift drops them), malformed after
 * decryption, or orphaned (its viewer left before the flush).
 *
 * Receiver reports never reach JS at all where they can be taken natively: a viewer added
 * with its {@link InboundRtcpPeer} (its ICE pair's remote address and the shared socket) also
 * gets a row in the addon's `RtcpIntake` (addon/rtcp_intake.h), attached to that socket. In
 * the socket's receive loop it takes the SRTCP datagrams of the viewer that authenticate and
 * hold only reports (no NACK, PLI, FIR; no loss reported on video) and writes their numbers
 * to the viewer's row, read here without a call ({@link InboundRtcpViewer.report},
 * {@link InboundRtcpViewer.lastHeard}); a batch of nothing else makes no call into JS. What
 * it does not take comes here as before. Taken datagrams are counted apart
 * ({@link InboundRtcp.intakeCounters}), not in {@link InboundRtcpCounters}.
 */
import { profileId, SrtpBatch, SrtpContextTable, type SrtpKeyMaterial } from '../srtp/index.js';
import { loadNative, RTCP_INTAKE, type NativeRtcpIntake } from '../native/binding.js';
import type { RtcpSink } from '../werift/transport.js';
import { parseRtcp, type ParsedRtcp } from '../rtcp/parse.js';

/** What became of the SRTCP datagrams handed to the relay's inbound RTCP. */
export interface InboundRtcpCounters {
  /** Datagrams handed in by the receive loop. */
  received: number;
  /** Unprotected, parsed and handed to their viewer. */
  handled: number;
  /** SRTCP unprotect failed (authentication tag, too short, unknown SSRC slot): dropped. */
  rejected: number;
  /** Authenticated but not valid RTCP (RFC 3550 §6.1): dropped. */
  malformed: number;
  /** The viewer left between receive and unprotect: dropped. */
  orphaned: number;
  /** Of the handled, compounds whose handler threw (caught: the receive loop goes on; see {@link InboundRtcp.lastError}). */
  handlerErrors: number;
}

/** A receiver report block about one of the viewer's outgoing SSRCs, as the native intake kept it. */
export interface IntakeReport {
  /** Fraction lost since the previous report, 0–255 (RFC 3550 §6.4.1: divide by 256). */
  fractionLost: number;
  /** Cumulative packets lost (signed 24-bit). */
  packetsLost: number;
  /** Interarrival jitter, RTP timestamp units. */
  jitter: number;
  /** When it was taken in, Unix ms. */
  at: number;
}

/** Where a viewer's SRTCP arrives, for the native intake. */
export interface InboundRtcpPeer {
  /** The socket it arrives on (the batched socket of the viewer's ICE pair). */
  socket: object;
  /** The viewer's address and port (its ICE pair's remote candidate). */
  address: string;
  port: number;
  /** The relay's outgoing SSRCs the viewer reports on (receiver report blocks about others are ignored). */
  videoSsrc?: number;
  audioSsrc?: number;
}

/** One viewer's place in {@link InboundRtcp}. */
export interface InboundRtcpViewer {
  /** The viewer's transport's RTCP sink: `push` copies one SRTCP datagram of the viewer, `flush` handles what is pending (every viewer's). */
  readonly sink: RtcpSink;
  /** Whether the native intake takes this viewer's reports (else all its RTCP comes through `sink`). */
  readonly native: boolean;
  /** The viewer's ICE pair moved: the native intake follows it (no-op without one). */
  setPeer(address: string, port: number): void;
  /** Unix ms of the last datagram the native intake took for the viewer, 0 = none. */
  lastHeard(): number;
  /** The last report block the native intake took about the viewer's video/audio SSRC, if any. */
  report(kind: 'video' | 'audio'): IntakeReport | undefined;
  /** Frees the viewer's context; datagrams still pending for it count as orphaned. Idempotent. */
  close(): void;
}

/** What the native intake did with the viewers' SRTCP (addon/rtcp_intake.h): offered = taken + passed + unauthenticated. */
export interface RtcpIntakeCounters {
  /** SRTCP datagrams from registered viewers' addresses that the intake examined. */
  offered: number;
  /** Taken in natively (reports only): never reached JS. */
  taken: number;
  /** Left to JS for what they hold (NACK, PLI, FIR, loss on video, not valid RTCP, too long). */
  passed: number;
  /** Left to JS because they did not authenticate with the viewer's keys (JS then counts them `rejected`). */
  unauthenticated: number;
}

/** Rows of the native intake (viewers taken in natively at once; more keep the JS path). */
const INTAKE_ROWS = 4096;

/** Handles a viewer's parsed RTCP compound (in order of arrival). */
export type RtcpHandler = (packets: ParsedRtcp[]) => void;

interface Entry {
  ctx: number;
  handler: RtcpHandler;
  open: boolean;
  /** Row in the native intake, -1 = none. */
  row: number;
}

/** The addon's intake and its memory, made with the first viewer that has a peer. */
interface Intake {
  native: NativeRtcpIntake;
  stats: Float64Array;
  counters: Float64Array;
  free: number[];
  next: number;
  sockets: WeakSet<object>;
}

export class InboundRtcp {
  readonly counters: InboundRtcpCounters = { received: 0, handled: 0, rejected: 0, malformed: 0, orphaned: 0, handlerErrors: 0 };
  /** The last error a handler threw, for diagnosis (counted in `counters.handlerErrors`). */
  lastError: unknown;
  private readonly table = new SrtpContextTable();
  private readonly batch = new SrtpBatch(16 * 1024, 64);
  /** The viewer of each packet in {@link batch}. */
  private owners: Entry[] = [];
  /** {@link flush}, bound: the same function in every viewer's sink (the receive loop calls it once per batch). */
  private readonly flushPending = (): void => this.flush();
  /** undefined: not tried yet; null: not available here. */
  private intake: Intake | null | undefined;

  /** Whether native SRTP is available (else viewers keep werift's inbound RTCP). */
  static available(): boolean {
    return SrtpContextTable.available();
  }

  /**
   * Adds a viewer by the key material it protects its SRTCP with (werift's
   * `srtp.config.keys.remoteMasterKey/remoteMasterSalt` and the profile).
   * @throws SrtpError / SrtpTypeError / SrtpRangeError for unusable key material.
   */
  add(keys: SrtpKeyMaterial, handler: RtcpHandler, peer?: InboundRtcpPeer): InboundRtcpViewer {
    const entry: Entry = { ctx: this.table.add(keys), handler, open: true, row: -1 };
    if (peer) entry.row = this.addToIntake(keys, peer);
    /** Field `f` of the viewer's stats row; undefined without a row. */
    const field = (f: number): number | undefined => {
      const intake = this.intake;
      return entry.row >= 0 && intake ? intake.stats[entry.row * RTCP_INTAKE.STRIDE + f] : undefined;
    };
    return {
      sink: { push: (datagram) => this.push(entry, datagram), flush: this.flushPending },
      get native() {
        return entry.row >= 0;
      },
      setPeer: (address, port) => {
        if (entry.row < 0 || !this.intake) return;
        try {
          this.intake.native.setPeer(entry.row, address, port);
        } catch {
          this.releaseRow(entry); // an address the intake cannot key: the JS path takes it all
        }
      },
      lastHeard: () => field(RTCP_INTAKE.LAST_HEARD) ?? 0,
      report: (kind) => {
        const k = kind === 'video' ? RTCP_INTAKE.VIDEO_AT : RTCP_INTAKE.AUDIO_AT;
        const at = field(k);
        if (at === undefined || !(at > 0)) return undefined;
        return { at, fractionLost: field(k + RTCP_INTAKE.FRACTION_LOST)!, packetsLost: field(k + RTCP_INTAKE.PACKETS_LOST)!, jitter: field(k + RTCP_INTAKE.JITTER)! };
      },
      close: () => {
        if (!entry.open) return;
        entry.open = false;
        this.releaseRow(entry);
        this.table.remove(entry.ctx);
      },
    };
  }

  /** What the native intake did so far (zeros without one). */
  get intakeCounters(): RtcpIntakeCounters {
    const c = this.intake?.counters;
    if (!c) return { offered: 0, taken: 0, passed: 0, unauthenticated: 0 };
    return { offered: c[RTCP_INTAKE.OFFERED], taken: c[RTCP_INTAKE.TAKEN_TOTAL], passed: c[RTCP_INTAKE.PASSED], unauthenticated: c[RTCP_INTAKE.UNAUTHENTICATED] };
  }

  /**
   * A row of the native intake for the viewer at `peer`, the intake attached to its socket;
   * -1 (the JS path takes all its RTCP) without the addon's intake, on a socket that cannot
   * take one, with every row in use, or for an address the intake cannot key.
   */
  private addToIntake(keys: SrtpKeyMaterial, peer: InboundRtcpPeer): number {
    const intake = this.openIntake();
    const socket = peer.socket as { setIntake?: (intake: NativeRtcpIntake | null) => boolean };
    if (!intake || typeof socket.setIntake !== 'function') return -1;
    const row = intake.free.pop() ?? (intake.next < INTAKE_ROWS ? intake.next++ : -1);
    if (row < 0) return -1;
    try {
      intake.native.add(row, peer.address, peer.port, profileId(keys.profile), keys.masterKey, keys.masterSalt, peer.videoSsrc ?? -1, peer.audioSsrc ?? -1);
      if (!intake.sockets.has(peer.socket)) {
        if (!socket.setIntake(intake.native)) throw new Error('socket closed');
        intake.sockets.add(peer.socket);
      }
      return row;
    } catch {
      intake.native.remove(row);
      intake.free.push(row);
      return -1;
    }
  }

  private releaseRow(entry: Entry): void {
    const intake = this.intake;
    if (entry.row < 0 || !intake) return;
    intake.native.remove(entry.row);
    intake.free.push(entry.row);
    entry.row = -1;
  }

  private openIntake(): Intake | null {
    if (this.intake !== undefined) return this.intake;
    this.intake = null;
    const r = loadNative();
    if (!r.ok || typeof r.binding.RtcpIntake !== 'function') return null;
    const native = new r.binding.RtcpIntake(INTAKE_ROWS);
    const stats = native.stats();
    const counters = native.counters();
    if (!stats || !counters) return null; // no external buffers here: nothing to read the rows through
    this.intake = { native, stats, counters, free: [], next: 0, sockets: new WeakSet() };
    return this.intake;
  }

  private push(entry: Entry, datagram: Uint8Array): void {
    this.counters.received++;
    if (!entry.open) {
      this.counters.orphaned++;
      return;
    }
    this.batch.push(entry.ctx, datagram);
    this.owners.push(entry);
  }

  /**
   * Unprotects everything pending in one native call and hands each viewer its packets (the
   * receive loop calls it at the end of each batch; nothing pending: no-op). Never throws: a
   * handler that throws is counted (`handlerErrors`, `lastError`) and the others still get
   * theirs — as werift's DTLS transport catches what its RTCP handlers throw — so nothing
   * reaches the socket's receive loop.
   */
  flush(): void {
    if (this.owners.length === 0) return;
    const batch = this.batch;
    const owners = this.owners;
    this.owners = [];
    const c = this.counters;
    // A viewer that left since: its context id may be gone (or reused): leave its packets out.
    let live = true;
    for (const e of owners) if (!e.open) live = false;
    if (!live) {
      for (let i = 0; i < batch.count; i++) if (!owners[i].open) batch.ids[i] = -1;
    }
    if (batch.count > 0) {
      if (live) this.table.unprotectBatch('rtcp', batch);
      else this.unprotectOpen(batch, owners);
    }
    try {
      for (let i = 0; i < batch.count; i++) {
        const e = owners[i];
        if (!e.open || batch.ids[i] < 0) {
          c.orphaned++;
          continue;
        }
        if (batch.status[i] < 0) {
          c.rejected++;
          continue;
        }
        let packets: ParsedRtcp[];
        try {
          packets = parseRtcp(batch.arena.subarray(batch.offsets[i], batch.offsets[i] + batch.lengths[i]));
        } catch {
          c.malformed++;
          continue;
        }
        c.handled++;
        try {
          e.handler(packets);
        } catch (err) {
          c.handlerErrors++;
          this.lastError = err;
        }
      }
    } finally {
      batch.clear();
    }
  }

  /** The rare flush where a viewer left with packets pending: the others one by one. */
  private unprotectOpen(batch: SrtpBatch, owners: Entry[]): void {
    for (let i = 0; i < batch.count; i++) {
      if (batch.ids[i] < 0 || !owners[i].open) continue;
      try {
        const plain = this.table.unprotectRtcp(batch.ids[i], batch.packet(i));
        batch.arena.set(plain, batch.offsets[i]);
        batch.lengths[i] = plain.length;
        batch.status[i] = 0;
      } catch {
        batch.status[i] = -1;
      }
    }
  }
}
