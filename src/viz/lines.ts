/**
 * Line plots as PNG, dependency-free: one coloured polyline with point markers per series on a
 * white background, a framed plot area with "nice" ticks (1-2-5 steps, decades on log axes),
 * light grid lines, tick numbers, axis labels, a title and a legend, all drawn with our own
 * bitmap font ({@link drawText}). Made for the robustness experiments and the docs: quality (FD,
 * sliced Wasserstein) against NFE, noise level or bits, one line per D or solver.
 *
 * Layout, top to bottom: title, plot area, tick numbers, x label; left to right: y label
 * (rotated), tick numbers, plot area, legend.
 *
 * @module
 */

import { encodePng, type PngImage } from '../codecs/png.js';
import { PfgmError } from '../errors.js';
import { drawText, GLYPH_HEIGHT, textWidth } from './font.js';
import type { Rgb } from './scatter.js';
import { formatTicks, niceTicks } from './ticks.js';

/** One line of a plot: points (x[i], y[i]) joined in order. */
export interface LineSeries {
  /** Name shown in the legend. */
  name: string;
  /** x coordinates. */
  x: ArrayLike<number>;
  /** y coordinates, as many as x. Points where x or y is not finite are left out, breaking the line. */
  y: ArrayLike<number>;
  /** Colour of the line and its markers; default the series' colour in {@link PLOT_COLORS}. */
  color?: Rgb;
}

/** Options of {@link linePlot} and {@link lineImage}. */
export interface LinePlotOptions {
  /** Title above the plot area. */
  title?: string;
  /** Label under the x axis. */
  xLabel?: string;
  /** Label beside the y axis (drawn reading upwards). */
  yLabel?: string;
  /** Logarithmic x axis (all finite x must then be > 0). */
  logX?: boolean;
  /** Logarithmic y axis (all finite y must then be > 0). */
  logY?: boolean;
  /** Image width in pixels, 160 to 8192; default 640. */
  width?: number;
  /** Image height in pixels, 120 to 8192; default 420. */
  height?: number;
  /**
   * [min, max] of the x axis. Default: the finite points' range widened by 5% on each side (in
   * log10 space on a log axis); a single value v is widened to v ± max(|v| / 10, 1) (a decade
   * each side on a log axis, ×/÷ 10^0.5).
   */
  xRange?: readonly [number, number];
  /** [min, max] of the y axis; default as for x. */
  yRange?: readonly [number, number];
  /**
   * Integer magnification of the text, 1 to 8 (the title is one step larger); default 2 from a
   * 900-pixel width up, else 1.
   */
  fontScale?: number;
  /** Draw point markers (default true). */
  markers?: boolean;
  /** Draw the legend (default true). */
  legend?: boolean;
}

/** Where the plot area lies in the image and what it shows (returned by {@link lineImage}). */
export interface PlotFrame {
  /** Column of the plot area's left edge (x = xRange[0] lands here). */
  left: number;
  /** Row of the plot area's top edge (y = yRange[1] lands here). */
  top: number;
  /** Width of the plot area in pixels (x = xRange[1] lands on column left + width - 1). */
  width: number;
  /** Height of the plot area in pixels (y = yRange[0] lands on row top + height - 1). */
  height: number;
  /** The x axis' [min, max]. */
  xRange: [number, number];
  /** The y axis' [min, max]. */
  yRange: [number, number];
  /** Whether the x axis is logarithmic. */
  logX: boolean;
  /** Whether the y axis is logarithmic. */
  logY: boolean;
  /** The x tick values. */
  xTicks: number[];
  /** The y tick values. */
  yTicks: number[];
}

/** An RGB line plot and its frame (see {@link lineImage}). */
export interface LinePlotImage extends PngImage {
  /** Where the plot area lies and what range it shows. */
  frame: PlotFrame;
}

/**
 * The series colours, in order (the Tableau 10 palette that matplotlib uses by default); series
 * beyond ten cycle through them, with the next marker shape.
 */
export const PLOT_COLORS: readonly Rgb[] = [
  [31, 119, 180],
  [255, 127, 14],
  [44, 160, 44],
  [214, 39, 40],
  [148, 103, 189],
  [140, 86, 75],
  [227, 119, 194],
  [127, 127, 127],
  [188, 189, 34],
  [23, 190, 207],
];

const INK: Rgb = [0, 0, 0];
const GRID: Rgb = [232, 232, 232];
const LEGEND_BORDER: Rgb = [200, 200, 200];
const TICK = 5;
const LINE_WIDTH = 2;
const MARKERS = ['disc', 'square', 'diamond', 'triangle'] as const;

function bad(message: string): never {
  throw new PfgmError('ERR_PFGM_ARGUMENT', `linePlot: ${message}`);
}

interface Axis {
  lo: number;
  hi: number;
  log: boolean;
}

/** Position of v along an axis, 0 at lo and 1 at hi (log10 space on a log axis). */
function fraction(axis: Axis, v: number): number {
  return axis.log
    ? (Math.log10(v) - Math.log10(axis.lo)) / (Math.log10(axis.hi) - Math.log10(axis.lo))
    : (v - axis.lo) / (axis.hi - axis.lo);
}

function checkRange(name: string, range: readonly [number, number], log: boolean): [number, number] {
  if (!Array.isArray(range) || range.length !== 2) bad(`${name} must be [min, max], got ${String(range)}`);
  const [a, b] = range;
  if (!Number.isFinite(a) || !Number.isFinite(b) || !(a < b)) {
    bad(`${name} must be [min, max] with finite min < max, got [${a}, ${b}]`);
  }
  if (log && !(a > 0)) bad(`${name} is on a log axis, so min must be > 0, got ${a}`);
  return [a, b];
}

function autoRange(values: number[], log: boolean): [number, number] {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    const t = log ? Math.log10(v) : v;
    if (t < min) min = t;
    if (t > max) max = t;
  }
  let lo: number;
  let hi: number;
  if (min === max) {
    const pad = log ? 0.5 : Math.max(Math.abs(min) / 10, 1);
    lo = min - pad;
    hi = max + pad;
  } else {
    const pad = (max - min) * 0.05;
    lo = min - pad;
    hi = max + pad;
  }
  return log ? [10 ** lo, 10 ** hi] : [lo, hi];
}

function checkColor(where: string, c: Rgb): void {
  if (!Array.isArray(c) || c.length !== 3 || !c.every((v) => Number.isInteger(v) && v >= 0 && v <= 255)) {
    bad(`${where}: color must be [r, g, b] integers 0..255, got ${String(c)}`);
  }
}

/** Checks the series and returns, per series, the finite points (null marks a break). */
function checkSeries(series: readonly LineSeries[], logX: boolean, logY: boolean): ([number, number] | null)[][] {
  if (!Array.isArray(series) || series.length === 0) {
    bad('no series to plot: pass at least one { name, x, y }');
  }
  return series.map((s, si) => {
    const where = `series ${si} ('${String(s?.name)}')`;
    if (s === null || typeof s !== 'object' || typeof s.name !== 'string') {
      bad(`series ${si} must be an object { name: string, x: number[], y: number[] }`);
    }
    if (s.x === undefined || s.y === undefined || typeof s.x.length !== 'number' || typeof s.y.length !== 'number') {
      bad(`${where} needs x and y arrays of numbers`);
    }
    if (s.x.length !== s.y.length) {
      throw new PfgmError(
        'ERR_PFGM_SHAPE',
        `linePlot: ${where} has ${s.x.length} x values but ${s.y.length} y values; give one y per x`,
      );
    }
    if (s.x.length === 0) bad(`${where} is empty: give it at least one point, or leave it out`);
    if (s.color !== undefined) checkColor(where, s.color);
    const points: ([number, number] | null)[] = [];
    for (let i = 0; i < s.x.length; i++) {
      const x = s.x[i] as number;
      const y = s.y[i] as number;
      if (typeof x !== 'number' || typeof y !== 'number') bad(`${where}: point ${i} is not a pair of numbers`);
      if (logX && Number.isFinite(x) && x <= 0) {
        bad(`${where}: x[${i}] = ${x} cannot be shown on a log x axis; drop the point or use a linear axis`);
      }
      if (logY && Number.isFinite(y) && y <= 0) {
        bad(`${where}: y[${i}] = ${y} cannot be shown on a log y axis; drop the point or use a linear axis`);
      }
      points.push(Number.isFinite(x) && Number.isFinite(y) ? [x, y] : null);
    }
    return points;
  });
}

function fillRect(img: PngImage, x0: number, y0: number, w: number, h: number, c: Rgb): void {
  const xa = Math.max(0, x0);
  const ya = Math.max(0, y0);
  const xb = Math.min(img.width, x0 + w);
  const yb = Math.min(img.height, y0 + h);
  for (let y = ya; y < yb; y++) {
    for (let x = xa; x < xb; x++) {
      const o = (y * img.width + x) * 3;
      img.data[o] = c[0];
      img.data[o + 1] = c[1];
      img.data[o + 2] = c[2];
    }
  }
}

/**
 * Coverage of an anti-aliased polyline of width LINE_WIDTH over a w x h window: the largest
 * coverage of any segment at each pixel (so joints are not drawn twice darker), pixel centres at
 * integer coordinates.
 */
function strokeCoverage(points: readonly ([number, number] | null)[], w: number, h: number): Float32Array {
  const cov = new Float32Array(w * h);
  const half = LINE_WIDTH / 2;
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1];
    const b = points[i];
    if (a === null || b === null || a === undefined || b === undefined) continue;
    const [ax, ay] = a;
    const [bx, by] = b;
    const dx = bx - ax;
    const dy = by - ay;
    const len2 = dx * dx + dy * dy;
    const x0 = Math.max(0, Math.floor(Math.min(ax, bx) - half - 1));
    const x1 = Math.min(w - 1, Math.ceil(Math.max(ax, bx) + half + 1));
    const y0 = Math.max(0, Math.floor(Math.min(ay, by) - half - 1));
    const y1 = Math.min(h - 1, Math.ceil(Math.max(ay, by) + half + 1));
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((x - ax) * dx + (y - ay) * dy) / len2));
        const ex = ax + t * dx - x;
        const ey = ay + t * dy - y;
        const c = Math.min(1, half + 0.5 - Math.sqrt(ex * ex + ey * ey));
        const o = y * w + x;
        if (c > (cov[o] as number)) cov[o] = c;
      }
    }
  }
  return cov;
}

/** Blends colour c over the window at (left, top) by the coverage. */
function composite(img: PngImage, cov: Float32Array, left: number, top: number, w: number, c: Rgb): void {
  for (let i = 0; i < cov.length; i++) {
    const a = cov[i] as number;
    if (a <= 0) continue;
    const x = left + (i % w);
    const y = top + Math.floor(i / w);
    if (x < 0 || y < 0 || x >= img.width || y >= img.height) continue;
    const o = (y * img.width + x) * 3;
    for (let k = 0; k < 3; k++)
      img.data[o + k] = Math.round((img.data[o + k] as number) * (1 - a) + (c[k] as number) * a);
  }
}

/** A filled marker centred on pixel (cx, cy); `clip` limits it to a rectangle. */
function marker(
  img: PngImage,
  shape: (typeof MARKERS)[number],
  cx: number,
  cy: number,
  r: number,
  c: Rgb,
  clip: [number, number, number, number],
): void {
  for (let dy = -r; dy <= r; dy++) {
    for (let dx = -r; dx <= r; dx++) {
      let inside: boolean;
      if (shape === 'disc') inside = dx * dx + dy * dy <= r * r + r;
      else if (shape === 'square') inside = Math.abs(dx) < r && Math.abs(dy) < r;
      else if (shape === 'diamond') inside = Math.abs(dx) + Math.abs(dy) <= r;
      else inside = dy >= -r + 1 && Math.abs(dx) * 2 <= dy + r; // triangle pointing up
      if (!inside) continue;
      const x = cx + dx;
      const y = cy + dy;
      if (x < clip[0] || y < clip[1] || x > clip[2] || y > clip[3]) continue;
      fillRect(img, x, y, 1, 1, c);
    }
  }
}

/**
 * Draws series as a line plot into an RGB image (see the module notes for the layout).
 *
 * A point (x, y) is drawn at column `left + round(f(x) * (width - 1))` and row
 * `top + round((1 - g(y)) * (height - 1))` of the returned {@link PlotFrame}, where f and g are the
 * positions along the axes, 0 at min and 1 at max (of log10 values on a log axis). Consecutive
 * points are joined by an anti-aliased line 2 pixels wide; points where x or y is not finite are
 * left out, and the line breaks there. Lines and markers are clipped to the plot area. Ticks come
 * from {@link niceTicks}, labelled by {@link formatTicks}.
 *
 * @param series - the lines: name, x, y and optional colour each
 * @param options - title, axis labels, log axes, size, ranges, font scale, markers, legend
 * @returns the image and its frame
 * @throws PfgmError `ERR_PFGM_ARGUMENT` for no series, an empty series, a non-positive value on a
 *   log axis, a bad range, size, colour or font scale, or an image too small for its labels;
 *   `ERR_PFGM_SHAPE` when a series has different numbers of x and y values
 */
export function lineImage(series: readonly LineSeries[], options: LinePlotOptions = {}): LinePlotImage {
  const width = options.width ?? 640;
  const height = options.height ?? 420;
  if (!Number.isInteger(width) || width < 160 || width > 8192) {
    bad(`width must be an integer from 160 to 8192, got ${width}`);
  }
  if (!Number.isInteger(height) || height < 120 || height > 8192) {
    bad(`height must be an integer from 120 to 8192, got ${height}`);
  }
  const s = options.fontScale ?? (width >= 900 ? 2 : 1);
  if (!Number.isInteger(s) || s < 1 || s > 8) bad(`fontScale must be an integer from 1 to 8, got ${s}`);
  const logX = options.logX ?? false;
  const logY = options.logY ?? false;
  const showMarkers = options.markers ?? true;
  const showLegend = options.legend ?? true;
  for (const key of ['title', 'xLabel', 'yLabel'] as const) {
    const v = options[key];
    if (v !== undefined && typeof v !== 'string') bad(`${key} must be a string, got ${typeof v}`);
  }
  const title = options.title ?? '';
  const xLabel = options.xLabel ?? '';
  const yLabel = options.yLabel ?? '';

  const points = checkSeries(series, logX, logY);
  const finite = points.flat().filter((p): p is [number, number] => p !== null);
  if (finite.length === 0 && (options.xRange === undefined || options.yRange === undefined)) {
    bad('no series has a point with finite x and y: nothing sets the axis ranges (give xRange and yRange)');
  }
  const [xLo, xHi] =
    options.xRange === undefined
      ? autoRange(
          finite.map((p) => p[0]),
          logX,
        )
      : checkRange('xRange', options.xRange, logX);
  const [yLo, yHi] =
    options.yRange === undefined
      ? autoRange(
          finite.map((p) => p[1]),
          logY,
        )
      : checkRange('yRange', options.yRange, logY);
  const xAxis: Axis = { lo: xLo, hi: xHi, log: logX };
  const yAxis: Axis = { lo: yLo, hi: yHi, log: logY };

  // Vertical layout first: the plot height decides the y ticks, whose labels decide the left margin.
  const charH = GLYPH_HEIGHT * s;
  const pad = 8 * s;
  const titleScale = s + 1;
  const top = pad + (title ? GLYPH_HEIGHT * titleScale + 6 * s : 0);
  const bottomMargin = TICK + 3 * s + charH + (xLabel ? 5 * s + charH : 0) + pad;
  const plotH = height - top - bottomMargin;
  if (plotH < 40) bad(`height ${height} leaves no room for the plot area: make it larger or the text smaller`);
  const yTicks = niceTicks(yAxis.lo, yAxis.hi, { log: logY, count: Math.max(2, Math.floor(plotH / (charH * 5))) });
  const yLabels = formatTicks(yTicks, logY);
  const yLabelWidth = Math.max(0, ...yLabels.map((l) => textWidth(l, s)));
  const left = pad + (yLabel ? charH + 6 * s : 0) + yLabelWidth + 3 * s + TICK;

  // Legend on the right, outside the plot area.
  const swatch = 22 * s;
  const legendRow = charH + 5 * s;
  const legendInner = Math.max(...series.map((l) => textWidth(l.name, s))) + swatch + 6 * s;
  const legendW = showLegend ? legendInner + 10 * s : 0;
  const rightMargin = pad + (showLegend ? legendW + pad : 0);
  // The plot area's width depends on the x tick labels only through the last label's overhang.
  let plotW = width - left - rightMargin;
  let xTicks: number[] = [];
  let xLabels: string[] = [];
  for (let count = Math.max(2, Math.floor(plotW / (60 * s))); ; count--) {
    xTicks = niceTicks(xAxis.lo, xAxis.hi, { log: logX, count });
    xLabels = formatTicks(xTicks, logX);
    const widest = Math.max(0, ...xLabels.map((l) => textWidth(l, s)));
    const overhang = Math.max(0, Math.ceil(widest / 2) - rightMargin);
    plotW = width - left - rightMargin - overhang;
    const gaps = xTicks.slice(1).map((t, i) => (fraction(xAxis, t) - fraction(xAxis, xTicks[i] as number)) * plotW);
    if (count <= 2 || gaps.every((g) => g >= widest + 8 * s)) break;
  }
  if (plotW < 40) {
    bad(`width ${width} leaves no room for the plot area: make it larger, or the legend names or text smaller`);
  }

  const data = new Uint8Array(width * height * 3).fill(255);
  const img: PngImage = { width, height, channels: 3, data };
  const column = (x: number): number => left + Math.round(fraction(xAxis, x) * (plotW - 1));
  const row = (y: number): number => top + Math.round((1 - fraction(yAxis, y)) * (plotH - 1));

  // Grid lines, then the series, then the frame and ticks over them.
  for (const t of xTicks) fillRect(img, column(t), top, 1, plotH, GRID);
  for (const t of yTicks) fillRect(img, left, row(t), plotW, 1, GRID);
  const clip: [number, number, number, number] = [left, top, left + plotW - 1, top + plotH - 1];
  series.forEach((line, si) => {
    const color = line.color ?? (PLOT_COLORS[si % PLOT_COLORS.length] as Rgb);
    const local = (points[si] as ([number, number] | null)[]).map((p): [number, number] | null =>
      p === null ? null : [fraction(xAxis, p[0]) * (plotW - 1), (1 - fraction(yAxis, p[1])) * (plotH - 1)],
    );
    composite(img, strokeCoverage(local, plotW, plotH), left, top, plotW, color);
    if (showMarkers) {
      const shape = MARKERS[si % MARKERS.length] as (typeof MARKERS)[number];
      for (const p of points[si] as ([number, number] | null)[]) {
        if (p !== null) marker(img, shape, column(p[0]), row(p[1]), 3 * s, color, clip);
      }
    }
  });
  fillRect(img, left - 1, top - 1, plotW + 2, 1, INK);
  fillRect(img, left - 1, top + plotH, plotW + 2, 1, INK);
  fillRect(img, left - 1, top - 1, 1, plotH + 2, INK);
  fillRect(img, left + plotW, top - 1, 1, plotH + 2, INK);
  xTicks.forEach((t, i) => {
    const c = column(t);
    fillRect(img, c, top + plotH + 1, 1, TICK, INK);
    const label = xLabels[i] as string;
    drawText(img, c - Math.floor(textWidth(label, s) / 2), top + plotH + 1 + TICK + 3 * s, label, { scale: s });
  });
  yTicks.forEach((t, i) => {
    const r = row(t);
    fillRect(img, left - 1 - TICK, r, TICK, 1, INK);
    const label = yLabels[i] as string;
    // Centre the capital height (7 of the 9 font rows) on the tick.
    drawText(img, left - 1 - TICK - 3 * s - textWidth(label, s), r - Math.floor((7 * s) / 2), label, { scale: s });
  });
  if (title) {
    const x = left + Math.floor((plotW - textWidth(title, titleScale)) / 2);
    drawText(img, Math.max(pad, x), pad, title, { scale: titleScale });
  }
  if (xLabel) {
    drawText(
      img,
      left + Math.floor((plotW - textWidth(xLabel, s)) / 2),
      top + plotH + 1 + TICK + 3 * s + charH + 5 * s,
      xLabel,
      { scale: s },
    );
  }
  if (yLabel) {
    drawText(img, pad, top + Math.floor((plotH - textWidth(yLabel, s)) / 2), yLabel, { scale: s, direction: 'up' });
  }
  if (showLegend) {
    const lx = left + plotW + pad;
    const lh = series.length * legendRow + 5 * s;
    fillRect(img, lx, top, legendW, 1, LEGEND_BORDER);
    fillRect(img, lx, top + lh, legendW, 1, LEGEND_BORDER);
    fillRect(img, lx, top, 1, lh + 1, LEGEND_BORDER);
    fillRect(img, lx + legendW - 1, top, 1, lh + 1, LEGEND_BORDER);
    series.forEach((line, si) => {
      const color = line.color ?? (PLOT_COLORS[si % PLOT_COLORS.length] as Rgb);
      const y0 = top + 5 * s + si * legendRow;
      const cy = y0 + Math.floor((7 * s) / 2);
      const x0 = lx + 5 * s;
      const cov = strokeCoverage(
        [
          [0, 4],
          [swatch - 1, 4],
        ],
        swatch,
        9,
      );
      composite(img, cov, x0, cy - 4, swatch, color);
      if (showMarkers) {
        const shape = MARKERS[si % MARKERS.length] as (typeof MARKERS)[number];
        marker(img, shape, x0 + Math.floor(swatch / 2), cy, 3 * s, color, [0, 0, width - 1, height - 1]);
      }
      drawText(img, x0 + swatch + 6 * s, y0, line.name, { scale: s });
    });
  }
  return {
    ...img,
    frame: {
      left,
      top,
      width: plotW,
      height: plotH,
      xRange: [xAxis.lo, xAxis.hi],
      yRange: [yAxis.lo, yAxis.hi],
      logX,
      logY,
      xTicks,
      yTicks,
    },
  };
}

/**
 * Draws series as a line plot and encodes it as PNG (see {@link lineImage} for where points land
 * and what is drawn).
 *
 * @example
 * ```ts
 * writeFileSync('fd.png', linePlot(
 *   [{ name: 'D = 128', x: [19, 27, 35], y: [3.1, 2.2, 1.9] },
 *    { name: 'D = ∞', x: [19, 27, 35], y: [3.6, 2.4, 2.0] }],
 *   { title: 'FD against NFE', xLabel: 'NFE', yLabel: 'FD', logY: true },
 * ));
 * ```
 * @param series - the lines: name, x, y and optional colour each
 * @param options - title, axis labels, log axes, size, ranges, font scale, markers, legend
 * @returns the bytes of a PNG file
 * @throws PfgmError as {@link lineImage} does
 */
export function linePlot(series: readonly LineSeries[], options: LinePlotOptions = {}): Uint8Array {
  const { frame: _frame, ...image } = lineImage(series, options);
  return encodePng(image);
}
