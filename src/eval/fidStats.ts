/**
 * Feature statistics at scale (docs/fid.md, "At scale"): a running mean and covariance that
 * batches of features are added to, in float64, so a 50,000-image FID holds one batch of images
 * and one of features at a time; and the reference-statistics files of EDM's and PFGM++'s
 * `fid.py ref` (`.npz` with `mu` and `sigma`), read and written.
 *
 * @module
 */
import { encodeNpz, readNpz } from '../codecs/npz.js';
import { PfgmError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { type FeatureSet, type FeatureStats, featureStats } from './frechet.js';

/**
 * The mean and unbiased covariance of every feature vector {@link RunningStats.add}ed so far.
 * Batches are merged with the pairwise update of Chan, Golub and LeVeque (each batch's own mean
 * and scatter, in float64, then one rank-one correction), so the result matches the statistics of
 * all vectors at once to float64 round-off whatever the batch sizes.
 */
export class RunningStats {
  /** Feature dimension. */
  readonly dim: number;
  #count = 0;
  readonly #mean: Float64Array;
  readonly #scatter: Float64Array; // sum of (x - mean)(x - mean)^T

  /** @param dim - the feature dimension (2048 for FID's Inception). */
  constructor(dim: number) {
    if (!Number.isInteger(dim) || dim < 1)
      throw new PfgmError('ERR_PFGM_ARGUMENT', `RunningStats: dim must be a positive integer, got ${dim}`);
    this.dim = dim;
    this.#mean = new Float64Array(dim);
    this.#scatter = new Float64Array(dim * dim);
  }

  /** Vectors added so far. */
  get count(): number {
    return this.#count;
  }

  /** Adds `features.length / dim` vectors (one row each). */
  async add(features: FeatureSet): Promise<void> {
    const d = this.dim;
    const rows = features.length / d;
    if (!Number.isInteger(rows))
      throw new PfgmError('ERR_PFGM_SHAPE', `RunningStats.add: ${features.length} values are not whole rows of ${d}`);
    if (rows === 0) return;
    let mean: Float64Array;
    let scatter: Float64Array | undefined;
    if (rows === 1) {
      mean = Float64Array.from(features);
    } else {
      const s = await featureStats(features, d);
      mean = s.mean;
      scatter = s.cov;
      for (let k = 0; k < scatter.length; k++) scatter[k] = (scatter[k] as number) * (rows - 1);
    }
    const na = this.#count;
    const n = na + rows;
    const delta = new Float64Array(d);
    for (let i = 0; i < d; i++) delta[i] = (mean[i] as number) - (this.#mean[i] as number);
    const w = (na * rows) / n;
    const m = this.#scatter;
    for (let i = 0; i < d; i++) {
      const di = (delta[i] as number) * w;
      const row = i * d;
      for (let j = 0; j < d; j++) m[row + j] = (m[row + j] as number) + di * (delta[j] as number);
    }
    if (scatter !== undefined) for (let k = 0; k < m.length; k++) m[k] = (m[k] as number) + (scatter[k] as number);
    for (let i = 0; i < d; i++) this.#mean[i] = (this.#mean[i] as number) + ((delta[i] as number) * rows) / n;
    this.#count = n;
  }

  /**
   * The statistics so far (copies).
   *
   * @throws PfgmError `ERR_PFGM_SHAPE` before two vectors were added.
   */
  stats(): FeatureStats {
    const n = this.#count;
    if (n < 2) throw new PfgmError('ERR_PFGM_SHAPE', `RunningStats: a covariance needs 2 vectors, ${n} were added`);
    const cov = Float64Array.from(this.#scatter, (v) => v / (n - 1));
    return { dim: this.dim, count: n, mean: Float64Array.from(this.#mean), cov };
  }
}

/**
 * Reads reference statistics as EDM's and PFGM++'s `fid.py ref` write them (and
 * {@link writeFidStats}): an `.npz` with `mu` [d] and `sigma` [d, d].
 *
 * @throws PfgmError `ERR_PFGM_ARGUMENT` when the file is missing, not an `.npz`, or lacks either
 *   array; `ERR_PFGM_SHAPE` when their shapes disagree.
 */
export async function readFidStats(path: string): Promise<FeatureStats> {
  const arrays = await readNpz(path);
  const mu = arrays.get('mu');
  const sigma = arrays.get('sigma');
  if (mu === undefined || sigma === undefined) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `${path}: no 'mu' and 'sigma' arrays (it holds ${[...arrays.keys()].join(', ') || 'none'}); reference statistics are written by pfgm eval ref or EDM's fid.py ref`,
    );
  }
  const d = mu.data.length;
  if (mu.shape.length !== 1 || sigma.shape.length !== 2 || sigma.shape[0] !== d || sigma.shape[1] !== d) {
    throw new PfgmError(
      'ERR_PFGM_SHAPE',
      `${path}: mu has shape [${mu.shape}] and sigma [${sigma.shape}]; expected [d] and [d, d]`,
    );
  }
  return { dim: d, count: 0, mean: mu.data, cov: sigma.data };
}

/** Writes statistics as `fid.py ref` does (`mu`, `sigma` in float64), atomically. */
export async function writeFidStats(path: string, stats: FeatureStats): Promise<void> {
  const d = stats.dim;
  await writeFileAtomic(
    path,
    encodeNpz({ mu: { shape: [d], data: stats.mean }, sigma: { shape: [d, d], data: stats.cov } }),
  );
}
