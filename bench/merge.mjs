#!/usr/bin/env node
/**
 * Replaces scenarios of a bench result with those of another run, then regenerates its
 * report: for re-measuring some scenarios (e.g. a newly written one) without re-running
 * the whole suite. Each replaced scenario gets a note naming the run it came from
 * (commit, start time, load), so the report never passes it off as part of the first run.
 *
 *   node bench/merge.mjs bench/results/<date>-<host>.json /tmp/run/<date>-<host>.json [id,id]
 */
import { readFile, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [target, source, ids] = process.argv.slice(2);
if (!target || !source) throw new Error('usage: merge.mjs TARGET.json SOURCE.json [id,id]');
const into = JSON.parse(await readFile(target, 'utf8'));
const from = JSON.parse(await readFile(source, 'utf8'));
const wanted = ids ? ids.split(',') : from.scenarios.map((s) => s.id);
for (const id of wanted) {
  const s = from.scenarios.find((x) => x.id === id);
  if (!s) throw new Error(`${source} has no scenario ${id}`);
  const origin = `Measured in a separate run (started ${from.startedAt}, commit ${from.env.git.commit?.slice(0, 10)}${from.env.git.dirty ? ' with uncommitted changes' : ''}, load at start ${[from.load.start.load1, from.load.start.load5, from.load.start.load15].map((x) => x.toFixed(2)).join(' / ')}) and merged into this report by bench/merge.mjs.`;
  const entry = { ...s, notes: [origin, ...(s.notes ?? [])], mergedFrom: { startedAt: from.startedAt, commit: from.env.git.commit, load: from.load } };
  const i = into.scenarios.findIndex((x) => x.id === id);
  if (i >= 0) into.scenarios[i] = entry;
  else into.scenarios.push(entry);
}
await writeFile(target, JSON.stringify(into, null, 2) + '\n');
const report = join(dirname(fileURLToPath(import.meta.url)), 'report.mjs');
const r = spawnSync(process.execPath, [report, target], { stdio: 'inherit' });
process.exit(r.status ?? 1);
