// Line plots: the tick rule (1-2-5 steps, decades on log axes) against hand-worked cases and its
// defining properties on random ranges; tick labels; and decoded PNGs checked by pixels, with the
// plot area found from the image itself (the two long black rows and columns of its frame): each
// point's marker centre lands at the pixel the documented mapping gives, in the series' colour;
// tick marks sit at the nice values and the numbers under them read as those values (matched
// against the font's own rendering); the legend shows every colour and name; non-finite points
// break the line; bad input fails with clear errors.
import { describe, expect, it } from 'vitest';
import { decodePng, type PngImage } from '../../src/codecs/png.js';
import { PfgmError } from '../../src/errors.js';
import { drawText, textHeight, textWidth } from '../../src/viz/font.js';
import { type LineSeries, lineImage, linePlot, PLOT_COLORS } from '../../src/viz/lines.js';
import type { Rgb } from '../../src/viz/scatter.js';
import { formatTicks, niceTicks } from '../../src/viz/ticks.js';

function pixel(img: PngImage, x: number, y: number): [number, number, number] {
  const o = (y * img.width + x) * img.channels;
  return [img.data[o] as number, img.data[o + 1] as number, img.data[o + 2] as number];
}

function isBlack(img: PngImage, x: number, y: number): boolean {
  const [r, g, b] = pixel(img, x, y);
  return r === 0 && g === 0 && b === 0;
}

/** The plot area from the frame's pixels: rows and columns holding a black run over 100 pixels. */
function findFrame(img: PngImage): { left: number; top: number; width: number; height: number } {
  const longRun = (n: number, black: (i: number) => boolean): boolean => {
    let run = 0;
    for (let i = 0; i < n; i++) {
      run = black(i) ? run + 1 : 0;
      if (run > 100) return true;
    }
    return false;
  };
  const rows: number[] = [];
  const cols: number[] = [];
  for (let y = 0; y < img.height; y++) if (longRun(img.width, (x) => isBlack(img, x, y))) rows.push(y);
  for (let x = 0; x < img.width; x++) if (longRun(img.height, (y) => isBlack(img, x, y))) cols.push(x);
  expect(rows.length, 'two long black rows').toBe(2);
  expect(cols.length, 'two long black columns').toBe(2);
  const [r0, r1] = rows as [number, number];
  const [c0, c1] = cols as [number, number];
  return { left: c0 + 1, top: r0 + 1, width: c1 - c0 - 1, height: r1 - r0 - 1 };
}

/** Where (x, y) should land, by the documented mapping, given the detected plot area and ranges. */
function expectedPixel(
  area: { left: number; top: number; width: number; height: number },
  frame: { xRange: readonly [number, number]; yRange: readonly [number, number]; logX: boolean; logY: boolean },
  x: number,
  y: number,
): [number, number] {
  const t = (v: number, log: boolean): number => (log ? Math.log10(v) : v);
  const fx =
    (t(x, frame.logX) - t(frame.xRange[0], frame.logX)) /
    (t(frame.xRange[1], frame.logX) - t(frame.xRange[0], frame.logX));
  const fy =
    (t(y, frame.logY) - t(frame.yRange[0], frame.logY)) /
    (t(frame.yRange[1], frame.logY) - t(frame.yRange[0], frame.logY));
  return [area.left + Math.round(fx * (area.width - 1)), area.top + Math.round((1 - fy) * (area.height - 1))];
}

/** Ink mask of `text` as the font draws it, with a blank 1-pixel border. */
function rendered(text: string, scale: number): PngImage {
  const width = textWidth(text, scale) + 2;
  const height = textHeight(text, scale) + 2;
  const img: PngImage = { width, height, channels: 3, data: new Uint8Array(width * height * 3).fill(255) };
  drawText(img, 1, 1, text, { scale });
  return img;
}

/**
 * Top-left positions (of the text box) in the window where `text` appears exactly and on its own:
 * black where the font inks, not black elsewhere in its box and on a 1-pixel border around it.
 */
function findText(
  img: PngImage,
  text: string,
  scale: number,
  window: [number, number, number, number],
): [number, number][] {
  const t = rendered(text, scale);
  const matches = (x: number, y: number): boolean => {
    if (x < 0 || y < 0 || x + t.width > img.width || y + t.height > img.height) return false;
    for (let v = 0; v < t.height; v++) {
      for (let u = 0; u < t.width; u++) if (isBlack(t, u, v) !== isBlack(img, x + u, y + v)) return false;
    }
    return true;
  };
  const hits: [number, number][] = [];
  for (let y = window[1] - 1; y <= window[3]; y++) {
    for (let x = window[0] - 1; x <= window[2]; x++) if (matches(x, y)) hits.push([x + 1, y + 1]);
  }
  return hits;
}

describe('niceTicks', () => {
  it('gives the hand-worked linear cases', () => {
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(-0.05, 1.05)).toEqual([0, 0.5, 1]); // 1.1 / 5 = 0.22 rounds up to 0.5
    expect(niceTicks(0, 100)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(niceTicks(-7, 3)).toEqual([-6, -4, -2, 0, 2]);
    expect(niceTicks(3.25, 3.9)).toEqual([3.4, 3.6, 3.8]);
    expect(niceTicks(0.1, 0.35, { count: 5 })).toEqual([0.1, 0.15, 0.2, 0.25, 0.3, 0.35]);
    expect(niceTicks(1e6, 3e6, { count: 4 })).toEqual([1e6, 1.5e6, 2e6, 2.5e6, 3e6]);
    expect(niceTicks(0, 1e-5, { count: 2 })).toEqual([0, 5e-6, 1e-5]);
  });

  it('uses 1, 2 or 5 x 10^k steps, the smallest not below span / count, all inside', () => {
    let seed = 12345;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let trial = 0; trial < 500; trial++) {
      const scale = 10 ** Math.floor(rand() * 12 - 6);
      const a = (rand() * 200 - 100) * scale;
      const b = a + (rand() * 100 + 1e-3) * scale;
      const count = 2 + Math.floor(rand() * 9);
      const ticks = niceTicks(a, b, { count });
      expect(ticks.length).toBeGreaterThanOrEqual(1);
      expect(ticks.length).toBeLessThanOrEqual(count + 1);
      for (const t of ticks) {
        expect(t).toBeGreaterThanOrEqual(a - 1e-8 * (b - a));
        expect(t).toBeLessThanOrEqual(b + 1e-8 * (b - a));
      }
      if (ticks.length >= 2) {
        const step = (ticks[1] as number) - (ticks[0] as number);
        const e = Math.floor(Math.log10(step) + 1e-9);
        const m = Math.round(step / 10 ** e);
        expect([1, 2, 5, 10]).toContain(m);
        expect(Math.abs(step / (m * 10 ** e) - 1)).toBeLessThan(1e-6);
        expect(step).toBeGreaterThanOrEqual(((b - a) / count) * (1 - 1e-9));
        const smaller = m === 1 ? 0.5 * 10 ** e : m === 2 ? 10 ** e : 2 * 10 ** e;
        expect(smaller).toBeLessThan((b - a) / count);
        for (let i = 2; i < ticks.length; i++) {
          expect(Math.abs((ticks[i] as number) - (ticks[i - 1] as number) - step)).toBeLessThan(1e-9 * step);
        }
        for (const t of ticks) expect(Math.abs(t / step - Math.round(t / step))).toBeLessThan(1e-6);
        // exact decimals: no binary noise in the printed value
        for (const t of ticks) expect(String(t).length).toBeLessThanOrEqual(String(Number(t.toPrecision(10))).length);
      }
    }
  });

  it('gives decades, thinned decades, 1-2-5 or linear ticks on log axes', () => {
    expect(niceTicks(1, 1000, { log: true })).toEqual([1, 10, 100, 1000]);
    expect(niceTicks(0.5, 2e4, { log: true })).toEqual([1, 10, 100, 1000, 10000]);
    expect(niceTicks(1, 1e8, { log: true, count: 5 })).toEqual([1, 100, 1e4, 1e6, 1e8]);
    expect(niceTicks(1e-12, 1e12, { log: true, count: 5 })).toEqual([1e-10, 1e-5, 1, 1e5, 1e10]);
    expect(niceTicks(10, 100, { log: true })).toEqual([10, 20, 50, 100]);
    expect(niceTicks(2.6, 21, { log: true })).toEqual([5, 10, 20]);
    expect(niceTicks(0.9, 15, { log: true })).toEqual([1, 2, 5, 10]);
    expect(niceTicks(0.015, 0.25, { log: true })).toEqual([0.02, 0.05, 0.1, 0.2]);
    expect(niceTicks(20, 45, { log: true })).toEqual([20, 25, 30, 35, 40, 45]);
  });

  it('rejects empty, non-finite and non-positive log ranges', () => {
    expect(() => niceTicks(1, 1)).toThrow(/finite min < max/);
    expect(() => niceTicks(0, Number.POSITIVE_INFINITY)).toThrow(PfgmError);
    expect(() => niceTicks(0, 10, { log: true })).toThrow(/log axis needs min > 0/);
    expect(() => niceTicks(0, 10, { count: 1 })).toThrow(/count/);
  });
});

describe('formatTicks', () => {
  it('gives linear labels the decimals of their step, and exponents for tiny steps or huge values', () => {
    expect(formatTicks([0, 0.5, 1])).toEqual(['0.0', '0.5', '1.0']);
    expect(formatTicks([-6, -4, -2, 0, 2])).toEqual(['-6', '-4', '-2', '0', '2']);
    expect(formatTicks([0.1, 0.15, 0.2])).toEqual(['0.10', '0.15', '0.20']);
    expect(formatTicks([0, 2e-5, 4e-5])).toEqual(['0', '2e-5', '4e-5']);
    expect(formatTicks([1e6, 1.5e6, 2e6])).toEqual(['1.0e6', '1.5e6', '2.0e6']);
    expect(formatTicks([42])).toEqual(['42']);
  });

  it('gives log labels their shortest form, with exponents outside [1e-3, 1e5)', () => {
    expect(formatTicks([1e-4, 0.001, 0.01, 1, 100, 1e4, 1e5, 2e6], true)).toEqual([
      '1e-4',
      '0.001',
      '0.01',
      '1',
      '100',
      '10000',
      '1e5',
      '2e6',
    ]);
  });
});

const RED: Rgb = [214, 39, 40];
const BLUE: Rgb = [31, 119, 180];

describe('linePlot', () => {
  it('puts every point at the pixel of the documented mapping, in its colour (linear axes)', () => {
    const series: LineSeries[] = [
      { name: 'first', x: [0, 2.5, 5, 7.5, 10], y: [0, 3, 1, 4, 2], color: RED },
      { name: 'second', x: [1, 4, 9], y: [-1, 4.5, 0.5], color: BLUE },
    ];
    const options = { xRange: [0, 10], yRange: [-2, 5], width: 640, height: 420 } as const;
    const png = linePlot(series, options);
    const img = decodePng(png);
    expect([img.width, img.height, img.channels]).toEqual([640, 420, 3]);
    const area = findFrame(img);
    const { frame } = lineImage(series, options);
    expect(area).toEqual({ left: frame.left, top: frame.top, width: frame.width, height: frame.height });
    const axes = { xRange: [0, 10], yRange: [-2, 5], logX: false, logY: false } as const;
    for (const s of series) {
      for (let i = 0; i < s.x.length; i++) {
        const [px, py] = expectedPixel(area, axes, s.x[i] as number, s.y[i] as number);
        expect(pixel(img, px, py), `${s.name}[${i}] at (${px}, ${py})`).toEqual(s.color);
      }
    }
    // The corners of the ranges are the corners of the plot area.
    expect(expectedPixel(area, axes, 0, 5)).toEqual([area.left, area.top]);
    expect(expectedPixel(area, axes, 10, -2)).toEqual([area.left + area.width - 1, area.top + area.height - 1]);
  });

  it('puts points where log10 says on log axes', () => {
    const series: LineSeries[] = [{ name: 'fd', x: [1, 10, 100, 1000], y: [10, 1, 0.1, 0.01], color: RED }];
    const options = { xRange: [1, 1000], yRange: [0.01, 10], logX: true, logY: true } as const;
    const img = decodePng(linePlot(series, options));
    const area = findFrame(img);
    // log10 places the decades a third of the plot apart.
    const [x10, y10] = expectedPixel(area, { ...options }, 10, 1);
    expect(x10).toBe(area.left + Math.round((area.width - 1) / 3));
    expect(y10).toBe(area.top + Math.round((area.height - 1) / 3));
    for (let i = 0; i < 4; i++) {
      const [px, py] = expectedPixel(area, options, series[0]?.x[i] as number, series[0]?.y[i] as number);
      expect(pixel(img, px, py)).toEqual(RED);
    }
  });

  it('widens the finite data range by 5% per side by default, in log space on log axes', () => {
    const series: LineSeries[] = [{ name: 'a', x: [2, 4, 10, Number.NaN], y: [1, 3, 2, 100], color: BLUE }];
    const { frame } = lineImage(series);
    expect(frame.xRange[0]).toBeCloseTo(1.6, 12);
    expect(frame.xRange[1]).toBeCloseTo(10.4, 12);
    expect(frame.yRange[0]).toBeCloseTo(0.9, 12); // the NaN point's y = 100 does not count
    expect(frame.yRange[1]).toBeCloseTo(3.1, 12);
    const img = decodePng(linePlot(series));
    const area = findFrame(img);
    const [px, py] = expectedPixel(area, { xRange: [1.6, 10.4], yRange: [0.9, 3.1], logX: false, logY: false }, 4, 3);
    expect(pixel(img, px, py)).toEqual(BLUE);
    const log = lineImage([{ name: 'a', x: [1, 100], y: [5, 5] }], { logX: true, logY: true }).frame;
    expect(log.xRange[0]).toBeCloseTo(10 ** -0.1, 12);
    expect(log.xRange[1]).toBeCloseTo(10 ** 2.1, 12);
    expect(log.yRange[0]).toBeCloseTo(5 / 10 ** 0.5, 12); // one value: half a decade each side
    expect(log.yRange[1]).toBeCloseTo(5 * 10 ** 0.5, 12);
    const flat = lineImage([{ name: 'a', x: [3], y: [20] }]).frame;
    expect(flat.xRange).toEqual([2, 4]);
    expect(flat.yRange).toEqual([18, 22]);
  });

  it('draws tick marks at the nice values and their numbers under and beside them', () => {
    const series: LineSeries[] = [{ name: 'a', x: [0, 10], y: [0, 1] }];
    const options = { xRange: [0, 10], yRange: [0, 1], width: 640, height: 420 } as const;
    const img = decodePng(linePlot(series, options));
    const area = findFrame(img);
    // Tick marks: black pixels in the rows just below the frame / columns just left of it.
    const below = area.top + area.height + 2;
    const xMarks: number[] = [];
    for (let x = area.left - 1; x <= area.left + area.width; x++) if (isBlack(img, x, below)) xMarks.push(x);
    const left = area.left - 3;
    const yMarks: number[] = [];
    for (let y = area.top - 1; y <= area.top + area.height; y++) if (isBlack(img, left, y)) yMarks.push(y);
    const xTicks = [0, 2, 4, 6, 8, 10];
    const yTicks = [0, 0.2, 0.4, 0.6, 0.8, 1];
    const axes = { xRange: [0, 10], yRange: [0, 1], logX: false, logY: false } as const;
    expect(xMarks).toEqual(xTicks.map((t) => expectedPixel(area, axes, t, 0)[0]));
    expect(yMarks).toEqual(yTicks.map((t) => expectedPixel(area, axes, 0, t)[1]).sort((a, b) => a - b));
    // Numbers: each label, rendered by the font, appears centred under its mark / left of it.
    xTicks.forEach((t, i) => {
      const label = String(t);
      const x = xMarks[i] as number;
      const hits = findText(img, label, 1, [x - 20, below, x + 20, below + 30]);
      expect(hits.length, `label '${label}'`).toBe(1);
      const centre = (hits[0]?.[0] as number) + textWidth(label, 1) / 2;
      expect(Math.abs(centre - x)).toBeLessThanOrEqual(1);
    });
    yTicks.forEach((t) => {
      const label = t.toFixed(1);
      const y = expectedPixel(area, axes, 0, t)[1];
      const hits = findText(img, label, 1, [area.left - 60, y - 10, area.left - 5, y + 10]);
      expect(hits.length, `label '${label}'`).toBe(1);
      expect(Math.abs((hits[0]?.[1] as number) + 3.5 - y)).toBeLessThanOrEqual(1); // capitals centred on the tick
    });
  });

  it('labels log axes at decades', () => {
    const options = { xRange: [1, 1e4], yRange: [1e-3, 1], logX: true, logY: true } as const;
    const img = decodePng(linePlot([{ name: 'a', x: [1, 1e4], y: [1, 1e-3] }], options));
    const area = findFrame(img);
    const below = area.top + area.height + 2;
    for (const [t, label] of [
      [1, '1'],
      [10, '10'],
      [100, '100'],
      [1000, '1000'],
      [1e4, '10000'],
    ] as const) {
      const [x] = expectedPixel(area, { ...options }, t, 1);
      expect(isBlack(img, x, below)).toBe(true);
      expect(findText(img, label, 1, [x - 20, below, x + 20, below + 30]).length, label).toBe(1);
    }
    for (const [t, label] of [
      [1e-3, '0.001'],
      [0.01, '0.01'],
      [0.1, '0.1'],
      [1, '1'],
    ] as const) {
      const [, y] = expectedPixel(area, { ...options }, 1, t);
      expect(isBlack(img, area.left - 3, y)).toBe(true);
      expect(findText(img, label, 1, [0, y - 10, area.left, y + 10]).length, label).toBe(1);
    }
  });

  it('draws the title, the axis labels and a legend with every colour and name', () => {
    const series: LineSeries[] = [
      { name: 'D = 128', x: [1, 2, 3], y: [3, 2, 1] },
      { name: 'D = 2048', x: [1, 2, 3], y: [3.5, 2.5, 1.5] },
      { name: 'D = ∞', x: [1, 2, 3], y: [4, 3, 2] },
    ];
    const img = decodePng(linePlot(series, { title: 'FD against NFE', xLabel: 'NFE', yLabel: 'FD' }));
    const area = findFrame(img);
    const legend: [number, number, number, number] = [
      area.left + area.width + 2,
      area.top,
      img.width - 1,
      area.top + 80,
    ];
    series.forEach((s, i) => {
      const color = PLOT_COLORS[i] as Rgb;
      let n = 0;
      for (let y = legend[1]; y <= legend[3]; y++)
        for (let x = legend[0]; x <= legend[2]; x++) {
          const p = pixel(img, x, y);
          if (p[0] === color[0] && p[1] === color[1] && p[2] === color[2]) n++;
        }
      expect(n, `legend pixels of '${s.name}'`).toBeGreaterThan(20);
      expect(findText(img, s.name, 1, legend).length, s.name).toBe(1);
    });
    expect(findText(img, 'FD against NFE', 2, [0, 0, img.width - 1, area.top]).length).toBe(1);
    expect(findText(img, 'NFE', 1, [0, area.top + area.height, img.width - 1, img.height - 1]).length).toBe(1);
    // The y label reads upwards left of the tick numbers: 'FD' rotated.
    const up: PngImage = { width: 9, height: 11, channels: 3, data: new Uint8Array(9 * 11 * 3).fill(255) };
    drawText(up, 0, 0, 'FD', { direction: 'up' });
    let found = 0;
    for (let y = area.top; y < area.top + area.height; y++)
      for (let x = 0; x < area.left - 20; x++) {
        let ok = true;
        for (let v = 0; v < 11 && ok; v++) {
          for (let u = 0; u < 9 && ok; u++) if (isBlack(up, u, v) !== isBlack(img, x + u, y + v)) ok = false;
        }
        if (ok) found++;
      }
    expect(found).toBe(1);
  });

  it('breaks the line at non-finite points and joins finite neighbours', () => {
    const series: LineSeries[] = [
      { name: 'a', x: [0, 1, 2, 3, 4], y: [0, 1, Number.NaN, 3, 4], color: RED },
      { name: 'b', x: [0, 1, Number.POSITIVE_INFINITY, 3], y: [4, 3, 2, 1], color: BLUE },
    ];
    const options = { xRange: [-0.5, 4.5], yRange: [-0.5, 4.5], markers: false } as const;
    const img = decodePng(linePlot(series, options));
    const area = findFrame(img);
    const axes = { ...options, logX: false, logY: false };
    const around = (x: number, y: number): [number, number, number][] => {
      const [cx, cy] = expectedPixel(area, axes, x, y);
      const out: [number, number, number][] = [];
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) out.push(pixel(img, cx + dx, cy + dy));
      return out;
    };
    // A 2-pixel line has, in every pixel column it crosses, a pixel centre within half a pixel
    // of it, which it covers fully: so a point on a drawn segment has its exact colour nearby.
    const drawn = (x: number, y: number, c: Rgb): boolean =>
      around(x, y).some((p) => p[0] === c[0] && p[1] === c[1] && p[2] === c[2]);
    // White or grid grey (232) only: no series ink.
    const blank = (x: number, y: number): boolean => around(x, y).every((p) => p.every((v) => v >= 225));
    expect(drawn(0.5, 0.5, RED)).toBe(true);
    expect(drawn(3.5, 3.5, RED)).toBe(true);
    expect(blank(1.6, 1.6)).toBe(true); // across the NaN: no segment from (1, 1) to (3, 3)
    expect(blank(2.4, 2.4)).toBe(true);
    expect(drawn(0.5, 3.5, BLUE)).toBe(true);
    expect(blank(2, 2)).toBe(true); // neither line crosses the gap
    // no markers asked: up-right of the point (1, 1), where no segment goes, stays blank
    const [mx, my] = expectedPixel(area, axes, 1, 1);
    expect(pixel(img, mx + 3, my - 3).every((v) => v >= 225)).toBe(true);
  });

  it('clips lines and markers to the plot area', () => {
    const series: LineSeries[] = [{ name: 'a', x: [-5, 5, 15], y: [0.5, 0.5, 0.5], color: RED }];
    const img = decodePng(linePlot(series, { xRange: [0, 10], yRange: [0, 1], legend: false }));
    const area = findFrame(img);
    for (let y = 0; y < img.height; y++)
      for (let x = 0; x < img.width; x++) {
        const inside = x >= area.left && x < area.left + area.width && y >= area.top && y < area.top + area.height;
        if (!inside) expect(pixel(img, x, y), `(${x}, ${y})`).not.toEqual(RED);
      }
  });

  it('rejects bad input with clear errors', () => {
    const ok: LineSeries = { name: 'a', x: [1, 2], y: [1, 2] };
    const code = (f: () => unknown): string | undefined => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(PfgmError);
        return `${(e as PfgmError).code}: ${(e as Error).message}`;
      }
      return undefined;
    };
    expect(code(() => linePlot([]))).toMatch(/ERR_PFGM_ARGUMENT: .*no series to plot/);
    expect(code(() => linePlot([{ name: 'e', x: [], y: [] }]))).toMatch(/ERR_PFGM_ARGUMENT: .*'e'.* is empty/);
    expect(code(() => linePlot([ok, { name: 'm', x: [1, 2, 3], y: [1, 2] }]))).toMatch(
      /ERR_PFGM_SHAPE: .*series 1 \('m'\) has 3 x values but 2 y values/,
    );
    expect(code(() => linePlot([{ name: 'z', x: [1, 0], y: [1, 2] }], { logX: true }))).toMatch(
      /x\[1\] = 0 cannot be shown on a log x axis/,
    );
    expect(code(() => linePlot([{ name: 'n', x: [1, 2], y: [-1, 2] }], { logY: true }))).toMatch(
      /y\[0\] = -1 cannot be shown on a log y axis/,
    );
    expect(code(() => linePlot([{ name: 'nan', x: [Number.NaN], y: [1] }]))).toMatch(/no series has a point/);
    expect(code(() => linePlot([ok], { xRange: [2, 1] }))).toMatch(/xRange must be \[min, max\] with finite min < max/);
    expect(code(() => linePlot([ok], { yRange: [0, 1], logY: true }))).toMatch(/yRange is on a log axis/);
    expect(code(() => linePlot([ok], { width: 100 }))).toMatch(/width must be an integer from 160/);
    expect(code(() => linePlot([ok], { fontScale: 0 }))).toMatch(/fontScale/);
    expect(code(() => linePlot([{ ...ok, color: [0, 0, 256] }]))).toMatch(/color must be/);
    expect(code(() => linePlot([{ name: 'x'.repeat(80), x: [1], y: [1] }], { width: 400 }))).toMatch(
      /no room for the plot area/,
    );
    // A series of only non-finite points is fine when the ranges are given.
    expect(() =>
      linePlot([{ name: 'gap', x: [Number.NaN], y: [1] }], { xRange: [0, 1], yRange: [0, 1] }),
    ).not.toThrow();
  });
});
