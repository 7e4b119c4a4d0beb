/**
 * rtp-relay under abuse (issue "Prove that nothing is lost…", relay hardening): floods of
 * WHEP offers, malformed SDP, oversized bodies, wrong tokens, viewers that never finish
 * ICE/DTLS, ingest floods of garbage and of valid RTP. Each time: clear 4xx, bounded
 * state, no crash, and a connected viewer keeps receiving in order.
 * Loopback only; every flood is bounded in count and time.
 */
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as weriftEsm from 'werift';
import { startRelay, type Relay } from '../../src/relay/relay.js';

import { candidatePort, contiguous, makeOffer, seqGaps, udpDrops, until, type ViewerPc } from './whep-client.js';

const MAX_VIEWERS = 6;
const CONNECT_TIMEOUT_MS = 4000;
let relay: Relay;
let base: string;
let offerSdp: string;
let watcher: { pc: ViewerPc; seqs: number[]; location: string };

const post = (body: string, headers: Record<string, string> = { 'Content-Type': 'application/sdp' }) =>
  fetch(`${base}/whep/demo`, { method: 'POST', headers, body });


const demo = () => relay.streams.get('demo')!;

beforeAll(async () => {
  relay = await startRelay({ httpPort: 0, webrtcPort: 0, werift: weriftEsm, maxViewers: MAX_VIEWERS, connectTimeoutMs: CONNECT_TIMEOUT_MS });
  base = `http://127.0.0.1:${relay.httpPort}`;
  // One real viewer that must stay unaffected by everything below.
  const { pc, sdp } = await makeOffer();
  const seqs: number[] = [];
  pc.onTrack.subscribe((t) => t.kind === 'video' && t.onReceiveRtp.subscribe((p) => seqs.push(p.header.sequenceNumber)));
  const res = await post(sdp);
  expect(res.status).toBe(201);
  await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
  watcher = { pc, seqs, location: res.headers.get('location')! };
  // ICE + DTLS + the first keyframe: seconds on an idle machine, more on a busy one.
  expect(await until(() => seqs.length > 20, 40_000)).toBe(true);
  offerSdp = (await makeOffer()).sdp; // an offer whose peer will never answer ICE checks
}, 60_000);

afterAll(async () => {
  await watcher?.pc.close().catch(() => {});
  await relay?.stop();
});

describe('rtp-relay hardening', () => {
  it('a flood of 120 concurrent offers: at most the viewer limit is admitted, the rest get 503; those that never connect are reaped', async () => {
    // The limit holds at every moment: sampled as each answer comes back.
    let peak = 0;
    const t0 = Date.now();
    const statuses = await Promise.all(
      Array.from({ length: 120 }, () =>
        post(offerSdp).then((r) => {
          peak = Math.max(peak, demo().viewers.size);
          return r.status;
        }),
      ),
    );
    const floodMs = Date.now() - t0;
    const created = statuses.filter((s) => s === 201).length;
    expect(statuses.every((s) => s === 201 || s === 503)).toBe(true);
    expect(statuses.filter((s) => s === 503).length).toBe(120 - created);
    expect(peak).toBeLessThanOrEqual(MAX_VIEWERS);
    expect(created).toBeGreaterThanOrEqual(MAX_VIEWERS - 1); // the watcher holds one place
    // Exactly the free places, unless the flood outlasted the connect timeout (a busy
    // machine): then reaped places were rightly given again, and the peak rule above holds.
    if (floodMs < CONNECT_TIMEOUT_MS) expect(created).toBe(MAX_VIEWERS - 1);
    // Viewers that never finish ICE/DTLS are reaped after the connect timeout.
    expect(await until(() => demo().viewers.size === 1, CONNECT_TIMEOUT_MS + 10_000)).toBe(true);
    // Room again.
    const res = await post(offerSdp);
    expect(res.status).toBe(201);
  }, 60_000);

  it('malformed SDP of many shapes: always 400 with a reason, never a viewer or a crash', async () => {
    const before = demo().viewers.size;
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const lines = offerSdp.split('\r\n');
    const bodies = [
      'v=0',
      'v=0\r\n',
      'v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n',
      'v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n',
      'v=0\r\n' + 'a=x\r\n'.repeat(5000),
      offerSdp.replace(/a=fingerprint:.*\r\n/g, ''),
      offerSdp.replace(/a=ice-ufrag:.*\r\n/g, ''),
      offerSdp.replace(/m=video[^\r]*/, 'm=video 9 UDP/TLS/RTP/SAVPF 100').replace(/a=rtpmap:\d+ H264[^\r]*\r\n/g, ''),
      ...Array.from({ length: 40 }, () => {
        // Drop, duplicate or truncate random lines of a valid offer.
        const out = lines.filter(() => rnd(4) !== 0).map((l) => (rnd(6) === 0 ? l.slice(0, rnd(l.length + 1)) : l));
        return ['v=0', ...out.slice(1)].join('\r\n');
      }),
    ];
    const statuses: number[] = [];
    for (const body of bodies) {
      const r = await post(body);
      statuses.push(r.status);
      const text = await r.text();
      if (r.status !== 201) expect(text.length).toBeGreaterThan(0);
      else await fetch(`${base}${r.headers.get('location')}`, { method: 'DELETE' });
    }
    // Every malformed body is refused (a random mutation may still be a valid offer: then it was accepted and removed).
    expect(statuses.slice(0, 8)).toEqual([400, 400, 400, 400, 400, 400, 400, 400]);
    expect(statuses.every((s) => s === 400 || s === 201)).toBe(true);
    expect(await until(() => demo().viewers.size <= before, 5000)).toBe(true);
  }, 60_000);

  it('oversized, wrongly typed and chunked bodies are refused before parsing', async () => {
    expect((await post('v=0' + 'a'.repeat(1 << 20))).status).toBe(413);
    expect((await post(offerSdp, { 'Content-Type': 'application/json' })).status).toBe(415);
    expect((await post(offerSdp, {})).status).toBe(415);
  });

  it('ingest floods: garbage and unknown payload types are counted and dropped; valid RTP floods do not grow state; the watcher keeps receiving in order', async () => {
    const port = relay.ingestPorts.get('demo')!;
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const c0 = { ...demo().counters };
    const ingestDrops0 = udpDrops(port);
    const watcherPort = candidatePort(watcher.pc);
    const watcherDrops0 = udpDrops(watcherPort);
    const heap0 = process.memoryUsage().heapUsed;
    const send = (buf: Buffer): Promise<void> => new Promise((r) => sock.send(buf, port, '127.0.0.1', () => r()));
    // Each burst is sized for the ingest socket's buffer and the next one waits until the
    // relay has counted the last (an event, not a sleep): on a busy machine the relay is
    // simply slower, it loses nothing. Whatever the kernel still drops at the ingest
    // socket's queue is in /proc/net/udp and accounted for below.
    const accounted = (n: number): boolean => {
      const c = demo().counters;
      return c.ingestInvalid - c0.ingestInvalid + (c.ingestUnknownPayloadType - c0.ingestUnknownPayloadType) + (udpDrops(port) - ingestDrops0) >= n;
    };
    const garbage = Buffer.alloc(200);
    const unknownPt = Buffer.alloc(100);
    unknownPt[0] = 0x80;
    unknownPt[1] = 100; // payload type 100: neither video (96) nor audio (97)
    for (let round = 0; round < 20; round++) {
      const burst: Promise<void>[] = [];
      for (let i = 0; i < 250; i++) {
        garbage.writeUInt32BE((round * 250 + i) * 2654435761 >>> 0, 0);
        garbage[0] &= 0x3f; // version 0: not RTP
        burst.push(send(garbage), send(unknownPt));
      }
      await Promise.all(burst);
      expect(await until(() => accounted((round + 1) * 500), 15_000), `round ${round}`).toBe(true);
    }
    // A flood of valid-looking video RTP with a stale sequence space (old packets replayed),
    // in bursts of 100 the relay must have taken in before the next.
    const replay = Buffer.alloc(1000);
    replay[0] = 0x80;
    replay[1] = 96;
    replay[12] = 0x41; // non-IDR slice
    // Sequence numbers half the space away from what the watcher gets now, so the two are told apart.
    const replayBase = ((watcher.seqs.at(-1) ?? 0) + 0x8000) & 0xffff;
    const isReplay = (seq: number): boolean => ((seq - replayBase) & 0xffff) < 2000;
    const video0 = demo().counters.ingestVideo;
    for (let i = 0; i < 2000; i++) {
      replay.writeUInt16BE((replayBase + i) & 0xffff, 2);
      await send(replay);
      if (i % 100 === 99) {
        const target = i + 1;
        expect(await until(() => demo().counters.ingestVideo - video0 + (udpDrops(port) - ingestDrops0) >= target, 15_000)).toBe(true);
      }
    }
    sock.close();
    const c = demo().counters;
    const ingestDrops = udpDrops(port) - ingestDrops0;
    // Every garbage and unknown-PT datagram was counted by the relay, or dropped by the kernel
    // before the relay could read it (none on an idle machine).
    expect(c.ingestInvalid - c0.ingestInvalid).toBeLessThanOrEqual(5000);
    expect(c.ingestUnknownPayloadType - c0.ingestUnknownPayloadType).toBeLessThanOrEqual(5000);
    expect(c.ingestInvalid - c0.ingestInvalid + ingestDrops).toBeGreaterThanOrEqual(5000);
    expect(c.ingestUnknownPayloadType - c0.ingestUnknownPayloadType + ingestDrops).toBeGreaterThanOrEqual(5000);
    // Nothing is queued per packet: the heap does not keep the flood.
    global.gc?.();
    expect(process.memoryUsage().heapUsed - heap0).toBeLessThan(64 << 20);
    // The watcher still gets the real stream (the replayed packets interleave with it:
    // they are forwarded like any video, so check the demo's own sequence space resumes).
    // The watcher's werift socket lives in this (busy) process: a gap in what it got must be
    // explained by datagrams the kernel dropped at that socket; anything else is a fault.
    // Wait until 60 more packets of the demo's own space arrived after the last replayed one
    // the watcher got (forwarded replays may still be on their way when the flood ends).
    const demoSince = (): number => {
      let k = 0;
      for (let i = watcher.seqs.length - 1; i >= 0 && !isReplay(watcher.seqs[i]); i--) k++;
      return k;
    };
    expect(await until(() => demoSince() > 60, 20_000)).toBe(true);
    const tail = watcher.seqs.slice(-40);
    const gaps = seqGaps(tail);
    const watcherDrops = udpDrops(watcherPort) - watcherDrops0;
    expect(gaps, `gaps ${gaps} in ${JSON.stringify(tail)}; kernel drops at the watcher's socket ${watcherDrops}`).toBeLessThanOrEqual(watcherDrops);
    if (watcherDrops === 0) expect(contiguous(tail)).toBe(true);
  }, 120_000);

  it('the relay is still healthy: metrics answer and a new viewer connects', async () => {
    expect((await fetch(`${base}/metrics`)).status).toBe(200);
    const { pc, sdp } = await makeOffer();
    const got: number[] = [];
    pc.onTrack.subscribe((t) => t.kind === 'video' && t.onReceiveRtp.subscribe((p) => got.push(p.header.sequenceNumber)));
    const res = await post(sdp);
    expect(res.status).toBe(201);
    await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
    expect(await until(() => got.length > 20, 10_000)).toBe(true);
    await pc.close();
  }, 20_000);
});
