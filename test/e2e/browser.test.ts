/**
 * A real browser plays the relay's demo stream: headless Chromium (Debian's `chromium`,
 * driven by playwright-core) opens the player page served by the relay, which speaks
 * WHEP to it; the test asserts video frames were decoded (`framesDecoded` from
 * `getStats()`) with the batching plug on. Skipped with a reason where Chromium is not
 * installed (`.ci/run` installs it: scripts/install-media-deps.sh).
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import * as werift from 'werift';
import { startRelay, type Relay } from '../../src/relay/relay.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);

describe.skipIf(!haveChromium)(`headless Chromium plays the demo stream (${CHROMIUM})`, () => {
  let relay: Relay;
  let browser: Browser;

  beforeAll(async () => {
    relay = await startRelay({ httpPort: 0, webrtcPort: 0, werift });
    const { chromium } = await import('playwright-core');
    // playwright gives the browser a fresh empty profile (a temporary user-data-dir) itself.
    // The sanitizer pass (npm run test:asan) preloads libasan into this process; Chromium
    // must not inherit it.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'LD_PRELOAD' && !k.startsWith('ASAN_') && !k.startsWith('UBSAN_'))) as Record<string, string>;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      env,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        // WebRTC on loopback: gather the 127.0.0.1 candidate, and show it as an IP, not an mDNS name.
        '--allow-loopback-in-peer-connection',
        '--disable-features=WebRtcHideLocalIpsWithMdns',
        '--autoplay-policy=no-user-gesture-required',
      ],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await relay?.stop();
  });

  it('decodes video frames through WHEP with batching on', async () => {
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
    expect(relay.streams.get('demo')!.counters.egressVideo).toBeGreaterThan(0);
  }, 45_000);
});
