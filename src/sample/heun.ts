/**
 * EDM's deterministic Heun sampler (METHOD §2.3) over an explicit `sigmas` array ending in 0 and
 * the `sample(network, ...)` convenience that draws the prior of the network's D. Because the
 * ODE in sigma is EDM's for every D, only the prior depends on D.
 *
 * @module
 */
import { PfgmError } from '../errors.js';
import type { BatchLabels, Network, WeightSet } from '../models/network.js';
import { samplePrior } from '../physics/prior.js';
import { karras } from '../physics/schedule.js';
import { checkD } from '../validate.js';

/** A denoiser D(x, sigma) for a batch at one noise level. */
export type DenoiseFn = (x: Float32Array, sigma: number) => Promise<Float32Array>;

/** A finished sampling run. */
export interface SampleResult {
  /** The samples, [count, ...sample shape] row-major. */
  x: Float32Array;
  /** Number of denoiser evaluations (Heun: 2 n - 1 for n steps). */
  nfe: number;
}

/** Options of {@link heun}. */
export interface HeunOptions {
  /** Called after every step with the step index, its sigma, the new x and the denoised x. */
  callback?: (step: { i: number; sigma: number; x: Float32Array; denoised: Float32Array }) => void;
  /** Stops between steps. */
  signal?: AbortSignal;
}

/**
 * EDM's Heun solver: an Euler step `x + (s_{i+1} - s_i) d`, `d = (x - D(x, s_i)) / s_i`, then the
 * trapezoidal correction except on the last step to sigma = 0.
 *
 * @param x - The starting point at `sigmas[0]` (not modified).
 * @param sigmas - Descending noise levels ending in 0, e.g. `karras({ steps: 18 })`.
 */
export async function heun(
  denoise: DenoiseFn,
  x: Float32Array,
  sigmas: readonly number[],
  options: HeunOptions = {},
): Promise<SampleResult> {
  if (sigmas.length < 2 || sigmas[sigmas.length - 1] !== 0) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      'sigmas must hold at least one step and end in 0 (e.g. karras({ steps: 18 }))',
    );
  }
  let cur = x.slice();
  let nfe = 0;
  for (let i = 0; i + 1 < sigmas.length; i++) {
    options.signal?.throwIfAborted();
    const s = sigmas[i] as number;
    const next = sigmas[i + 1] as number;
    const den = await denoise(cur, s);
    nfe++;
    const d = new Float32Array(cur.length);
    const out = new Float32Array(cur.length);
    for (let k = 0; k < cur.length; k++) {
      d[k] = ((cur[k] as number) - (den[k] as number)) / s;
      out[k] = (cur[k] as number) + (next - s) * (d[k] as number);
    }
    if (next !== 0) {
      const den2 = await denoise(out, next);
      nfe++;
      for (let k = 0; k < cur.length; k++) {
        const d2 = ((out[k] as number) - (den2[k] as number)) / next;
        out[k] = (cur[k] as number) + (next - s) * 0.5 * ((d[k] as number) + d2);
      }
    }
    cur = out;
    options.callback?.({ i, sigma: next, x: cur, denoised: den });
  }
  return { x: cur, nfe };
}

/** Options of {@link sample}. */
export interface SampleOptions extends BatchLabels {
  /** How many samples. */
  count: number;
  /** Heun steps n (default 18: NFE 35). */
  steps?: number;
  /** Seed of the prior draw (default 0); sample i uses stream i. */
  seed?: number;
  /** D of the prior (default: the network's, {@link Network.D}). */
  D?: number;
  /** Largest sigma, used by both the prior and the schedule (default 80). */
  sigmaMax?: number;
  /** Smallest non-zero sigma (default 0.002). */
  sigmaMin?: number;
  /** Schedule exponent (default 7). */
  rho?: number;
  /** Weights to sample with (default `ema`). */
  weights?: WeightSet;
  /** Stops between steps. */
  signal?: AbortSignal;
}

/**
 * Samples a network with EDM's Heun sampler from the prior of its D (METHOD §2.3).
 *
 * @example
 * ```ts
 * const { x, nfe } = await sample(net, { count: 16, steps: 18, D: 128, seed: 0 });
 * ```
 */
export async function sample(net: Network, options: SampleOptions): Promise<SampleResult> {
  const D = checkD(options.D ?? net.D);
  const sigmaMax = options.sigmaMax ?? 80;
  const shape = net.sampleShape[1] === 1 && net.sampleShape[2] === 1 ? [net.sampleShape[0]] : [...net.sampleShape];
  const prior = await samplePrior({ shape, count: options.count, D, sigmaMax, seed: options.seed ?? 0, device: 'cpu' });
  const x0 = (await prior.data()) as Float32Array;
  prior.dispose();
  const sigmas = karras({ steps: options.steps ?? 18, sigmaMax, sigmaMin: options.sigmaMin, rho: options.rho });
  const denoise: DenoiseFn = (x, sigma) =>
    net.denoise(x, sigma, { labels: options.labels, augment: options.augment, weights: options.weights ?? 'ema' });
  return heun(denoise, x0, sigmas, { signal: options.signal });
}
