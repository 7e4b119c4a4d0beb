/**
 * `rtp-relay` as a library: RTP over UDP in (one port per named stream, through the
 * batch receive path), WebRTC out to WHEP viewers through werift, whose UDP egress goes
 * through this package's werift plug — by default on one shared port, so one ingest
 * packet fanned out to N viewers leaves in one `sendmmsg`.
 *
 * Folder src/relay/: rtp-relay, the top layer — it imports the public API, the werift
 * plug and small helpers below it; nothing imports from here.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { BatchSocket } from '../index.js';
import { fixWeriftDtlsHelloVerify, installWeriftBatching, type WeriftBatching } from '../werift/index.js';
import { DemoSource } from './demo-source.js';
import { FastEgress, type EgressPath } from './fast-egress.js';
import { parseSpropParameterSets, type ParameterSets } from './h264.js';
import { createRelayServer, HttpError, type WhepBackend } from './http.js';
import { parseIngestSdp, type IngestSdp } from './ingest-sdp.js';
import { openIngest } from './ingest.js';
import { offerProblem } from './offer.js';
import { createMetrics } from './metrics.js';
import { RelayStream } from './stream.js';
import { ICE_MODES, Viewer, type IceMode, type WeriftModule } from './viewer.js';
import type { FlushMode } from '../types.js';

export interface StreamSpec {
  name: string;
  /** UDP port the RTP arrives on (0: any free port; the demo stream uses that). Default: the SDP's port. */
  port?: number;
  /**
   * The encoder's SDP (ffmpeg `-sdp_file`): gives the port (unless `port` is set), the
   * payload types of H.264 and Opus and the out-of-band SPS/PPS (`sprop-parameter-sets`).
   */
  sdp?: string;
  /** H.264 `sprop-parameter-sets` (RFC 6184 §8.1, base64 SPS,PPS), for encoders that send them only once or out of band. */
  spropParameterSets?: string;
}

export interface RelayOptions {
  /** Address for HTTP, ingest and WebRTC (default 127.0.0.1). */
  host?: string;
  /** HTTP port (default 8080; 0 = any free port). */
  httpPort?: number;
  /** Shared WebRTC UDP port (default 8189; 0 = any free port). Ignored with `perConnection` or without batching. */
  webrtcPort?: number;
  /** Install the batching plug (default true; false = egress 'werift-unbatched'). */
  batching?: boolean;
  /**
   * How viewers' RTP leaves: 'fast' (the native fan-out: one call per ingest batch rewrites,
   * SRTP-protects and queues every packet for every viewer; the relay unprotects the
   * viewers' SRTCP itself; werift keeps signalling, ICE and DTLS), 'werift' (werift's RTP sender over the batching plug) or
   * 'werift-unbatched' (werift alone). Default 'fast' where the native addon loads and the
   * shared port is used, else 'werift' (or 'werift-unbatched' with `batching: false`).
   * A viewer the fast path cannot serve falls back to 'werift' with one log line.
   */
  egress?: EgressPath;
  /** One batched UDP socket per viewer instead of one shared port (default false). */
  perConnection?: boolean;
  /** The relay's ICE role towards viewers (default 'lite': answers checks, sends none; see {@link IceMode}). */
  ice?: IceMode;
  /** Live ingest streams. Empty: the bundled demo loop as stream `demo`. */
  streams?: StreamSpec[];
  /** Bearer token required for POST and DELETE. */
  token?: string;
  /** Most viewers over all streams (default 256). */
  maxViewers?: number;
  /** Payload types of H.264 and Opus in the ingest (default 96, 97). */
  videoPayloadType?: number;
  audioPayloadType?: number;
  /** Flush policy of the WebRTC sockets (default: the plug's 'tick'). */
  mode?: FlushMode;
  windowUs?: number;
  /** Reap viewers that have not connected (ICE + DTLS) after this long, ms (default 30000). */
  connectTimeoutMs?: number;
  /** A stream's source may be taken over by another sender after this much silence, ms (default 2000). */
  sourceTimeoutMs?: number;
  /** Operator log lines (source changes, encoder warnings). Default: stderr, prefixed `rtp-relay: `. */
  log?: (line: string) => void;
  /** The werift module to use (default: `import('werift')`). */
  werift?: WeriftModule;
}

/** UDP egress totals of the batched WebRTC sockets. */
export interface UdpEgressStats {
  sent: number;
  syscalls: number;
  batches: number;
  partialSends: number;
  dropped: number;
  failed: number;
  /** Datagrams that left as segments of UDP GSO messages (one sendmmsg entry carrying several). */
  gsoSegments: number;
  /** UDP GSO messages sent (each carrying `gsoSegments / gsoMessages` datagrams on average). */
  gsoMessages: number;
}

export interface Relay {
  readonly httpPort: number;
  readonly host: string;
  /** Shared WebRTC port once known (after the first viewer with the shared-port plug), else undefined. */
  webrtcPort(): number | undefined;
  readonly streams: ReadonlyMap<string, RelayStream>;
  /** Ingest port of each stream. */
  readonly ingestPorts: ReadonlyMap<string, number>;
  /** Totals of the batched WebRTC sockets, or undefined without batching. */
  udpStats(): UdpEgressStats | undefined;
  readonly batching: WeriftBatching | undefined;
  /** The relay's egress path (a viewer on 'fast' may still have fallen back to 'werift'). */
  readonly egress: EgressPath;
  /** The relay's ICE role towards viewers. */
  readonly ice: IceMode;
  /** The fast egress (its fan-out once a fast viewer connected), when egress is 'fast'. */
  readonly fast: FastEgress | undefined;
  stop(): Promise<void>;
}

async function loadWerift(): Promise<WeriftModule> {
  try {
    return (await import('werift')) as WeriftModule;
  } catch (err) {
    throw new Error(`rtp-relay needs werift (npm install werift@">=0.24.4 <0.26.0"): ${(err as Error).message}`);
  }
}

/** Starts a relay; resolves once HTTP and every ingest port are bound. */
export async function startRelay(opts: RelayOptions = {}): Promise<Relay> {
  const host = opts.host ?? '127.0.0.1';
  const werift = opts.werift ?? (await loadWerift());
  const maxViewers = opts.maxViewers ?? 256;
  const specs: StreamSpec[] = opts.streams && opts.streams.length > 0 ? opts.streams : [{ name: 'demo', port: 0 }];
  const log = opts.log ?? ((line: string) => process.stderr.write(`rtp-relay: ${line}\n`));
  const useDemo = !opts.streams || opts.streams.length === 0;

  const ice: IceMode = opts.ice ?? 'lite';
  if (!ICE_MODES.includes(ice)) throw new TypeError(`ice must be one of ${ICE_MODES.join(', ')}, got ${JSON.stringify(opts.ice)}`);
  const unbatched = opts.batching === false || opts.egress === 'werift-unbatched';
  if (opts.egress === 'fast' && (unbatched || opts.perConnection)) throw new Error("egress 'fast' needs the batching plug's shared port (not batching: false or perConnection)");
  let egress: EgressPath = opts.egress ?? (unbatched ? 'werift-unbatched' : opts.perConnection ? 'werift' : 'fast');
  let fast: FastEgress | undefined;
  if (egress === 'fast') {
    fast = new FastEgress();
    if (fast.unavailable) {
      log(`the fast egress is unavailable (${fast.unavailable}): viewers use the werift egress`);
      fast = undefined;
      egress = 'werift';
    }
  }
  // The relay answers WHEP offers, so its side of each connection is the DTLS client, which
  // werift fails on a repeated HelloVerifyRequest (a busy relay: dtls-hello-verify.ts).
  const dtlsFix = fixWeriftDtlsHelloVerify(werift);
  const batching =
    unbatched
      ? undefined
      : installWeriftBatching(werift, {
          ...(opts.perConnection ? {} : { sharedPort: opts.webrtcPort ?? 8189, sharedAddress: host }),
          ...(opts.mode ? { mode: opts.mode } : {}),
          ...(opts.windowUs ? { windowUs: opts.windowUs } : {}),
        });

  const streams = new Map<string, RelayStream>();
  const ingestPorts = new Map<string, number>();
  const ingestSockets: BatchSocket[] = [];
  const viewersById = new Map<string, Viewer>();
  let demo: DemoSource | undefined;
  let server: Server | undefined;

  const cleanup = async (): Promise<void> => {
    demo?.stop();
    for (const s of ingestSockets) if (!(s as unknown as { closed: boolean }).closed) s.close();
    await Promise.all([...streams.values()].map((s) => s.close()));
    fast?.fanout?.close();
    if (server) await new Promise<void>((r) => server!.close(() => r()));
    server?.closeAllConnections();
    await batching?.uninstall();
    dtlsFix?.uninstall();
  };

  try {
    for (const spec of specs) {
      let sdp: IngestSdp | undefined;
      let parameterSets: ParameterSets | undefined;
      try {
        sdp = spec.sdp === undefined ? undefined : parseIngestSdp(werift, spec.sdp);
        parameterSets = spec.spropParameterSets === undefined ? sdp?.parameterSets : parseSpropParameterSets(spec.spropParameterSets);
      } catch (err) {
        throw new Error(`stream ${spec.name}: ${(err as Error).message}`);
      }
      const port = spec.port ?? sdp?.port;
      if (port === undefined) throw new Error(`stream ${spec.name}: no ingest port (give a port or an SDP with one)`);
      const stream = new RelayStream({
        name: spec.name,
        videoPayloadType: sdp?.videoPayloadType ?? opts.videoPayloadType ?? 96,
        audioPayloadType: sdp?.audioPayloadType ?? opts.audioPayloadType ?? 97,
        sourceTimeoutMs: opts.sourceTimeoutMs,
        parameterSets,
        log,
        fast,
      });
      const { socket, port: bound } = await openIngest(stream, host, port);
      streams.set(spec.name, stream);
      ingestSockets.push(socket);
      ingestPorts.set(spec.name, bound);
    }
    if (useDemo) {
      demo = new DemoSource();
      await demo.start(host, ingestPorts.get('demo')!);
    }

    const backend: WhepBackend = {
      streamNames: () => [...streams.keys()],
      hasStream: (name) => streams.has(name),
      async createViewer(name, offer) {
        if (viewersById.size >= maxViewers) throw new HttpError(503, `viewer limit (${maxViewers}) reached`, { 'Retry-After': '5' });
        const problem = offerProblem(werift, offer);
        if (problem) throw new HttpError(400, `cannot answer this offer: ${problem}`);
        const viewer = new Viewer(werift, { host, connectTimeoutMs: opts.connectTimeoutMs, egress, ice });
        viewersById.set(viewer.id, viewer);
        viewer.on((e, v) => {
          if (e === 'closed') viewersById.delete(v.id);
        });
        try {
          const answer = await viewer.answer(offer);
          streams.get(name)!.add(viewer);
          return { id: viewer.id, answer };
        } catch (err) {
          await viewer.close();
          throw new HttpError(400, `cannot answer this offer: ${(err as Error).message}`);
        }
      },
      async deleteViewer(name, id) {
        const v = viewersById.get(id);
        if (!v || !streams.get(name)?.viewers.has(v)) return false;
        await v.close('deleted');
        return true;
      },
    };
    const udpStats = (): UdpEgressStats | undefined => {
      if (!batching) return undefined;
      const s = batching.stats();
      return { sent: s.sent, syscalls: s.syscalls, batches: s.batches, partialSends: s.partialSends, dropped: s.dropped, failed: s.failed, gsoSegments: s.gsoSegments, gsoMessages: s.gsoMessages };
    };
    const metrics = createMetrics(() => streams.values(), udpStats, () => fast);
    server = createRelayServer({ backend, metrics, token: opts.token });
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(opts.httpPort ?? 8080, host, () => resolve());
    });
    const httpPort = (server.address() as AddressInfo).port;
    return {
      httpPort,
      host,
      webrtcPort: () => batching?.stats().sharedPorts.udp4,
      streams,
      ingestPorts,
      udpStats,
      batching,
      egress,
      ice,
      fast,
      stop: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
