/**
 * A real browser plays the relay's demo stream: headless Chromium (Debian's `chromium`,
 * driven by playwright-core) opens the player page served by the relay, which speaks
 * WHEP to it; the test asserts video frames were decoded (`framesDecoded` from
 * `getStats()`) on each egress path: the fast one (native fan-out) with each SRTP profile
 * (forced per run, srtp-profile.ts), and werift's over the batching plug. Skipped with a
 * reason where Chromium is not installed (`.ci/run` installs it:
 * scripts/install-media-deps.sh).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import * as werift from 'werift';
import { startRelay, type Relay } from '../../src/relay/relay.js';
import type { EgressPath } from '../../src/relay/fast-egress.js';
import { fanoutUnavailableReason } from '../../src/fanout/index.js';
import { CHROMIUM, haveChromium, launchChromium } from './chromium.js';
import { SRTP_PROFILES, forceSrtpProfile, negotiatedProfile, type SrtpProfileName } from './srtp-profile.js';

const fastAvailable = fanoutUnavailableReason() === undefined;
const runs: { egress: EgressPath; profile?: SrtpProfileName }[] = [
  ...(fastAvailable ? [{ egress: 'fast' as const, profile: 'SRTP_AES128_CM_HMAC_SHA1_80' as const }, { egress: 'fast' as const, profile: 'SRTP_AEAD_AES_128_GCM' as const }] : []),
  { egress: 'werift' },
];

describe.skipIf(!haveChromium)(`headless Chromium plays the demo stream (${CHROMIUM})`, () => {
  let relay: Relay | undefined;
  let browser: Browser;
  let undoProfile: (() => void) | undefined;

  beforeAll(async () => {
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    undoProfile?.();
    await browser?.close();
    await relay?.stop();
  });

  it.each(runs)('decodes video frames through WHEP: egress $egress, SRTP $profile', async ({ egress, profile }) => {
    undoProfile = profile ? forceSrtpProfile(werift, profile) : undefined;
    relay = await startRelay({ httpPort: 0, webrtcPort: 0, werift, egress, log: () => {} });
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`http://127.0.0.1:${relay.httpPort}/?stream=demo`);
    const deadline = Date.now() + 30_000;
    let frames = 0;
    let state = '';
    while (Date.now() < deadline && frames < 30) {
      const r = await page.evaluate(async () => {
        // Runs in the page: the player's window.__whep (typed structurally; no DOM lib here).
        type Stats = { forEach(cb: (s: { type: string; kind?: string; framesDecoded?: number }) => void): void };
        const w = (globalThis as unknown as { __whep?: { pc: { getStats(): Promise<Stats>; connectionState: string }; error: string | null } }).__whep;
        if (!w) return { frames: 0, state: 'no player', error: null };
        let f = 0;
        (await w.pc.getStats()).forEach((s) => {
          if (s.type === 'inbound-rtp' && s.kind === 'video') f = s.framesDecoded ?? 0;
        });
        return { frames: f, state: w.pc.connectionState, error: w.error };
      });
      frames = r.frames;
      state = r.state;
      if (r.error) throw new Error(`player error: ${r.error}`);
      await new Promise((res) => setTimeout(res, 250));
    }
    expect(errors).toEqual([]);
    // Chromium's connectionState can pass through 'connecting' while a consent check waits
    // for the relay's STUN response on a loaded machine: wait for 'connected', do not sample once.
    const stateDeadline = Date.now() + 5000;
    while (state !== 'connected' && Date.now() < stateDeadline) {
      await new Promise((res) => setTimeout(res, 100));
      state = await page.evaluate(() => (globalThis as unknown as { __whep: { pc: { connectionState: string } } }).__whep.pc.connectionState);
    }
    expect(state).toBe('connected');
    expect(frames).toBeGreaterThanOrEqual(30);
    const udp = relay.udpStats()!;
    expect(udp.sent).toBeGreaterThan(0); // the browser's media left through the batched socket
    const demo = relay.streams.get('demo')!;
    expect(demo.counters.egressVideo).toBeGreaterThan(0);
    const [viewer] = demo.viewers;
    expect(viewer.egress).toBe(egress);
    if (egress === 'fast') {
      expect(negotiatedProfile(viewer.senders())).toBe(SRTP_PROFILES[profile!]);
      // werift sent no RTP on the tracks; the fan-out did, and nothing went over the MTU.
      expect((viewer.senders().video as { packetCount: number }).packetCount).toBe(0);
      const t = relay.fast!.fanout!.totals;
      expect(t.queued).toBeGreaterThan(0);
      expect(t.oversize + t.errors).toBe(0);
    }
    await page.close();
    await relay.stop();
    relay = undefined;
    undoProfile?.();
    undoProfile = undefined;
  }, 45_000);
});
