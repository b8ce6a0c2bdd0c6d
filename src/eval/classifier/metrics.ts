/**
 * Image metrics in a classifier's feature space: the Fréchet distance (`fd`, the FID recipe with
 * a small classifier trained by this project in place of Inception) and improved precision and
 * recall, for Fashion-MNIST with the shipped classifier, or for other 1-channel data (MNIST) with
 * a classifier the user trains with `scripts/train-classifier.mjs`.
 *
 * @module
 */
import { PfgmError } from '../../errors.js';
import { frechetTerms } from '../frechet.js';
import { precisionRecall } from '../precisionRecall.js';
import type { FeatureExtractor } from '../streamed.js';
import { type Classifier, loadClassifier, type ShippedClassifier } from './model.js';

/** A classifier to compute features with: a shipped one by name, a classifier file's path, or a loaded {@link Classifier}. */
export type ClassifierSource = ShippedClassifier | string | Classifier;

/** Options of {@link classifierFeatures}. */
export interface ClassifierFeaturesOptions {
  /**
   * The classifier (default `'fashion-mnist'`, the shipped one: 91.95% test accuracy). A name or
   * path is loaded on first use and kept for the process; pass a loaded {@link Classifier} to
   * control its lifetime (or after rewriting the file).
   */
  classifier?: ClassifierSource;
  /** Images per native call (default 256). */
  batch?: number;
}

/** Options of {@link imageMetrics}. */
export interface ImageMetricsOptions extends ClassifierFeaturesOptions {
  /** Neighbourhood size of precision and recall (default 3). */
  k?: number;
}

/** Result of {@link imageMetrics}. */
export interface ImageMetrics {
  /** Fréchet distance between the two sets in the classifier's feature space (not Inception's FID). */
  fd: number;
  /** Fraction of fake images inside the real images' k-NN manifold in feature space. */
  precision: number;
  /** Fraction of real images inside the fake images' k-NN manifold in feature space. */
  recall: number;
  /** The feature dimension. */
  featureDim: number;
  /** Number of real images. */
  realCount: number;
  /** Number of fake images. */
  fakeCount: number;
  /** Which classifier: its shipped name or file path (`'custom'` for a loaded object). */
  classifier: string;
}

// Loaded classifiers are kept for the process: metrics are computed repeatedly (every few ticks
// of training) and a load takes a few milliseconds of parsing each time otherwise.
const cache = new Map<string, Promise<Classifier>>();

async function resolveClassifier(source: ClassifierSource | undefined): Promise<[Classifier, string]> {
  if (source !== undefined && typeof source === 'object') return [source, 'custom'];
  const key = source ?? 'fashion-mnist';
  if (typeof key !== 'string' || key.length === 0) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      "classifier must be 'fashion-mnist', a classifier file's path or a Classifier",
    );
  }
  let pending = cache.get(key);
  if (pending === undefined) {
    pending = loadClassifier(key);
    cache.set(key, pending);
    pending.catch(() => cache.delete(key));
  }
  return [await pending, key];
}

function checkImages(fn: string, name: string, images: unknown, count: number | undefined, c: Classifier): number {
  if (!(images instanceof Float32Array)) {
    throw new PfgmError('ERR_PFGM_DTYPE', `${fn}: ${name} must be a Float32Array of NCHW images in [-1, 1]`);
  }
  const size = c.sampleSize;
  const n = count ?? images.length / size;
  const { inChannels, resolution } = c.config;
  if (!Number.isInteger(n) || n < 1 || images.length !== n * size) {
    throw new PfgmError(
      'ERR_PFGM_SHAPE',
      `${fn}: ${name} has ${images.length} values, not ${count ?? 'a whole number of'} ${inChannels} x ${resolution} x ${resolution} ` +
        `images (${size} values each), which is what the classifier takes`,
    );
  }
  for (let i = 0; i < images.length; i++) {
    if (!Number.isFinite(images[i] as number)) {
      throw new PfgmError('ERR_PFGM_ARGUMENT', `${fn}: ${name} holds a NaN or infinite value at ${i}`);
    }
  }
  return n;
}

/**
 * Features of `count` images (NCHW, values in [-1, 1], as the datasets and samplers give them)
 * in a classifier's feature space: the `featureDim` outputs of its feature layer, row-major
 * `[count, featureDim]`.
 *
 * @param images - `count * C * H * W` values.
 * @param count - the number of images.
 * @param options - see {@link ClassifierFeaturesOptions}.
 * @throws {@link PfgmError} `ERR_PFGM_SHAPE` when the images do not match the classifier's shape.
 */
export async function classifierFeatures(
  images: Float32Array,
  count: number,
  options: ClassifierFeaturesOptions = {},
): Promise<Float32Array> {
  const [c] = await resolveClassifier(options.classifier);
  checkImages('classifierFeatures', 'images', images, count, c);
  return c.features(images, options.batch === undefined ? {} : { batch: options.batch });
}

/**
 * Compares generated images with real ones in a classifier's feature space: `fd` (Fréchet
 * distance of the feature statistics, lower is better, 0 for identical laws) and improved
 * precision and recall (Kynkäänniemi et al. 2019, k = 3). Use the same numbers of images when
 * comparing runs: both estimates depend on the set sizes (e.g. 10k and 10k).
 *
 * @example
 * ```ts
 * const real = (await (await fashionMnist({ split: 'test' })).read(range(10000))).data;
 * const { fd, precision, recall } = await imageMetrics(real, samples);
 * ```
 *
 * @param real - real images, NCHW in [-1, 1] (at least k + 1 and at least two).
 * @param fake - generated images, likewise.
 * @param options - see {@link ImageMetricsOptions}.
 */
export async function imageMetrics(
  real: Float32Array,
  fake: Float32Array,
  options: ImageMetricsOptions = {},
): Promise<ImageMetrics> {
  const [c, name] = await resolveClassifier(options.classifier);
  const realCount = checkImages('imageMetrics', 'real', real, undefined, c);
  const fakeCount = checkImages('imageMetrics', 'fake', fake, undefined, c);
  const batch = options.batch === undefined ? {} : { batch: options.batch };
  const fr = await c.features(real, batch);
  const ff = await c.features(fake, batch);
  const dim = c.config.featureDim;
  const fd = (await frechetTerms(fr, ff, dim)).distance;
  const pr = await precisionRecall(fr, ff, dim, { k: options.k ?? 3 });
  return { fd, precision: pr.precision, recall: pr.recall, featureDim: dim, realCount, fakeCount, classifier: name };
}

/**
 * The classifier's feature layer as a {@link FeatureExtractor}, so its Fréchet distance can be
 * computed over streamed batches (`sampledStats`, `datasetStats`).
 */
export async function classifierExtractor(source?: ClassifierSource): Promise<FeatureExtractor> {
  const [c] = await resolveClassifier(source);
  return {
    dim: c.config.featureDim,
    features: (images, count) => {
      checkImages('classifierExtractor', 'images', images, count, c);
      return c.features(images, {});
    },
  };
}
