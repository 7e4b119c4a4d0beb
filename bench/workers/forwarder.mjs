#!/usr/bin/env node
/**
 * A relay-shaped forwarder for the window trade-off scenario: receives UBL1 datagrams on
 * an ingest socket (the library's batch receive path) and forwards each one, unchanged,
 * to --to through an egress socket whose flush policy is under test. Prints
 * "listening on 127.0.0.1:PORT" (ingest) on stderr, then one JSON object on stdout when
 * --count datagrams were forwarded or --idle-ms passed without one (or --max-s elapsed).
 *
 *   node bench/workers/forwarder.mjs --to PORT --backend batch|dgram [--mode window|tick]
 *        [--window-us US] [--max-batch N] --count N [--idle-ms MS] [--max-s S]
 */
import { parseArgs } from 'node:util';
import { createBatchSocket } from '../../dist/index.js';

const { values: a } = parseArgs({
  options: {
    to: { type: 'string' },
    backend: { type: 'string', default: 'batch' },
    mode: { type: 'string', default: 'window' },
    'window-us': { type: 'string' },
    'max-batch': { type: 'string' },
    count: { type: 'string' },
    'idle-ms': { type: 'string', default: '1000' },
    'max-s': { type: 'string', default: '120' },
  },
});
const toPort = Number(a.to);
const count = Number(a.count);
const idleMs = Number(a['idle-ms']);
if (!(toPort > 0) || !(count > 0)) {
  console.error('forwarder: --to PORT and --count N are required');
  process.exit(2);
}

const ingest = createBatchSocket({ type: 'udp4', backend: 'batch', recvBufferSize: 4 << 20 });
const egress = createBatchSocket({
  type: 'udp4',
  backend: a.backend,
  mode: a.mode,
  ...(a['window-us'] ? { windowUs: Number(a['window-us']) } : {}),
  ...(a['max-batch'] ? { maxBatch: Number(a['max-batch']) } : {}),
});
const bind = (s) => new Promise((resolve) => s.bind(0, '127.0.0.1', resolve));
await bind(egress);
await bind(ingest);
const peer = egress.peer(toPort, '127.0.0.1');

let forwarded = 0;
let refused = 0;
let cpu0 = null;
let t0 = 0n;
let last = 0n;
let done = false;
let finish;
const finished = new Promise((r) => (finish = r));

ingest.on('batch', (batch) => {
  const now = process.hrtime.bigint();
  if (cpu0 === null) {
    cpu0 = process.cpuUsage();
    t0 = now;
  }
  last = now;
  for (let i = 0; i < batch.count; i++) {
    if (peer.send(batch.datagram(i))) forwarded++;
    else refused++;
  }
  if (forwarded + refused >= count) finish('count');
});
const idle = setInterval(() => {
  if (cpu0 !== null && Number(process.hrtime.bigint() - last) / 1e6 >= idleMs) finish('idle');
}, 50);
const cap = setTimeout(() => finish('max-s'), Number(a['max-s']) * 1000);
process.stderr.write(`listening on 127.0.0.1:${ingest.address().port}\n`);

const stoppedBy = await finished;
done = true;
clearInterval(idle);
clearTimeout(cap);
egress.flush();
const end = Date.now() + 5000;
while (egress.stats().queued > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 2));
const t1 = process.hrtime.bigint();
const cpu = cpu0 ? process.cpuUsage(cpu0) : { user: 0, system: 0 };
const es = egress.stats();
const is = ingest.stats();
await new Promise((r) => egress.close(r));
await new Promise((r) => ingest.close(r));
const sent = es.sent;
console.log(
  JSON.stringify({
    stoppedBy,
    done,
    backend: egress.backend,
    mode: a.mode,
    windowUs: a['window-us'] ? Number(a['window-us']) : null,
    forwarded,
    refused,
    sent,
    durationS: Number(t1 - t0) / 1e9,
    cpuUserUs: cpu.user,
    cpuSysUs: cpu.system,
    cpuUsPerDatagram: sent ? (cpu.user + cpu.system) / sent : null,
    syscalls: es.syscalls,
    syscallsPerDatagram: sent ? es.syscalls / sent : null,
    batches: es.batches,
    datagramsPerFlush: es.batches ? sent / es.batches : null,
    holdUs: es.holdUs,
    dropped: es.dropped,
    failed: es.failed,
    ingest: { received: is.received, recvSyscalls: is.recvSyscalls, recvBatches: is.recvBatches },
  }),
);
process.exit(0);
