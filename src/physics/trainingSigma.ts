/**
 * The training noise distribution of EDM, shared by every D (docs/method.md §2.2).
 *
 * @module
 */
import { native } from '../addon/load.js';
import { awaitNative } from '../errors.js';
import { type DeviceOption, resolveDevice, Tensor } from '../tensor.js';
import { checkFinite, checkInteger, checkNonNegative, checkOneOf } from '../validate.js';
import { nativeStreams, type StreamOptions } from './streams.js';
import { TRAIN_DEFAULTS } from './trainOptions.js';

/** Options of {@link sampleTrainingSigma}. */
export interface TrainingSigmaOptions extends StreamOptions {
  /** How many sigmas. */
  count: number;
  /** Mean of ln sigma (default -1.2, `TRAIN_DEFAULTS.step.pMean`). */
  pMean?: number;
  /** Standard deviation of ln sigma (default 1.2, `TRAIN_DEFAULTS.step.pStd`). */
  pStd?: number;
  /** Element type (default f32). */
  dtype?: 'f32' | 'f64';
  /** Device (default: the backend's). */
  device?: DeviceOption;
}

/**
 * Draws training noise levels `ln sigma ~ N(pMean, pStd^2)` (docs/method.md §2.2; EDM's P_mean = -1.2,
 * P_std = 1.2). The radius of each is `r = sigma sqrt(D)`.
 *
 * @returns a tensor of shape `[count]`
 */
export async function sampleTrainingSigma(options: TrainingSigmaOptions): Promise<Tensor<'f32' | 'f64'>> {
  const count = checkInteger('count', options.count, 1);
  const args = {
    count,
    pMean: checkFinite('pMean', options.pMean ?? TRAIN_DEFAULTS.step.pMean),
    pStd: checkNonNegative('pStd', options.pStd ?? TRAIN_DEFAULTS.step.pStd),
    dtype: checkOneOf('dtype', options.dtype ?? 'f32', ['f32', 'f64'] as const),
    device: resolveDevice(options.device),
    ...nativeStreams(options, count),
  };
  return new Tensor(await awaitNative(() => native().trainingSigma(args)));
}
