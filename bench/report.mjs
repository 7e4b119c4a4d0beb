#!/usr/bin/env node
/**
 * Markdown report of a bench result, with SVG charts (vega-lite → SVG, see lib/charts.mjs).
 *   node bench/report.mjs bench/results/<date>-<host>.json   regenerates <same>.md and charts
 */
import { readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SCENARIOS } from './scenarios/index.mjs';
import { Charts } from './lib/charts.mjs';
import { fmtNum, mdTable } from './lib/format.mjs';

const STATUS = { ok: '✅ ok', partial: '⚠️ partial', missing: '⛔ missing', error: '❌ error' };

function machineTable(r) {
  const e = r.env;
  const t = e.tools;
  const tool = (x, name) => (x?.ok ? `${x.version ?? 'ok'}` : `**missing** — ${x?.reason ?? `${name} not probed`}`);
  const git = e.git.commit ? `\`${e.git.commit.slice(0, 12)}\` ${e.git.subject ?? ''}${e.git.dirty ? ` — **uncommitted changes in** ${e.git.dirtyPaths.join(', ')}` : ''}` : e.git.reason;
  return mdTable(
    ['', ''],
    [
      ['machine', `${e.machine.hostname}: ${e.machine.cores} cores, ${e.machine.cpuModel}${e.machine.cpuMHz ? ` @ ${e.machine.cpuMHz} MHz` : ''}, ${e.machine.memoryGiB} GiB, ${e.machine.arch}`],
      ['OS / kernel', `${e.machine.os} / ${e.kernel.release}`],
      ['Node', `${e.node.version} (V8 ${e.node.v8}, libuv ${e.node.uv})`],
      ['werift', e.werift.version ?? `**missing** — ${e.werift.reason}`],
      ['commit', git],
      ['dist/ build', !e.build?.ran ? 'not rebuilt (--no-build)' : e.build.ok ? 'tsc ok' : `**tsc reported errors** (dist/ may be partly stale): ${e.build.error}`],
      ['batch backend (native addon)', e.batchBackend.ok ? 'loads' : `**unavailable** — ${e.batchBackend.reason}`],
      ['perf (syscall tracepoints)', tool(t.perf, 'perf')],
      ['C reference compiler', t.cref.ok ? `${t.cref.version} (${t.cref.flags})` : `**missing** — ${t.cref.reason}`],
      ['iperf3', tool(t.iperf3, 'iperf3')],
      ['sockperf', tool(t.sockperf, 'sockperf')],
      ['network', e.netns.own ? e.netns.note : `host namespace — ${e.netns.reason}`],
      ['socket buffer caps', `rmem_max ${fmtNum(e.rmemMax, 0)} B, wmem_max ${fmtNum(e.wmemMax, 0)} B`],
      ['load average (1/5/15 min)', `start ${fmtLoad(r.load.start)}, end ${fmtLoad(r.load.end)}${r.load.quietWait ? `; waited ${r.load.quietWait.waitedS} s for quiet (${r.load.quietWait.quiet ? 'reached' : 'not reached'})` : ''}`],
      ['charts', `vega ${e.charting.vega} + vega-lite ${e.charting.vegaLite}, rendered to SVG headless`],
    ],
  );
}

function fmtLoad(l) {
  return l ? `${l.load1.toFixed(2)} / ${l.load5.toFixed(2)} / ${l.load15.toFixed(2)}` : '–';
}

/** Writes the markdown report and its charts. */
export async function writeReport(result, { mdPath, chartsDir, chartsRel }) {
  const charts = new Charts(chartsDir, chartsRel);
  const byId = Object.fromEntries(SCENARIOS.map((s) => [s.id, s]));
  const out = [];
  out.push(`# Benchmark report — ${result.startedAt.slice(0, 10)} on ${result.env.machine.hostname}\n`);
  out.push(
    `Profile **${result.profile}**${result.profile === 'smoke' ? ' (a CI smoke run: 1 tiny run per figure — these numbers are NOT measurements)' : ''}, ` +
      `\`${result.command}\`, ${fmtNum(result.durationS, 0)} s, started ${result.startedAt}. Raw data: [${basename(result.files?.json ?? 'json')}](./${basename(result.files?.json ?? '')}).\n`,
  );
  const quietLimit = 0.25 * result.env.machine.cores;
  if (result.load.start.load1 > quietLimit || result.load.end.load1 > quietLimit || result.load.quietWait?.quiet === false) {
    out.push(
      `> ⚠️ **The machine was not quiet**: load average ${fmtLoad(result.load.start)} at the start and ${fmtLoad(result.load.end)} at the end (quiet = below ${quietLimit} on ${result.env.machine.cores} cores)${result.load.quietWait ? `; the bench waited ${result.load.quietWait.waitedS} s for it to drop and ${result.load.quietWait.quiet ? 'it did' : 'it did not'}` : ''}. Other work shared the CPUs, so absolute figures are pessimistic and their min–max ranges wide; the interleaved ratios are the robust part. Per-scenario load is shown in each section.\n`,
    );
  }
  out.push(`## Machine\n\n${machineTable(result)}\n`);
  out.push(`## Summary\n`);
  out.push(
    mdTable(
      ['scenario', 'issue item', 'status', 'headline'],
      result.scenarios.map((s) => {
        const mod = byId[s.id];
        let head = '';
        if (s.status === 'missing') head = s.missing.map((m) => `${m.what}: ${m.reason}`).join('; ');
        else if (s.status === 'error') head = `failed: ${String(s.error).split('\n')[0]}`;
        else if (mod?.headline) {
          try {
            head = mod.headline(s);
          } catch (err) {
            head = `(headline failed: ${err.message})`;
          }
        }
        return [`[${s.title}](#${anchor(s.title)})`, String(s.item), STATUS[s.status] ?? s.status, head];
      }),
    ),
  );
  out.push(
    `\nHow to read: every figure is the median of n ≥ 5 runs with [min–max] (n is shown when lower); every ratio is computed per repetition from runs interleaved A/B in the same invocation (configurations rotate their start position each repetition), then summarized the same way. Speed is never asserted by a test; this report is the measurement.\n`,
  );
  for (const s of result.scenarios) {
    out.push(`## ${s.title}\n`);
    out.push(`Issue 4 item ${s.item} · status **${STATUS[s.status] ?? s.status}** · ${fmtNum(s.durationS, 0)} s · load before/after ${fmtLoad(s.load?.before)} → ${fmtLoad(s.load?.after)}\n`);
    if (s.missing?.length) out.push(`Missing:\n${s.missing.map((m) => `- **${m.what}**: ${m.reason}`).join('\n')}\n`);
    if (s.notes?.length) out.push(`Notes:\n${s.notes.map((n) => `- ${n}`).join('\n')}\n`);
    if (s.status === 'error') out.push('```\n' + String(s.error).slice(0, 2000) + '\n```\n');
    const mod = byId[s.id];
    if (mod?.report && s.data) {
      try {
        out.push(await mod.report(s, charts));
      } catch (err) {
        out.push(`_(report section failed: ${err.message})_`);
      }
    }
    out.push('');
  }
  await writeFile(mdPath, out.join('\n') + '\n');
  return { mdPath, charts: charts.files };
}

function anchor(title) {
  return title.toLowerCase().replace(/[^a-z0-9 -]/g, '').trim().replace(/ /g, '-');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node bench/report.mjs RESULT.json');
    process.exit(2);
  }
  const result = JSON.parse(await readFile(file, 'utf8'));
  const base = basename(file, '.json');
  const dir = dirname(file);
  const r = await writeReport(result, { mdPath: join(dir, `${base}.md`), chartsDir: join(dir, base), chartsRel: `./${base}` });
  console.log(`wrote ${r.mdPath} (${r.charts.length} charts)`);
}
