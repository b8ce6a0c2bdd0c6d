/**
 * Prior draws at the largest noise level (docs/method.md §2.3).
 *
 * @module
 */
import { native } from '../addon/load.js';
import { awaitNative, PfgmError } from '../errors.js';
import { checkShape, type DeviceOption, resolveDevice, Tensor } from '../tensor.js';
import { checkD, checkInteger, checkOneOf, checkPositive } from '../validate.js';
import { nativeClip, type RadiusClip } from './perturb.js';
import { nativeStreams, type StreamOptions } from './streams.js';

/** Options of {@link samplePrior}. */
export interface PriorOptions extends StreamOptions {
  /** The shape of one sample, e.g. `[1, 28, 28]` or `[2]`. */
  shape: readonly number[];
  /** How many samples. */
  count: number;
  /** Augmented dimensions: any real D > 0, or Infinity. */
  D: number;
  /** The largest noise level (default 80); the prior sits at r_max = sigmaMax sqrt(D). */
  sigmaMax?: number;
  /** Element type (default f32). */
  dtype?: 'f32' | 'f64';
  /** Device (default: the backend's). */
  device?: DeviceOption;
  /** Optional radius cap (off by default). */
  radiusClip?: RadiusClip;
}

/** Checks a per-sample shape and count; returns the batch shape. @internal */
export function batchShape(shape: readonly number[], count: number): number[] {
  checkInteger('count', count, 1);
  const sample = checkShape(shape, 'shape');
  if (sample.length === 0 || sample.reduce((a, b) => a * b, 1) < 1) {
    throw new PfgmError(
      'ERR_PFGM_SHAPE',
      `shape is the shape of one sample and needs at least one element, got [${sample.join(', ')}] (use [dim] for vectors)`,
    );
  }
  return [count, ...sample];
}

/**
 * Draws from the PFGM++ prior: the perturbation kernel around the origin at `sigmaMax`
 * (docs/method.md §2.3), i.e. `x = sigmaMax * g / sqrt(c / D)`; `D = Infinity` gives `sigmaMax * g`.
 * The sampler's schedule must start at the same `sigmaMax`.
 *
 * @returns a tensor of shape `[count, ...shape]`
 *
 * @example
 * ```ts
 * const xT = await samplePrior({ shape: [1, 28, 28], count: 16, D: 128, sigmaMax: 80, seed: 0 });
 * ```
 */
export async function samplePrior(options: PriorOptions): Promise<Tensor<'f32' | 'f64'>> {
  const shape = batchShape(options.shape, options.count);
  const D = checkD(options.D);
  const sigmaMax = checkPositive('sigmaMax', options.sigmaMax ?? 80);
  const dtype = checkOneOf('dtype', options.dtype ?? 'f32', ['f32', 'f64'] as const);
  const device = resolveDevice(options.device);
  const args = {
    shape,
    dtype,
    device,
    D,
    sigma: sigmaMax,
    purpose: 'prior' as const,
    ...nativeStreams(options, options.count),
    ...nativeClip(options.radiusClip),
  };
  return new Tensor(await awaitNative(() => native().studentTNoise(args)));
}
