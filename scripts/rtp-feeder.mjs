#!/usr/bin/env node
// Feeds K RTP streams to an rtp-relay: the bundled recording (assets/demo.rtpdump) played
// in real time K times over, each copy with its own SSRCs, to UDP ports BASE..BASE+K-1 on
// loopback. Runs until SIGTERM/SIGINT or --seconds (at most 3600).
//
//   node scripts/rtp-feeder.mjs --streams 64 --base-port 20000 [--seconds 60]
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { DemoSource } = await import(join(root, 'dist', 'relay', 'demo-source.js'));
const { values } = parseArgs({ options: { streams: { type: 'string', default: '1' }, 'base-port': { type: 'string', default: '20000' }, seconds: { type: 'string', default: '600' }, host: { type: 'string', default: '127.0.0.1' } } });
const K = Number(values.streams);
const base = Number(values['base-port']);
const seconds = Math.min(3600, Number(values.seconds));
if (!(K >= 1 && K <= 1024) || !(base >= 1024 && base + K <= 65536)) throw new Error('--streams in [1, 1024], ports within [1024, 65535]');
if (!['127.0.0.1', '::1'].includes(values.host)) throw new Error('loopback only');
const sources = [];
for (let i = 0; i < K; i++) {
  const s = new DemoSource({ ssrc: { video: 0x10000 + i, audio: 0x20000 + i } });
  await s.start(values.host, base + i);
  sources.push(s);
}
process.stderr.write(`feeding ${K} streams to ${values.host}:${base}..${base + K - 1}\n`);
const stop = () => {
  for (const s of sources) s.stop();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setTimeout(stop, seconds * 1000).unref?.();
setTimeout(stop, seconds * 1000);
