// The Trainer's contracts beyond one step: ticks, aborting (checkpoint first, then the abort
// error), and a resume point that counts exactly the batches trained.
import { describe, expect, it } from 'vitest';
import { toy } from '../../src/data/toy.js';
import { preset } from '../../src/models/config.js';
import { createNetwork } from '../../src/models/network.js';
import { type TickStats, Trainer } from '../../src/train/trainer.js';

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
});
