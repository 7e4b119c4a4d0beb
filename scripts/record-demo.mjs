#!/usr/bin/env node
// Records the relay's bundled demo: a short H.264 + Opus RTP loop made by ffmpeg from
// synthetic sources (testsrc2 + a sine tone), captured on loopback and written in the
// rtpdump format to assets/demo.rtpdump (committed, so the relay runs without ffmpeg).
//
//   node scripts/record-demo.mjs [--seconds 6] [--out assets/demo.rtpdump]
//
// Needs ffmpeg (Debian: apt-get install ffmpeg) and the built package (npm run build).
// Video: H.264 constrained baseline 640x360 30 fps, GOP 30 (a keyframe every second),
// SPS/PPS repeated in-band before each IDR, ~500 kbit/s, payload type 96, 1184-byte
// packets. Audio: Opus 48 kHz stereo 48 kbit/s, payload type 97. Packet offsets come from
// the RTP timestamps (90 kHz / 48 kHz), so the file plays at the encoder's own pace.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { createBatchSocket } = await import(join(root, 'dist', 'index.js'));
const { writeRtpdump } = await import(join(root, 'dist', 'relay', 'rtpdump.js'));

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '6' }, out: { type: 'string', default: join(root, 'assets', 'demo.rtpdump') } } });
const seconds = Number(values.seconds);
if (!(seconds > 0 && seconds <= 60)) throw new Error('--seconds must be in (0, 60]');

const VIDEO_PT = 96;
const AUDIO_PT = 97;
const CLOCK = { [VIDEO_PT]: 90000, [AUDIO_PT]: 48000 };

function bindLocal(sock) {
  return new Promise((resolve) => sock.bind(0, '127.0.0.1', () => resolve(sock.address().port)));
}

const video = createBatchSocket({ type: 'udp4', recvBufferSize: 8 << 20 });
const audio = createBatchSocket({ type: 'udp4', recvBufferSize: 1 << 20 });
const vport = await bindLocal(video);
const aport = await bindLocal(audio);
const captured = [];
for (const s of [video, audio]) s.on('message', (msg) => captured.push(Buffer.from(msg)));

const args = [
  '-hide_banner', '-loglevel', 'error', '-nostdin',
  '-f', 'lavfi', '-i', `testsrc2=size=640x360:rate=30:duration=${seconds}`,
  '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${seconds}`,
  '-map', '0:v', '-c:v', 'libx264', '-profile:v', 'baseline', '-level', '3.1', '-pix_fmt', 'yuv420p',
  '-preset', 'veryfast', '-tune', 'zerolatency', '-g', '30', '-keyint_min', '30', '-sc_threshold', '0',
  '-b:v', '500k', '-maxrate', '500k', '-bufsize', '500k', '-x264-params', 'repeat-headers=1',
  '-payload_type', String(VIDEO_PT), '-ssrc', '1111', '-f', 'rtp', `rtp://127.0.0.1:${vport}?pkt_size=1184`,
  '-map', '1:a', '-c:a', 'libopus', '-b:a', '48k', '-ar', '48000', '-ac', '2',
  '-payload_type', String(AUDIO_PT), '-ssrc', '2222', '-f', 'rtp', `rtp://127.0.0.1:${aport}?pkt_size=1184`,
];
// -re keeps ffmpeg at real-time pace so loopback never overflows the capture buffers.
const ff = spawn('ffmpeg', ['-re', ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
const code = await new Promise((resolve, reject) => {
  ff.on('error', reject);
  ff.on('exit', resolve);
});
if (code !== 0) throw new Error(`ffmpeg exited with ${code}`);
await new Promise((r) => setTimeout(r, 300));
video.close();
audio.close();

const first = {};
const packets = captured.map((data, i) => {
  const pt = data[1] & 0x7f;
  const ts = data.readUInt32BE(4);
  first[pt] ??= ts;
  return { i, pt, offsetMs: ((ts - first[pt]) >>> 0) / CLOCK[pt] * 1000, data };
});
packets.sort((a, b) => a.offsetMs - b.offsetMs || a.i - b.i);
writeFileSync(values.out, writeRtpdump(packets.map(({ offsetMs, data }) => ({ offsetMs, data }))));
const count = (pt) => packets.filter((p) => p.pt === pt).length;
const bytes = packets.reduce((a, p) => a + p.data.length, 0);
console.log(`wrote ${values.out}: ${packets.length} packets (${count(VIDEO_PT)} video, ${count(AUDIO_PT)} audio), ${bytes} bytes, ${(packets.at(-1).offsetMs / 1000).toFixed(2)} s`);
