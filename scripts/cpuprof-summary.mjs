#!/usr/bin/env node
// Summarises a V8 .cpuprofile (node --cpu-prof): self time by category (which package
// or subsystem the function lives in) and the top functions by self time.
//
//   node scripts/cpuprof-summary.mjs PROFILE.cpuprofile [--top 15] [--window START_US,END_US]
//
// --window keeps only the samples taken within [START_US, END_US] on the monotonic clock of
// the profile (µs; scripts/measure-relay.mjs prints its measured window as measureWindowUs).
// Also a module: summarizeProfile(profile, { windowUs, top }) (the bench's relay scenario).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const UDP_NATIVE = 'our UDP path, native call (incl. the kernel UDP send and loopback delivery)';
const FAST_NATIVE = 'relay fast path: native fan-out (copy, header rewrite, SRTP, queue) and its JS wrapper';
const NODE_INTERNALS = 'node internals (promises, async hooks, timers, streams)';

/** Category of one call frame ({ functionName, url }). */
export function category(cf) {
  const url = cf.url || '';
  const fn = cf.functionName || '(anonymous)';
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(idle)' || fn === '(program)') return fn;
  // An addon function's time shows as self time of the JS function that calls it
  // (src/fanout/ wraps the native fan-out; socket/native-socket.js's send is the sendmmsg flush).
  if (url.includes('/dist/fanout/')) return FAST_NATIVE;
  if (fn === 'send' && url.endsWith('/socket/native-socket.js')) return UDP_NATIVE;
  if (url.startsWith('node:crypto') || url.includes('internal/crypto')) return 'node crypto (SRTP AES)';
  if (url.includes('/dist/srtp/')) return 'our native SRTP (JS side and call)';
  if (url.includes('/dist/werift/')) return 'our werift plug';
  if (url.includes('/werift/') || url.includes('/@shinyoshiaki/')) {
    // werift's ESM build is one bundle: tell its parts apart by function name.
    if (/srtp|srtcp|cipher|vector|authtag|protect|aead|hmac|kdf/i.test(fn)) return 'werift SRTP';
    return 'werift (RTP/RTCP, sender, DTLS, ICE)';
  }
  if (url.includes('/dist/scheduler/') || url.includes('/dist/socket/') || url.includes('/dist/native/')) return 'our UDP path (scheduler, socket, JS side)';
  if (url.includes('/dist/relay/')) return 'our relay (ingest, policy, RTCP)';
  if (url.includes('/prom-client/')) return 'metrics (prom-client)';
  if (url.startsWith('node:') || url.includes('internal/')) return NODE_INTERNALS;
  if (url === '') return fn === 'runMicrotasks' ? NODE_INTERNALS : `native/V8 builtins`;
  return url.split('/node_modules/').at(-1)?.split('/')[0] ?? url;
}

/**
 * @param {{ nodes: object[], samples: number[], timeDeltas: number[], startTime: number }} prof
 * @param {{ windowUs?: [number, number], top?: number }} [opts]
 * @returns {{ sampledS: number, busyS: number, samplesInWindow: number, categories: { name: string, share: number }[], top: { name: string, where: string, share: number }[] }}
 *   shares of busy (non-idle) self time within the window
 */
export function summarizeProfile(prof, opts = {}) {
  const top = opts.top ?? 15;
  const byNode = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map(); // node id -> self µs
  let t = prof.startTime;
  let inWindow = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = prof.timeDeltas[i] ?? 0;
    t += dt;
    if (opts.windowUs && (t < opts.windowUs[0] || t > opts.windowUs[1])) continue;
    inWindow++;
    self.set(prof.samples[i], (self.get(prof.samples[i]) ?? 0) + dt);
  }
  const byCat = new Map();
  const byFn = new Map();
  let total = 0;
  for (const [id, us] of self) {
    const cf = byNode.get(id).callFrame;
    total += us;
    const cat = category(cf);
    byCat.set(cat, (byCat.get(cat) ?? 0) + us);
    const where = cf.url ? `${cf.url.split('/').slice(-2).join('/')}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName || '(anonymous)'}\t${where}`;
    byFn.set(key, (byFn.get(key) ?? 0) + us);
  }
  const idle = byCat.get('(idle)') ?? 0;
  const busy = total - idle;
  const categories = [...byCat].filter(([c]) => c !== '(idle)').sort((a, b) => b[1] - a[1]).map(([name, us]) => ({ name, share: busy ? us / busy : 0 }));
  const fns = [...byFn]
    .filter(([f]) => !f.startsWith('(idle)') && !f.startsWith('(program)'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([k, us]) => {
      const [name, where] = k.split('\t');
      return { name, where, share: busy ? us / busy : 0 };
    });
  return { sampledS: total / 1e6, busyS: busy / 1e6, samplesInWindow: inWindow, categories, top: fns };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '15' }, window: { type: 'string' } } });
  if (positionals.length !== 1) {
    console.error('usage: cpuprof-summary.mjs PROFILE.cpuprofile [--top N] [--window START_US,END_US]');
    process.exit(2);
  }
  const windowUs = values.window ? values.window.split(',').map(Number) : undefined;
  if (windowUs && (windowUs.length !== 2 || !windowUs.every(Number.isFinite) || windowUs[0] >= windowUs[1])) {
    console.error('cpuprof-summary: --window START_US,END_US (two increasing numbers)');
    process.exit(2);
  }
  const s = summarizeProfile(JSON.parse(readFileSync(positionals[0], 'utf8')), { windowUs, top: Number(values.top) });
  const pct = (x) => `${(x * 100).toFixed(1)}%`.padStart(6);
  console.log(`profile ${positionals[0]}: ${s.sampledS.toFixed(2)} s sampled${windowUs ? ' in the window' : ''}, ${s.busyS.toFixed(2)} s busy`);
  console.log('\nself time by category (share of busy time):');
  for (const c of s.categories) console.log(`  ${pct(c.share)}  ${c.name}`);
  console.log(`\ntop ${values.top} functions by self time:`);
  for (const f of s.top) console.log(`  ${pct(f.share)}  ${f.name} ${f.where}`);
}
