/**
 * Image grids: a batch of samples in [-1, 1] laid out as one PNG, row by row. This is what
 * training writes periodically and what `pfgm sample --out x.png` writes. Dependency-free.
 *
 * @module
 */

import { encodePng, type PngImage } from '../codecs/png.js';
import { PfgmError } from '../errors.js';

/** Options of {@link imageGrid} and {@link gridImage}. */
export interface ImageGridOptions {
  /** Images per row; default `ceil(sqrt(n))`. */
  columns?: number;
  /** Pixels between images and around the grid; default 2. */
  padding?: number;
  /** Colour of the padding, on the samples' [-1, 1] scale; default -1 (black). */
  padValue?: number;
}

/**
 * Converts a sample value in [-1, 1] to 0..255 the way EDM does (`floor(x * 127.5 + 128)`,
 * clipped; NaN becomes 0). Inverse of the datasets' `v / 127.5 - 1` for every 8-bit value.
 *
 * @param x - a sample value
 */
export function toByte(x: number): number {
  const v = x * 127.5 + 128;
  return v >= 255 ? 255 : v > 0 ? Math.floor(v) : 0;
}

/**
 * Lays out a batch of [C, H, W] samples (C 1 or 3) as one 8-bit image: `columns` images per row,
 * `padding` pixels between them and around them, values clipped from [-1, 1] to 0..255 with
 * {@link toByte}. Grayscale for C = 1, RGB for C = 3.
 *
 * @param batch - n samples, NCHW, n = `batch.length / (C * H * W)`
 * @param shape - [C, H, W] of one sample
 * @param options - columns, padding and padding colour
 * @throws PfgmError `ERR_PFGM_SHAPE` when `shape` is not [1 or 3, H, W] or `batch` does not hold a
 *   whole number (at least one) of samples; `ERR_PFGM_ARGUMENT` for a bad option
 */
export function gridImage(batch: Float32Array, shape: readonly number[], options: ImageGridOptions = {}): PngImage {
  const [C, H, W] = shape as [number, number, number];
  if (shape.length !== 3 || (C !== 1 && C !== 3) || !Number.isInteger(H) || !Number.isInteger(W) || H <= 0 || W <= 0) {
    throw new PfgmError(
      'ERR_PFGM_SHAPE',
      `imageGrid: shape must be [C, H, W] with C = 1 (grayscale) or 3 (RGB), got [${shape.join(', ')}]`,
    );
  }
  const size = C * H * W;
  const n = batch.length / size;
  if (!Number.isInteger(n) || n < 1) {
    throw new PfgmError(
      'ERR_PFGM_SHAPE',
      `imageGrid: the batch has ${batch.length} values, not a whole number of [${C}, ${H}, ${W}] samples (${size} values each)`,
    );
  }
  const columns = options.columns ?? Math.ceil(Math.sqrt(n));
  const padding = options.padding ?? 2;
  const padValue = options.padValue ?? -1;
  if (!Number.isInteger(columns) || columns < 1) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `imageGrid: columns must be an integer >= 1, got ${columns}`);
  }
  if (!Number.isInteger(padding) || padding < 0) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `imageGrid: padding must be an integer >= 0, got ${padding}`);
  }
  const cols = Math.min(columns, n);
  const rows = Math.ceil(n / cols);
  const width = cols * (W + padding) + padding;
  const height = rows * (H + padding) + padding;
  const data = new Uint8Array(width * height * C).fill(toByte(padValue));
  const plane = H * W;
  for (let k = 0; k < n; k++) {
    const x0 = padding + (k % cols) * (W + padding);
    const y0 = padding + Math.floor(k / cols) * (H + padding);
    const base = k * size;
    for (let y = 0; y < H; y++) {
      let o = ((y0 + y) * width + x0) * C;
      for (let x = 0; x < W; x++) {
        for (let c = 0; c < C; c++) data[o++] = toByte(batch[base + c * plane + y * W + x] as number);
      }
    }
  }
  return { width, height, channels: C, data };
}

/**
 * Renders a batch of [C, H, W] samples in [-1, 1] as one grid PNG (see {@link gridImage}).
 *
 * @param batch - n samples, NCHW
 * @param shape - [C, H, W] of one sample, C 1 or 3
 * @param options - columns, padding and padding colour
 * @returns the bytes of a PNG file
 * @throws PfgmError as {@link gridImage} does
 */
export function imageGrid(batch: Float32Array, shape: readonly number[], options: ImageGridOptions = {}): Uint8Array {
  return encodePng(gridImage(batch, shape, options));
}
