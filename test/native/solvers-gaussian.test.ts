// Every solver on a problem with a closed-form answer: data N(0, s_d^2 I) and D = Infinity, whose
// ideal denoiser is linear, D(x, sigma) = x s_d^2 / (sigma^2 + s_d^2), and whose probability-flow
// ODE is solved exactly by x(sigma) = x0 sqrt(sigma^2 + s_d^2) / sqrt(sigma0^2 + s_d^2). The
// error at sigma_min on EDM's schedule must fall at each solver's order as the steps double
// (the slope of log error against log steps), RK45 must meet its tolerance, and each solver must
// spend the NFE it promises.
import { describe, expect, it } from 'vitest';
import {
  type DenoiseFn,
  dpmSolver2M,
  dpmSolver3M,
  euler,
  heun,
  ipndm,
  karras,
  rk45,
  type SolverOptions,
  solverNfe,
} from '../../src/index.js';
import type { SampleResult } from '../../src/sample/types.js';
import { convergenceOrder } from '../helpers/ideal.js';

const SD = 0.5;
const SIGMA_MAX = 80;
const SIGMA_MIN = 0.002;
const gaussian: DenoiseFn = async (x, s) => x.map((v) => (v * SD * SD) / (s * s + SD * SD));
const x0 = Float32Array.from({ length: 64 }, (_, i) => SIGMA_MAX * Math.sin(1.7 * i + 0.3));
const exactAt = (sigma: number) =>
  x0.map((v) => (v * Math.sqrt(sigma * sigma + SD * SD)) / Math.sqrt(SIGMA_MAX * SIGMA_MAX + SD * SD));

type Run = (denoise: DenoiseFn, x: Float32Array, sigmas: readonly number[], o: SolverOptions) => Promise<SampleResult>;

/** Max error at sigma_min (the state the last step starts from) with n steps, and the NFE. */
async function errorAt(run: Run, n: number): Promise<{ error: number; nfe: number }> {
  const sigmas = karras({ steps: n, sigmaMax: SIGMA_MAX, sigmaMin: SIGMA_MIN });
  let at: Float32Array | undefined;
  const { nfe } = await run(gaussian, x0, sigmas, {
    callback: (s) => {
      if (s.sigma === SIGMA_MIN) at = s.x;
    },
  });
  const want = exactAt(SIGMA_MIN);
  let error = 0;
  for (let k = 0; k < x0.length; k++)
    error = Math.max(error, Math.abs(((at as Float32Array)[k] as number) - (want[k] as number)));
  return { error, nfe };
}

// Steps where each solver is in its asymptotic regime and above the fp32 floor, the order it must
// show within the slack, and its name for solverNfe. Measured slopes (errors at the four step
// counts): Euler 0.98 (1.1e-1 .. 1.5e-2), Heun 2.15 (7.0e-2 .. 8.0e-4), DPM-Solver++(2M) 2.12
// (6.6e-2 .. 8.2e-4), DPM-Solver++(3M) 3.18 (7.2e-3 .. 9.5e-6), iPNDM 2.16 (2.3e-2 .. 2.7e-4) and
// iPNDM with variable-step weights 3.57 (1.0e-2 .. 6.1e-6, the last doubling 3.74). iPNDM's
// uniform-step weights on EDM's non-uniform schedule make it second order asymptotically: its
// strength is the low-NFE regime (solvers-ideal.test.ts), not the order.
const CASES: [string, Run, number[], number, number, Parameters<typeof solverNfe>[0]][] = [
  ['euler', euler, [12, 24, 48, 96], 1, 0.15, 'euler'],
  ['heun', heun, [12, 24, 48, 96], 2, 0.3, 'heun'],
  ['dpm2m', dpmSolver2M, [12, 24, 48, 96], 2, 0.3, 'dpm2m'],
  ['dpm3m', dpmSolver3M, [24, 48, 96, 192], 3, 0.4, 'dpm3m'],
  ['ipndm', ipndm, [12, 24, 48, 96], 2, 0.3, 'ipndm'],
  [
    'ipndm variableStep',
    (d, x, s, o) => ipndm(d, x, s, { ...o, variableStep: true }),
    [24, 48, 96, 192],
    4,
    0.6,
    'ipndm',
  ],
];

describe('orders of convergence on the Gaussian closed form', () => {
  it.each(CASES)('%s', async (_name, run, steps, order, slack, id) => {
    const errors: number[] = [];
    for (const n of steps) {
      const r = await errorAt(run, n);
      expect(r.nfe).toBe(solverNfe(id, n));
      errors.push(r.error);
    }
    const slope = convergenceOrder(steps, errors);
    expect(slope, `errors ${errors.map((e) => e.toExponential(2))}`).toBeGreaterThan(order - slack);
    expect(slope).toBeLessThan(order + 2 * slack);
  });
});

describe('rk45 on the Gaussian closed form', () => {
  it('meets its tolerance, spends more evaluations for less error, and lands on the exact x(0) path', async () => {
    const rows: { tol: number; error: number; nfe: number }[] = [];
    for (const tol of [1e-3, 1e-4, 1e-5]) {
      let at: Float32Array | undefined;
      const r = await rk45(gaussian, x0, [SIGMA_MAX, SIGMA_MIN, 0], {
        rtol: tol,
        atol: tol,
        callback: (s) => {
          if (s.sigma === SIGMA_MIN) at = s.x;
        },
      });
      const want = exactAt(SIGMA_MIN);
      let error = 0;
      for (let k = 0; k < x0.length; k++)
        error = Math.max(error, Math.abs(((at as Float32Array)[k] as number) - (want[k] as number)));
      rows.push({ tol, error, nfe: r.nfe });
      // The final step to 0 is D(x, sigma_min), as for every solver here.
      const final = await gaussian(at as Float32Array, SIGMA_MIN);
      expect(r.x).toEqual(final);
    }
    // The tolerance bounds each step's local error; the global error at sigma_min, measured:
    // 1.2e-3 (tolerance 1e-3, NFE 86), 1.5e-4 (1e-4, 104), 6.7e-5 (1e-5, 164), the last near the
    // fp32 floor of a state that starts at |x| ~ 80.
    for (const { tol, error } of rows) expect(error).toBeLessThan(10 * tol + 2e-5);
    expect((rows[2] as { nfe: number }).nfe).toBeGreaterThan((rows[0] as { nfe: number }).nfe);
    expect((rows[2] as { error: number }).error).toBeLessThan((rows[0] as { error: number }).error / 10);
  });
});
