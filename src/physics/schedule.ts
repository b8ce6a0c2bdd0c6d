/**
 * Noise schedules over sigma, ending in 0 (the k-diffusion convention).
 *
 * @module
 */
import { PfgmError } from '../errors.js';
import { checkInteger, checkPositive } from '../validate.js';

/** Options of {@link karras}. */
export interface KarrasOptions {
  /** Number of sigmas before the trailing 0 (n in docs/method.md §2.3), >= 1. */
  steps: number;
  /** Smallest non-zero sigma (default 0.002). */
  sigmaMin?: number;
  /** Largest sigma (default 80). */
  sigmaMax?: number;
  /** Spacing exponent (default 7). */
  rho?: number;
}

/**
 * EDM's schedule (docs/method.md §2.3): `sigma_i = (sigmaMax^(1/rho) + i/(n-1) (sigmaMin^(1/rho) -
 * sigmaMax^(1/rho)))^rho` for i = 0..n-1, then `sigma_n = 0`. Descending, `steps + 1` values.
 * With Heun this costs 2 * steps - 1 network evaluations.
 *
 * @example
 * ```ts
 * karras({ steps: 18 }); // CIFAR-10's 35-NFE schedule: [80, 57.6, ..., 0.002, 0]
 * ```
 */
export function karras(options: KarrasOptions): number[] {
  const { steps, sigmaMin = 0.002, sigmaMax = 80, rho = 7 } = options;
  checkInteger('steps', steps, 1, 1_000_000);
  checkPositive('sigmaMin', sigmaMin);
  checkPositive('sigmaMax', sigmaMax);
  checkPositive('rho', rho);
  if (sigmaMin > sigmaMax) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `sigmaMin (${sigmaMin}) must not exceed sigmaMax (${sigmaMax})`);
  }
  const hi = sigmaMax ** (1 / rho);
  const lo = sigmaMin ** (1 / rho);
  const sigmas: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t = steps === 1 ? 0 : i / (steps - 1);
    sigmas.push((hi + t * (lo - hi)) ** rho);
  }
  // Land exactly on the endpoints, free of pow round-off.
  sigmas[0] = sigmaMax;
  if (steps > 1) sigmas[steps - 1] = sigmaMin;
  sigmas.push(0);
  return sigmas;
}
