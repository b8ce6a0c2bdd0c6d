// Improved precision and recall (src/eval/precisionRecall.ts over src/native/linalg/knn.cc):
// the native k-NN radii and coverage against a brute-force TypeScript reference, then the
// metric on laws whose answer is known in closed form: identical distributions (both near 1),
// disjoint supports (both exactly 0), and a generated set covering a known fraction f of the
// real support (precision near 1, recall near f), with tolerances from measured variability.
import { describe, expect, it } from 'vitest';
import { knnRadii, precisionRecall } from '../../src/eval/precisionRecall.js';
import { SplitMix64 } from '../../src/train/order.js';
import { normals } from '../helpers/linalg.js';

const at = (a: ArrayLike<number>, i: number) => a[i] as number;

function uniforms(n: number, dim: number, seed: number, scale: number[] = []): Float64Array {
  const rng = new SplitMix64(BigInt(seed) ^ 0x7e57n);
  const out = new Float64Array(n * dim);
  for (let i = 0; i < out.length; i++) out[i] = ((Number(rng.next() >> 11n) + 0.5) / 2 ** 53) * (scale[i % dim] ?? 1);
  return out;
}

function dist(a: Float64Array, i: number, b: Float64Array, j: number, dim: number): number {
  let s = 0;
  for (let k = 0; k < dim; k++) s += (at(a, i * dim + k) - at(b, j * dim + k)) ** 2;
  return Math.sqrt(s);
}

/** Brute force: k-th nearest other point, then ball membership, all in plain double loops. */
function reference(real: Float64Array, fake: Float64Array, dim: number, k: number) {
  const radii = (x: Float64Array) => {
    const n = x.length / dim;
    const r = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const d: number[] = [];
      for (let j = 0; j < n; j++) if (j !== i) d.push(dist(x, i, x, j, dim));
      d.sort((p, q) => p - q);
      r[i] = at(d, k - 1);
    }
    return r;
  };
  const rr = radii(real);
  const fr = radii(fake);
  const nr = real.length / dim;
  const nf = fake.length / dim;
  let p = 0;
  for (let j = 0; j < nf; j++) {
    let inside = false;
    for (let i = 0; i < nr && !inside; i++) inside = dist(fake, j, real, i, dim) <= at(rr, i);
    if (inside) p++;
  }
  let r = 0;
  for (let i = 0; i < nr; i++) {
    let inside = false;
    for (let j = 0; j < nf && !inside; j++) inside = dist(real, i, fake, j, dim) <= at(fr, j);
    if (inside) r++;
  }
  return { realRadii: rr, fakeRadii: fr, precision: p / nf, recall: r / nr };
}

describe('k-NN radii and coverage', () => {
  it('match a brute-force reference exactly', async () => {
    const dim = 5;
    const real = normals(300, dim, 1);
    const fake = normals(220, dim, 2).map((v) => v * 1.3 + 0.2);
    for (const k of [1, 3, 7]) {
      const ref = reference(real, fake, dim, k);
      const got = await precisionRecall(real, fake, dim, { k });
      for (let i = 0; i < ref.realRadii.length; i++)
        expect(Math.abs(at(got.realRadii, i) - at(ref.realRadii, i))).toBeLessThan(1e-12);
      for (let i = 0; i < ref.fakeRadii.length; i++)
        expect(Math.abs(at(got.fakeRadii, i) - at(ref.fakeRadii, i))).toBeLessThan(1e-12);
      expect(got.precision).toBe(ref.precision);
      expect(got.recall).toBe(ref.recall);
      expect(got.k).toBe(k);
    }
  });

  it('count duplicates as neighbours at distance 0 and exclude only the point itself', async () => {
    // Points 0 and 1 coincide: each is the other's nearest neighbour.
    const x = new Float64Array([0, 0, 0, 0, 3, 0, 0, 4]);
    const r1 = await knnRadii(x, 2, 1);
    expect(Array.from(r1)).toEqual([0, 0, 3, 4]);
    const r2 = await knnRadii(x, 2, 2);
    expect(Array.from(r2)).toEqual([3, 3, 3, 4]);
    const r3 = await knnRadii(x, 2, 3);
    expect(Array.from(r3)).toEqual([4, 4, 5, 5]);
    // Float32 input gives the same radii (exactly representable here).
    expect(Array.from(await knnRadii(Float32Array.from(x), 2, 2))).toEqual([3, 3, 3, 4]);
  });

  it('swapping the sets swaps precision and recall', async () => {
    const a = normals(400, 3, 5);
    const b = normals(300, 3, 6).map((v) => v * 0.7 + 0.5);
    const ab = await precisionRecall(a, b, 3);
    const ba = await precisionRecall(b, a, 3);
    expect(ab.precision).toBe(ba.recall);
    expect(ab.recall).toBe(ba.precision);
  });
});

describe('precision and recall on known laws', () => {
  it('identical distributions give both near 1', async () => {
    // Near, not at, 1: a fresh point can fall in a gap between the k-NN balls. Measured (k = 3,
    // 2000 + 2000 points of N(0, I_8), 3 seed pairs): 0.888-0.906 for both; the binomial standard
    // deviation at 2000 points is 0.007, so the bound sits 4 of them below the lowest value.
    const values: number[] = [];
    for (let s = 0; s < 3; s++) {
      const pr = await precisionRecall(normals(2000, 8, 10 + s), normals(2000, 8, 20 + s), 8);
      values.push(pr.precision, pr.recall);
    }
    console.log(`identical laws: ${values.map((v) => v.toFixed(3)).join(' ')}`);
    for (const v of values) {
      expect(v).toBeGreaterThan(IDENTICAL_LOW);
      expect(v).toBeLessThanOrEqual(1);
    }
  });

  it('disjoint supports give exactly 0', async () => {
    const real = uniforms(1000, 4, 1);
    const fake = uniforms(1000, 4, 2).map((v, i) => (i % 4 === 0 ? v + 1.5 : v));
    const pr = await precisionRecall(real, fake, 4);
    expect(pr.precision).toBe(0);
    expect(pr.recall).toBe(0);
  });

  it('a generated set covering a fraction f of the real support: precision near 1, recall near f', async () => {
    // Real: uniform on the unit square. Fake: uniform on [0, f] x [0, 1]. Every fake point lies in
    // the real support, and only real points with x < f (plus a boundary layer about one k-NN
    // radius wide, ~0.01 here) lie in the fake one.
    const n = 4000;
    for (const f of [0.25, 0.5, 0.75]) {
      const pr = await precisionRecall(uniforms(n, 2, 30), uniforms(n, 2, 31, [f, 1]), 2);
      console.log(`coverage f = ${f}: precision ${pr.precision.toFixed(4)}, recall ${pr.recall.toFixed(4)}`);
      // Measured: precision 0.983-0.985, recall f - 0.005 to f - 0.010 (4000 points per set).
      expect(pr.precision).toBeGreaterThan(COVER_PRECISION_LOW);
      expect(pr.recall).toBeGreaterThan(f - COVER_RECALL_TOL);
      expect(pr.recall).toBeLessThan(f + COVER_RECALL_TOL);
    }
  });

  it('10k x 10k points of 128 features take seconds', async () => {
    const real = new Float32Array(normals(10000, 128, 40));
    const fake = new Float32Array(normals(10000, 128, 41).map((v) => v * 1.2));
    const t0 = performance.now();
    const pr = await precisionRecall(real, fake, 128);
    const seconds = (performance.now() - t0) / 1000;
    console.log(`10k x 10k x 128: ${seconds.toFixed(2)} s, precision ${pr.precision}, recall ${pr.recall}`);
    expect(pr.precision).toBeGreaterThanOrEqual(0);
    expect(seconds).toBeLessThan(60); // a guard against a pathological slowdown, not a benchmark
  });
});

const IDENTICAL_LOW = 0.86;
const COVER_PRECISION_LOW = 0.97;
const COVER_RECALL_TOL = 0.03;

describe('precision and recall: bad input', () => {
  it('refuses a k too large, partial rows, mismatched types and NaN', async () => {
    const x = normals(10, 2, 1);
    await expect(precisionRecall(x, x, 2, { k: 10 })).rejects.toMatchObject({ code: 'ERR_PFGM_ARGUMENT' });
    await expect(precisionRecall(x, x, 2, { k: 0 })).rejects.toMatchObject({ code: 'ERR_PFGM_ARGUMENT' });
    await expect(precisionRecall(x, x.subarray(0, 7), 2)).rejects.toMatchObject({ code: 'ERR_PFGM_SHAPE' });
    await expect(precisionRecall(x, [1, 2] as unknown as Float64Array, 2)).rejects.toMatchObject({
      code: 'ERR_PFGM_DTYPE',
    });
    const bad = x.slice();
    bad[3] = Number.NaN;
    await expect(precisionRecall(x, bad, 2)).rejects.toMatchObject({ code: 'ERR_PFGM_ARGUMENT' });
    await expect(knnRadii(x, 2, 10)).rejects.toMatchObject({ code: 'ERR_PFGM_ARGUMENT' });
  });
});
