#!/usr/bin/env node
// Where the relay's CPU goes, every layer at once: runs scripts/measure-relay.mjs with
// --perf-record (perf record -e cpu-clock -g on the relay's PID over the measured window,
// JIT frames named through node --perf-basic-prof), then sorts the samples into the
// categories of bench/lib/perf-breakdown.mjs — the kernel's sendmmsg/recvmmsg, OpenSSL, the
// addon, the receive dispatch, the viewers' control traffic in JS, timers, the event-loop
// poll, V8's compiler threads — and prints them as a table with the heaviest leaf functions.
// `node --cpu-prof` (the bench's profile) sees only the JS thread's JS; this sees the rest.
//
//   node scripts/profile-relay.mjs [--streams 1] [--viewers 64] [--seconds 10] [--warmup 20]
//        [--egress fast] [--frequency 2000] [--keep FILE] [--json]
//
// Needs root (perf on another process; measure-relay's private network namespace), perf
// (Debian linux-perf: scripts/install-system-deps.sh --perf) and the built package. Shares are
// of the relay's samples (all threads); the run's CPU µs per forwarded packet is printed too,
// inflated by perf's sampling (compare it with measure-relay's own, not with the bench).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { breakdown, parsePerfScript, topLeaves } from '../bench/lib/perf-breakdown.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    streams: { type: 'string', default: '1' },
    viewers: { type: 'string', default: '64' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '20' },
    egress: { type: 'string', default: 'fast' },
    frequency: { type: 'string', default: '2000' },
    keep: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});

const dir = mkdtempSync(join(tmpdir(), 'profile-relay-'));
const data = values.keep ?? join(dir, 'perf.data');
let mapFile;
try {
  const args = [join(root, 'scripts', 'measure-relay.mjs'), '--streams', values.streams, '--viewers', values.viewers, '--seconds', values.seconds, '--warmup', values.warmup, '--egress', values.egress, '--perf-record', data, '--perf-frequency', values.frequency];
  const run = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
  if (run.status !== 0) throw new Error(`measure-relay exited ${run.status ?? run.signal}`);
  const measured = JSON.parse(run.stdout);
  const pid = measured.perfRecord.relayPid;
  mapFile = `/tmp/perf-${pid}.map`;
  const script = spawnSync('perf', ['script', '-i', data, '-F', 'tid,ip,sym'], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (script.status !== 0) throw new Error(`perf script exited ${script.status}: ${script.stderr.trim().slice(-300)}`);
  const samples = parsePerfScript(script.stdout);
  const result = {
    streams: Number(values.streams),
    viewers: Number(values.viewers),
    egress: values.egress,
    relayPid: pid,
    relayCpuUsPerForwardedWhileSampled: measured.relayCpuUsPerForwarded,
    gsoShare: measured.gsoShare,
    ...breakdown(samples, pid),
    topLeaves: topLeaves(samples, 15),
  };
  if (values.json) {
    console.log(JSON.stringify(result, null, 2));
  } else {
    const pct = (x) => `${(100 * x).toFixed(1)} %`;
    console.log(`relay ${result.streams} stream(s) × ${result.viewers / Math.max(1, result.streams)} viewer(s), egress ${result.egress}: ${result.samples} samples over ${values.seconds} s at ${values.frequency} Hz; ${result.relayCpuUsPerForwardedWhileSampled} µs CPU per forwarded packet while sampled\n`);
    console.log('| where | share |\n|---|---|');
    for (const r of result.rows) console.log(`| ${r.label} | ${pct(r.share)} |`);
    console.log('\n| heaviest leaf functions (self) | share |\n|---|---|');
    for (const l of result.topLeaves) console.log(`| ${l.name.replace(/\|/g, '\\|').slice(0, 110)} | ${pct(l.share)} |`);
  }
} finally {
  if (mapFile && !values.keep) rmSync(mapFile, { force: true });
  rmSync(dir, { recursive: true, force: true });
}
