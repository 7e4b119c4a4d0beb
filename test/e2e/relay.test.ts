/**
 * rtp-relay end to end on loopback: the relay (ESM werift + the batching plug on one
 * shared port, the fast egress: the native fan-out) plays the bundled demo loop; viewers
 * are werift peer connections from the other (CJS) werift build, so they keep werift's own
 * sockets and never sit on the relay's mux. Each viewer speaks WHEP over HTTP like a
 * browser would; werift decrypts what the fan-out sends.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as weriftEsm from 'werift';
import { startRelay, type Relay } from '../../src/relay/relay.js';
import { KeyframeMark, keyframeMark } from '../../src/relay/h264.js';
import { parseRtpHeader } from '../../src/relay/rtp.js';
import { DEMO_RECORDING } from '../../src/relay/demo-source.js';
import { readRtpdump } from '../../src/relay/rtpdump.js';
import { fanoutUnavailableReason } from '../../src/fanout/index.js';

import { contiguous, iceChecks, makeOffer, until, type ViewerPc } from './whep-client.js';

interface TestViewer {
  pc: ViewerPc;
  location: string;
  video: { seq: number; nal: number; mark: KeyframeMark; payload: Buffer }[];
  audio: number[];
}

let relay: Relay;
let base: string;
const viewers: TestViewer[] = [];

async function offer(kinds?: readonly ('video' | 'audio')[]): Promise<{ pc: TestViewer['pc']; sdp: string; v: TestViewer }> {
  const { pc, sdp } = await makeOffer(kinds);
  const v: TestViewer = { pc, location: '', video: [], audio: [] };
  pc.onTrack.subscribe((t) =>
    t.onReceiveRtp.subscribe((p) => {
      if (t.kind === 'video') v.video.push({ seq: p.header.sequenceNumber, nal: p.payload[0] & 0x1f, mark: keyframeMark(p.payload), payload: Buffer.from(p.payload) });
      else v.audio.push(p.header.sequenceNumber);
    }),
  );
  return { pc, sdp, v };
}

async function join(stream = 'demo', headers: Record<string, string> = {}, kinds?: readonly ('video' | 'audio')[]): Promise<TestViewer & { answer: string }> {
  const { pc, sdp, v } = await offer(kinds);
  const res = await fetch(`${base}/whep/${stream}`, { method: 'POST', headers: { 'Content-Type': 'application/sdp', ...headers }, body: sdp });
  expect(res.status).toBe(201);
  expect(res.headers.get('content-type')).toBe('application/sdp');
  v.location = res.headers.get('location')!;
  expect(v.location).toMatch(/^\/whep\/demo\/[0-9a-f-]{36}$/);
  const answer = await res.text();
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  viewers.push(v);
  return Object.assign(v, { answer });
}



/**
 * Payloads of the demo's video packets in the order the ingest receives them: the recording
 * the demo loops (its player rewrites sequence numbers, timestamps and SSRCs, never
 * payloads), six loops' worth so that any viewer's run fits. (Not tapped at the stream:
 * steady batches are forwarded by the addon's ingest route without reaching it.)
 */
const ingestVideo: Buffer[] = (() => {
  const loop = readRtpdump(readFileSync(DEMO_RECORDING)).flatMap((p) => {
    const h = parseRtpHeader(p.data);
    return h && h.payloadType === 96 ? [Buffer.from(p.data.subarray(h.payloadOffset, h.payloadOffset + h.payloadLength))] : [];
  });
  return Array.from({ length: 6 }, () => loop).flat();
})();
const fastAvailable = fanoutUnavailableReason() === undefined;

beforeAll(async () => {
  relay = await startRelay({ httpPort: 0, webrtcPort: 0, werift: weriftEsm, token: undefined, maxViewers: 8 });
  base = `http://127.0.0.1:${relay.httpPort}`;
});

/** The viewer's video payloads are a run of consecutive ingest payloads, byte for byte. */
function expectIngestRun(v: TestViewer): void {
  // The demo loops, so its SPS (the first packet) recurs: find the start the whole run matches.
  const runs = (first: number): boolean => v.video.every((p, j) => ingestVideo[first + j]?.equals(p.payload) ?? false);
  const starts = ingestVideo.map((p, i) => (p.equals(v.video[0].payload) ? i : -1)).filter((i) => i >= 0);
  expect(starts.length).toBeGreaterThan(0);
  expect(starts.some(runs)).toBe(true);
}

afterAll(async () => {
  await Promise.all(viewers.map((v) => v.pc.close().catch(() => {})));
  await relay?.stop();
});

describe('rtp-relay with werift viewers over WHEP', () => {
  it('several viewers each receive video from a keyframe on, in order, and audio; fan-out leaves batched', async () => {
    let vs: (TestViewer & { answer: string })[] = await Promise.all([join(), join(), join()]);
    // ICE + DTLS for three viewers and 150 packets of a real-time stream: ~6 s idle, longer
    // busy. On a starved machine werift's ICE checks can time out before anything is sent
    // (the viewer's connection 'failed', the relay reaps it): such a viewer is replaced, at
    // most twice; a viewer that connected must receive everything.
    const done = (v: TestViewer): boolean => v.video.length > 150 && v.audio.length > 50;
    let ok = false;
    for (let attempt = 0; attempt < 3 && !ok; attempt++) {
      await until(() => vs.every((v) => done(v) || v.pc.connectionState === 'failed'), 45_000);
      ok = vs.every(done);
      if (!ok && attempt < 2 && vs.some((v) => v.pc.connectionState === 'failed' && v.video.length === 0)) {
        vs = await Promise.all(
          vs.map((v) => {
            if (v.pc.connectionState !== 'failed' || v.video.length > 0) return v;
            viewers.splice(viewers.indexOf(v), 1);
            return join();
          }),
        );
      }
    }
    const demo = relay.streams.get('demo')!;
    const state = (): string => JSON.stringify({ viewers: vs.map((v) => [v.video.length, v.audio.length, v.pc.connectionState]), relay: [...demo.viewers].map((v) => [v.egress, v.connected, v.counters]), closed: demo.closed, fast: relay.fast?.fanout?.totals, udp: relay.udpStats() });
    expect(ok, state()).toBe(true);
    for (const v of vs) {
      expect(v.video[0].mark).toBe(KeyframeMark.Sps); // starts at a keyframe: SPS first
      expect(contiguous(v.video.map((p) => p.seq))).toBe(true);
      expect(contiguous(v.audio)).toBe(true);
    }
    for (const v of vs) expectIngestRun(v);
    // ICE-lite (the default): the answer says so, the relay answered each viewer's checks
    // and sent none of its own (RFC 8445 §2.5).
    expect(relay.ice).toBe('lite');
    const before = await Promise.all(vs.map((v) => iceChecks(v.pc)));
    for (const [i, v] of vs.entries()) {
      expect(v.answer).toMatch(/^a=ice-lite\r?$/m);
      expect(before[i].requestsSent).toBeGreaterThan(0);
      expect(before[i].responsesReceived).toBeGreaterThan(0);
      expect(before[i].requestsReceived).toBe(0);
    }
    // Once connected, the viewers' consent checks (every 4-6 s) are answered in the receive
    // loop (src/werift/consent-responder.ts), and werift on the viewer takes the answers.
    const relayViewers = [...demo.viewers];
    expect(await until(() => relayViewers.every((rv) => rv.consentCounters().answered > 0), 20_000), JSON.stringify(relayViewers.map((rv) => rv.consentCounters()))).toBe(true);
    for (const [i, v] of vs.entries()) expect((await iceChecks(v.pc)).responsesReceived).toBeGreaterThan(before[i].responsesReceived);
    for (const rv of relayViewers) expect(rv.consentCounters().passed).toBe(0);
    const udp = relay.udpStats()!;
    expect(udp.failed + udp.dropped).toBe(0);
    // Three viewers on one shared port: fan-out of one ingest packet shares a sendmmsg.
    expect(udp.syscalls).toBeLessThan(udp.sent / 2);
    expect(relay.webrtcPort()).toBeGreaterThan(0);
    if (fastAvailable) {
      // The fast egress served them: werift's RTP senders never sent a packet on these tracks.
      expect(relay.egress).toBe('fast');
      expect(demo.fastViewers.size).toBe(3);
      for (const rv of demo.fastViewers) {
        expect(rv.egress).toBe('fast');
        const senders = rv.senders() as { video?: { packetCount: number }; audio?: { packetCount: number } };
        expect(senders.video!.packetCount).toBe(0);
        expect(senders.audio!.packetCount).toBe(0);
        expect(rv.counters.forwarded).toBeGreaterThan(200);
      }
      const t = relay.fast!.fanout!.totals;
      expect(t.dropped + t.oversize + t.errors).toBe(0);
      // Most ingest batches took the steady-state route (forwarded by the addon before JS saw
      // them), and the stream counted them: every packet a viewer got was counted as ingest.
      expect(relay.fast!.fanout!.ingestBatches).toBeGreaterThan(0);
      const c = demo.counters;
      expect(c.ingestVideo).toBeGreaterThanOrEqual(Math.max(...vs.map((v) => v.video.length)));
      expect(c.ingestAudio).toBeGreaterThanOrEqual(Math.max(...vs.map((v) => v.audio.length)));
      expect(c.ingestBadSequence + c.ingestForeign + c.ingestInvalid).toBe(0);
    }
  }, 60_000);

  it('an audio-only offer is answered with Opus alone and receives the audio in order', async () => {
    const v = await join('demo', {}, ['audio']);
    const mlines = v.answer.split(/\r?\n/).filter((l) => l.startsWith('m='));
    expect(mlines.length).toBe(1);
    expect(mlines[0]).toMatch(/^m=audio /);
    expect(v.answer).toMatch(/a=rtpmap:\d+ opus\/48000/i);
    expect(await until(() => v.audio.length > 50, 45_000)).toBe(true);
    expect(contiguous(v.audio)).toBe(true);
    expect(v.video.length).toBe(0);
  }, 60_000);

  it('a viewer joining mid-stream starts at the next keyframe', async () => {
    await new Promise((r) => setTimeout(r, 500)); // somewhere inside a GOP
    const late = await join();
    expect(await until(() => late.video.length > 30, 30_000)).toBe(true);
    expect(late.video[0].mark).toBe(KeyframeMark.Sps);
    expect(contiguous(late.video.map((p) => p.seq))).toBe(true);
    expectIngestRun(late);
    const waits = relay.streams.get('demo')!.counters.keyframeWaits;
    expect(waits).toBeGreaterThanOrEqual(4);
  }, 45_000);

  it('DELETE leaves: the viewer is gone, others keep receiving', async () => {
    const [a, b] = viewers;
    const before = relay.streams.get('demo')!.viewers.size;
    const res = await fetch(`${base}${a.location}`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    expect(relay.streams.get('demo')!.viewers.size).toBe(before - 1);
    const again = await fetch(`${base}${a.location}`, { method: 'DELETE' });
    expect(again.status).toBe(404);
    const n = b.video.length;
    expect(await until(() => b.video.length > n + 30, 5000)).toBe(true);
  });

  it('/metrics exposes the relay counters in Prometheus text format', async () => {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    for (const name of [
      'rtp_relay_ingest_datagrams_total{stream="demo",kind="video"}',
      'rtp_relay_viewers{stream="demo"}',
      'rtp_relay_egress_datagrams_total{stream="demo",kind="video"}',
      'rtp_relay_keyframe_waits_total{stream="demo"}',
      'rtp_relay_pli_total{stream="demo"}',
      'rtp_relay_udp_send_syscalls_total',
      'rtp_relay_udp_batch_size_mean',
      'rtp_relay_viewers_by_egress{path="werift"}',
      'rtp_relay_fast_egress_datagrams_total{outcome="oversize"} 0',
      'rtp_relay_consent_checks_total{stream="demo",kind="passed"} 0',
    ]) {
      expect(text).toContain(name);
    }
    // The first test waited for every viewer's consent checks to be answered in the receive loop.
    expect(Number(/^rtp_relay_consent_checks_total\{stream="demo",kind="answered"\} (\d+)/m.exec(text)?.[1])).toBeGreaterThanOrEqual(3);
    const sent = Number(/^rtp_relay_udp_datagrams_sent_total (\d+)/m.exec(text)?.[1]);
    expect(sent).toBeGreaterThan(0);
    if (fastAvailable) {
      const fast = Number(/^rtp_relay_viewers_by_egress\{path="fast"\} (\d+)/m.exec(text)?.[1]);
      expect(fast).toBe([...relay.streams.get('demo')!.viewers].filter((v) => v.connected).length);
      expect(Number(/^rtp_relay_fast_egress_datagrams_total\{outcome="queued"\} (\d+)/m.exec(text)?.[1])).toBeGreaterThan(0);
    }
  });

  it('GET / serves the player page', async () => {
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(await res.text()).toContain('/whep/');
  });
});

describe('rtp-relay rejects bad requests with clear 4xx', () => {
  const post = (path: string, body: string, headers: Record<string, string> = { 'Content-Type': 'application/sdp' }) =>
    fetch(`${base}${path}`, { method: 'POST', headers, body });

  it('unknown stream 404, bad SDP 400, wrong content type 415, oversized body 413, PATCH 405, OPTIONS 204', async () => {
    const { sdp, pc } = await offer();
    await pc.close();
    const r404 = await post('/whep/nope', sdp);
    expect(r404.status).toBe(404);
    expect(await r404.text()).toContain('unknown stream');
    expect((await post('/whep/demo', 'hello')).status).toBe(400);
    const garbled = await post('/whep/demo', 'v=0\r\nm=video 9 RTP/AVP 96\r\ngarbage');
    expect(garbled.status).toBe(400);
    expect((await post('/whep/demo', sdp, { 'Content-Type': 'text/plain' })).status).toBe(415);
    expect((await post('/whep/demo', 'v=0' + 'x'.repeat(70_000))).status).toBe(413);
    expect((await fetch(`${base}/whep/demo/abc`, { method: 'PATCH', body: 'a=candidate' })).status).toBe(405);
    expect((await fetch(`${base}/whep/demo`, { method: 'OPTIONS' })).status).toBe(204);
    expect((await fetch(`${base}/nothing`)).status).toBe(404);
    // None of these created a viewer.
    expect(relay.streams.get('demo')!.viewers.size).toBe(viewers.length - 1);
  });

  it('the viewer limit answers 503 and creates nothing', async () => {
    const demo = relay.streams.get('demo')!;
    const extra: TestViewer[] = [];
    // Fill every place, and wait until each new viewer is connected (receives video), so
    // that none is still inside its connect timeout. (On a busy machine an earlier viewer
    // may have been reaped meanwhile: fill up to the limit, whatever the count was.)
    while (demo.viewers.size < 8) extra.push(await join());
    for (const v of extra) expect(await until(() => v.video.length > 0, 30_000)).toBe(true);
    while (demo.viewers.size < 8) extra.push(await join());
    expect(demo.viewers.size).toBe(8);
    const { sdp, pc } = await offer();
    const res = await post('/whep/demo', sdp);
    expect(res.status).toBe(503);
    expect(demo.viewers.size).toBe(8);
    expect(res.headers.get('retry-after')).toBe('5');
    await pc.close();
    for (const v of extra) expect((await fetch(`${base}${v.location}`, { method: 'DELETE' })).status).toBe(200);
  }, 90_000);
});

describe('rtp-relay with a Bearer token', () => {
  it('401 without or with a wrong token, 201 with the right one', async () => {
    const secured = await startRelay({ httpPort: 0, webrtcPort: 0, werift: weriftEsm, token: 's3cret', batching: false });
    try {
      const url = `http://127.0.0.1:${secured.httpPort}/whep/demo`;
      const { sdp, pc } = await offer();
      const none = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: sdp });
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toBe('Bearer');
      const wrong = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp', Authorization: 'Bearer nope' }, body: sdp });
      expect(wrong.status).toBe(401);
      const ok = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp', Authorization: 'Bearer s3cret' }, body: sdp });
      expect(ok.status).toBe(201);
      const loc = ok.headers.get('location')!;
      expect((await fetch(`http://127.0.0.1:${secured.httpPort}${loc}`, { method: 'DELETE' })).status).toBe(401);
      expect((await fetch(`http://127.0.0.1:${secured.httpPort}${loc}`, { method: 'DELETE', headers: { Authorization: 'Bearer s3cret' } })).status).toBe(200);
      await pc.close();
    } finally {
      await secured.stop();
    }
  });
});
