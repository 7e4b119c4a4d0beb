/**
 * Breakdown of a V8 CPU profile (.cpuprofile, as written by `node --cpu-prof`) into where
 * a werift sender's time goes. Each sample inside a time window is attributed to the
 * first frame, walking from the leaf towards the root, that belongs to a known category
 * (so a Buffer write inside SRTP counts as SRTP). Paths are those of werift's CJS build
 * (one directory per werift package) and of this package's dist/.
 */
import { readFile } from 'node:fs/promises';

export const CATEGORIES = [
  'SRTP (encrypt + auth)',
  'RTP handling (werift rtp/webrtc)',
  'DTLS/ICE (werift)',
  'UDP send (socket layer)',
  'werift other',
  'GC',
  'Node/V8 other',
  'bench harness',
];

function classify(frame) {
  const url = frame.url ?? '';
  const name = frame.functionName ?? '';
  if (name === '(garbage collector)') return 'GC';
  if (name === '(idle)') return 'idle';
  if (name === '(program)' || name === '(root)') return 'Node/V8 other';
  if (url.includes('/werift/lib/rtp/src/srtp/') || url.startsWith('node:internal/crypto') || url.includes('/dist/srtp/') || url.includes('/dist/werift/srtp-egress')) return 'SRTP (encrypt + auth)';
  if (url.includes('/werift/lib/common/src/transport') || url === 'node:dgram' || url.startsWith('node:internal/dgram') || url.includes('/dist/socket/') || url.includes('/dist/scheduler/') || url.includes('/dist/native/') || url.includes('/dist/werift/')) return 'UDP send (socket layer)';
  if (url.includes('/werift/lib/rtp/') || url.includes('/werift/lib/webrtc/')) return 'RTP handling (werift rtp/webrtc)';
  if (url.includes('/werift/lib/ice/') || url.includes('/werift/lib/dtls/')) return 'DTLS/ICE (werift)';
  if (url.includes('/werift/lib/')) return 'werift other';
  if (url.includes('/bench/workers/')) return 'bench harness';
  return null;
}

/**
 * @param {string} file .cpuprofile path
 * @param {[number, number]} [windowUs] keep samples with timestamps in [start, end] (µs, monotonic)
 * @returns {{ samples: number, inWindow: number, shares: Record<string, number>, topSelf: {name:string,url:string,share:number}[] }}
 */
export async function breakdown(file, windowUs) {
  const prof = JSON.parse(await readFile(file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const catOf = new Map();
  const categoryOfNode = (id) => {
    if (catOf.has(id)) return catOf.get(id);
    let cur = id;
    let cat = null;
    while (cur !== undefined && cat === null) {
      cat = classify(byId.get(cur).callFrame);
      cur = parent.get(cur);
    }
    cat ??= 'Node/V8 other';
    catOf.set(id, cat);
    return cat;
  };
  const counts = {};
  const self = new Map();
  let t = prof.startTime;
  let inWindow = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    t += prof.timeDeltas[i];
    if (windowUs && (t < windowUs[0] || t > windowUs[1])) continue;
    const id = prof.samples[i];
    const cat = categoryOfNode(id);
    if (cat === 'idle') continue;
    inWindow++;
    counts[cat] = (counts[cat] ?? 0) + 1;
    const f = byId.get(id).callFrame;
    const key = `${f.functionName || '(anonymous)'}\t${f.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/dist\//, 'dist/')}`;
    self.set(key, (self.get(key) ?? 0) + 1);
  }
  const shares = {};
  for (const c of CATEGORIES) shares[c] = inWindow ? (counts[c] ?? 0) / inWindow : 0;
  const topSelf = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12)
    .map(([k, v]) => {
      const [name, url] = k.split('\t');
      return { name, url, share: v / inWindow };
    });
  return { samples: prof.samples.length, inWindow, profileStartUs: prof.startTime, profileEndUs: prof.endTime, shares, topSelf };
}
