/**
 * FID (Heusel et al. 2017): the Fréchet distance between Inception-v3 pool features of real and
 * generated images, with the standard FID network loaded from user-supplied weights
 * (docs/fid.md).
 *
 * @module
 */
import { frechetDistance } from './frechet.js';
import { INCEPTION_FEATURES, type InceptionNetwork } from './inception.js';

/** The shape of the images given to {@link fid}. */
export interface FidImages {
  /** NCHW values in [-1, 1]. */
  real: Float32Array;
  /** NCHW values in [-1, 1]. */
  fake: Float32Array;
  /** Channels (1 or 3), height and width of one image. */
  shape: readonly [number, number, number];
}

/**
 * FID between two image sets. Both estimates depend on the set sizes: compare runs only at equal
 * counts (the literature uses 50k generated images against the training set).
 *
 * @example
 * ```ts
 * using inception = await loadInception('inception-fid.safetensors');
 * const score = await fid(inception, { real, fake, shape: [3, 32, 32] });
 * ```
 */
export async function fid(inception: InceptionNetwork, images: FidImages): Promise<number> {
  const [channels, height, width] = images.shape;
  const per = channels * height * width;
  const real = await inception.features(images.real, { count: images.real.length / per, channels, height, width });
  const fake = await inception.features(images.fake, { count: images.fake.length / per, channels, height, width });
  return frechetDistance(real, fake, INCEPTION_FEATURES);
}
