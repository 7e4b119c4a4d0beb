/**
 * Builds the TypeScript once before any test file runs, so tests that spawn the CLI
 * (dist/cli/udp-blast.js) run the current sources, and parallel test files never race
 * on writing dist/.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const r = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], {
    cwd: root,
    encoding: 'utf8',
    timeout: 180_000,
  });
  if (r.status !== 0 || !existsSync(join(root, 'dist', 'cli', 'udp-blast.js'))) {
    throw new Error(`TypeScript build failed (exit ${r.status}):\n${r.stdout}${r.stderr}`);
  }
}
