/**
 * The C references of the benchmark suite, compiled at bench time with the system C
 * compiler into bench/results/tmp/ (git-ignored):
 *   bench/c/udp_ref.c       the UDP send ceiling (sendto/sendmmsg/GSO) and a blackhole receiver
 *   bench/c/srtp_fanout.c   the relay egress ceiling: SRTP protect (OpenSSL EVP) + sendmmsg
 *                           fan-out, its draining receiver, and an RFC test-vector selftest;
 *                           links libcrypto (Debian libssl-dev: scripts/install-system-deps.sh
 *                           --bench, scripts/install-bench-deps.sh)
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './proc.mjs';

export const CFLAGS = ['-O2', '-Wall', '-Wextra'];

async function findCc() {
  const which = await run('sh', ['-c', 'command -v cc || command -v gcc || command -v clang'], 5000);
  return which.stdout.trim().split('\n')[0];
}

/** Compiles bench/c/<name>.c; { ok, path, cc, version, flags } or { ok: false, reason }. */
async function compile(root, tmpDir, name, libs = []) {
  const cc = await findCc();
  if (!cc) return { ok: false, reason: 'no C compiler (cc/gcc/clang); scripts/install-bench-deps.sh installs gcc' };
  await mkdir(tmpDir, { recursive: true });
  const out = join(tmpDir, name);
  const src = join(root, 'bench', 'c', `${name}.c`);
  const r = await run(cc, [...CFLAGS, '-o', out, src, ...libs], 60_000);
  if (r.code !== 0) return { ok: false, reason: `compiling bench/c/${name}.c failed: ${(r.stderr || String(r.error ?? '')).trim().slice(0, 300)}` };
  // -Wall -Wextra must stay silent: a warning is a defect of the reference.
  if (r.stderr.trim()) return { ok: false, reason: `bench/c/${name}.c compiled with warnings: ${r.stderr.trim().slice(0, 300)}` };
  const v = await run(cc, ['--version'], 5000);
  return { ok: true, path: out, cc, version: v.stdout.split('\n')[0], flags: [...CFLAGS, ...libs].join(' ') };
}

/** The UDP send reference (udp_ref). */
export async function buildCRef(root, tmpDir) {
  return compile(root, tmpDir, 'udp_ref');
}

/**
 * The relay egress ceiling (srtp_fanout), built and checked against the RFC 3711 / RFC 7714
 * test vectors (`srtp_fanout selftest`) before any figure of it is used.
 */
export async function buildSrtpFanout(root, tmpDir) {
  const c = await compile(root, tmpDir, 'srtp_fanout', ['-lcrypto']);
  if (!c.ok) {
    if (/openssl\/\w+\.h|lcrypto/.test(c.reason)) c.reason += ' — OpenSSL headers/libcrypto missing: install Debian libssl-dev (scripts/install-system-deps.sh --bench)';
    return c;
  }
  const st = await run(c.path, ['selftest'], 15_000);
  if (st.code !== 0) return { ok: false, path: c.path, reason: `srtp_fanout selftest (RFC test vectors) failed: ${st.stderr.trim().split('\n').slice(-3).join(' | ')}` };
  const ssl = await run('openssl', ['version'], 5000);
  return { ...c, selftest: 'RFC 3711 B.2/B.3, RFC 7714 16.1.1 passed', openssl: ssl.stdout.trim() || null };
}
