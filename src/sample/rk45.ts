/**
 * Adaptive Runge-Kutta (Dormand-Prince 5(4)) on the probability-flow ODE in sigma, the solver
 * PFGM's reference code samples with (docs/method.md §3) and the usual ground truth for fixed-step solvers.
 *
 * @module
 */
import { checkPositive } from '../validate.js';
import { dopri } from './dopri.js';
import { HostOps, type SolverOps } from './solverOps.js';
import type { DenoiseFn, SampleResult, SolverOptions } from './types.js';
import { checkSigmas, checkStart } from './update.js';

/** Options of {@link rk45}. */
export interface Rk45Options extends SolverOptions {
  /** Relative tolerance (default 1e-4, PFGM's). */
  rtol?: number;
  /** Absolute tolerance (default 1e-4, PFGM's). */
  atol?: number;
  /** Give up (with an error) after this many steps, accepted or rejected (default 100000). */
  maxSteps?: number;
}

/**
 * Adaptive Dormand-Prince 5(4) on `dx/dsigma = (x - D(x, sigma)) / sigma` from `sigmas[0]` down to
 * the last non-zero sigma, landing exactly on every sigma of the array on the way (pass
 * `[sigmaMax, sigmaMin, 0]` to let it choose every step), then the final step to 0, which returns
 * D(x, sigma_min) (the Euler step to 0). The error per step is kept below `atol + rtol |x|` in the
 * RMS over the whole batch, so the steps are shared by the batch and a sample's result depends on
 * its batch within the tolerance.
 *
 * NFE: 6 per accepted or rejected step, plus 1 at the start and 1 for the starting step size; the
 * last stage of each step is the next step's first (FSAL), so the final D(x, sigma_min) is free.
 * The callback sees each accepted step (its start) and the final step to 0.
 *
 * @param denoise - D(x, sigma).
 * @param x - The start at `sigmas[0]` (not modified).
 * @param sigmas - Descending noise levels ending in 0; only the path's stops, not its steps.
 *
 * @example
 * ```ts
 * const { x, nfe } = await rk45((x, s) => net.denoise(x, s), x0, [80, 0.002, 0], { rtol: 1e-5, atol: 1e-5 });
 * ```
 */
export async function rk45(
  denoise: DenoiseFn,
  x: Float32Array,
  sigmas: readonly number[],
  options: Rk45Options = {},
): Promise<SampleResult> {
  checkStart(x);
  checkSigmas(sigmas);
  const rtol = checkPositive('rtol', options.rtol ?? 1e-4);
  const atol = checkPositive('atol', options.atol ?? 1e-4);
  return rk45With(new HostOps(denoise, options), x, sigmas, { ...options, rtol, atol });
}

/**
 * {@link rk45} over arrays on the host or the device (solverOps.ts); `sigmas`, `rtol` and `atol`
 * checked. The error norm is a reduction where the state lives: on a device only its value comes
 * back. @internal
 */
export async function rk45With<A>(
  ops: SolverOps<A>,
  x: A,
  sigmas: readonly number[],
  options: { rtol: number; atol: number; maxSteps?: number; signal?: AbortSignal },
): Promise<SampleResult> {
  const none = new Float64Array(0);
  let accepted = 0;
  const f = async (xs: A, _aux: Float64Array, sigma: number) => {
    const denoised = await ops.denoise(xs, sigma, accepted);
    // The slope (x - D) / sigma of docs/method.md (1.1).
    const k = await ops.combine([
      [1 / sigma, xs],
      [-1 / sigma, denoised],
    ]);
    return { k, kAux: none, denoised };
  };
  const stops = sigmas.slice(1, -1);
  if (stops.length === 0) {
    // One step straight to 0: nothing to integrate, only the final denoising.
    const den = await ops.denoise(x, sigmas[0] as number, 0);
    await ops.step(0, sigmas[0] as number, x, den);
    return ops.finish(den, 0, 0);
  }
  const r = await dopri(f, x, none, sigmas[0] as number, stops, {
    rtol: options.rtol,
    atol: options.atol,
    maxSteps: options.maxSteps,
    signal: options.signal,
    arrays: ops,
    onStep: async (s) => {
      accepted = s.i + 1;
      await ops.step(s.i, s.t, s.x, s.at.denoised);
    },
  });
  // The last step, from sigma_min to 0, is the denoised batch there.
  await ops.step(r.steps - r.rejected, sigmas[sigmas.length - 2] as number, r.x, r.at.denoised);
  return ops.finish(r.at.denoised, r.steps - r.rejected, 0);
}
