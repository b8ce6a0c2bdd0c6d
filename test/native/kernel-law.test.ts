// docs/method.md §2.1: R^2 / r^2 ~ BetaPrime(N/2, D/2), i.e. B = R^2 / (R^2 + r^2) ~ Beta(N/2, D/2), for
// every D; chi^2_N for D = Infinity. Seeds are fixed, so each test is deterministic; each also
// checks that the same draws are rejected under a wrong law, so it is able to fail.
import { describe, expect, it } from 'vitest';
import { noiseRadii2 } from '../helpers/draws.js';
import { betaCdf, gammaCdf, ksTest } from '../helpers/stats.js';

const SIGMA = 0.7;

// CDF of R^2 under the kernel at sigma: Beta for finite D, chi^2 for D = Infinity.
function radiusCdf(N: number, D: number, sigma = SIGMA): (R2: number) => number {
  if (D === Number.POSITIVE_INFINITY) return (R2) => gammaCdf(R2 / (2 * sigma * sigma), N / 2);
  const r2 = sigma * sigma * D;
  // 1 - B = r^2 / (R^2 + r^2) exactly, so B near 1 keeps its precision.
  return (R2) => betaCdf(R2 / (R2 + r2), N / 2, D / 2, r2 / (R2 + r2));
}

const COUNTS: Record<number, number> = { 2: 20000, 784: 4000, 3072: 2000 };
const DS = [1, 2, 8, 128, 2048, Number.POSITIVE_INFINITY];

describe.each([2, 784, 3072])('perturb radius law, N = %i', (N) => {
  it.each(DS)('D = %s', async (D) => {
    const R2 = await noiseRadii2({ count: COUNTS[N] as number, n: N, D, sigma: SIGMA, seed: 1000 + N });
    const { p } = ksTest(R2, radiusCdf(N, D));
    expect(p).toBeGreaterThan(1e-3);
    // Power: the same draws are rejected under a wrong law: twice the D where D is small (there
    // the heavy 1/c factor swamps a scale error), a 5% error in sigma where D is large (there the
    // laws of neighbouring D are too close to tell apart at small N).
    const wrong = D <= 8 ? radiusCdf(N, 2 * D) : radiusCdf(N, D, SIGMA * 1.05);
    expect(ksTest(R2, wrong).p).toBeLessThan(1e-4);
  });
});

describe('far tail at D = 1 (no clipping)', () => {
  // P(R^2/r^2 > t) = I_{1/(1+t)}(D/2, N/2): find the 1e-3 and 1e-4 upper quantiles by bisection.
  function tailQuantile(N: number, D: number, p: number): number {
    let lo = 0;
    let hi = 80; // in ln t
    for (let k = 0; k < 200; k++) {
      const mid = 0.5 * (lo + hi);
      const t = Math.exp(mid);
      const tail = betaCdf(1 / (1 + t), D / 2, N / 2, t / (1 + t));
      if (tail > p) lo = mid;
      else hi = mid;
    }
    return Math.exp(0.5 * (lo + hi));
  }

  it.each([
    [2, 400000],
    [784, 20000],
  ])('N = %i: exceedances of the 1e-3 and 1e-4 quantiles match the law', async (N, count) => {
    const R2 = await noiseRadii2({ count, n: N, D: 1, sigma: SIGMA, seed: 77 });
    const r2 = SIGMA * SIGMA;
    for (const p of [1e-3, 1e-4]) {
      const t = tailQuantile(N, 1, p);
      const exceed = R2.filter((v) => v / r2 > t).length;
      const mean = count * p;
      // binomial: within 4 standard deviations
      expect(Math.abs(exceed - mean)).toBeLessThan(4 * Math.sqrt(mean) + 1);
    }
    // The tail is as heavy as the law says: the largest radius is far beyond the bulk.
    const sorted = Float64Array.from(R2).sort();
    expect((sorted[count - 1] as number) / (sorted[count >> 1] as number)).toBeGreaterThan(1e3);
  });
});

describe('D -> Infinity approaches the Gaussian kernel', () => {
  it('D = 1e8 passes the chi^2_N law of the Gaussian', async () => {
    const N = 784;
    const R2 = await noiseRadii2({ count: 4000, n: N, D: 1e8, sigma: SIGMA, seed: 5 });
    expect(ksTest(R2, radiusCdf(N, Number.POSITIVE_INFINITY)).p).toBeGreaterThan(1e-3);
  });

  it('huge and tiny D stay finite', async () => {
    for (const D of [1e15, 0.05]) {
      const R2 = await noiseRadii2({ count: 500, n: 16, D, sigma: 1, seed: 9 });
      expect(R2.every((v) => Number.isFinite(v) && v > 0)).toBe(true);
    }
  });
});
