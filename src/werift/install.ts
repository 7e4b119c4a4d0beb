/**
 * Hooking werift without forking or patching its files.
 *
 * werift opens every ICE/UDP socket in one place: the static
 * `UdpTransport.init(type, options)` (packages/common/src/transport.ts), called by
 * `StunProtocol.connectionMade` (packages/ice/src/stun/protocol.ts) for each host
 * address a `Connection` gathers on (packages/ice/src/ice.ts, `getCandidatePromises`),
 * and by the TURN client (packages/ice/src/turn/protocol.ts, `createTurnClient`). Both
 * builds of werift call it through the class object (`UdpTransport.init(...)` in the ESM
 * bundle, `common_1.UdpTransport.init(...)` in CommonJS), so replacing that one static
 * property on the class the app loaded redirects every socket werift opens afterwards.
 *
 * werift is published twice (lib/index.mjs for `import`, lib/webrtc/src/index.js for
 * `require`) and the two have distinct classes: patching the one the app did not load
 * would change nothing (the dual-package hazard). So the app passes its module in.
 *
 * The shared-port topology must also know which ICE `Connection` a socket is for (the
 * mux routes by that connection's ufrag). `Connection#ensureProtocol(protocol)` is
 * called with each new host `StunProtocol` right before its `connectionMade`; the
 * wrapper around it wraps that one protocol's `connectionMade` so that the
 * `UdpTransport.init` inside it runs with the connection in an `AsyncLocalStorage`
 * context. TURN sockets (created outside that context) get a per-connection batched
 * socket in both topologies.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { isIPv4, isIPv6 } from 'node:net';
import { BatchSocketError, BatchSocketTypeError } from '../errors.js';
import { resolveOptions } from '../options.js';
import { describe } from '../address.js';
import type { BatchSocketOptions, SocketType } from '../types.js';
import { SocketLedger } from './ledger.js';
import { UdpMux } from './mux.js';
import { BatchUdpTransport } from './transport.js';
import { checkSrtpHookable, NativeSrtpEgress } from './srtp-egress.js';
import type {
  UdpTransportInitOptions,
  WeriftBatching,
  WeriftBatchingOptions,
  WeriftBatchingStats,
  WeriftConnectionLike,
  WeriftInterfaceAddresses,
  WeriftModuleLike,
} from './types.js';

interface GatherContext {
  connection: WeriftConnectionLike;
}

/** Installs per `UdpTransport` class: one at a time. */
const installs = new WeakMap<object, Installation>();
const gatherContext = new AsyncLocalStorage<GatherContext>();

type InitFn = WeriftModuleLike['UdpTransport']['init'];
type EnsureProtocolFn = (this: WeriftConnectionLike, protocol: unknown) => void;

class Installation implements WeriftBatching {
  readonly topology: 'per-connection' | 'shared-port';
  installed = true;
  private readonly ledger: SocketLedger;
  private readonly muxes = new Map<string, UdpMux>();
  /** With `sharedPort: true`, the port the first mux of each family got, reused on reopen. */
  private readonly sharedPorts: { udp4?: number; udp6?: number } = {};
  private readonly restore: (() => void)[] = [];

  constructor(
    private readonly werift: WeriftModuleLike,
    private readonly options: WeriftBatchingOptions,
    socketOptions: Omit<BatchSocketOptions, 'type'>,
  ) {
    this.topology = options.sharedPort === undefined ? 'per-connection' : 'shared-port';
    this.ledger = new SocketLedger(socketOptions);
    this.hookInit();
    if (this.topology === 'shared-port') this.hookEnsureProtocol();
    if (options.srtp === 'native') {
      this.srtp = new NativeSrtpEgress(werift);
      this.restore.push(() => this.srtp!.uninstall());
    }
  }

  /** With `srtp: 'native'`: the hook on werift's RTCDtlsTransport#sendRtp/sendRtcp. */
  private srtp: NativeSrtpEgress | undefined;

  // ---- hooks ------------------------------------------------------------------------------

  private hookInit(): void {
    const cls = this.werift.UdpTransport;
    const saved = Object.getOwnPropertyDescriptor(cls, 'init');
    const original = cls.init;
    const self = this;
    const patched: InitFn = function init(this: unknown, type: 'udp4' | 'udp6', opts?: UdpTransportInitOptions): Promise<unknown> {
      if (!self.installed) return original.call(this, type, opts);
      return self.createTransport(type, opts ?? {});
    };
    Object.defineProperty(cls, 'init', { value: patched, writable: true, configurable: true, enumerable: saved?.enumerable ?? false });
    this.restore.push(() => {
      // Restore only if nobody wrapped us meanwhile; otherwise `installed = false` makes us a pass-through.
      if (cls.init !== patched) return;
      if (saved) Object.defineProperty(cls, 'init', saved);
      else delete (cls as { init?: InitFn }).init;
    });
  }

  private hookEnsureProtocol(): void {
    const proto = this.werift.Connection!.prototype;
    const StunProtocol = this.werift.StunProtocol!;
    const saved = Object.getOwnPropertyDescriptor(proto, 'ensureProtocol');
    const original = proto.ensureProtocol as EnsureProtocolFn;
    const self = this;
    const patched: EnsureProtocolFn = function ensureProtocol(this: WeriftConnectionLike, protocol: unknown): void {
      original.call(this, protocol);
      if (!self.installed || !(protocol instanceof StunProtocol)) return;
      const p = protocol as { transport?: unknown; connectionMade?: (...args: unknown[]) => unknown };
      const connectionMade = p.connectionMade;
      if (p.transport !== undefined || typeof connectionMade !== 'function') return;
      const context: GatherContext = { connection: this };
      p.connectionMade = function (this: unknown, ...args: unknown[]): unknown {
        return gatherContext.run(context, () => connectionMade.apply(this, args));
      };
    };
    Object.defineProperty(proto, 'ensureProtocol', { value: patched, writable: true, configurable: true, enumerable: saved?.enumerable ?? false });
    this.restore.push(() => {
      if (proto.ensureProtocol !== patched) return;
      if (saved) Object.defineProperty(proto, 'ensureProtocol', saved);
      else delete proto.ensureProtocol;
    });
  }

  // ---- transports -------------------------------------------------------------------------

  private createTransport(type: 'udp4' | 'udp6', opts: UdpTransportInitOptions): Promise<unknown> {
    if (type !== 'udp4' && type !== 'udp6') {
      return Promise.reject(new BatchSocketTypeError('ERR_SOCKET_BAD_TYPE', `Bad socket type specified. Valid types are: udp4, udp6. Received ${describe(type)}`));
    }
    const ctx = this.topology === 'shared-port' ? gatherContext.getStore() : undefined;
    if (ctx) return this.muxFor(type, opts).attach(ctx.connection);
    return BatchUdpTransport.open(this.ledger, type, opts);
  }

  private muxFor(type: SocketType, opts: UdpTransportInitOptions): UdpMux {
    const address = sharedAddressFor(this.options.sharedAddress, type) ?? opts.interfaceAddresses?.[type];
    const key = `${type}|${address ?? '*'}`;
    let mux = this.muxes.get(key);
    if (mux && !mux.closed) return mux;
    const requested = this.options.sharedPort === true ? (this.sharedPorts[type] ?? 0) : (this.options.sharedPort as number);
    mux = new UdpMux(type, requested, address, this.ledger, (closed) => {
      if (this.muxes.get(key) === closed) this.muxes.delete(key);
    });
    this.muxes.set(key, mux);
    const m = mux;
    void m.open().then(
      () => {
        if (this.options.sharedPort === true) this.sharedPorts[type] ??= m.boundPort;
      },
      () => {}, // reported to werift by attach(); werift logs it and skips the candidate
    );
    return mux;
  }

  // ---- handle ----------------------------------------------------------------------------

  async uninstall(): Promise<void> {
    if (!this.installed) return;
    this.installed = false;
    for (const r of this.restore.splice(0)) r();
    if (installs.get(this.werift.UdpTransport) === this) installs.delete(this.werift.UdpTransport);
    await Promise.all([...this.muxes.values()].map((m) => m.close()));
  }

  stats(): WeriftBatchingStats {
    const ports: WeriftBatchingStats['sharedPorts'] = {};
    for (const m of this.muxes.values()) {
      if (m.closed) continue;
      try {
        ports[m.type] = m.boundPort;
      } catch {
        // not bound yet
      }
    }
    const stats = this.ledger.snapshot(ports);
    if (this.srtp) stats.srtp = this.srtp.stats();
    return stats;
  }
}

function sharedAddressFor(option: WeriftBatchingOptions['sharedAddress'], type: SocketType): string | undefined {
  if (option === undefined) return undefined;
  if (typeof option === 'string') {
    if (type === 'udp4' ? isIPv4(option) : isIPv6(option)) return option;
    return undefined;
  }
  return (option as WeriftInterfaceAddresses)[type];
}

function validate(werift: unknown, options: WeriftBatchingOptions): Omit<BatchSocketOptions, 'type'> {
  if (werift === null || (typeof werift !== 'object' && typeof werift !== 'function')) {
    throw new BatchSocketTypeError('ERR_INVALID_ARG_TYPE', `The "werift" argument must be the werift module object. Received ${describe(werift)}`);
  }
  const w = werift as { UdpTransport?: { init?: unknown }; StunProtocol?: unknown; Connection?: { prototype?: { ensureProtocol?: unknown } } };
  const cls: unknown = w.UdpTransport;
  if (typeof cls !== 'function' || typeof (cls as { init?: unknown }).init !== 'function') {
    throw new BatchSocketTypeError('ERR_INVALID_ARG_VALUE', 'The "werift" argument has no UdpTransport.init: pass the module itself (import * as werift from \'werift\', or require(\'werift\'))');
  }
  if (options === null || typeof options !== 'object') {
    throw new BatchSocketTypeError('ERR_INVALID_ARG_TYPE', `The "options" argument must be of type object. Received ${describe(options)}`);
  }
  const sp = options.sharedPort;
  if (sp !== undefined) {
    if (sp !== true && (typeof sp !== 'number' || !Number.isInteger(sp) || sp < 0 || sp > 65535)) {
      throw new BatchSocketError('ERR_SOCKET_BAD_PORT', `options.sharedPort must be true or a port number (0..65535). Received ${describe(sp)}`);
    }
    if (typeof w.StunProtocol !== 'function' || typeof w.Connection?.prototype?.ensureProtocol !== 'function') {
      throw new BatchSocketError('ERR_INVALID_ARG_VALUE', 'sharedPort needs werift\'s Connection#ensureProtocol and StunProtocol, which this werift module does not export');
    }
  }
  if (options.srtp !== undefined && options.srtp !== 'werift' && options.srtp !== 'native') {
    throw new BatchSocketTypeError('ERR_INVALID_ARG_VALUE', `options.srtp must be 'werift' or 'native'. Received ${describe(options.srtp)}`);
  }
  if (options.srtp === 'native') checkSrtpHookable(werift);
  const sa = options.sharedAddress;
  if (sa !== undefined && typeof sa !== 'string' && (sa === null || typeof sa !== 'object')) {
    throw new BatchSocketTypeError('ERR_INVALID_ARG_TYPE', `options.sharedAddress must be an IP literal or { udp4, udp6 }. Received ${describe(sa)}`);
  }
  if (typeof sa === 'string' && !isIPv4(sa) && !isIPv6(sa)) {
    throw new BatchSocketError('ERR_INVALID_IP_ADDRESS', `options.sharedAddress must be an IP literal. Received ${JSON.stringify(sa)}`);
  }
  const socketOptions: Omit<BatchSocketOptions, 'type'> = {
    ...options.socketOptions,
    mode: options.mode ?? (options.windowUs !== undefined ? 'window' : 'tick'),
  };
  if (options.windowUs !== undefined) socketOptions.windowUs = options.windowUs;
  if (options.maxBatch !== undefined) socketOptions.maxBatch = options.maxBatch;
  if (options.backend !== undefined) socketOptions.backend = options.backend;
  resolveOptions({ ...socketOptions, type: 'udp4' }); // throws the library's typed errors now, not at the first connection
  return socketOptions;
}

/**
 * Makes werift's ICE/UDP sockets batched: every peer connection that gathers candidates
 * after this call sends (STUN, DTLS, SRTP, SRTCP) and receives through
 * `createBatchSocket()` sockets.
 *
 * ```ts
 * import * as werift from 'werift';
 * import { installWeriftBatching } from 'dgram-sendmmsg-native/werift';
 * const batching = installWeriftBatching(werift, { sharedPort: 8189 });
 * // … new werift.RTCPeerConnection(…) as usual …
 * batching.stats();            // sent, batches, syscalls … summed over the plug's sockets
 * await batching.uninstall();  // werift's own sockets again
 * ```
 *
 * Topologies: per connection (default; werift's own shape, each ICE socket batched) or
 * shared port (`sharedPort`: one socket for every connection's host candidate, an ICE
 * UDP mux; see `mux.ts`). Sends resolve when queued, not when flushed (werift awaits each
 * one). The default flush mode is `'tick'`: everything werift produces in one event-loop
 * turn — one ingest packet fanned out to every viewer, the packets of one video frame —
 * leaves together at the end of the turn, with no added latency; pass `windowUs` (or
 * `mode: 'window'`) to also batch across turns at the cost of up to that much delay.
 *
 * @param werift the werift module the app loaded (`import * as werift from 'werift'` or
 *   `require('werift')`; the two are different classes, so pass the one your app uses).
 * @param options topology and socket options.
 * With `srtp: 'native'`, werift's per-packet SRTP/SRTCP protect runs in the addon instead,
 * one native call per event-loop turn's RTP packets (see `srtp-egress.ts`).
 *
 * @throws ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE for a non-werift argument or bad
 *   options, ERR_SRTP_UNAVAILABLE for `srtp: 'native'` without the native addon, ERR_SOCKET_BAD_PORT for a bad `sharedPort`, ERR_PLUG_ALREADY_INSTALLED when
 *   this werift module already has an active install.
 */
export function installWeriftBatching(werift: unknown, options: WeriftBatchingOptions = {}): WeriftBatching {
  const socketOptions = validate(werift, options);
  const w = werift as WeriftModuleLike;
  if (installs.has(w.UdpTransport)) {
    const err = new Error('werift batching is already installed on this werift module; uninstall() it first') as Error & { code: string };
    err.code = 'ERR_PLUG_ALREADY_INSTALLED';
    throw err;
  }
  const inst = new Installation(w, options, socketOptions);
  installs.set(w.UdpTransport, inst);
  return inst;
}
