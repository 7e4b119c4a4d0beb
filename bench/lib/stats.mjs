/**
 * Summaries of repeated runs: the median with min–max, and ratios of runs interleaved
 * A/B (run i of A against run i of B, taken next to each other in time).
 */

/** @param {number[]} values → { n, median, min, max, values } (null figures when empty). */
export function summarize(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x));
  if (v.length === 0) return { n: 0, median: null, min: null, max: null, values: [] };
  const s = [...v].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { n: s.length, median, min: s[0], max: s[s.length - 1], values: v };
}

/**
 * Ratio A/B per interleaved repetition. `a` and `b` are arrays indexed by repetition
 * (null where a run is missing); the summary is over the pairs that both exist.
 */
export function pairedRatio(a, b) {
  const r = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (Number.isFinite(a[i]) && Number.isFinite(b[i]) && b[i] !== 0) r.push(a[i] / b[i]);
  }
  return summarize(r);
}

/** Rotates `list` by `k` so that each repetition starts with a different configuration. */
export function rotate(list, k) {
  if (list.length === 0) return [];
  const s = ((k % list.length) + list.length) % list.length;
  return [...list.slice(s), ...list.slice(0, s)];
}

/** Reads a dotted path (`'holdUs.p99'`) from an object; null when absent. */
export function pick(obj, path) {
  let o = obj;
  for (const k of path.split('.')) {
    if (o === null || o === undefined) return null;
    o = o[k];
  }
  return typeof o === 'number' ? o : null;
}

/**
 * The figure `f(run)` of configuration `config` indexed by repetition (null where that
 * run failed), ready for {@link summarize} or {@link pairedRatio}.
 * @param {{ config: string, rep: number, error?: string }[]} runs
 */
export function seriesOf(runs, config, f) {
  const out = [];
  for (const r of runs) if (r.config === config) out[r.rep] = r.error ? null : f(r);
  return out;
}
