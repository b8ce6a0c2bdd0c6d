/**
 * `sample(model, ...)`: draws the prior of the model's D (docs/method.md §2.3), builds EDM's schedule unless
 * `sigmas` is given, and runs a solver, with class labels and classifier-free guidance for
 * conditional models.
 *
 * @module
 */
import { PfgmError } from '../errors.js';
import { type BatchLabels, Network, type WeightSet } from '../models/network.js';
import { oneHotLabels, randomClasses } from '../physics/classes.js';
import { samplePrior } from '../physics/prior.js';
import { karras } from '../physics/schedule.js';
import type { Seed } from '../physics/streams.js';
import { checkD, checkFinite, checkInteger, checkOneOf, checkPositive } from '../validate.js';
import { dpmSolver2M } from './dpmSolver2M.js';
import { dpmSolver3M } from './dpmSolver3M.js';
import { euler } from './euler.js';
import { type ChurnOptions, type HeunOptions, heun, type NoiseInjectionOptions } from './heun.js';
import { ipndm } from './ipndm.js';
import { pfgmSample } from './pfgmOde.js';
import { keepsStateOnDevice, solveOnDevice } from './resident.js';
import { rk45 } from './rk45.js';
import { type SolverName, solverNames } from './solvers.js';
import type { DenoiseFn, DenoiseOptions, Sampleable, SampleResult, StepInfo } from './types.js';
import { checkSigmas, combine, countNonFiniteRows } from './update.js';

/** Options of {@link sample}. */
export interface SampleOptions extends BatchLabels {
  /** How many samples. */
  count: number;
  /**
   * [count, labelDim] one-hot class labels for a conditional model. Left out, each sample gets
   * one uniform random class from its own stream ({@link randomClasses}; EDM's generate.py does
   * the same), the same in any batch. All-zero rows sample the unconditional model, which only a
   * network trained with label dropout has learned.
   */
  labels?: Float32Array;
  /**
   * Most samples integrated together (default: all `count` in one batch). Smaller batches bound
   * the memory of a run; for the fixed-step solvers each sample is the same bit for bit on the
   * CPU whatever the batch (sample i keeps its streams, see {@link sampleStream}); RK45 chooses
   * its steps per batch, so its samples agree only within its tolerance. The callback then sees
   * the steps of each batch in turn.
   */
  batch?: number;
  /** The solver (default `heun`). */
  solver?: SolverName;
  /**
   * Steps n of EDM's schedule `karras({ steps: n })` (default 18: Heun's NFE 35). RK45 without
   * `steps` or `sigmas` integrates from sigmaMax to sigmaMin choosing every step itself.
   */
  steps?: number;
  /** An explicit schedule, descending and ending in 0 (then `steps`, `sigmaMin`, `rho` are unused). */
  sigmas?: readonly number[];
  /**
   * Seed of the prior draw and the churn noise (default 0): one number (sample i reads stream
   * `sampleOffset + i`) or one per sample (EDM's `--seeds`: the same images in any batch).
   */
  seed?: Seed;
  /** First stream index when `seed` is one number (default 0). */
  sampleOffset?: number;
  /** D of the prior (default: the model's). */
  D?: number;
  /**
   * Largest sigma, used by both the prior and the schedule (default 80, or `sigmas[0]`); the prior
   * and the schedule always start at the same sigma.
   */
  sigmaMax?: number;
  /** Smallest non-zero sigma of the schedule (default 0.002). */
  sigmaMin?: number;
  /** Schedule exponent (default 7). */
  rho?: number;
  /**
   * Classifier-free guidance weight w for a conditional model: `D_u + w (D_c - D_u)`, with D_c the
   * denoiser given `labels` and D_u given zero labels (EDM's networks learn the unconditional model
   * from label dropout, which zeroes the labels). w = 1 is plain conditional sampling; needs
   * `labels` (the classes to guide toward).
   */
  guidance?: number;
  /** Weights to sample with (default `ema`; ignored by an ideal denoiser). */
  weights?: WeightSet;
  /** EDM's stochastic churn for `heun` (exact only for D = Infinity); its seed is `seed`. */
  churn?: Omit<ChurnOptions, 'seed' | 'sampleOffset' | 'count'>;
  /**
   * Noise injected at every step of `heun`, `x <- x + alpha sigma_i eps` (the PFGM++ robustness
   * experiment, docs/method.md §4(a)); its seed is a stream of its own.
   */
  noiseInjection?: Pick<NoiseInjectionOptions, 'alpha'> & {
    /** Seed of the injected noise (default 1), one number; sample i reads its stream i. */
    seed?: number;
  };
  /** RK45's relative tolerance (default 1e-4). */
  rtol?: number;
  /** RK45's absolute tolerance (default 1e-4). */
  atol?: number;
  /** Called once per solver step. */
  callback?: (step: StepInfo) => void;
  /** Stops the run between denoiser evaluations. */
  signal?: AbortSignal;
  /**
   * Keep the solver state (x, the denoised batches, a multistep solver's history) in the network's
   * device memory, drawing the prior there and bringing back only the finished samples (default:
   * true for a network on CUDA, false otherwise; docs/cuda.md). On the CPU it runs the same
   * kernels as the host path and gives the same bits (the PFGM z-ODE's Heun: within rounding).
   * Needs a {@link Network}.
   */
  stateOnDevice?: boolean;
  /**
   * Keep samples that hold NaN or Infinity (default false: the run rejects with
   * `ERR_PFGM_NUMERIC`, naming the solver step and sigma where the first non-finite value
   * appeared, as a model with a NaN weight gives). With it the result reports how many samples
   * are not finite in `nonFinite`. RK45 cannot choose steps from non-finite values and rejects
   * regardless.
   */
  allowNonFinite?: boolean;
}

/** Concatenates two arrays. */
function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * The denoiser the solver calls: the model with its labels, or with classifier-free guidance
 * both halves in one batch (one network pass per evaluation) combined by the native update.
 */
function denoiserOf(model: Sampleable, options: SampleOptions): DenoiseFn {
  const base: DenoiseOptions = { labels: options.labels, augment: options.augment, weights: options.weights ?? 'ema' };
  const w = options.guidance;
  if (w === undefined) return (x, sigma) => model.denoise(x, sigma, base);
  const labels = options.labels as Float32Array;
  const both: DenoiseOptions = {
    labels: concat(labels, new Float32Array(labels.length)),
    augment: options.augment === undefined ? undefined : concat(options.augment, options.augment),
    weights: base.weights,
  };
  return async (x, sigma) => {
    const out = await model.denoise(concat(x, x), sigma, both);
    const half = x.length;
    return combine([
      [w, out.subarray(0, half)],
      [1 - w, out.subarray(half)],
    ]);
  };
}

function checkLabels(model: Sampleable, options: SampleOptions, count: number): void {
  if (options.labels !== undefined) {
    if (model.labelDim === 0) {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        'sample: this model is unconditional (labelDim 0) but labels were given',
      );
    }
    if (!(options.labels instanceof Float32Array) || options.labels.length !== count * model.labelDim) {
      throw new PfgmError(
        'ERR_PFGM_SHAPE',
        `sample: labels must be a Float32Array [count, labelDim] = [${count}, ${model.labelDim}] (one-hot rows)`,
      );
    }
  }
  if (options.guidance !== undefined) {
    checkFinite('guidance', options.guidance);
    if (model.labelDim === 0) {
      throw new PfgmError('ERR_PFGM_ARGUMENT', 'sample: guidance needs a class-conditional model (labelDim > 0)');
    }
    if (options.labels === undefined) {
      throw new PfgmError('ERR_PFGM_ARGUMENT', 'sample: guidance needs labels (the classes to guide toward)');
    }
  }
}

/**
 * A conditional model sampled without `labels` gets one uniform random class per sample from the
 * sample's own stream ({@link randomClasses}), as EDM's generate.py does: never the all-zero
 * labels, which a model trained without label dropout has not seen.
 */
function withRandomClasses(model: Sampleable, options: SampleOptions, count: number): SampleOptions {
  // Guidance keeps asking for the classes to guide toward.
  if (model.labelDim === 0 || options.labels !== undefined || options.guidance !== undefined) return options;
  const classes = randomClasses(count, model.labelDim, { seed: options.seed ?? 0, sampleOffset: options.sampleOffset });
  return { ...options, labels: oneHotLabels(classes, model.labelDim) };
}

/** The schedule of a run: `sigmas` as given, or `karras()` from the options. */
function scheduleOf(options: SampleOptions, solver: SolverName): number[] {
  if (options.sigmas !== undefined) {
    checkSigmas(options.sigmas);
    const first = options.sigmas[0] as number;
    if (options.sigmaMax !== undefined && options.sigmaMax !== first) {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `sample: sigmaMax (${options.sigmaMax}) differs from sigmas[0] (${first}); the prior and the schedule must start at the same sigma`,
      );
    }
    return [...options.sigmas];
  }
  const sigmaMax = checkPositive('sigmaMax', options.sigmaMax ?? 80);
  const steps = options.steps ?? (solver === 'rk45' ? 2 : 18);
  return karras({ steps, sigmaMax, sigmaMin: options.sigmaMin, rho: options.rho });
}

/**
 * Samples a model (a {@link Network} or an {@link IdealDenoiser}): draws `count` points from the
 * prior of its D at `sigmaMax` (docs/method.md §2.3; per-sample seeds give the same sample in any batch),
 * then integrates the probability-flow ODE down to 0 with the chosen solver over
 * `karras({ steps, sigmaMax, sigmaMin, rho })` or the given `sigmas`.
 *
 * @example
 * ```ts
 * const { x, nfe } = await sample(net, { count: 16, steps: 18, seed: 0 });            // Heun, NFE 35
 * const fast = await sample(net, { count: 16, solver: 'dpm2m', steps: 10, seed: 0 }); // NFE 10
 * const cond = await sample(classNet, { count: 10, labels: oneHot, guidance: 2, seed: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] });
 * ```
 * @throws PfgmError `ERR_PFGM_ARGUMENT` for an unknown solver, options that do not fit it, labels
 *   for an unconditional model or guidance without labels; `ERR_PFGM_SHAPE` for mis-sized labels;
 *   `ERR_PFGM_NUMERIC` when the denoiser's output or the state is not finite (unless
 *   `allowNonFinite`).
 */
export async function sample(model: Sampleable, options: SampleOptions): Promise<SampleResult> {
  const count = checkInteger('count', options.count, 1);
  const batch = options.batch === undefined ? count : checkInteger('batch', options.batch, 1);
  let r: SampleResult;
  if (batch >= count) r = await solve(model, options);
  else {
    checkSliceable(model, options, count);
    const x = new Float32Array(count * sampleSizeOf(model));
    let nfe = 0;
    for (let start = 0; start < count; start += batch) {
      const part = await sampleSlice(model, options, start, Math.min(batch, count - start));
      x.set(part.x, (start * x.length) / count);
      nfe = Math.max(nfe, part.nfe);
    }
    r = { x, nfe };
  }
  if (options.allowNonFinite !== true) return r;
  return { ...r, nonFinite: countNonFiniteRows(r.x, options.count) };
}

/** Values per sample of a model. @internal */
export function sampleSizeOf(model: Sampleable): number {
  return model.sampleShape.reduce((a, b) => a * b, 1);
}

/**
 * Checks what a run split into batches slices: the seeds, labels and augment labels must cover
 * `count` samples (the batches would otherwise fail halfway, or silently misalign). @internal
 */
export function checkSliceable(model: Sampleable, options: SampleOptions, count: number): void {
  checkLabels(model, options, count);
  if (Array.isArray(options.seed) && options.seed.length !== count) {
    throw new PfgmError(
      'ERR_PFGM_SHAPE',
      `seed has ${options.seed.length} entries but there are ${count} samples: give one seed per sample, or one number`,
    );
  }
  if (Array.isArray(options.seed) && (options.sampleOffset ?? 0) !== 0) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      'sampleOffset applies to a single seed; with one seed per sample, choose the seeds instead',
    );
  }
  if (options.augment !== undefined && options.augment.length % count !== 0) {
    throw new PfgmError(
      'ERR_PFGM_SHAPE',
      `augment must hold the same number of values for each of the ${count} samples`,
    );
  }
}

/**
 * Samples `[start, start + n)` of the run `options` describes, exactly as they come out of the
 * whole run: the slice keeps its seeds (one per sample, or stream `sampleOffset + start + i` of
 * one seed), labels, augment labels and injected-noise streams. @internal
 */
export function sampleSlice(
  model: Sampleable,
  options: SampleOptions,
  start: number,
  n: number,
): Promise<SampleResult> {
  const count = options.count;
  const seed = options.seed ?? 0;
  const cut = (a: Float32Array | undefined) =>
    a === undefined ? undefined : a.subarray((start * a.length) / count, ((start + n) * a.length) / count);
  const slice: SampleOptions = {
    ...options,
    count: n,
    batch: undefined,
    seed: Array.isArray(seed) ? seed.slice(start, start + n) : seed,
    sampleOffset: Array.isArray(seed) ? options.sampleOffset : (options.sampleOffset ?? 0) + start,
    labels: cut(options.labels),
    augment: cut(options.augment),
  };
  return solve(model, slice, start);
}

/**
 * One run over all `options.count` samples; `noiseOffset` is the first sample's index in the
 * whole run, for the streams of the injected noise.
 */
async function solve(model: Sampleable, options: SampleOptions, noiseOffset = 0): Promise<SampleResult> {
  const count = checkInteger('count', options.count, 1);
  const solver = checkOneOf('solver', options.solver ?? 'heun', solverNames);
  if (options.churn !== undefined && solver !== 'heun') {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `sample: churn is an option of the heun solver, not ${solver}`);
  }
  if (options.noiseInjection !== undefined && solver !== 'heun') {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `sample: noiseInjection is an option of the heun solver, not ${solver}`);
  }
  options = withRandomClasses(model, options, count);
  if (model instanceof Network && model.objective === 'pfgm') return samplePfgmModel(model, options, solver, count);
  if ((options.rtol !== undefined || options.atol !== undefined) && solver !== 'rk45') {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `sample: rtol/atol are options of the rk45 solver, not ${solver}`);
  }
  checkLabels(model, options, count);
  const D = checkD(options.D ?? model.D);
  const sigmas = scheduleOf(options, solver);
  const seed = options.seed ?? 0;
  if (keepsStateOnDevice(model, options.stateOnDevice)) {
    return solveOnDevice(model, options, solver, sigmas, D, heunNoiseOf(options, count, noiseOffset));
  }
  const prior = await samplePrior({
    shape: [...model.sampleShape],
    count,
    D,
    sigmaMax: sigmas[0] as number,
    seed,
    sampleOffset: options.sampleOffset,
    device: 'cpu',
  });
  const x0 = (await prior.data()) as Float32Array;
  prior.dispose();
  const denoise = denoiserOf(model, options);
  const common = { callback: options.callback, signal: options.signal, allowNonFinite: options.allowNonFinite };
  switch (solver) {
    case 'euler':
      return euler(denoise, x0, sigmas, common);
    case 'heun':
      return heun(denoise, x0, sigmas, { ...common, ...heunNoiseOf(options, count, noiseOffset) });
    case 'dpm2m':
      return dpmSolver2M(denoise, x0, sigmas, common);
    case 'dpm3m':
      return dpmSolver3M(denoise, x0, sigmas, common);
    case 'ipndm':
      return ipndm(denoise, x0, sigmas, common);
    case 'rk45':
      return rk45(denoise, x0, sigmas, { ...common, rtol: options.rtol, atol: options.atol });
  }
}

/**
 * Heun's churn (seeded by the run's seed) and injected noise (a stream of its own, indexed from
 * `noiseOffset`) for `count` samples. @internal
 */
export function heunNoiseOf(
  options: SampleOptions,
  count: number,
  noiseOffset: number,
): Pick<HeunOptions, 'churn' | 'noiseInjection'> {
  const churn =
    options.churn === undefined
      ? undefined
      : { ...options.churn, seed: options.seed ?? 0, sampleOffset: options.sampleOffset ?? 0, count };
  const noiseInjection =
    options.noiseInjection === undefined
      ? undefined
      : {
          alpha: options.noiseInjection.alpha,
          seed: options.noiseInjection.seed ?? 1,
          sampleOffset: noiseOffset,
          count,
        };
  return { churn, noiseInjection };
}

/**
 * A network trained with the `pfgm` objective has no denoiser: it is sampled with the z-ODE
 * (docs/method.md §3) by {@link pfgmSample}, with `solver` rk45, euler or heun and the reference's clipped
 * prior. Its callback reports z as `sigma` and the state as both `x` and `denoised`.
 */
async function samplePfgmModel(net: Network, options: SampleOptions, solver: SolverName, count: number) {
  if (solver !== 'rk45' && solver !== 'euler' && solver !== 'heun') {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `a PFGM model (objective 'pfgm') is sampled with the z-ODE: solver rk45, euler or heun, not ${solver}`,
    );
  }
  const callback = options.callback;
  return pfgmSample(net, {
    count,
    seed: options.seed,
    sampleOffset: options.sampleOffset,
    solver,
    steps: options.steps,
    rtol: options.rtol,
    atol: options.atol,
    labels: options.labels,
    augment: options.augment,
    weights: options.weights,
    radiusClip: 'reference',
    signal: options.signal,
    stateOnDevice: options.stateOnDevice,
    allowNonFinite: options.allowNonFinite,
    callback: callback === undefined ? undefined : ({ i, z, x }) => callback({ i, sigma: z, x, denoised: x }),
  });
}
