#!/usr/bin/env node
/**
 * One side of the werift egress scenario, driven over IPC (child_process.fork):
 *   node bench/workers/werift-peer.mjs sender     werift loaded with require() (the CJS build:
 *                                                 one file per werift package, so a CPU profile
 *                                                 can tell SRTP from RTP from ICE), the plug
 *                                                 installed or not per run
 *   node bench/workers/werift-peer.mjs receiver   stock werift (ESM build), never the plug
 *
 * Messages { id, cmd, ... } → reply { id, ok, ... } or { id, ok: false, error }.
 * sender:   offer { n, plug: null | options } → { offers }; answer { answers } → {} once connected;
 *           send { frames, packetsPerFrame, fps, payload } → { packets, cpuUs, ... }; close → { plugStats }
 * receiver: answer { offers } → { answers }; connected → {} once every connection is up;
 *           count → { received: [n per connection] } after 150 ms without RTP; close → {}
 * ICE: host candidates on 127.0.0.1 only (no interface enumeration, no STUN server).
 * Exits when the parent goes away, or after 15 minutes.
 */
import { createRequire } from 'node:module';

const role = process.argv[2];
if (role !== 'sender' && role !== 'receiver') {
  console.error('werift-peer: sender|receiver');
  process.exit(2);
}
const werift = role === 'sender' ? createRequire(import.meta.url)('werift') : await import('werift');
const { installWeriftBatching } = await import('../../dist/werift/index.js');
setTimeout(() => process.exit(3), 15 * 60_000).unref();
process.on('disconnect', () => process.exit(0));

const CONNECT_TIMEOUT_MS = 20_000;
const pcConfig = () => ({
  iceServers: [],
  iceUseIpv4: false,
  iceUseIpv6: false,
  iceAdditionalHostAddresses: ['127.0.0.1'],
  iceInterfaceAddresses: { udp4: '127.0.0.1' },
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function connected(pc) {
  return new Promise((resolve, reject) => {
    if (pc.connectionState === 'connected') return resolve();
    const t = setTimeout(() => reject(new Error(`not connected within ${CONNECT_TIMEOUT_MS} ms (state ${pc.connectionState})`)), CONNECT_TIMEOUT_MS);
    pc.connectionStateChange.subscribe((s) => {
      if (s === 'connected') {
        clearTimeout(t);
        resolve();
      }
      if (s === 'failed') {
        clearTimeout(t);
        reject(new Error('connection failed'));
      }
    });
  });
}

let pcs = [];
let tracks = [];
let plug = null;
let received = [];
let lastRtp = 0;

const handlers = {
  // ---- sender ----
  async offer({ n, plug: plugOptions }) {
    if (plugOptions) plug = installWeriftBatching(werift, plugOptions);
    pcs = [];
    tracks = [];
    const offers = [];
    for (let i = 0; i < n; i++) {
      const pc = new werift.RTCPeerConnection(pcConfig());
      const track = new werift.MediaStreamTrack({ kind: 'video' });
      pc.addTransceiver(track, { direction: 'sendonly' });
      await pc.setLocalDescription(await pc.createOffer());
      pcs.push(pc);
      tracks.push(track);
      offers.push(pc.localDescription.toJSON ? pc.localDescription.toJSON() : { type: 'offer', sdp: pc.localDescription.sdp });
    }
    return { offers };
  },
  async answer({ answers, offers }) {
    if (role === 'sender') {
      const up = Promise.all(pcs.map(connected));
      for (let i = 0; i < pcs.length; i++) await pcs[i].setRemoteDescription(answers[i]);
      await up;
      return {};
    }
    // receiver
    pcs = [];
    received = offers.map(() => 0);
    const out = [];
    for (let i = 0; i < offers.length; i++) {
      const pc = new werift.RTCPeerConnection(pcConfig());
      pc.onTrack.subscribe((t) => {
        t.onReceiveRtp.subscribe(() => {
          received[i]++;
          lastRtp = performance.now();
        });
      });
      await pc.setRemoteDescription(offers[i]);
      await pc.setLocalDescription(await pc.createAnswer());
      pcs.push(pc);
      out.push(pc.localDescription.toJSON ? pc.localDescription.toJSON() : { type: 'answer', sdp: pc.localDescription.sdp });
    }
    return { answers: out };
  },
  async connected() {
    await Promise.all(pcs.map(connected));
    return {};
  },
  async send({ frames, packetsPerFrame, fps, payload }) {
    const body = Buffer.alloc(payload, 0xab);
    const ssrcBase = 0x1000;
    let seq = 0;
    let written = 0;
    const writeFrame = (f) => {
      // One RTP packet per ingest packet, fanned out to every connection (werift's
      // writeRtp clones it and rewrites SSRC/PT per sender), as a relay does.
      for (let k = 0; k < packetsPerFrame; k++) {
        const header = new werift.RtpHeader({ payloadType: 96, sequenceNumber: (seq + k) & 0xffff, timestamp: (f * 3000) >>> 0, ssrc: ssrcBase, marker: k === packetsPerFrame - 1 });
        const packet = new werift.RtpPacket(header, body);
        for (let i = 0; i < tracks.length; i++) {
          tracks[i].writeRtp(packet);
          written++;
        }
      }
      seq += packetsPerFrame;
    };
    await sleep(50);
    const stats0 = plug?.stats();
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    let f = 0;
    while (f < frames) {
      const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
      const due = Math.min(frames, Math.floor(elapsed * fps) + 1);
      while (f < due) writeFrame(f++);
      if (f >= frames) break;
      const nextAt = f / fps;
      await sleep(Math.max(1, Math.floor((nextAt - Number(process.hrtime.bigint() - t0) / 1e9) * 1000)));
    }
    const tLast = process.hrtime.bigint();
    await sleep(100); // let werift's async send chain and the plug's flushes finish
    const cpu = process.cpuUsage(cpu0);
    const t1 = process.hrtime.bigint();
    const s = plug?.stats();
    const plugDelta = s && stats0 ? { sent: s.sent - stats0.sent, syscalls: s.syscalls - stats0.syscalls, batches: s.batches - stats0.batches, dropped: s.dropped - stats0.dropped, failed: s.failed - stats0.failed, backends: s.backends, srtp: s.srtp ? { rtpProtected: s.srtp.rtpProtected - (stats0.srtp?.rtpProtected ?? 0), batches: s.srtp.batches - (stats0.srtp?.batches ?? 0), stockCalls: s.srtp.stockCalls - (stats0.srtp?.stockCalls ?? 0) } : undefined } : null;
    return {
      packets: written,
      cpuUs: cpu.user + cpu.system,
      cpuUserUs: cpu.user,
      cpuSysUs: cpu.system,
      cpuUsPerPacket: (cpu.user + cpu.system) / written,
      sendS: Number(tLast - t0) / 1e9,
      measuredS: Number(t1 - t0) / 1e9,
      // Microseconds on the monotonic clock, the time base of V8 CPU profiles.
      phaseUs: [Number(t0 / 1000n), Number(tLast / 1000n)],
      plug: plugDelta,
    };
  },
  async count() {
    while (performance.now() - lastRtp < 150) await sleep(25);
    return { received };
  },
  async close() {
    const plugStats = plug?.stats() ?? null;
    await Promise.allSettled(pcs.map((pc) => pc.close()));
    pcs = [];
    tracks = [];
    if (plug) await plug.uninstall();
    plug = null;
    return { plugStats };
  },
  async exit() {
    setTimeout(() => process.exit(0), 10);
    return {};
  },
};

process.on('message', async (msg) => {
  try {
    const h = handlers[msg.cmd];
    if (!h) throw new Error(`unknown command ${msg.cmd}`);
    process.send({ id: msg.id, ok: true, ...(await h(msg)) });
  } catch (err) {
    process.send({ id: msg.id, ok: false, error: String(err?.stack ?? err) });
  }
});
process.send({ ready: true, role, werift: role === 'sender' ? 'cjs' : 'esm' });
