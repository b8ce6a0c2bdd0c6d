/**
 * EDM's Heun sampler (docs/method.md §2.3, Karras et al. 2022, Algorithm 1 and, with churn, Algorithm 2).
 * Because the ODE in sigma is EDM's for every D, only the prior depends on D.
 *
 * @module
 */

import { PfgmError } from '../errors.js';
import { nativeStreams, type Seed } from '../physics/streams.js';
import { checkInteger, checkNonNegative } from '../validate.js';
import { HostOps, type SolverOps } from './solverOps.js';
import type { DenoiseFn, SampleResult, SolverOptions } from './types.js';
import { checkSigmas, checkStart } from './update.js';

/**
 * EDM's stochastic churn (Algorithm 2): before step i, raise the noise level from `s_i` to
 * `s_hat = s_i (1 + gamma)` by adding Gaussian noise of standard deviation
 * `sNoise sqrt(s_hat^2 - s_i^2)`, with `gamma = min(sChurn / n, sqrt(2) - 1)` for
 * `sTmin <= s_i <= sTmax` and 0 elsewhere.
 *
 * Exact only for D = Infinity (docs/method.md §2.3): for finite D the perturbation kernel is a Student-t,
 * and a Student-t plus a Gaussian is not the Student-t of the higher noise level, so churn with a
 * finite-D model adds a (small) bias.
 */
export interface ChurnOptions {
  /** EDM's S_churn, total churn over the run (>= 0; 0 turns churn off). */
  sChurn: number;
  /** Lowest sigma that gets churn (default 0). */
  sTmin?: number;
  /** Highest sigma that gets churn (default Infinity). */
  sTmax?: number;
  /** EDM's S_noise, the noise inflation (default 1). */
  sNoise?: number;
  /**
   * Seed of the churn noise (default 0): one seed (sample i reads stream `sampleOffset + i`) or one
   * per sample, so each sample's noise does not depend on its batch. Step i of the solver reads
   * step i of the stream.
   */
  seed?: Seed;
  /** First stream index when `seed` is one number (default 0). */
  sampleOffset?: number;
  /** How many samples `x` holds (default: the length of `seed` when it is an array, else 1). */
  count?: number;
}

/**
 * Noise injected at every step, `x <- x + alpha sigma_i eps` with `eps ~ N(0, I)` before step i
 * (PFGM++ Sec. 6, docs/method.md §4(a)): a perturbation of the sampler to measure robustness, not a way
 * to sample better.
 */
export interface NoiseInjectionOptions {
  /** The strength alpha (>= 0; the paper uses 0.1 and 0.2). */
  alpha: number;
  /** Seed of the noise (default 0): one seed or one per sample, as for churn. */
  seed?: Seed;
  /** First stream index when `seed` is one number (default 0). */
  sampleOffset?: number;
  /** How many samples `x` holds (default: the length of `seed` when it is an array, else 1). */
  count?: number;
}

/** Options of {@link heun}. */
export interface HeunOptions extends SolverOptions {
  /** EDM's stochastic churn; off when absent. Exact only for D = Infinity. */
  churn?: ChurnOptions;
  /** Noise injected at every step (robustness experiments); off when absent. */
  noiseInjection?: NoiseInjectionOptions;
}

/** Churn settings checked once. @internal */
export interface Churn {
  sChurn: number;
  sTmin: number;
  sTmax: number;
  sNoise: number;
  count: number;
  seed: Seed;
  sampleOffset: number;
}

function checkChurn(c: ChurnOptions, length: number): Churn {
  const seed = c.seed ?? 0;
  const count = c.count ?? (Array.isArray(seed) ? seed.length : 1);
  checkInteger('churn.count', count, 1);
  if (length % count !== 0) {
    throw new PfgmError('ERR_PFGM_SHAPE', `churn.count = ${count} does not divide the ${length} values of x`);
  }
  const sTmin = checkNonNegative('churn.sTmin', c.sTmin ?? 0);
  const sTmax = c.sTmax ?? Number.POSITIVE_INFINITY;
  if (typeof sTmax !== 'number' || Number.isNaN(sTmax) || sTmax < sTmin) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `churn.sTmax must be a number >= sTmin (${sTmin}), got ${sTmax}`);
  }
  return {
    sChurn: checkNonNegative('churn.sChurn', c.sChurn),
    sTmin,
    sTmax,
    sNoise: checkNonNegative('churn.sNoise', c.sNoise ?? 1),
    count,
    seed,
    sampleOffset: c.sampleOffset ?? 0,
  };
}

/**
 * EDM's Heun solver: an Euler step from `s_i` to `s_{i+1}` with the slope `d = (x - D(x, s_i)) / s_i`,
 * then the trapezoidal correction with the slope at the Euler point, except on the last step to
 * sigma = 0. NFE = 2n - 1 for n = sigmas.length - 1 steps (CIFAR-10: `karras({ steps: 18 })`,
 * NFE 35); second order.
 *
 * With `churn`, each step first moves to `s_hat >= s_i` by adding noise (see {@link ChurnOptions};
 * exact only for D = Infinity) and the callback reports `s_hat` and the noisier x.
 *
 * @param denoise - D(x, sigma).
 * @param x - The start at `sigmas[0]` (not modified).
 * @param sigmas - Descending noise levels ending in 0, e.g. `karras({ steps: 18 })`.
 *
 * @example
 * ```ts
 * const { x, nfe } = await heun((x, s) => net.denoise(x, s, { weights: 'ema' }), x0, karras({ steps: 18 }));
 * // nfe === 35
 * ```
 */
export async function heun(
  denoise: DenoiseFn,
  x: Float32Array,
  sigmas: readonly number[],
  options: HeunOptions = {},
): Promise<SampleResult> {
  checkStart(x);
  checkSigmas(sigmas);
  const noise = heunNoise(options, x.length);
  return heunWith(new HostOps(denoise, options), x, sigmas, noise);
}

/** Heun's churn and injected noise, checked; `length` is the number of values in x. @internal */
export interface HeunNoise {
  /** Churn settings. */
  churn?: Churn;
  /** Injected noise, with its strength alpha. */
  inject?: Churn & { alpha: number };
}

/** Checks {@link HeunOptions}' churn and noise injection for an x of `length` values. @internal */
export function heunNoise(options: Pick<HeunOptions, 'churn' | 'noiseInjection'>, length: number): HeunNoise {
  const churn = options.churn === undefined ? undefined : checkChurn(options.churn, length);
  const inject =
    options.noiseInjection === undefined
      ? undefined
      : {
          alpha: checkNonNegative('noiseInjection.alpha', options.noiseInjection.alpha),
          ...checkChurn({ sChurn: 0, ...options.noiseInjection }, length),
        };
  return { churn, inject };
}

/** {@link heun} over arrays on the host or the device (solverOps.ts); `sigmas` checked. @internal */
export async function heunWith<A>(
  ops: SolverOps<A>,
  x: A,
  sigmas: readonly number[],
  { churn, inject }: HeunNoise,
): Promise<SampleResult> {
  const n = sigmas.length - 1;
  let cur = x;
  for (let i = 0; i < n; i++) {
    const s = sigmas[i] as number;
    const next = sigmas[i + 1] as number;
    // EDM Algorithm 2, lines 4-6: gamma, s_hat and the added noise.
    const gamma =
      churn !== undefined && churn.sChurn > 0 && s >= churn.sTmin && s <= churn.sTmax
        ? Math.min(churn.sChurn / n, Math.SQRT2 - 1)
        : 0;
    const sHat = s * (1 + gamma);
    if (inject !== undefined && inject.alpha > 0) {
      const streams = nativeStreams({ seed: inject.seed, sampleOffset: inject.sampleOffset, step: i }, inject.count);
      const injected = await ops.noise(cur, inject.alpha * s, streams, inject.count);
      ops.drop(cur);
      cur = injected;
    }
    let xHat = cur;
    if (gamma > 0 && churn !== undefined) {
      const scale = churn.sNoise * Math.sqrt(sHat * sHat - s * s);
      const streams = nativeStreams({ seed: churn.seed, sampleOffset: churn.sampleOffset, step: i }, churn.count);
      xHat = await ops.noise(cur, scale, streams, churn.count);
      ops.drop(cur);
    }
    const den = await ops.denoise(xHat, sHat, i);
    await ops.step(i, sHat, xHat, den);
    // Euler: x + (next - s_hat) d = (next / s_hat) x + (1 - next / s_hat) D.
    const ratio = next / sHat;
    const euler = await ops.combine([
      [ratio, xHat],
      [1 - ratio, den],
    ]);
    if (next === 0) {
      ops.drop(xHat, den);
      cur = euler;
      continue;
    }
    // Trapezoid: x + h/2 (d + d'), d = (x - D) / s_hat, d' = (x_e - D(x_e, next)) / next.
    const den2 = await ops.denoise(euler, next, i);
    const h = next - sHat;
    const a = h / (2 * sHat);
    const b = h / (2 * next);
    cur = await ops.combine([
      [1 + a, xHat],
      [-a, den],
      [b, euler],
      [-b, den2],
    ]);
    ops.drop(xHat, den, euler, den2);
  }
  return ops.finish(cur, n - 1, 0);
}
