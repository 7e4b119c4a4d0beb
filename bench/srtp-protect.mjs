#!/usr/bin/env node
/**
 * SRTP protect cost per packet: the addon's native SRTP (addon/srtp.cc, OpenSSL EVP as
 * linked into Node) against werift's JS SRTP (a createCipheriv/createHmac per packet), both
 * profiles, same machine, same run, configurations interleaved per repetition.
 *
 *   npm run build:ts && node bench/srtp-protect.mjs [--reps 7] [--packets 20000] [--payload 1100] [--outputs 64]
 *
 * Configurations (each protects `packets` RTP packets with a 12-byte header and `payload`
 * bytes, spread over `outputs` contexts as a relay fan-out would, sequence numbers advancing):
 *   native-batch   SrtpBatch.push (copies header+payload into the arena) + one
 *                  protectBatch call per `outputs` packets — the shape the werift hook uses
 *   native-call    one N-API call per packet, in place on a preallocated buffer (the
 *                  crossing's cost; no copy, no allocation)
 *   werift         werift's SrtpSession.encrypt(payload, header) — what werift's
 *                  RTCDtlsTransport.sendRtp does per packet
 * Prints CPU ns per packet (process.cpuUsage, user + system, so time the scheduler gives to
 * other processes on a shared machine does not count): median and min–max over the
 * repetitions.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import * as werift from 'werift';
import { SrtpBatch, SrtpContextTable } from '../dist/srtp/index.js';

const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '7' },
    packets: { type: 'string', default: '20000' },
    payload: { type: 'string', default: '1100' },
    outputs: { type: 'string', default: '64' },
    json: { type: 'boolean', default: false },
  },
});
const REPS = Number(values.reps);
const PACKETS = Number(values.packets);
const PAYLOAD = Number(values.payload);
const OUTPUTS = Number(values.outputs);

const PROFILES = { cm: ['SRTP_AES128_CM_HMAC_SHA1_80', 0x0001, 14], gcm: ['SRTP_AEAD_AES_128_GCM', 0x0007, 12] };

function setup(kind) {
  const [name, id, saltLen] = PROFILES[kind];
  const keys = Array.from({ length: OUTPUTS }, () => ({ masterKey: randomBytes(16), masterSalt: randomBytes(saltLen) }));
  const table = new SrtpContextTable();
  const ids = keys.map((k) => table.add({ profile: name, ...k }));
  const sessions = keys.map(
    (k) => new werift.SrtpSession({ keys: { localMasterKey: k.masterKey, localMasterSalt: k.masterSalt, remoteMasterKey: k.masterKey, remoteMasterSalt: k.masterSalt }, profile: id }),
  );
  return { table, ids, sessions };
}

/** CPU time of this process since `t0` (user + system), in ns: robust to a busy machine, unlike wall time. */
function cpuNs(t0) {
  const d = process.cpuUsage(t0);
  return (d.user + d.system) * 1000;
}

const payload = randomBytes(PAYLOAD);
const S = { cm: setup('cm'), gcm: setup('gcm') };
let seq = 0;

function runNativeBatch(s) {
  const batch = new SrtpBatch((PAYLOAD + 12 + 20) * OUTPUTS, OUTPUTS);
  const header = Buffer.alloc(12);
  header[0] = 0x80;
  header[1] = 96;
  const t0 = process.cpuUsage();
  for (let done = 0; done < PACKETS; ) {
    batch.clear();
    seq = (seq + 1) & 0xffff;
    header.writeUInt16BE(seq, 2);
    for (let o = 0; o < OUTPUTS && done < PACKETS; o++, done++) {
      header.writeUInt32BE(0x1000 + o, 8);
      batch.push(s.ids[o], header, payload);
    }
    if (s.table.protectBatch('rtp', batch) !== 0) throw new Error('protect failed');
  }
  return cpuNs(t0) / PACKETS;
}

function runNativeCall(s) {
  const native = s.table.native; // the raw binding: one N-API call per packet
  const buf = Buffer.alloc(PAYLOAD + 12 + 20);
  const t0 = process.cpuUsage();
  for (let done = 0; done < PACKETS; ) {
    seq = (seq + 1) & 0xffff;
    for (let o = 0; o < OUTPUTS && done < PACKETS; o++, done++) {
      buf[0] = 0x80;
      buf[1] = 96;
      buf.writeUInt16BE(seq, 2);
      buf.writeUInt32BE(0x1000 + o, 8);
      if (native.transform(0, s.ids[o], buf, 0, PAYLOAD + 12, buf.length) < 0) throw new Error('protect failed');
    }
  }
  return cpuNs(t0) / PACKETS;
}

function runWerift(s) {
  const t0 = process.cpuUsage();
  for (let done = 0; done < PACKETS; ) {
    seq = (seq + 1) & 0xffff;
    for (let o = 0; o < OUTPUTS && done < PACKETS; o++, done++) {
      const header = new werift.RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp: seq * 3000, ssrc: 0x1000 + o });
      s.sessions[o].encrypt(payload, header);
    }
  }
  return cpuNs(t0) / PACKETS;
}

const CONFIGS = {
  'native-batch cm': () => runNativeBatch(S.cm),
  'native-batch gcm': () => runNativeBatch(S.gcm),
  'native-call cm': () => runNativeCall(S.cm),
  'native-call gcm': () => runNativeCall(S.gcm),
  'werift cm': () => runWerift(S.cm),
  'werift gcm': () => runWerift(S.gcm),
};
const names = Object.keys(CONFIGS);
for (const n of names) CONFIGS[n](); // warm-up (JIT, OpenSSL lazy init)
const results = Object.fromEntries(names.map((n) => [n, []]));
for (let rep = 0; rep < REPS; rep++) {
  const order = names.map((_, i) => names[(i + rep) % names.length]);
  for (const n of order) results[n].push(CONFIGS[n]());
}
const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const rows = names.map((n) => ({ config: n, medianNs: median(results[n]), minNs: Math.min(...results[n]), maxNs: Math.max(...results[n]), runs: results[n] }));
if (values.json) {
  console.log(JSON.stringify({ node: process.version, openssl: process.versions.openssl, reps: REPS, packets: PACKETS, payload: PAYLOAD, outputs: OUTPUTS, rows }, null, 2));
} else {
  console.log(`SRTP protect, CPU ns per packet (${PAYLOAD}-byte payload, ${OUTPUTS} contexts, ${PACKETS} packets x ${REPS} interleaved reps; Node ${process.version}, OpenSSL ${process.versions.openssl})`);
  for (const r of rows) console.log(`  ${r.config.padEnd(18)} median ${r.medianNs.toFixed(0).padStart(6)}  min–max ${r.minNs.toFixed(0)}–${r.maxNs.toFixed(0)}`);
  for (const k of ['cm', 'gcm']) {
    const w = rows.find((r) => r.config === `werift ${k}`).medianNs;
    const b = rows.find((r) => r.config === `native-batch ${k}`).medianNs;
    console.log(`  ${k}: native-batch / werift = ${(b / w).toFixed(3)}`);
  }
}
