/**
 * The vocabulary of {@link Network}: the objectives, the options of {@link createNetwork} and of
 * the training steps, and what the network's methods take and return (parameter layout, weight
 * sets, counters, optimizer state).
 *
 * @module
 */
import type { PfgmHyperparameters } from '../physics/pfgm.js';
import type { TrainOptions } from '../physics/trainOptions.js';
import type { DeviceOption } from '../tensor.js';

/**
 * The objectives of the PFGM family: `pfgmpp` (docs/method.md §2.2; any D > 0 and Infinity = EDM; the
 * network is a denoiser) and `pfgm` (docs/method.md §3; D = 1; the network predicts the normalised field
 * in N + 1 dimensions and is sampled with the z-ODE).
 */
export type Objective = 'pfgmpp' | 'pfgm';

/** PFGM's hyperparameters (docs/method.md §3) as a `pfgm` model records them. */
export interface PfgmSettings extends PfgmHyperparameters {
  /** gamma of the field normalisation (3.1) (default 5). */
  gamma: number;
  /** The paper's restrict_M (default true). */
  restrictM: boolean;
}

/** Options of {@link createNetwork}. */
export interface CreateNetworkOptions {
  /**
   * The objective the network serves (default `pfgmpp`). `pfgm` adds one output channel (one
   * output for vectors), the z component of the field, and implies D = 1.
   */
  objective?: Objective;
  /** PFGM's hyperparameters, when already known (a `pfgm` Trainer computes them from the data). */
  pfgm?: PfgmSettings;
  /** EDM's sigma_data (default 0.5, images in [-1, 1]). */
  sigmaData?: number;
  /** Augmented dimensions D used by training (default Infinity); also feeds `dAwareCIn`. */
  D?: number;
  /** Use docs/method.md §2.2's D-aware c_in = 1 / sqrt(sigma^2 D / (D - 2) + sigma_data^2) (D > 2). */
  dAwareCIn?: boolean;
  /**
   * Estimate each sample's noise scale from its own norm, `s^2 = max(sigma^2, ||x||^2 / N -
   * sigmaData^2)`, and use it in place of sigma in c_skip, c_out, c_in and the loss weight. For
   * heavy-tailed kernels (small D, docs/method.md §2.1), whose noise has no finite variance; the
   * minimiser of the loss is still E[y | x, sigma] (docs/physics.md). Default: on for D <= 2
   * (noise of infinite variance) and for the `pfgm` objective, off otherwise (EDM's coefficients).
   */
  adaptiveScale?: boolean;
  /** Seed of the parameter initialisation (default 0). */
  seed?: number;
  /**
   * Where the network's weights, activations and training state live (default `auto`: the GPU
   * when the CUDA build is loaded, finds a usable GPU and was built with cuDNN and cuBLAS; else
   * the CPU). Inputs and outputs stay `Float32Array`s on the host either way.
   */
  device?: DeviceOption;
  /**
   * Arithmetic of the convolutions and matrix products on CUDA (default `fp32`): `tf32` uses
   * TF32 tensor cores; `bf16` is autocast, bf16 operands with fp32 accumulation, fp32 master
   * weights, gradients, optimizer state and reductions. The CPU engine computes in fp32 only.
   */
  precision?: Precision;
}

/** Arithmetic of a CUDA network's convolutions and matrix products (see {@link CreateNetworkOptions.precision}). */
export type Precision = 'fp32' | 'tf32' | 'bf16';

/** One named tensor of the network (EDM's state-dict name and shape). */
export interface ParameterInfo {
  /** EDM's PyTorch state-dict name, e.g. `enc.28x28_conv.weight`. */
  name: string;
  /** PyTorch shape (conv weights [out, in, kh, kw]). */
  shape: number[];
  /** Position in the flat buffer, in elements. */
  offset: number;
  /** Number of elements. */
  numel: number;
}

/** Which weights to use or read: the trained weights or their exponential moving average. */
export type WeightSet = 'raw' | 'ema';

/** Class and augmentation labels of a batch. */
export interface BatchLabels {
  /** [batch, labelDim] values (one-hot for classes). */
  labels?: Float32Array;
  /** [batch, augmentDim] augmentation labels. */
  augment?: Float32Array;
}

/** D(x, sigma) together with an input vector-Jacobian product (see {@link Network.inputVjp}). */
export interface VjpResult {
  /** The denoised batch D(x, sigma). */
  denoised: Float32Array;
  /** v^T dD(x, sigma)/dx per sample, shaped like x. */
  vjp: Float32Array;
}

/**
 * Hyperparameters of the optimizer step; checked and defaulted by {@link resolveTrainOptions}
 * (defaults in {@link TRAIN_DEFAULTS}).
 */
export type OptimizerOptions = Pick<
  TrainOptions,
  'lr' | 'beta1' | 'beta2' | 'eps' | 'lrRampupKimg' | 'gradClip' | 'emaHalflifeKimg' | 'emaRampupRatio'
>;

/** Options of {@link Network.trainStep}; the defaults are `TRAIN_DEFAULTS.step`. */
export interface TrainStepOptions
  extends BatchLabels,
    OptimizerOptions,
    DataParallelStepOptions,
    Pick<TrainOptions, 'seed' | 'pMean' | 'pStd' | 'microBatch' | 'stf'> {
  /** Augmented dimensions D (> 0, or Infinity for EDM). */
  D: number;
  /** An explicit perturbation (with `sigma`) instead of the native draws; for tests. */
  noise?: Float32Array;
  /** Per-sample sigma of the explicit perturbation. */
  sigma?: Float32Array;
}

/** Options of {@link Network.pfgmStep}: PFGM's hyperparameters (docs/method.md §3) and the optimizer's. */
export interface PfgmStepOptions
  extends BatchLabels,
    OptimizerOptions,
    DataParallelStepOptions,
    Pick<TrainOptions, 'seed' | 'microBatch'> {
  /** Largest exponent of (1 + tau). */
  M: number;
  /** Growth rate. */
  tau: number;
  /** Smallest perturbation scale. */
  s: number;
  /** gamma of the normalisation (3.1). */
  gamma: number;
  /** The paper's restrict_M (default true). */
  restrictM?: boolean;
}

/** What one training step reports. */
export interface TrainStepResult {
  /** Mean weighted loss of the batch (docs/method.md §2.2), before the update. */
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** True when the gradient was not finite and nothing was applied. */
  skipped: boolean;
  /** The learning rate this step used (after ramp-up). */
  lr: number;
  /**
   * Whether a rank of the data-parallel group voted to stop after this step (its
   * {@link DataParallelStepOptions.stopVote}); every rank sees the same. Outside a group, the
   * step's own vote.
   */
  stop: boolean;
}

/**
 * What a step of data-parallel training adds (docs/distributed.md); a `Trainer` given a group sets
 * both. Outside a group the offset still keys the draws.
 */
export interface DataParallelStepOptions {
  /**
   * The global index of this rank's first sample in the global batch (default 0): every random
   * draw is keyed by it, so N ranks of batch B/N draw what one process of batch B draws.
   */
  sampleOffset?: number;
  /** This rank asks the group to stop after the step (see {@link TrainStepResult.stop}). */
  stopVote?: boolean;
}

/** Training progress counters. */
export interface TrainCounters {
  /** Training steps run (including skipped ones). */
  steps: number;
  /** Adam updates applied. */
  adamSteps: number;
  /** Images (samples) seen. */
  images: number;
  /** Steps skipped for non-finite gradients. */
  skipped: number;
}

/** A network's weights as flat arrays in parameter order (see {@link Network.flatWeights}). */
export interface FlatWeights {
  /** The trained (raw) weights. */
  raw: Float32Array;
  /** Their exponential moving average. */
  ema: Float32Array;
  /** Non-trainable tensors (empty for most networks; may be left out when loading). */
  buffers: Float32Array;
}

/** Adam's moments and the counters of a run (see {@link Network.optimizerState}). */
export interface OptimizerState {
  /** First moments, flat in parameter order. */
  adamM: Float32Array;
  /** Second moments, flat in parameter order. */
  adamV: Float32Array;
  /** Steps, Adam updates, images and skipped steps. */
  counters: TrainCounters;
}
