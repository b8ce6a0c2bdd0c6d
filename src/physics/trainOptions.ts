/**
 * Every training option in one place: the defaults ({@link TRAIN_DEFAULTS}) and their checks
 * ({@link resolveTrainOptions}). `pfgm train`, {@link Trainer}, {@link Network.trainStep} and
 * {@link Network.pfgmStep} resolve their options here, and the resolved object is what reaches
 * the native step (mapped field by field in one place, `toNativeTrainOptions`). The native side
 * has no defaults of its own for these fields: it requires every one of them.
 *
 * It sits in the physics layer, below models/ and train/, because its lowest users are here
 * (the training-noise draw, {@link sampleTrainingSigma}) and in models/ ({@link Network.trainStep}).
 *
 * @module
 */
import type { NativeTrainOptions } from '../addon/native.js';
import { PfgmError } from '../errors.js';
import { checkD, checkFinite, checkInteger, checkNonNegative, checkPositive } from '../validate.js';

/** Options of the `pfgm` objective (docs/method.md §3); M, z_max and upper_norm come from the data. */
export interface PfgmTrainOptions {
  /**
   * The large batch over which the field target (3.1) is computed, containing the small batch
   * (default 4096, the paper's CIFAR-10 value, or the whole dataset when smaller).
   */
  refBatch?: number;
  /** Growth rate tau (default 0.03). */
  tau?: number;
  /** Smallest perturbation scale s (default 0.01). */
  s?: number;
  /** gamma of the normalisation (default 5). */
  gamma?: number;
  /** The paper's restrict_M (default true). */
  restrictM?: boolean;
  /** Override M (default: docs/method.md §3's rule of thumb from the data's mean norm). */
  M?: number;
}

/**
 * Every training hyperparameter a user can set; all optional. The defaults are in
 * {@link TRAIN_DEFAULTS}: a {@link Trainer} (and `pfgm train`) starts from
 * `TRAIN_DEFAULTS.trainer`, a bare {@link Network.trainStep} from `TRAIN_DEFAULTS.step`; where a
 * field is not in the group, `TRAIN_DEFAULTS.step` has it.
 */
export interface TrainOptions {
  /**
   * Objective (default: the network's, {@link Network.objective}): `pfgmpp` (docs/method.md §2.2, any
   * D > 0 and Infinity) or `pfgm` (docs/method.md §3, for a network created with `{ objective: 'pfgm' }`).
   */
  objective?: 'pfgmpp' | 'pfgm';
  /** Augmented dimensions D, > 0 or Infinity (default: the network's {@link Network.D}). */
  D?: number;
  /** Samples per step, a positive integer (default 64). */
  batch?: number;
  /**
   * Accumulate gradients over chunks of this many samples, for a batch that does not fit; an
   * integer >= 0 (default 0: the whole batch at once).
   */
  microBatch?: number;
  /**
   * Stable target field (docs/method.md §2.4): train toward the posterior mean of the batch given each
   * perturbed sample instead of its own clean sample; lower variance, same optimum as the batch
   * grows (default false).
   */
  stf?: boolean;
  /** Options of the `pfgm` objective. */
  pfgm?: PfgmTrainOptions;
  /**
   * Adam learning rate after ramp-up, finite and > 0 (default 1e-3, EDM's, in a Trainer;
   * 2e-4 in a bare step).
   */
  lr?: number;
  /**
   * Learning-rate ramp-up in thousands of images, finite and >= 0 (default 10000, EDM's, in a
   * Trainer; 0, no ramp-up, in a bare step).
   */
  lrRampupKimg?: number;
  /** Adam beta1, in [0, 1) (default 0.9). */
  beta1?: number;
  /** Adam beta2, in [0, 1) (default 0.999). */
  beta2?: number;
  /** Adam epsilon, finite and > 0 (default 1e-8). */
  eps?: number;
  /** Clip the global gradient norm to this value, finite and >= 0 (default 0: off). */
  gradClip?: number;
  /** EMA half-life in thousands of images, finite and >= 0 (default 500, EDM's). */
  emaHalflifeKimg?: number;
  /** EMA ramp-up ratio, finite and >= 0 (default 0.05, EDM's; 0 disables the ramp-up). */
  emaRampupRatio?: number;
  /** EDM's P_mean of the training noise, `ln sigma ~ N(pMean, pStd^2)`, finite (default -1.2). */
  pMean?: number;
  /** EDM's P_std of the training noise, finite and >= 0 (default 1.2). */
  pStd?: number;
  /**
   * Seed of the data order, the perturbations and dropout, a non-negative safe integer
   * (default 0).
   */
  seed?: number;
  /** Mirror images horizontally with probability 1/2 (EDM's --xflip; default false). */
  xflip?: boolean;
  /** Report a tick every this many thousand images, >= 0 (default: about 50 ticks per run). */
  tickKimg?: number;
  /** Ticks between periodic checkpoints, an integer >= 0 (default 0: only at the end and on abort). */
  checkpointTicks?: number;
}

/** {@link PfgmTrainOptions} with every default filled in (M stays undefined: from the data). */
export type ResolvedPfgmTrainOptions = Readonly<Required<Omit<PfgmTrainOptions, 'M'>>> & {
  /** Override of M, or undefined for docs/method.md §3's rule of thumb. */
  readonly M: number | undefined;
};

/** What {@link resolveTrainOptions} returns: every option checked and filled in, frozen. */
export type ResolvedTrainOptions = Readonly<Required<Omit<TrainOptions, 'pfgm' | 'tickKimg'>>> & {
  /** Thousands of images per tick, or undefined for about 50 ticks per run. */
  readonly tickKimg: number | undefined;
  /** The resolved options of the `pfgm` objective. */
  readonly pfgm: ResolvedPfgmTrainOptions;
};

/** Defaults of one optimizer step, and of every field a Trainer does not override. */
export interface StepDefaults {
  /** Adam learning rate after ramp-up: 2e-4 (DDPM++'s). */
  readonly lr: number;
  /** Learning-rate ramp-up in thousands of images: 0 (none). */
  readonly lrRampupKimg: number;
  /** Adam beta1: 0.9. */
  readonly beta1: number;
  /** Adam beta2: 0.999. */
  readonly beta2: number;
  /** Adam epsilon: 1e-8. */
  readonly eps: number;
  /** Global gradient-norm clip: 0 (off). */
  readonly gradClip: number;
  /** EMA half-life in thousands of images: 500 (EDM's). */
  readonly emaHalflifeKimg: number;
  /** EMA ramp-up ratio: 0.05 (EDM's). */
  readonly emaRampupRatio: number;
  /** Mean of ln sigma of the training noise: -1.2 (EDM's P_mean). */
  readonly pMean: number;
  /** Standard deviation of ln sigma of the training noise: 1.2 (EDM's P_std). */
  readonly pStd: number;
  /** Seed of the data order, perturbations and dropout: 0. */
  readonly seed: number;
  /** Micro-batch size: 0 (the whole batch at once). */
  readonly microBatch: number;
  /** Stable target field: false. */
  readonly stf: boolean;
}

/** Defaults of the `pfgm` objective's options ({@link PfgmTrainOptions}). */
export interface PfgmDefaults {
  /** The large batch of the field target: 4096 (the paper's CIFAR-10 value). */
  readonly refBatch: number;
  /** Growth rate tau: 0.03. */
  readonly tau: number;
  /** Smallest perturbation scale s: 0.01. */
  readonly s: number;
  /** gamma of the normalisation: 5. */
  readonly gamma: number;
  /** The paper's restrict_M: true. */
  readonly restrictM: boolean;
}

/** Defaults of a {@link Trainer} where they differ from {@link StepDefaults}, and its own. */
export interface TrainerDefaults {
  /** Samples per step: 64. */
  readonly batch: number;
  /** Adam learning rate after ramp-up: 1e-3 (EDM's). */
  readonly lr: number;
  /** Learning-rate ramp-up in thousands of images: 10000 (EDM's). */
  readonly lrRampupKimg: number;
  /** Mirror images at random: false. */
  readonly xflip: boolean;
  /** Ticks between periodic checkpoints: 0 (only at the end and on abort). */
  readonly checkpointTicks: number;
  /** The `pfgm` objective's defaults. */
  readonly pfgm: PfgmDefaults;
}

/** One value for image data and one for vector data. */
export interface PerDataKind {
  /** For images. */
  readonly image: number;
  /** For vectors. */
  readonly vector: number;
}

/** Defaults of `pfgm train`, which depend on the data and the length of the run. */
export interface CliTrainDefaults {
  /** Augmented dimensions --D: 128. */
  readonly D: number;
  /** Length of a run without --kimg or --steps, in thousands of images: 12.8. */
  readonly kimg: number;
  /** --batch: 64 for images (the Trainer's), 256 for vectors. */
  readonly batch: PerDataKind;
  /** --lr: 2e-4 for images (the bare step's, DDPM++'s), 1e-3 for vectors (the Trainer's, EDM's). */
  readonly lr: PerDataKind;
  /** --lr-rampup-kimg is the run's length divided by this: 10 (a tenth of the run) ... */
  readonly lrRampupRunDivisor: number;
  /** ... and at most this many thousand images: 10000 (the Trainer's, EDM's). */
  readonly lrRampupKimgMax: number;
  /** sigma_data of a new network: 0.5 for images in [-1, 1] (createNetwork's), 1 for vectors. */
  readonly sigmaData: PerDataKind;
  /**
   * --label-dropout of a class-conditional network (--cond): 0.1, so that it also learns the
   * unconditional model that classifier-free guidance and `pfgm sample --class none` use.
   */
  readonly labelDropout: number;
}

/** Defaults of a new network's preconditioning that training depends on. */
export interface NetworkDefaults {
  /** EDM's sigma_data of {@link createNetwork}: 0.5 (images in [-1, 1]). */
  readonly sigmaData: number;
}

/** Every default of training, the optimizer and the training noise; see {@link TRAIN_DEFAULTS}. */
export interface TrainDefaults {
  /** A bare {@link Network.trainStep} / {@link Network.pfgmStep}, and fields a Trainer keeps. */
  readonly step: StepDefaults;
  /** A {@link Trainer}: these override `step`. */
  readonly trainer: TrainerDefaults;
  /** `pfgm train`, which picks by data kind and passes explicit values to its Trainer. */
  readonly cli: CliTrainDefaults;
  /** A new network's preconditioning. */
  readonly network: NetworkDefaults;
}

const STEP: StepDefaults = Object.freeze({
  lr: 2e-4,
  lrRampupKimg: 0,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  gradClip: 0,
  emaHalflifeKimg: 500,
  emaRampupRatio: 0.05,
  pMean: -1.2,
  pStd: 1.2,
  seed: 0,
  microBatch: 0,
  stf: false,
});

const TRAINER: TrainerDefaults = Object.freeze({
  batch: 64,
  lr: 1e-3,
  lrRampupKimg: 10000,
  xflip: false,
  checkpointTicks: 0,
  pfgm: Object.freeze({ refBatch: 4096, tau: 0.03, s: 0.01, gamma: 5, restrictM: true }),
});

const NETWORK: NetworkDefaults = Object.freeze({ sigmaData: 0.5 });

/**
 * Every default of training, the optimizer and the training noise, frozen. Nothing else in the
 * package (TypeScript or native) holds a copy of these values.
 *
 * @example
 * ```ts
 * TRAIN_DEFAULTS.step.pMean; // -1.2
 * TRAIN_DEFAULTS.trainer.lr; // 1e-3
 * ```
 */
export const TRAIN_DEFAULTS: TrainDefaults = Object.freeze({
  step: STEP,
  trainer: TRAINER,
  cli: Object.freeze({
    D: 128,
    kimg: 12.8,
    batch: Object.freeze({ image: TRAINER.batch, vector: 256 }),
    lr: Object.freeze({ image: STEP.lr, vector: TRAINER.lr }),
    lrRampupRunDivisor: 10,
    lrRampupKimgMax: TRAINER.lrRampupKimg,
    sigmaData: Object.freeze({ image: NETWORK.sigmaData, vector: 1 }),
    labelDropout: 0.1,
  }),
  network: NETWORK,
});

/** Where {@link resolveTrainOptions} takes what the options leave out, and how it reports. */
export interface ResolveTrainContext {
  /**
   * Which defaults fill the gaps: `trainer` (the default: {@link Trainer}, `pfgm train`) or
   * `step` (a bare {@link Network.trainStep}); see {@link TRAIN_DEFAULTS}.
   */
  defaults?: 'trainer' | 'step';
  /** D when the options leave it out (a Trainer: the network's); without either, D is required. */
  D?: number;
  /** The objective when the options leave it out (a Trainer: the network's; else `pfgmpp`). */
  objective?: 'pfgmpp' | 'pfgm';
  /** How an error names an option (default: its name, e.g. `lrRampupKimg` or `pfgm.tau`). */
  label?: (option: string) => string;
}

function positiveInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1)
    throw new PfgmError('ERR_PFGM_ARGUMENT', `${name} must be a positive integer, got ${String(value)}`);
  return value;
}

function unitInterval(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value >= 1)
    throw new PfgmError('ERR_PFGM_ARGUMENT', `${name} must be a number in [0, 1), got ${String(value)}`);
  return value;
}

function nonNegativeInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `${name} must be a non-negative integer (at most 2^53 - 1), got ${String(value)}`,
    );
  }
  return value;
}

/**
 * Checks every training option and fills in the defaults ({@link TRAIN_DEFAULTS}): a
 * {@link PfgmError} `ERR_PFGM_ARGUMENT` names the first bad option, its value and what it
 * accepts. Returns a frozen object with every field set; resolving it again returns an equal
 * object. {@link Trainer} and {@link Network.trainStep} call it themselves: call it to check
 * options early or to see what a run will use.
 *
 * @example
 * ```ts
 * const o = resolveTrainOptions({ lr: 2e-4 }, { D: 128 });
 * o.emaHalflifeKimg; // 500
 * resolveTrainOptions({ lr: Number.NaN }, { D: 128 }); // throws: lr must be a finite number > 0, got NaN
 * ```
 */
export function resolveTrainOptions(user: TrainOptions = {}, context: ResolveTrainContext = {}): ResolvedTrainOptions {
  const name = context.label ?? ((option: string) => option);
  const base: StepDefaults & Partial<TrainerDefaults> =
    (context.defaults ?? 'trainer') === 'trainer' ? { ...STEP, ...TRAINER } : STEP;
  const objective = user.objective ?? context.objective ?? 'pfgmpp';
  if (objective !== 'pfgmpp' && objective !== 'pfgm') {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `objective must be 'pfgmpp' or 'pfgm', got '${String(objective)}'`);
  }
  if (objective === 'pfgm' && user.stf) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      'stf is an option of the pfgmpp objective; PFGM has its own large-batch target',
    );
  }
  if (objective === 'pfgm' && user.D !== undefined && user.D !== 1) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `the pfgm objective is D = 1, got D = ${user.D}`);
  }
  const p = user.pfgm ?? {};
  const pd = TRAINER.pfgm;
  const pfgm: ResolvedPfgmTrainOptions = Object.freeze({
    refBatch: positiveInteger(name('pfgm.refBatch'), p.refBatch ?? pd.refBatch),
    tau: checkPositive(name('pfgm.tau'), p.tau ?? pd.tau),
    s: checkPositive(name('pfgm.s'), p.s ?? pd.s),
    gamma: checkNonNegative(name('pfgm.gamma'), p.gamma ?? pd.gamma),
    restrictM: Boolean(p.restrictM ?? pd.restrictM),
    M: p.M === undefined ? undefined : checkNonNegative(name('pfgm.M'), p.M),
  });
  const D = user.D ?? context.D;
  if (D === undefined) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `${name('D')} is required: the number of augmented dimensions (> 0, or Infinity for EDM)`,
    );
  }
  return Object.freeze({
    objective,
    D: checkD(D),
    batch: positiveInteger(name('batch'), user.batch ?? TRAINER.batch),
    microBatch: nonNegativeInteger(name('microBatch'), user.microBatch ?? base.microBatch),
    stf: Boolean(user.stf ?? base.stf),
    lr: checkPositive(name('lr'), user.lr ?? base.lr),
    lrRampupKimg: checkNonNegative(name('lrRampupKimg'), user.lrRampupKimg ?? base.lrRampupKimg),
    beta1: unitInterval(name('beta1'), user.beta1 ?? base.beta1),
    beta2: unitInterval(name('beta2'), user.beta2 ?? base.beta2),
    eps: checkPositive(name('eps'), user.eps ?? base.eps),
    gradClip: checkNonNegative(name('gradClip'), user.gradClip ?? base.gradClip),
    emaHalflifeKimg: checkNonNegative(name('emaHalflifeKimg'), user.emaHalflifeKimg ?? base.emaHalflifeKimg),
    emaRampupRatio: checkNonNegative(name('emaRampupRatio'), user.emaRampupRatio ?? base.emaRampupRatio),
    pMean: checkFinite(name('pMean'), user.pMean ?? base.pMean),
    pStd: checkNonNegative(name('pStd'), user.pStd ?? base.pStd),
    seed: nonNegativeInteger(name('seed'), user.seed ?? base.seed),
    xflip: Boolean(user.xflip ?? TRAINER.xflip),
    tickKimg: user.tickKimg === undefined ? undefined : checkNonNegative(name('tickKimg'), user.tickKimg),
    checkpointTicks: checkInteger(name('checkpointTicks'), user.checkpointTicks ?? TRAINER.checkpointTicks, 0),
    pfgm,
  });
}

/**
 * The one mapping of resolved options to the native step's (src/native/binding/network_binding.cc
 * reads each field and requires all of them). @internal
 */
export function toNativeTrainOptions(o: ResolvedTrainOptions): NativeTrainOptions {
  return {
    D: o.D,
    seed: o.seed,
    pMean: o.pMean,
    pStd: o.pStd,
    microBatch: o.microBatch,
    stf: o.stf,
    lr: o.lr,
    beta1: o.beta1,
    beta2: o.beta2,
    eps: o.eps,
    lrRampupKimg: o.lrRampupKimg,
    gradClip: o.gradClip,
    emaHalflifeKimg: o.emaHalflifeKimg,
    emaRampupRatio: o.emaRampupRatio,
  };
}

/**
 * The longest run {@link Trainer.run} and `pfgm train` accept: 10^12 steps or 10^12 thousand
 * images (far beyond any real run; larger numbers are typing mistakes, and beyond 2^53 counts
 * are no longer exact).
 */
export const MAX_RUN_LENGTH = 1e12;

/**
 * Checks a run's length: `steps` a safe integer in [0, {@link MAX_RUN_LENGTH}], `kimg` a finite
 * number in [0, {@link MAX_RUN_LENGTH}].
 *
 * @param run - the length; either field may be absent
 * @param label - how the message names an option (default: its name)
 * @throws PfgmError `ERR_PFGM_ARGUMENT` naming the option, its value and the range.
 */
export function checkRunLength(
  run: { steps?: number; kimg?: number },
  label: (option: string) => string = (option) => option,
): void {
  const { steps, kimg } = run;
  if (
    steps !== undefined &&
    (typeof steps !== 'number' || !Number.isSafeInteger(steps) || steps < 0 || steps > MAX_RUN_LENGTH)
  ) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `${label('steps')} must be an integer from 0 to ${MAX_RUN_LENGTH} (10^12), got ${String(steps)}`,
    );
  }
  if (kimg !== undefined && (typeof kimg !== 'number' || !Number.isFinite(kimg) || kimg < 0 || kimg > MAX_RUN_LENGTH)) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `${label('kimg')} must be a number from 0 to ${MAX_RUN_LENGTH} (10^12), got ${String(kimg)}`,
    );
  }
}
