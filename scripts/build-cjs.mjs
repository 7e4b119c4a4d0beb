#!/usr/bin/env node
// The CommonJS build of the library entries (`require('dgram-sendmmsg-native')` and
// `require('dgram-sendmmsg-native/werift')`), next to the ESM build tsc writes to dist/:
// every library module of src/ (not the CLIs, which run as ESM) transpiled file by file with
// esbuild into dist/cjs/, which carries its own package.json {"type":"commonjs"}; the
// declarations come from tsconfig.cjs.json. File by file, not bundled, so both entries share
// one copy of each module (one addon load, one fallback warning) like the ESM build does.
//
// A process that loads the package both ways gets two copies (the dual-package hazard): a
// socket made by one copy is not `instanceof` the other's classes. The README says so.
import { build } from 'esbuild';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const out = join(root, 'dist', 'cjs');
/** Not part of the library: the CLIs (ESM only, run through their bins). */
const SKIP = new Set(['cli', 'relay']);

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return dir === src && SKIP.has(e.name) ? [] : walk(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

rmSync(out, { recursive: true, force: true });
const entryPoints = walk(src);
await build({
  entryPoints,
  outdir: out,
  outbase: src,
  bundle: false,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  sourcemap: false,
  logLevel: 'warning',
  // src/native/locate.ts reads import.meta.url only where __filename is missing (ESM).
  logOverride: { 'empty-import-meta': 'silent' },
});
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'package.json'), '{\n  "type": "commonjs"\n}\n');
console.log(`build-cjs: ${entryPoints.length} modules -> ${relative(root, out)}/`);
