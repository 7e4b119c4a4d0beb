/**
 * Issue 4 item 5 — peers: iperf3 -u and sockperf throughput side by side with udp-blast
 * on loopback, at the same datagram size, each at its maximum rate for the same time.
 * Per tool: sent and delivered datagrams/s and loss, from the tool's own report, with the
 * kernel's UDP counters of the (private) namespace beside them.
 *
 * - iperf3: server `iperf3 -s -1 -J`, client `iperf3 -c -u -b 0 -l SIZE -t T -J`
 *   (one write(2) per datagram on a connected socket; delivered = packets − lost as the
 *   server counts them).
 * - sockperf: server `sockperf sr`, client `sockperf tp -m SIZE -t T` (sent from the
 *   client's summary, received from the server's "Total N messages received" at SIGINT;
 *   sockperf's few warm-up messages are included in the server's count).
 * - udp-blast: `send --rate 0 --duration T` with the batch backend (and the dgram backend
 *   in the full profile) into `sink` (batch receive path).
 */
import net from 'node:net';
import { Child, sleep } from '../lib/proc.mjs';
import { startSink } from '../lib/senders.mjs';
import { readUdp, udpDelta } from '../lib/snmp.mjs';
import { pairedRatio, rotate, summarize } from '../lib/stats.mjs';
import { fmtNum, fmtSummary, mdTable } from '../lib/format.mjs';

export const id = 'peers';
export const title = 'Peers: iperf3 and sockperf beside udp-blast';
export const item = 5;

const TOOLS = {
  iperf3: { label: 'iperf3 -u', needs: 'iperf3' },
  sockperf: { label: 'sockperf throughput', needs: 'sockperf' },
  'udp-blast-batch': { label: 'udp-blast (batch)', needs: 'batch' },
  'udp-blast-dgram': { label: 'udp-blast (dgram)', needs: null },
};
const PARAMS = {
  smoke: { reps: 1, sizes: [1200], seconds: 1, tools: ['iperf3', 'sockperf', 'udp-blast-batch'] },
  quick: { reps: 5, sizes: [1200], seconds: 1, tools: ['iperf3', 'sockperf', 'udp-blast-batch'] },
  full: { reps: 5, sizes: [200, 1200], seconds: 2, tools: ['iperf3', 'sockperf', 'udp-blast-batch', 'udp-blast-dgram'] },
};
export const budgetS = { smoke: 60, quick: 30, full: 400 };

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function runIperf3(ctx, size, seconds) {
  const port = await freePort();
  const server = new Child(ctx.tools.iperf3.path, ['-s', '-1', '-B', '127.0.0.1', '-p', String(port), '-J']);
  try {
    let client;
    for (let attempt = 0; attempt < 20; attempt++) {
      await sleep(100);
      client = new Child(ctx.tools.iperf3.path, ['-c', '127.0.0.1', '-p', String(port), '-u', '-b', '0', '-l', String(size), '-t', String(seconds), '-J']);
      const code = await client.wait(seconds * 1000 + 20_000);
      if (code === 0) break;
      if (!/unable to connect|Connection refused/i.test(client.stdout + client.stderr)) throw new Error(`iperf3 client failed: ${client.tail()}`);
    }
    const c = JSON.parse(client.stdout);
    await server.wait(10_000);
    const s = JSON.parse(server.stdout);
    const sum = c.end.sum;
    const srv = s.end?.sum ?? {};
    const sent = sum.packets;
    const lost = srv.lost_packets ?? sum.lost_packets;
    const secs = sum.seconds;
    return { sent, delivered: sent - lost, seconds: secs, own: { sender: sum, receiver: srv, cpu: c.end.cpu_utilization_percent } };
  } finally {
    server.kill();
  }
}

async function runSockperf(ctx, size, seconds) {
  const port = await freePort();
  const server = new Child(ctx.tools.sockperf.path, ['sr', '-i', '127.0.0.1', '-p', String(port)]);
  try {
    await server.waitFor(/listen on|IP = /, 10_000, 'stdout').catch(() => sleep(300));
    await sleep(100);
    const client = new Child(ctx.tools.sockperf.path, ['tp', '-i', '127.0.0.1', '-p', String(port), '-m', String(size), '-t', String(seconds)]);
    const code = await client.wait(seconds * 1000 + 20_000);
    if (code !== 0) throw new Error(`sockperf client failed (${code}): ${client.tail()}`);
    await sleep(200);
    server.kill('SIGINT');
    await server.wait(10_000).catch(() => {});
    const text = client.stdout + client.stderr;
    const sentM = /Total of (\d+) messages sent in ([\d.]+) sec/.exec(text);
    const rateM = /Message Rate is (\d+)/.exec(text);
    const recvM = /Total (\d+) messages received/.exec(server.stdout + server.stderr);
    if (!sentM) throw new Error(`sockperf: no summary in client output: ${text.slice(-300)}`);
    if (!recvM) throw new Error(`sockperf: no received total from the server: ${server.tail()}`);
    const sent = Number(sentM[1]);
    return { sent, delivered: Math.min(sent, Number(recvM[1])), seconds: Number(sentM[2]), own: { clientRate: rateM ? Number(rateM[1]) : null, serverReceived: Number(recvM[1]) } };
  } finally {
    server.kill();
  }
}

async function runUdpBlast(ctx, backend, size, seconds) {
  const sink = await startSink(ctx, { backend: 'batch', idleMs: 300, rcvbuf: 1 << 20 });
  const sender = new Child(ctx.nodeBin, [ctx.udpBlast, 'send', '--to', `127.0.0.1:${sink.port}`, '--json', '--backend', backend, '--size', String(size), '--rate', '0', '--duration', String(seconds), '--count', '1000000000']);
  const tx = await sender.json(seconds * 1000 + 30_000);
  const rx = await sink.result(30_000);
  return { sent: tx.sent, delivered: rx.received, seconds: tx.durationS, own: { sender: { pps: tx.pps, cpuUsPerDatagram: tx.cpuUsPerDatagram, syscalls: tx.syscalls }, sink: { received: rx.received, lost: rx.lost, pps: rx.pps, recvBufferSize: rx.recvBufferSize } } };
}

export async function run(ctx) {
  const P = PARAMS[ctx.profile];
  const missing = [];
  const notes = [];
  let skipped = false;
  const tools = P.tools.filter((t) => {
    const need = TOOLS[t].needs;
    if (need === 'batch' && !ctx.batch.ok) {
      missing.push({ what: TOOLS[t].label, reason: ctx.batch.reason });
      return false;
    }
    if (need && need !== 'batch' && !ctx.tools[need]?.ok) {
      missing.push({ what: TOOLS[t].label, reason: ctx.tools[need]?.reason ?? `${need} not found` });
      return false;
    }
    return true;
  });
  const runs = [];
  for (const size of P.sizes) {
    ctx.log(`peers ${size} B: ${tools.join(', ')} × ${P.reps} runs of ${P.seconds} s`);
    for (let rep = 0; rep < P.reps; rep++) {
      if (ctx.overBudget()) {
            skipped = true;
            break;
          }
      for (const t of rotate(tools, rep)) {
        const entry = { tool: t, size, rep };
        const before = readUdp();
        try {
          const r = t === 'iperf3' ? await runIperf3(ctx, size, P.seconds) : t === 'sockperf' ? await runSockperf(ctx, size, P.seconds) : await runUdpBlast(ctx, t === 'udp-blast-batch' ? 'batch' : 'dgram', size, P.seconds);
          Object.assign(entry, r, { sentPps: r.sent / r.seconds, deliveredPps: r.delivered / r.seconds, lossPct: r.sent ? (100 * (r.sent - r.delivered)) / r.sent : null, snmp: ctx.netns ? udpDelta(before, readUdp()) : null });
        } catch (err) {
          entry.error = String(err.message ?? err);
          ctx.log(`  ${t} ${size} B rep ${rep}: ${entry.error}`);
        }
        runs.push(entry);
      }
    }
  }
  if (skipped) notes.push(`The time budget of this profile (${budgetS[ctx.profile]} s) ran out: some repetitions were skipped (see n per figure).`);
  const failed = runs.filter((r) => r.error);
  if (failed.length) notes.push(`${failed.length} run(s) failed; errors in data.runs[].error.`);
  notes.push('Sender and receiver of every tool share the 2 cores; at maximum rate the receiver falls behind and loopback drops the excess (RcvbufErrors): "delivered" is what the receiving process counted.');
  const summary = [];
  const ratios = [];
  for (const size of P.sizes) {
    const ser = (t, f) => {
      const out = [];
      for (const r of runs) if (r.size === size && r.tool === t) out[r.rep] = r.error ? null : f(r);
      return out;
    };
    for (const t of tools) {
      summary.push({
        size,
        tool: t,
        label: TOOLS[t].label,
        sentPps: summarize(ser(t, (r) => r.sentPps)),
        deliveredPps: summarize(ser(t, (r) => r.deliveredPps)),
        lossPct: summarize(ser(t, (r) => r.lossPct)),
        kernelOutPps: summarize(ser(t, (r) => (r.snmp ? r.snmp.OutDatagrams / r.seconds : null))),
        kernelInPps: summarize(ser(t, (r) => (r.snmp ? r.snmp.InDatagrams / r.seconds : null))),
        kernelRcvbufErrors: summarize(ser(t, (r) => r.snmp?.RcvbufErrors ?? null)),
      });
    }
    if (tools.includes('udp-blast-batch')) {
      for (const t of tools.filter((x) => x !== 'udp-blast-batch')) {
        ratios.push({ size, a: 'udp-blast-batch', b: t, metric: 'sentPps', ratio: pairedRatio(ser('udp-blast-batch', (r) => r.sentPps), ser(t, (r) => r.sentPps)) });
        ratios.push({ size, a: 'udp-blast-batch', b: t, metric: 'deliveredPps', ratio: pairedRatio(ser('udp-blast-batch', (r) => r.deliveredPps), ser(t, (r) => r.deliveredPps)) });
      }
    }
  }
  const status = failed.length || missing.length ? (tools.length ? 'partial' : 'missing') : 'ok';
  return { status, missing, notes, params: P, data: { summary, ratios, runs, reps: P.reps } };
}

export function headline(res) {
  const s = res.data?.summary ?? [];
  const size = Math.max(...s.map((x) => x.size));
  const pick = (t) => s.find((x) => x.size === size && x.tool === t);
  const parts = ['udp-blast-batch', 'iperf3', 'sockperf'].map(pick).filter((x) => x?.sentPps.n).map((x) => `${x.label} ${fmtNum(x.sentPps.median, 0)}/s sent, ${fmtNum(x.lossPct.median, 0)} % lost`);
  return parts.length ? `${size} B at max rate: ${parts.join(', ')}` : '';
}

export async function report(res, R) {
  const d = res.data;
  const out = [];
  out.push(`Each tool at its maximum rate for ${res.params.seconds} s on 127.0.0.1, sender and receiver as separate processes; median [min–max] of ${d.reps} runs, tools interleaved. Rates are datagrams per second of the sender's run time.\n`);
  out.push(
    mdTable(
      ['size', 'tool', 'sent datagrams/s', 'delivered datagrams/s', 'loss %', 'kernel OutDatagrams/s ¹', 'kernel InDatagrams/s ²', 'kernel RcvbufErrors'],
      d.summary.map((s) => [`${s.size} B`, s.label, fmtSummary(s.sentPps, 0), fmtSummary(s.deliveredPps, 0), fmtSummary(s.lossPct, 1), fmtSummary(s.kernelOutPps, 0, 'n/a'), fmtSummary(s.kernelInPps, 0, 'n/a'), fmtSummary(s.kernelRcvbufErrors, 0, 'n/a')]),
    ),
  );
  out.push(`\n¹ Udp OutDatagrams of the bench's private namespace ÷ run time: one per datagram sent, except that a UDP GSO send counts once. ² Udp InDatagrams ÷ run time: datagrams the receiving process read (independent of the tools' own counts; includes sockperf's warm-up and udp-blast's UBL1 datagrams alike).\n`);
  if (d.ratios.length) {
    out.push(`\nInterleaved ratios, udp-blast (batch) ÷ other tool:\n`);
    out.push(mdTable(['size', 'other tool', 'sent rate ratio', 'delivered rate ratio'], d.ratios.filter((r) => r.metric === 'sentPps').map((r) => [`${r.size} B`, TOOLS[r.b].label, fmtSummary(r.ratio, 2), fmtSummary(d.ratios.find((x) => x.metric === 'deliveredPps' && x.b === r.b && x.size === r.size)?.ratio, 2)])));
  }
  const rows = [];
  for (const s of d.summary) {
    rows.push({ group: `${s.label} ${s.size} B`, series: 'sent', ...s.sentPps });
    rows.push({ group: `${s.label} ${s.size} B`, series: 'delivered', ...s.deliveredPps });
  }
  out.push(await R.barChart({ name: 'peers', title: 'Loopback UDP at maximum rate: sent vs delivered (datagrams/s)', rows, yTitle: 'datagrams/s', seriesOrder: ['sent', 'delivered'] }));
  return out.join('\n');
}
