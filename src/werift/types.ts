/**
 * Public types of the werift plug, and the structural shapes of the parts of werift it
 * touches. The plug never imports werift: it works on the module object the app passes
 * in (ESM namespace or CJS exports, which are two different sets of classes), so these
 * shapes are all it assumes. They follow werift 0.25:
 * packages/common/src/transport.ts (`UdpTransport`, `Transport`),
 * packages/ice/src/stun/protocol.ts (`StunProtocol`), packages/ice/src/ice.ts (`Connection`).
 */
import type { BackendName, BatchSocketOptions, BatchSocketStats, FlushMode } from '../types.js';
import type { WeriftSrtpCounters } from './srtp-egress.js';

/** werift's `Address`: `[host, port]`. */
export type WeriftAddress = Readonly<[string, number]>;

/** werift's `InterfaceAddresses` (packages/common/src/network.ts). */
export interface WeriftInterfaceAddresses {
  /** Local IPv4 address for udp4 sockets. */
  udp4?: string;
  /** Local IPv6 address for udp6 sockets. */
  udp6?: string;
}

/** Options werift passes to `UdpTransport.init(type, options)`. */
export interface UdpTransportInitOptions {
  /** `[min, max]` ports: bind the first free one (used when `port` is absent). */
  portRange?: [number, number];
  /** Port to bind. */
  port?: number;
  /** Local address to bind, per family (default: the wildcard). */
  interfaceAddresses?: WeriftInterfaceAddresses;
}

/** werift's `Transport` interface (packages/common/src/transport.ts), the UDP flavour. */
export interface WeriftUdpTransport {
  readonly type: 'udp';
  readonly address: { address: string; family: string; port: number };
  readonly addressFamily: 4 | 6;
  closed: boolean;
  onData: (data: Buffer, addr: WeriftAddress) => void;
  send: (data: Buffer, addr?: WeriftAddress) => Promise<void>;
  close: () => Promise<void>;
}

/** `UdpTransport` as a value: the class whose static `init` creates every ICE/UDP socket. */
export interface WeriftUdpTransportClass {
  /** Creates and binds one UDP transport of family `type` (the plug replaces it while installed). */
  init(type: 'udp4' | 'udp6', options?: UdpTransportInitOptions): Promise<unknown>;
}

/** What the plug reads of an ICE `Connection` (packages/ice/src/ice.ts). */
export interface WeriftConnectionLike {
  /** Current local ufrag (changes on ICE restart). */
  localUsername: string;
  /** Remote ufrag, once known. */
  remoteUsername?: string;
  /** Every local ufrag this connection has had → password (werift keeps old ones valid). */
  userHistory?: Record<string, string>;
}

/**
 * The werift module as the app loaded it: `import * as werift from 'werift'` or
 * `require('werift')`. Only these members are used; `Connection` and `StunProtocol` are
 * needed for the shared-port topology.
 */
export interface WeriftModuleLike {
  /** werift's `UdpTransport`: its static `init` is replaced while the plug is installed. */
  UdpTransport: WeriftUdpTransportClass;
  /** werift's ICE `Connection` class (shared-port topology). */
  Connection?: {
    /** Its prototype. */
    prototype: {
      /** `Connection#ensureProtocol(protocol)`, hooked to learn which connection owns a host `StunProtocol`. */
      ensureProtocol?: (protocol: unknown) => void;
    };
  };
  /** werift's `StunProtocol` class (shared-port topology): used for `instanceof` checks only. */
  StunProtocol?: abstract new (...args: never[]) => unknown;
  /** Needed for `srtp: 'native'` (its `sendRtp`/`sendRtcp` are hooked; packages/webrtc/src/transport/dtls.ts). */
  RTCDtlsTransport?: {
    /** Its prototype. */
    prototype: {
      /** `RTCDtlsTransport#sendRtp`, hooked for native SRTP. */
      sendRtp?: unknown;
      /** `RTCDtlsTransport#sendRtcp`, hooked for native SRTP. */
      sendRtcp?: unknown;
    };
  };
}

/** Options of {@link installWeriftBatching}. */
export interface WeriftBatchingOptions {
  /**
   * Shared-port topology: every peer connection's ICE host candidate is this one UDP port
   * (per address family), demultiplexed by remote address as an ICE UDP mux. `true`
   * picks a free port at the first use and keeps it while the plug is installed. Absent:
   * per-connection topology (each ICE socket is its own batched socket, as werift does).
   */
  sharedPort?: number | true;
  /**
   * Local address the shared socket binds to: an IP literal (used for its family) or
   * werift-style `{ udp4, udp6 }`. Default: werift's `iceInterfaceAddresses` for that
   * family, else the wildcard (`0.0.0.0` / `::`, the udp6 one IPv6-only).
   */
  sharedAddress?: string | WeriftInterfaceAddresses;
  /**
   * Flush policy of the plug's sockets. Default `'tick'` (flush at the end of the
   * event-loop turn, no added latency), or `'window'` when `windowUs` is given.
   */
  mode?: FlushMode;
  /** Window in µs for `mode: 'window'` (the library default is 1000). */
  windowUs?: number;
  /** Datagrams that trigger a flush (library default 64). */
  maxBatch?: number;
  /** Backend of the plug's sockets (default: `'batch'` where the addon loads). */
  backend?: BackendName;
  /**
   * Who protects outgoing RTP/RTCP. `'werift'` (default): werift's own JS SRTP, untouched.
   * `'native'`: the addon's SRTP (OpenSSL EVP as linked into Node) protects each event-loop
   * turn's RTP packets of every connection in one native call, by hooking
   * `RTCDtlsTransport#sendRtp`/`sendRtcp` (see `srtp-egress.ts`). Needs the native addon
   * (ERR_SRTP_UNAVAILABLE otherwise).
   */
  srtp?: 'werift' | 'native';
  /** Any other socket options (buffer sizes, queue bounds, receive ring…). */
  socketOptions?: Omit<BatchSocketOptions, 'type' | 'mode' | 'windowUs' | 'maxBatch' | 'backend'>;
}

/** Counters of the plug itself (on top of the sockets' own). */
export interface WeriftPlugCounters {
  /** Sockets the plug opened (per-connection transports and shared muxes). */
  socketsOpened: number;
  /** Of them, still open. */
  socketsOpen: number;
  /** werift transports handed out (per-connection sockets and mux views). */
  transportsCreated: number;
  /** Datagrams delivered to werift (RTCP taken by a transport's `rtcpSink` included). */
  delivered: number;
  /** Received datagrams longer than the receive slot: dropped (werift would misparse them). */
  droppedTruncated: number;
  /** Shared port: non-STUN datagrams from a remote address no connection has claimed. */
  droppedUnknown: number;
  /** Shared port: STUN messages that match no connection (unknown ufrag or transaction). */
  droppedUnroutableStun: number;
  /** Shared port: remote addresses learned from binding requests. */
  remotesLearned: number;
  /** Receive or send errors reported by the sockets' `'error'` events. */
  socketErrors: number;
}

/**
 * Aggregate of every socket the plug opened (closed ones included, folded in when they
 * closed). Datagram and byte counts are sums; `holdUs.max` is the maximum and
 * `holdUs.p50`/`p99` the largest of the sockets' percentiles (an upper bound, percentiles
 * do not add); buffer sizes are those of the open sockets summed.
 */
export interface WeriftBatchingStats extends Omit<BatchSocketStats, 'backend'> {
  /** Backends of the plug's sockets (one entry unless mixed). */
  backends: BackendName[];
  /** The plug's own counters. */
  plug: WeriftPlugCounters;
  /** Bound ports of the shared sockets now open, by family. */
  sharedPorts: {
    /** Port of the open udp4 shared socket, if any. */
    udp4?: number;
    /** Port of the open udp6 shared socket, if any. */
    udp6?: number;
  };
  /** With `srtp: 'native'`: the native SRTP egress's counters. */
  srtp?: WeriftSrtpCounters;
}

/** Handle returned by {@link installWeriftBatching}. */
export interface WeriftBatching {
  /** Topology in use. */
  readonly topology: 'per-connection' | 'shared-port';
  /** True until {@link WeriftBatching.uninstall}. */
  readonly installed: boolean;
  /**
   * Restores werift's own `UdpTransport.init` (and `Connection#ensureProtocol`): peer
   * connections created afterwards use `node:dgram` sockets again. Shared sockets are
   * closed now (connections still using them lose their path: close them first).
   * Per-connection sockets stay with their connections until werift closes them.
   * Idempotent; resolves when the shared sockets have closed.
   */
  uninstall(): Promise<void>;
  /** Counters summed over every socket the plug opened, plus the plug's own. */
  stats(): WeriftBatchingStats;
}
