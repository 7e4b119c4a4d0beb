/**
 * Breakdown of a `perf record -g` profile of the relay process (kernel, native code, V8's JIT
 * code through `node --perf-basic-prof`, and every thread) into where its CPU goes: what
 * `node --cpu-prof` cannot show (the kernel's send and receive, OpenSSL, the addon, V8's
 * compiler threads). Input: the text of `perf script -F tid,ip,sym` (one block per sample:
 * a header line `TID`, then one `ADDR SYMBOL` line per frame, leaf first).
 *
 * Each sample goes to the first category of {@link CATEGORIES} that matches it: other threads
 * by thread id; SRTP crypto by its leaf frame (OpenSSL's assembly keeps no frame pointers, so
 * its stacks end there); then by the outermost frame that names an event-loop phase or a
 * system call. Shares are of all samples (the process's CPU, every thread).
 */

/** The categories, in the order they are tried. `test(sample)` sees { tid, pid, frames }. */
export const CATEGORIES = [
  { id: 'threads', label: 'other threads (V8 compiler, GC helpers, libuv pool)', test: (s) => s.tid !== s.pid },
  { id: 'crypto', label: 'SRTP/SRTCP crypto (OpenSSL)', test: (s) => /^(_?aesni|aes_|gcm_|_?ghash|ossl_|EVP_|CRYPTO_|sha1_|SHA1|HMAC|evp_|OSSL_PARAM)/.test(s.frames[0] ?? '') },
  { id: 'send', label: 'sendmmsg (kernel: UDP send and loopback delivery to the viewers)', test: (s) => s.frames.some((f) => /__sys_sendmmsg|__x64_sys_sendmmsg/.test(f)) },
  { id: 'recv', label: 'recvmmsg (kernel)', test: (s) => s.frames.some((f) => /__sys_recvmmsg|__x64_sys_recvmmsg/.test(f)) },
  { id: 'ingest', label: 'ingest receive dispatch (RecvDispatcher → JS hooks, fan-out forward)', test: (s) => s.frames.some((f) => /RecvDispatcher::OnCheck/.test(f)) },
  { id: 'socket-js', label: "socket receive callbacks (viewers' STUN, SRTCP; JS)", test: (s) => s.frames.some((f) => /UdpSocket::CallJs/.test(f)) },
  { id: 'timers', label: 'timers (sender reports, viewer ticks, werift)', test: (s) => s.frames.some((f) => /uv__run_timers/.test(f)) },
  { id: 'immediates', label: 'immediates (send scheduler flush in tick mode)', test: (s) => s.frames.some((f) => /processImmediate|uv__run_check/.test(f)) },
  { id: 'poll', label: 'event-loop poll (epoll_pwait, libuv)', test: (s) => s.frames.some((f) => /epoll_pwait|epoll_wait|uv__io_poll/.test(f)) },
  { id: 'addon', label: 'addon, no caller on the stack (fan-out copy/rewrite, send preparation)', test: (s) => /^dsn::/.test(s.frames[0] ?? '') },
  { id: 'other', label: 'other', test: () => true },
];

/**
 * Parses `perf script -F tid,ip,sym` text into samples: { tid, frames } (frames leaf first;
 * an unresolved frame is its address).
 * @param {string} text
 */
export function parsePerfScript(text) {
  const samples = [];
  let cur;
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t) {
      if (cur) samples.push(cur);
      cur = undefined;
      continue;
    }
    if (!cur) {
      const tid = Number.parseInt(t, 10);
      cur = { tid: Number.isFinite(tid) ? tid : -1, frames: [] };
      continue;
    }
    const sp = t.indexOf(' ');
    cur.frames.push(sp < 0 ? t : t.slice(sp + 1).trim());
  }
  if (cur) samples.push(cur);
  return samples;
}

/**
 * Shares per category of the samples of process `pid`.
 * @param {{ tid: number, frames: string[] }[]} samples
 * @param {number} pid the process (its main thread's tid)
 * @returns {{ samples: number, jsNamedShare: number, rows: { id: string, label: string, samples: number, share: number }[] }}
 *   jsNamedShare: the share of samples with a JS frame perf could name (`JS:` from
 *   --perf-basic-prof's map); 0 means the map was missing and JS shows as bare addresses.
 */
export function breakdown(samples, pid) {
  const counts = new Map(CATEGORIES.map((c) => [c.id, 0]));
  let jsNamed = 0;
  for (const s of samples) {
    if (s.frames.some((f) => f.startsWith('JS:'))) jsNamed++;
    const sample = { tid: s.tid, pid, frames: s.frames };
    const c = CATEGORIES.find((k) => k.test(sample));
    counts.set(c.id, counts.get(c.id) + 1);
  }
  const n = samples.length;
  return {
    samples: n,
    jsNamedShare: n ? jsNamed / n : 0,
    rows: CATEGORIES.map((c) => ({ id: c.id, label: c.label, samples: counts.get(c.id), share: n ? counts.get(c.id) / n : 0 })),
  };
}

/**
 * The heaviest leaf functions (self time), for the table's detail.
 * @param {{ frames: string[] }[]} samples
 * @param {number} top
 */
export function topLeaves(samples, top = 15) {
  const counts = new Map();
  for (const s of samples) {
    const leaf = s.frames[0] ?? '(no frame)';
    counts.set(leaf, (counts.get(leaf) ?? 0) + 1);
  }
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, n]) => ({ name, samples: n, share: samples.length ? n / samples.length : 0 }));
}
