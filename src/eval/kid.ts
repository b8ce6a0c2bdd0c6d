/**
 * KID, the Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs"): the
 * unbiased estimate of the squared maximum mean discrepancy between two feature sets under the
 * cubic polynomial kernel k(x, y) = (x·y / d + 1)^3, averaged over random subsets of equal size,
 * as torch-fidelity and clean-fid report it (100 subsets of 1000). Unlike FID it is unbiased in the
 * set sizes, so small evaluations compare fairly (docs/fid.md).
 *
 * @module
 */
import { PfgmError } from '../errors.js';
import { SplitMix64 } from '../train/order.js';

/** Options of {@link kid}. */
export interface KidOptions {
  /** Subsets averaged (default 100). */
  subsets?: number;
  /** Vectors per subset, from each set (default 1000, at most the smaller set's size). */
  subsetSize?: number;
  /** Seed of the subsets' draws (default 0). */
  seed?: number;
}

/** KID and its spread over the subsets. */
export interface KidResult {
  /** The mean over subsets of the unbiased MMD^2 estimate. */
  kid: number;
  /** The standard deviation over subsets. */
  std: number;
  /** Subsets averaged. */
  subsets: number;
  /** Vectors per subset from each set. */
  subsetSize: number;
}

/** The kernel matrix k(a_i, b_j) of row sets a [n, d] and b [m, d], row-major [n, m]. */
function kernel(
  a: Float32Array | Float64Array,
  b: Float32Array | Float64Array,
  n: number,
  m: number,
  d: number,
  same: boolean,
): Float64Array {
  const out = new Float64Array(n * m);
  const row = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < d; k++) row[k] = a[i * d + k] as number;
    for (let j = same ? i : 0; j < m; j++) {
      let dot = 0;
      const o = j * d;
      for (let k = 0; k < d; k++) dot += (row[k] as number) * (b[o + k] as number);
      const v = (dot / d + 1) ** 3;
      out[i * m + j] = v;
      if (same) out[j * m + i] = v;
    }
  }
  return out;
}

/**
 * KID between feature sets `x` [n, dim] and `y` [m, dim] (e.g. Inception pool features of
 * generated and real images). The kernel matrices of all vectors are computed once; each subset
 * then draws `subsetSize` rows of each set without replacement (seeded).
 *
 * @throws PfgmError `ERR_PFGM_SHAPE` when the sets are not whole rows of `dim` or hold fewer than 2.
 */
export function kid(
  x: Float32Array | Float64Array,
  y: Float32Array | Float64Array,
  dim: number,
  options: KidOptions = {},
): KidResult {
  const n = x.length / dim;
  const m = y.length / dim;
  if (!Number.isInteger(n) || !Number.isInteger(m) || n < 2 || m < 2)
    throw new PfgmError('ERR_PFGM_SHAPE', `kid: the feature sets must be whole rows of ${dim}, at least 2 each`);
  const size = Math.min(options.subsetSize ?? 1000, n, m);
  const subsets = options.subsets ?? 100;
  if (!Number.isInteger(subsets) || subsets < 1) throw new PfgmError('ERR_PFGM_ARGUMENT', `kid: subsets must be >= 1`);
  const kxx = kernel(x, x, n, n, dim, true);
  const kyy = kernel(y, y, m, m, dim, true);
  const kxy = kernel(x, y, n, m, dim, false);
  const rng = new SplitMix64(BigInt(options.seed ?? 0));
  const pick = (count: number): Uint32Array => {
    // A partial Fisher-Yates shuffle: the first `size` of a random permutation.
    const p = Uint32Array.from({ length: count }, (_, i) => i);
    for (let i = 0; i < size; i++) {
      const j = i + rng.below(count - i);
      const t = p[i] as number;
      p[i] = p[j] as number;
      p[j] = t;
    }
    return p.subarray(0, size);
  };
  const values: number[] = [];
  for (let s = 0; s < subsets; s++) {
    const a = size === n ? Uint32Array.from({ length: n }, (_, i) => i) : pick(n);
    const b = size === m ? Uint32Array.from({ length: m }, (_, i) => i) : pick(m);
    let sxx = 0;
    let syy = 0;
    let sxy = 0;
    for (let i = 0; i < size; i++) {
      const ai = (a[i] as number) * n;
      const bi = (b[i] as number) * m;
      const ai2 = (a[i] as number) * m;
      for (let j = 0; j < size; j++) {
        if (i !== j) {
          sxx += kxx[ai + (a[j] as number)] as number;
          syy += kyy[bi + (b[j] as number)] as number;
        }
        sxy += kxy[ai2 + (b[j] as number)] as number;
      }
    }
    values.push((sxx + syy) / (size * (size - 1)) - (2 * sxy) / (size * size));
  }
  const mean = values.reduce((p, v) => p + v, 0) / values.length;
  const std = values.length > 1 ? Math.sqrt(values.reduce((p, v) => p + (v - mean) ** 2, 0) / values.length) : 0;
  return { kid: mean, std, subsets, subsetSize: size };
}
