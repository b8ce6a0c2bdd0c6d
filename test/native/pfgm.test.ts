// docs/method.md §3: PFGM's training perturbation and prior, tested against their closed-form laws.
import { describe, expect, it } from 'vitest';
import { pfgmHyperparameters, pfgmPerturb, samplePfgmPrior, tensor } from '../../src/index.js';
import { betaCdf, gammaCdf, ksTest, rowNorms2 } from '../helpers/stats.js';

const S = 0.01;
const TAU = 0.03;

async function perturbZeros(count: number, n: number, M: number, restrictM: boolean, seed: number) {
  const { x, z } = await pfgmPerturb(tensor(new Float64Array(count * n), [count, n]), {
    M,
    tau: TAU,
    s: S,
    restrictM,
    seed,
  });
  return { R2: rowNorms2(await x.data(), count), z: await z.data() };
}

// P(ln(R/s) <= t) with R = s (1+tau)^m sqrt(Q), Q ~ chi^2_N, m from its (mixed) uniform law.
function logRadiusCdf(N: number, M: number, restrictM: boolean): (t: number) => number {
  // P(z0 < 0.005) = P(|N(0,1)| < 0.005 / s) = P(chi^2_1 < 0.25)
  const pSmall = restrictM ? gammaCdf(0.5 * (0.005 / S) ** 2, 0.5) : 0;
  const L = Math.log1p(TAU);
  const uniformPart = (t: number, top: number) => {
    const steps = 400;
    let acc = 0;
    for (let k = 0; k < steps; k++) {
      const m = ((k + 0.5) / steps) * top;
      acc += gammaCdf(Math.exp(2 * (t - m * L)) / 2, N / 2);
    }
    return acc / steps;
  };
  return (t) => pSmall * uniformPart(t, 0.7 * M) + (1 - pSmall) * uniformPart(t, M);
}

describe('pfgmPerturb (docs/method.md §3)', () => {
  it('R^2 / (R^2 + z^2) ~ Beta(N/2, 1/2): ||e|| / z0 does not depend on m', async () => {
    const N = 64;
    const { R2, z } = await perturbZeros(8000, N, 200, true, 1);
    const b = Array.from(R2, (r2, i) => r2 / (r2 + (z[i] as number) ** 2));
    const oneMinus = Array.from(R2, (r2, i) => (z[i] as number) ** 2 / (r2 + (z[i] as number) ** 2));
    const indices = b.map((_, i) => i);
    const pValue = (shapeB: number) =>
      ksTest(indices, (i) => betaCdf(b[i] as number, N / 2, shapeB, oneMinus[i] as number)).p;
    expect(pValue(0.5)).toBeGreaterThan(1e-3);
    expect(pValue(1)).toBeLessThan(1e-4); // power
    expect(z.every((v) => v > 0)).toBe(true);
  });

  it.each([false, true])('ln R follows the law of m with restrictM = %s', async (restrictM) => {
    const N = 16;
    const M = 150;
    const { R2 } = await perturbZeros(6000, N, M, restrictM, 2);
    const logR = Array.from(R2, (r2) => 0.5 * Math.log(r2) - Math.log(S));
    expect(ksTest(logR, logRadiusCdf(N, M, restrictM)).p).toBeGreaterThan(1e-3);
    expect(ksTest(logR, logRadiusCdf(N, M, !restrictM)).p).toBeLessThan(1e-4); // power
  });
});

describe('samplePfgmPrior (docs/method.md §3)', () => {
  it('R^2 / zMax^2 ~ BetaPrime(N/2, 1/2) with the hyperparameters of the data', async () => {
    const N = 784;
    const h = pfgmHyperparameters({ dataNorm: 20, N });
    const x = await samplePfgmPrior({ shape: [1, 28, 28], count: 4000, zMax: h.zMax, seed: 4, dtype: 'f64' });
    const R2 = rowNorms2(await x.data(), 4000);
    const z2 = h.zMax ** 2;
    expect(ksTest(R2, (v) => betaCdf(v / (v + z2), N / 2, 0.5, z2 / (v + z2))).p).toBeGreaterThan(1e-3);
  });

  it('clips radii only when asked: the reference [1, upperNorm] clip as an option', async () => {
    const N = 784;
    const h = pfgmHyperparameters({ dataNorm: 20, N });
    const base = { shape: [N], count: 2000, zMax: h.zMax, seed: 5, dtype: 'f64' as const };
    const free = rowNorms2(await (await samplePfgmPrior(base)).data(), 2000);
    const clipped = rowNorms2(
      await (await samplePfgmPrior({ ...base, radiusClip: { min: 1, max: h.upperNorm } })).data(),
      2000,
    );
    const upper2 = h.upperNorm ** 2;
    let changed = 0;
    for (let i = 0; i < 2000; i++) {
      const f = free[i] as number;
      const c = clipped[i] as number;
      if (f > upper2) {
        expect(c).toBeCloseTo(upper2, 6);
        changed++;
      } else if (f < 1) {
        expect(c).toBeCloseTo(1, 9);
        changed++;
      } else expect(c).toBe(f);
    }
    // docs/method.md §3: the reference clip changes a large share of draws at small D
    expect(changed).toBeGreaterThan(200);
  });
});
