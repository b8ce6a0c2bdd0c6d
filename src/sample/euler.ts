/**
 * Euler's method on the probability-flow ODE in sigma (docs/method.md §2.3): first order, one denoiser
 * evaluation per step.
 *
 * @module
 */
import { HostOps, type SolverOps } from './solverOps.js';
import type { DenoiseFn, SampleResult, SolverOptions } from './types.js';
import { checkSigmas, checkStart } from './update.js';

/**
 * Euler's method: `x_{i+1} = x_i + (s_{i+1} - s_i) (x_i - D(x_i, s_i)) / s_i`, which is
 * `(s_{i+1}/s_i) x_i + (1 - s_{i+1}/s_i) D(x_i, s_i)`; the last step to 0 returns the denoised
 * batch. NFE = n for n = sigmas.length - 1 steps; the error falls as 1/n (first order).
 *
 * @param denoise - D(x, sigma).
 * @param x - The start at `sigmas[0]` (not modified).
 * @param sigmas - Descending noise levels ending in 0, e.g. `karras({ steps: 18 })`.
 *
 * @example
 * ```ts
 * const { x, nfe } = await euler((x, s) => net.denoise(x, s), x0, karras({ steps: 50 }));
 * ```
 */
export async function euler(
  denoise: DenoiseFn,
  x: Float32Array,
  sigmas: readonly number[],
  options: SolverOptions = {},
): Promise<SampleResult> {
  checkStart(x);
  checkSigmas(sigmas);
  return eulerWith(new HostOps(denoise, options), x, sigmas);
}

/** {@link euler} over arrays on the host or the device (solverOps.ts); `sigmas` checked. @internal */
export async function eulerWith<A>(ops: SolverOps<A>, x: A, sigmas: readonly number[]): Promise<SampleResult> {
  let cur = x;
  for (let i = 0; i + 1 < sigmas.length; i++) {
    const s = sigmas[i] as number;
    const next = sigmas[i + 1] as number;
    const den = await ops.denoise(cur, s, i);
    await ops.step(i, s, cur, den);
    const ratio = next / s;
    const updated = await ops.combine([
      [ratio, cur],
      [1 - ratio, den],
    ]);
    ops.drop(cur, den);
    cur = updated;
  }
  return ops.finish(cur, sigmas.length - 2, 0);
}
