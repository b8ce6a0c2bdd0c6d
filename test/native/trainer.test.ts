// The Trainer's contracts beyond one step: ticks, aborting (checkpoint first, then the abort
// error), and a resume point that counts exactly the batches trained.
import { describe, expect, it } from 'vitest';
import { toy } from '../../src/data/toy.js';
import { preset } from '../../src/models/config.js';
import { createNetwork } from '../../src/models/network.js';
import { TRAIN_DEFAULTS } from '../../src/physics/trainOptions.js';
import { type TickStats, Trainer, type TrainerOptions } from '../../src/train/trainer.js';

const config = preset('mlp', { features: 2, hidden: 16, numBlocks: 1, embChannels: 16, noiseChannels: 8 });

describe('Trainer', () => {
  it('ticks, and on abort writes a checkpoint before rejecting with the reason', async () => {
    using net = createNetwork(config, { D: 128, sigmaData: 1 });
    const data = toy('rings', { count: 500, seed: 0 });
    const saved: { steps: number; position: number; epoch: number }[] = [];
    const abort = new AbortController();
    const ticks: TickStats[] = [];
    const trainer = new Trainer(net, data, {
      batch: 32,
      tickKimg: 0.064,
      checkpoint: async (t) => {
        saved.push({ steps: net.counters().steps, ...t.state() });
      },
      onProgress: (t) => {
        ticks.push(t);
        if (ticks.length === 3) abort.abort(new Error('stop here'));
      },
    });
    await expect(
      (async () => {
        for await (const _ of trainer.run({ steps: 100, signal: abort.signal })) {
          // consume
        }
      })(),
    ).rejects.toThrow('stop here');
    expect(ticks.map((t) => t.step)).toEqual([2, 4, 6]);
    expect(saved).toHaveLength(1);
    // Six batches of 32 from an epoch of 500: the resume point is sample 192 of epoch 0.
    expect(saved[0]).toMatchObject({ steps: 6, epoch: 0, position: 192 });
    expect(trainer.state()).toMatchObject({ epoch: 0, position: 192 });
    expect(ticks.every((t) => Number.isFinite(t.loss) && t.imagesPerSecond > 0)).toBe(true);
  });

  it('refuses data the network cannot take and runs without a length', async () => {
    using net = createNetwork(config);
    expect(() => new Trainer(net, toy('moons', { count: 10 }), { batch: 0 })).toThrow(
      /batch must be a positive integer/,
    );
    using images = createNetwork(
      preset('ddpmpp-small', { modelChannels: 8, channelMult: [1], imgResolution: 4, attnResolutions: [] }),
    );
    expect(() => new Trainer(images, toy('moons', { count: 10 }))).toThrow(/samples have shape \[2\]/);
    const trainer = new Trainer(net, toy('moons', { count: 10 }));
    await expect(trainer.run({}).next()).rejects.toThrow(/say how long to train/);
  });

  it('conditions on the labels only when the network is conditional, and on matching ones', async () => {
    // An unconditional network ignores the labels of labelled data.
    using plain = createNetwork(config, { D: 128, sigmaData: 1 });
    const labelled = toy('gaussians', { count: 64, labels: true });
    for await (const _ of new Trainer(plain, labelled, { batch: 16 }).run({ steps: 1 })) {
      // one step
    }
    expect(plain.counters().steps).toBe(1);
    const classes = labelled.info.labelDim;
    using cond = createNetwork({ ...config, labelDim: classes, labelDropout: 0.1 }, { D: 128, sigmaData: 1 });
    for await (const _ of new Trainer(cond, labelled, { batch: 16 }).run({ steps: 1 })) {
      // one step
    }
    expect(cond.counters().steps).toBe(1);
    expect(() => new Trainer(cond, toy('moons', { count: 10 }))).toThrow(/class-conditional.*has no labels/);
    using wrong = createNetwork({ ...config, labelDim: classes + 1 });
    expect(() => new Trainer(wrong, labelled)).toThrow(new RegExp(`takes ${classes + 1} classes.*has ${classes}`));
  });

  it('refuses NaN, infinite and out-of-range options when it is made', () => {
    using net = createNetwork(config);
    const data = toy('moons', { count: 10 });
    const bad: [TrainerOptions, RegExp][] = [
      [{ lr: Number.NaN }, /lr must be a finite number > 0, got NaN/],
      [{ lr: Number.POSITIVE_INFINITY }, /lr must be a finite number > 0, got Infinity/],
      [{ lr: -1 }, /lr must be a finite number > 0, got -1/],
      [{ emaHalflifeKimg: Number.NaN }, /emaHalflifeKimg must be a finite number >= 0, got NaN/],
      [{ beta1: 2 }, /beta1 must be a number in \[0, 1\), got 2/],
      [{ eps: -1 }, /eps must be a finite number > 0, got -1/],
      [{ gradClip: -1 }, /gradClip must be a finite number >= 0, got -1/],
      [{ seed: -1 }, /seed must be a non-negative integer .*got -1/],
      [{ seed: Number.NaN }, /seed must be a non-negative integer .*got NaN/],
      [{ lrRampupKimg: -1 }, /lrRampupKimg must be a finite number >= 0, got -1/],
      [{ emaRampupRatio: Number.NaN }, /emaRampupRatio must be a finite number >= 0, got NaN/],
    ];
    for (const [options, message] of bad) {
      expect(() => new Trainer(net, data, options), JSON.stringify(options)).toThrow(message);
      expect(() => new Trainer(net, data, options)).toThrow(expect.objectContaining({ code: 'ERR_PFGM_ARGUMENT' }));
    }
    const t = new Trainer(net, data, { lr: 2e-4, seed: 7 });
    expect(Object.isFrozen(t.options)).toBe(true);
    expect(t.options).toMatchObject({
      lr: 2e-4,
      seed: 7,
      D: net.D,
      beta1: TRAIN_DEFAULTS.step.beta1,
      lrRampupKimg: TRAIN_DEFAULTS.trainer.lrRampupKimg,
    });
    expect(t.options.pfgm.refBatch).toBe(10); // at most the dataset
  });
});
