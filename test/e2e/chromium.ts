/**
 * Debian's Chromium for the browser tests, driven by playwright-core: where it is, whether
 * it is installed (the tests skip with the path otherwise; `.ci/run` installs it), and the
 * one set of launch options they share — headless, no sandbox, WebRTC on loopback with
 * the 127.0.0.1 candidate shown as an IP (not an mDNS name), autoplay allowed, and the
 * environment without the sanitizer pass's preload (Chromium is not under test).
 * playwright gives each browser a fresh, temporary profile itself.
 */
import { existsSync } from 'node:fs';
import type { Browser, BrowserServer, LaunchOptions } from 'playwright-core';
import { unsanitizedEnv } from './encoders.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const haveChromium = existsSync(CHROMIUM);

function launchOptions(): LaunchOptions {
  return {
    executablePath: CHROMIUM,
    env: unsanitizedEnv(),
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--allow-loopback-in-peer-connection',
      '--disable-features=WebRtcHideLocalIpsWithMdns',
      '--autoplay-policy=no-user-gesture-required',
    ],
  };
}

/** A headless Chromium in this process's control; close it in afterAll. */
export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch(launchOptions());
}

/** A Chromium as a separate server process (it can be SIGKILLed like a crashed tab), and a connection to it. */
export async function launchChromiumServer(): Promise<{ server: BrowserServer; browser: Browser }> {
  const { chromium } = await import('playwright-core');
  const server = await chromium.launchServer(launchOptions());
  try {
    return { server, browser: await chromium.connect(server.wsEndpoint()) };
  } catch (err) {
    await server.close().catch(() => {});
    throw err;
  }
}
