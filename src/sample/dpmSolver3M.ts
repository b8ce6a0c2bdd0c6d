/**
 * DPM-Solver++(3M) on the probability-flow ODE in sigma, in the data-prediction (x) form with
 * lambda = -ln sigma (docs/method.md §2.3).
 *
 * @module
 */
import { expIntegratorWeights } from './expIntegrator.js';
import { HostOps, type SolverOps } from './solverOps.js';
import type { DenoiseFn, SampleResult, SolverOptions } from './types.js';
import { checkSigmas, checkStart } from './update.js';

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
  return dpmSolver3MWith(new HostOps(denoise, options), x, sigmas);
}

/** {@link dpmSolver3M} over arrays on the host or the device (solverOps.ts); `sigmas` checked. @internal */
export async function dpmSolver3MWith<A>(ops: SolverOps<A>, x: A, sigmas: readonly number[]): Promise<SampleResult> {
  let cur = x;
  // The last evaluations, newest first, with their lambda = -ln sigma.
  const history: { den: A; lambda: number }[] = [];
  for (let i = 0; i + 1 < sigmas.length; i++) {
    const s = sigmas[i] as number;
    const next = sigmas[i + 1] as number;
    const den = await ops.denoise(cur, s, i);
    await ops.step(i, s, cur, den);
    const lambda = -Math.log(s);
    history.unshift({ den, lambda });
    if (history.length > 3) ops.drop(history.pop()?.den);
    if (next === 0) {
      ops.drop(cur);
      cur = den;
      continue;
    }
    const h = Math.log(s / next);
    const nodes = history.map((e) => e.lambda - lambda); // 0, then negative
    const weights = expIntegratorWeights(h, nodes);
    const updated = await ops.combine([
      [next / s, cur],
      ...history.map((e, k) => [weights[k] as number, e.den] as const),
    ]);
    ops.drop(cur);
    cur = updated;
  }
  return ops.finish(cur, sigmas.length - 2, 0);
}
