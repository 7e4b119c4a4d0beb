#!/usr/bin/env node
// Summarises a V8 .cpuprofile (node --cpu-prof): self time by category (which package
// or subsystem the function lives in) and the top functions by self time.
//
//   node scripts/cpuprof-summary.mjs PROFILE.cpuprofile [--top 15]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '15' } } });
if (positionals.length !== 1) throw new Error('usage: cpuprof-summary.mjs PROFILE.cpuprofile [--top N]');
const prof = JSON.parse(readFileSync(positionals[0], 'utf8'));
const dt = new Map(); // node id -> self µs
const deltas = prof.timeDeltas;
for (let i = 0; i < prof.samples.length; i++) dt.set(prof.samples[i], (dt.get(prof.samples[i]) ?? 0) + (deltas[i] ?? 0));

function category(cf) {
  const url = cf.url || '';
  const fn = cf.functionName || '(anonymous)';
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(idle)' || fn === '(program)') return fn;
  if (fn === 'send' && url.endsWith('/socket/native-socket.js')) return 'sendmmsg native call (incl. kernel UDP send and loopback delivery)';
  if (url.startsWith('node:crypto') || url.includes('internal/crypto')) return 'node crypto (SRTP AES)';
  if (url.includes('/dist/werift/')) return 'our werift plug';
  if (url.includes('/werift/')) {
    // werift's ESM build is one bundle: tell its parts apart by function name.
    if (/srtp|srtcp|cipher|vector|authtag|protect|aead|hmac|kdf/i.test(fn)) return 'werift SRTP';
    return 'werift (RTP/RTCP, sender, DTLS, ICE)';
  }
  if (url.includes('/dist/scheduler/') || url.includes('/dist/socket/') || url.includes('/dist/native/')) return 'our UDP path (scheduler, socket, JS side)';
  if (url.includes('/dist/relay/')) return 'our relay (ingest, fan-out)';
  if (url.startsWith('node:') || url.includes('internal/')) return 'node internals (promises, async hooks, timers, streams)';
  if (url === '') return fn === 'runMicrotasks' ? 'node internals (promises, async hooks, timers, streams)' : 'native/V8 builtins';
  return url.split('/node_modules/').at(-1)?.split('/')[0] ?? url;
}

const byCat = new Map();
const byFn = new Map();
let total = 0;
for (const node of prof.nodes) {
  const us = dt.get(node.id) ?? 0;
  if (!us) continue;
  total += us;
  const cat = category(node.callFrame);
  byCat.set(cat, (byCat.get(cat) ?? 0) + us);
  const key = `${node.callFrame.functionName || '(anonymous)'} ${(node.callFrame.url || '').split('/').slice(-2).join('/')}:${node.callFrame.lineNumber + 1}`;
  byFn.set(key, (byFn.get(key) ?? 0) + us);
}
const busy = total - (byCat.get('(idle)') ?? 0);
const pct = (us, of) => `${((us / of) * 100).toFixed(1)}%`;
console.log(`profile ${positionals[0]}: ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s busy`);
console.log('\nself time by category (share of busy time):');
for (const [cat, us] of [...byCat].filter(([c]) => c !== '(idle)').sort((a, b) => b[1] - a[1])) console.log(`  ${pct(us, busy).padStart(6)}  ${cat}`);
console.log(`\ntop ${values.top} functions by self time:`);
for (const [fn, us] of [...byFn].filter(([f]) => !f.startsWith('(idle)') && !f.startsWith('(program)')).sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) console.log(`  ${pct(us, busy).padStart(6)}  ${fn}`);
