/**
 * The PFGM++ perturbation kernel (docs/method.md §2.1, (2.2)): exact for every real D > 0 and D = Infinity.
 *
 * @module
 */
import { native } from '../addon/load.js';
import type { NativeStudentTArgs } from '../addon/native.js';
import { awaitNative, PfgmError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { checkD, checkNonNegative } from '../validate.js';
import { nativeStreams, type StreamOptions } from './streams.js';

/**
 * An explicit cap on the noise radius `R = ||x - y||` (docs/method.md §2.1, §3). Off unless given: the
 * heavy tail at small D is the point of the method. A draw whose radius falls outside
 * `[min, max]` is rescaled onto the nearest bound, keeping its direction.
 */
export interface RadiusClip {
  /** Smallest radius (default 0: no lower bound). */
  min?: number;
  /** Largest radius (default Infinity: no upper bound). */
  max?: number;
}

/** Noise levels: one for all samples, or one per sample. */
export type SigmaInput = number | readonly number[] | Float32Array | Float64Array | Tensor<'f32' | 'f64'>;

/** Options of {@link perturb}. */
export interface PerturbOptions extends StreamOptions {
  /** EDM noise level(s) sigma >= 0; the radius is r = sigma sqrt(D). */
  sigma: SigmaInput;
  /** Augmented dimensions: any real D > 0, or Infinity for the Gaussian (EDM) kernel. */
  D: number;
  /** Optional radius cap (off by default). */
  radiusClip?: RadiusClip;
}

/** Validates sigma and converts it for the addon. @internal */
export async function nativeSigma(sigma: SigmaInput, count: number): Promise<number | Float64Array> {
  if (typeof sigma === 'number') return checkNonNegative('sigma', sigma);
  let values: Float64Array;
  if (sigma instanceof Tensor) {
    if (sigma.size !== count) {
      throw new PfgmError('ERR_PFGM_SHAPE', `sigma has ${sigma.size} values for ${count} samples: give one per sample`);
    }
    values = Float64Array.from(await sigma.data());
  } else if (Array.isArray(sigma) || sigma instanceof Float32Array || sigma instanceof Float64Array) {
    values = Float64Array.from(sigma as ArrayLike<number>);
  } else {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      'sigma must be a number, an array of numbers, a Float32Array/Float64Array or a Tensor',
    );
  }
  if (values.length !== count) {
    throw new PfgmError(
      'ERR_PFGM_SHAPE',
      `sigma has ${values.length} values for ${count} samples: give one per sample`,
    );
  }
  for (const [i, v] of values.entries()) checkNonNegative(`sigma[${i}]`, v);
  return values;
}

/** Validates a radius clip and converts it for the addon. @internal */
export function nativeClip(clip: RadiusClip | undefined): Pick<NativeStudentTArgs, 'clipMin' | 'clipMax'> {
  if (clip === undefined) return {};
  const min = clip.min ?? 0;
  const max = clip.max ?? Number.POSITIVE_INFINITY;
  checkNonNegative('radiusClip.min', min);
  if (typeof max !== 'number' || Number.isNaN(max) || max <= 0 || max < min) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `radiusClip needs 0 <= min <= max and max > 0, got ${JSON.stringify(clip)}`,
    );
  }
  return { clipMin: min, clipMax: max };
}

/** Checks that a tensor is a float batch `[count, ...sample]`. @internal */
export function checkBatch(y: unknown, what: string): Tensor<'f32' | 'f64'> {
  if (!(y instanceof Tensor)) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `${what} must be a Tensor (create one with tensor(data, shape))`);
  }
  if (y.dtype !== 'f32' && y.dtype !== 'f64') {
    throw new PfgmError('ERR_PFGM_DTYPE', `${what} must hold f32 or f64 values, got ${y.dtype}`);
  }
  const [count = 0, ...rest] = y.shape;
  if (y.shape.length < 2 || count < 1 || rest.reduce((a, b) => a * b, 1) < 1) {
    throw new PfgmError(
      'ERR_PFGM_SHAPE',
      `${what} must have shape [count, ...sample] with count >= 1 and a non-empty sample, got [${y.shape.join(', ')}]; ` +
        'for a batch of vectors use [count, dim]',
    );
  }
  return y as Tensor<'f32' | 'f64'>;
}

/**
 * Perturbs a batch with the PFGM++ kernel: `x = y + sigma * g / sqrt(c / D)` with
 * `g ~ N(0, I)` and `c ~ chi^2_D` (docs/method.md (2.2)), a multivariate Student-t with D degrees of
 * freedom; `D = Infinity` gives `x = y + sigma * g`. Exact for every real `D > 0`: the radius
 * satisfies `||x - y||^2 / r^2 ~ BetaPrime(N/2, D/2)` with `r = sigma sqrt(D)`.
 *
 * @param y - clean data, shape `[count, ...sample]`, f32 or f64, on any device
 * @returns a new tensor of the same shape, dtype and device
 *
 * @example
 * ```ts
 * const x = await perturb(y, { sigma: 0.5, D: 128, seed: 0 });
 * ```
 */
export async function perturb<T extends 'f32' | 'f64'>(y: Tensor<T>, options: PerturbOptions): Promise<Tensor<T>> {
  const batch = checkBatch(y, 'y');
  const count = batch.shape[0] as number;
  const D = checkD(options.D);
  const sigma = await nativeSigma(options.sigma, count);
  const args: NativeStudentTArgs = {
    y: batch.handle(),
    D,
    sigma,
    purpose: 'perturb',
    ...nativeStreams(options, count),
    ...nativeClip(options.radiusClip),
  };
  return new Tensor<T>(await awaitNative(() => native().studentTNoise(args)));
}
