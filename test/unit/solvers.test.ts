// Pure-TypeScript parts of the sampler stack, against closed forms: the exponential-integrator
// weights of DPM-Solver++ (exact for polynomials, by quadrature), iPNDM's Adams-Bashforth weights
// (the published uniform-step numbers), the schedule checks, the NFE table, and the likelihood's
// prior density (normalised, Cauchy at N = D = 1, Gaussian as D -> inf) and log-gamma ratio.
import { describe, expect, it } from 'vitest';
import { logGammaRatio, priorLogDensity } from '../../src/eval/nll.js';
import { PfgmError, solverNames, solverNfe, solvers } from '../../src/index.js';
import { expIntegratorWeights, expMoments } from '../../src/sample/expIntegrator.js';
import { adamsBashforthWeights } from '../../src/sample/ipndm.js';
import { checkSigmas } from '../../src/sample/update.js';
import { logGamma } from '../helpers/stats.js';

/** Composite Simpson on [a, b] with 2m intervals. */
function simpson(f: (t: number) => number, a: number, b: number, m = 2000): number {
  const h = (b - a) / (2 * m);
  let acc = f(a) + f(b);
  for (let i = 1; i < 2 * m; i++) acc += (i % 2 === 1 ? 4 : 2) * f(a + i * h);
  return (acc * h) / 3;
}

describe('exponential-integrator weights (DPM-Solver++)', () => {
  it('the moments match quadrature on both sides of the series/closed-form switch', () => {
    for (const h of [1e-4, 0.05, 0.5, 0.999, 1, 1.7, 6]) {
      const got = expMoments(h);
      for (let m = 0; m < 3; m++) {
        const want = simpson((t) => Math.exp(-(h - t)) * t ** m, 0, h);
        expect(Math.abs((got[m] as number) - want) / Math.abs(want), `h ${h}, m ${m}`).toBeLessThan(1e-9);
      }
    }
  });

  it('integrate e^{-(h - tau)} P(tau) exactly for every polynomial P through the nodes', () => {
    for (const h of [0.01, 0.4, 2.5]) {
      for (const nodes of [[0], [0, -0.7 * h], [0, -0.9 * h, -2.2 * h]]) {
        const w = expIntegratorWeights(h, nodes);
        for (let degree = 0; degree < nodes.length; degree++) {
          const p = (t: number) => 1.3 - 0.4 * t ** degree + (degree > 1 ? 0.25 * t : 0);
          const got = w.reduce((acc, c, k) => acc + c * p(nodes[k] as number), 0);
          const want = simpson((t) => Math.exp(-(h - t)) * p(t), 0, h);
          expect(Math.abs(got - want), `h ${h}, ${nodes.length} nodes, degree ${degree}`).toBeLessThan(1e-10);
        }
      }
    }
  });
});

describe('Adams-Bashforth weights (iPNDM)', () => {
  it("on uniform steps they are iPNDM's published weights", () => {
    const published = [[1], [3 / 2, -1 / 2], [23 / 12, -16 / 12, 5 / 12], [55 / 24, -59 / 24, 37 / 24, -9 / 24]];
    for (let order = 1; order <= 4; order++) {
      // Nodes newest first at t0 = 2, spacing 0.1, stepping on to 1.9.
      const nodes = Array.from({ length: order }, (_, j) => 2 + 0.1 * j);
      const w = adamsBashforthWeights(nodes, 1.9);
      w.forEach((v, j) => {
        expect(v).toBeCloseTo((published[order - 1] as number[])[j] as number, 12);
      });
    }
  });

  it('integrate cubics exactly on uneven steps', () => {
    const nodes = [1, 1.3, 2.1, 4];
    const target = 0.6;
    const w = adamsBashforthWeights(nodes, target);
    const f = (t: number) => 2 - t + 0.3 * t * t - 0.05 * t ** 3;
    const got = (target - 1) * w.reduce((acc, c, k) => acc + c * f(nodes[k] as number), 0);
    expect(got).toBeCloseTo(simpson(f, 1, target), 12);
  });
});

describe('solvers table and schedule checks', () => {
  it('names every solver and its NFE', () => {
    expect(Object.keys(solvers)).toEqual([...solverNames]);
    expect(solverNfe('heun', 18)).toBe(35);
    expect(solverNfe('dpm2m', 10)).toBe(10);
    expect(solverNfe('rk45', 10)).toBeUndefined();
  });

  it('refuses schedules that are not descending, positive and ending in 0', () => {
    expect(() => checkSigmas([80, 10, 0.002, 0])).not.toThrow();
    for (const bad of [
      [],
      [0],
      [1, 0.5],
      [1, 1, 0],
      [1, 2, 0],
      [-1, 0],
      [Number.POSITIVE_INFINITY, 0],
      [1, Number.NaN, 0],
    ]) {
      expect(() => checkSigmas(bad), JSON.stringify(bad)).toThrow(PfgmError);
    }
  });
});

describe('the prior density of the likelihood (docs/method.md (2.1))', () => {
  it('is the Cauchy density for N = D = 1 and the Gaussian for D = Infinity', () => {
    for (const x of [0, 0.3, -2, 15]) {
      const sigma = 1.7; // r = sigma sqrt(1)
      expect(priorLogDensity(x * x, 1, 1, sigma)).toBeCloseTo(
        Math.log(sigma / (Math.PI * (x * x + sigma * sigma))),
        12,
      );
      expect(priorLogDensity(x * x, 1, Number.POSITIVE_INFINITY, sigma)).toBeCloseTo(
        -0.5 * Math.log(2 * Math.PI) - Math.log(sigma) - (x * x) / (2 * sigma * sigma),
        12,
      );
    }
  });

  it.each([1, 2.5, 7, 100, 1e6])('integrates to 1 for D = %s (N = 1 on the line, N = 2 over the plane)', (D) => {
    const sigma = 0.8;
    // x = tan(u) maps (-pi/2, pi/2) onto the line; the heavy tails of small D stay integrable.
    const line = simpson(
      (u) => Math.exp(priorLogDensity(Math.tan(u) ** 2, 1, D, sigma)) / Math.cos(u) ** 2,
      -Math.PI / 2 + 1e-9,
      Math.PI / 2 - 1e-9,
      20000,
    );
    expect(line).toBeCloseTo(1, 5);
    const plane = simpson(
      (u) => {
        const r = Math.tan(u);
        return (2 * Math.PI * r * Math.exp(priorLogDensity(r * r, 2, D, sigma))) / Math.cos(u) ** 2;
      },
      0,
      Math.PI / 2 - 1e-9,
      20000,
    );
    expect(plane).toBeCloseTo(1, 5);
  });

  it('tends to the Gaussian as D grows, with no loss of precision at D = 1e12', () => {
    const gauss = priorLogDensity(3.3, 784, Number.POSITIVE_INFINITY, 0.9);
    const gaps = [1e4, 1e6, 1e8, 1e12].map((D) => Math.abs(priorLogDensity(3.3, 784, D, 0.9) - gauss));
    // O(N^2 / D): 100x closer per 100x in D, down to ~1e-6 nats at D = 1e12.
    expect(gaps[1] as number).toBeLessThan((gaps[0] as number) / 50);
    expect(gaps[2] as number).toBeLessThan((gaps[1] as number) / 50);
    expect(gaps[3] as number).toBeLessThan(1e-5);
  });

  it('logGammaRatio agrees with ln Gamma differences and stays exact for huge a', () => {
    for (const [a, b] of [
      [0.5, 1],
      [3, 392],
      [1000, 0.5],
      [9e4, 1536],
    ] as const) {
      expect(logGammaRatio(a, b)).toBeCloseTo(logGamma(a + b) - logGamma(a), 8);
    }
    // Across the switch to Stirling's series at a = 1e5, and its limit b ln a.
    // At a = 1e5 the Lanczos difference is still good to ~1e-9 (ln Gamma ~ 1e6).
    expect(logGammaRatio(1e5, 392)).toBeCloseTo(logGamma(1e5 + 392) - logGamma(1e5), 7);
    expect(logGammaRatio(1e5 - 1e-9, 392)).toBeCloseTo(logGammaRatio(1e5, 392), 7);
    // At a = 5e13, ln Gamma(a) ~ 1.5e15 has an ulp of 0.25: a plain difference would be off by
    // nats; the series keeps b ln a + b (b - 1) / (2a) to the last bit of ~79.
    const a = 5e13;
    expect(Math.abs(logGammaRatio(a, 2.5) - (2.5 * Math.log(a) + (2.5 * 1.5) / (2 * a)))).toBeLessThan(3e-14);
  });
});
