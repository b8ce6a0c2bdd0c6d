/**
 * Distances between two sets of vectors for checking generated samples against data: the sliced
 * Wasserstein distance (the mean over random directions of the 1-D Wasserstein-1 distance between
 * the projections) and the energy distance (Székely & Rizzo).
 *
 * @module
 */
import { PfgmError } from '../errors.js';
import { SplitMix64 } from '../train/order.js';

function rows(name: string, data: Float32Array | Float64Array, dim: number): number {
  if (!Number.isInteger(dim) || dim < 1 || data.length % dim !== 0 || data.length === 0) {
    throw new PfgmError(
      'ERR_PFGM_SHAPE',
      `${name} has ${data.length} values, not a whole number of ${dim}-dimensional rows`,
    );
  }
  return data.length / dim;
}

function gaussian(rng: SplitMix64): number {
  const u = (Number(rng.next() >> 11n) + 0.5) / 2 ** 53;
  const v = (Number(rng.next() >> 11n) + 0.5) / 2 ** 53;
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** Wasserstein-1 between two 1-D empirical laws (any sizes), by their quantile functions. */
function wasserstein1d(a: Float64Array, b: Float64Array): number {
  a.sort();
  b.sort();
  // Integrate |F_a^-1(t) - F_b^-1(t)| over t in (0, 1) on the merged grid of both step points.
  let i = 0;
  let j = 0;
  let t = 0;
  let total = 0;
  while (i < a.length && j < b.length) {
    const ta = (i + 1) / a.length;
    const tb = (j + 1) / b.length;
    const next = Math.min(ta, tb);
    total += (next - t) * Math.abs((a[i] as number) - (b[j] as number));
    t = next;
    if (ta <= next) i++;
    if (tb <= next) j++;
  }
  return total;
}

/** Options of {@link slicedWasserstein}. */
export interface SlicedOptions {
  /** Random directions (default 256). */
  projections?: number;
  /** Seed of the directions (default 0). */
  seed?: number;
}

/**
 * Sliced Wasserstein-1 distance between sets `a` and `b` of `dim`-dimensional rows: the average
 * over uniformly random unit directions of the 1-D Wasserstein-1 distance of the projections.
 */
export function slicedWasserstein(
  a: Float32Array | Float64Array,
  b: Float32Array | Float64Array,
  dim: number,
  options: SlicedOptions = {},
): number {
  const na = rows('a', a, dim);
  const nb = rows('b', b, dim);
  const projections = options.projections ?? 256;
  const rng = new SplitMix64(BigInt(options.seed ?? 0) ^ 0x51ced5n);
  const dir = new Float64Array(dim);
  const pa = new Float64Array(na);
  const pb = new Float64Array(nb);
  let sum = 0;
  for (let p = 0; p < projections; p++) {
    let norm = 0;
    for (let k = 0; k < dim; k++) {
      dir[k] = gaussian(rng);
      norm += (dir[k] as number) ** 2;
    }
    norm = Math.sqrt(norm);
    for (let k = 0; k < dim; k++) dir[k] = (dir[k] as number) / norm;
    for (let i = 0; i < na; i++) {
      let s = 0;
      for (let k = 0; k < dim; k++) s += (a[i * dim + k] as number) * (dir[k] as number);
      pa[i] = s;
    }
    for (let i = 0; i < nb; i++) {
      let s = 0;
      for (let k = 0; k < dim; k++) s += (b[i * dim + k] as number) * (dir[k] as number);
      pb[i] = s;
    }
    sum += wasserstein1d(pa, pb);
  }
  return sum / projections;
}

function meanDistance(
  a: Float32Array | Float64Array,
  na: number,
  b: Float32Array | Float64Array,
  nb: number,
  dim: number,
  same: boolean,
): number {
  let total = 0;
  let pairs = 0;
  for (let i = 0; i < na; i++) {
    for (let j = same ? i + 1 : 0; j < nb; j++) {
      let d = 0;
      for (let k = 0; k < dim; k++) d += ((a[i * dim + k] as number) - (b[j * dim + k] as number)) ** 2;
      total += Math.sqrt(d);
      pairs++;
    }
  }
  return total / pairs;
}

/**
 * Energy distance `2 E|X - Y| - E|X - X'| - E|Y - Y'|` between sets of `dim`-dimensional rows
 * (the unbiased U-statistic form for the within-set terms); zero exactly when the laws agree.
 * Quadratic in the set sizes: use a few thousand rows.
 */
export function energyDistance(a: Float32Array | Float64Array, b: Float32Array | Float64Array, dim: number): number {
  const na = rows('a', a, dim);
  const nb = rows('b', b, dim);
  if (na < 2 || nb < 2) throw new PfgmError('ERR_PFGM_SHAPE', 'energyDistance needs at least two rows in each set');
  return (
    2 * meanDistance(a, na, b, nb, dim, false) -
    meanDistance(a, na, a, na, dim, true) -
    meanDistance(b, nb, b, nb, dim, true)
  );
}
