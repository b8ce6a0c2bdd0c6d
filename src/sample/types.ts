/**
 * The shared vocabulary of the sampler stack: what a solver takes (a {@link DenoiseFn}, a start
 * point, an explicit `sigmas` array ending in 0), what it reports ({@link SampleResult}), and what
 * a model must offer to be sampled ({@link Sampleable}: a {@link Network} or an ideal denoiser).
 *
 * @module
 */
import type { BatchLabels, Network, VjpResult, WeightSet } from '../models/network.js';

/** A denoiser D(x, sigma) for a batch at one noise level, as the solvers call it. */
export type DenoiseFn = (x: Float32Array, sigma: number) => Promise<Float32Array>;

/** What a solver's callback sees once per step (the k-diffusion convention). */
export interface StepInfo {
  /** The step index, 0 for the first step. */
  i: number;
  /** The noise level the step starts from (`sigmas[i]`; RK45: the start of an accepted step). */
  sigma: number;
  /** The state at `sigma` (not modified later). */
  x: Float32Array;
  /** D(x, sigma), the denoiser's estimate of the clean batch at this step (not modified later). */
  denoised: Float32Array;
}

/** Options every solver takes. */
export interface SolverOptions {
  /** Called once per step with the state it starts from and its denoised estimate. */
  callback?: (step: StepInfo) => void;
  /** Stops the solver between denoiser evaluations; the Promise then rejects with its reason. */
  signal?: AbortSignal;
  /**
   * Keep going when the denoiser returns NaN or Infinity, or the state becomes non-finite
   * (default false: the solver rejects with `ERR_PFGM_NUMERIC`, naming the step and sigma where
   * the first non-finite value appeared). RK45 cannot choose steps from non-finite values and
   * rejects regardless.
   */
  allowNonFinite?: boolean;
}

/** A finished sampling run. */
export interface SampleResult {
  /** The samples, [count, ...sample shape] row-major. */
  x: Float32Array;
  /**
   * Number of denoiser evaluations (NFE): Euler n, Heun 2n - 1, DPM-Solver++ and iPNDM n, RK45
   * adaptive, for n = sigmas.length - 1 steps. With classifier-free guidance each evaluation runs
   * the network on the conditional and the unconditional batch together.
   */
  nfe: number;
  /**
   * How many samples hold a NaN or an Infinity; set by {@link sample} with `allowNonFinite` (the
   * solvers themselves do not know the batch size).
   */
  nonFinite?: number;
}

/**
 * A solver: integrates the probability-flow ODE `dx/dsigma = (x - D(x, sigma)) / sigma`
 * (docs/method.md (1.1) in sigma, the same for every D) from `x` at `sigmas[0]` down to `sigmas` ending
 * in 0. `x` is not modified.
 */
export type Solver<O extends SolverOptions = SolverOptions> = (
  denoise: DenoiseFn,
  x: Float32Array,
  sigmas: readonly number[],
  options?: O,
) => Promise<SampleResult>;

/** Options of a model's denoiser call. */
export interface DenoiseOptions extends BatchLabels {
  /** Which weights a network uses (ignored by models without weights). */
  weights?: WeightSet;
}

/**
 * Anything {@link sample} and {@link nll} can run: a {@link Network} or an
 * {@link IdealDenoiser}.
 */
export interface Sampleable {
  /** Augmented dimensions D of the model's prior (Infinity = EDM). */
  readonly D: number;
  /** Shape of one sample: [C, H, W] for images; [N] or [N, 1, 1] for vectors. */
  readonly sampleShape: readonly number[];
  /** Number of class labels it is conditioned on (0: unconditional). */
  readonly labelDim: number;
  /** D(x, sigma) for a batch in PyTorch layout, with one sigma per sample or one for all. */
  denoise(x: Float32Array, sigma: Float32Array | number, options?: DenoiseOptions): Promise<Float32Array>;
  /** D(x, sigma) and the input VJP `v^T dD/dx` (needed by {@link nll}). */
  inputVjp?(
    x: Float32Array,
    sigma: Float32Array | number,
    v: Float32Array,
    options?: DenoiseOptions,
  ): Promise<VjpResult>;
}

// A Network is Sampleable: checked here so that a change to either breaks the build, not a user.
const _networkIsSampleable = (net: Network): Sampleable => net;
void _networkIsSampleable;
