#!/usr/bin/env node
// Measures rtp-relay under N WHEP viewers: the relay and the viewers run as separate
// processes on loopback; once every viewer is connected, for --seconds the relay process
// is measured: CPU (utime+stime from /proc/PID/stat), send system calls (perf stat
// tracepoints on the relay's PID, when perf works), and the relay's own counters from
// /metrics (RTP packets forwarded, datagrams the batched sockets sent).
//
//   node scripts/measure-relay.mjs --viewers 64 --seconds 10 [--warmup 20] [--streams K] [--egress fast|werift|werift-unbatched] [--cpu-prof DIR] [--perf-record FILE] [-- relay flags]
//
// --warmup W (seconds, default 20): the window starts W s after every viewer is connected and
// past its first keyframe, so it measures the relay in steady state. Right after the joins
// V8 is still compiling code that runs a few hundred times a second (the per-viewer STUN,
// RTCP and timer paths reach its optimizing compiler only after tens of seconds): with
// --warmup 1 the same relay measured 29-32 us per packet against 21.7-22.1 with --warmup 20
// (1x64 fast, 2-core VM, 2026-12-02), compiler threads included.
//
// --egress passes the relay's --egress (default: the relay's own default, fast where the
// addon loads); the result names the path every viewer took (rtp_relay_viewers_by_egress).
//
// The viewers run until the measurement is over and are then told to stop (SIGTERM), so a
// slow start on a busy machine never cuts the measured window short. With --cpu-prof the
// relay runs under `node --cpu-prof` and the output gives the measured window on the
// monotonic clock (measureWindowUs) so the profile can be cut to it.
//
// --perf-record FILE: the relay runs under `node --perf-basic-prof` (V8 writes
// /tmp/perf-PID.map so perf can name JIT frames) and `perf record -e cpu-clock -g` samples
// it (every thread) during the measured window into FILE, at --perf-frequency Hz (default
// 2000); scripts/profile-relay.mjs reads it. The window's CPU figures then include perf's
// own overhead in the relay.
//
// Prints one JSON object. Needs the built package (npm run build).
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// Run in a private network namespace (root + unshare) so /proc/net/snmp counts only this run.
if (!process.env.MEASURE_RELAY_NETNS && process.getuid?.() === 0 && spawnSync('unshare', ['-n', 'true']).status === 0) {
  const r = spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up && exec "$0" "$@"', process.execPath, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, MEASURE_RELAY_NETNS: '1' } });
  process.exit(r.status ?? 1);
}
const snmp = () => {
  const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
  const names = lines[0].split(/\s+/).slice(1);
  const vals = lines[1].split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(names.map((n, i) => [n, vals[i]]));
};
const sep = process.argv.indexOf('--');
const own = sep >= 0 ? process.argv.slice(2, sep) : process.argv.slice(2);
const relayFlags = sep >= 0 ? process.argv.slice(sep + 1) : [];
const { values } = parseArgs({ args: own, options: { viewers: { type: 'string', default: '64' }, seconds: { type: 'string', default: '10' }, 'cpu-prof': { type: 'string' }, processes: { type: 'string', default: '4' }, streams: { type: 'string', default: '0' }, 'ingest-base': { type: 'string', default: '20000' }, 'http-port': { type: 'string', default: '18480' }, 'webrtc-port': { type: 'string', default: '18489' }, 'join-timeout': { type: 'string', default: '120' }, egress: { type: 'string' }, warmup: { type: 'string', default: '20' }, 'perf-record': { type: 'string' }, 'perf-frequency': { type: 'string', default: '2000' } } });
if (values.egress !== undefined) relayFlags.push('--egress', values.egress);
const N = Number(values.viewers);
const S = Number(values.seconds);
const W = Number(values.warmup);
if (!(W >= 0 && W <= 600)) throw new Error(`--warmup must be 0..600 seconds, got ${values.warmup}`);
const httpPort = Number(values['http-port']);
const CLK_TCK = 100;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nodeArgs = values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] : [];
const perfRecordFile = values['perf-record'];
const perfFrequency = Number(values['perf-frequency']);
if (perfRecordFile !== undefined) {
  if (!(Number.isInteger(perfFrequency) && perfFrequency >= 1 && perfFrequency <= 20000)) throw new Error(`--perf-frequency must be 1..20000 Hz, got ${values['perf-frequency']}`);
  nodeArgs.push('--perf-basic-prof');
}
// --streams K: K live ingest streams s0..s{K-1} fed by a separate process (the recording
// with distinct SSRCs and ports); 0: the relay's own demo stream (its player runs in-process).
const K = Number(values.streams);
const ingestBase = Number(values['ingest-base']);
const ingestFlags = K > 0 ? Array.from({ length: K }, (_, i) => ['--ingest', `s${i}=${ingestBase + i}`]).flat() : [];
// Kernel UDP counters from before the relay starts: the viewers' gaps are counted over the
// whole run (joins and warm-up included), so the kernel's drops are too (snmpRun).
const kRun0 = snmp();
const relay = spawn(process.execPath, [...nodeArgs, join(root, 'dist/relay/cli.js'), '--http-port', String(httpPort), '--webrtc-port', values['webrtc-port'], '--max-viewers', String(N + 8), ...ingestFlags, ...relayFlags], { stdio: ['ignore', 'pipe', 'inherit'] });
const feeder = K > 0 ? spawn(process.execPath, [join(root, 'scripts/rtp-feeder.mjs'), '--streams', String(K), '--base-port', String(ingestBase), '--seconds', String(S + W + Number(values['join-timeout']) + 60)], { stdio: ['ignore', 'ignore', 'inherit'] }) : undefined;
let viewers;
const stopAll = () => {
  viewers?.kill('SIGKILL');
  feeder?.kill('SIGTERM');
  relay.kill('SIGINT');
};
process.on('exit', stopAll);

async function metrics() {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const get = (re) => {
    let sum = 0;
    for (const m of text.matchAll(re)) sum += Number(m[1]);
    return sum;
  };
  return {
    viewers: get(/^rtp_relay_viewers\{[^}]*\} (\S+)$/gm),
    waiting: get(/^rtp_relay_viewers_waiting_keyframe\{[^}]*\} (\S+)$/gm),
    egress: get(/^rtp_relay_egress_datagrams_total\{[^}]*\} (\S+)$/gm),
    udpSent: get(/^rtp_relay_udp_datagrams_sent_total (\S+)$/gm),
    udpSyscalls: get(/^rtp_relay_udp_send_syscalls_total (\S+)$/gm),
    udpBatches: get(/^rtp_relay_udp_batches_total (\S+)$/gm),
    udpDropped: get(/^rtp_relay_udp_dropped_total (\S+)$/gm),
    udpGsoSegments: get(/^rtp_relay_udp_gso_segments_total (\S+)$/gm),
    closed: Object.fromEntries([...text.matchAll(/^rtp_relay_viewers_closed_total\{[^}]*kind="([^"]+)"[^}]*\} (\S+)$/gm)].filter((x) => Number(x[2]) > 0).map((x) => [x[1], Number(x[2])])),
    hasGso: /^rtp_relay_udp_gso_segments_total /m.test(text),
    // Connected viewers by egress path and the fast egress's datagram outcomes (relays that have them).
    byEgress: Object.fromEntries([...text.matchAll(/^rtp_relay_viewers_by_egress\{path="([^"]+)"\} (\S+)$/gm)].map((x) => [x[1], Number(x[2])])),
    fastOutcomes: Object.fromEntries([...text.matchAll(/^rtp_relay_fast_egress_datagrams_total\{outcome="([^"]+)"\} (\S+)$/gm)].map((x) => [x[1], Number(x[2])])),
    fastRtcp: Object.fromEntries([...text.matchAll(/^rtp_relay_fast_rtcp_received_total\{outcome="([^"]+)"\} (\S+)$/gm)].map((x) => [x[1], Number(x[2])])),
  };
}
const cpuMs = () => {
  const f = readFileSync(`/proc/${relay.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
};
const rssMb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${relay.pid}/status`, 'utf8'))[1]) / 1024;

// Wait for the relay to listen: it prints its 'metrics' URL once the HTTP server is up
// (an event, bounded by 90 s: startup is slow on a busy machine; an exit ends the wait).
await new Promise((resolve, reject) => {
  let out = '';
  const t = setTimeout(() => reject(new Error(`rtp-relay did not start listening within 90 s: ${out.slice(-500)}`)), 90_000);
  const onData = (d) => {
    out += d;
    if (out.includes(' metrics ')) {
      clearTimeout(t);
      relay.stdout.off('data', onData);
      relay.stdout.resume(); // keep draining its later output
      resolve();
    }
  };
  relay.stdout.on('data', onData);
  relay.once('exit', (code, signal) => {
    clearTimeout(t);
    reject(new Error(`rtp-relay exited (${code ?? signal}) before listening: ${out.slice(-500)}`));
  });
});
// Viewers in several processes: one werift process cannot decrypt 64 SRTP streams in real time.
const P = Math.max(1, Math.min(N, Number(values.processes)));
const viewerProcs = [];
const viewerOuts = [];
for (let p = 0; p < P; p++) {
  const n = Math.floor(N / P) + (p < N % P ? 1 : 0);
  const first = viewerProcs.reduce((a, c) => a + c.viewerCount, 0);
  const url = K > 0 ? `http://127.0.0.1:${httpPort}/whep/s{i}` : `http://127.0.0.1:${httpPort}/whep/demo`;
  const child = spawn(process.execPath, [join(root, 'scripts/whep-viewers.mjs'), '--url', url, '--streams', String(Math.max(1, K)), '--first', String(first), '--viewers', String(n), '--seconds', String(S + W + Number(values['join-timeout']) + 60)], { stdio: ['ignore', 'pipe', 'inherit'] });
  child.viewerCount = n;
  viewerOuts[p] = '';
  child.stdout.on('data', (d) => (viewerOuts[p] += d));
  viewerProcs.push(child);
}
viewers = { kill: (sig) => viewerProcs.forEach((c) => c.kill(sig)) };
const viewersDone = Promise.all(viewerProcs.map((c) => new Promise((r) => c.on('exit', r))));

// Steady state: every viewer connected and past its first keyframe.
const deadline = Date.now() + Number(values['join-timeout']) * 1000;
let m = await metrics();
while (Date.now() < deadline && !(m.viewers === N && m.waiting === 0 && m.egress > 0)) {
  await sleep(250);
  m = await metrics();
}
if (m.viewers !== N) throw new Error(`only ${m.viewers} of ${N} viewers joined within ${values['join-timeout']} s (viewers closed by the relay: ${JSON.stringify(m.closed)})`);
if (m.waiting !== 0 || m.egress === 0) throw new Error(`${m.waiting} of ${N} viewers still waiting for a keyframe after ${values['join-timeout']} s`);
await sleep(Math.max(1, W) * 1000);

const perfOk = spawnSync('perf', ['stat', '-e', 'syscalls:sys_enter_sendmmsg', '--', 'true']).status === 0;
const m0 = await metrics();
const c0 = cpuMs();
const k0 = snmp();
const w0 = process.hrtime.bigint();
// perf record (--perf-record) runs beside perf stat over the same window.
const recorder = perfRecordFile !== undefined ? spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-F', String(perfFrequency), '-g', '-p', String(relay.pid), '-o', perfRecordFile, '--', 'sleep', String(S)], { stdio: ['ignore', 'ignore', 'pipe'] }) : undefined;
let recorderErr = '';
recorder?.stderr.on('data', (d) => (recorderErr += d));
const recorderDone = recorder ? new Promise((r) => recorder.on('close', (code) => r(code))) : Promise.resolve(null);
let perf = null;
if (perfOk) {
  const events = 'syscalls:sys_enter_sendmmsg,syscalls:sys_enter_sendmsg,syscalls:sys_enter_sendto';
  const r = spawnSync('perf', ['stat', '-x,', '-e', events, '-p', String(relay.pid), '--', 'sleep', String(S)], { encoding: 'utf8' });
  perf = {};
  for (const line of r.stderr.split('\n')) {
    const f = line.split(',');
    if (f.length > 3 && f[2].startsWith('syscalls:')) perf[f[2].replace('syscalls:sys_enter_', '')] = Number(f[0]);
  }
} else {
  await sleep(S * 1000);
}
const c1 = cpuMs();
const w1 = process.hrtime.bigint();
const recorderCode = await recorderDone;
if (recorder && recorderCode !== 0) throw new Error(`perf record exited ${recorderCode}: ${recorderErr.trim().slice(-300)}`);
const m1 = await metrics();
const k1 = snmp();
const rss = rssMb();
// Measured: the viewers stop now and report (bounded: a hung one is killed and reported).
viewers.kill('SIGTERM');
const viewersTimer = setTimeout(() => viewers.kill('SIGKILL'), 60_000);
await viewersDone;
clearTimeout(viewersTimer);
const kRun1 = snmp();
const unparsed = viewerOuts.map((o, p) => (o.trim() ? null : `viewer process ${p} printed nothing (killed after 60 s?)`)).filter(Boolean);
if (unparsed.length) throw new Error(unparsed.join('; '));
const parts = viewerOuts.map((o) => JSON.parse(o.trim().split('\n').at(-1)));
const viewerResult = {
  processes: P,
  viewers: parts.reduce((a, r) => a + r.viewers, 0),
  connected: parts.reduce((a, r) => a + r.connected, 0),
  videoPackets: { total: parts.reduce((a, r) => a + r.videoPackets.total, 0), min: Math.min(...parts.map((r) => r.videoPackets.min)), max: Math.max(...parts.map((r) => r.videoPackets.max)) },
  audioPackets: parts.reduce((a, r) => a + r.audioPackets, 0),
  allStartAtKeyframe: parts.every((r) => r.allStartAtKeyframe),
  allInOrder: parts.every((r) => r.allInOrder),
  rcvbufBytes: parts.some((r) => r.rcvbufBytes != null) ? Math.min(...parts.filter((r) => r.rcvbufBytes != null).map((r) => r.rcvbufBytes)) : null,
  gaps: parts.reduce((a, r) => a + r.gaps, 0),
  joinErrors: parts.flatMap((r) => r.joinErrors ?? []),
  rejoins: parts.reduce((a, r) => a + (r.rejoins ?? 0), 0),
  failedAfterConnect: parts.reduce((a, r) => a + (r.failedAfterConnect ?? 0), 0),
};
feeder?.kill('SIGTERM');
relay.kill('SIGINT');
// Bounded: a relay that does not stop within 30 s is killed (and its CPU profile lost: reported).
let relayExit = 'clean';
await new Promise((r) => {
  const t = setTimeout(() => {
    relayExit = 'killed after 30 s (no clean stop on SIGINT)';
    relay.kill('SIGKILL');
  }, 30_000);
  relay.on('exit', () => (clearTimeout(t), r()));
});

const forwarded = m1.egress - m0.egress;
const sendSyscalls = perf ? perf.sendmmsg + perf.sendmsg + perf.sendto : null;
const udpSent = m1.udpSent - m0.udpSent;
const out = {
  relayFlags,
  streams: K > 0 ? K : 'demo (in-process player)',
  viewers: N,
  seconds: S,
  warmupSeconds: W,
  rtpForwarded: forwarded,
  rtpForwardedPerS: Math.round(forwarded / S),
  relayCpuMs: Math.round(c1 - c0),
  relayCpuUsPerForwarded: Number((((c1 - c0) * 1000) / forwarded).toFixed(2)),
  relayRssMb: Math.round(rss),
  // Share of the sent datagrams that left as segments of a UDP GSO message (null: the relay has no such counter).
  gsoShare: m1.hasGso && udpSent > 0 ? Number(((m1.udpGsoSegments - m0.udpGsoSegments) / udpSent).toFixed(4)) : null,
  // The measured window on CLOCK_MONOTONIC, µs (the clock of V8's CPU profiles).
  measureWindowUs: [Number(w0 / 1000n), Number(w1 / 1000n)],
  viewersByEgress: m1.byEgress,
  fastEgressDatagrams: Object.keys(m1.fastOutcomes).length ? Object.fromEntries(Object.entries(m1.fastOutcomes).map(([k, v]) => [k, v - (m0.fastOutcomes[k] ?? 0)])) : null,
  // Viewers' SRTCP the relay unprotected itself (fast path), by outcome, in the window.
  fastRtcpReceived: Object.keys(m1.fastRtcp).length ? Object.fromEntries(Object.entries(m1.fastRtcp).map(([k, v]) => [k, v - (m0.fastRtcp[k] ?? 0)])) : null,
  sendSyscalls: perf,
  batchedUdpSent: udpSent || null,
  syscallsPerDatagram: sendSyscalls !== null ? Number((sendSyscalls / (udpSent || forwarded)).toFixed(4)) : null,
  ownCounters: { udpSyscalls: m1.udpSyscalls - m0.udpSyscalls, udpBatches: m1.udpBatches - m0.udpBatches, udpDropped: m1.udpDropped - m0.udpDropped },
  // Kernel UDP counters over the measured window (whole private namespace: relay and viewers).
  snmp: process.env.MEASURE_RELAY_NETNS ? Object.fromEntries(['OutDatagrams', 'InDatagrams', 'RcvbufErrors', 'SndbufErrors'].map((k) => [k, k1[k] - k0[k]])) : 'not isolated (needs root and unshare)',
  // The same over the whole run, relay start to the viewers' reports: the span of viewersResult.gaps.
  // RcvbufErrors here are datagrams the kernel dropped at a full receive buffer (a viewer
  // process or the relay's ingest starved on a loaded machine), before any code saw them.
  snmpRun: process.env.MEASURE_RELAY_NETNS ? Object.fromEntries(['OutDatagrams', 'InDatagrams', 'RcvbufErrors', 'SndbufErrors'].map((k) => [k, kRun1[k] - kRun0[k]])) : 'not isolated (needs root and unshare)',
  viewersResult: viewerResult,
  relayExit,
  ...(perfRecordFile !== undefined ? { perfRecord: { file: perfRecordFile, frequencyHz: perfFrequency, relayPid: relay.pid } } : {}),
};
console.log(JSON.stringify(out, null, 2));
process.exit(0);
