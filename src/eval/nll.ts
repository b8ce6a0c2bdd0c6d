/**
 * Negative log-likelihood in bits per dimension through the probability-flow ODE (the
 * instantaneous change of variables of Chen et al. 2018 and Song et al. 2021, here with the
 * PFGM++ prior of any D): integrate `dx/dsigma = (x - D(x, sigma)) / sigma` from the data at
 * sigma_min up to sigma_max together with the divergence of the drift, estimated by Hutchinson's
 * trace estimator with Rademacher probes (or exactly, coordinate by coordinate, for small N).
 *
 * @module
 */
import { native } from '../addon/load.js';
import { callNative, PfgmError } from '../errors.js';
import type { WeightSet } from '../models/network.js';
import { nativeStreams, type Seed } from '../physics/streams.js';
import { dopri } from '../sample/dopri.js';
import type { DenoiseOptions, Sampleable } from '../sample/types.js';
import { combine, slope } from '../sample/update.js';
import { checkD, checkInteger, checkPositive } from '../validate.js';

/** Options of {@link nll}. */
export interface NllOptions {
  /** D of the prior at sigma_max (default: the model's). */
  D?: number;
  /** Where the data sit, sigma_min (default 0.002, EDM's). */
  sigmaMin?: number;
  /** Where the prior sits, sigma_max (default 80, EDM's). */
  sigmaMax?: number;
  /**
   * Fixed Heun steps on a geometric sigma grid instead of adaptive RK45 (NFE = 2 steps). Fewer
   * evaluations, less accuracy; leave it out for the adaptive solver.
   */
  steps?: number;
  /** RK45's relative tolerance (default 1e-5). */
  rtol?: number;
  /** RK45's absolute tolerance (default 1e-5). */
  atol?: number;
  /**
   * Rademacher probes per evaluation (default 1), kept fixed along the path; or `'exact'` for the
   * exact trace through one VJP per data coordinate (for small N: a 2-D toy costs 2 VJPs).
   */
  hutchinson?: number | 'exact';
  /** Seed of the probes: one number or one per sample (default 0). */
  seed?: Seed;
  /**
   * Bit depth of the data (default 8): images quantized to 2^bits levels and scaled to [-1, 1].
   * The density of a level's bin (width 2 / 2^bits) is about p(x) 2^-bits per dimension times
   * 2^N, so `bpd = -log2 p(x) / N + bits - 1`: the usual uniform-dequantization correction (+7
   * for 8-bit images). `false` for continuous data: `bpd = -log2 p(x) / N`.
   */
  bits?: number | false;
  /** Class labels of the data for a conditional model ([count, labelDim]). */
  labels?: Float32Array;
  /** Weights of a network (default `ema`). */
  weights?: WeightSet;
  /** Stops between evaluations. */
  signal?: AbortSignal;
}

/** What {@link nll} measured. */
export interface NllResult {
  /** Mean bits per dimension over the samples. */
  bpd: number;
  /** Bits per dimension of each sample. */
  bpdPerSample: Float64Array;
  /** ln p(x) of each sample in nats: the continuous density at sigma_min, before any correction. */
  logp: Float64Array;
  /** ln of the prior density at the end of each sample's path (sigma_max). */
  priorLogp: Float64Array;
  /** Evaluations of the ODE's right-hand side (each costs one VJP per probe). */
  nfe: number;
}

// ln Gamma by Lanczos (g = 7, 9 terms; relative error ~1e-15 for x > 0).
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];
function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = LANCZOS[0] as number;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += (LANCZOS[i] as number) / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/**
 * ln Gamma(a + b) - ln Gamma(a), stable for huge a (D in the millions): there the two terms are
 * nearly equal and the difference comes from Stirling's series in log1p form.
 *
 * @internal
 */
export function logGammaRatio(a: number, b: number): number {
  if (a < 1e5) return logGamma(a + b) - logGamma(a);
  const s = a + b;
  return (
    (a - 0.5) * Math.log1p(b / a) +
    b * Math.log(s) -
    b +
    (1 / s - 1 / a) / 12 -
    (1 / (s * s * s) - 1 / (a * a * a)) / 360
  );
}

/**
 * ln of the prior density at `sigma` for N dimensions (docs/method.md (2.1) with r = sigma sqrt(D), centred
 * at 0: `ln Gamma((N+D)/2) - ln Gamma(D/2) - N/2 ln pi - N ln r - (N+D)/2 ln(1 + ||x||^2 / r^2)`;
 * the Gaussian `-N/2 ln(2 pi) - N ln sigma - ||x||^2 / (2 sigma^2)` for D = Infinity).
 *
 * @internal
 */
export function priorLogDensity(norm2: number, N: number, D: number, sigma: number): number {
  if (!Number.isFinite(D)) return -0.5 * N * Math.log(2 * Math.PI) - N * Math.log(sigma) - norm2 / (2 * sigma * sigma);
  const logR = Math.log(sigma) + 0.5 * Math.log(D);
  return (
    logGammaRatio(D / 2, N / 2) -
    0.5 * N * Math.log(Math.PI) -
    N * logR -
    0.5 * (N + D) * Math.log1p(norm2 / (sigma * sigma) / D)
  );
}

/**
 * The negative log-likelihood of `data` (`[count, ...sampleShape]`) under a model, in bits per
 * dimension: `ln p(x) = ln p_prior(x(sigma_max)) + integral_{sigma_min}^{sigma_max} div f dsigma` with
 * `f = (x - D(x, sigma)) / sigma` and `div f = (N - tr dD/dx) / sigma`, the trace estimated by
 * Hutchinson's `E[v^T (dD/dx) v]` over Rademacher v through the model's input VJP. The prior is
 * docs/method.md (2.1) at r = sigma_max sqrt(D) for the model's D (Gaussian for D = Infinity). See
 * {@link NllOptions.bits} for the dequantization correction.
 *
 * With the ideal denoiser of a reference set the flow is exact and the result is the density of
 * the reference set perturbed by the kernel at sigma_min (a mixture with one component per
 * reference point), up to the prior's mismatch at sigma_max.
 *
 * @example
 * ```ts
 * const batch = await data.read([0, 1, 2, 3, 4, 5, 6, 7]);
 * const { bpd } = await nll(net, batch.data, { hutchinson: 1, seed: 0 });
 * ```
 * @throws PfgmError `ERR_PFGM_ARGUMENT` for a model without `inputVjp`, `ERR_PFGM_SHAPE` for data
 *   that is not a whole batch.
 */
export async function nll(model: Sampleable, data: Float32Array, options: NllOptions = {}): Promise<NllResult> {
  const vjpOf = model.inputVjp?.bind(model);
  if (vjpOf === undefined) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', 'nll: the model has no inputVjp (use a Network or an ideal denoiser)');
  }
  const N = model.sampleShape.reduce((a, b) => a * b, 1);
  if (!(data instanceof Float32Array) || data.length < N || data.length % N !== 0) {
    throw new PfgmError(
      'ERR_PFGM_SHAPE',
      `nll: data must be a Float32Array of whole samples of shape [${model.sampleShape}]`,
    );
  }
  const count = data.length / N;
  const D = checkD(options.D ?? model.D);
  const sigmaMin = checkPositive('sigmaMin', options.sigmaMin ?? 0.002);
  const sigmaMax = checkPositive('sigmaMax', options.sigmaMax ?? 80);
  if (!(sigmaMin < sigmaMax))
    throw new PfgmError('ERR_PFGM_ARGUMENT', `nll: sigmaMin (${sigmaMin}) must be below sigmaMax (${sigmaMax})`);
  const bits = options.bits ?? 8;
  if (bits !== false) checkInteger('bits', bits, 1, 32);
  const hutchinson = options.hutchinson ?? 1;
  if (hutchinson !== 'exact') checkInteger('hutchinson', hutchinson, 1, 1024);
  const denoiseOptions: DenoiseOptions = { labels: options.labels, weights: options.weights ?? 'ema' };

  // The probes: N unit vectors for the exact trace, else Rademacher draws fixed along the path.
  const probes: Float32Array[] = [];
  if (hutchinson === 'exact') {
    for (let j = 0; j < N; j++) {
      const e = new Float32Array(data.length);
      for (let i = 0; i < count; i++) e[i * N + j] = 1;
      probes.push(e);
    }
  } else {
    for (let k = 0; k < hutchinson; k++) {
      const out = new Float32Array(data.length);
      const args = { out, count, ...nativeStreams({ seed: options.seed ?? 0, step: k }, count) };
      callNative(() => native().rademacher(args));
      probes.push(out);
    }
  }

  let nfe = 0;
  const f = async (x: Float32Array, _aux: Float64Array, sigma: number) => {
    options.signal?.throwIfAborted();
    nfe++;
    const trace = new Float64Array(count);
    let denoised: Float32Array | undefined;
    for (const v of probes) {
      const r = await vjpOf(x, sigma, v, denoiseOptions);
      denoised ??= r.denoised;
      for (let i = 0; i < count; i++) {
        let acc = 0;
        for (let k = i * N; k < (i + 1) * N; k++) acc += (v[k] as number) * (r.vjp[k] as number);
        trace[i] = (trace[i] as number) + acc;
      }
    }
    const scale = hutchinson === 'exact' ? 1 : 1 / probes.length;
    const den = denoised as Float32Array;
    // docs/method.md (1.1): the drift and its divergence (N - tr dD/dx) / sigma.
    const kAux = trace.map((t) => (N - scale * t) / sigma);
    return { k: await slope(x, den, sigma), kAux, denoised: den };
  };

  let end: { x: Float32Array; aux: Float64Array };
  if (options.steps === undefined) {
    end = await dopri(f, data, new Float64Array(count), sigmaMin, [sigmaMax], {
      rtol: checkPositive('rtol', options.rtol ?? 1e-5),
      atol: checkPositive('atol', options.atol ?? 1e-5),
      signal: options.signal,
    });
  } else {
    end = await fixedHeun(f, data, count, sigmaMin, sigmaMax, checkInteger('steps', options.steps, 1, 100_000));
  }

  const logp = new Float64Array(count);
  const priorLogp = new Float64Array(count);
  const bpdPerSample = new Float64Array(count);
  const offset = bits === false ? 0 : bits - 1;
  for (let i = 0; i < count; i++) {
    let norm2 = 0;
    for (let k = i * N; k < (i + 1) * N; k++) norm2 += (end.x[k] as number) ** 2;
    priorLogp[i] = priorLogDensity(norm2, N, D, sigmaMax);
    logp[i] = (priorLogp[i] as number) + (end.aux[i] as number);
    bpdPerSample[i] = -(logp[i] as number) / (N * Math.LN2) + offset;
  }
  const bpd = bpdPerSample.reduce((a, b) => a + b, 0) / count;
  return { bpd, bpdPerSample, logp, priorLogp, nfe };
}

/** Heun (trapezoid) on a geometric grid from sigmaMin to sigmaMax, for the state and the log-det. */
async function fixedHeun(
  f: (x: Float32Array, aux: Float64Array, sigma: number) => Promise<{ k: Float32Array; kAux: Float64Array }>,
  x0: Float32Array,
  count: number,
  sigmaMin: number,
  sigmaMax: number,
  steps: number,
): Promise<{ x: Float32Array; aux: Float64Array }> {
  let x = x0;
  const aux = new Float64Array(count);
  const ratio = Math.log(sigmaMax / sigmaMin) / steps;
  for (let i = 0; i < steps; i++) {
    const s = sigmaMin * Math.exp(ratio * i);
    const next = i + 1 === steps ? sigmaMax : sigmaMin * Math.exp(ratio * (i + 1));
    const h = next - s;
    const a = await f(x, aux, s);
    const xe = await combine([
      [1, x],
      [h, a.k],
    ]);
    const b = await f(xe, aux, next);
    x = await combine([
      [1, x],
      [h / 2, a.k],
      [h / 2, b.k],
    ]);
    for (let m = 0; m < count; m++)
      aux[m] = (aux[m] as number) + (h / 2) * ((a.kAux[m] as number) + (b.kAux[m] as number));
  }
  return { x, aux };
}
