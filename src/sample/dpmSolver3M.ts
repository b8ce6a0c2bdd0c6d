/**
 * DPM-Solver++(3M) on the probability-flow ODE in sigma, in the data-prediction (x) form with
 * lambda = -ln sigma (docs/method.md §2.3).
 *
 * @module
 */
import { expIntegratorWeights } from './expIntegrator.js';
import type { DenoiseFn, SampleResult, SolverOptions } from './types.js';
import { checkSigmas, checkStart, combine, Evaluator } from './update.js';

/**
 * DPM-Solver++(3M): the third-order multistep exponential integrator. In lambda = -ln sigma the
 * ODE `dx/dlambda = D(x) - x` has the exact step
 * `x_{i+1} = e^{-h} x_i + integral_0^h e^{-(h - tau)} D(lambda_i + tau) dtau`; this solver
 * replaces D by the quadratic through the last three evaluations (in lambda, any spacing) and
 * integrates it exactly. The first step is first order and the second second order (one and two
 * evaluations available), and the step to sigma = 0 returns D_i, as k-diffusion does.
 * NFE = n for n = sigmas.length - 1 steps.
 *
 * @param denoise - D(x, sigma).
 * @param x - The start at `sigmas[0]` (not modified).
 * @param sigmas - Descending noise levels ending in 0, e.g. `karras({ steps: 18 })`.
 *
 * @example
 * ```ts
 * const { x } = await dpmSolver3M((x, s) => net.denoise(x, s), x0, karras({ steps: 12 }));
 * ```
 */
export async function dpmSolver3M(
  denoise: DenoiseFn,
  x: Float32Array,
  sigmas: readonly number[],
  options: SolverOptions = {},
): Promise<SampleResult> {
  checkStart(x);
  checkSigmas(sigmas);
  const ev = new Evaluator(denoise, options);
  let cur = x;
  // The last evaluations, newest first, with their lambda = -ln sigma.
  const history: { den: Float32Array; lambda: number }[] = [];
  for (let i = 0; i + 1 < sigmas.length; i++) {
    const s = sigmas[i] as number;
    const next = sigmas[i + 1] as number;
    const den = await ev.denoise(cur, s, i);
    ev.step({ i, sigma: s, x: cur, denoised: den });
    const lambda = -Math.log(s);
    history.unshift({ den, lambda });
    if (history.length > 3) history.pop();
    if (next === 0) {
      cur = den;
      continue;
    }
    const h = Math.log(s / next);
    const nodes = history.map((e) => e.lambda - lambda); // 0, then negative
    const weights = expIntegratorWeights(h, nodes);
    cur = await combine([[next / s, cur], ...history.map((e, k) => [weights[k] as number, e.den] as const)]);
  }
  return ev.finish(cur, sigmas.length - 2, 0);
}
