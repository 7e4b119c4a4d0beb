/**
 * Command-line parsing and validation of udp-blast: argv → typed options, or a
 * {@link UsageError} (exit code 2). Pure: no I/O, no sockets, no DNS.
 *
 * Flag names are a contract (see the issue / README): `send --to HOST:PORT`,
 * `sink --listen HOST:PORT`, `--count`, `--duration`, `--size`, `--rate`, `--flows`,
 * `--backend`, `--batch`, `--window-us`, `--idle-ms`, `--json`, `--allow-remote`.
 */
import { parseArgs } from 'node:util';
import { isIP } from 'node:net';
import { isLoopback } from '../address.js';
import { MAX_PAYLOAD_V4, MAX_PAYLOAD_V6 } from '../limits.js';
import type { BackendName } from '../types.js';
import { UBL1_HEADER_BYTES } from './ubl1.js';

/** Bad command line or refused target: the message goes to stderr, exit code 2. */
export class UsageError extends Error {
  /** Exit code the CLI uses for it. */
  readonly exitCode = 2;
  /** Whether the usage text should follow the message. */
  readonly showUsage: boolean;
  constructor(message: string, showUsage = true) {
    super(message);
    this.name = 'UsageError';
    this.showUsage = showUsage;
  }
}

/** Hard bounds of the numeric flags. */
export const LIMITS = {
  maxCount: 1e9,
  /** s */
  maxDurationS: 3600,
  /** UDP payload over IPv4, bytes. */
  maxSizeV4: MAX_PAYLOAD_V4,
  /** UDP payload over IPv6, bytes. */
  maxSizeV6: MAX_PAYLOAD_V6,
  /** datagrams/s */
  maxRate: 1e8,
  maxFlows: 65536,
  maxBatch: 1024,
  /** µs */
  maxWindowUs: 1_000_000,
  /** ms */
  maxIdleMs: 3_600_000,
  /** bytes */
  maxSockBuf: 1 << 30,
} as const;

/** Defaults of the optional flags. */
export const DEFAULTS = {
  size: 1200,
  rate: 0,
  flows: 1,
  count: 100_000,
  /** ms of silence after the first datagram that ends a sink run. */
  idleMs: 2000,
  /** SO_RCVBUF request of the sink, bytes (the kernel caps it at net.core.rmem_max). */
  recvBufferSize: 8 << 20,
  selftestCount: 200_000,
} as const;

/** A parsed `HOST:PORT`. */
export interface Endpoint {
  /** Host as written, without IPv6 brackets (an IP literal, 'localhost' or a host name). */
  host: string;
  /** 0..65535 */
  port: number;
  /** 4 or 6 for an IP literal or 'localhost' (→ 4), null for a name to resolve. */
  family: 4 | 6 | null;
}

export interface SendOptions {
  command: 'send';
  to: Endpoint;
  /** Datagrams to send in total (all flows), or null when bounded by duration only. */
  count: number | null;
  /** Seconds to send, or null. Whichever of count and duration comes first ends the run. */
  durationS: number | null;
  /** Datagram size, bytes (≥ 24). */
  size: number;
  /** Datagrams per second over all flows; 0 = as fast as possible. */
  rate: number;
  flows: number;
  /** null = batch where the addon loads, else dgram. */
  backend: BackendName | null;
  /** maxBatch of the socket, or null for the library default. */
  batch: number | null;
  /** windowUs of the socket, or null for the library default. */
  windowUs: number | null;
  /** SO_SNDBUF request, bytes, or null. */
  sendBufferSize: number | null;
  /** UDP GSO where the kernel has it (`--gso`, the default) or never (`--no-gso`); batch backend only. */
  gso: boolean;
  json: boolean;
  allowRemote: boolean;
}

export interface SinkOptions {
  command: 'sink';
  listen: Endpoint;
  /** Stop after this many UBL1 datagrams, or null. */
  count: number | null;
  /** Stop after this many seconds from bind, or null (then capped at {@link LIMITS.maxDurationS}). */
  durationS: number | null;
  /**
   * Stop after this many ms without a datagram, counted from the first datagram; null = never
   * (the default with `--duration`, so that a pause in the traffic does not cut the run short).
   */
  idleMs: number | null;
  backend: BackendName | null;
  /** SO_RCVBUF request, bytes. */
  recvBufferSize: number;
  /** UDP GRO where the kernel has it (`--gro`, the default) or never (`--no-gro`); batch backend only. */
  gro: boolean;
  json: boolean;
  allowRemote: boolean;
}

export interface SelftestOptions {
  command: 'selftest';
  /** Datagrams per run. */
  count: number;
  size: number;
  /** Also print all raw results as one JSON object on stdout. */
  json: boolean;
  /** Use `perf stat` for kernel-counted syscalls when it works. */
  perf: boolean;
}

export interface HelpOptions {
  command: 'help';
}

export interface VersionOptions {
  command: 'version';
}

export type CliOptions = SendOptions | SinkOptions | SelftestOptions | HelpOptions | VersionOptions;

export const USAGE = `udp-blast — UDP load generator and sink (batched sendmmsg vs node:dgram)

Usage:
  udp-blast send --to HOST:PORT [--count N | --duration S] [--size BYTES] [--rate PPS]
                 [--flows N] [--backend batch|dgram] [--batch N] [--window-us US]
                 [--sndbuf BYTES] [--gso|--no-gso] [--json] [--allow-remote]
  udp-blast sink [--listen HOST:PORT] [--count N] [--duration S] [--idle-ms MS]
                 [--backend batch|dgram] [--rcvbuf BYTES] [--gro|--no-gro] [--json] [--allow-remote]
  udp-blast selftest [--count N] [--size BYTES] [--json] [--no-perf]
  udp-blast help | --help

send      Sends UBL1 datagrams (24-byte header: magic, flow, seq, send time) to HOST:PORT.
          --count N      datagrams in total (default ${DEFAULTS.count} unless --duration; max 1e9)
          --duration S   seconds (max ${LIMITS.maxDurationS}); with --count, whichever comes first
          --size BYTES   datagram size, ${UBL1_HEADER_BYTES}..${LIMITS.maxSizeV4} (IPv6: ${LIMITS.maxSizeV6}) (default ${DEFAULTS.size})
          --rate PPS     datagrams/s over all flows; 0 = as fast as possible (default 0)
          --flows N      round-robin flow ids 0..N-1, each with its own seq (default 1)
          --backend B    batch (native sendmmsg, default where it loads) or dgram
          --batch N      datagrams per flush, 1..${LIMITS.maxBatch} (library default 64)
          --window-us US longest hold of a queued datagram, µs (library default 1000)
          --gso/--no-gso UDP GSO: equal-size runs to the target as one message each
                         (batch backend, where the kernel has it; default --gso)
sink      Receives and checks UBL1 datagrams: loss, reorder, duplicates, one-way latency.
          --listen HOST:PORT  default 127.0.0.1:0; prints "listening on HOST:PORT" on stderr
          --count N / --duration S / --idle-ms MS (default ${DEFAULTS.idleMs} after the first datagram; none with --duration)
          --rcvbuf BYTES SO_RCVBUF request (default ${DEFAULTS.recvBufferSize})
          --gro/--no-gro UDP GRO: coalesced receive buffers, split back per datagram
                         (batch backend, where the kernel has it; default --gro)
selftest  Loopback sink + sender per backend, side-by-side table (the default command).
          --count N      datagrams per run (default ${DEFAULTS.selftestCount})

Targets and listen addresses must be loopback (127.0.0.0/8, ::1, localhost) unless
--allow-remote. IPv6 as [::1]:PORT. --json prints one JSON object on stdout at the end.
Exit codes: 0 ok, 1 runtime failure, 2 bad usage or refused target.
`;

/**
 * Parses `HOST:PORT` or `[IPV6]:PORT`.
 *
 * @param flag flag name for messages
 * @param minPort lowest port accepted (1 for a destination, 0 for a listen address)
 */
export function parseEndpoint(value: string, flag: string, minPort: number): Endpoint {
  let host: string;
  let portText: string;
  const bracket = /^\[([^\]]+)\]:(\d+)$/.exec(value);
  if (bracket) {
    host = bracket[1];
    portText = bracket[2];
    if (isIP(host) !== 6) throw new UsageError(`${flag}: '${host}' in brackets is not an IPv6 address`);
  } else {
    const colon = value.lastIndexOf(':');
    if (colon <= 0) throw new UsageError(`${flag}: expected HOST:PORT (IPv6 as [::1]:PORT), got '${value}'`);
    host = value.slice(0, colon);
    portText = value.slice(colon + 1);
    if (host.includes(':')) throw new UsageError(`${flag}: write IPv6 addresses in brackets, e.g. [::1]:PORT (got '${value}')`);
    if (!/^[A-Za-z0-9.-]+$/.test(host)) throw new UsageError(`${flag}: '${host}' is not a valid host`);
  }
  if (!/^\d{1,5}$/.test(portText)) throw new UsageError(`${flag}: port must be a number, got '${portText}'`);
  const port = Number(portText);
  if (port < minPort || port > 65535) throw new UsageError(`${flag}: port must be ${minPort}..65535, got ${port}`);
  const ipFamily = isIP(host);
  const family: 4 | 6 | null = ipFamily === 4 ? 4 : ipFamily === 6 ? 6 : host.toLowerCase() === 'localhost' ? 4 : null;
  return { host, port, family };
}

/** Formats an endpoint the way {@link parseEndpoint} reads it (IPv6 in brackets). */
export function formatEndpoint(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function parseNumber(value: string | undefined, flag: string, min: number, max: number, integer: boolean): number | null {
  if (value === undefined) return null;
  if (!/^\d+(\.\d+)?([eE]\+?\d+)?$/.test(value)) throw new UsageError(`${flag}: expected a non-negative number, got '${value}'`);
  const n = Number(value);
  if (integer && !Number.isInteger(n)) throw new UsageError(`${flag}: expected an integer, got '${value}'`);
  if (!(n >= min && n <= max)) throw new UsageError(`${flag}: must be between ${min} and ${max}, got ${value}`);
  return n;
}

function parseBackend(value: string | undefined): BackendName | null {
  if (value === undefined) return null;
  if (value !== 'batch' && value !== 'dgram') throw new UsageError(`--backend: expected 'batch' or 'dgram', got '${value}'`);
  return value;
}

function refuseRemote(flag: string, ep: Endpoint, what: string): never {
  throw new UsageError(
    `refusing ${what} non-loopback address '${ep.host}' (${flag}): udp-blast floods the network; ` +
      `only 127.0.0.0/8, ::1 and localhost are allowed unless you pass --allow-remote`,
    false,
  );
}

type Parsed = ReturnType<typeof parseArgs>;

function strictParse(args: string[], options: NonNullable<Parameters<typeof parseArgs>[0]>['options']): Parsed {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function str(parsed: Parsed, name: string): string | undefined {
  const v = parsed.values[name];
  return typeof v === 'string' ? v : undefined;
}

function bool(parsed: Parsed, name: string): boolean {
  return parsed.values[name] === true;
}

/** `--NAME` / `--no-NAME` (default on); both at once is a usage error. */
function onOff(parsed: Parsed, name: string): boolean {
  const on = bool(parsed, name);
  const off = bool(parsed, `no-${name}`);
  if (on && off) throw new UsageError(`--${name} and --no-${name} contradict each other`);
  return !off;
}

const common = {
  json: { type: 'boolean' },
  'allow-remote': { type: 'boolean' },
  backend: { type: 'string' },
  count: { type: 'string' },
  duration: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parseSend(args: string[]): SendOptions | HelpOptions {
  const p = strictParse(args, {
    ...common,
    to: { type: 'string' },
    size: { type: 'string' },
    rate: { type: 'string' },
    flows: { type: 'string' },
    batch: { type: 'string' },
    'window-us': { type: 'string' },
    sndbuf: { type: 'string' },
    gso: { type: 'boolean' },
    'no-gso': { type: 'boolean' },
  });
  if (bool(p, 'help')) return { command: 'help' };
  const toText = str(p, 'to');
  if (toText === undefined) throw new UsageError('send: --to HOST:PORT is required');
  const to = parseEndpoint(toText, '--to', 1);
  const allowRemote = bool(p, 'allow-remote');
  if (!allowRemote && !isLoopback(to.host)) refuseRemote('--to', to, 'to send to');
  const maxSize = to.family === 6 ? LIMITS.maxSizeV6 : LIMITS.maxSizeV4;
  let count = parseNumber(str(p, 'count'), '--count', 1, LIMITS.maxCount, true);
  const durationS = parseNumber(str(p, 'duration'), '--duration', 0.001, LIMITS.maxDurationS, false);
  if (count === null && durationS === null) count = DEFAULTS.count;
  return {
    command: 'send',
    to,
    count,
    durationS,
    size: parseNumber(str(p, 'size'), '--size', UBL1_HEADER_BYTES, maxSize, true) ?? DEFAULTS.size,
    rate: parseNumber(str(p, 'rate'), '--rate', 0, LIMITS.maxRate, false) ?? DEFAULTS.rate,
    flows: parseNumber(str(p, 'flows'), '--flows', 1, LIMITS.maxFlows, true) ?? DEFAULTS.flows,
    backend: parseBackend(str(p, 'backend')),
    batch: parseNumber(str(p, 'batch'), '--batch', 1, LIMITS.maxBatch, true),
    windowUs: parseNumber(str(p, 'window-us'), '--window-us', 1, LIMITS.maxWindowUs, true),
    sendBufferSize: parseNumber(str(p, 'sndbuf'), '--sndbuf', 1024, LIMITS.maxSockBuf, true),
    gso: onOff(p, 'gso'),
    json: bool(p, 'json'),
    allowRemote,
  };
}

function parseSink(args: string[]): SinkOptions | HelpOptions {
  const p = strictParse(args, {
    ...common,
    listen: { type: 'string' },
    'idle-ms': { type: 'string' },
    rcvbuf: { type: 'string' },
    gro: { type: 'boolean' },
    'no-gro': { type: 'boolean' },
  });
  if (bool(p, 'help')) return { command: 'help' };
  const listen = parseEndpoint(str(p, 'listen') ?? '127.0.0.1:0', '--listen', 0);
  const allowRemote = bool(p, 'allow-remote');
  if (!allowRemote && !isLoopback(listen.host)) refuseRemote('--listen', listen, 'to listen on');
  return {
    command: 'sink',
    listen,
    count: parseNumber(str(p, 'count'), '--count', 1, LIMITS.maxCount, true),
    durationS: parseNumber(str(p, 'duration'), '--duration', 0.001, LIMITS.maxDurationS, false),
    // --duration S means S seconds: the default idle timeout applies only without it.
    idleMs: parseNumber(str(p, 'idle-ms'), '--idle-ms', 1, LIMITS.maxIdleMs, true) ?? (str(p, 'duration') === undefined ? DEFAULTS.idleMs : null),
    backend: parseBackend(str(p, 'backend')),
    recvBufferSize: parseNumber(str(p, 'rcvbuf'), '--rcvbuf', 1024, LIMITS.maxSockBuf, true) ?? DEFAULTS.recvBufferSize,
    gro: onOff(p, 'gro'),
    json: bool(p, 'json'),
    allowRemote,
  };
}

function parseSelftest(args: string[]): SelftestOptions | HelpOptions {
  const p = strictParse(args, {
    count: { type: 'string' },
    size: { type: 'string' },
    json: { type: 'boolean' },
    'no-perf': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (bool(p, 'help')) return { command: 'help' };
  return {
    command: 'selftest',
    count: parseNumber(str(p, 'count'), '--count', 1, 10_000_000, true) ?? DEFAULTS.selftestCount,
    size: parseNumber(str(p, 'size'), '--size', UBL1_HEADER_BYTES, LIMITS.maxSizeV4, true) ?? DEFAULTS.size,
    json: bool(p, 'json'),
    perf: !bool(p, 'no-perf'),
  };
}

/**
 * Parses the arguments after the script name (`process.argv.slice(2)`).
 * No subcommand means `selftest`. Throws {@link UsageError} on anything invalid,
 * including a non-loopback target without `--allow-remote`.
 */
export function parseCli(argv: readonly string[]): CliOptions {
  const [first, ...rest] = argv;
  switch (first) {
    case undefined:
      return parseSelftest([]);
    case 'help':
    case '--help':
    case '-h':
      return { command: 'help' };
    case 'version':
    case '--version':
    case '-V':
      return { command: 'version' };
    case 'send':
      return parseSend(rest);
    case 'sink':
      return parseSink(rest);
    case 'selftest':
      return parseSelftest(rest);
    default:
      if (first.startsWith('-')) return parseSelftest([...argv]);
      throw new UsageError(`unknown command '${first}' (expected send, sink, selftest or help)`);
  }
}
