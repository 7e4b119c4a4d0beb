/**
 * Shared-port topology: an ICE UDP mux. One batched socket carries the ICE host
 * candidate of every peer connection, as pion's `UDPMux` and mediasoup's `WebRtcServer`
 * do it, so a fan-out of one packet to N viewers is N datagrams in one queue and leaves
 * in one `sendmmsg`.
 *
 * Each werift `StunProtocol` that would have opened its own socket gets a
 * {@link MuxTransport} (a view) instead. Incoming datagrams are routed to a view:
 *
 * 1. STUN responses (success/error) go to the view that sent the request with that
 *    transaction id (outgoing requests are noted; the table is bounded). This also
 *    serves server-reflexive gathering, whose STUN server no connection has claimed.
 * 2. From a remote address a view has claimed: to that view.
 * 3. A STUN binding request from an unknown address: its USERNAME's first part is the
 *    local ufrag (RFC 8445 §7.2.2); the view of the connection with that ufrag claims
 *    the address (RFC 8445 §7.3.1.3 peer-reflexive addresses are learned the same way).
 * 4. Anything else is dropped and counted (`droppedUnknown`, `droppedUnroutableStun`).
 *
 * A view that closes (werift closes the protocol when the connection closes) releases
 * its addresses; the mux closes with its last view or at uninstall.
 *
 * Limits: ufrags must be unique per ICE transport (werift's `createTransport` may give a
 * second transport of one peer connection the same credentials when bundling is off: use
 * BUNDLE, as browsers and WHEP do). A socket bound to the wildcard cannot tell which local
 * address a datagram was sent to, so a connection with several host addresses has them
 * all on this socket and its requests are answered by its first view; ICE still
 * completes, the candidate werift reports may name another of its addresses.
 */
import type { BatchSocket, RecvBatch, SocketType } from '../types.js';
import type { SocketLedger } from './ledger.js';
import { NOT_STUN, STUN_ERROR, STUN_REQUEST, STUN_SUCCESS, stunClass, transactionKey, usernameParts } from './stun.js';
import { bindAndListen } from '../socket/listen.js';
import { BaseWeriftTransport, deliverBatch } from './transport.js';
import type { WeriftConnectionLike } from './types.js';

/** Pending outgoing STUN transactions remembered for response routing. */
const MAX_TRANSACTIONS = 8192;
/** Remote addresses one view may claim (spoofed requests cannot grow the table beyond this). */
const MAX_REMOTES_PER_VIEW = 64;

/** One werift transport on the shared socket. */
export class MuxTransport extends BaseWeriftTransport {
  /** Remote address keys this view has claimed, oldest first. */
  readonly remotes = new Set<string>();

  constructor(
    private readonly mux: UdpMux,
    readonly connection: WeriftConnectionLike,
  ) {
    super(mux.type);
  }

  get socket(): BatchSocket {
    return this.mux.socket;
  }

  protected enqueue(data: Buffer, port: number, host: string): void {
    if (this.closed) this.mux.socket.send(data, port, host); // throws ERR_SOCKET_DGRAM_NOT_RUNNING when the mux is gone
    this.mux.sendFrom(this, data, port, host);
  }

  close = (): Promise<void> => {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return this.mux.detach(this);
  };
}

export class UdpMux {
  readonly socket: BatchSocket;
  private readonly views = new Set<MuxTransport>();
  private readonly byRemote = new Map<string, MuxTransport>();
  private readonly byUfrag = new Map<string, MuxTransport>();
  private readonly byTransaction = new Map<string, MuxTransport>();
  private ready: Promise<void> | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    readonly type: SocketType,
    private readonly port: number,
    private readonly bindAddress: string | undefined,
    private readonly ledger: SocketLedger,
    private readonly onClosed: (mux: UdpMux) => void,
  ) {
    // The udp6 mux is IPv6-only so a udp4 mux can share the port number.
    this.socket = ledger.create(type, type === 'udp6' ? { ipv6Only: true } : undefined);
    this.socket.on('batch', this.onBatch);
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** Bound port (after {@link UdpMux.open}). */
  get boundPort(): number {
    return this.socket.address().port;
  }

  /** Binds once; every view awaits the same bind. */
  open(): Promise<void> {
    this.ready ??= bindAndListen(this.socket, this.port, this.bindAddress);
    return this.ready;
  }

  /** A view for one werift `StunProtocol` of `connection`. Resolves once the socket is bound. */
  async attach(connection: WeriftConnectionLike): Promise<MuxTransport> {
    const view = new MuxTransport(this, connection);
    this.views.add(view);
    if (connection.localUsername && !this.byUfrag.has(connection.localUsername)) {
      this.byUfrag.set(connection.localUsername, view);
    }
    try {
      await this.open();
    } catch (err) {
      view.closed = true;
      await this.detach(view);
      throw err;
    }
    this.ledger.counters.transportsCreated++;
    return view;
  }

  /** Removes a view and its routes; closes the mux with its last view. */
  detach(view: MuxTransport): Promise<void> {
    if (!this.views.delete(view)) return Promise.resolve();
    for (const key of view.remotes) if (this.byRemote.get(key) === view) this.byRemote.delete(key);
    view.remotes.clear();
    for (const [ufrag, v] of this.byUfrag) if (v === view) this.byUfrag.delete(ufrag);
    // byTransaction entries of a closed view are skipped when hit and age out.
    if (this.views.size === 0) return this.close();
    return Promise.resolve();
  }

  /** Closes the socket; every view is marked closed (werift's sends then reject, its STUN sends skip). */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    for (const v of this.views) v.closed = true;
    this.views.clear();
    this.byRemote.clear();
    this.byUfrag.clear();
    this.byTransaction.clear();
    this.socket.off('batch', this.onBatch);
    this.onClosed(this);
    this.closing = this.ledger.close(this.socket);
    return this.closing;
  }

  /** Queues a view's datagram; notes the transaction id of an outgoing STUN request. */
  sendFrom(view: MuxTransport, data: Buffer, port: number, host: string): void {
    if (data.length >= 20 && data[0] <= 3 && stunClass(data, 0, data.length) === STUN_REQUEST) {
      const key = transactionKey(data, 0);
      // Retransmissions keep the id: move it to the young end.
      this.byTransaction.delete(key);
      this.byTransaction.set(key, view);
      if (this.byTransaction.size > MAX_TRANSACTIONS) {
        const oldest = this.byTransaction.keys().next().value as string;
        this.byTransaction.delete(oldest);
      }
    }
    this.socket.send(data, port, host);
  }

  private readonly onBatch = (batch: RecvBatch): void => deliverBatch(batch, this.ledger.counters, this.isOpen, this.route);
  private readonly isOpen = (): boolean => this.closing === undefined;

  /** The routing rules of the module doc, in that order; counts what it drops. */
  private readonly route = (batch: RecvBatch, i: number, address: string, port: number): MuxTransport | undefined => {
    const bytes = batch.bytes;
    const off = batch.offset(i);
    const len = batch.length(i);
    const key = `${address}|${port}`;
    const cls = bytes[off] <= 3 ? stunClass(bytes, off, len) : NOT_STUN;
    let view: MuxTransport | undefined;
    if (cls === STUN_SUCCESS || cls === STUN_ERROR) {
      const tx = transactionKey(bytes, off);
      view = this.byTransaction.get(tx);
      if (view) this.byTransaction.delete(tx);
      if (view?.closed) view = undefined;
    }
    view ??= this.byRemote.get(key);
    if (!view) {
      if (cls === STUN_REQUEST) view = this.claim(bytes, off, len, key);
      if (!view) {
        if (cls === NOT_STUN) this.ledger.counters.droppedUnknown++;
        else this.ledger.counters.droppedUnroutableStun++;
      }
    } else if (cls === STUN_REQUEST) {
      // A known address may belong to another connection now (ICE restart, port reuse).
      const parts = usernameParts(bytes, off, len);
      if (parts && parts[0] !== view.connection.localUsername) view = this.claim(bytes, off, len, key) ?? view;
    }
    return view;
  };

  /** Routes a binding request by its USERNAME's local ufrag and lets that view claim `key`. */
  private claim(bytes: Uint8Array, off: number, len: number, key: string): MuxTransport | undefined {
    const parts = usernameParts(bytes, off, len);
    if (!parts || !parts[0]) return undefined;
    const view = this.viewForUfrag(parts[0], parts[1]);
    if (!view) return undefined;
    const previous = this.byRemote.get(key);
    if (previous && previous !== view) previous.remotes.delete(key);
    this.byRemote.set(key, view);
    view.remotes.delete(key);
    view.remotes.add(key);
    if (view.remotes.size > MAX_REMOTES_PER_VIEW) {
      const oldest = view.remotes.values().next().value as string;
      view.remotes.delete(oldest);
      if (this.byRemote.get(oldest) === view) this.byRemote.delete(oldest);
    }
    this.ledger.counters.remotesLearned++;
    return view;
  }

  /**
   * The view of the connection whose local ufrag is `local` (current or an earlier one,
   * werift keeps them in `userHistory`); among several, the one whose remote ufrag is
   * `remote`. Cached; a miss (e.g. the ufrag changed on ICE restart) scans the views.
   */
  private viewForUfrag(local: string, remote: string): MuxTransport | undefined {
    const cached = this.byUfrag.get(local);
    if (cached && !cached.closed && (!remote || !cached.connection.remoteUsername || cached.connection.remoteUsername === remote)) {
      return cached;
    }
    let best: MuxTransport | undefined;
    for (const v of this.views) {
      const c = v.connection;
      if (c.localUsername !== local && !(c.userHistory && Object.hasOwn(c.userHistory, local))) continue;
      if (!best) best = v;
      if (remote && c.remoteUsername === remote) {
        best = v;
        break;
      }
    }
    if (best) this.byUfrag.set(local, best);
    return best;
  }
}
