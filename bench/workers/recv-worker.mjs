#!/usr/bin/env node
/**
 * Receiver of the receive scenario. Counts UBL1 datagrams per flow id with one of three
 * receive paths, doing the same minimal work per datagram (check the magic, read the flow):
 *   dgram          node:dgram socket, 'message' event (one JS callback and one Buffer per datagram)
 *   batch          the library's batch backend, 'batch' event (one callback per recvmmsg batch, zero-copy view)
 *   batch-message  the library's batch backend through its dgram-compatible 'message' event
 *
 * Prints "listening on 127.0.0.1:PORT" on stderr. Reads commands on stdin, one per line:
 *   report FLOW   → after 40 ms without a datagram, prints {"flow","received","cpuUs","recvBufferSize"}
 *   quit          → exits
 * Exits by itself after --max-s seconds (default 900).
 */
import dgram from 'node:dgram';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { createBatchSocket } from '../../dist/index.js';

const { values: a } = parseArgs({ options: { mode: { type: 'string' }, gro: { type: 'string', default: 'on' }, rcvbuf: { type: 'string', default: String(1 << 20) }, 'max-s': { type: 'string', default: '900' } } });
const rcvbuf = Number(a.rcvbuf);
const counts = new Map();
let last = process.hrtime.bigint();
const MAGIC = 0x55424c31;

function count(flow) {
  counts.set(flow, (counts.get(flow) ?? 0) + 1);
}

let sock;
let recvBufferSize = () => 0;
if (a.mode === 'dgram') {
  sock = dgram.createSocket({ type: 'udp4', recvBufferSize: rcvbuf });
  sock.on('message', (msg) => {
    last = process.hrtime.bigint();
    if (msg.length >= 24 && msg.readUInt32BE(0) === MAGIC) count(msg.readUInt32BE(4));
  });
  recvBufferSize = () => sock.getRecvBufferSize();
} else if (a.mode === 'batch' || a.mode === 'batch-message') {
  sock = createBatchSocket({ type: 'udp4', backend: 'batch', recvBufferSize: rcvbuf, gro: a.gro === 'off' ? false : 'auto' });
  if (a.mode === 'batch') {
    let ring;
    let view;
    sock.on('batch', (batch) => {
      last = process.hrtime.bigint();
      if (batch.bytes !== ring) {
        ring = batch.bytes;
        view = new DataView(ring.buffer, ring.byteOffset, ring.byteLength);
      }
      for (let i = 0; i < batch.count; i++) {
        const off = batch.offset(i);
        if (batch.length(i) >= 24 && view.getUint32(off) === MAGIC) count(view.getUint32(off + 4));
      }
    });
  } else {
    sock.on('message', (msg) => {
      last = process.hrtime.bigint();
      if (msg.length >= 24 && msg.readUInt32BE(0) === MAGIC) count(msg.readUInt32BE(4));
    });
  }
  recvBufferSize = () => sock.stats().recvBufferSize;
} else {
  console.error('recv-worker: --mode dgram|batch|batch-message');
  process.exit(2);
}
sock.on('error', (err) => console.error(`recv-worker: ${err.message}`));
await new Promise((r) => sock.bind(0, '127.0.0.1', r));
process.stderr.write(`listening on 127.0.0.1:${sock.address().port}\n`);

let cpuMark = process.cpuUsage();
const rl = createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  const [cmd, arg] = line.trim().split(/\s+/);
  if (cmd === 'quit') {
    sock.close();
    process.exit(0);
  }
  if (cmd === 'report') {
    const flow = Number(arg);
    while (Number(process.hrtime.bigint() - last) / 1e6 < 40) await new Promise((r) => setTimeout(r, 10));
    const cpu = process.cpuUsage(cpuMark);
    cpuMark = process.cpuUsage();
    process.stdout.write(JSON.stringify({ flow, received: counts.get(flow) ?? 0, cpuUs: cpu.user + cpu.system, recvBufferSize: recvBufferSize() }) + '\n');
  }
});
rl.on('close', () => process.exit(0));
setTimeout(() => process.exit(0), Number(a['max-s']) * 1000).unref();
