/** Number and table formatting of the markdown report. */

export function fmtNum(x, digits = 2) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  const abs = Math.abs(x);
  if (digits === 0 || abs >= 1000) return Math.round(x).toLocaleString('en-US');
  if (abs !== 0 && abs < 10 ** -digits) return x.toPrecision(2);
  return x.toFixed(digits);
}

/** "median [min–max]" (n shown when below 5), or `missing` when there are no runs. */
export function fmtSummary(s, digits = 2, missing = '–') {
  if (!s || !s.n) return missing;
  const m = fmtNum(s.median, digits);
  const range = s.n > 1 ? ` [${fmtNum(s.min, digits)}–${fmtNum(s.max, digits)}]` : '';
  const n = s.n < 5 ? ` (n=${s.n})` : '';
  return `${m}${range}${n}`;
}

function cell(v) {
  return String(v ?? '–').replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function mdTable(head, rows) {
  const lines = [`| ${head.map(cell).join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) lines.push(`| ${r.map(cell).join(' | ')} |`);
  return lines.join('\n');
}
