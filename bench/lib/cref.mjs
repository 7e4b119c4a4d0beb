/**
 * The C reference (bench/c/udp_ref.c), compiled at bench time with the system C
 * compiler into bench/results/tmp/ (git-ignored).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './proc.mjs';

export const CFLAGS = ['-O2', '-Wall', '-Wextra'];

/** { ok, path, cc, version, flags } or { ok: false, reason }. */
export async function buildCRef(root, tmpDir) {
  const which = await run('sh', ['-c', 'command -v cc || command -v gcc || command -v clang'], 5000);
  const cc = which.stdout.trim().split('\n')[0];
  if (!cc) return { ok: false, reason: 'no C compiler (cc/gcc/clang); scripts/install-bench-deps.sh installs gcc' };
  await mkdir(tmpDir, { recursive: true });
  const out = join(tmpDir, 'udp_ref');
  const src = join(root, 'bench', 'c', 'udp_ref.c');
  const r = await run(cc, [...CFLAGS, '-o', out, src], 60_000);
  if (r.code !== 0) return { ok: false, reason: `compiling bench/c/udp_ref.c failed: ${(r.stderr || String(r.error ?? '')).trim().slice(0, 300)}` };
  const v = await run(cc, ['--version'], 5000);
  return { ok: true, path: out, cc, version: v.stdout.split('\n')[0], flags: CFLAGS.join(' ') };
}
