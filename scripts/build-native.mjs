#!/usr/bin/env node
// Builds the native addon with cmake-js (Release, N-API headers from node-api-headers,
// so nothing is downloaded). Run by `npm install`/`npm ci` through the "install" script.
//
// On a platform or machine where the addon cannot be built, installation still succeeds
// and the library falls back to the node:dgram backend with one warning at run time —
// unless the build is required: `--required`, CI=true, or DGRAM_SENDMMSG_REQUIRE_NATIVE=1,
// where a failed build fails the install.
//
// Extra arguments after `--` go to cmake-js (e.g. `-- --CDSANITIZE=ON --out build-asan`).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const sep = args.indexOf('--');
const extra = sep >= 0 ? args.slice(sep + 1) : [];
const own = sep >= 0 ? args.slice(0, sep) : args;
const required = own.includes('--required') || process.env.CI === 'true' || process.env.DGRAM_SENDMMSG_REQUIRE_NATIVE === '1';

if (process.platform !== 'linux' && !required) {
  console.warn(`dgram-sendmmsg-native: no native build on ${process.platform}; the node:dgram backend will be used.`);
  process.exit(0);
}

const require = createRequire(import.meta.url);
const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
const res = spawnSync(process.execPath, [cmakeJs, 'compile', '--directory', root, ...extra], { stdio: 'inherit', cwd: root });
if (res.status !== 0) {
  const msg = `dgram-sendmmsg-native: native build failed (exit ${res.status ?? res.signal}).`;
  if (required) {
    console.error(msg);
    process.exit(1);
  }
  console.warn(`${msg} The node:dgram backend will be used. Install cmake and a C++17 compiler, then run \`npm run build:native\`.`);
}
