// Stopping a run, checkpointing it and resuming from the files continues bit-identically: the
// weights, EMA, Adam moments and counters after N steps equal those of an uninterrupted run,
// including when the stop falls on an epoch boundary (the data order is part of the state).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { toy } from '../../src/data/toy.js';
import { preset } from '../../src/models/config.js';
import { createNetwork, type Network } from '../../src/models/network.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.js';
import { Trainer, type TrainerOptions, type TrainerState } from '../../src/train/trainer.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const config = preset('mlp', {
  features: 2,
  hidden: 32,
  numBlocks: 2,
  embChannels: 32,
  noiseChannels: 16,
  dropout: 0.1,
});
const options: TrainerOptions = { batch: 64, lr: 1e-3, lrRampupKimg: 0.5, emaHalflifeKimg: 1, seed: 3 };

async function runTo(net: Network, count: number, steps: number, state?: TrainerState) {
  const data = toy('moons', { count, seed: 0 });
  const trainer = new Trainer(net, data, options);
  if (state) trainer.loadState(state);
  for await (const _ of trainer.run({ steps })) {
    // ticks are not needed here
  }
  return trainer;
}

describe.each([1000, 768])('resume with %i samples (epoch of %i / 64 steps)', (count) => {
  it('continues bit-identically from a checkpoint', async () => {
    using straight = createNetwork(config, { D: 128, sigmaData: 1, seed: 0 });
    await runTo(straight, count, 30);

    const dir = await mkdtemp(join(tmpdir(), 'pfgm-resume-'));
    dirs.push(dir);
    {
      using first = createNetwork(config, { D: 128, sigmaData: 1, seed: 0 });
      const trainer = await runTo(first, count, 12);
      await saveCheckpoint(dir, first, { objective: 'pfgmpp' }, { trainer: trainer.state() });
    }
    const ckpt = await loadCheckpoint<{ trainer: TrainerState }>(dir);
    using resumed = ckpt.net;
    expect(resumed.counters().steps).toBe(12);
    await runTo(resumed, count, 30, ckpt.extra.trainer);

    const a = straight.flatWeights();
    const b = resumed.flatWeights();
    expect(b.raw).toEqual(a.raw);
    expect(b.ema).toEqual(a.ema);
    expect(resumed.optimizerState()).toEqual(straight.optimizerState());
  });
});
