/**
 * Charts of the report: vega-lite specifications compiled to vega and rendered to SVG
 * headless in Node (vega's 'none' renderer + View#toSVG: pure JS, no canvas, no browser).
 * Every bar/point is a median, its rule the min–max of the runs.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as vega from 'vega';
import * as vl from 'vega-lite';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const CONFIG = {
  font: 'DejaVu Sans, Helvetica, Arial, sans-serif',
  axis: { labelFontSize: 11, titleFontSize: 12 },
  legend: { labelFontSize: 11, labelLimit: 400 },
  title: { fontSize: 14, anchor: 'start' },
  background: 'white',
};

async function renderSvg(spec) {
  const compiled = vl.compile({ $schema: SCHEMA, config: CONFIG, ...spec }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

export class Charts {
  /**
   * @param {string} dir directory the SVG files go to
   * @param {string} rel path of that directory relative to the markdown file
   */
  constructor(dir, rel) {
    this.dir = dir;
    this.rel = rel;
    this.files = [];
  }

  async save(name, spec, caption) {
    await mkdir(this.dir, { recursive: true });
    const file = `${name}.svg`;
    await writeFile(join(this.dir, file), await renderSvg(spec));
    this.files.push(file);
    return `\n![${caption}](${this.rel}/${file})\n`;
  }

  /**
   * Grouped bars (or points on a log scale) with min–max rules.
   * rows: [{ group, series, median, min, max }]
   */
  async barChart({ name, title, rows, yTitle, log = false, seriesOrder, groupOrder }) {
    const values = rows.filter((r) => Number.isFinite(r.median)).map((r) => ({ group: r.group, series: r.series, median: r.median, min: r.min, max: r.max }));
    if (!values.length) return `\n_(chart ${name}: no data)_\n`;
    const groups = groupOrder ? groupOrder.filter((g) => values.some((v) => v.group === g)) : [...new Set(values.map((v) => v.group))];
    const series = seriesOrder ? seriesOrder.filter((s) => values.some((v) => v.series === s)) : [...new Set(values.map((v) => v.series))];
    const longLabels = groups.some((g) => g.length > 8);
    const yScale = log ? { type: 'log' } : { zero: true };
    const spec = {
      title: { text: title, subtitle: 'median of the runs; rule: min–max' },
      data: { values },
      width: { step: Math.max(12, Math.min(28, Math.floor(360 / Math.max(1, series.length)))) },
      height: 260,
      encoding: {
        x: { field: 'group', type: 'nominal', sort: groups, title: null, axis: { labelAngle: longLabels ? -30 : 0, labelLimit: 400 } },
        xOffset: { field: 'series', type: 'nominal', sort: series },
        color: { field: 'series', type: 'nominal', sort: series, title: null, legend: { orient: 'bottom', columns: Math.min(4, series.length) }, scale: { scheme: 'tableau10' } },
      },
      layer: [
        log
          ? { mark: { type: 'point', filled: true, size: 50 }, encoding: { y: { field: 'median', type: 'quantitative', title: yTitle, scale: yScale } } }
          : { mark: 'bar', encoding: { y: { field: 'median', type: 'quantitative', title: yTitle, scale: yScale } } },
        { mark: { type: 'rule', color: '#222', strokeWidth: 1.5 }, encoding: { y: { field: 'min', type: 'quantitative' }, y2: { field: 'max' } } },
      ],
    };
    return this.save(name, spec, title);
  }

  /**
   * Points (x, y) with min–max rules on both axes, one colour per series, labelled.
   * rows: [{ series, x: {median,min,max}, y: {median,min,max} }]
   */
  async scatter({ name, title, rows, xTitle, yTitle, xLog = false, yLog = false }) {
    const values = rows
      .filter((r) => Number.isFinite(r.x?.median) && Number.isFinite(r.y?.median))
      .map((r) => ({ series: r.series, x: r.x.median, xmin: r.x.min, xmax: r.x.max, y: r.y.median, ymin: r.y.min, ymax: r.y.max }));
    if (!values.length) return `\n_(chart ${name}: no data)_\n`;
    const xs = { field: 'x', type: 'quantitative', title: xTitle, scale: xLog ? { type: 'log' } : { zero: false } };
    const ys = { field: 'y', type: 'quantitative', title: yTitle, scale: yLog ? { type: 'log' } : { zero: true } };
    const color = { field: 'series', type: 'nominal', title: null, legend: { orient: 'bottom' }, sort: values.map((v) => v.series), scale: { scheme: 'tableau10' } };
    const spec = {
      title: { text: title, subtitle: 'median of the runs; rules: min–max' },
      data: { values },
      width: 420,
      height: 280,
      layer: [
        { mark: { type: 'rule' }, encoding: { x: { ...xs, field: 'xmin' }, x2: { field: 'xmax' }, y: ys, color } },
        { mark: { type: 'rule' }, encoding: { x: xs, y: { ...ys, field: 'ymin' }, y2: { field: 'ymax' }, color } },
        { mark: { type: 'point', filled: true, size: 70 }, encoding: { x: xs, y: ys, color } },
        { mark: { type: 'text', dx: 8, align: 'left', fontSize: 10 }, encoding: { x: xs, y: ys, text: { field: 'series' } } },
      ],
    };
    return this.save(name, spec, title);
  }

  /** Horizontal stacked bars of shares (e.g. a CPU profile breakdown). rows: [{ group, part, value }] */
  async stacked({ name, title, rows, xTitle, partOrder }) {
    const values = rows.filter((r) => Number.isFinite(r.value));
    if (!values.length) return `\n_(chart ${name}: no data)_\n`;
    const parts = partOrder ? partOrder.filter((p) => values.some((v) => v.part === p)) : [...new Set(values.map((v) => v.part))];
    const spec = {
      title: { text: title },
      data: { values },
      width: 420,
      height: { step: 28 },
      mark: 'bar',
      encoding: {
        y: { field: 'group', type: 'nominal', title: null, axis: { labelLimit: 400 } },
        x: { field: 'value', type: 'quantitative', title: xTitle, stack: 'zero' },
        color: { field: 'part', type: 'nominal', sort: parts, title: null, legend: { orient: 'bottom', columns: 2, labelLimit: 400 }, scale: { scheme: 'tableau10' } },
        order: { field: 'order', type: 'quantitative' },
      },
    };
    spec.data.values = values.map((v) => ({ ...v, order: parts.indexOf(v.part) }));
    return this.save(name, spec, title);
  }
}
