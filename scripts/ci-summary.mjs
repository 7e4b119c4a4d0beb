#!/usr/bin/env node
// Reads one or more result files and prints the closing line CI reads: `N passed, N failed`
// (plus `, N skipped`), summed over all of them. Exits 1 when anything failed, when a test
// file failed to run (counted as a failure), when a result file is missing or unreadable
// (counted as one failure), or when no test ran at all.
//
//   ci-summary.mjs <file> [<file> ...]        each file optionally prefixed `label=`
//
// A file is either
//   - a vitest JSON report (`--reporter=json --outputFile.json=<file>`), or
//   - a check verdict written by one of our scripts (the soak, the sanitizer detector):
//     `{ "check": "<name>", "passed": true|false, "detail": "..." }`, counted as one test.
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
if (args.length === 0) {
  console.error('usage: ci-summary.mjs [label=]<vitest-json-report | check-verdict.json> ...');
  process.exit(2);
}

let passed = 0;
let failed = 0;
let skipped = 0;
const multi = args.length > 1;

for (const arg of args) {
  const eq = arg.indexOf('=');
  const label = eq > 0 ? arg.slice(0, eq) : arg;
  const file = eq > 0 ? arg.slice(eq + 1) : arg;
  let report;
  try {
    report = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    console.log(`${label}: no readable result (${err.message}) — counted as 1 failed`);
    failed += 1;
    continue;
  }
  if (typeof report.check === 'string') {
    const ok = report.passed === true;
    console.log(`${label}: check "${report.check}" ${ok ? 'passed' : 'FAILED'}${report.detail ? ` — ${report.detail}` : ''}`);
    if (ok) passed += 1;
    else failed += 1;
    continue;
  }
  const p = report.numPassedTests ?? 0;
  let f = report.numFailedTests ?? 0;
  const s = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  // A file that failed to load or crashed has no failing test of its own: count it.
  const brokenFiles = (report.testResults ?? []).filter((r) => r.status === 'failed' && (r.assertionResults ?? []).every((a) => a.status !== 'failed'));
  for (const r of brokenFiles) console.log(`${multi ? `${label}: ` : ''}test file failed outside any test: ${r.name}${r.message ? `: ${r.message.split('\n')[0]}` : ''}`);
  f += brokenFiles.length;
  if (p + f === 0) {
    console.log(`${label}: no test ran — counted as 1 failed`);
    f = 1;
  }
  if (multi) console.log(`${label}: ${p} passed, ${f} failed${s ? `, ${s} skipped` : ''}`);
  passed += p;
  failed += f;
  skipped += s;
}

console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
