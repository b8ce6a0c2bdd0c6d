// resolveTrainOptions: the one place training options get their defaults and their checks. Every
// bad value is refused with ERR_PFGM_ARGUMENT naming the option, the value and what is accepted;
// every default comes from TRAIN_DEFAULTS, and resolving twice changes nothing.
import { describe, expect, it } from 'vitest';
import {
  PfgmError,
  type ResolveTrainContext,
  resolveTrainOptions,
  TRAIN_DEFAULTS,
  type TrainOptions,
} from '../../src/index.js';

const NaN_ = Number.NaN;
const Inf = Number.POSITIVE_INFINITY;

function refuse(options: TrainOptions, message: RegExp, context: ResolveTrainContext = { D: 128 }) {
  let error: unknown;
  try {
    resolveTrainOptions(options, context);
  } catch (e) {
    error = e;
  }
  expect(error, `${JSON.stringify(options)} should be refused`).toBeInstanceOf(PfgmError);
  expect((error as PfgmError).code).toBe('ERR_PFGM_ARGUMENT');
  expect((error as PfgmError).message).toMatch(message);
}

describe('resolveTrainOptions', () => {
  it('fills every field from TRAIN_DEFAULTS: the trainer group over the step group', () => {
    const { step, trainer } = TRAIN_DEFAULTS;
    const o = resolveTrainOptions({}, { D: 128 });
    expect(o).toEqual({
      objective: 'pfgmpp',
      D: 128,
      batch: trainer.batch,
      microBatch: step.microBatch,
      stf: step.stf,
      lr: trainer.lr,
      lrRampupKimg: trainer.lrRampupKimg,
      beta1: step.beta1,
      beta2: step.beta2,
      eps: step.eps,
      gradClip: step.gradClip,
      emaHalflifeKimg: step.emaHalflifeKimg,
      emaRampupRatio: step.emaRampupRatio,
      pMean: step.pMean,
      pStd: step.pStd,
      seed: step.seed,
      xflip: trainer.xflip,
      tickKimg: undefined,
      checkpointTicks: trainer.checkpointTicks,
      pfgm: { ...trainer.pfgm, M: undefined },
    });
    expect(Object.isFrozen(o)).toBe(true);
    expect(Object.isFrozen(o.pfgm)).toBe(true);
    const bare = resolveTrainOptions({ D: 64 }, { defaults: 'step' });
    expect(bare).toMatchObject({ D: 64, lr: step.lr, lrRampupKimg: step.lrRampupKimg });
    // Resolving a resolved object changes nothing, with either group of defaults.
    expect(resolveTrainOptions(o, { defaults: 'step' })).toEqual(o);
    expect(resolveTrainOptions(bare)).toEqual(bare);
  });

  it('holds the defaults it has always had', () => {
    expect(TRAIN_DEFAULTS.step).toEqual({
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
    expect(TRAIN_DEFAULTS.trainer).toEqual({
      batch: 64,
      lr: 1e-3,
      lrRampupKimg: 10000,
      xflip: false,
      checkpointTicks: 0,
      pfgm: { refBatch: 4096, tau: 0.03, s: 0.01, gamma: 5, restrictM: true },
    });
    expect(TRAIN_DEFAULTS.cli).toEqual({
      D: 128,
      kimg: 12.8,
      batch: { image: 64, vector: 256 },
      lr: { image: 2e-4, vector: 1e-3 },
      lrRampupRunDivisor: 10,
      lrRampupKimgMax: 10000,
      sigmaData: { image: 0.5, vector: 1 },
      // EDM's usual label dropout for classifier-free guidance, used with --cond only.
      labelDropout: 0.1,
    });
    expect(TRAIN_DEFAULTS.network).toEqual({ sigmaData: 0.5 });
    expect(Object.isFrozen(TRAIN_DEFAULTS)).toBe(true);
    expect(Object.isFrozen(TRAIN_DEFAULTS.step)).toBe(true);
    expect(Object.isFrozen(TRAIN_DEFAULTS.trainer.pfgm)).toBe(true);
    expect(Object.isFrozen(TRAIN_DEFAULTS.cli.lr)).toBe(true);
  });

  it('keeps what the user sets at the edges of each range', () => {
    const o = resolveTrainOptions({
      D: Inf,
      lr: 5,
      lrRampupKimg: 0,
      beta1: 0,
      beta2: 0.9999,
      eps: 1e-30,
      gradClip: 0,
      emaHalflifeKimg: 0,
      emaRampupRatio: 0,
      pMean: -3,
      pStd: 0,
      seed: Number.MAX_SAFE_INTEGER,
      microBatch: 0,
      tickKimg: 0,
      checkpointTicks: 3,
      pfgm: { refBatch: 1, tau: 0.5, s: 1, gamma: 0, restrictM: false, M: 0 },
    });
    expect(o).toMatchObject({ D: Inf, lr: 5, beta1: 0, beta2: 0.9999, eps: 1e-30, gradClip: 0, pStd: 0 });
    expect(o.seed).toBe(Number.MAX_SAFE_INTEGER);
    expect(o.pfgm).toEqual({ refBatch: 1, tau: 0.5, s: 1, gamma: 0, restrictM: false, M: 0 });
    expect(resolveTrainOptions({ gradClip: 1.5, microBatch: 8, stf: true }, { D: 1 })).toMatchObject({
      gradClip: 1.5,
      microBatch: 8,
      stf: true,
    });
  });

  const bad: [TrainOptions, RegExp][] = [
    [{ lr: NaN_ }, /^lr must be a finite number > 0, got NaN$/],
    [{ lr: Inf }, /^lr must be a finite number > 0, got Infinity$/],
    [{ lr: -1 }, /^lr must be a finite number > 0, got -1$/],
    [{ lr: 0 }, /^lr must be a finite number > 0, got 0$/],
    [{ lr: '1e-3' as unknown as number }, /^lr must be a finite number > 0, got "1e-3"$/],
    [{ lrRampupKimg: NaN_ }, /^lrRampupKimg must be a finite number >= 0, got NaN$/],
    [{ lrRampupKimg: -1 }, /^lrRampupKimg must be a finite number >= 0, got -1$/],
    [{ lrRampupKimg: Inf }, /^lrRampupKimg must be a finite number >= 0, got Infinity$/],
    [{ beta1: 2 }, /^beta1 must be a number in \[0, 1\), got 2$/],
    [{ beta1: 1 }, /^beta1 must be a number in \[0, 1\), got 1$/],
    [{ beta1: -0.1 }, /^beta1 must be a number in \[0, 1\), got -0.1$/],
    [{ beta2: NaN_ }, /^beta2 must be a number in \[0, 1\), got NaN$/],
    [{ eps: -1 }, /^eps must be a finite number > 0, got -1$/],
    [{ eps: 0 }, /^eps must be a finite number > 0, got 0$/],
    [{ gradClip: -1 }, /^gradClip must be a finite number >= 0, got -1$/],
    [{ gradClip: NaN_ }, /^gradClip must be a finite number >= 0, got NaN$/],
    [{ emaHalflifeKimg: NaN_ }, /^emaHalflifeKimg must be a finite number >= 0, got NaN$/],
    [{ emaHalflifeKimg: Inf }, /^emaHalflifeKimg must be a finite number >= 0, got Infinity$/],
    [{ emaHalflifeKimg: -1 }, /^emaHalflifeKimg must be a finite number >= 0, got -1$/],
    [{ emaRampupRatio: -0.5 }, /^emaRampupRatio must be a finite number >= 0, got -0.5$/],
    [{ pMean: NaN_ }, /^pMean must be a finite number, got NaN$/],
    [{ pMean: -Inf }, /^pMean must be a finite number, got -Infinity$/],
    [{ pStd: -1 }, /^pStd must be a finite number >= 0, got -1$/],
    [{ seed: -1 }, /^seed must be a non-negative integer \(at most 2\^53 - 1\), got -1$/],
    [{ seed: NaN_ }, /^seed must be a non-negative integer .*, got NaN$/],
    [{ seed: 1.5 }, /^seed must be a non-negative integer .*, got 1.5$/],
    [{ seed: 2 ** 53 }, /^seed must be a non-negative integer .*, got 9007199254740992$/],
    [{ batch: 0 }, /^batch must be a positive integer, got 0$/],
    [{ batch: 2.5 }, /^batch must be a positive integer, got 2.5$/],
    [{ microBatch: -2 }, /^microBatch must be a non-negative integer .*, got -2$/],
    [{ D: 0 }, /^D must be a number > 0 or Infinity, got 0/],
    [{ D: NaN_ }, /^D must be a number > 0 or Infinity, got NaN/],
    [{ tickKimg: -1 }, /^tickKimg must be a finite number >= 0, got -1$/],
    [{ checkpointTicks: 1.5 }, /^checkpointTicks must be an integer in \[0, \d+\], got 1.5$/],
    [{ objective: 'edm' as never }, /^objective must be 'pfgmpp' or 'pfgm', got 'edm'$/],
    [{ objective: 'pfgm', stf: true }, /^stf is an option of the pfgmpp objective/],
    [{ objective: 'pfgm', D: 128 }, /^the pfgm objective is D = 1, got D = 128$/],
    [{ pfgm: { refBatch: 0 } }, /^pfgm.refBatch must be a positive integer, got 0$/],
    [{ pfgm: { tau: -1 } }, /^pfgm.tau must be a finite number > 0, got -1$/],
    [{ pfgm: { s: NaN_ } }, /^pfgm.s must be a finite number > 0, got NaN$/],
    [{ pfgm: { gamma: -1 } }, /^pfgm.gamma must be a finite number >= 0, got -1$/],
    [{ pfgm: { M: Inf } }, /^pfgm.M must be a finite number >= 0, got Infinity$/],
  ];
  it.each(bad)('refuses %j', (options, message) => {
    refuse(options, message);
    // The same check with a bare step's defaults.
    refuse(options, message, { D: 128, defaults: 'step' });
  });

  it('needs D from the options or the context, and names options as the caller asks', () => {
    refuse({}, /^D is required/, {});
    expect(resolveTrainOptions({ D: 2 }).D).toBe(2);
    const flag = (option: string) => `--${option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    refuse({ lrRampupKimg: -1 }, /^--lr-rampup-kimg must be a finite number >= 0, got -1$/, { D: 1, label: flag });
  });
});
