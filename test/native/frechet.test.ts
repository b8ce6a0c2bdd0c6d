// The Fréchet distance (src/native/linalg/frechet.cc) and the symmetric eigensolver under it
// (eigh.cc: Householder tridiagonalisation + implicit QL) against closed forms on Gaussians,
// against torch.linalg.eigh in float64 (test/fixtures/gen/frechet.py), and on bad input.
//
// Closed forms used:
// - 2 x 2: a matrix with eigenvalues p, q has tr sqrt = sqrt(p) + sqrt(q) = sqrt(tr + 2 sqrt(det)),
//   so tr sqrt(S1 S2) = sqrt(tr(S1 S2) + 2 sqrt(det S1 det S2)) for any two 2 x 2 covariances;
// - commuting covariances S1 = Q diag(a) Q^T, S2 = Q diag(b) Q^T: tr sqrt(S1 S2) = sum sqrt(a_i b_i);
// - S2 = c^2 S1: d^2 = |m1 - m2|^2 + (1 - c)^2 tr S1.
import { describe, expect, it } from 'vitest';
import { native } from '../../src/addon/load.js';
import { featureStats, frechetDistance, frechetTerms, type StatsLike, symmetricEigen } from '../../src/eval/frechet.js';
import { loadFixture } from '../helpers/golden.js';
import { gaussianSamples, matmul, normals, randomOrthogonal, trace, withSpectrum } from '../helpers/linalg.js';

const fx = loadFixture('metrics/frechet.safetensors');
const f64 = (name: string): Float64Array => {
  const t = fx.file.tensors.get(name);
  if (!t || !(t.data instanceof Float64Array)) throw new Error(`fixture lacks float64 tensor ${name}`);
  return t.data;
};
const relErr = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);
const at = (a: ArrayLike<number>, i: number) => a[i] as number;

/** max |A v_j - lambda_j v_j| and max |V^T V - I| for column eigenvectors. */
function residuals(a: Float64Array, values: Float64Array, vectors: Float64Array, n: number) {
  let res = 0;
  let orth = 0;
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += at(a, i * n + k) * at(vectors, k * n + j);
      res = Math.max(res, Math.abs(s - at(values, j) * at(vectors, i * n + j)));
    }
    for (let l = j; l < n; l++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += at(vectors, k * n + j) * at(vectors, k * n + l);
      orth = Math.max(orth, Math.abs(s - (j === l ? 1 : 0)));
    }
  }
  return { res, orth };
}

describe('symmetric eigensolver', () => {
  it('matches torch.linalg.eigh on a random symmetric 64 x 64 matrix', async () => {
    const a = f64('eig/a');
    const n = 64;
    const { values, vectors } = await symmetricEigen(a, n);
    const want = f64('eig/values');
    const vref = f64('eig/vectors');
    for (let j = 0; j < n; j++) expect(Math.abs(at(values, j) - at(want, j))).toBeLessThan(1e-13);
    // Eigenvectors are unique up to sign (the spectrum is simple): |<v_j, v_ref_j>| = 1.
    for (let j = 0; j < n; j++) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += at(vectors as Float64Array, i * n + j) * at(vref, i * n + j);
      expect(Math.abs(Math.abs(dot) - 1)).toBeLessThan(1e-12);
    }
    const r = residuals(a, values, vectors as Float64Array, n);
    expect(r.res).toBeLessThan(1e-13);
    expect(r.orth).toBeLessThan(1e-13);
  });

  it('recovers a known spectrum, repeated and zero eigenvalues included, at n = 200', async () => {
    const n = 200;
    const spectrum = Array.from({ length: n }, (_, i) => (i < 50 ? 0 : i < 80 ? 2.5 : (i - 80) * 0.1 - 3));
    const a = withSpectrum(randomOrthogonal(n, 11), spectrum);
    const { values, vectors } = await symmetricEigen(a, n);
    const sorted = [...spectrum].sort((x, y) => x - y);
    for (let j = 0; j < n; j++) expect(Math.abs(at(values, j) - at(sorted, j))).toBeLessThan(1e-12);
    const r = residuals(a, values, vectors as Float64Array, n);
    expect(r.res).toBeLessThan(1e-12);
    expect(r.orth).toBeLessThan(1e-12);
    const valuesOnly = await symmetricEigen(a, n, { vectors: false });
    expect(valuesOnly.vectors).toBeUndefined();
    expect(Array.from(valuesOnly.values)).toEqual(Array.from(values));
  });

  it('handles n = 1, 2, 3, diagonal, zero and scalar matrices', async () => {
    expect(Array.from((await symmetricEigen(new Float64Array([-4]), 1)).values)).toEqual([-4]);
    // 2 x 2: (a + c)/2 -+ sqrt(((a - c)/2)^2 + b^2).
    const two = await symmetricEigen(new Float64Array([2, 1, 1, 3]), 2);
    expect(Math.abs(at(two.values, 0) - (2.5 - Math.sqrt(1.25)))).toBeLessThan(1e-15);
    expect(Math.abs(at(two.values, 1) - (2.5 + Math.sqrt(1.25)))).toBeLessThan(1e-15);
    // Tridiagonal 3 x 3 with known eigenvalues 2 - sqrt2, 2, 2 + sqrt2.
    const three = await symmetricEigen(new Float64Array([2, -1, 0, -1, 2, -1, 0, -1, 2]), 3);
    const want3 = [2 - Math.SQRT2, 2, 2 + Math.SQRT2];
    for (let j = 0; j < 3; j++) expect(Math.abs(at(three.values, j) - at(want3, j))).toBeLessThan(1e-15);
    const diag = await symmetricEigen(new Float64Array([3, 0, 0, 0, -1, 0, 0, 0, 2]), 3);
    expect(Array.from(diag.values)).toEqual([-1, 2, 3]);
    const zero = await symmetricEigen(new Float64Array(16), 4);
    expect(Array.from(zero.values)).toEqual([0, 0, 0, 0]);
    const scalar = await symmetricEigen(new Float64Array([5, 0, 0, 5]), 2);
    expect(Array.from(scalar.values)).toEqual([5, 5]);
  });

  it('refuses bad input with coded errors', async () => {
    await expect(symmetricEigen(new Float64Array(5), 2)).rejects.toMatchObject({ code: 'ERR_PFGM_SHAPE' });
    await expect(symmetricEigen(new Float64Array([1, Number.NaN, Number.NaN, 1]), 2)).rejects.toMatchObject({
      code: 'ERR_PFGM_ARGUMENT',
    });
    await expect(symmetricEigen(new Float64Array(4), 0)).rejects.toMatchObject({ code: 'ERR_PFGM_ARGUMENT' });
  });
});

describe('Fréchet distance: statistics path against closed forms', () => {
  it('2 x 2 non-commuting covariances: tr sqrt(S1 S2) = sqrt(tr(S1 S2) + 2 sqrt(det S1 det S2))', async () => {
    const s1 = [2, 0.7, 0.7, 1];
    const s2 = [0.5, -0.3, -0.3, 3];
    const m1 = [1, -2];
    const m2 = [0.5, 1];
    const p = matmul(s1, s2, 2, 2, 2);
    const det = (s: number[]) => at(s, 0) * at(s, 3) - at(s, 1) * at(s, 2);
    const trSqrt = Math.sqrt(trace(p, 2) + 2 * Math.sqrt(det(s1) * det(s2)));
    const want = 0.5 ** 2 + 3 ** 2 + trace(s1, 2) + trace(s2, 2) - 2 * trSqrt;
    const t = await frechetTerms({ mean: m1, cov: s1 }, { mean: m2, cov: s2 });
    expect(relErr(t.traceSqrt, trSqrt)).toBeLessThan(1e-14);
    expect(relErr(t.distance, want)).toBeLessThan(1e-14);
  });

  it('commuting covariances at n = 120: tr sqrt(S1 S2) = sum sqrt(a_i b_i)', async () => {
    const n = 120;
    const q = randomOrthogonal(n, 3);
    const a = Array.from({ length: n }, (_, i) => 0.01 + i / 10);
    const b = Array.from({ length: n }, (_, i) => 3 / (1 + i));
    const m1 = normals(1, n, 4);
    const m2 = normals(1, n, 5);
    let want = 0;
    for (let i = 0; i < n; i++)
      want += (at(m1, i) - at(m2, i)) ** 2 + at(a, i) + at(b, i) - 2 * Math.sqrt(at(a, i) * at(b, i));
    const fd = await frechetDistance({ mean: m1, cov: withSpectrum(q, a) }, { mean: m2, cov: withSpectrum(q, b) });
    expect(relErr(fd, want)).toBeLessThan(1e-12);
  });

  it('S2 = c^2 S1 at n = 2048 (a few seconds): d^2 = |m1 - m2|^2 + (1 - c)^2 tr S1', async () => {
    const n = 2048;
    // A full-rank covariance of 2048 features from 4096 samples, with a graded spectrum.
    const x = normals(4096, n, 21);
    for (let i = 0; i < x.length; i++) x[i] = at(x, i) * (0.2 + (i % n) / n);
    const s1 = await featureStats(x, n);
    const c = 0.8;
    const cov2 = s1.cov.map((v) => v * c * c);
    const mean2 = s1.mean.map((v, i) => v + (i % 2 === 0 ? 0.01 : -0.02));
    let meanTerm = 0;
    for (let i = 0; i < n; i++) meanTerm += (at(s1.mean, i) - at(mean2, i)) ** 2;
    const want = meanTerm + (1 - c) ** 2 * trace(s1.cov, n);
    const t0 = performance.now();
    const t = await frechetTerms(s1, { mean: mean2, cov: cov2 });
    const seconds = (performance.now() - t0) / 1000;
    console.log(`frechet distance at dim 2048: ${seconds.toFixed(2)} s (want ${want}, got ${t.distance})`);
    expect(relErr(t.distance, want)).toBeLessThan(1e-9);
    expect(t.rankA).toBe(n);
    expect(seconds).toBeLessThan(60); // a guard against a pathological slowdown, not a benchmark
  });

  it('matches the float64 PyTorch reference on random 64-dim Gaussians', async () => {
    const a = { mean: f64('full/mean1'), cov: f64('full/cov1') };
    const b = { mean: f64('full/mean2'), cov: f64('full/cov2') };
    const t = await frechetTerms(a, b);
    // Relative to the size of the terms that cancel (d^2 = 85 of terms summing to 153): measured
    // 5e-13 for the distance and 1.2e-12 for the trace.
    const scale = t.meanTerm + t.traceA + t.traceB;
    console.log(
      `64-dim reference: distance off by ${(Math.abs(t.distance - at(f64('full/distance'), 0)) / scale).toExponential(2)}` +
        ` of the terms, trace sqrt by ${relErr(t.traceSqrt, at(f64('full/trace_sqrt'), 0)).toExponential(2)}`,
    );
    expect(Math.abs(t.distance - at(f64('full/distance'), 0)) / scale).toBeLessThan(1e-11);
    expect(relErr(t.traceSqrt, at(f64('full/trace_sqrt'), 0))).toBeLessThan(1e-11);
    expect(t.clampedA).toBe(0);
    expect(t.clampedB).toBe(0);
  });

  it('is symmetric and zero for identical statistics', async () => {
    const a = { mean: f64('full/mean1'), cov: f64('full/cov1') };
    const b = { mean: f64('full/mean2'), cov: f64('full/cov2') };
    const ab = await frechetTerms(a, b);
    const ba = await frechetTerms(b, a);
    // S1 and S2 swap roles in the eigenproblems, so only round-off differs: measured 1.2e-10 of 153.
    console.log(`symmetry: |d(a, b) - d(b, a)| = ${Math.abs(ab.distance - ba.distance).toExponential(2)}`);
    expect(Math.abs(ab.distance - ba.distance)).toBeLessThan(1e-11 * (ab.meanTerm + ab.traceA + ab.traceB));
    // Identical statistics: 2 tr S - 2 tr sqrt(S S) cancels to round-off, measured 1.5e-9 of 144.
    // The square root amplifies it: M's smallest eigenvalues are l^2 ~ 1e-6 (S's go down to 1e-3),
    // and an absolute error of eps |M| ~ 2e-14 there becomes 1e-11 in each sqrt.
    const aa = await frechetDistance(a, a);
    expect(Math.abs(aa)).toBeLessThan(1e-10 * 2 * trace(a.cov, 64));
  });
});

describe('Fréchet distance: feature-set path', () => {
  it('computes torch.cov statistics and the reference distance for rank-deficient sets', async () => {
    const fa = f64('features/a');
    const fb = f64('features/b');
    const sa = await featureStats(fa, 64);
    expect(sa.count).toBe(40);
    const ca = f64('features/cov_a');
    for (let i = 0; i < ca.length; i++) expect(Math.abs(at(sa.cov, i) - at(ca, i))).toBeLessThan(1e-13);
    const t = await frechetTerms(fa, fb, 64);
    console.log(
      `rank-deficient reference: relative error ${relErr(t.distance, at(f64('features/distance'), 0)).toExponential(2)}`,
    );
    expect(relErr(t.distance, at(f64('features/distance'), 0))).toBeLessThan(1e-10);
    // 40 samples span 39 dimensions: the other 25 eigenvalues of S1 are round-off around 0.
    expect(t.clampedA).toBeGreaterThan(0);
    expect(t.mostNegativeA).toBeGreaterThan(-1e-12 * trace(sa.cov, 64));
    expect(relErr(await frechetDistance(fb, fa, 64), t.distance)).toBeLessThan(1e-10);
    // Float32 features give the same statistics path (rounded inputs, so a looser agreement).
    const fd32 = await frechetDistance(Float32Array.from(fa), Float32Array.from(fb), 64);
    expect(relErr(fd32, t.distance)).toBeLessThan(1e-5);
  });

  it('is zero for identical sets', async () => {
    const x = normals(300, 16, 8);
    const t = await frechetTerms(x, x.slice(), 16);
    expect(Math.abs(t.distance)).toBeLessThan(1e-12 * t.traceA);
  });

  it('converges to the closed form on samples of two Gaussians', async () => {
    // d = 8, N(m1, B1 B1^T) against N(m2, B2 B2^T) with non-commuting covariances; the exact
    // distance comes from the statistics path (checked against closed forms above).
    const d = 8;
    const b1 = normals(d, d, 31).map((v) => v * 0.5);
    const b2 = normals(d, d, 32).map((v) => v * 0.4);
    const m1 = new Float64Array(d);
    const m2 = normals(1, d, 33).map((v) => v * 0.3);
    const s1 = { mean: m1, cov: matmul(b1, transpose(b1, d), d, d, d) };
    const s2 = { mean: m2, cov: matmul(b2, transpose(b2, d), d, d, d) };
    const exact = await frechetTerms(s1, s2);
    // Measured over 24 seeds at 20000 samples per set: mean error +0.007 (not significant), standard
    // deviation 0.059 around the exact 8.899, largest 0.153. Tolerances: 5 sd per estimate and
    // 5 sd / sqrt(4) for the mean of four.
    const sd = 0.059;
    const errors: number[] = [];
    for (let seed = 0; seed < 4; seed++) {
      const xa = gaussianSamples(m1, b1, 20000, 100 + seed);
      const xb = gaussianSamples(m2, b2, 20000, 200 + seed);
      errors.push((await frechetDistance(xa, xb, d)) - exact.distance);
    }
    console.log(`sample-path FD: exact ${exact.distance}, errors ${errors.map((e) => e.toExponential(2)).join(' ')}`);
    for (const e of errors) expect(Math.abs(e)).toBeLessThan(5 * sd);
    expect(Math.abs(errors.reduce((a, b) => a + b) / 4)).toBeLessThan((5 * sd) / 2);
    // The test can fail: pairing sorted eigenvalues, exact only for commuting covariances, is off
    // by far more than the tolerance here.
    const e1 = (await symmetricEigen(Float64Array.from(s1.cov), d, { vectors: false })).values;
    const e2 = (await symmetricEigen(Float64Array.from(s2.cov), d, { vectors: false })).values;
    let commuting = 0;
    for (let i = 0; i < d; i++) commuting += Math.sqrt(Math.max(0, at(e1, i)) * Math.max(0, at(e2, i)));
    const wrong = exact.meanTerm + exact.traceA + exact.traceB - 2 * commuting;
    expect(Math.abs(wrong - exact.distance)).toBeGreaterThan(10 * sd);
  });
});

function transpose(a: Float64Array, n: number): Float64Array {
  const t = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) t[j * n + i] = at(a, i * n + j);
  return t;
}

describe('Fréchet distance: bad input', () => {
  const good: StatsLike = { mean: [0, 0], cov: [1, 0, 0, 1] };
  it('refuses mismatched dimensions, asymmetric or indefinite covariances and missing dim', async () => {
    await expect(frechetDistance(good, { mean: [0, 0, 0], cov: new Float64Array(9) })).rejects.toMatchObject({
      code: 'ERR_PFGM_SHAPE',
    });
    await expect(frechetDistance(good, { mean: [0, 0], cov: [1, 0.5, 0, 1] })).rejects.toMatchObject({
      code: 'ERR_PFGM_ARGUMENT',
      message: expect.stringContaining('not symmetric'),
    });
    await expect(frechetDistance({ mean: [0, 0], cov: [1, 2, 2, 1] }, good)).rejects.toMatchObject({
      code: 'ERR_PFGM_ARGUMENT',
      message: expect.stringContaining('not positive semi-definite'),
    });
    await expect(frechetDistance(good, { mean: [0, 0], cov: [1, 2, 2, 1] })).rejects.toMatchObject({
      code: 'ERR_PFGM_ARGUMENT',
      message: expect.stringContaining('second covariance'),
    });
    await expect(frechetDistance(new Float32Array(8), new Float32Array(8))).rejects.toMatchObject({
      code: 'ERR_PFGM_ARGUMENT',
      message: expect.stringContaining('dim'),
    });
    await expect(frechetDistance(new Float32Array(7), new Float32Array(8), 2)).rejects.toMatchObject({
      code: 'ERR_PFGM_SHAPE',
    });
    await expect(frechetDistance(good, { mean: [0, Number.NaN], cov: [1, 0, 0, 1] })).rejects.toMatchObject({
      code: 'ERR_PFGM_ARGUMENT',
    });
    await expect(featureStats(new Float32Array(3), 3)).rejects.toMatchObject({ code: 'ERR_PFGM_SHAPE' });
  });
});

describe('the linear-algebra binding called directly with garbage', () => {
  // The TypeScript layer validates first; the native side must still answer with coded errors.
  const addon = native() as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  const call = async (name: string, ...args: unknown[]) => {
    try {
      await (addon[name] as (...a: unknown[]) => Promise<unknown>)(...args);
      return 'no error';
    } catch (e) {
      return (e as { code?: string }).code;
    }
  };
  it('answers coded errors, never crashes', async () => {
    expect(await call('symmetricEigen', new Float64Array(3), 2, true)).toBe('ERR_PFGM_SHAPE');
    expect(await call('symmetricEigen', [1, 2, 3, 4], 2)).toBe('ERR_PFGM_DTYPE');
    expect(await call('symmetricEigen', new Float64Array(4), -2)).toBe('ERR_PFGM_ARGUMENT');
    expect(await call('symmetricEigen', new Float64Array(4), 'two')).toBe('ERR_PFGM_ARGUMENT');
    expect(await call('featureStats', new Float32Array(6), 1, 6)).toBe('ERR_PFGM_ARGUMENT');
    expect(await call('featureStats', new Int32Array(6), 3, 2)).toBe('ERR_PFGM_DTYPE');
    expect(await call('featureStats', new Float32Array(6), 1e9, 32768)).toBe('ERR_PFGM_OUT_OF_MEMORY');
    const m = new Float64Array(2);
    const c = new Float64Array([1, 0, 0, 1]);
    expect(await call('frechetDistance', m, c, m, c, 2, -1)).toBe('ERR_PFGM_ARGUMENT');
    expect(await call('frechetDistance', m, c, m, new Float64Array(3), 2, 1e-6)).toBe('ERR_PFGM_SHAPE');
    expect(await call('frechetDistance', m, c, m, c)).toBe('ERR_PFGM_ARGUMENT');
    expect(await call('frechetDistance', m, new Float64Array([1, Number.NaN, 0, 1]), m, c, 2, 1e-6)).toBe(
      'ERR_PFGM_ARGUMENT',
    );
    expect(await call('knnRadii', new Float64Array(6), 3, 2, 3)).toBe('ERR_PFGM_ARGUMENT');
    expect(await call('knnRadii', new Float64Array(6), 3, 2, 0)).toBe('ERR_PFGM_ARGUMENT');
    expect(
      await call(
        'manifoldCoverage',
        new Float64Array(4),
        2,
        new Float64Array(4),
        2,
        2,
        new Float64Array(1),
        new Float64Array(2),
      ),
    ).toBe('ERR_PFGM_SHAPE');
    expect(await call('manifoldCoverage', {}, 2, new Float64Array(4), 2, 2)).toBe('ERR_PFGM_DTYPE');
  });
});
