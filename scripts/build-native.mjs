#!/usr/bin/env node
// Builds the native addon from source with cmake-js (Release, N-API headers from
// node-api-headers, so nothing is downloaded) into build/Release/. Used by the install hook
// (scripts/install.mjs) when no prebuilt addon fits, by `npm run build:native`, and by the
// sanitizer scripts (extra cmake-js arguments after `--`, e.g.
// `-- --CDSANITIZE=ON --out build-asan`).
//
// A failed build exits 1 when the build is required — `--required` (`npm run build:native`)
// or DGRAM_SENDMMSG_REQUIRE_NATIVE=1 (this repository's CI) — and otherwise warns and exits
// 0: the package then runs on the node:dgram backend. CI=true alone does not make it
// required: a consumer's pipeline must install fine where the addon cannot be built.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const sep = args.indexOf('--');
const extra = sep >= 0 ? args.slice(sep + 1) : [];
const own = sep >= 0 ? args.slice(0, sep) : args;
const required = own.includes('--required') || process.env.DGRAM_SENDMMSG_REQUIRE_NATIVE === '1';
const ADVICE =
  'install cmake and a C++17 compiler, add the build tools (`npm install --save-dev cmake-js node-addon-api`), then run `npm rebuild dgram-sendmmsg-native`';

function giveUp(msg) {
  if (required) {
    console.error(`dgram-sendmmsg-native: ${msg}`);
    process.exit(1);
  }
  console.warn(`dgram-sendmmsg-native: ${msg}; the node:dgram backend will be used (no batching). To build the addon, ${ADVICE}.`);
  process.exit(0);
}

if (process.platform !== 'linux') giveUp(`the native addon is Linux only (this is ${process.platform})`);

const require = createRequire(join(root, 'package.json'));
let cmakeJs;
try {
  cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
  require.resolve('node-addon-api');
} catch {
  giveUp('cannot build the native addon: cmake-js and node-addon-api (build tools, not runtime dependencies) are not installed');
}
const res = spawnSync(process.execPath, [cmakeJs, 'compile', '--directory', root, ...extra], { stdio: 'inherit', cwd: root });
if (res.status !== 0) giveUp(`native build failed (cmake-js exit ${res.status ?? res.signal})`);
