// Unbounded requests are refused before anything is allocated or read: a batch whose estimated
// memory exceeds what is available (ERR_PFGM_OUT_OF_MEMORY naming the largest batch that fits),
// and a run length that is not a safe integer or beyond the documented maximum.
import { describe, expect, it } from 'vitest';
import type { Batch, Dataset } from '../../src/data/dataset.js';
import { toy } from '../../src/data/toy.js';
import { PfgmError } from '../../src/errors.js';
import { preset } from '../../src/models/config.js';
import { createNetwork } from '../../src/models/network.js';
import { MAX_RUN_LENGTH } from '../../src/physics/trainOptions.js';
import { checkTrainingMemory, trainingMemory } from '../../src/train/memory.js';
import { Trainer } from '../../src/train/trainer.js';

const config = preset('mlp', { features: 2, hidden: 64, numBlocks: 2, embChannels: 64, noiseChannels: 16 });

function counted(): { data: Dataset; reads: () => number } {
  const inner = toy('moons', { count: 1000, seed: 0 });
  let reads = 0;
  return {
    reads: () => reads,
    data: {
      info: inner.info,
      close: () => inner.close(),
      [Symbol.asyncDispose]: () => inner.close(),
      read(indices: ArrayLike<number>): Promise<Batch> {
        reads++;
        return inner.read(indices);
      },
    },
  };
}

async function failure(body: () => Promise<unknown>): Promise<PfgmError> {
  try {
    await body();
  } catch (error) {
    if (error instanceof PfgmError) return error;
    throw error;
  }
  throw new Error('expected a PfgmError');
}

describe('training memory', () => {
  it('refuses a batch of 10^8 before reading any data, naming the largest batch that fits', async () => {
    using net = createNetwork(config, { D: 128, sigmaData: 1 });
    const { data, reads } = counted();
    const trainer = new Trainer(net, data, { batch: 100_000_000 });
    const t0 = performance.now();
    const e = await failure(() => trainer.run({ steps: 1 }).next());
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(e.code).toBe('ERR_PFGM_OUT_OF_MEMORY');
    expect(e.message).toMatch(/a batch of 100000000 needs about .* the largest batch that fits is \d+: lower batch/);
    expect(reads()).toBe(0);
  });

  it('the largest batch named is the largest whose estimate fits', () => {
    using net = createNetwork(config, { D: 128, sigmaData: 1 });
    const shape = { batch: 1_000_000, microBatch: 0, readCount: (b: number) => b };
    const available = 200e6;
    let message = '';
    try {
      checkTrainingMemory(net, shape, { available, label: (o) => `--${o}` });
    } catch (error) {
      expect((error as PfgmError).code).toBe('ERR_PFGM_OUT_OF_MEMORY');
      message = (error as Error).message;
    }
    const largest = Number(/the largest batch that fits is (\d+): lower --batch/.exec(message)?.[1]);
    expect(largest).toBeGreaterThan(100);
    const need = (b: number) => trainingMemory(net, { batch: b, microBatch: 0, readCount: b }).bytes;
    expect(need(largest)).toBeLessThanOrEqual(available);
    expect(need(largest + 1)).toBeGreaterThan(available);
    expect(() => checkTrainingMemory(net, { ...shape, batch: largest }, { available })).not.toThrow();
    // A micro-batch bounds the activations: the same batch fits in chunks.
    expect(() =>
      checkTrainingMemory(net, { ...shape, batch: largest * 4, microBatch: 64 }, { available }),
    ).not.toThrow();
  });

  it('an ordinary batch passes with the real free memory', async () => {
    using net = createNetwork(config, { D: 128, sigmaData: 1 });
    const trainer = new Trainer(net, toy('moons', { count: 500 }), { batch: 256 });
    for await (const _ of trainer.run({ steps: 1 })) {
      // one step
    }
    expect(net.counters().steps).toBe(1);
  });
});

describe('run length', () => {
  it.each([1e300, 1.5, -1, Number.NaN, MAX_RUN_LENGTH + 1])('refuses steps = %s', async (steps) => {
    using net = createNetwork(config, { D: 128, sigmaData: 1 });
    const { data, reads } = counted();
    const e = await failure(() => new Trainer(net, data, { batch: 16 }).run({ steps }).next());
    expect(e.code).toBe('ERR_PFGM_ARGUMENT');
    expect(e.message).toMatch(/steps must be an integer from 0 to 1000000000000/);
    expect(reads()).toBe(0);
  });

  it.each([1e300, Number.POSITIVE_INFINITY, -2])('refuses kimg = %s', async (kimg) => {
    using net = createNetwork(config, { D: 128, sigmaData: 1 });
    const e = await failure(() => new Trainer(net, toy('moons', { count: 100 }), { batch: 16 }).run({ kimg }).next());
    expect(e.message).toMatch(/kimg must be a number from 0 to 1000000000000/);
  });
});
