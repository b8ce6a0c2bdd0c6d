/**
 * The pieces of the original PFGM (D = 1, docs/method.md §3): hyperparameters from the data, the training
 * perturbation, and the plane-projected hemisphere prior at z_max.
 *
 * @module
 */
import { native } from '../addon/load.js';
import { awaitNative } from '../errors.js';
import { type DeviceOption, Tensor } from '../tensor.js';
import { checkInteger, checkNonNegative, checkPositive } from '../validate.js';
import { checkBatch, type RadiusClip } from './perturb.js';
import { samplePrior } from './prior.js';
import { nativeStreams, type StreamOptions } from './streams.js';
import { TRAIN_DEFAULTS } from './trainOptions.js';

/** PFGM's perturbation hyperparameters (docs/method.md §3). */
export interface PfgmHyperparameters {
  /** Largest exponent of (1 + tau): the perturbation scale goes up to s (1 + tau)^M. */
  M: number;
  /** Growth rate of the perturbation scale per unit of m. */
  tau: number;
  /** Scale of the smallest perturbation (sigma_end in the reference code). */
  s: number;
  /** Prior plane height: z_max = sqrt(2/pi) s (1 + tau)^M. */
  zMax: number;
  /** Largest prior norm the reference's optional clip allows: sqrt(N) s (1 + tau)^M. */
  upperNorm: number;
}

/** Options of {@link pfgmHyperparameters}. */
export interface PfgmHyperparameterOptions {
  /** Mean L2 norm of the training data (images scaled to [-1, 1]). */
  dataNorm: number;
  /** Data dimension N (e.g. 3072 for CIFAR-10, 784 for Fashion-MNIST). */
  N: number;
  /** Growth rate (default 0.03, the paper's CIFAR-10 value). */
  tau?: number;
  /** Smallest perturbation scale (default 0.01). */
  s?: number;
  /** Use this M instead of the rule of thumb (z_max and upper_norm then follow from it). */
  M?: number;
}

/**
 * Computes M, z_max and upper_norm from the data (docs/method.md §3's rule of thumb):
 * `M = floor(0.75 ln(dataNorm^2 / (2 sqrt(N) s^2)) / ln(1 + tau)) + 1`,
 * `zMax = sqrt(2/pi) s (1+tau)^M`, `upperNorm = sqrt(N) s (1+tau)^M`.
 */
export function pfgmHyperparameters(options: PfgmHyperparameterOptions): PfgmHyperparameters {
  const dataNorm = checkPositive('dataNorm', options.dataNorm);
  const N = checkInteger('N', options.N, 1);
  const tau = checkPositive('tau', options.tau ?? TRAIN_DEFAULTS.trainer.pfgm.tau);
  const s = checkPositive('s', options.s ?? TRAIN_DEFAULTS.trainer.pfgm.s);
  const ratio = (dataNorm * dataNorm) / (2 * Math.sqrt(N) * s * s);
  // Data smaller than the smallest perturbation need no growth at all: M = 0 then.
  const M =
    options.M === undefined
      ? Math.max(0, Math.floor((0.75 * Math.log(ratio)) / Math.log1p(tau)) + 1)
      : checkNonNegative('M', options.M);
  const growth = (1 + tau) ** M;
  return { M, tau, s, zMax: Math.sqrt(2 / Math.PI) * s * growth, upperNorm: Math.sqrt(N) * s * growth };
}

/** Options of {@link pfgmPerturb}. */
export interface PfgmPerturbOptions extends StreamOptions {
  /** Largest exponent (from {@link pfgmHyperparameters}). */
  M: number;
  /** Growth rate (default 0.03). */
  tau?: number;
  /** Smallest perturbation scale (default 0.01). */
  s?: number;
  /**
   * Redraw m ~ U[0, 0.7 M] for samples whose z0 < 0.005, confining the norms of nearly-planar
   * points (the paper's restrict_M, default true).
   */
  restrictM?: boolean;
}

/** A perturbed PFGM batch: the data part and the augmented coordinate. */
export interface PfgmPerturbed<T extends 'f32' | 'f64'> {
  /** Perturbed data, the shape of the input. */
  x: Tensor<T>;
  /** The augmented coordinate z > 0, shape `[count]`. */
  z: Tensor<T>;
}

/**
 * PFGM's training perturbation (docs/method.md §3): per sample `m ~ U[0, M]`, `z0 = |N(0, s^2)|`
 * (with restrictM, `m ~ U[0, 0.7 M]` where z0 < 0.005), `k = (1 + tau)^m`,
 * `x = y + ||e|| k u` with `e ~ N(0, s^2 I_N)` and u a uniform direction, `z = z0 k`.
 */
export async function pfgmPerturb<T extends 'f32' | 'f64'>(
  y: Tensor<T>,
  options: PfgmPerturbOptions,
): Promise<PfgmPerturbed<T>> {
  const batch = checkBatch(y, 'y');
  const count = batch.shape[0] as number;
  const args = {
    y: batch.handle(),
    M: checkNonNegative('M', options.M),
    tau: checkPositive('tau', options.tau ?? TRAIN_DEFAULTS.trainer.pfgm.tau),
    s: checkPositive('s', options.s ?? TRAIN_DEFAULTS.trainer.pfgm.s),
    restrictM: options.restrictM ?? TRAIN_DEFAULTS.trainer.pfgm.restrictM,
    ...nativeStreams(options, count),
  };
  const [x, z] = await awaitNative(() => native().pfgmPerturb(args));
  return { x: new Tensor<T>(x), z: new Tensor<T>(z) };
}

/** Options of {@link samplePfgmPrior}. */
export interface PfgmPriorOptions extends StreamOptions {
  /** The shape of one sample. */
  shape: readonly number[];
  /** How many samples. */
  count: number;
  /** Height of the prior plane (from {@link pfgmHyperparameters}). */
  zMax: number;
  /** Element type (default f32). */
  dtype?: 'f32' | 'f64';
  /** Device (default: the backend's). */
  device?: DeviceOption;
  /**
   * Optional radius cap. The reference code clips to `{ min: 1, max: upperNorm }`, which changes
   * over half of CIFAR-10's draws; off here unless asked for.
   */
  radiusClip?: RadiusClip;
}

/**
 * PFGM's prior (docs/method.md §3): the uniform hemisphere projected onto the plane z = zMax, i.e.
 * `R = zMax sqrt(B / (1 - B))`, `B ~ Beta(N/2, 1/2)`, uniform direction — the PFGM++ kernel
 * with D = 1 and r = zMax. The augmented coordinate of every draw is zMax.
 *
 * @returns a tensor of shape `[count, ...shape]`
 */
export async function samplePfgmPrior(options: PfgmPriorOptions): Promise<Tensor<'f32' | 'f64'>> {
  const { zMax, ...rest } = options;
  return samplePrior({ ...rest, D: 1, sigmaMax: checkPositive('zMax', zMax) });
}
