#!/usr/bin/env node
// Builds the prebuilt N-API binaries shipped in the npm package, one per target, into
// prebuilds/<platform>-<arch>/dgram-sendmmsg-native.napi.glibc.node — the layout and tags
// node-gyp-build (our loader, src/native/locate.ts) matches at run time. Run by `npm pack` /
// `npm publish` (the "prepack" script); prebuilds/ is not committed.
//
//   node scripts/prebuild.mjs [--target linux-x64] [--target linux-arm64]   (default: both)
//
// linux-x64 uses the host's g++, linux-arm64 Debian's cross compiler g++-aarch64-linux-gnu
// (`scripts/install-system-deps.sh --cross`). Each binary is stripped and checked: ELF
// machine of the target, and the newest glibc and libstdc++ symbol versions it needs
// (printed; it loads where both are at least that new). The C++ runtime stays dynamic on
// purpose: linking libstdc++ statically would pull in symbols of the build machine's newer
// glibc (arc4random, _dl_find_object) and raise the floor from glibc 2.32 to 2.36. One N-API 8 build serves every Node
// version from 20 on. An x64 binary is also loaded here to prove it is this package's addon;
// scripts/test-package.mjs runs the arm64 one under qemu-user.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const TARGETS = {
  'linux-x64': { cxx: 'g++', strip: 'strip', objdump: 'objdump', elfMachine: 62, cmakeArch: 'x64', processor: 'x86_64' },
  'linux-arm64': { cxx: 'aarch64-linux-gnu-g++', strip: 'aarch64-linux-gnu-strip', objdump: 'aarch64-linux-gnu-objdump', elfMachine: 183, cmakeArch: 'arm64', processor: 'aarch64' },
};
const FILE = 'dgram-sendmmsg-native.napi.glibc.node';

const argv = process.argv.slice(2);
const wanted = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--target' && argv[i + 1]) wanted.push(argv[++i]);
  else fail(`unknown argument ${argv[i]} (usage: prebuild.mjs [--target linux-x64|linux-arm64]...)`);
}
const targets = wanted.length ? wanted : Object.keys(TARGETS);
for (const t of targets) if (!TARGETS[t]) fail(`unknown target ${t} (known: ${Object.keys(TARGETS).join(', ')})`);
if (process.platform !== 'linux') fail('prebuilt binaries are built on Linux');

const cmakeJs = join(dirname(createRequire(import.meta.url).resolve('cmake-js/package.json')), 'bin', 'cmake-js');
rmSync(join(root, 'prebuilds'), { recursive: true, force: true });

for (const name of targets) {
  const t = TARGETS[name];
  if (!onPath(t.cxx)) fail(`${t.cxx} is not installed (bash scripts/install-system-deps.sh --cross)`);
  const out = join(root, 'build-prebuild', name);
  rmSync(out, { recursive: true, force: true });
  const cross = t.cxx === 'g++' ? [] : [`--CDCMAKE_SYSTEM_NAME=Linux`, `--CDCMAKE_SYSTEM_PROCESSOR=${t.processor}`];
  const started = Date.now();
  run(process.execPath, [cmakeJs, 'compile', '--directory', root, '--out', out, '--arch', t.cmakeArch, `--CDCMAKE_CXX_COMPILER=${t.cxx}`, ...cross], `cmake-js build for ${name}`);
  const built = join(out, 'Release', 'dgram_sendmmsg_native.node');
  const dest = join(root, 'prebuilds', name, FILE);
  mkdirSync(dirname(dest), { recursive: true });
  copyFileSync(built, dest);
  run(t.strip, ['--strip-unneeded', dest], `strip ${name}`);

  const machine = readFileSync(dest).readUInt16LE(18);
  if (machine !== t.elfMachine) fail(`${dest}: ELF machine ${machine}, expected ${t.elfMachine} for ${name}`);
  const dyn = spawnSync(t.objdump, ['-p', dest], { encoding: 'utf8' }).stdout;
  const needed = [...dyn.matchAll(/NEEDED\s+(\S+)/g)].map((m) => m[1]);
  const syms = spawnSync(t.objdump, ['-T', dest], { encoding: 'utf8' }).stdout;
  const glibc = newest(syms, /GLIBC_([\d.]+)/g);
  const glibcxx = newest(syms, /GLIBCXX_([\d.]+)/g);
  if (name === `${process.platform}-${process.arch}`) {
    const binding = createRequire(import.meta.url)(dest);
    if (typeof binding.UdpSocket !== 'function') fail(`${dest} loads but is not this package's addon`);
  }
  const size = readFileSync(dest).length;
  console.log(`prebuild: ${name} ${dest.slice(root.length + 1)} ${(size / 1024).toFixed(0)} KiB, needs ${needed.join(' ')}, glibc >= ${glibc}, libstdc++ GLIBCXX >= ${glibcxx}, ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/** Highest dotted version captured by `re` in `text` ('-' when none). */
function newest(text, re) {
  const versions = [...text.matchAll(re)].map((m) => m[1].split('.').map(Number));
  versions.sort((a, b) => {
    for (let i = 0; i < Math.max(a.length, b.length); i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (b[i] ?? 0) - (a[i] ?? 0);
    return 0;
  });
  return versions.length ? versions[0].join('.') : '-';
}

function onPath(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(r.stdout + r.stderr);
    fail(`${what} failed (exit ${r.status ?? r.signal})`);
  }
}

function fail(msg) {
  console.error(`prebuild: ${msg}`);
  process.exit(1);
}
