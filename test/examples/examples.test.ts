/**
 * Runs every program in examples/ as a user would (the type-check is CI's
 * `tsc -p tsconfig.test.json`): each is compiled with esbuild — the package's own entries
 * (`dgram-sendmmsg-native`, `/werift`) mapped to src/ so the test sees the current sources —
 * into build/examples/, run with this Node, and must end on its own with exit code 0 and its
 * result line. Loopback only; each example bounds itself with a timeout.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const outDir = join(root, 'build', 'examples');
const examples = readdirSync(join(root, 'examples')).filter((f) => f.endsWith('.ts'));

/** What each example prints when it worked. */
const EXPECT: Record<string, RegExp> = {
  'quickstart.ts': /^sent 2 datagrams in \d+ send call\(s\), backend (batch|dgram)$/m,
  'werift-install.ts': /^shared-port: 0 datagrams sent$/m,
  'srtp-protect.ts': /^one packet: 19 -> 35 bytes -> same\nbatch: 10 packets protected in one call, 0 failed$/m,
  'relay-fanout.ts': /^viewers received: 200, 200, 200, 200$/m,
  'sink-for-await.ts': /^sink: 1000 datagrams, 1200000 bytes in \d+ batches/m,
  'werift-plug.ts': /^werift: 100 RTP packets received; plug .*"topology":"per-connection"/m,
};

function run(file: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: examples.map((f) => join(root, 'examples', f)),
    outdir: outDir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    alias: {
      'dgram-sendmmsg-native/werift': join(root, 'src', 'werift', 'index.ts'),
      'dgram-sendmmsg-native/srtp': join(root, 'src', 'srtp', 'index.ts'),
      'dgram-sendmmsg-native': join(root, 'src', 'index.ts'),
    },
    logLevel: 'error',
  });
}, 60_000);

describe('README', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');

  it('every TypeScript block is a whole program from examples/, verbatim (so it is type-checked and run)', () => {
    const blocks = [...readme.matchAll(/(?:<!-- example: (\S+) -->\n)?```ts\n([\s\S]*?)```/g)];
    expect(blocks.length).toBeGreaterThan(0);
    for (const [, file, code] of blocks) {
      expect(file, `a \`\`\`ts block without <!-- example: … --> above it:\n${code.slice(0, 200)}`).toBeTruthy();
      expect(code, `README block differs from ${file}`).toBe(readFileSync(join(root, file), 'utf8'));
    }
  });

  it('links only to files the repository has', () => {
    const links = [...readme.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)].map((m) => m[1]).filter((l) => !/^[a-z]+:/.test(l));
    expect(links.length).toBeGreaterThan(0);
    for (const l of links) expect(existsSync(join(root, l)), `README links to ${l}`).toBe(true);
  });
});

describe('examples/', () => {
  it('has the documented programs, each with an expected result', () => {
    expect(examples.sort()).toEqual(Object.keys(EXPECT).sort());
  });
  for (const name of examples) {
    it(`${name} runs to completion on loopback`, async () => {
      const r = await run(join(outDir, name.replace(/\.ts$/, '.mjs')));
      expect(r.stderr.replace(/^.*ExperimentalWarning.*$/gm, '').trim(), r.stderr).toBe('');
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(EXPECT[name]);
    }, 45_000);
  }
});
