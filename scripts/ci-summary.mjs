#!/usr/bin/env node
// Reads vitest's JSON report and prints the closing line CI reads: `N passed, N failed`
// (plus `, N skipped`). Exits 1 when anything failed, when a test file failed to run
// (counted as a failure), or when no test ran at all.
import { readFileSync } from 'node:fs';

const file = process.argv[2];
if (!file) {
  console.error('usage: ci-summary.mjs <vitest-json-report>');
  process.exit(2);
}
let report;
try {
  report = JSON.parse(readFileSync(file, 'utf8'));
} catch (err) {
  console.log(`vitest wrote no readable JSON report (${err.message})`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const passed = report.numPassedTests ?? 0;
let failed = report.numFailedTests ?? 0;
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
// A file that failed to load or crashed has no failing test of its own: count it.
const brokenFiles = (report.testResults ?? []).filter((r) => r.status === 'failed' && (r.assertionResults ?? []).every((a) => a.status !== 'failed'));
for (const r of brokenFiles) console.log(`test file failed outside any test: ${r.name}${r.message ? `: ${r.message.split('\n')[0]}` : ''}`);
failed += brokenFiles.length;
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
