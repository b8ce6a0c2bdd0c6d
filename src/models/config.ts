/**
 * Network configurations: EDM's SongUNet (DDPM++ and NCSN++) and its ADM network (DhariwalUNet) for
 * images, an MLP for vectors, and the presets of the PFGM++ / EDM papers. Field names are EDM's constructor arguments in
 * camelCase; {@link toNativeConfig} hands them to the engine in EDM's snake_case.
 *
 * @module
 */
import { PfgmError } from '../errors.js';

/** The constructor arguments EDM's two U-Nets ({@link SongUNetConfig}, {@link DhariwalUNetConfig}) share. */
export interface UNetConfigBase {
  /** Image height = width at input and output. */
  imgResolution: number;
  /** Colour channels at the input. */
  inChannels: number;
  /** Channels at the output (usually = inChannels). */
  outChannels: number;
  /** Number of class labels; 0 = unconditional. */
  labelDim: number;
  /** Augmentation-label size (EDM's augment pipe: 9); 0 = none. */
  augmentDim: number;
  /** Base channel count (for DhariwalUNet also the width of the positional noise embedding). */
  modelChannels: number;
  /** Channel multiplier per resolution level. */
  channelMult: number[];
  /** Embedding width = modelChannels * channelMultEmb. */
  channelMultEmb: number;
  /** Residual blocks per resolution. */
  numBlocks: number;
  /** Resolutions with self-attention. */
  attnResolutions: number[];
  /** Dropout probability inside the blocks. */
  dropout: number;
  /** Probability of dropping the class label (classifier-free guidance). */
  labelDropout: number;
}

/** EDM's SongUNet (training/networks.py) with every option of its constructor. */
export interface SongUNetConfig extends UNetConfigBase {
  /** Network family. */
  kind: 'songunet';
  /** `positional` (DDPM++) or `fourier` (NCSN++) noise embedding. */
  embeddingType: 'positional' | 'fourier';
  /** Noise-embedding width = modelChannels * channelMultNoise (1 DDPM++, 2 NCSN++). */
  channelMultNoise: number;
  /** `standard` (DDPM++), `skip`, or `residual` (NCSN++). */
  encoderType: 'standard' | 'skip' | 'residual';
  /** `standard` or `skip`. */
  decoderType: 'standard' | 'skip';
  /** FIR resampling filter: [1, 1] (DDPM++) or [1, 3, 3, 1] (NCSN++). */
  resampleFilter: number[];
}

/**
 * EDM's ADM network, DhariwalUNet (training/networks.py): Dhariwal & Nichol's U-Net as EDM
 * reimplements it for ImageNet-64, with every argument of its constructor. Its blocks scale and
 * shift their activations by the noise embedding (adaptive scale), attend with one head per 64
 * channels at `attnResolutions`, and resample with the [1, 1] filter.
 */
export interface DhariwalUNetConfig extends UNetConfigBase {
  /** Network family. */
  kind: 'dhariwalunet';
  /**
   * Resolutions with self-attention (with out_channels / 64 heads: a block of fewer than 64
   * channels has none, as in EDM).
   */
  attnResolutions: number[];
}

/** The MLP denoiser for vectors (docs/engine.md gives its equations). */
export interface MlpConfig {
  /** Network family. */
  kind: 'mlp';
  /** Dimension N of a data vector. */
  features: number;
  /** Width of the hidden layers. */
  hidden: number;
  /** Residual blocks. */
  numBlocks: number;
  /** Width of the noise embedding after the mapping layers. */
  embChannels: number;
  /** Width of the positional noise embedding. */
  noiseChannels: number;
  /** Number of class labels; 0 = unconditional. */
  labelDim: number;
  /** Dropout probability inside the blocks. */
  dropout: number;
  /** Probability of dropping the class label (classifier-free guidance). */
  labelDropout: number;
}

/** Any network the engine builds. */
export type NetworkConfig = SongUNetConfig | DhariwalUNetConfig | MlpConfig;

/** Names of the built-in presets. */
export type PresetName =
  | 'ddpmpp-cifar10'
  | 'ncsnpp-cifar10'
  | 'ddpmpp-ffhq64'
  | 'ddpmpp-small'
  | 'adm-imagenet64'
  | 'mlp';

const DDPMPP_CIFAR10: SongUNetConfig = {
  kind: 'songunet',
  imgResolution: 32,
  inChannels: 3,
  outChannels: 3,
  labelDim: 0,
  augmentDim: 0,
  modelChannels: 128,
  channelMult: [2, 2, 2],
  channelMultEmb: 4,
  numBlocks: 4,
  attnResolutions: [16],
  dropout: 0.13,
  labelDropout: 0,
  embeddingType: 'positional',
  channelMultNoise: 1,
  encoderType: 'standard',
  decoderType: 'standard',
  resampleFilter: [1, 1],
};

// EDM's ImageNet-64 network (train.py --arch=adm --cond=1 --dropout=0.10 --augment=0): 295,899,267
// parameters, as EDM's DhariwalUNet(img_resolution=64, in_channels=3, out_channels=3,
// label_dim=1000) counts them.
const ADM_IMAGENET64: DhariwalUNetConfig = {
  kind: 'dhariwalunet',
  imgResolution: 64,
  inChannels: 3,
  outChannels: 3,
  labelDim: 1000,
  augmentDim: 0,
  modelChannels: 192,
  channelMult: [1, 2, 3, 4],
  channelMultEmb: 4,
  numBlocks: 3,
  attnResolutions: [32, 16, 8],
  dropout: 0.1,
  labelDropout: 0,
};

// EDM trains its published networks with augmentation (augment_dim 9: map_augment adds
// 9 x noise_channels weights), and its parameter counts include that layer.
const PRESETS: Record<PresetName, NetworkConfig> = {
  'ddpmpp-cifar10': { ...DDPMPP_CIFAR10, augmentDim: 9 },
  'ncsnpp-cifar10': {
    ...DDPMPP_CIFAR10,
    augmentDim: 9,
    embeddingType: 'fourier',
    channelMultNoise: 2,
    encoderType: 'residual',
    resampleFilter: [1, 3, 3, 1],
  },
  'ddpmpp-ffhq64': { ...DDPMPP_CIFAR10, augmentDim: 9, imgResolution: 64, channelMult: [1, 2, 2, 2], dropout: 0.05 },
  'ddpmpp-small': {
    ...DDPMPP_CIFAR10,
    imgResolution: 28,
    inChannels: 1,
    outChannels: 1,
    modelChannels: 32,
    channelMult: [1, 2, 2],
    numBlocks: 2,
    attnResolutions: [7],
    dropout: 0.1,
  },
  'adm-imagenet64': ADM_IMAGENET64,
  mlp: {
    kind: 'mlp',
    features: 2,
    hidden: 256,
    numBlocks: 4,
    embChannels: 256,
    noiseChannels: 64,
    labelDim: 0,
    dropout: 0,
    labelDropout: 0,
  },
};

/** The names of every preset. */
export const presetNames: readonly PresetName[] = Object.keys(PRESETS) as PresetName[];

/**
 * The network families the engine builds, with what each is: the `kind` of a
 * {@link NetworkConfig}.
 */
export const networkKinds: readonly { kind: NetworkConfig['kind']; description: string }[] = [
  { kind: 'songunet', description: "EDM's SongUNet: DDPM++ and NCSN++" },
  { kind: 'dhariwalunet', description: "EDM's ADM network (DhariwalUNet)" },
  { kind: 'mlp', description: 'an MLP for vectors' },
];

function bad(message: string): never {
  throw new PfgmError('ERR_PFGM_ARGUMENT', message);
}

/**
 * A preset's full configuration, optionally adjusted (e.g. `{ inChannels: 3 }` or
 * `{ features: 8 }`).
 *
 * @throws PfgmError `ERR_PFGM_ARGUMENT` for an unknown preset name.
 */
export function preset(name: PresetName, overrides: Partial<NetworkConfig> = {}): NetworkConfig {
  const base = PRESETS[name];
  if (base === undefined) bad(`unknown network preset '${String(name)}': use one of ${presetNames.join(', ')}`);
  return validateNetworkConfig({ ...base, ...overrides } as NetworkConfig);
}

function int(name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    bad(`network config: ${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function prob(name: string, v: unknown): number {
  if (typeof v !== 'number' || !(v >= 0 && v < 1)) {
    bad(`network config: ${name} must be a probability in [0, 1), got ${JSON.stringify(v)}`);
  }
  return v;
}

/**
 * Checks a configuration and returns it; every problem names the field and what it accepts.
 *
 * @throws PfgmError `ERR_PFGM_ARGUMENT`.
 */
export function validateNetworkConfig(c: NetworkConfig): NetworkConfig {
  if (c === null || typeof c !== 'object' || Array.isArray(c)) {
    bad(`network config: expected an object, got ${c === null ? 'null' : Array.isArray(c) ? 'an array' : typeof c}`);
  }
  if (c.kind === 'mlp') {
    int('features', c.features, 1);
    int('hidden', c.hidden, 1);
    int('numBlocks', c.numBlocks, 0);
    int('embChannels', c.embChannels, 1);
    int('noiseChannels', c.noiseChannels, 2);
    if (c.noiseChannels % 2 !== 0) bad('network config: noiseChannels must be even');
    int('labelDim', c.labelDim, 0);
    prob('dropout', c.dropout);
    prob('labelDropout', c.labelDropout);
    return c;
  }
  if (c.kind !== 'songunet' && c.kind !== 'dhariwalunet') {
    bad(
      `network config: kind must be 'songunet', 'dhariwalunet' or 'mlp', got ${JSON.stringify((c as { kind: unknown }).kind)}`,
    );
  }
  validateUNet(c);
  if (c.kind === 'dhariwalunet') {
    // The positional noise embedding has modelChannels / 2 cos-sin pairs.
    if (c.modelChannels % 2 !== 0) bad('network config: modelChannels must be even for dhariwalunet');
    return c;
  }
  int('channelMultNoise', c.channelMultNoise, 1);
  if ((c.modelChannels * c.channelMultNoise) % 2 !== 0)
    bad('network config: modelChannels * channelMultNoise must be even');
  if (!['positional', 'fourier'].includes(c.embeddingType))
    bad("network config: embeddingType must be 'positional' or 'fourier'");
  if (!['standard', 'skip', 'residual'].includes(c.encoderType))
    bad("network config: encoderType must be 'standard', 'skip' or 'residual'");
  if (!['standard', 'skip'].includes(c.decoderType)) bad("network config: decoderType must be 'standard' or 'skip'");
  if (
    !Array.isArray(c.resampleFilter) ||
    c.resampleFilter.length < 1 ||
    !c.resampleFilter.every((v) => Number.isFinite(v))
  ) {
    bad('network config: resampleFilter must be a non-empty array of numbers, e.g. [1, 1] or [1, 3, 3, 1]');
  }
  return c;
}

/** The fields SongUNet and DhariwalUNet share, checked alike. */
function validateUNet(c: SongUNetConfig | DhariwalUNetConfig): void {
  int('imgResolution', c.imgResolution, 1);
  int('inChannels', c.inChannels, 1);
  int('outChannels', c.outChannels, 1);
  int('labelDim', c.labelDim, 0);
  int('augmentDim', c.augmentDim, 0);
  int('modelChannels', c.modelChannels, 1);
  int('channelMultEmb', c.channelMultEmb, 1);
  int('numBlocks', c.numBlocks, 1);
  if (!Array.isArray(c.channelMult) || c.channelMult.length === 0)
    bad('network config: channelMult must be a non-empty array');
  for (const [i, m] of c.channelMult.entries()) int(`channelMult[${i}]`, m, 1);
  if (!Array.isArray(c.attnResolutions)) bad('network config: attnResolutions must be an array, e.g. [16] or []');
  for (const [i, r] of c.attnResolutions.entries()) int(`attnResolutions[${i}]`, r, 1);
  const levels = c.channelMult.length;
  if (c.imgResolution % 2 ** (levels - 1) !== 0) {
    bad(
      `network config: imgResolution ${c.imgResolution} must be divisible by 2^(levels - 1) = ${2 ** (levels - 1)} for ${levels} levels`,
    );
  }
  for (const m of [c.modelChannels, ...c.channelMult.map((k) => k * c.modelChannels)]) {
    if (m < 4 || m % Math.min(32, Math.floor(m / 4)) !== 0) {
      bad(
        `network config: ${m} channels cannot be split into EDM's group-norm groups (min(32, C/4)); use a multiple of 4 (or of 32 above 128)`,
      );
    }
  }
  for (const m of decoderInputs(c)) {
    if (m % Math.min(32, Math.floor(m / 4)) !== 0) {
      bad(
        `network config: a decoder block takes ${m} channels (its input concatenated with a skip), which EDM's group norm cannot split into min(32, C/4) groups; choose modelChannels and channelMult so that these sums are multiples of 32 (e.g. modelChannels a multiple of 32)`,
      );
    }
  }
  prob('dropout', c.dropout);
  prob('labelDropout', c.labelDropout);
}

/**
 * The channel counts of the decoder blocks that concatenate a skip, as EDM's constructors count
 * them (in closed form: numBlocks may be any size here).
 */
function decoderInputs(c: SongUNetConfig | DhariwalUNetConfig): number[] {
  const mc = c.modelChannels;
  const width = c.channelMult.map((m) => mc * m);
  const levels = width.length;
  // A level's first skip: the first convolution's output (SongUNet: modelChannels; DhariwalUNet:
  // modelChannels * channelMult[0]), else the downsampling block's, which keeps the channels.
  const first = (level: number) =>
    level > 0 ? (width[level - 1] as number) : c.kind === 'dhariwalunet' ? width[0] : mc;
  const inputs: number[] = [];
  for (let level = levels - 1; level >= 0; level--) {
    const w = width[level] as number;
    const below = level === levels - 1 ? w : (width[level + 1] as number);
    // block0 takes the level below's output with this level's last block output; the middle
    // blocks two of this level's; the last one this level's first skip.
    inputs.push(below + w, w + (first(level) as number));
    if (c.numBlocks >= 2) inputs.push(2 * w);
  }
  return inputs;
}

const SNAKE: Record<string, string> = {
  imgResolution: 'img_resolution',
  inChannels: 'in_channels',
  outChannels: 'out_channels',
  labelDim: 'label_dim',
  augmentDim: 'augment_dim',
  modelChannels: 'model_channels',
  channelMult: 'channel_mult',
  channelMultEmb: 'channel_mult_emb',
  numBlocks: 'num_blocks',
  attnResolutions: 'attn_resolutions',
  labelDropout: 'label_dropout',
  embeddingType: 'embedding_type',
  channelMultNoise: 'channel_mult_noise',
  encoderType: 'encoder_type',
  decoderType: 'decoder_type',
  resampleFilter: 'resample_filter',
  embChannels: 'emb_channels',
  noiseChannels: 'noise_channels',
  features: 'in_features',
};

/** The configuration in EDM's snake_case names (what the engine and checkpoints store). */
export function toNativeConfig(c: NetworkConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c)) out[SNAKE[k] ?? k] = v;
  return out;
}

/** The inverse of {@link toNativeConfig}: EDM's snake_case keys (e.g. a PyTorch config) to ours. */
export function fromNativeConfig(c: Record<string, unknown>): NetworkConfig {
  if (c === null || typeof c !== 'object' || Array.isArray(c)) {
    bad(
      `network config: expected a JSON object, got ${c === null ? 'null' : Array.isArray(c) ? 'an array' : typeof c}`,
    );
  }
  const camel: Record<string, string> = {};
  for (const [k, v] of Object.entries(SNAKE)) camel[v] = k;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c)) out[camel[k] ?? k] = v;
  const base = out.kind === 'mlp' ? PRESETS.mlp : out.kind === 'dhariwalunet' ? ADM_IMAGENET64 : DDPMPP_CIFAR10;
  return validateNetworkConfig({ ...base, ...out } as NetworkConfig);
}

/**
 * Parses a network configuration written as JSON (EDM's snake_case keys or ours, as
 * {@link fromNativeConfig} takes them), e.g. the file given to `pfgm train --network`.
 *
 * @param text - the JSON text
 * @param source - names the text in error messages (a path)
 * @throws PfgmError `ERR_PFGM_ARGUMENT` naming the source when the text is not JSON, not an
 *   object, or not a valid configuration.
 */
export function parseNetworkConfig(text: string, source = 'network config'): NetworkConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    bad(`${source} is not valid JSON (${(e as Error).message}): write the configuration as a JSON object`);
  }
  try {
    return fromNativeConfig(value as Record<string, unknown>);
  } catch (e) {
    if (e instanceof PfgmError) bad(`${source}: ${e.message}`);
    throw e;
  }
}
