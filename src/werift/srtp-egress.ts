/**
 * `installWeriftBatching(werift, { srtp: 'native' })`: werift's per-packet SRTP protect moved
 * into the addon's native SRTP (addon/srtp.cc through src/srtp/), per batch.
 *
 * What is hooked: `RTCDtlsTransport.prototype.sendRtp(payload, header)` and
 * `sendRtcp(packets)` (werift packages/webrtc/src/transport/dtls.ts, the same in 0.24.4
 * and 0.25.x). Stock `sendRtp` does `this.srtp.encrypt(payload, header)` — a
 * `createCipheriv` (+ `createHmac` for AES-CM) per packet — then
 * `await this.iceTransport.connection.send(enc)`.
 *
 * The hooked `sendRtp` serializes the header and copies header and payload into one
 * {@link SrtpBatch} shared by every transport of the install, and returns a promise. The
 * first packet of a batch queues a microtask; when it runs (the synchronous code that
 * produced the packets — one ingest packet fanned out to every viewer, a frame's packets
 * — has finished), one native call protects the whole batch in place, each packet with
 * its own transport's context, and each protected packet goes to its transport's
 * `iceTransport.connection.send` in order, as werift would have sent it; then the promises
 * resolve with the protected length, as stock `sendRtp` does. A batch is also flushed at
 * once when it reaches 256 packets or 224 KiB (a burst of frames in one turn). An app that
 * awaits each `sendRtp` before the next gets batches of one (one N-API call per packet).
 *
 * Keys: a transport's context is built from `this.srtp.config` (the local master key and
 * salt werift's `updateSrtpSession` got from the DTLS exporter, and the profile), and
 * rebuilt when werift replaces `this.srtp` (a new DTLS session). Rollover counters and SRTCP
 * indices then live in native memory: werift's own `SrtpSession` no longer sees outgoing
 * packets (uninstalling mid-session would restart werift's counters: close such
 * connections first).
 *
 * Stock behaviour stays where native cannot serve: `srtp` option absent/'werift' (nothing
 * hooked), a transport whose profile is neither SRTP_AES128_CM_HMAC_SHA1_80 nor
 * SRTP_AEAD_AES_128_GCM, one with werift's `debug.outboundPacketLoss`, one without keys yet
 * (werift's own sendRtp then fails and returns 0, as it always did), and after
 * `uninstall()`.
 */
import { SrtpBatch, SrtpContextTable } from '../srtp/index.js';
import { BaseWeriftTransport } from './transport.js';

/** The parts of werift's `RTCDtlsTransport` (packages/webrtc/src/transport/dtls.ts) the hook touches. */
interface DtlsTransportLike {
  srtp?: { config?: { keys?: { localMasterKey?: Uint8Array; localMasterSalt?: Uint8Array }; profile?: number } };
  config?: { debug?: { outboundPacketLoss?: number } };
  bytesSent: number;
  packetsSent: number;
  iceTransport: { connection: IceConnectionLike };
}
/** werift's ICE `Connection` (packages/ice/src/ice.ts), as far as its `send` goes. */
interface IceConnectionLike {
  send(data: Buffer): Promise<void>;
  canSendApplicationData?: () => boolean;
  nominated?: { protocol?: { transport?: unknown }; remoteAddr: [string, number]; packetsSent: number; bytesSent: number };
}
interface RtpHeaderLike {
  serialize(size: number): Buffer;
  serializeSize: number;
}
interface RtcpPacketLike {
  serialize(): Buffer;
}
type SendRtp = (this: DtlsTransportLike, payload: Buffer, header: RtpHeaderLike) => Promise<number>;
type SendRtcp = (this: DtlsTransportLike, packets: RtcpPacketLike[]) => Promise<unknown>;

/** A werift module exposing the class whose prototype is hooked. */
export interface WeriftDtlsModuleLike {
  RTCDtlsTransport?: { prototype: { sendRtp?: unknown; sendRtcp?: unknown } };
}

/** Counters of the native SRTP egress (in `stats().srtp`). */
export interface WeriftSrtpCounters {
  /** `'native'` while hooked. */
  mode: 'native';
  /** RTP packets protected natively and handed to werift's ICE connection. */
  rtpProtected: number;
  /** RTCP compound packets protected natively. */
  rtcpProtected: number;
  /** Native protect calls for RTP (each covers a batch). */
  batches: number;
  /** Packets native protect refused (malformed, too many SSRCs, index exhausted): not sent, `sendRtp` resolved 0. */
  failed: number;
  /** sendRtp/sendRtcp calls left to werift's own SRTP (no keys yet, unsupported profile, debug loss). */
  stockCalls: number;
  /** Native contexts alive (one per DTLS transport with keys). */
  contexts: number;
}

interface TransportState {
  /** The werift SrtpSession the context was built from; a new one means new keys. */
  session: object;
  /** Context id, or -1: this transport stays on werift's SRTP. */
  id: number;
}

interface Pending {
  transport: DtlsTransportLike;
  resolve: (n: number) => void;
}

const PROFILES = new Set([0x0001, 0x0007]);
/** Packets / arena bytes after which the queued RTP is protected and sent at once, not at the end of the turn. */
const MAX_BATCH_PACKETS = 256;
const MAX_BATCH_BYTES = 224 * 1024;

/** Validates that `werift` can be hooked; throws the typed error install() reports. */
export function checkSrtpHookable(werift: unknown): void {
  const cls: unknown = (werift as { RTCDtlsTransport?: unknown }).RTCDtlsTransport;
  const proto = typeof cls === 'function' ? (cls.prototype as { sendRtp?: unknown; sendRtcp?: unknown } | undefined) : undefined;
  if (typeof proto?.sendRtp !== 'function' || typeof proto?.sendRtcp !== 'function') {
    const err = new Error("srtp: 'native' needs werift's RTCDtlsTransport with sendRtp/sendRtcp, which this werift module does not export") as Error & { code: string };
    err.code = 'ERR_INVALID_ARG_VALUE';
    throw err;
  }
  if (!SrtpContextTable.available()) new SrtpContextTable(); // throws ERR_SRTP_UNAVAILABLE with the reason
}

export class NativeSrtpEgress {
  private readonly table = new SrtpContextTable();
  private readonly states = new WeakMap<DtlsTransportLike, TransportState>();
  /** Frees a transport's context when werift drops the transport. */
  private readonly registry = new FinalizationRegistry<number>((id) => {
    if (this.active) this.table.remove(id);
  });
  private batch = new SrtpBatch(256 * 1024);
  private spare = new SrtpBatch(256 * 1024);
  private pending: Pending[] = [];
  private scheduled = false;
  private active = true;
  private readonly restore: (() => void)[] = [];
  readonly counters: Omit<WeriftSrtpCounters, 'mode' | 'contexts'> = { rtpProtected: 0, rtcpProtected: 0, batches: 0, failed: 0, stockCalls: 0 };

  constructor(werift: WeriftDtlsModuleLike) {
    const proto = werift.RTCDtlsTransport!.prototype as { sendRtp: SendRtp; sendRtcp: SendRtcp };
    const self = this;
    const originalRtp = proto.sendRtp;
    const originalRtcp = proto.sendRtcp;
    const sendRtp: SendRtp = function sendRtp(this: DtlsTransportLike, payload, header) {
      const id = self.active ? self.contextOf(this) : -1;
      if (id < 0) {
        self.counters.stockCalls++;
        return originalRtp.call(this, payload, header);
      }
      let hdr: Buffer;
      try {
        hdr = header.serialize(header.serializeSize);
      } catch {
        return Promise.resolve(0); // werift: "failed to send" → 0
      }
      return new Promise<number>((resolve) => {
        try {
          self.batch.push(id, hdr, payload);
        } catch {
          self.counters.failed++;
          resolve(0); // e.g. a payload that is not bytes: werift's sendRtp logs and returns 0
          return;
        }
        self.pending.push({ transport: this, resolve });
        // A burst (an app catching up on many frames in one turn) is cut into bounded
        // batches: the arena never grows past its preallocated size.
        if (self.batch.count >= MAX_BATCH_PACKETS || self.batch.used >= MAX_BATCH_BYTES) {
          self.flush();
          return;
        }
        if (!self.scheduled) {
          self.scheduled = true;
          queueMicrotask(self.flush);
        }
      });
    };
    const sendRtcp: SendRtcp = async function sendRtcp(this: DtlsTransportLike, packets) {
      const id = self.active ? self.contextOf(this) : -1;
      if (id < 0) {
        self.counters.stockCalls++;
        return originalRtcp.call(this, packets);
      }
      self.flush(); // RTP queued before this RTCP leaves first (its sender report counts them)
      const enc = self.table.protectRtcp(id, Buffer.concat(packets.map((p) => p.serialize())));
      self.counters.rtcpProtected++;
      this.bytesSent += enc.length;
      this.packetsSent++;
      await this.iceTransport.connection.send(enc).catch(() => {});
    };
    this.hook(proto, 'sendRtp', sendRtp);
    this.hook(proto, 'sendRtcp', sendRtcp);
  }

  private hook(proto: object, name: 'sendRtp' | 'sendRtcp', fn: SendRtp | SendRtcp): void {
    const saved = Object.getOwnPropertyDescriptor(proto, name);
    Object.defineProperty(proto, name, { value: fn, writable: true, configurable: true, enumerable: saved?.enumerable ?? false });
    this.restore.push(() => {
      if ((proto as Record<string, unknown>)[name] !== fn) return; // wrapped by someone else since: `active = false` makes us a pass-through
      if (saved) Object.defineProperty(proto, name, saved);
      else delete (proto as Record<string, unknown>)[name];
    });
  }

  /** The transport's native context id, building or rebuilding it from werift's current SRTP session; -1 = stock. */
  private contextOf(t: DtlsTransportLike): number {
    const session = t.srtp;
    if (!session) return -1;
    const st = this.states.get(t);
    if (st && st.session === session) return st.id;
    if (st && st.id >= 0) {
      this.registry.unregister(st);
      this.table.remove(st.id);
    }
    let id = -1;
    const cfg = session.config;
    const key = cfg?.keys?.localMasterKey;
    const salt = cfg?.keys?.localMasterSalt;
    if (cfg && PROFILES.has(cfg.profile as number) && key && salt && !t.config?.debug?.outboundPacketLoss) {
      try {
        id = this.table.add({ profile: cfg.profile as number, masterKey: key, masterSalt: salt });
      } catch {
        id = -1; // unexpected key shape: werift's own SRTP handles it
      }
    }
    const next: TransportState = { session, id };
    this.states.set(t, next);
    if (id >= 0) this.registry.register(t, id, next);
    return id;
  }

  /** Protects every queued RTP packet in one native call and hands each to its transport's ICE connection, in order. */
  readonly flush = (): void => {
    this.scheduled = false;
    const pending = this.pending;
    if (pending.length === 0) return;
    // Swap batches: a sendRtp made while this loop runs (from a send's synchronous part)
    // queues into the other one and gets its own flush.
    const batch = this.batch;
    this.batch = this.spare;
    this.spare = batch;
    this.pending = [];
    let failedAll = false;
    try {
      this.table.protectBatch('rtp', batch);
      this.counters.batches++;
    } catch {
      failedAll = true; // a context vanished under us (cannot happen while hooked); fail the batch as werift fails a send
    }
    for (let i = 0; i < pending.length; i++) {
      const { transport, resolve } = pending[i];
      if (failedAll || batch.status[i] !== 0) {
        this.counters.failed++;
        resolve(0);
        continue;
      }
      const view = batch.packet(i);
      const length = view.length;
      const conn = transport.iceTransport.connection;
      this.counters.rtpProtected++;
      transport.bytesSent += length;
      transport.packetsSent++;
      try {
        this.send(conn, view, length, resolve);
      } catch {
        resolve(length); // werift: send(enc).catch(() => {}) — a send failure is not sendRtp's failure
      }
    }
    batch.clear();
  };

  /** Hands one protected packet to werift's ICE connection, as `Connection.send` would. */
  private send(conn: IceConnectionLike, view: Buffer, length: number, resolve: (n: number) => void): void {
    const pair = conn.nominated;
    const sock = pair?.protocol?.transport;
    if (pair && sock instanceof BaseWeriftTransport && typeof conn.canSendApplicationData === 'function') {
      // werift's Connection.send inlined (the same in 0.24.4 and 0.25): consent check
      // (RFC 7675), StunProtocol.sendData (nothing once the transport closed), pair
      // statistics — without its two async frames per packet. The plug's transport copies
      // the bytes before it returns.
      if (conn.canSendApplicationData() && !sock.closed) {
        sock.sendAndForget(view, pair.remoteAddr);
        pair.packetsSent++;
        pair.bytesSent += length;
      }
      resolve(length);
      return;
    }
    // A socket werift opened itself (before the install) may keep the bytes: its own copy.
    conn.send(Buffer.from(view)).then(
      () => resolve(length),
      () => resolve(length), // werift: send(enc).catch(() => {}), then return enc.length
    );
  }

  stats(): WeriftSrtpCounters {
    return { mode: 'native', ...this.counters, contexts: this.table.size };
  }

  /** Restores werift's sendRtp/sendRtcp; queued packets are sent first. */
  uninstall(): void {
    if (!this.active) return;
    this.flush();
    this.active = false;
    for (const r of this.restore.splice(0)) r();
  }
}

