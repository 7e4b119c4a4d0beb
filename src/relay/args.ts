/**
 * Command-line options of `rtp-relay` (node's util.parseArgs), validated into
 * {@link RelayOptions}. Bad input throws {@link UsageError} (exit code 2).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { isLoopback } from '../address.js';
import { EGRESS_PATHS, type EgressPath } from './fast-egress.js';
import { ICE_MODES, type IceMode } from './viewer.js';
import type { RelayOptions, StreamSpec } from './relay.js';

export const USAGE = `Usage: rtp-relay [options]

RTP over UDP in (H.264 video + Opus audio, e.g. ffmpeg -f rtp), WebRTC out to WHEP viewers.
With no --ingest, plays a bundled H.264 + Opus loop as stream "demo".

Options:
  --ingest NAME=PORT     take live RTP for stream NAME on UDP PORT (repeatable)
  --ingest NAME=FILE.sdp ... port, payload types and SPS/PPS from the encoder's SDP
                         (ffmpeg -sdp_file FILE.sdp)
  --ingest NAME=PORT,sprop-parameter-sets=SPS,PPS
                         ... with H.264 parameter sets given out of band (base64)
  --source-timeout MS    silence after which another sender may take a stream (default 2000)
  --host ADDR            address for HTTP, ingest and WebRTC (default 127.0.0.1)
  --http-port PORT       HTTP port: player page, WHEP, /metrics (default 8080)
  --webrtc-port PORT     shared WebRTC UDP port (default 8189)
  --egress fast|werift|werift-unbatched
                         how viewers' RTP leaves (default fast where the native addon loads):
                           fast: native fan-out (rewrite, SRTP, sendmmsg/GSO per batch)
                           werift: werift's RTP sender over the batched shared port
                           werift-unbatched: werift alone, its own sockets
  --ice lite|full        the relay's ICE role (default lite: it answers the viewers'
                         connectivity and consent checks and sends none, RFC 8445 §2.5;
                         full: werift's full agent, which also checks every viewer)
  --per-connection       one batched UDP socket per viewer instead of the shared port
                         (werift egress)
  --no-batching          same as --egress werift-unbatched
  --token TOKEN          require "Authorization: Bearer TOKEN" for WHEP POST/DELETE
  --max-viewers N        viewer limit over all streams (default 256)
  --video-pt N           payload type of H.264 in the ingest (default 96)
  --audio-pt N           payload type of Opus in the ingest (default 97)
  --mode tick|window     flush policy of the WebRTC sockets (default tick)
  --window-us US         window for --mode window, µs
  --allow-remote         allow a --host that is not a loopback address
  -h, --help             this text
  -V, --version          print the version
`;

export class UsageError extends Error {}

function int(v: string | undefined, name: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^[0-9]+$/.test(v) || Number(v) < min || Number(v) > max) throw new UsageError(`${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  return Number(v);
}

export function parseRelayArgs(argv: string[]): RelayOptions | 'help' | 'version' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      ingest: { type: 'string', multiple: true },
      'source-timeout': { type: 'string' },
      host: { type: 'string' },
      'http-port': { type: 'string' },
      'webrtc-port': { type: 'string' },
      'per-connection': { type: 'boolean' },
      'no-batching': { type: 'boolean' },
      egress: { type: 'string' },
      ice: { type: 'string' },
      token: { type: 'string' },
      'max-viewers': { type: 'string' },
      'video-pt': { type: 'string' },
      'audio-pt': { type: 'string' },
      mode: { type: 'string' },
      'window-us': { type: 'string' },
      'allow-remote': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'V' },
    },
  });
  if (values.help) return 'help';
  if (values.version) return 'version';
  const host = values.host ?? '127.0.0.1';
  if (isIP(host) === 0) throw new UsageError(`--host must be an IP address, got ${JSON.stringify(host)}`);
  if (!isLoopback(host) && !values['allow-remote']) throw new UsageError(`--host ${host} is not a loopback address: add --allow-remote to serve other machines`);
  const names = new Set<string>();
  const streams: StreamSpec[] = (values.ingest ?? []).map((spec) => {
    const m = /^([A-Za-z0-9_.-]{1,64})=(.+)$/.exec(spec);
    if (!m) throw new UsageError(`--ingest takes NAME=PORT or NAME=FILE.sdp (NAME: letters, digits, _ . -), got ${JSON.stringify(spec)}`);
    const name = m[1];
    if (names.has(name)) throw new UsageError(`stream ${name} given twice`);
    names.add(name);
    const withSprop = /^([0-9]{1,5}),sprop-parameter-sets=(.+)$/.exec(m[2]);
    if (withSprop) return { name, port: int(withSprop[1], `port of ${name}`, 1, 65535)!, spropParameterSets: withSprop[2] };
    if (/^[0-9]+$/.test(m[2])) return { name, port: int(m[2], `port of ${name}`, 1, 65535)! };
    if (!m[2].endsWith('.sdp')) throw new UsageError(`--ingest ${name}=: give a port, a port with ,sprop-parameter-sets=..., or an SDP file ending in .sdp, got ${JSON.stringify(m[2])}`);
    let sdp: string;
    try {
      sdp = readFileSync(m[2], 'utf8');
    } catch (err) {
      throw new UsageError(`--ingest ${name}=${m[2]}: cannot read the SDP file: ${(err as Error).message}`);
    }
    return { name, sdp };
  });
  const mode = values.mode;
  if (mode !== undefined && mode !== 'tick' && mode !== 'window') throw new UsageError(`--mode must be tick or window, got ${JSON.stringify(mode)}`);
  const egress = values.egress;
  if (egress !== undefined && !EGRESS_PATHS.includes(egress as EgressPath)) throw new UsageError(`--egress must be one of ${EGRESS_PATHS.join(', ')}, got ${JSON.stringify(egress)}`);
  if (values['no-batching'] && egress !== undefined && egress !== 'werift-unbatched') throw new UsageError(`--no-batching contradicts --egress ${egress}`);
  if (values['per-connection'] && egress === 'fast') throw new UsageError('--egress fast needs the shared port: drop --per-connection');
  const ice = values.ice;
  if (ice !== undefined && !ICE_MODES.includes(ice as IceMode)) throw new UsageError(`--ice must be one of ${ICE_MODES.join(', ')}, got ${JSON.stringify(ice)}`);
  const videoPayloadType = int(values['video-pt'], '--video-pt', 0, 127);
  const audioPayloadType = int(values['audio-pt'], '--audio-pt', 0, 127);
  if (videoPayloadType !== undefined && videoPayloadType === (audioPayloadType ?? 97)) throw new UsageError('--video-pt and --audio-pt must differ');
  return {
    host,
    httpPort: int(values['http-port'], '--http-port', 0, 65535) ?? 8080,
    webrtcPort: int(values['webrtc-port'], '--webrtc-port', 0, 65535) ?? 8189,
    perConnection: values['per-connection'] ?? false,
    ...(ice !== undefined ? { ice: ice as IceMode } : {}),
    batching: !values['no-batching'] && egress !== 'werift-unbatched',
    ...(egress !== undefined ? { egress: egress as EgressPath } : values['no-batching'] ? { egress: 'werift-unbatched' as const } : values['per-connection'] ? { egress: 'werift' as const } : {}),
    streams,
    token: values.token,
    maxViewers: int(values['max-viewers'], '--max-viewers', 1, 100_000) ?? 256,
    videoPayloadType,
    audioPayloadType,
    mode,
    windowUs: int(values['window-us'], '--window-us', 1, 1_000_000),
    sourceTimeoutMs: int(values['source-timeout'], '--source-timeout', 100, 600_000),
  };
}

