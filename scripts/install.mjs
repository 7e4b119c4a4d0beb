#!/usr/bin/env node
// The package's install hook (`"install"` in package.json). Decides between the prebuilt
// addon shipped in prebuilds/ and a build from source, and never fails a consumer's install
// unless asked to:
//
// - a git checkout of this repository always builds from source (prebuilds/ there are
//   leftovers of packing, possibly older than the sources);
// - elsewhere, when a prebuilt addon matches this platform/arch/libc and loads, nothing is
//   built (no compiler, cmake-js or node-addon-api needed);
// - `npm install --build-from-source` (npm_config_build_from_source) builds from source;
// - otherwise (no prebuild fits, or it does not load) it tries a build from source, which
//   warns and leaves the node:dgram backend in place when it cannot happen.
//
// DGRAM_SENDMMSG_REQUIRE_NATIVE=1 (this repository's CI) makes a failed build fail the
// install. CI=true does not: a consumer's pipeline installs like any other machine.
// DGRAM_SENDMMSG_NATIVE=0 (the deliberate opt-out) skips all of it silently.
// Package managers that do not run install scripts (pnpm 10 by default, --ignore-scripts)
// never get here: the loader then finds the prebuild by itself at run time.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const strict = process.env.DGRAM_SENDMMSG_REQUIRE_NATIVE === '1';
const fromSourceFlag = ['true', '1', 'dgram-sendmmsg-native'].includes(process.env.npm_config_build_from_source ?? '');
const checkout = existsSync(join(root, '.git'));

if (process.env.DGRAM_SENDMMSG_NATIVE === '0' && !strict) process.exit(0);

if (!checkout && !fromSourceFlag) {
  const found = await prebuildThatLoads();
  if (found.ok) process.exit(0);
  if (process.platform === 'linux') console.log(`dgram-sendmmsg-native: ${found.reason}; building the addon from source.`);
}

const res = spawnSync(process.execPath, [join(root, 'scripts', 'build-native.mjs')], { stdio: 'inherit' });
process.exit(res.status ?? 1);

/** The prebuilt addon for this machine, loaded once to prove it works here (libc version, arch). */
async function prebuildThatLoads() {
  const locate = join(root, 'dist', 'native', 'locate.js');
  if (!existsSync(locate)) return { ok: false, reason: 'the package is not built (no dist/)' };
  const { findPrebuild } = await import(pathToFileURL(locate).href);
  const pre = findPrebuild(root);
  if (pre.path === null) return { ok: false, reason: pre.reason };
  try {
    const binding = createRequire(import.meta.url)(pre.path);
    if (typeof binding.UdpSocket !== 'function') return { ok: false, reason: `${pre.path} is not this package's addon` };
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: `the prebuilt addon ${pre.path} does not load here (${String(err.message).split('\n')[0]})` };
  }
}
