/**
 * The configuration of the feature classifier (src/native/nn/classifier.h).
 *
 * @module
 */
import { PfgmError } from '../../errors.js';

/**
 * A small CNN: per level, a 3x3 convolution (after 2x2 average pooling on every level but the
 * first) and `blocks` more, each followed by GroupNorm + SiLU; then global average pooling, a
 * feature layer `SiLU(Linear)` of `featureDim` units (the metric's feature space) and a linear
 * head over `classes`.
 */
export interface ClassifierConfig {
  /** Image channels (1 for MNIST-style data). */
  inChannels: number;
  /** Image height and width (square images; halved once per level after the first). */
  resolution: number;
  /** Channels of each level, e.g. [24, 48, 96]; multiples of 4. */
  channels: number[];
  /** Extra 3x3 convolutions per level (0 or more). */
  blocks: number;
  /** Width of the feature layer: the dimension of the features. */
  featureDim: number;
  /** Number of classes. */
  classes: number;
}

/** The configuration of the shipped Fashion-MNIST classifier (and the default of a new one). */
export const DEFAULT_CLASSIFIER_CONFIG: Readonly<ClassifierConfig> = Object.freeze({
  inChannels: 1,
  resolution: 28,
  channels: [24, 48, 96],
  blocks: 1,
  featureDim: 128,
  classes: 10,
});

function int(name: string, v: unknown, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `classifier config: ${name} must be an integer in [${lo}, ${hi}], got ${JSON.stringify(v)}`,
    );
  }
  return v;
}

/**
 * Fills the defaults of {@link DEFAULT_CLASSIFIER_CONFIG} and checks every field.
 *
 * @throws {@link PfgmError} `ERR_PFGM_ARGUMENT` naming the field that is out of range.
 */
export function classifierConfig(partial: Partial<ClassifierConfig> = {}): ClassifierConfig {
  const c = { ...DEFAULT_CLASSIFIER_CONFIG, ...partial };
  const channels = c.channels;
  if (!Array.isArray(channels) || channels.length < 1 || channels.length > 8) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', 'classifier config: channels must be an array of 1 to 8 channel counts');
  }
  for (const ch of channels) {
    int('each of channels', ch, 4, 4096);
    if (ch % Math.min(32, Math.floor(ch / 4)) !== 0) {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `classifier config: ${ch} channels do not split into min(32, C / 4) group-norm groups: use a multiple of 4 (and of 32 above 128)`,
      );
    }
  }
  const resolution = int('resolution', c.resolution, 1, 1024);
  if (resolution % 2 ** (channels.length - 1) !== 0) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `classifier config: resolution ${resolution} cannot be halved ${channels.length - 1} times: use fewer levels`,
    );
  }
  return {
    inChannels: int('inChannels', c.inChannels, 1, 64),
    resolution,
    channels: [...channels],
    blocks: int('blocks', c.blocks, 0, 16),
    featureDim: int('featureDim', c.featureDim, 1, 65536),
    classes: int('classes', c.classes, 2, 65536),
  };
}

/** The snake_case form the native constructor reads. @internal */
export function toNativeClassifierConfig(c: ClassifierConfig, seed: number): Record<string, unknown> {
  return {
    in_channels: c.inChannels,
    resolution: c.resolution,
    channels: c.channels,
    blocks: c.blocks,
    feature_dim: c.featureDim,
    classes: c.classes,
    init_seed: seed,
  };
}
