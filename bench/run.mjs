#!/usr/bin/env node
/**
 * The benchmark suite (issue 4): `npm run bench` (full), `npm run bench -- --quick`
 * (≤ 3 minutes), `npm run bench -- --smoke` (seconds; CI proof that every scenario still
 * runs — not a measurement).
 *
 * Options: --quick | --smoke | --full (default), --only id,id, --out DIR,
 *   --no-install (do not apt-get missing tools), --no-netns (run on the host loopback),
 *   --no-build (use dist/ as it is), --wait-quiet[=MINUTES] (first wait, up to MINUTES
 *   (default 10), for the 1-minute load average to fall below 0.25 per core), --cpu-prof (also
 *   profile the relay's fast egress with node --cpu-prof in the quick profile; the full
 *   profile always does).
 *
 * Steps: install missing tools (scripts/install-bench-deps.sh, host namespace), then
 * re-execute inside a private network namespace (unshare -n) with only loopback; build
 * dist/ (tsc) and the C reference; probe perf; record the environment; run each
 * scenario; write <out>/<date>-<host>[-profile].json and .md with SVG charts beside.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SCENARIOS } from './scenarios/index.mjs';
import { collectEnv, loadavg, toolVersions } from './lib/env.mjs';
import { enterNetns, inOwnNetns } from './lib/netns.mjs';
import { probePerf } from './lib/perf.mjs';
import { buildCRef, buildSrtpFanout } from './lib/cref.mjs';
import { killAll, run, sleep } from './lib/proc.mjs';
import { writeReport } from './report.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);

function parseArgs(a) {
  const o = { profile: 'full', only: null, out: null, install: true, netns: true, build: true, waitQuietMin: 0, cpuProf: false };
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    if (x === '--quick') o.profile = 'quick';
    else if (x === '--smoke') o.profile = 'smoke';
    else if (x === '--full') o.profile = 'full';
    else if (x === '--only') o.only = a[++i].split(',');
    else if (x.startsWith('--only=')) o.only = x.slice(7).split(',');
    else if (x === '--out') o.out = a[++i];
    else if (x.startsWith('--out=')) o.out = x.slice(6);
    else if (x === '--no-install') o.install = false;
    else if (x === '--no-netns') o.netns = false;
    else if (x === '--no-build') o.build = false;
    else if (x === '--cpu-prof') o.cpuProf = true;
    else if (x === '--wait-quiet') o.waitQuietMin = 10;
    else if (x.startsWith('--wait-quiet=')) o.waitQuietMin = Number(x.slice(13));
    else if (x === '--help' || x === '-h') {
      console.log(readHelp());
      process.exit(0);
    } else {
      console.error(`bench: unknown option ${x}\n${readHelp()}`);
      process.exit(2);
    }
  }
  if (o.only) {
    const ids = SCENARIOS.map((s) => s.id);
    const bad = o.only.filter((x) => !ids.includes(x));
    if (bad.length) {
      console.error(`bench: unknown scenario ${bad.join(', ')} (have: ${ids.join(', ')})`);
      process.exit(2);
    }
  }
  return o;
}

function readHelp() {
  return `usage: npm run bench -- [--quick|--smoke|--full] [--only ${SCENARIOS.map((s) => s.id).join(',')}] [--out DIR]
       [--no-install] [--no-netns] [--no-build] [--wait-quiet[=MINUTES]] [--cpu-prof]`;
}

const opts = parseArgs(argv);
const log = (msg) => process.stderr.write(`[bench] ${msg}\n`);

// ---- host side: install tools, then re-exec in a private network namespace ---------------
if (process.env.DGRAM_BENCH_NETNS !== '1') {
  if (opts.install && opts.profile !== 'smoke') {
    log('installing missing bench tools (scripts/install-bench-deps.sh)');
    spawnSync('bash', [join(root, 'scripts', 'install-bench-deps.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  if (opts.netns) {
    const r = enterNetns(fileURLToPath(import.meta.url), argv);
    if (r && r.code !== null) process.exit(r.code);
    if (r) process.env.DGRAM_BENCH_NETNS_REASON = r.reason;
  } else {
    process.env.DGRAM_BENCH_NETNS_REASON = '--no-netns';
  }
} else {
  enterNetns(fileURLToPath(import.meta.url), argv); // brings lo up
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}
process.on('exit', killAll);

async function main() {
  const t0 = Date.now();
  const startedAt = new Date().toISOString();
  const tmpDir = join(root, 'bench', 'results', 'tmp');
  await mkdir(tmpDir, { recursive: true });

  let build = { ran: false };
  if (opts.build) {
    log('building dist/ (tsc -p tsconfig.build.json)');
    const r = await run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], 180_000, { cwd: root });
    build = { ran: true, ok: r.code === 0 };
    if (r.code !== 0) {
      // tsc still emits what it can; a broken file elsewhere in src/ (work in progress) must
      // not stop the bench, but the result says so.
      build.error = `${r.stdout}${r.stderr}`.trim().split('\n').slice(0, 5).join(' | ');
      log(`TypeScript build reported errors (dist/ may be partly stale): ${build.error}`);
    }
  }
  if (!existsSync(join(root, 'dist', 'cli', 'udp-blast.js'))) throw new Error('dist/ is not built (npm run build:ts)');
  const deps = await run('bash', [join(root, 'scripts', 'install-bench-deps.sh'), '--check'], 30_000);
  const depLines = deps.stdout.split('\n').filter(Boolean);
  const [perf, cref, srtpFanout, tools, env] = await Promise.all([probePerf(tmpDir), buildCRef(root, tmpDir), buildSrtpFanout(root, tmpDir), toolVersions(), collectEnv(root)]);
  const { probeBatchBackend } = await import(join(root, 'dist', 'cli', 'backend.js'));
  const batch = probeBatchBackend();
  const help = await run(process.execPath, [join(root, 'dist', 'cli', 'udp-blast.js'), '--help'], 15_000);
  const udpBlastHelp = help.stdout;
  const netns = inOwnNetns();
  const netnsInfo = netns ? { own: true, note: 'private network namespace (unshare -n): loopback only, snmp counters are this bench alone' } : { own: false, reason: process.env.DGRAM_BENCH_NETNS_ERROR ?? process.env.DGRAM_BENCH_NETNS_REASON ?? 'unknown' };

  let quiet = null;
  if (opts.waitQuietMin > 0) quiet = await waitQuiet(opts.waitQuietMin);

  const result = {
    schema: 'dgram-sendmmsg-native/bench@1',
    profile: opts.profile,
    command: `npm run bench${argv.length ? ' -- ' + argv.join(' ') : ''}`,
    startedAt,
    env: {
      ...env,
      tools: { perf, cref, srtpFanout, ...tools, installCheck: depLines },
      batchBackend: batch,
      build,
      netns: netnsInfo,
      rmemMax: readSysctl('net/core/rmem_max'),
      wmemMax: readSysctl('net/core/wmem_max'),
    },
    load: { start: loadavg(), quietWait: quiet },
    scenarios: [],
  };
  log(`profile ${opts.profile}; ${env.machine.cores} cores ${env.machine.cpuModel}; kernel ${env.kernel.release}; Node ${process.version}; werift ${env.werift.version}; commit ${env.git.commit?.slice(0, 10)}${env.git.dirty ? ' (dirty)' : ''}`);
  log(`perf: ${perf.ok ? 'ok' : perf.reason}; C reference: ${cref.ok ? 'ok' : cref.reason}; C SRTP fan-out ceiling: ${srtpFanout.ok ? 'ok' : srtpFanout.reason}; batch backend: ${batch.ok ? 'ok' : batch.reason}; netns: ${netns ? 'own' : netnsInfo.reason}`);

  const ctxBase = {
    profile: opts.profile,
    cpuProf: opts.cpuProf,
    root,
    nodeBin: process.execPath,
    udpBlast: join(root, 'dist', 'cli', 'udp-blast.js'),
    dist: join(root, 'dist'),
    tmpDir,
    perf,
    cref,
    srtpFanout,
    batch,
    tools,
    netns,
    weriftVersion: env.werift.version,
    udpBlastHelp,
    /** Whether the kernel takes UDP_SEGMENT (the C reference's gso mode, 10 datagrams to the discard port). */
    probeCGso: async () => {
      if (!cref.ok) return { ok: false, reason: cref.reason };
      const r = await run(cref.path, ['send', '--to', '127.0.0.1:9', '--mode', 'gso', '--size', '200', '--count', '10'], 10_000);
      return r.code === 0 ? { ok: true } : { ok: false, reason: (r.stderr || String(r.error ?? `exit ${r.code}`)).trim() };
    },
    log,
  };
  for (const sc of SCENARIOS) {
    if (opts.only && !opts.only.includes(sc.id)) continue;
    const budgetS = sc.budgetS?.[opts.profile] ?? { smoke: 60, quick: 60, full: 1800 }[opts.profile];
    const deadline = Date.now() + budgetS * 1000;
    const ctx = { ...ctxBase, overBudget: () => Date.now() > deadline };
    log(`== ${sc.id}: ${sc.title} (budget ${budgetS} s)`);
    const s0 = Date.now();
    const loadBefore = loadavg();
    let res;
    try {
      res = await sc.run(ctx);
    } catch (err) {
      res = { status: 'error', error: String(err?.stack ?? err), missing: [], notes: [] };
      log(`${sc.id} failed: ${err?.message ?? err}`);
    }
    killAll();
    const entry = { id: sc.id, title: sc.title, item: sc.item, durationS: (Date.now() - s0) / 1000, load: { before: loadBefore, after: loadavg() }, ...res };
    result.scenarios.push(entry);
    log(`${sc.id}: ${entry.status} in ${entry.durationS.toFixed(1)} s${entry.missing?.length ? ' — missing: ' + entry.missing.map((m) => m.what).join('; ') : ''}`);
  }
  result.finishedAt = new Date().toISOString();
  result.durationS = (Date.now() - t0) / 1000;
  result.load.end = loadavg();

  const outDir = opts.out ?? (opts.profile === 'smoke' ? join(root, 'bench', 'results', 'tmp', 'smoke') : join(root, 'bench', 'results'));
  await mkdir(outDir, { recursive: true });
  const base = `${startedAt.slice(0, 10)}-${os.hostname()}${opts.profile === 'full' ? '' : '-' + opts.profile}`;
  const jsonPath = join(outDir, `${base}.json`);
  const mdPath = join(outDir, `${base}.md`);
  result.files = { json: relative(root, jsonPath), report: relative(root, mdPath), charts: relative(root, join(outDir, base)) };
  await writeFile(jsonPath, JSON.stringify(result, null, 1) + '\n');
  await writeReport(result, { mdPath, chartsDir: join(outDir, base), chartsRel: `./${base}` });
  log(`wrote ${relative(root, jsonPath)} and ${relative(root, mdPath)} in ${result.durationS.toFixed(0)} s`);
  for (const s of result.scenarios) log(`  ${s.id.padEnd(8)} ${s.status}${s.missing?.length ? ': ' + s.missing.map((m) => `${m.what} (${m.reason})`).join('; ') : ''}`);
  // Machine-readable last line for wrappers and the smoke test.
  console.log(JSON.stringify({ json: jsonPath, report: mdPath, statuses: Object.fromEntries(result.scenarios.map((s) => [s.id, s.status])) }));
  return result.scenarios.some((s) => s.status === 'error') ? 1 : 0;
}

function readSysctl(path) {
  try {
    return Number(spawnSync('cat', [`/proc/sys/${path}`], { encoding: 'utf8' }).stdout.trim());
  } catch {
    return null;
  }
}

/** Waits (up to `minutes`) for the 1-minute load average to drop below 0.25 per core. */
async function waitQuiet(minutes) {
  const end = Date.now() + minutes * 60_000;
  const first = loadavg();
  const threshold = 0.25 * os.cpus().length;
  while (Date.now() < end) {
    const l = loadavg();
    if (l.load1 < threshold) return { waitedS: Math.round((Date.now() - (end - minutes * 60_000)) / 1000), first, reached: l, quiet: true };
    log(`waiting for a quiet machine: load1 ${l.load1.toFixed(2)} (want < ${threshold})`);
    await sleep(15_000);
  }
  return { waitedS: minutes * 60, first, reached: loadavg(), quiet: false };
}

main().then(
  (code) => process.exit(code),
  (err) => {
    log(`fatal: ${err?.stack ?? err}`);
    killAll();
    process.exit(1);
  },
);
