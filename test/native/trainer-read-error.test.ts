// A batch read that fails while a step runs (the Trainer reads the next batch ahead) surfaces
// through run() — it is not an unhandled rejection that ends the process — after the steps
// trained so far are saved, with the data position of the batch that failed.
import { describe, expect, it } from 'vitest';
import type { Batch, Dataset } from '../../src/data/dataset.js';
import { toy } from '../../src/data/toy.js';
import { PfgmError } from '../../src/errors.js';
import { preset } from '../../src/models/config.js';
import { createNetwork } from '../../src/models/network.js';
import { Trainer } from '../../src/train/trainer.js';

const config = preset('mlp', { features: 2, hidden: 16, numBlocks: 1, embChannels: 16, noiseChannels: 8 });

/** A dataset whose `failAt`-th read (0-based) rejects a little later, while a step runs. */
function failingData(failAt: number): Dataset {
  const inner = toy('moons', { count: 500, seed: 0 });
  let reads = 0;
  return {
    info: inner.info,
    close: () => inner.close(),
    [Symbol.asyncDispose]: () => inner.close(),
    read(indices: ArrayLike<number>): Promise<Batch> {
      if (reads++ !== failAt) return inner.read(indices);
      return new Promise((_, reject) =>
        setTimeout(() => reject(new PfgmError('ERR_PFGM_NUMERIC', 'row 500 holds NaN')), 0),
      );
    },
  };
}

describe('Trainer: a failed read-ahead', () => {
  it('rejects run() with the read error after saving the last good step', async () => {
    using net = createNetwork(config, { D: 128, sigmaData: 1 });
    const saved: { steps: number; position: number }[] = [];
    // Read 0 is the first batch; read 4 is the read-ahead that runs during step 4.
    const trainer = new Trainer(net, failingData(4), {
      batch: 16,
      tickKimg: 1,
      checkpoint: async (t) => {
        saved.push({ steps: net.counters().steps, position: t.state().position });
      },
    });
    let caught: unknown;
    try {
      for await (const _ of trainer.run({ steps: 200 })) {
        // consume
      }
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(PfgmError);
    expect((caught as PfgmError).code).toBe('ERR_PFGM_NUMERIC');
    expect(net.counters().steps).toBe(4);
    // Four batches of 16 trained: the resume point is the failed batch, sample 64.
    expect(saved).toEqual([{ steps: 4, position: 64 }]);
    expect(trainer.state()).toMatchObject({ epoch: 0, position: 64 });
  });

  it('a failure of the first read saves nothing and still rejects', async () => {
    using net = createNetwork(config, { D: 128, sigmaData: 1 });
    let saves = 0;
    const trainer = new Trainer(net, failingData(0), {
      batch: 16,
      checkpoint: async () => {
        saves++;
      },
    });
    await expect(trainer.run({ steps: 10 }).next()).rejects.toThrow('row 500 holds NaN');
    expect(saves).toBe(0);
  });
});
