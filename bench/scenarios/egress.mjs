/**
 * Issue 4 item 2 — raw egress. One sender process per run against a receiver that never
 * reads (bench/c/udp_ref.c blackhole), so the receiver does not compete for the CPU; the
 * kernel still does the whole loopback delivery in the sender's context.
 *
 * Configurations: udp-blast with the dgram backend, the batch backend at maxBatch 1, 8,
 * 32, 64, 256, and the C reference (a sendto loop, a sendmmsg×64 loop) as the ceiling;
 * at 200 and 1200 bytes; at maximum rate (the figure: datagrams/s) and at fixed 50k and
 * 100k datagrams/s (the figure: CPU µs per datagram, user+sys of the sender process).
 *
 * Timing runs are never under perf (tracepoint counting adds cost per syscall). A second,
 * interleaved pass runs the same configurations under `perf stat -e syscalls:sys_enter_*`
 * for the kernel's count of send syscalls, shown beside the sender's own counter.
 */
import { pairedRatio, rotate, summarize } from '../lib/stats.mjs';
import { runSender, startBlackhole } from '../lib/senders.mjs';
import { fmtNum, fmtSummary, mdTable } from '../lib/format.mjs';

export const CONFIGS = {
  dgram: { kind: 'node', backend: 'dgram', label: 'dgram backend' },
  'batch-1': { kind: 'node', backend: 'batch', batch: 1, label: 'batch ×1' },
  'batch-8': { kind: 'node', backend: 'batch', batch: 8, label: 'batch ×8' },
  'batch-32': { kind: 'node', backend: 'batch', batch: 32, label: 'batch ×32' },
  'batch-64': { kind: 'node', backend: 'batch', batch: 64, label: 'batch ×64' },
  'batch-256': { kind: 'node', backend: 'batch', batch: 256, label: 'batch ×256' },
  // Only where udp-blast has --no-gso (the library's UDP GSO): the same batch without it.
  'batch-64-nogso': { kind: 'node', backend: 'batch', batch: 64, extraArgs: ['--no-gso'], label: 'batch ×64, GSO off', needsFlag: '--no-gso' },
  'c-sendto': { kind: 'c', mode: 'sendto', label: 'C sendto loop' },
  'c-sendmmsg': { kind: 'c', mode: 'sendmmsg', batch: 64, label: 'C sendmmsg ×64' },
  'c-gso': { kind: 'c', mode: 'gso', batch: 64, label: 'C UDP GSO ×≤64' },
};
const ALL = Object.keys(CONFIGS);

/**
 * maxCount: datagrams per max-rate run. fixedS: seconds per fixed-rate run.
 * perf: which (size, rate) get the perf pass, and with how many datagrams / seconds.
 */
const PARAMS = {
  smoke: { reps: 1, sizes: [200], fixedSizes: [200], rates: [0, 50_000], maxCount: 3000, fixedS: 0.05, configs: ['dgram', 'batch-64', 'batch-64-nogso', 'c-sendto', 'c-sendmmsg', 'c-gso'], fixedConfigs: ['dgram', 'batch-64', 'c-sendmmsg'], perfReps: 1, perfSizes: [200], perfRates: [0], perfCount: 2000, perfFixedS: 0.05 },
  quick: { reps: 5, sizes: [200, 1200], fixedSizes: [1200], rates: [0, 50_000, 100_000], maxCount: 30_000, fixedS: 0.2, configs: ALL, fixedConfigs: ['dgram', 'batch-64', 'c-sendmmsg', 'c-gso'], perfReps: 5, perfSizes: [1200], perfRates: [0], perfCount: 6000, perfFixedS: 0.1 },
  full: { reps: 5, sizes: [200, 1200], fixedSizes: [200, 1200], rates: [0, 50_000, 100_000], maxCount: 300_000, fixedS: 1, configs: ALL, fixedConfigs: ALL, perfReps: 5, perfSizes: [200, 1200], perfRates: [0, 50_000, 100_000], perfCount: 40_000, perfFixedS: 0.25 },
};
export const budgetS = { smoke: 60, quick: 55, full: 900 };

export const id = 'egress';
export const title = 'Raw egress';
export const item = 2;

export async function run(ctx) {
  const P = PARAMS[ctx.profile];
  const missing = [];
  const notes = [];
  let skipped = false;
  let configs = P.configs;
  if (!ctx.cref.ok) {
    missing.push({ what: 'C reference sender (ceiling)', reason: ctx.cref.reason });
    configs = configs.filter((c) => CONFIGS[c].kind !== 'c');
  }
  if (!ctx.batch.ok) {
    missing.push({ what: 'batch backend', reason: ctx.batch.reason });
    configs = configs.filter((c) => CONFIGS[c].backend !== 'batch');
  }
  if (!ctx.perf.ok) missing.push({ what: 'kernel-counted syscalls (perf stat)', reason: ctx.perf.reason });
  const noFlag = configs.filter((c) => CONFIGS[c].needsFlag && !ctx.udpBlastHelp.includes(CONFIGS[c].needsFlag));
  if (noFlag.length) {
    notes.push(`udp-blast has no ${[...new Set(noFlag.map((c) => CONFIGS[c].needsFlag))].join(', ')} (no UDP GSO in this build of the library): ${noFlag.map((c) => CONFIGS[c].label).join(', ')} not run.`);
    configs = configs.filter((c) => !noFlag.includes(c));
  }
  if (ctx.cref.ok && configs.includes('c-gso')) {
    const probe = await ctx.probeCGso();
    if (!probe.ok) {
      missing.push({ what: 'UDP GSO in this kernel (C reference gso mode)', reason: probe.reason });
      configs = configs.filter((c) => c !== 'c-gso');
    }
  }
  if (!ctx.netns) notes.push('Not in a private network namespace: /proc/net/snmp deltas omitted (they would include other traffic).');
  if (!ctx.cref.ok) return { status: 'missing', missing, notes, params: P, data: null };

  const sink = await startBlackhole(ctx);
  const runs = [];
  const perfRuns = [];
  try {
    const one = async (list, cfgId, size, rate, rep, perf) => {
      const cfg = CONFIGS[cfgId];
      const count = rate === 0 ? (perf ? P.perfCount : P.maxCount) : Math.max(1, Math.round(rate * (perf ? P.perfFixedS : P.fixedS)));
      const entry = { config: cfgId, size, rate, rep, count };
      try {
        Object.assign(entry, await runSender(ctx, { ...cfg, port: sink.port, size, count, rate, perf }));
      } catch (err) {
        entry.error = String(err.message ?? err);
        ctx.log(`  ${cfgId} ${size} B rate ${rate}: ${entry.error}`);
      }
      list.push(entry);
    };
    for (const size of P.sizes) {
      for (const rate of P.rates.filter((r) => r === 0 || P.fixedSizes.includes(size))) {
        const list = rate === 0 ? configs : configs.filter((c) => P.fixedConfigs.includes(c));
        ctx.log(`egress ${size} B, ${rate ? rate / 1000 + 'k/s' : 'max rate'}: ${list.length} configs × ${P.reps} runs`);
        for (let rep = 0; rep < P.reps; rep++) {
          if (ctx.overBudget()) {
            skipped = true;
            break;
          }
          for (const c of rotate(list, rep)) await one(runs, c, size, rate, rep, false);
        }
      }
    }
    if (ctx.perf.ok) {
      for (const size of P.perfSizes) {
        for (const rate of P.perfRates.filter((r) => r === 0 || P.fixedSizes.includes(size))) {
          const list = rate === 0 ? configs : configs.filter((c) => P.fixedConfigs.includes(c));
          ctx.log(`egress perf pass ${size} B, ${rate ? rate / 1000 + 'k/s' : 'max rate'}: ${list.length} configs × ${P.perfReps} runs`);
          for (let rep = 0; rep < P.perfReps; rep++) {
            if (ctx.overBudget()) {
            skipped = true;
            break;
          }
            for (const c of rotate(list, rep)) await one(perfRuns, c, size, rate, rep, true);
          }
        }
      }
    }
  } finally {
    await sink.stop();
  }

  if (skipped) notes.push(`The time budget of this profile (${budgetS[ctx.profile]} s) ran out: some repetitions were skipped (see n per figure).`);
  const failed = [...runs, ...perfRuns].filter((r) => r.error);
  if (failed.length) notes.push(`${failed.length} run(s) failed; their errors are in data.runs[].error.`);
  const data = summarizeEgress(runs, perfRuns, P);
  const status = missing.length || failed.length ? 'partial' : 'ok';
  return { status, missing, notes, params: P, data: { ...data, runs, perfRuns } };
}

function series(runs, size, rate, config, field) {
  const out = [];
  for (const r of runs) if (r.size === size && r.rate === rate && r.config === config) out[r.rep] = r.error ? null : field(r);
  return out;
}

export function summarizeEgress(runs, perfRuns, P) {
  const summary = [];
  const ratios = [];
  const keys = new Set(runs.map((r) => `${r.size}|${r.rate}`));
  for (const key of keys) {
    const [size, rate] = key.split('|').map(Number);
    const cfgs = [...new Set(runs.filter((r) => r.size === size && r.rate === rate).map((r) => r.config))];
    const get = (c, f, list = runs) => series(list, size, rate, c, f);
    for (const c of cfgs) {
      summary.push({
        size,
        rate,
        config: c,
        label: CONFIGS[c].label,
        pps: summarize(get(c, (r) => r.pps)),
        gbps: summarize(get(c, (r) => r.gbps)),
        cpuUsPerDatagram: summarize(get(c, (r) => r.cpuUsPerDatagram)),
        ownSyscallsPerDatagram: summarize(get(c, (r) => r.own.syscallsPerDatagram)),
        kernelSyscallsPerDatagram: summarize(get(c, (r) => r.kernel?.sendSyscallsPerDatagram ?? null, perfRuns)),
        ownSyscallsPerDatagramPerfRuns: summarize(get(c, (r) => r.own.syscallsPerDatagram, perfRuns)),
        snmpOutPerSent: summarize(get(c, (r) => (r.snmp && r.sent ? r.snmp.OutDatagrams / r.sent : null))),
        gsoShare: summarize(get(c, (r) => (r.own.gsoSegments !== null && r.sent ? r.own.gsoSegments / r.sent : null))),
        dropped: summarize(get(c, (r) => r.own.dropped)),
      });
    }
    // Interleaved ratios: the main figure is rate at max speed, CPU per datagram at fixed rates.
    const metric = rate === 0 ? 'pps' : 'cpuUsPerDatagram';
    const f = (r) => r[metric];
    const pairs = [];
    for (const c of cfgs) if (c !== 'dgram' && CONFIGS[c].kind === 'node' && cfgs.includes('dgram')) pairs.push([c, 'dgram']);
    for (const ref of ['c-sendto', 'c-sendmmsg', 'c-gso']) {
      if (!cfgs.includes(ref)) continue;
      if (cfgs.includes('batch-64')) pairs.push(['batch-64', ref]);
      if (cfgs.includes('dgram') && ref === 'c-sendto') pairs.push(['dgram', ref]);
    }
    if (cfgs.includes('batch-64') && cfgs.includes('batch-64-nogso')) pairs.push(['batch-64', 'batch-64-nogso']);
    for (const [a, b] of pairs) {
      if (!cfgs.includes(a) || !cfgs.includes(b)) continue;
      ratios.push({ size, rate, metric, a, b, ratio: pairedRatio(get(a, f), get(b, f)) });
    }
  }
  return { summary, ratios, reps: P.reps };
}

// ---- report -------------------------------------------------------------------------------

const rateName = (rate) => (rate === 0 ? 'max rate' : `${rate / 1000}k datagrams/s`);

export async function report(res, R) {
  const d = res.data;
  if (!d) return '';
  const out = [];
  out.push(
    `Sender process only (udp-blast \`send\`, or the C reference), against a receiver that never reads, so no receiver competes for the 2nd core. ` +
      `Each figure: median [min–max] of ${d.reps} runs; configurations interleaved within each repetition (rotated start). ` +
      `CPU = user+sys of the sender process (process.cpuUsage / getrusage) ÷ datagrams sent. ` +
      `"syscalls/dgram (own)" is the sender's own counter (library \`stats().syscalls\`; for dgram: datagrams handed to libuv); ` +
      `"(perf)" is \`perf stat -e syscalls:sys_enter_{sendmmsg,sendto,sendmsg}\` on the sender, from a separate interleaved pass (perf adds cost per syscall, so timing runs are not under perf).`,
  );
  const sizes = [...new Set(d.summary.map((s) => s.size))];
  const rates = [...new Set(d.summary.map((s) => s.rate))].sort((a, b) => a - b);
  // Max-rate table + chart per size.
  for (const rate of rates) {
    out.push(`\n#### ${rate === 0 ? 'Maximum rate' : `Fixed rate: ${rateName(rate)}`}\n`);
    const rows = d.summary.filter((s) => s.rate === rate);
    const head = rate === 0
      ? ['size', 'sender', 'datagrams/s', 'Gbit/s', 'CPU µs/dgram', 'syscalls/dgram (own)', 'syscalls/dgram (perf)', 'share sent by GSO', 'kernel OutDatagrams / sent ¹']
      : ['size', 'sender', 'achieved datagrams/s', 'CPU µs/dgram', 'syscalls/dgram (own)', 'syscalls/dgram (perf)', 'share sent by GSO', 'kernel OutDatagrams / sent ¹'];
    out.push(
      mdTable(
        head,
        rows.map((s) =>
          rate === 0
            ? [`${s.size} B`, s.label, fmtSummary(s.pps, 0), fmtSummary(s.gbps, 3), fmtSummary(s.cpuUsPerDatagram, 2), fmtSummary(s.ownSyscallsPerDatagram, 4), fmtSummary(s.kernelSyscallsPerDatagram, 4, 'not in this profile'), fmtShare(s.gsoShare), fmtSummary(s.snmpOutPerSent, 3, 'n/a')]
            : [`${s.size} B`, s.label, fmtSummary(s.pps, 0), fmtSummary(s.cpuUsPerDatagram, 2), fmtSummary(s.ownSyscallsPerDatagram, 4), fmtSummary(s.kernelSyscallsPerDatagram, 4, 'not in this profile'), fmtShare(s.gsoShare), fmtSummary(s.snmpOutPerSent, 3, 'n/a')],
        ),
      ),
    );
    out.push(`\n¹ The kernel's Udp OutDatagrams counter of this private namespace, per datagram the sender reports: 1.000 for one datagram per send; a UDP GSO send counts once however many datagrams it carries, so it shows the GSO batching independently of our counters.\n`);
    const metric = rate === 0 ? 'pps' : 'cpuUsPerDatagram';
    const chart = await R.barChart({
      name: `egress-${rate === 0 ? 'max' : rate / 1000 + 'k'}`,
      title: rate === 0 ? 'Raw egress at maximum rate (datagrams/s, higher is better)' : `CPU per datagram at ${rateName(rate)} (µs, lower is better)`,
      rows: rows.map((s) => ({ group: `${s.size} B`, series: s.label, ...s[metric] })),
      yTitle: rate === 0 ? 'datagrams/s' : 'CPU µs per datagram',
      seriesOrder: Object.values(CONFIGS).map((c) => c.label),
    });
    out.push(chart);
    const ratios = d.ratios.filter((r) => r.rate === rate);
    if (ratios.length) {
      out.push(`\nInterleaved ratios (${rate === 0 ? 'datagrams/s: A ÷ B, >1 = A faster' : 'CPU per datagram: A ÷ B, <1 = A cheaper'}):\n`);
      out.push(mdTable(['size', 'A', 'B', 'A ÷ B'], ratios.map((r) => [`${r.size} B`, CONFIGS[r.a].label, CONFIGS[r.b].label, fmtSummary(r.ratio, 2)])));
    }
  }
  // Syscalls chart (log scale), own vs perf, at max rate.
  const sys = d.summary.filter((s) => s.rate === 0 && s.size === sizes[sizes.length - 1]);
  const sysRows = [];
  for (const s of sys) {
    sysRows.push({ group: s.label, series: 'own counter', ...s.ownSyscallsPerDatagram });
    if (s.kernelSyscallsPerDatagram.n) sysRows.push({ group: s.label, series: 'perf (kernel)', ...s.kernelSyscallsPerDatagram });
  }
  out.push(await R.barChart({ name: 'egress-syscalls', title: `Send syscalls per datagram at max rate, ${sizes[sizes.length - 1]} B (log scale)`, rows: sysRows, yTitle: 'syscalls per datagram', log: true, groupOrder: Object.values(CONFIGS).map((c) => c.label) }));
  return out.join('\n');
}

function fmtShare(s) {
  if (!s?.n) return 'n/a';
  return `${fmtNum(100 * s.median, 0)} %`;
}

export function headline(res) {
  const d = res.data;
  if (!d) return '';
  const get = (c, size) => d.summary.find((s) => s.rate === 0 && s.size === size && s.config === c);
  const ratio = (a, b, size) => d.ratios.find((r) => r.rate === 0 && r.size === size && r.a === a && r.b === b)?.ratio;
  const size = Math.max(...d.summary.map((s) => s.size));
  const b = get('batch-64', size);
  const g = get('dgram', size);
  if (!b || !g) return '';
  const parts = [`${size} B max rate: batch ×64 ${fmtNum(b.pps.median, 0)}/s vs dgram ${fmtNum(g.pps.median, 0)}/s (×${fmtNum(ratio('batch-64', 'dgram', size)?.median, 2)})`];
  for (const ref of ['c-sendmmsg', 'c-gso']) {
    const r = ratio('batch-64', ref, size);
    if (r?.n) parts.push(`${fmtNum(100 * r.median, 0)} % of ${CONFIGS[ref].label}`);
  }
  return parts.join(', ');
}
