/**
 * Where the native addon of this package is on disk, for both module formats (the ESM build
 * in `dist/` and the CommonJS build in `dist/cjs/`).
 *
 * Order, first existing wins:
 * 1. `DGRAM_SENDMMSG_NATIVE_PATH` (a `.node` file; used by the sanitizer builds);
 * 2. a build from source: `build/Release/dgram_sendmmsg_native.node` (cmake-js), then
 *    `build/Debug/…`;
 * 3. a prebuilt binary shipped in the package, `prebuilds/<platform>-<arch>/*.node`, picked
 *    by node-gyp-build's matcher (platform, arch, libc = glibc/musl, N-API), the loader
 *    used by most native packages that ship prebuilds.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's name, as in package.json: the root is the nearest directory that says so. */
export const PACKAGE_NAME = 'dgram-sendmmsg-native';
/** File name cmake-js gives the addon built from source. */
export const ADDON_FILE = 'dgram_sendmmsg_native.node';

/**
 * This module's own file, in either module format: `__filename` exists in the CommonJS
 * build, `import.meta.url` in the ESM build (the `typeof` guard keeps the CommonJS build
 * from evaluating `import.meta`).
 */
export const moduleFile: string = typeof __filename === 'string' ? __filename : fileURLToPath(import.meta.url);

/** A `require` usable from both module formats (loads `.node` files and CommonJS packages). */
export const requireHere: NodeJS.Require = createRequire(moduleFile);

let root: string | undefined;

/**
 * The package root: the nearest directory above this module whose package.json is named
 * {@link PACKAGE_NAME}. Works from `src/native/`, `dist/native/` and `dist/cjs/native/`.
 */
export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(moduleFile);
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === PACKAGE_NAME) return (root = dir);
      } catch {
        // unreadable package.json: keep walking up
      }
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  // Not found (a bundler moved this file): fall back to the layout of the published package.
  return (root = join(dirname(moduleFile), '..', '..'));
}

/** node-gyp-build's resolver: `(dir) => path` of the best match, throws when none matches. */
type GypBuildResolve = (dir: string) => string;

/**
 * The prebuilt binary matching this platform, arch and libc in `<root>/prebuilds/`, or the
 * reason there is none (e.g. `no prebuilt addon for linux-riscv64 (glibc)`).
 */
export function findPrebuild(pkgRoot: string = packageRoot()): { path: string } | { path: null; reason: string } {
  const target = `${process.platform}-${process.arch}`;
  const dir = join(pkgRoot, 'prebuilds');
  if (!existsSync(dir)) return { path: null, reason: `this copy of the package has no prebuilt addons (no ${dir})` };
  let resolve: GypBuildResolve;
  try {
    resolve = (requireHere('node-gyp-build') as { resolve: GypBuildResolve }).resolve;
  } catch (err) {
    return { path: null, reason: `node-gyp-build, which picks the prebuilt addon, cannot be loaded (${(err as Error).message})` };
  }
  // node-gyp-build looks in <dir>/build first, then <dir>/prebuilds: hand it the prebuilds'
  // parent only when that cannot pick up a build from source (which we try separately).
  try {
    const path = resolve(pkgRoot);
    if (path.startsWith(dir)) return { path };
    // A build from source exists and shadows the prebuilds in node-gyp-build's order; it is
    // already a candidate of its own, so report the prebuild as absent.
    return { path: null, reason: `a build from source (${path}) takes precedence` };
  } catch {
    return { path: null, reason: `no prebuilt addon for ${target}${process.platform === 'linux' ? ` (${libc()})` : ''}` };
  }
}

/** glibc or musl, as node-gyp-build tells them apart. */
function libc(): string {
  return process.env.LIBC || (existsSync('/etc/alpine-release') ? 'musl' : 'glibc');
}

/**
 * Every place to try, in order (see the module doc). `prebuildReason` explains a missing
 * prebuild, for the fallback warning.
 */
export function addonCandidates(): { paths: string[]; prebuildReason: string | null } {
  const pkgRoot = packageRoot();
  const paths: string[] = [];
  const fromEnv = process.env.DGRAM_SENDMMSG_NATIVE_PATH;
  if (fromEnv) paths.push(fromEnv);
  for (const flavor of ['Release', 'Debug']) {
    const p = join(pkgRoot, 'build', flavor, ADDON_FILE);
    if (existsSync(p)) paths.push(p);
  }
  const pre = findPrebuild(pkgRoot);
  if (pre.path !== null) paths.push(pre.path);
  return { paths, prebuildReason: pre.path === null && paths.length === 0 ? pre.reason : null };
}
