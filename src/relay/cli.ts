#!/usr/bin/env node
/**
 * `rtp-relay`: RTP over UDP in, WebRTC (WHEP, RFC 9725) out.
 *
 *   rtp-relay                                  bundled demo loop as stream "demo" on http://127.0.0.1:8080/
 *   rtp-relay --ingest cam=5004 --ingest screen=5006
 *
 * Exit codes: 0 after SIGINT/SIGTERM, 1 on a start-up failure, 2 on bad usage.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseRelayArgs, USAGE } from './args.js';
import { DEMO_RECORDING } from './demo-source.js';
import { packageVersion } from '../package-info.js';
import type { RelayOptions } from './relay.js';

/**
 * The relay's own runtime needs are optional peers of the package (a consumer who only wants
 * the socket does not install them): name the missing ones and how to add them.
 */
function missingPeers(): string[] {
  const require = createRequire(import.meta.url);
  return ['werift', 'prom-client'].filter((name) => {
    try {
      require.resolve(name);
      return false;
    } catch {
      return true;
    }
  });
}

async function main(): Promise<void> {
  let opts: RelayOptions | 'help' | 'version';
  try {
    opts = parseRelayArgs(process.argv.slice(2));
  } catch (err) {
    // One line saying what is wrong, one hint; the whole usage text only on --help.
    process.stderr.write(`rtp-relay: ${(err as Error).message}\nRun 'rtp-relay --help' for usage.\n`);
    process.exit(2);
  }
  if (opts === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  if (opts === 'version') {
    process.stdout.write(`rtp-relay ${packageVersion()}\n`);
    return;
  }
  const missing = missingPeers();
  if (missing.length > 0) {
    process.stderr.write(`rtp-relay: needs ${missing.join(' and ')} (optional peer dependencies of dgram-sendmmsg-native); install with: npm install ${missing.join(' ')}\n`);
    process.exit(1);
  }
  if ((!opts.streams || opts.streams.length === 0) && !existsSync(DEMO_RECORDING)) {
    process.stderr.write('rtp-relay: the demo recording (assets/demo.rtpdump) is in the repository, not in the npm package; give live RTP with --ingest NAME=PORT (--help for the rest)\n');
    process.exit(2);
  }
  const { startRelay } = await import('./relay.js');
  let relay;
  try {
    relay = await startRelay(opts);
  } catch (err) {
    process.stderr.write(`rtp-relay: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const base = `http://${relay.host.includes(':') ? `[${relay.host}]` : relay.host}:${relay.httpPort}`;
  const sockets = opts.batching === false ? "werift's own sockets (no batching)" : opts.perConnection ? 'batched, one socket per viewer' : `batched, shared port ${relay.host}:${opts.webrtcPort}`;
  const egress = `${sockets}; RTP egress ${relay.egress}${relay.egress === 'fast' ? ' (native fan-out)' : ''}; ICE ${relay.ice}`;
  process.stdout.write(`rtp-relay: player ${base}/  WHEP ${base}/whep/<stream>  metrics ${base}/metrics\n`);
  process.stdout.write(`rtp-relay: WebRTC UDP ${egress}\n`);
  for (const [name, port] of relay.ingestPorts) {
    const source = opts.streams && opts.streams.length > 0 ? 'live RTP' : 'bundled demo loop';
    process.stdout.write(`rtp-relay: stream ${name}: ${source} on udp ${relay.host}:${port}\n`);
  }
  let stopping = false;
  const stop = (): void => {
    if (stopping) process.exit(1);
    stopping = true;
    relay.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

void main();
