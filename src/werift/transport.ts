/**
 * werift `Transport`s over batched sockets.
 *
 * werift's own `UdpTransport` (packages/common/src/transport.ts) wraps a `node:dgram`
 * socket: `send(data, addr)` hands each datagram to libuv at once, and werift awaits it
 * per packet (`await this.iceTransport.connection.send(enc)` in
 * packages/webrtc/src/transport/dtls.ts → `Connection.send` → `StunProtocol.sendData`
 * → `transport.send`). Here `send` queues the datagram in a {@link BatchSocket} (bytes
 * copied) and resolves at once — at enqueue, not at flush — so werift is never held to
 * one packet per flush window. Like werift's, a send to an IP literal does not report the
 * datagram's fate (failures and drops are counted in the socket's stats); a send to a
 * host name resolves the name first and rejects if that fails.
 *
 * Receiving goes through the batch receive path (`'batch'`: one callback per
 * `recvmmsg`); each datagram is copied out of the receive ring before werift sees it,
 * because werift may keep the buffer (DTLS reassembly, SCTP, jitter buffers).
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { bindAndListen } from '../socket/listen.js';
import type { BatchSocket, RecvBatch, SocketType } from '../types.js';
import type { SocketLedger } from './ledger.js';
import type { UdpTransportInitOptions, WeriftAddress, WeriftPlugCounters, WeriftUdpTransport } from './types.js';

const RESOLVED: Promise<void> = Promise.resolve();

/** What werift's transports share: `onData`, `rinfo`, `closed`, the send entry and address getters. */
export abstract class BaseWeriftTransport implements WeriftUdpTransport {
  readonly type = 'udp' as const;
  /** Set by werift (`StunProtocol.connectionMade`): called per received datagram. */
  onData: (data: Buffer, addr: WeriftAddress) => void = () => {};
  /** Sender of the last datagram received (werift's `send(data)` without address goes there). */
  rinfo: { address: string; port: number } | undefined;
  closed = false;
  /** Last destination host known to be an IP literal (skips `isIP` for the common case). */
  private lastIp = '';
  /**
   * When set, received RTCP (RFC 5761 §4 demultiplexing: first byte 128–191, second byte
   * 192–223) goes here instead of to werift; STUN, DTLS and RTP still go to werift. For an
   * owner that unprotects and handles the connection's SRTCP itself (the relay's fast path,
   * src/relay/inbound-rtcp.ts); werift's `onRtcp` then never sees those packets.
   */
  rtcpSink: RtcpSink | undefined;
  /**
   * When set, received STUN goes here first: a consent check it answers (and returns
   * true for) never reaches werift; anything else goes on to werift
   * (src/werift/consent-responder.ts). For an ICE-lite owner of a nominated pair (the relay).
   */
  stunResponder: StunResponder | undefined;

  constructor(readonly socketType: SocketType) {}

  /** The socket datagrams leave by (shared by every view of a mux). */
  abstract get socket(): BatchSocket;
  /** Queue one datagram to an IP literal. May throw what `BatchSocket#send` throws. */
  protected abstract enqueue(data: Buffer, port: number, host: string): void;
  abstract close: () => Promise<void>;

  /**
   * werift's `Transport#send`: queued now, resolved now (not after the flush). Rejects
   * when the socket is closed or the arguments are bad, as werift's own does (it throws
   * inside an async function).
   */
  send = (data: Buffer, addr?: WeriftAddress): Promise<void> => {
    let host: string | undefined;
    let port: number | undefined;
    if (addr) {
      host = addr[0];
      port = addr[1];
    } else {
      host = this.rinfo?.address;
      port = this.rinfo?.port;
    }
    if (host !== this.lastIp && host !== undefined) {
      if (isIP(host) === 0) return this.sendResolving(data, port, host);
      this.lastIp = host;
    }
    try {
      this.enqueue(data, port as number, host as string);
    } catch (err) {
      return Promise.reject(err);
    }
    return RESOLVED;
  };

  /**
   * {@link send} for callers in this package that do not await it (the native SRTP egress):
   * queues now; a failure is dropped as werift drops it (`send(enc).catch(() => {})`) and
   * stays counted in the socket's stats. No promise is created on the common path.
   */
  sendAndForget(data: Buffer, addr: WeriftAddress): void {
    const p = this.send(data, addr);
    if (p !== RESOLVED) p.catch(() => {});
  }

  private async sendResolving(data: Buffer, port: number | undefined, host: string): Promise<void> {
    const bytes = Buffer.from(data); // send() copies before it returns on every path: the caller may reuse `data`
    const { address } = await lookup(host, { family: this.socketType === 'udp4' ? 4 : 6 });
    this.enqueue(bytes, port as number, address);
  }

  get address(): { address: string; family: string; port: number } {
    return this.socket.address();
  }
  /** IP family of the bound socket, as werift's `UdpTransport#addressFamily`. */
  get addressFamily(): 4 | 6 {
    return this.socketType === 'udp6' ? 6 : 4;
  }
  get host(): string {
    return this.address.address;
  }
  get port(): number {
    return this.address.port;
  }

  /** Hands one received datagram (already copied) to werift, as werift's `'message'` handler does. */
  deliver(data: Buffer, address: string, port: number): void {
    this.rinfo = { address, port };
    try {
      this.onData(data, [address, port]);
    } catch {
      // werift logs and swallows onData errors (UdpTransport constructor); so do we.
    }
  }
}

/** Where a transport's received RTCP goes instead of werift ({@link BaseWeriftTransport.rtcpSink}). */
export interface RtcpSink {
  /** One RTCP datagram: a view of the receive ring, valid only during the call (copy what you keep). */
  push(datagram: Uint8Array): void;
  /**
   * Called once the receive batch's datagrams are all handed out — and before a datagram
   * for a sink with another `flush` (the owners' datagrams go in turn), so an owner can act
   * on its datagrams together, e.g. one native unprotect for all. Must not throw: the
   * receive loop's other datagrams depend on it.
   */
  flush(): void;
}

/** Where a transport's received STUN goes before werift ({@link BaseWeriftTransport.stunResponder}). */
export interface StunResponder {
  /**
   * Answers a STUN datagram (a view of the receive ring, valid only during the call) and
   * returns true, or returns false and werift gets it. Must not throw.
   */
  answer(datagram: Uint8Array, address: string, port: number): boolean;
}

/** werift strips an IPv6 scope id from the sender's address (`fe80::1%eth0` → `fe80::1`). */
export function senderAddress(address: string, family: string): string {
  if (family === 'IPv6') {
    const pct = address.indexOf('%');
    if (pct >= 0) return address.slice(0, pct);
  }
  return address;
}

/**
 * Picks the transport datagram `i` of `batch` goes to (from `address`, scope id already
 * stripped, and `port`), or undefined when it is dropped (the router counts why).
 */
export type Route = (batch: RecvBatch, i: number, address: string, port: number) => BaseWeriftTransport | undefined;

/**
 * The receive loop of both topologies: truncated datagrams are counted and skipped (a
 * cut DTLS or SRTP record is useless), every other one is routed and handed over as a
 * copy — the batch's buffers are reused after the handler, werift may keep the data —
 * or, RTCP to a transport with an `rtcpSink`, lent to that sink without a copy (its
 * `flush` runs once the batch is handed out), or STUN to a transport with a
 * `stunResponder`, lent to it first (werift gets what it does not answer).
 * Stops as soon as `isOpen()` turns false (a handler may close the transport).
 */
export function deliverBatch(batch: RecvBatch, counters: WeriftPlugCounters, isOpen: () => boolean, route: Route): void {
  let flushRtcp: (() => void) | undefined;
  try {
    for (let i = 0; i < batch.count; i++) {
      if (!isOpen()) return;
      if (batch.truncated(i)) {
        counters.droppedTruncated++;
        continue;
      }
      const r = batch.remote(i);
      const address = senderAddress(r.address, r.family);
      const to = route(batch, i, address, r.port);
      if (!to) continue;
      counters.delivered++;
      const sink = to.rtcpSink;
      if (sink !== undefined && isRtcp(batch, i)) {
        if (flushRtcp !== sink.flush) {
          flushRtcp?.(); // another owner's datagrams so far: theirs first
          flushRtcp = sink.flush;
        }
        sink.push(batch.datagram(i));
        continue;
      }
      const responder = to.stunResponder;
      if (responder !== undefined && batch.bytes[batch.offset(i)] <= 3 && responder.answer(batch.datagram(i), address, r.port)) continue;
      to.deliver(Buffer.from(batch.datagram(i)), address, r.port);
    }
  } finally {
    flushRtcp?.();
  }
}

/** RFC 5761 §4: an RTP/RTCP datagram (first byte 128–191) whose second byte is an RTCP packet type (192–223). */
function isRtcp(batch: RecvBatch, i: number): boolean {
  const bytes = batch.bytes;
  const off = batch.offset(i);
  if (batch.length(i) < 8) return false;
  const b0 = bytes[off];
  const b1 = bytes[off + 1];
  return b0 >= 128 && b0 <= 191 && b1 >= 192 && b1 <= 223;
}

/**
 * Per-connection topology: one batched socket per werift `UdpTransport.init` call, bound
 * as werift binds its own (`UdpTransport#init`: `options.port`, else the first free port
 * of `options.portRange`, else an ephemeral port; on `interfaceAddresses[type]` or the
 * wildcard).
 */
export class BatchUdpTransport extends BaseWeriftTransport {
  private constructor(
    socketType: SocketType,
    private sock: BatchSocket,
    private readonly ledger: SocketLedger,
  ) {
    super(socketType);
    sock.on('batch', this.onBatch);
  }

  static async open(ledger: SocketLedger, type: SocketType, options: UdpTransportInitOptions = {}): Promise<BatchUdpTransport> {
    const address = options.interfaceAddresses?.[type];
    let ports: number[];
    if (options.port) ports = [options.port];
    else if (options.portRange) {
      const [min, max] = options.portRange;
      ports = [];
      for (let p = min; p <= max; p++) ports.push(p);
    } else ports = [0];
    let lastErr: unknown;
    for (const port of ports) {
      const sock = ledger.create(type);
      try {
        await bindAndListen(sock, port, address);
      } catch (err) {
        lastErr = err;
        await ledger.close(sock);
        continue;
      }
      ledger.counters.transportsCreated++;
      return new BatchUdpTransport(type, sock, ledger);
    }
    throw lastErr ?? new Error(`No free UDP port in ${JSON.stringify(options.portRange)}`);
  }

  get socket(): BatchSocket {
    return this.sock;
  }

  protected enqueue(data: Buffer, port: number, host: string): void {
    this.sock.send(data, port, host);
  }

  private readonly onBatch = (batch: RecvBatch): void => deliverBatch(batch, this.ledger.counters, this.isOpen, this.toSelf);
  private readonly isOpen = (): boolean => !this.closed;
  private readonly toSelf: Route = () => this;

  close = (): Promise<void> => {
    if (this.closed) return RESOLVED;
    this.closed = true;
    this.sock.off('batch', this.onBatch);
    return this.ledger.close(this.sock);
  };
}
