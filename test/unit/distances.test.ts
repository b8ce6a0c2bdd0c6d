// The sample distances against their closed forms: for 1-D Gaussians differing by a shift d,
// W1 = |d|; the sliced distance of d-dimensional isotropic Gaussians shifted by a vector v is
// |v| E|u_1| = |v| Gamma(d/2) / (sqrt(pi) Gamma((d+1)/2)); the energy distance of N(0,1) and
// N(m,1) is 2 E|Z sqrt2 + m| - 2 E|Z sqrt2| (folded normal means).
import { describe, expect, it } from 'vitest';
import { energyDistance, slicedWasserstein } from '../../src/eval/distances.js';
import { SplitMix64 } from '../../src/train/order.js';

function normals(n: number, dim: number, seed: number, shift: number[] = []): Float64Array {
  const rng = new SplitMix64(BigInt(seed));
  const u = () => (Number(rng.next() >> 11n) + 0.5) / 2 ** 53;
  const out = new Float64Array(n * dim);
  for (let i = 0; i < out.length; i++)
    out[i] = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()) + (shift[i % dim] ?? 0);
  return out;
}

const foldedMean = (mu: number, s: number) =>
  s * Math.sqrt(2 / Math.PI) * Math.exp(-(mu * mu) / (2 * s * s)) +
  mu * (1 - 2 * (0.5 * (1 + erf(-mu / (s * Math.SQRT2)))));
function erf(x: number): number {
  // Abramowitz-Stegun 7.1.26 is too coarse for a test oracle: integrate exp(-t^2) instead.
  const n = 2000;
  let s = 0;
  for (let i = 0; i < n; i++) {
    const t = (x * (i + 0.5)) / n;
    s += Math.exp(-t * t);
  }
  return ((2 / Math.sqrt(Math.PI)) * s * x) / n;
}

describe('sample distances', () => {
  it('sliced Wasserstein of shifted 2-D Gaussians is |v| * 2/pi', () => {
    const a = normals(20000, 2, 1);
    const b = normals(20000, 2, 2, [0.6, 0.8]);
    const sw = slicedWasserstein(a, b, 2, { projections: 512 });
    expect(sw).toBeGreaterThan(1.0 * (2 / Math.PI) - 0.03);
    expect(sw).toBeLessThan(1.0 * (2 / Math.PI) + 0.03);
    expect(slicedWasserstein(a, normals(20000, 2, 3), 2)).toBeLessThan(0.03);
  });

  it('energy distance of N(0,1) and N(m,1) matches the folded-normal closed form', () => {
    const m = 1;
    const want = 2 * foldedMean(m, Math.SQRT2) - 2 * foldedMean(0, Math.SQRT2);
    const got = energyDistance(normals(3000, 1, 4), normals(3000, 1, 5, [m]), 1);
    expect(Math.abs(got - want)).toBeLessThan(0.05);
    expect(Math.abs(energyDistance(normals(2000, 1, 6), normals(2000, 1, 7), 1))).toBeLessThan(0.02);
  });

  it('refuses ragged input', () => {
    expect(() => slicedWasserstein(new Float32Array(5), new Float32Array(4), 2)).toThrow(
      /whole number of 2-dimensional rows/,
    );
  });
});
