/**
 * CI smoke profile of the benchmark suite: proves every scenario's script still runs and
 * produces a result of the documented shape — or an explicit "missing" status with the
 * reason (a tool, a kernel feature, rtp-relay not built yet). Tiny counts, seconds.
 * Speed is never asserted here: the bench's report is the measurement, not this test.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCENARIOS = ['egress', 'window', 'receive', 'peers', 'werift', 'relay'];
const STATUSES = ['ok', 'partial', 'missing'];

interface Missing {
  what: string;
  reason: string;
}
interface ScenarioResult {
  id: string;
  title: string;
  item: number;
  status: string;
  missing: Missing[];
  notes: string[];
  data: unknown;
  durationS: number;
  error?: string;
}
interface BenchResult {
  schema: string;
  profile: string;
  startedAt: string;
  finishedAt: string;
  env: {
    machine: { cores: number; cpuModel: string; hostname: string };
    kernel: { release: string };
    node: { version: string };
    werift: { version: string | null; reason?: string };
    git: { commit: string | null };
    tools: Record<string, { ok: boolean; reason?: string }>;
    netns: { own: boolean; reason?: string };
  };
  scenarios: ScenarioResult[];
}

let out: string;
let code: number | null;
let stdout = '';
let stderr = '';
let result: BenchResult;
let mdPath: string;

beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
  // --no-build: vitest's global setup already built dist/ once (no concurrent tsc writes).
  const child = spawn(process.execPath, [join(root, 'bench', 'run.mjs'), '--smoke', '--no-build', '--no-install', '--out', out], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 170_000);
  code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  const last = stdout.trim().split('\n').pop() ?? '{}';
  const paths = JSON.parse(last) as { json: string; report: string };
  result = JSON.parse(readFileSync(paths.json, 'utf8')) as BenchResult;
  mdPath = paths.report;
}, 180_000);

afterAll(() => {
  if (out) rmSync(out, { recursive: true, force: true });
});

/** A summary of repeated runs: n, and min <= median <= max (or no median when n is 0). */
function summaryShape(x: unknown): void {
  const s = x as { n: number; median: number | null; min: number | null; max: number | null };
  expect(typeof s.n).toBe('number');
  if (s.n > 0) {
    expect(s.min!).toBeLessThanOrEqual(s.median!);
    expect(s.median!).toBeLessThanOrEqual(s.max!);
  } else expect(s.median).toBeNull();
}

describe('npm run bench -- --smoke', () => {
  it('exits 0 and writes the JSON result and the report into --out', () => {
    expect(code, stderr.slice(-2000)).toBe(0);
    expect(existsSync(mdPath)).toBe(true);
    expect(mdPath.startsWith(out)).toBe(true);
    expect(result.schema).toBe('dgram-sendmmsg-native/bench@1');
    expect(result.profile).toBe('smoke');
  });

  it('records machine, kernel, Node, werift and commit', () => {
    const e = result.env;
    expect(e.machine.cores).toBeGreaterThan(0);
    expect(typeof e.machine.cpuModel).toBe('string');
    expect(e.kernel.release.length).toBeGreaterThan(0);
    expect(e.node.version).toBe(process.version);
    expect(e.werift.version ?? e.werift.reason).toBeTruthy();
    expect(e.git.commit).toMatch(/^[0-9a-f]{40}$/);
    for (const t of ['perf', 'cref', 'srtpFanout', 'iperf3', 'sockperf']) {
      const tool = e.tools[t];
      expect(tool, t).toBeDefined();
      if (!tool.ok) expect(tool.reason, t).toBeTruthy();
    }
    if (!e.netns.own) expect(e.netns.reason).toBeTruthy();
  });

  it('has every scenario once, each with a result or an explicit missing status', () => {
    expect(result.scenarios.map((s) => s.id)).toEqual(SCENARIOS);
    for (const s of result.scenarios) {
      expect(STATUSES, `${s.id}: ${s.error ?? ''}`).toContain(s.status);
      expect(typeof s.title).toBe('string');
      expect(s.item).toBeGreaterThanOrEqual(2);
      expect(Array.isArray(s.notes)).toBe(true);
      for (const m of s.missing) {
        expect(typeof m.what).toBe('string');
        expect(m.reason.length, `${s.id}: ${m.what}`).toBeGreaterThan(0);
      }
      if (s.status === 'missing') expect(s.missing.length, s.id).toBeGreaterThan(0);
      if (s.status === 'ok' || s.status === 'partial') expect(s.data, s.id).not.toBeNull();
      if (s.status === 'partial') expect(s.missing.length + s.notes.length, s.id).toBeGreaterThan(0);
    }
  });

  it('scenario data have the documented shape (summaries of runs, never invented figures)', () => {
    const by = Object.fromEntries(result.scenarios.map((s) => [s.id, s]));
    const egress = by.egress.data as { summary: { config: string; size: number; rate: number; pps: unknown; cpuUsPerDatagram: unknown; ownSyscallsPerDatagram: unknown; kernelSyscallsPerDatagram: unknown }[]; ratios: { ratio: unknown }[] } | null;
    if (egress) {
      expect(egress.summary.length).toBeGreaterThan(0);
      for (const s of egress.summary) [s.pps, s.cpuUsPerDatagram, s.ownSyscallsPerDatagram, s.kernelSyscallsPerDatagram].forEach(summaryShape);
      for (const r of egress.ratios) summaryShape(r.ratio);
      expect(egress.summary.some((s) => s.config === 'dgram')).toBe(true);
    }
    const win = by.window.data as { summary: { config: string; holdP99: unknown; ownSyscallsPerDatagram: unknown }[] } | null;
    if (win) for (const s of win.summary) [s.holdP99, s.ownSyscallsPerDatagram].forEach(summaryShape);
    const rx = by.receive.data as { summary: { lossFreePps: unknown }[] } | null;
    if (rx) for (const s of rx.summary) summaryShape(s.lossFreePps);
    const peers = by.peers.data as { summary: { tool: string; sentPps: unknown; deliveredPps: unknown }[] } | null;
    if (peers) for (const s of peers.summary) [s.sentPps, s.deliveredPps].forEach(summaryShape);
    const w = by.werift.data as { summary: { config: string; cpuUsPerPacket: unknown }[] } | null;
    if (w) for (const s of w.summary) summaryShape(s.cpuUsPerPacket);
  });

  it('the relay scenario measures rtp-relay and the C ceiling (or says exactly what is missing)', () => {
    const relay = result.scenarios.find((s) => s.id === 'relay')!;
    if (relay.status === 'missing') {
      expect(relay.missing.length).toBeGreaterThan(0);
      expect(relay.missing[0].reason.length).toBeGreaterThan(10);
      expect(relay.data).toBeNull();
      return;
    }
    interface Row {
      config: string;
      egress: string | null;
      ceiling: string | null;
      cpuUsPerForwarded: { n: number };
      syscallsPerDatagram: unknown;
      startedAtKeyframe?: boolean;
      inOrder?: boolean;
      viewerGaps?: { max: number | null };
      rcvbufErrors?: { max: number | null };
      protectUs?: unknown;
      sendUs?: unknown;
    }
    const data = relay.data as { summary: Row[]; runs: { config: string; error?: string; cpuUsPerForwarded?: number }[] };
    expect(data.runs.every((r) => !r.error), JSON.stringify(data.runs.map((r) => r.error))).toBe(true);
    const relayRows = data.summary.filter((s) => s.egress !== null);
    const ceilingRows = data.summary.filter((s) => s.ceiling !== null);
    expect(relayRows.length).toBeGreaterThan(0);
    for (const s of relayRows) {
      summaryShape(s.cpuUsPerForwarded);
      expect(s.cpuUsPerForwarded.n, s.config).toBe(1);
      expect(s.startedAtKeyframe, s.config).toBe(true);
      // A sequence gap is a fault unless the kernel counted receive-buffer drops in the run's
      // namespace (a starved viewer on a saturated machine), which the report shows beside it.
      if (!s.inOrder) expect(s.rcvbufErrors!.max, `${s.config}: ${s.viewerGaps!.max} gaps without kernel-counted loss`).toBeGreaterThan(0);
    }
    // The C ceiling runs wherever it builds (Debian libssl-dev: scripts/install-system-deps.sh --bench).
    const tools = result.env.tools as Record<string, { ok: boolean; reason?: string }>;
    if (tools.srtpFanout.ok) {
      expect(ceilingRows.length).toBeGreaterThan(0);
      for (const s of ceilingRows) {
        summaryShape(s.cpuUsPerForwarded);
        expect(s.cpuUsPerForwarded.n, s.config).toBe(1);
        summaryShape(s.protectUs);
        summaryShape(s.sendUs);
      }
    } else {
      expect(relay.missing.some((m) => m.what.startsWith('C ceiling')), tools.srtpFanout.reason).toBe(true);
    }
    for (const r of data.runs) expect(r.cpuUsPerForwarded, r.config).toBeGreaterThan(0);
  });

  it('the report names every scenario and its SVG charts exist', () => {
    const md = readFileSync(mdPath, 'utf8');
    for (const s of result.scenarios) expect(md).toContain(`## ${s.title}`);
    const charts = [...md.matchAll(/!\[[^\]]*\]\(([^)]+\.svg)\)/g)].map((m) => join(dirname(mdPath), m[1]));
    expect(charts.length).toBeGreaterThan(0);
    for (const c of charts) expect(readFileSync(c, 'utf8').startsWith('<svg'), c).toBe(true);
  });
});
