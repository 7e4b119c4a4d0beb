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
 */
import { SrtpBatch, SrtpContextTable, type SrtpKeyMaterial } from '../srtp/index.js';
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

/** One viewer's place in {@link InboundRtcp}. */
export interface InboundRtcpViewer {
  /** The viewer's transport's RTCP sink: `push` copies one SRTCP datagram of the viewer, `flush` handles what is pending (every viewer's). */
  readonly sink: RtcpSink;
  /** Frees the viewer's context; datagrams still pending for it count as orphaned. Idempotent. */
  close(): void;
}

/** Handles a viewer's parsed RTCP compound (in order of arrival). */
export type RtcpHandler = (packets: ParsedRtcp[]) => void;

interface Entry {
  ctx: number;
  handler: RtcpHandler;
  open: boolean;
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

  /** Whether native SRTP is available (else viewers keep werift's inbound RTCP). */
  static available(): boolean {
    return SrtpContextTable.available();
  }

  /**
   * Adds a viewer by the key material it protects its SRTCP with (werift's
   * `srtp.config.keys.remoteMasterKey/remoteMasterSalt` and the profile).
   * @throws SrtpError / SrtpTypeError / SrtpRangeError for unusable key material.
   */
  add(keys: SrtpKeyMaterial, handler: RtcpHandler): InboundRtcpViewer {
    const entry: Entry = { ctx: this.table.add(keys), handler, open: true };
    return {
      sink: { push: (datagram) => this.push(entry, datagram), flush: this.flushPending },
      close: () => {
        if (!entry.open) return;
        entry.open = false;
        this.table.remove(entry.ctx);
      },
    };
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
