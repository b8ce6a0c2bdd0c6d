/**
 * The Fréchet distance between two sets of feature vectors, each summarised by its mean and
 * covariance (the distance behind FID, and behind the `fd` of {@link imageMetrics} in a
 * classifier's feature space), and the native symmetric eigensolver it stands on.
 *
 * For Gaussians N(m1, S1) and N(m2, S2) the Fréchet (2-Wasserstein) distance is
 * `|m1 - m2|^2 + tr S1 + tr S2 - 2 tr sqrt(S1 S2)` (Dowson & Landau 1982). The trace of the
 * matrix square root is computed in double precision as the sum of the square roots of the
 * eigenvalues of `S1^(1/2) S2 S1^(1/2)`, with `S1^(1/2)` from the eigendecomposition of S1
 * (Householder tridiagonalisation + implicit QL, in the native engine). Eigenvalues that round-off
 * pushes slightly below zero are set to zero and counted ({@link FrechetTerms}); clearly negative
 * ones mean the input is not a covariance and are an error.
 *
 * @module
 */
import { native } from '../addon/load.js';
import { awaitNative, PfgmError } from '../errors.js';

/** A set of feature vectors: `count * dim` values, one row per vector. */
export type FeatureSet = Float32Array | Float64Array;

/** Mean and covariance of a set of feature vectors ({@link featureStats}). */
export interface FeatureStats {
  /** Dimension of the features. */
  dim: number;
  /** Number of vectors the statistics were computed from (0 when unknown). */
  count: number;
  /** The mean, `dim` values. */
  mean: Float64Array;
  /** The unbiased covariance (divided by count - 1), `dim * dim` values, row-major, symmetric. */
  cov: Float64Array;
}

/** Precomputed statistics as {@link frechetDistance} accepts them (e.g. read from a file). */
export interface StatsLike {
  /** The mean, `dim` values. */
  mean: ArrayLike<number>;
  /** The covariance, `dim * dim` values, row-major and symmetric. */
  cov: ArrayLike<number>;
}

/** Options of {@link frechetDistance} and {@link frechetTerms}. */
export interface FrechetOptions {
  /**
   * How far below zero an eigenvalue (of S1, and of `S1^(1/2) S2 S1^(1/2)`) may be, relative to
   * the largest, and still count as round-off of a zero eigenvalue (default 1e-6). Statistics
   * computed in double precision by {@link featureStats} stay within 1e-12; covariances computed
   * in float32 elsewhere within about 1e-7.
   */
  tolerance?: number;
}

/** The Fréchet distance with its terms and what round-off clamping was needed. */
export interface FrechetTerms {
  /** `meanTerm + traceA + traceB - 2 traceSqrt` (what FID reports; it can round to -1e-12 for identical inputs). */
  distance: number;
  /** `|m1 - m2|^2`. */
  meanTerm: number;
  /** `tr S1`. */
  traceA: number;
  /** `tr S2`. */
  traceB: number;
  /** `tr sqrt(S1 S2)`. */
  traceSqrt: number;
  /** Eigenvalues of S1 that were slightly negative (round-off) and set to 0. */
  clampedA: number;
  /** Eigenvalues of `S1^(1/2) S2 S1^(1/2)` that were slightly negative and set to 0. */
  clampedB: number;
  /** The most negative eigenvalue of S1 before clamping (0 when none was negative). */
  mostNegativeA: number;
  /** The most negative eigenvalue of `S1^(1/2) S2 S1^(1/2)` before clamping (0 when none). */
  mostNegativeB: number;
  /** Number of positive eigenvalues of S1 (its numerical rank). */
  rankA: number;
}

const MAX_DIM = 32768;

function checkDim(fn: string, dim: unknown): number {
  if (typeof dim !== 'number' || !Number.isInteger(dim) || dim < 1 || dim > MAX_DIM) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `${fn}: dim must be an integer in [1, ${MAX_DIM}], got ${String(dim)}`);
  }
  return dim;
}

/** Rows of a feature set, checking its type and that it holds whole rows. @internal */
export function featureRows(fn: string, name: string, data: unknown, dim: number, min = 1): number {
  if (!(data instanceof Float32Array) && !(data instanceof Float64Array)) {
    throw new PfgmError('ERR_PFGM_DTYPE', `${fn}: ${name} must be a Float32Array or Float64Array of features`);
  }
  if (data.length % dim !== 0 || data.length / dim < min) {
    throw new PfgmError(
      'ERR_PFGM_SHAPE',
      `${fn}: ${name} has ${data.length} values, which is not at least ${min} whole rows of ${dim} features`,
    );
  }
  return data.length / dim;
}

/**
 * Mean and unbiased covariance of `count = features.length / dim` feature vectors, in double
 * precision (the native engine, off the JS thread).
 *
 * @param features - `count * dim` values, one row per vector; at least two rows.
 * @param dim - the feature dimension.
 * @throws {@link PfgmError} `ERR_PFGM_SHAPE` when the values are not whole rows or fewer than
 *   two; `ERR_PFGM_ARGUMENT` for NaN or infinite values.
 */
export async function featureStats(features: FeatureSet, dim: number): Promise<FeatureStats> {
  checkDim('featureStats', dim);
  const count = featureRows('featureStats', 'features', features, dim, 2);
  const r = await awaitNative(() => native().featureStats(features, count, dim));
  return { dim, count, mean: r.mean, cov: r.cov };
}

function toStats(fn: string, name: string, s: StatsLike): { mean: Float64Array; cov: Float64Array; dim: number } {
  if (s === null || typeof s !== 'object' || s.mean === undefined || s.cov === undefined) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `${fn}: ${name} must be a feature set or { mean, cov } statistics`);
  }
  const dim = s.mean.length;
  checkDim(fn, dim);
  if (s.cov.length !== dim * dim) {
    throw new PfgmError(
      'ERR_PFGM_SHAPE',
      `${fn}: ${name}.cov has ${s.cov.length} values, expected ${dim} x ${dim} = ${dim * dim} for a mean of ${dim}`,
    );
  }
  const mean = Float64Array.from(s.mean);
  const cov = Float64Array.from(s.cov);
  let scale = 0;
  for (const v of cov) {
    if (!Number.isFinite(v))
      throw new PfgmError('ERR_PFGM_ARGUMENT', `${fn}: ${name}.cov holds a NaN or infinite value`);
    scale = Math.max(scale, Math.abs(v));
  }
  for (const v of mean) {
    if (!Number.isFinite(v))
      throw new PfgmError('ERR_PFGM_ARGUMENT', `${fn}: ${name}.mean holds a NaN or infinite value`);
  }
  // The engine reads the upper triangle; a matrix that is not symmetric is not a covariance.
  for (let i = 0; i < dim; i++) {
    for (let j = i + 1; j < dim; j++) {
      const a = cov[i * dim + j] as number;
      const b = cov[j * dim + i] as number;
      if (Math.abs(a - b) > 1e-6 * scale) {
        throw new PfgmError(
          'ERR_PFGM_ARGUMENT',
          `${fn}: ${name}.cov is not symmetric (entry [${i}, ${j}] = ${a} but [${j}, ${i}] = ${b}): a covariance matrix is`,
        );
      }
    }
  }
  return { mean, cov, dim };
}

async function resolve(
  fn: string,
  a: FeatureSet | StatsLike,
  b: FeatureSet | StatsLike,
  dim: number | undefined,
): Promise<
  [{ mean: Float64Array; cov: Float64Array; dim: number }, { mean: Float64Array; cov: Float64Array; dim: number }]
> {
  const one = async (name: string, x: FeatureSet | StatsLike) => {
    if (x instanceof Float32Array || x instanceof Float64Array) {
      if (dim === undefined) {
        throw new PfgmError('ERR_PFGM_ARGUMENT', `${fn}: give the feature dimension (dim) with feature sets`);
      }
      checkDim(fn, dim);
      featureRows(fn, name, x, dim, 2);
      return featureStats(x, dim);
    }
    return toStats(fn, name, x as StatsLike);
  };
  const sa = await one('a', a);
  const sb = await one('b', b);
  if (sa.dim !== sb.dim) {
    throw new PfgmError('ERR_PFGM_SHAPE', `${fn}: a has dimension ${sa.dim} but b has ${sb.dim}`);
  }
  if (dim !== undefined && sa.dim !== dim) {
    throw new PfgmError('ERR_PFGM_SHAPE', `${fn}: the statistics have dimension ${sa.dim}, not the dim ${dim} given`);
  }
  return [sa, sb];
}

/**
 * The Fréchet distance and its terms (see {@link frechetDistance}), with what round-off clamping
 * was needed to get there.
 *
 * @param a - the first feature set (`count * dim` values) or its statistics `{ mean, cov }`.
 * @param b - the second, likewise.
 * @param dim - the feature dimension; required when a feature set is given.
 * @param options - see {@link FrechetOptions}.
 */
export async function frechetTerms(
  a: FeatureSet | StatsLike,
  b: FeatureSet | StatsLike,
  dim?: number,
  options: FrechetOptions = {},
): Promise<FrechetTerms> {
  const tolerance = options.tolerance ?? 1e-6;
  if (typeof tolerance !== 'number' || !(tolerance >= 0 && tolerance < 1)) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `frechetDistance: tolerance must be in [0, 1), got ${String(tolerance)}`);
  }
  const [sa, sb] = await resolve('frechetDistance', a, b, dim);
  const r = await awaitNative(() => native().frechetDistance(sa.mean, sa.cov, sb.mean, sb.cov, sa.dim, tolerance));
  return {
    distance: r.distance,
    meanTerm: r.meanTerm,
    traceA: r.trace1,
    traceB: r.trace2,
    traceSqrt: r.traceSqrt,
    clampedA: r.clamped1,
    clampedB: r.clamped2,
    mostNegativeA: r.mostNegative1,
    mostNegativeB: r.mostNegative2,
    rankA: r.rank1,
  };
}

/**
 * The Fréchet distance `|m1 - m2|^2 + tr S1 + tr S2 - 2 tr sqrt(S1 S2)` between two feature sets
 * (each reduced to its mean and covariance by {@link featureStats}) or between precomputed
 * statistics, in double precision. Symmetric in its arguments up to round-off. Takes about a
 * second at 512 features and a few at 2048 (docs/metrics.md).
 *
 * @example
 * ```ts
 * const fd = await frechetDistance(realFeatures, fakeFeatures, 128);
 * const same = await frechetDistance(await featureStats(realFeatures, 128), { mean, cov });
 * ```
 *
 * @param a - the first feature set (`count * dim` values, count >= 2) or its statistics `{ mean, cov }`.
 * @param b - the second, likewise.
 * @param dim - the feature dimension; required when a feature set is given.
 * @param options - see {@link FrechetOptions}.
 * @throws {@link PfgmError} `ERR_PFGM_SHAPE` for mismatched dimensions, `ERR_PFGM_ARGUMENT` for a
 *   covariance that is not symmetric or not positive semi-definite (beyond round-off).
 */
export async function frechetDistance(
  a: FeatureSet | StatsLike,
  b: FeatureSet | StatsLike,
  dim?: number,
  options: FrechetOptions = {},
): Promise<number> {
  return (await frechetTerms(a, b, dim, options)).distance;
}

/** Eigenvalues (ascending) and, when asked, eigenvectors of a symmetric matrix. */
export interface SymmetricEigen {
  /** The eigenvalues, ascending. */
  values: Float64Array;
  /** The unit eigenvectors, `n * n` row-major: column j belongs to `values[j]` (as in LAPACK and torch.linalg.eigh). */
  vectors?: Float64Array;
}

/** Options of {@link symmetricEigen}. */
export interface SymmetricEigenOptions {
  /** Compute the eigenvectors too (default true); without them it is several times faster. */
  vectors?: boolean;
}

/**
 * Eigenvalues and eigenvectors of a symmetric `n x n` matrix in double precision: Householder
 * tridiagonalisation then implicit QL with Wilkinson shifts, in the native engine. Only the upper
 * triangle is read. Backward stable: the results are exact for a matrix within about
 * `n * 1e-16 * |A|` of the input.
 *
 * @param matrix - `n * n` values, row-major.
 * @param n - the order.
 * @param options - see {@link SymmetricEigenOptions}.
 * @throws {@link PfgmError} `ERR_PFGM_SHAPE` when `matrix` does not hold `n * n` values,
 *   `ERR_PFGM_ARGUMENT` for NaN or infinite entries.
 */
export async function symmetricEigen(
  matrix: Float64Array | Float32Array,
  n: number,
  options: SymmetricEigenOptions = {},
): Promise<SymmetricEigen> {
  checkDim('symmetricEigen', n);
  if (!(matrix instanceof Float64Array) && !(matrix instanceof Float32Array)) {
    throw new PfgmError('ERR_PFGM_DTYPE', 'symmetricEigen: the matrix must be a Float64Array or Float32Array');
  }
  if (matrix.length !== n * n) {
    throw new PfgmError('ERR_PFGM_SHAPE', `symmetricEigen: the matrix has ${matrix.length} values, expected ${n * n}`);
  }
  const a = matrix instanceof Float64Array ? matrix : Float64Array.from(matrix);
  const want = options.vectors ?? true;
  const r = await awaitNative(() => native().symmetricEigen(a, n, want));
  return want ? { values: r.values, vectors: r.vectors as Float64Array } : { values: r.values };
}
