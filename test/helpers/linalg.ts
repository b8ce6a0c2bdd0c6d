// Small dense linear algebra in plain TypeScript for the metric tests: seeded Gaussian draws,
// random orthogonal matrices and products, so that test covariances have known spectra.
import { SplitMix64 } from '../../src/train/order.js';

/** n * dim standard normal values (Box-Muller on splitmix64), row-major. */
export function normals(n: number, dim: number, seed: number): Float64Array {
  const rng = new SplitMix64(BigInt(seed) ^ 0x9a55n);
  const u = () => (Number(rng.next() >> 11n) + 0.5) / 2 ** 53;
  const out = new Float64Array(n * dim);
  for (let i = 0; i < out.length; i++) out[i] = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return out;
}

/** A uniformly random orthogonal n x n matrix: Gram-Schmidt (twice) on Gaussian columns, row-major. */
export function randomOrthogonal(n: number, seed: number): Float64Array {
  const g = normals(n, n, seed);
  const q = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const v = new Float64Array(n);
    for (let i = 0; i < n; i++) v[i] = g[i * n + j] as number;
    for (let pass = 0; pass < 2; pass++) {
      for (let k = 0; k < j; k++) {
        let dot = 0;
        for (let i = 0; i < n; i++) dot += (q[i * n + k] as number) * (v[i] as number);
        for (let i = 0; i < n; i++) v[i] = (v[i] as number) - dot * (q[i * n + k] as number);
      }
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += (v[i] as number) ** 2;
    norm = Math.sqrt(norm);
    for (let i = 0; i < n; i++) q[i * n + j] = (v[i] as number) / norm;
  }
  return q;
}

/** Q diag(values) Q^T. */
export function withSpectrum(q: Float64Array, values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += (q[i * n + k] as number) * (values[k] as number) * (q[j * n + k] as number);
      out[i * n + j] = s;
      out[j * n + i] = s;
    }
  }
  return out;
}

/** C = A B for row-major A [m, k] and B [k, n]. */
export function matmul(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let p = 0; p < k; p++) {
      const x = a[i * k + p] as number;
      if (x === 0) continue;
      for (let j = 0; j < n; j++) c[i * n + j] = (c[i * n + j] as number) + x * (b[p * n + j] as number);
    }
  return c;
}

/** count draws of N(mean, B B^T): rows mean + B z with z standard normal. */
export function gaussianSamples(mean: ArrayLike<number>, b: Float64Array, count: number, seed: number): Float64Array {
  const d = mean.length;
  const z = normals(count, d, seed);
  const out = new Float64Array(count * d);
  for (let s = 0; s < count; s++)
    for (let i = 0; i < d; i++) {
      let v = mean[i] as number;
      for (let k = 0; k < d; k++) v += (b[i * d + k] as number) * (z[s * d + k] as number);
      out[s * d + i] = v;
    }
  return out;
}

export function trace(a: ArrayLike<number>, n: number): number {
  let t = 0;
  for (let i = 0; i < n; i++) t += a[i * n + i] as number;
  return t;
}
