#!/usr/bin/env node
// Soak test: npm run soak -- --minutes N | --seconds N [--interval S] [--verdict file] [--json file] [--seed N]
//
// Sends and receives at a high rate on loopback through several sockets — both backends,
// udp4 and udp6, connected and unconnected senders, several receivers (peers) — while
// random faults fire: receivers closed and reopened on the same port, long-lived senders
// closed mid-traffic and replaced, short-lived senders with a tiny SO_SNDBUF under a burst,
// bad input (each must throw a coded error and queue nothing), close() right after a big
// flush. Every few seconds it prints RSS, V8 heap (after a full GC), active handles, open
// fds and the accounting totals.
//
// It fails (exit 1) when
//   - any datagram is unaccounted: for every sender, ever, enqueued = sent + failed +
//     dropped + queued (checked at every sample), and at the end queued = 0 and the number
//     of send callbacks that ran equals the number of datagrams enqueued (each runs once);
//   - a receiver saw a datagram of a sender twice or out of order;
//   - bad input was accepted or threw without a `code`;
//   - something grows without bound. Rule: samples after the warm-up (the first 20% of the
//     run, at least 5 s) are cut in thirds; for each metric, max(last third) must stay
//     within max(first third) + tolerance: RSS +25% + 24 MiB, heap +25% + 8 MiB, handles
//     +4, fds +4. A leak of one fd, timer or socket per fault would exceed it within a
//     minute; steady state (allocator and JIT noise, sockets open at the moment) does not.
//
// Loopback only. Every loop is bounded in count and time (the run ends at its deadline;
// final waits are capped).
import { readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const lib = await import(join(root, 'dist', 'index.js'));

// ---------------------------------------------------------------- arguments

const argv = process.argv.slice(2);
const arg = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : def;
};
const seconds = arg('seconds') !== undefined ? Number(arg('seconds')) : Number(arg('minutes', '1')) * 60;
const intervalS = Number(arg('interval', seconds <= 60 ? '1' : '5'));
const verdictFile = arg('verdict');
const jsonFile = arg('json');
let seed = Number(arg('seed', String(Date.now() % 2 ** 31)));
if (!(seconds > 0) || !(intervalS > 0)) {
  console.error('usage: soak.mjs --minutes N | --seconds N [--interval S] [--verdict file] [--json file] [--seed N]');
  process.exit(2);
}
const rand = () => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed / 2 ** 31;
};
const pick = (a) => a[Math.floor(rand() * a.length)];

const batchOk = lib.batchBackendStatus().available;
const BACKENDS = batchOk ? ['batch', 'dgram'] : ['dgram'];
const MAGIC = 0x534f414b; // 'SOAK'
const gc = globalThis.gc ?? (() => {});
const fds = () => readdirSync('/proc/self/fd').length;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const failures = [];
const fail = (msg) => {
  if (failures.length < 50) failures.push(msg);
};

// ---------------------------------------------------------------- receivers

/** A receiver (peer) per family and backend; checks order per sender id. */
class Receiver {
  constructor(backend, type) {
    this.backend = backend;
    this.type = type;
    this.address = type === 'udp4' ? '127.0.0.1' : '::1';
    this.port = 0;
    this.sock = undefined;
    this.last = new Map();
    this.received = 0;
    this.reopens = 0;
  }
  async open() {
    const s = lib.createBatchSocket({ type: this.type, backend: this.backend, recvBufferSize: 4 << 20 });
    s.on('error', () => {});
    s.on('message', (m) => this.onMessage(m));
    await new Promise((resolve, reject) => {
      s.once('error', reject);
      s.bind(this.port, this.address, () => resolve());
    });
    this.port = s.address().port;
    this.sock = s;
  }
  onMessage(m) {
    this.received++;
    if (m.length < 12 || m.readUInt32BE(0) !== MAGIC) return fail(`receiver ${this.backend}/${this.type}: foreign datagram`);
    const id = m.readUInt32BE(4);
    const seq = m.readUInt32BE(8);
    const last = this.last.get(id) ?? -1;
    if (seq <= last) fail(`receiver ${this.backend}/${this.type}: sender ${id} seq ${seq} after ${last} (duplicate or reorder)`);
    this.last.set(id, seq);
  }
  async close() {
    const s = this.sock;
    this.sock = undefined;
    if (s) await new Promise((r) => s.close(r));
  }
}

// ---------------------------------------------------------------- senders

const totals = { enqueued: 0, sent: 0, failed: 0, dropped: 0, queued: 0, callbacks: 0, withCallback: 0 };
const retired = { enqueued: 0, sent: 0, failed: 0, dropped: 0 };
const failureCodes = {};
const dropReasons = { queueFull: 0, closed: 0 };
let nextId = 1;
const counts = { senders: 0, receiverReopens: 0, senderReplacements: 0, tinyBuffer: 0, badInput: 0, closeMidFlush: 0, badInputThrows: 0 };

/** One sender socket: its own id, a sequence per destination receiver. */
class Sender {
  constructor(backend, type, connectTo, opts = {}) {
    this.id = nextId++;
    this.backend = backend;
    this.type = type;
    this.connectTo = connectTo;
    this.opts = opts;
    this.seq = 0;
    this.sock = lib.createBatchSocket({ type, backend, ...opts });
    this.sock.on('error', () => {});
    this.callbacksRun = 0;
    this.enqueuedWithCb = 0;
    this.buf = Buffer.alloc(200);
    counts.senders++;
  }
  async start() {
    if (this.connectTo) await new Promise((r) => this.sock.connect(this.connectTo.port, this.connectTo.address, r));
  }
  /** Sends `n` datagrams round-robin to `dests` (or the connected peer). */
  burst(n, dests, size = 200) {
    const done = () => {
      this.callbacksRun++;
      totals.callbacks++;
    };
    for (let i = 0; i < n; i++) {
      if (this.sock.closed) return;
      const b = size === 200 ? this.buf : Buffer.alloc(size);
      b.writeUInt32BE(MAGIC, 0);
      b.writeUInt32BE(this.id, 4);
      b.writeUInt32BE(this.seq++, 8);
      this.enqueuedWithCb++;
      totals.withCallback++;
      if (this.connectTo) this.sock.send(b, done);
      else {
        const d = dests[i % dests.length];
        this.sock.send(b, d.port, d.address, done);
      }
    }
  }
  check(where) {
    const st = this.sock.stats();
    if (st.enqueued !== st.sent + st.failed + st.dropped + st.queued) fail(`${where}: sender ${this.id} (${this.backend}) identity broken ${JSON.stringify(st)}`);
    return st;
  }
  async close() {
    if (!this.sock.closed) this.sock.close();
    // Bounded wait for callbacks (dgram: libuv cancels in-flight sends asynchronously).
    const end = Date.now() + 3000;
    while (Date.now() < end && (this.callbacksRun < this.enqueuedWithCb || this.sock.stats().queued > 0)) await sleep(2);
    const st = this.check('close');
    if (st.queued !== 0) fail(`sender ${this.id} (${this.backend}): ${st.queued} still queued 3 s after close`);
    if (this.callbacksRun !== this.enqueuedWithCb) fail(`sender ${this.id} (${this.backend}): ${this.callbacksRun} callbacks for ${this.enqueuedWithCb} datagrams`);
    if (this.retired) return;
    this.retired = true;
    for (const [code, n] of Object.entries(st.failures)) failureCodes[code] = (failureCodes[code] ?? 0) + n;
    dropReasons.queueFull += st.drops.queueFull;
    dropReasons.closed += st.drops.closed;
    retired.enqueued += st.enqueued;
    retired.sent += st.sent;
    retired.failed += st.failed;
    retired.dropped += st.dropped;
  }
}

// ---------------------------------------------------------------- set-up

const receivers = [];
for (const backend of BACKENDS) for (const type of ['udp4', 'udp6']) receivers.push(new Receiver(backend, type));
for (const r of receivers) await r.open();
const rx = (type) => receivers.filter((r) => r.type === type && r.sock);

async function makeSender(i) {
  const backend = BACKENDS[i % BACKENDS.length];
  const type = i % 3 === 2 ? 'udp6' : 'udp4';
  const connected = i % 2 === 1;
  const to = connected ? pick(receivers.filter((r) => r.type === type)) : undefined;
  const s = new Sender(backend, type, to, { maxQueue: 4096 });
  await s.start();
  return s;
}
const senders = [];
for (let i = 0; i < 6; i++) senders.push(await makeSender(i));

// ---------------------------------------------------------------- faults

async function faultReopenReceiver() {
  const r = pick(receivers);
  await r.close();
  await sleep(20 + rand() * 100);
  await r.open(); // same port
  r.reopens++;
  counts.receiverReopens++;
}
async function faultReplaceSender() {
  const i = Math.floor(rand() * senders.length);
  const old = senders[i];
  senders[i] = await makeSender(i + Math.floor(rand() * 6));
  await old.close(); // closed mid-traffic: what was queued is dropped as closed, callbacks once
  counts.senderReplacements++;
}
async function faultTinyBuffer() {
  const type = pick(['udp4', 'udp6']);
  const s = new Sender(pick(BACKENDS), type, undefined, { sendBufferSize: 1 });
  s.burst(500, rx(type), 1000);
  await sleep(50);
  await s.close();
  counts.tinyBuffer++;
}
function faultBadInput() {
  const s = pick(senders);
  const before = s.sock.stats().enqueued;
  const bad = [
    () => s.sock.send(Buffer.alloc(0), 9, '127.0.0.1'),
    () => s.sock.send(Buffer.alloc(70000), 9, '127.0.0.1'),
    () => s.sock.send(Buffer.alloc(10), 70000, '127.0.0.1'),
    () => s.sock.send(Buffer.alloc(10), 9, 'not-an-ip'),
    () => s.sock.send(42, 9, '127.0.0.1'),
    () => s.sock.send(Buffer.alloc(10), 9, s.type === 'udp4' ? '::1' : '1.2.3.4.5'),
    () => s.sock.send(Buffer.alloc(10), 5, 7, 9, '127.0.0.1'),
  ];
  for (const f of bad) {
    counts.badInput++;
    try {
      f();
      if (!s.connectTo) fail(`bad input accepted by sender ${s.id}: ${f}`);
    } catch (e) {
      counts.badInputThrows++;
      if (typeof e?.code !== 'string') fail(`bad input threw without a code: ${e?.stack ?? e}`);
    }
  }
  if (!s.connectTo && s.sock.stats().enqueued !== before) fail(`bad input queued something on sender ${s.id}`);
}
async function faultCloseMidFlush() {
  const type = pick(['udp4', 'udp6']);
  const s = new Sender(pick(BACKENDS), type, undefined, { maxBatch: 1024 });
  s.burst(2000, rx(type));
  s.sock.flush();
  await s.close();
  counts.closeMidFlush++;
}
const FAULTS = [faultReopenReceiver, faultReplaceSender, faultTinyBuffer, faultBadInput, faultCloseMidFlush];

// ---------------------------------------------------------------- run

const started = Date.now();
const deadline = started + seconds * 1000;
const warmupMs = Math.max(5000, seconds * 200);
const samples = [];
let stop = false;

function sample() {
  gc();
  const mem = process.memoryUsage();
  const live = { enqueued: 0, sent: 0, failed: 0, dropped: 0, queued: 0 };
  for (const s of senders) {
    if (s.retired) continue;
    const st = s.check('sample');
    live.enqueued += st.enqueued;
    live.sent += st.sent;
    live.failed += st.failed;
    live.dropped += st.dropped;
    live.queued += st.queued;
  }
  const t = {
    enqueued: retired.enqueued + live.enqueued,
    sent: retired.sent + live.sent,
    failed: retired.failed + live.failed,
    dropped: retired.dropped + live.dropped,
    queued: live.queued,
  };
  const received = receivers.reduce((a, r) => a + r.received, 0);
  const row = {
    t: Math.round((Date.now() - started) / 1000),
    rssMiB: +(mem.rss / 2 ** 20).toFixed(1),
    heapMiB: +(mem.heapUsed / 2 ** 20).toFixed(1),
    handles: process.getActiveResourcesInfo().length,
    fds: fds(),
    ...t,
    received,
    callbacks: totals.callbacks,
    identity: t.enqueued === t.sent + t.failed + t.dropped + t.queued,
  };
  samples.push(row);
  console.log(
    `[${String(row.t).padStart(5)}s] rss ${row.rssMiB} MiB  heap ${row.heapMiB} MiB  handles ${row.handles}  fds ${row.fds}  ` +
      `enqueued ${row.enqueued} = sent ${row.sent} + failed ${row.failed} + dropped ${row.dropped} + queued ${row.queued}  received ${row.received}  ${row.identity ? 'ok' : 'IDENTITY BROKEN'}`,
  );
}

// Traffic: bursts from every sender on every turn of the loop (setImmediate), bounded by the deadline.
let turns = 0;
const pump = () => {
  if (stop || Date.now() >= deadline) return;
  turns++;
  for (const s of senders) if (!s.sock.closed) s.burst(16, rx(s.type));
  setImmediate(pump);
};
setImmediate(pump);

// Faults: one every 0.2–1 s, serially.
const faultLoop = (async () => {
  while (!stop && Date.now() < deadline) {
    await sleep(200 + rand() * 800);
    if (Date.now() >= deadline) break;
    await pick(FAULTS)();
  }
})();

const sampler = setInterval(sample, intervalS * 1000);
await sleep(Math.max(0, deadline - Date.now()));
stop = true;
clearInterval(sampler);
await faultLoop;

// Drain and close everything; every callback must have run once.
for (const s of senders) await s.close();
await sleep(300);
for (const r of receivers) await r.close();
sample();

// ---------------------------------------------------------------- verdict

const final = samples[samples.length - 1];
if (final.queued !== 0) fail(`${final.queued} datagrams still queued at the end`);
if (final.enqueued !== final.sent + final.failed + final.dropped) fail(`unaccounted: ${JSON.stringify(final)}`);
if (totals.callbacks !== totals.withCallback) fail(`${totals.callbacks} callbacks ran for ${totals.withCallback} datagrams sent with one`);
if (final.sent === 0 || final.received === 0) fail('no traffic');
if (samples.some((s) => !s.identity)) fail('the accounting identity broke at a sample');

const steady = samples.slice(0, -1).filter((s) => s.t * 1000 >= warmupMs);
const growth = {};
if (steady.length >= 6) {
  const third = Math.floor(steady.length / 3);
  const first = steady.slice(0, third);
  const last = steady.slice(steady.length - third);
  const max = (a, k) => Math.max(...a.map((s) => s[k]));
  const rules = { rssMiB: (m) => m * 1.25 + 24, heapMiB: (m) => m * 1.25 + 8, handles: (m) => m + 4, fds: (m) => m + 4 };
  for (const [k, limit] of Object.entries(rules)) {
    const a = max(first, k);
    const b = max(last, k);
    growth[k] = { firstThirdMax: a, lastThirdMax: b, limit: +limit(a).toFixed(1) };
    if (b > limit(a)) fail(`${k} grows: last third max ${b} > ${limit(a).toFixed(1)} (first third max ${a})`);
  }
} else fail(`too few samples after the warm-up (${steady.length}) to judge growth; run longer or lower --interval`);

const result = {
  seconds,
  seed: Number(arg('seed', '0')) || undefined,
  backends: BACKENDS,
  turns,
  faults: counts,
  totals: { ...final, callbacks: totals.callbacks, withCallback: totals.withCallback, failureCodes, dropReasons },
  growth,
  first: samples[0],
  last: final,
  failures,
};
console.log(JSON.stringify(result));
if (jsonFile) writeFileSync(jsonFile, `${JSON.stringify({ ...result, samples }, null, 1)}\n`);
const passed = failures.length === 0;
const detail = passed
  ? `${seconds} s: ${final.enqueued} enqueued = ${final.sent} sent + ${final.failed} failed + ${final.dropped} dropped, ${final.received} received, ${Object.values(counts).reduce((a, b) => a + b, 0) - counts.senders - counts.badInputThrows} faults, rss ${growth.rssMiB?.firstThirdMax}→${growth.rssMiB?.lastThirdMax} MiB, fds ${growth.fds?.firstThirdMax}→${growth.fds?.lastThirdMax}`
  : failures.slice(0, 3).join('; ');
if (verdictFile) writeFileSync(verdictFile, `${JSON.stringify({ check: `soak ${seconds} s`, passed, detail })}\n`);
console.log(passed ? `soak: passed — ${detail}` : `soak: FAILED — ${failures.join('\n  ')}`);
process.exit(passed ? 0 : 1);
