#!/usr/bin/env node
// WHEP load: N werift viewers of one relay stream in this process (werift's own UDP
// sockets — no batching on the viewer side), for a bounded time; prints one JSON object:
// how many connected, RTP packets received per viewer (min/median/max), whether every
// viewer's video started at a keyframe (SPS, alone or in a STAP-A) and arrived in order
// (contiguous sequence numbers), then DELETEs every viewer. Stops early on SIGTERM/SIGINT
// (then reports as at the end of --seconds).
//
//   node scripts/whep-viewers.mjs --url http://127.0.0.1:8080/whep/demo --viewers 64 --seconds 10
//
// Loopback only: refuses a non-loopback URL.
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const werift = require('werift');
const { keyframeMark } = await import(join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'relay', 'h264.js'));
const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:8080/whep/demo' },
    viewers: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '10' },
    token: { type: 'string' },
    'join-ms': { type: 'string', default: '20' },
    // With a URL containing {i}: viewer j (numbered from --first) watches stream (j mod --streams).
    streams: { type: 'string', default: '1' },
    first: { type: 'string', default: '0' },
  },
});
const urlFor = (j) => new URL(values.url.replace('{i}', String(j % Number(values.streams))));
const url = urlFor(0);
if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) throw new Error(`refusing non-loopback URL ${url}`);
const N = Number(values.viewers);
const seconds = Number(values.seconds);
if (!(N >= 1 && N <= 512) || !(seconds > 0 && seconds <= 600)) throw new Error('--viewers in [1, 512], --seconds in (0, 600]');
// A stop may come while viewers are still joining: remembered, acted on once they have.
const stopRequested = new Promise((r) => {
  for (const sig of ['SIGTERM', 'SIGINT']) process.once(sig, r);
});
const headers = { 'Content-Type': 'application/sdp', ...(values.token ? { Authorization: `Bearer ${values.token}` } : {}) };

// Each viewer's werift UDP socket asks for a 2 MiB receive buffer (werift binds its own dgram
// sockets and takes no buffer option, so they are sized once gathering has bound them). A
// viewer process on a loaded 2-core machine stalls for whole DTLS handshakes of the viewers
// joining after it; the kernel's default buffer (net.core.rmem_default, 208 KiB: ~90 datagrams
// of ~1.2 KB, well under a second of a viewer's media) then overflows and the kernel drops
// (Udp RcvbufErrors) show up here as gaps. The kernel caps the request at net.core.rmem_max;
// what each socket got is reported (rcvbufBytes), so a capped run is visible.
const RCVBUF_BYTES = 2 * 1024 * 1024;
function sizeReceiveBuffers(pc) {
  let got = Infinity;
  for (const t of pc.iceTransports ?? []) {
    for (const proto of t.connection?.protocols ?? []) {
      const socket = proto.transport?.socket;
      if (!socket?.setRecvBufferSize) continue;
      try {
        socket.setRecvBufferSize(RCVBUF_BYTES);
        got = Math.min(got, socket.getRecvBufferSize());
      } catch {
        // not bound (a transport that failed to gather): left as werift made it
      }
    }
  }
  return Number.isFinite(got) ? got : null;
}

async function viewer(j) {
  const url = urlFor(j);
  const pc = new werift.RTCPeerConnection({
    iceServers: [], iceUseIpv4: false, iceUseIpv6: false,
    iceAdditionalHostAddresses: ['127.0.0.1'], iceInterfaceAddresses: { udp4: '127.0.0.1' },
    codecs: { video: [werift.useH264()], audio: [werift.useOPUS()] },
  });
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  const v = { pc, video: 0, audio: 0, firstNal: -1, firstIsKeyframe: false, gaps: 0, lastSeq: -1, connected: false, failed: false, location: null, onFailed: null, rcvbuf: null };
  pc.connectionStateChange.subscribe((s) => {
    if (s === 'connected') v.connected = true;
    else if (s === 'failed') {
      v.failed = true;
      v.onFailed?.();
    }
  });
  pc.onTrack.subscribe((t) => t.onReceiveRtp.subscribe((p) => {
    if (t.kind !== 'video') { v.audio++; return; }
    if (v.video === 0) {
      v.firstNal = p.payload[0] & 0x1f;
      v.firstIsKeyframe = keyframeMark(p.payload) === 1; // SPS, alone or in a STAP-A
    } else if (p.header.sequenceNumber !== ((v.lastSeq + 1) & 0xffff)) v.gaps++;
    v.lastSeq = p.header.sequenceNumber;
    v.video++;
  }));
  await pc.setLocalDescription(await pc.createOffer());
  // Bounded: gathering (host candidates only) and the WHEP POST each get a deadline.
  await new Promise((r) => {
    if (pc.iceGatheringState === 'complete') r();
    const t = setTimeout(r, 5000);
    pc.iceGatheringStateChange.subscribe((s) => s === 'complete' && (clearTimeout(t), r()));
  });
  v.rcvbuf = sizeReceiveBuffers(pc);
  const res = await fetch(url, { method: 'POST', headers, body: pc.localDescription.sdp, signal: AbortSignal.timeout(20_000) });
  if (res.status !== 201) throw new Error(`WHEP POST ${res.status}: ${await res.text()}`);
  v.location = new URL(res.headers.get('location'), url).href;
  await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
  return v;
}

const vs = [];
const joinErrors = [];
let stopping = false;
let rejoins = 0;
const rejoining = new Set();
const leave = (v) => {
  fetch(v.location, { method: 'DELETE', headers }).catch(() => {});
  v.pc.close().catch(() => {});
};
// A viewer whose connection fails before it ever connected (ICE/DTLS timing out on a
// saturated machine) leaves and joins again, up to 3 attempts in all, as a real client
// would; every failed attempt is reported in joinErrors, never hidden. A viewer that fails
// after it connected stays failed (its losses are the measurement).
function watch(slot, j, attempt) {
  const v = vs[slot];
  v.onFailed = () => {
    if (v.connected || stopping || attempt >= 3) return;
    joinErrors.push(`viewer ${j} attempt ${attempt}: connection failed before it connected`);
    leave(v);
    const p = (async () => {
      for (let a = attempt + 1; a <= 3 && !stopping; a++) {
        try {
          vs[slot] = await viewer(j);
          rejoins++;
          watch(slot, j, a);
          return;
        } catch (err) {
          joinErrors.push(`viewer ${j} attempt ${a}: ${err.message}`);
        }
      }
    })();
    rejoining.add(p);
    p.finally(() => rejoining.delete(p));
  };
  if (v.failed) v.onFailed();
}
for (let i = 0; i < N; i++) {
  const j = Number(values.first) + i;
  // Up to 3 attempts per viewer; what failed is reported, never hidden.
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      vs.push(await viewer(j));
      watch(vs.length - 1, j, attempt);
      break;
    } catch (err) {
      joinErrors.push(`viewer ${j} attempt ${attempt}: ${err.message}`);
    }
  }
  await new Promise((r) => setTimeout(r, Number(values['join-ms'])));
}
// Runs for --seconds after the last join, or until told to stop (SIGTERM/SIGINT: the caller
// has measured what it wanted), whichever comes first; then reports and leaves.
const t0 = Date.now();
process.stderr.write(`whep-viewers: ${vs.length} of ${N} viewers joined\n`);
let timer;
await Promise.race([stopRequested, new Promise((r) => (timer = setTimeout(r, seconds * 1000)))]);
clearTimeout(timer);
stopping = true;
await Promise.all([...rejoining]);
const videos = vs.map((v) => v.video).sort((a, b) => a - b);
const out = {
  viewers: vs.length,
  joinErrors,
  // Viewers that joined again after their connection failed before connecting.
  rejoins,
  connected: vs.filter((v) => v.connected).length,
  failedAfterConnect: vs.filter((v) => v.connected && v.failed).length,
  seconds: (Date.now() - t0) / 1000,
  videoPackets: { total: videos.reduce((a, b) => a + b, 0), min: videos[0], median: videos[videos.length >> 1], max: videos.at(-1) },
  audioPackets: vs.reduce((a, v) => a + v.audio, 0),
  allStartAtKeyframe: vs.every((v) => v.firstIsKeyframe),
  // NAL type of each viewer's first video packet (7 SPS, 24 STAP-A), counted.
  firstNal: vs.reduce((h, v) => ((h[v.firstNal] = (h[v.firstNal] ?? 0) + 1), h), {}),
  allInOrder: vs.every((v) => v.gaps === 0),
  // Smallest receive buffer a viewer socket got, bytes (Linux reports twice the usable size; null: none sized).
  rcvbufBytes: vs.some((v) => v.rcvbuf !== null) ? Math.min(...vs.filter((v) => v.rcvbuf !== null).map((v) => v.rcvbuf)) : null,
  // Sequence discontinuities seen by viewers (a loss or reorder each), summed.
  gaps: vs.reduce((a, v) => a + v.gaps, 0),
};
for (const v of vs) {
  await fetch(v.location, { method: 'DELETE', headers }).catch(() => {});
  await v.pc.close().catch(() => {});
}
console.log(JSON.stringify(out));
process.exit(0);
