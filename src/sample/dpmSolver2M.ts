/**
 * DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Algorithm 2) on the probability-flow ODE in
 * sigma, in the data-prediction (x) form with lambda = -ln sigma (docs/method.md §2.3: the ODE is EDM's
 * for every D, so the solver applies unchanged).
 *
 * @module
 */
import { HostOps, type SolverOps } from './solverOps.js';
import type { DenoiseFn, SampleResult, SolverOptions } from './types.js';
import { checkSigmas, checkStart } from './update.js';

/**
 * DPM-Solver++(2M): a second-order multistep exponential integrator. In lambda = -ln sigma the ODE
 * `dx/dlambda = D(x) - x` is linear in x, so each step integrates the linear part exactly,
 * `x_{i+1} = (s_{i+1}/s_i) x_i + (1 - s_{i+1}/s_i) D~`, with `D~ = D_i` on the first step and
 * `D~ = (1 + 1/(2r)) D_i - 1/(2r) D_{i-1}` after it (r = h_{i-1}/h_i, h = lambda step): the
 * previous evaluation buys the second order at no extra cost. The step to sigma = 0 returns D_i
 * (first order), as k-diffusion does. NFE = n for n = sigmas.length - 1 steps.
 *
 * @param denoise - D(x, sigma).
 * @param x - The start at `sigmas[0]` (not modified).
 * @param sigmas - Descending noise levels ending in 0, e.g. `karras({ steps: 18 })`.
 *
 * @example
 * ```ts
 * const { x, nfe } = await dpmSolver2M((x, s) => net.denoise(x, s), x0, karras({ steps: 15 }));
 * ```
 */
export async function dpmSolver2M(
  denoise: DenoiseFn,
  x: Float32Array,
  sigmas: readonly number[],
  options: SolverOptions = {},
): Promise<SampleResult> {
  checkStart(x);
  checkSigmas(sigmas);
  return dpmSolver2MWith(new HostOps(denoise, options), x, sigmas);
}

/** {@link dpmSolver2M} over arrays on the host or the device (solverOps.ts); `sigmas` checked. @internal */
export async function dpmSolver2MWith<A>(ops: SolverOps<A>, x: A, sigmas: readonly number[]): Promise<SampleResult> {
  let cur = x;
  let previous: A | undefined;
  for (let i = 0; i + 1 < sigmas.length; i++) {
    const s = sigmas[i] as number;
    const next = sigmas[i + 1] as number;
    const den = await ops.denoise(cur, s, i);
    await ops.step(i, s, cur, den);
    const old = cur;
    if (next === 0) {
      cur = den;
    } else {
      const h = Math.log(s / next);
      const ratio = next / s; // e^{-h}
      const phi1 = -Math.expm1(-h); // 1 - e^{-h}
      if (previous === undefined) {
        cur = await ops.combine([
          [ratio, cur],
          [phi1, den],
        ]);
      } else {
        const r = Math.log((sigmas[i - 1] as number) / s) / h;
        const w = 1 / (2 * r);
        cur = await ops.combine([
          [ratio, cur],
          [phi1 * (1 + w), den],
          [-phi1 * w, previous],
        ]);
      }
    }
    ops.drop(old, previous);
    previous = den;
  }
  return ops.finish(cur, sigmas.length - 2, 0);
}
