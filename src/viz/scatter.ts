/**
 * Scatter plots of 2-D points as PNG, for training on 2-D toy data: generated points over
 * reference (data) points in another colour, on a white square with light-grey axes through 0.
 * Dependency-free: points are rasterized as filled discs.
 *
 * @module
 */

import { encodePng, type PngImage } from '../codecs/png.js';
import { PfgmError } from '../errors.js';

/** An RGB colour, 0..255 each. */
export type Rgb = readonly [number, number, number];

/** Options of {@link scatterPlot} and {@link scatterImage}. */
export interface ScatterPlotOptions {
  /** Width and height of the image in pixels; default 512. */
  size?: number;
  /** Reference points (n x 2, x then y), drawn first, under the points. */
  reference?: Float32Array;
  /**
   * [min, max] of both axes. Default: the bounding square of all finite points (both sets),
   * widened by 5% on each side.
   */
  range?: readonly [number, number];
  /** Disc radius in pixels; default `max(1, round(size / 256))`. */
  radius?: number;
  /** Colour of the points; default blue (31, 119, 180). */
  color?: Rgb;
  /** Colour of the reference points; default orange (255, 127, 14). */
  referenceColor?: Rgb;
}

const AXIS = 220;

function checkPoints(name: string, points: Float32Array): void {
  if (!(points instanceof Float32Array) || points.length % 2 !== 0) {
    throw new PfgmError(
      'ERR_PFGM_SHAPE',
      `scatterPlot: ${name} must be a Float32Array of n x 2 values (x, y pairs), got ` +
        `${points instanceof Float32Array ? `${points.length} values` : typeof points}`,
    );
  }
}

function checkColor(name: string, c: Rgb): void {
  if (!Array.isArray(c) || c.length !== 3 || !c.every((v) => Number.isInteger(v) && v >= 0 && v <= 255)) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `scatterPlot: ${name} must be [r, g, b] integers 0..255, got ${String(c)}`,
    );
  }
}

/**
 * Draws 2-D points as an RGB image. Point (x, y) lands at pixel column
 * `round((x - min) / (max - min) * (size - 1))` and row `round((max - y) / (max - min) * (size - 1))`
 * (y grows upwards); points whose centre falls outside the range, or that are not finite, are
 * skipped.
 *
 * @param points - n x 2 values, x then y
 * @param options - size, reference points, range, radius and colours
 * @throws PfgmError `ERR_PFGM_SHAPE` when a point array is not n x 2; `ERR_PFGM_ARGUMENT` for a
 *   bad size, range, radius or colour
 */
export function scatterImage(points: Float32Array, options: ScatterPlotOptions = {}): PngImage {
  const size = options.size ?? 512;
  if (!Number.isInteger(size) || size < 2 || size > 16384) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `scatterPlot: size must be an integer from 2 to 16384, got ${size}`);
  }
  checkPoints('points', points);
  const reference = options.reference;
  if (reference !== undefined) checkPoints('reference', reference);
  const radius = options.radius ?? Math.max(1, Math.round(size / 256));
  if (!Number.isInteger(radius) || radius < 0 || radius > size) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `scatterPlot: radius must be an integer from 0 to size, got ${radius}`);
  }
  const color = options.color ?? [31, 119, 180];
  const referenceColor = options.referenceColor ?? [255, 127, 14];
  checkColor('color', color);
  checkColor('referenceColor', referenceColor);

  let lo: number;
  let hi: number;
  if (options.range !== undefined) {
    const [a, b] = options.range;
    if (!Number.isFinite(a) || !Number.isFinite(b) || !(a < b)) {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `scatterPlot: range must be [min, max] with finite min < max, got [${String(a)}, ${String(b)}]`,
      );
    }
    lo = a;
    hi = b;
  } else {
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (const set of reference === undefined ? [points] : [points, reference]) {
      for (const v of set) {
        if (Number.isFinite(v)) {
          if (v < min) min = v;
          if (v > max) max = v;
        }
      }
    }
    if (!(min <= max)) {
      min = -1;
      max = 1;
    }
    const centre = (min + max) / 2;
    const half = max > min ? ((max - min) / 2) * 1.1 : 1;
    lo = centre - half;
    hi = centre + half;
  }

  const data = new Uint8Array(size * size * 3).fill(255);
  const scale = (size - 1) / (hi - lo);
  const column = (x: number): number => Math.round((x - lo) * scale);
  const row = (y: number): number => Math.round((hi - y) * scale);
  // Axes through 0.
  if (lo <= 0 && hi >= 0) {
    const c0 = column(0);
    const r0 = row(0);
    for (let i = 0; i < size; i++) {
      data.fill(AXIS, (r0 * size + i) * 3, (r0 * size + i) * 3 + 3);
      data.fill(AXIS, (i * size + c0) * 3, (i * size + c0) * 3 + 3);
    }
  }
  const r2 = radius * radius + radius; // a rounder small disc than r^2
  const draw = (set: Float32Array, rgb: Rgb): void => {
    for (let p = 0; p + 1 < set.length; p += 2) {
      const x = set[p] as number;
      const y = set[p + 1] as number;
      if (!Number.isFinite(x) || !Number.isFinite(y) || x < lo || x > hi || y < lo || y > hi) continue;
      const cx = column(x);
      const cy = row(y);
      for (let dy = -radius; dy <= radius; dy++) {
        const py = cy + dy;
        if (py < 0 || py >= size) continue;
        for (let dx = -radius; dx <= radius; dx++) {
          const px = cx + dx;
          if (px < 0 || px >= size || dx * dx + dy * dy > r2) continue;
          const o = (py * size + px) * 3;
          data[o] = rgb[0];
          data[o + 1] = rgb[1];
          data[o + 2] = rgb[2];
        }
      }
    }
  };
  if (reference !== undefined) draw(reference, referenceColor);
  draw(points, color);
  return { width: size, height: size, channels: 3, data };
}

/**
 * Draws 2-D points (and optionally reference points in another colour) as a square RGB PNG; see
 * {@link scatterImage} for where points land.
 *
 * @param points - n x 2 values, x then y
 * @param options - size (default 512), reference points, range, radius and colours
 * @returns the bytes of a PNG file
 * @throws PfgmError as {@link scatterImage} does
 */
export function scatterPlot(points: Float32Array, options: ScatterPlotOptions = {}): Uint8Array {
  return encodePng(scatterImage(points, options));
}
