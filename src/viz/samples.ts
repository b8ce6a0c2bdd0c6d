/**
 * Writing generated samples where a user wants them: vectors as CSV (one sample per row) or NPY
 * (`<f4`, C order, the format NumPy and our own reader load), images as a PNG grid or one PNG per
 * sample in a folder (EDM's `generate.py` convention: `seed000123.png`). Every file is written
 * atomically.
 *
 * @module
 */
import { mkdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { encodeNpy } from '../codecs/npy.js';
import { encodePng } from '../codecs/png.js';
import { PfgmError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { gridImage, toByte } from './grid.js';
import { scatterPlot } from './scatter.js';

/** Samples as CSV text: one row per sample, values with up to 9 significant digits. */
export function encodeCsv(data: Float32Array, count: number): string {
  const per = data.length / count;
  const rows: string[] = [];
  for (let i = 0; i < count; i++) {
    const row: string[] = [];
    for (let k = 0; k < per; k++) row.push(String(Number((data[i * per + k] as number).toPrecision(9))));
    rows.push(row.join(','));
  }
  return `${rows.join('\n')}\n`;
}

/** Where {@link writeSamples} writes. */
export interface WriteSamplesOptions {
  /** Shape of one sample ([C, H, W] for images, [N] for vectors). */
  shape: readonly number[];
  /** The seed of each sample, for per-sample file names (default 0, 1, ...). */
  seeds?: readonly (number | bigint)[];
  /** Grid columns for a PNG grid (default about sqrt(count)). */
  columns?: number;
}

/**
 * Writes `count` samples to `out`: `.csv` or `.npy` for any samples, `.png` for an image grid (or
 * a scatter plot of 2-D vectors), and any other path is a folder that receives one PNG per image
 * sample (`seed000042.png`).
 *
 * @returns the files written
 */
export async function writeSamples(
  out: string,
  data: Float32Array,
  count: number,
  options: WriteSamplesOptions,
): Promise<string[]> {
  const shape = options.shape;
  const per = shape.reduce((a, b) => a * b, 1);
  if (data.length !== count * per) {
    throw new PfgmError('ERR_PFGM_SHAPE', `writeSamples: ${data.length} values are not ${count} samples of [${shape}]`);
  }
  const image = shape.length === 3 && (shape[1] as number) * (shape[2] as number) > 1;
  const ext = extname(out).toLowerCase();
  if (ext === '.csv') {
    await writeFileAtomic(out, new TextEncoder().encode(encodeCsv(data, count)));
    return [out];
  }
  if (ext === '.npy') {
    await writeFileAtomic(out, encodeNpy(data, [count, ...shape]));
    return [out];
  }
  if (ext === '.png') {
    if (image) {
      const columns = options.columns ?? Math.ceil(Math.sqrt(count));
      await writeFileAtomic(out, encodePng(gridImage(data, shape, { columns })));
    } else if (per === 2) {
      await writeFileAtomic(out, scatterPlot(data));
    } else {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `a PNG needs images or 2-D points; these samples have ${per} values each: write .csv or .npy instead`,
      );
    }
    return [out];
  }
  if (ext !== '') {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `don't know how to write '${out}': use FILE.csv, FILE.npy, FILE.png or a folder (no extension)`,
    );
  }
  if (!image) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `one PNG per sample needs images; write vectors to FILE.csv or FILE.npy`);
  }
  await mkdir(out, { recursive: true });
  const [c, h, w] = shape as [number, number, number];
  const files: string[] = [];
  for (let i = 0; i < count; i++) {
    const pixels = new Uint8Array(h * w * (c === 1 ? 1 : 3));
    const base = i * per;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let ch = 0; ch < (c === 1 ? 1 : 3); ch++) {
          pixels[(y * w + x) * (c === 1 ? 1 : 3) + ch] = toByte(
            data[base + Math.min(ch, c - 1) * h * w + y * w + x] as number,
          );
        }
      }
    }
    const seed = options.seeds?.[i] ?? i;
    const file = join(out, `seed${String(seed).padStart(6, '0')}.png`);
    await writeFileAtomic(file, encodePng({ width: w, height: h, channels: c === 1 ? 1 : 3, data: pixels }));
    files.push(file);
  }
  return files;
}
