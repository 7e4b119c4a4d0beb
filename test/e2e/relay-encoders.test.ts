/**
 * rtp-relay with real encoders and a real browser (issue "rtp-relay for real encoders and
 * real networks"): ffmpeg and GStreamer from Debian packages send live RTP to the relay;
 * Debian's Chromium (playwright-core, one browser for the file) plays it through the
 * player page, or werift viewers receive it where a browser is not needed. Each scenario
 * waits on frames and events (no sleeps that assume an idle machine), is bounded, stays on
 * loopback, and kills every child it starts.
 *
 * Recovery times (restart → frames again, late join → first frame) are printed as
 * `recovery:` lines for the record.
 */
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import * as werift from 'werift';
import { startRelay, type Relay, type StreamSpec } from '../../src/relay/relay.js';
import { parseRtpHeader } from '../../src/relay/rtp.js';
import { haveChromium, launchChromium, launchChromiumServer } from './chromium.js';
import { ffmpegArgs, gstArgs, haveFfmpeg, haveGstreamer, killAllEncoders, startEncoder } from './encoders.js';
import { candidatePort, contiguous, makeOffer, missingSeqs, udpDrops, until, type ViewerPc } from './whep-client.js';
import { fanoutUnavailableReason } from '../../src/fanout/index.js';
import { SRTP_PROFILES, forceSrtpProfile, negotiatedProfile } from './srtp-profile.js';

let tmp: string;
let relay: Relay | undefined;
let logs: string[] = [];

async function openRelay(stream: Omit<StreamSpec, 'name'> = { port: 0 }): Promise<Relay> {
  logs = [];
  relay = await startRelay({ httpPort: 0, webrtcPort: 0, werift, streams: [{ name: 'cam', ...stream }], log: (l) => logs.push(l) });
  return relay;
}
const cam = () => relay!.streams.get('cam')!;
const ingestPort = () => relay!.ingestPorts.get('cam')!;
const metrics = async (): Promise<string> => (await fetch(`http://127.0.0.1:${relay!.httpPort}/metrics`)).text();
const metric = (text: string, name: string): number => Number(new RegExp(`^${name.replace(/[{}"=]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'relay-encoders-'));
});
afterEach(async () => {
  await killAllEncoders();
  await relay?.stop();
  relay = undefined;
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------- browser scenarios

/** Page-side record of decoded video frames: [Date.now(), framesDecoded] every 100 ms. */
type FrameLog = [number, number][];
async function openPlayer(browser: Browser): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${relay!.httpPort}/?stream=cam`);
  await page.evaluate(() => {
    type Stats = { forEach(cb: (s: { type: string; kind?: string; framesDecoded?: number }) => void): void };
    const g = globalThis as unknown as { __frames: [number, number][]; __whep?: { pc: { getStats(): Promise<Stats> } } };
    g.__frames = [];
    setInterval(async () => {
      if (!g.__whep) return;
      let f = 0;
      (await g.__whep.pc.getStats()).forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') f = s.framesDecoded ?? 0;
      });
      g.__frames.push([Date.now(), f]);
    }, 100);
  });
  return page;
}
const frameLog = (page: Page): Promise<FrameLog> => page.evaluate(() => (globalThis as unknown as { __frames: [number, number][] }).__frames);
const framesNow = async (page: Page): Promise<number> => (await frameLog(page)).at(-1)?.[1] ?? 0;
async function waitFrames(page: Page, n: number, ms: number): Promise<number> {
  const end = Date.now() + ms;
  let f = 0;
  while (Date.now() < end) {
    f = await framesNow(page);
    if (f >= n) return f;
    const err = await page.evaluate(() => (globalThis as unknown as { __whep?: { error: string | null } }).__whep?.error ?? null);
    if (err) throw new Error(`player error: ${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return f;
}
/** First time after `t` at which the page had decoded more frames than it had at `t`. */
function firstNewFrame(log: FrameLog, t: number): number | undefined {
  const base = [...log].reverse().find(([at]) => at <= t)?.[1] ?? 0;
  return log.find(([at, f]) => at > t && f > base)?.[0];
}

describe.skipIf(!haveChromium || !haveFfmpeg)('real encoders into Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  it('ffmpeg baseline -bf 0 plays; leaving the page sends DELETE (pagehide)', async () => {
    await openRelay();
    startEncoder('ffmpeg', ffmpegArgs({ port: ingestPort(), profile: 'baseline' }));
    const page = await openPlayer(browser);
    expect(await waitFrames(page, 30, 30_000)).toBeGreaterThanOrEqual(30);
    expect(cam().viewers.size).toBe(1);
    await page.close({ runBeforeUnload: true });
    expect(await until(() => cam().viewers.size === 0, 5000)).toBe(true);
    expect(cam().closed.deleted).toBe(1);
    expect(logs.join('\n')).not.toMatch(/warning/);
  }, 60_000);

  it.skipIf(fanoutUnavailableReason() !== undefined).each(['SRTP_AES128_CM_HMAC_SHA1_80', 'SRTP_AEAD_AES_128_GCM'] as const)(
    'a live ffmpeg stream plays on the fast egress with %s',
    async (profile) => {
      const undo = forceSrtpProfile(werift, profile);
      try {
        await openRelay();
        startEncoder('ffmpeg', ffmpegArgs({ port: ingestPort(), profile: 'baseline' }));
        const page = await openPlayer(browser);
        expect(await waitFrames(page, 30, 30_000)).toBeGreaterThanOrEqual(30);
        const [viewer] = cam().viewers;
        expect(viewer.egress).toBe('fast');
        expect(negotiatedProfile(viewer.senders())).toBe(SRTP_PROFILES[profile]);
        const t = relay!.fast!.fanout!.totals;
        expect(t.oversize + t.errors).toBe(0);
        expect(cam().counters.ingestOversize).toBe(0);
        await page.close();
      } finally {
        undo();
      }
    },
    60_000,
  );

  it('ffmpeg high profile -bf 0 plays, no B-frame warning', async () => {
    await openRelay();
    startEncoder('ffmpeg', ffmpegArgs({ port: ingestPort(), profile: 'high', bframes: 0 }));
    const page = await openPlayer(browser);
    expect(await waitFrames(page, 30, 30_000)).toBeGreaterThanOrEqual(30);
    expect(cam().counters.bframes).toBe(0);
    await page.close();
  }, 60_000);

  it('SPS/PPS only in the SDP (ffmpeg -flags +global_header): a late joiner plays within one GOP', async () => {
    // The operator's workflow: ffmpeg writes its SDP, the relay reads it (port, payload types, sprop-parameter-sets).
    const sdpFile = join(tmp, 'cam.sdp');
    const probe = startEncoder('ffmpeg', [...ffmpegArgs({ port: 9, globalHeader: true, sdpFile, seconds: 0.2 })]);
    await probe.exited;
    const sdp = readFileSync(sdpFile, 'utf8');
    expect(sdp).toMatch(/sprop-parameter-sets=/);
    await openRelay({ port: 0, sdp });
    startEncoder('ffmpeg', ffmpegArgs({ port: ingestPort(), globalHeader: true, gop: 30 }));
    // Join late: after the first keyframes have gone by.
    expect(await until(() => cam().counters.keyframes >= 2, 20_000)).toBe(true);
    const joinedAt = Date.now();
    const page = await openPlayer(browser);
    expect(await waitFrames(page, 30, 30_000)).toBeGreaterThanOrEqual(30);
    const first = firstNewFrame(await frameLog(page), 0)!;
    console.log(`recovery: SPS-in-SDP late join (page load) -> first decoded frame ${first - joinedAt} ms (of which waiting at the relay for a keyframe once connected: ${cam().counters.keyframeWaitMs} ms)`);
    expect(cam().counters.parameterSetsSent).toBeGreaterThanOrEqual(1);
    await page.close();
  }, 60_000);

  it.skipIf(!haveGstreamer)('GStreamer sending SPS/PPS once: a late joiner plays within one GOP', async () => {
    await openRelay();
    // GStreamer repeats SPS/PPS before every IDR; this hop passes only the first ones and
    // renumbers the rest (no sequence gaps), exactly what an SPS-once encoder sends.
    const hop = dgram.createSocket('udp4');
    await new Promise<void>((r) => hop.bind(0, '127.0.0.1', () => r()));
    const out = dgram.createSocket('udp4');
    let passed = 0;
    let removed = 0;
    hop.on('message', (m) => {
      const h = parseRtpHeader(m);
      if (h && h.payloadType === 96) {
        const nal = m[h.payloadOffset] & 0x1f;
        const inner = nal === 24 ? m[h.payloadOffset + 3] & 0x1f : nal;
        if (inner === 7 || inner === 8) {
          if (passed >= 2) {
            removed++;
            return;
          }
          passed++;
        }
        m.writeUInt16BE((h.sequenceNumber - removed) & 0xffff, 2);
      }
      out.send(m, ingestPort(), '127.0.0.1');
    });
    try {
      startEncoder('gst-launch-1.0', gstArgs({ port: hop.address().port }));
      expect(await until(() => cam().counters.keyframes >= 3 && removed > 0, 20_000)).toBe(true);
      const joinedAt = Date.now();
      const page = await openPlayer(browser);
      expect(await waitFrames(page, 30, 30_000)).toBeGreaterThanOrEqual(30);
      const first = firstNewFrame(await frameLog(page), 0)!;
      console.log(`recovery: GStreamer SPS-once late join (page load) -> first decoded frame ${first - joinedAt} ms (of which waiting at the relay for a keyframe once connected: ${cam().counters.keyframeWaitMs} ms)`);
      expect(cam().counters.parameterSetsSent).toBeGreaterThanOrEqual(1);
      await page.close();
    } finally {
      hop.close();
      out.close();
    }
  }, 60_000);

  it('encoder restarts with a backward sequence jump, a forward jump and a new SSRC: Chromium keeps playing on one SSRC', async () => {
    await openRelay();
    let enc = startEncoder('ffmpeg', ffmpegArgs({ port: ingestPort(), ssrc: 0x1111, seq: 30000, gop: 30 }));
    const page = await openPlayer(browser);
    expect(await waitFrames(page, 30, 30_000)).toBeGreaterThanOrEqual(30);
    const runs = [
      { ssrc: 0x1111, seq: 100, what: 'same SSRC, sequence numbers 29900 behind' },
      { ssrc: 0x1111, seq: 60000, what: 'same SSRC, sequence numbers far ahead' },
      { ssrc: 0x2222, seq: 5, what: 'new SSRC' },
    ];
    for (const run of runs) {
      await enc.kill();
      const restarts = cam().counters.sourceChanges.restart;
      const before = await framesNow(page);
      enc = startEncoder('ffmpeg', ffmpegArgs({ port: ingestPort(), ssrc: run.ssrc, seq: run.seq, gop: 30 }));
      const spawnedAt = Date.now();
      expect(await until(() => cam().counters.sourceChanges.restart >= restarts + 2, 15_000), enc.stderr()).toBe(true); // video and audio
      const lockedAt = Date.now();
      expect(await waitFrames(page, before + 30, 15_000)).toBeGreaterThanOrEqual(before + 30);
      const again = firstNewFrame(await frameLog(page), lockedAt)!;
      console.log(`recovery: restart (${run.what}): encoder spawn -> relay locked ${lockedAt - spawnedAt} ms, relay locked -> frames again ${again - lockedAt} ms`);
    }
    // One outgoing video SSRC for the whole session.
    const ssrcs = await page.evaluate(async () => {
      type Stats = { forEach(cb: (s: { type: string; kind?: string; ssrc?: number }) => void): void };
      const w = (globalThis as unknown as { __whep: { pc: { getStats(): Promise<Stats> } } }).__whep;
      const out: number[] = [];
      (await w.pc.getStats()).forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') out.push(s.ssrc!);
      });
      return out;
    });
    expect(ssrcs).toHaveLength(1);
    const text = await metrics();
    expect(metric(text, 'rtp_relay_source_changes_total{stream="cam",kind="restart"}')).toBe(6);
    await page.close();
  }, 150_000); // the sum of its bounded waits (30 s + 3 × 30 s) and the encoder restarts: ~20 s idle, more on a busy machine
});

describe.skipIf(!haveChromium || !haveFfmpeg)('a page that vanishes without DELETE', () => {
  it('is reaped within 10 s (no STUN consent, no RTCP)', async () => {
    await openRelay();
    startEncoder('ffmpeg', ffmpegArgs({ port: ingestPort(), size: '320x240' }));
    // Its own browser, so it can be killed like a crashed or closed tab: no DELETE, no DTLS close.
    const { server, browser } = await launchChromiumServer();
    try {
      const page = await openPlayer(browser);
      expect(await waitFrames(page, 15, 30_000)).toBeGreaterThanOrEqual(15);
      expect(cam().viewers.size).toBe(1);
      const killedAt = Date.now();
      server.process().kill('SIGKILL');
      expect(await until(() => cam().viewers.size === 0, 15_000)).toBe(true);
      const reaped = Date.now() - killedAt;
      console.log(`recovery: vanished page reaped after ${reaped} ms`);
      expect(reaped).toBeLessThanOrEqual(10_000);
      expect(cam().closed.silent).toBe(1);
    } finally {
      await server.close().catch(() => {});
    }
  }, 60_000);
});

// ---------------------------------------------------------------- werift viewers

/** A werift viewer of stream `cam` (the other werift build, its own sockets), answered by the relay and connected. */
async function weriftViewer(): Promise<{ pc: ViewerPc; video: number[]; audio: number[] }> {
  const { pc, sdp } = await makeOffer();
  const v = { pc, video: [] as number[], audio: [] as number[] };
  pc.onTrack.subscribe((t) => t.onReceiveRtp.subscribe((p) => (t.kind === 'video' ? v.video : v.audio).push(p.header.sequenceNumber)));
  const res = await fetch(`http://127.0.0.1:${relay!.httpPort}/whep/cam`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: sdp });
  expect(res.status).toBe(201);
  await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
  // ICE + DTLS: seconds on an idle machine, more on a busy one.
  expect(await until(() => [...cam().viewers].some((x) => x.connected), 30_000), `closed: ${JSON.stringify(cam().closed)}`).toBe(true);
  return v;
}

describe.skipIf(!haveFfmpeg)('real encoders, werift viewers', () => {
  it('high profile with B-frames: one warning naming -bf 0, and the metric', async () => {
    await openRelay();
    startEncoder('ffmpeg', ffmpegArgs({ port: ingestPort(), profile: 'high', bframes: 2 }));
    expect(await until(() => logs.some((l) => l.includes('B-frames')), 20_000)).toBe(true);
    expect(await until(() => cam().counters.bframes > 10, 10_000)).toBe(true);
    expect(logs.filter((l) => l.includes('B-frames'))).toHaveLength(1);
    expect(logs.join('\n')).toContain('-bf 0');
    const text = await metrics();
    expect(metric(text, 'rtp_relay_warnings_total{stream="cam",kind="bframes"}')).toBe(1);
    expect(metric(text, 'rtp_relay_bframes_total{stream="cam"}')).toBeGreaterThan(10);
  }, 60_000);

  it('4 spoofed RTP packets and a garbage flood from other ports change nothing a viewer sees', async () => {
    await openRelay();
    // Loss the kernel reports (a full receive queue) at the two sockets on the path: the
    // ingest socket and the viewer's ICE socket (/proc/net/udp drops; none on an idle machine).
    const ingestDrops0 = udpDrops(ingestPort());
    startEncoder('ffmpeg', ffmpegArgs({ port: ingestPort() }));
    const v = await weriftViewer();
    const viewerPort = candidatePort(v.pc);
    const viewerDrops0 = udpDrops(viewerPort);
    const kernelDrops = (): number => udpDrops(ingestPort()) - ingestDrops0 + (udpDrops(viewerPort) - viewerDrops0);
    try {
      expect(await until(() => v.video.length > 60 && v.audio.length > 20, 20_000)).toBe(true);
      const waits = cam().counters.keyframeWaits;
      const stalls0 = cam().counters.stalls;
      const sock = dgram.createSocket('udp4');
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
      const send = (b: Buffer): Promise<void> => new Promise((r) => sock.send(b, ingestPort(), '127.0.0.1', () => r()));
      const owner = cam().sources().video!;
      for (let i = 0; i < 4; i++) {
        const spoof = Buffer.alloc(200);
        spoof[0] = 0x80;
        spoof[1] = 96;
        spoof.writeUInt16BE((Math.random() * 65536) >>> 0, 2);
        spoof.writeUInt32BE((Math.random() * 2 ** 32) >>> 0, 4);
        spoof.writeUInt32BE(i < 2 ? owner.ssrc : (Math.random() * 2 ** 32) >>> 0, 8); // the owner's SSRC too
        spoof[12] = 0x65; // an IDR slice
        await send(spoof);
      }
      const invalid0 = cam().counters.ingestInvalid;
      const junkDrops0 = udpDrops(ingestPort());
      const junk = Buffer.alloc(300);
      for (let i = 0; i < 2000; i++) {
        junk.writeUInt32BE((i * 2654435761) >>> 0, 0);
        junk[0] &= 0x3f; // not RTP version 2
        await send(junk);
      }
      sock.close();
      // Every garbage datagram is counted as invalid by the relay, or was dropped by the kernel
      // at the ingest socket: wait until the relay has read past the flood (on a busy machine
      // it reads its 4 MiB queue seconds behind), then for the stream to go on after it.
      const junkAccounted = (): number => cam().counters.ingestInvalid - invalid0 + (udpDrops(ingestPort()) - junkDrops0);
      expect(await until(() => junkAccounted() >= 2000, 30_000), `${junkAccounted()} of 2000 accounted`).toBe(true);
      const n = v.video.length;
      expect(await until(() => v.video.length > n + 90, 15_000)).toBe(true);
      // Every packet arrived, except what the kernel dropped on the way; with such loss the
      // viewer NACKs and werift's retransmissions arrive late, so holes are counted, not order.
      const lost = kernelDrops();
      expect(missingSeqs(v.video), `kernel drops ${lost}`).toBeLessThanOrEqual(lost);
      expect(missingSeqs(v.audio), `kernel drops ${lost}`).toBeLessThanOrEqual(lost);
      if (lost === 0) expect(contiguous(v.video) && contiguous(v.audio)).toBe(true);
      // Never re-gated by the spoofed packets: a keyframe wait since then is a stall (the
      // viewer fell behind on a busy machine), counted as such.
      expect(cam().counters.keyframeWaits - waits).toBe(cam().counters.stalls - stalls0);
      expect(cam().counters.ingestForeign).toBe(4);
      expect(cam().counters.ingestInvalid - invalid0).toBeGreaterThan(0);
      expect(cam().counters.ingestInvalid - invalid0).toBeLessThanOrEqual(2000);
      expect(cam().counters.sourceChanges).toMatchObject({ restart: 0, switch: 0 });
      const text = await metrics();
      expect(metric(text, 'rtp_relay_ingest_dropped_total{stream="cam",kind="foreign_source"}')).toBe(4);
      expect(metric(text, 'rtp_relay_viewers_frozen{stream="cam"}')).toBe(0);
    } finally {
      await v.pc.close();
    }
  }, 60_000);
});
