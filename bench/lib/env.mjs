/**
 * What every result records: machine (cores, CPU model, memory), kernel, Node, werift,
 * commit (and whether the tree was dirty), tool versions, network namespace, load.
 */
import os from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './proc.mjs';

function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

function firstLine(s) {
  return (s ?? '').trim().split('\n')[0] ?? '';
}

export function loadavg() {
  const [l1, l5, l15] = os.loadavg();
  return { load1: l1, load5: l5, load15: l15 };
}

/** Git commit, branch and the paths that differ from it (a dirty tree is recorded, not hidden). */
async function gitInfo(root) {
  const head = await run('git', ['-C', root, 'rev-parse', 'HEAD'], 10_000);
  if (head.code !== 0) return { commit: null, reason: 'not a git checkout' };
  const subject = await run('git', ['-C', root, 'log', '-1', '--format=%s'], 10_000);
  const status = await run('git', ['-C', root, 'status', '--porcelain', '--', 'src', 'addon', 'CMakeLists.txt', 'package.json'], 10_000);
  const dirty = status.stdout.split('\n').filter(Boolean).map((l) => l.slice(3));
  return { commit: head.stdout.trim(), subject: subject.stdout.trim(), dirtyPaths: dirty, dirty: dirty.length > 0 };
}

export async function collectEnv(root) {
  const cpus = os.cpus();
  const pkg = readJson(join(root, 'package.json'));
  const werift = readJson(join(root, 'node_modules', 'werift', 'package.json'));
  const vega = readJson(join(root, 'node_modules', 'vega', 'package.json'));
  const vegaLite = readJson(join(root, 'node_modules', 'vega-lite', 'package.json'));
  const uname = await run('uname', ['-a'], 5000);
  const addon = join(root, 'build', 'Release', 'dgram_sendmmsg_native.node');
  let osRelease = '';
  try {
    osRelease = /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? '';
  } catch {
    // not Linux
  }
  return {
    machine: {
      hostname: os.hostname(),
      cores: cpus.length,
      cpuModel: cpus[0]?.model?.trim() ?? 'unknown',
      cpuMHz: cpus[0]?.speed ?? null,
      memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
      arch: os.arch(),
      os: osRelease,
    },
    kernel: { release: os.release(), uname: firstLine(uname.stdout) },
    node: { version: process.version, v8: process.versions.v8, uv: process.versions.uv },
    package: { name: pkg?.name, version: pkg?.version, addonBuilt: existsSync(addon) },
    werift: werift ? { version: werift.version } : { version: null, reason: 'werift not installed (npm install)' },
    charting: { vega: vega?.version ?? null, vegaLite: vegaLite?.version ?? null },
    git: await gitInfo(root),
  };
}

/** Versions of the external tools (first line of their version output), or a reason. */
export async function toolVersions() {
  const probe = async (cmd, args) => {
    const which = await run('sh', ['-c', `command -v ${cmd}`], 5000);
    const path = which.stdout.trim();
    if (!path) return { ok: false, reason: `${cmd} not installed (scripts/install-bench-deps.sh)` };
    const v = await run(path, args, 10_000);
    const text = `${v.stdout}\n${v.stderr}`.split('\n').map((l) => l.replace(/\x1b\[[0-9;]*m/g, '').trim()).find((l) => /\d+\.\d+/.test(l)) ?? '';
    return { ok: true, path, version: text };
  };
  return {
    iperf3: await probe('iperf3', ['--version']),
    sockperf: await probe('sockperf', ['--version']),
  };
}
