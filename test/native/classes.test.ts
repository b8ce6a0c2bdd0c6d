// Sampling a class-conditional model without a class: one uniform random class per sample, read
// from the sample's own stream (purpose 14), so the classes do not depend on the batch. A
// stand-in model whose denoiser returns the index of its one-hot label reveals, through Euler's
// last step (x = D(x, sigma)), the class each sample was given.
import { describe, expect, it } from 'vitest';
import { native } from '../../src/addon/load.js';
import { oneHotLabels, PURPOSE_CLASS, randomClasses } from '../../src/physics/classes.js';
import { sample } from '../../src/sample/sample.js';
import type { DenoiseOptions, Sampleable } from '../../src/sample/types.js';

const K = 10;

/** D(x, sigma) = the sample's class (argmax of its label row), or -1 for an all-zero row. */
const revealer: Sampleable = {
  D: 128,
  sampleShape: [1, 1, 1],
  labelDim: K,
  async denoise(x: Float32Array, _sigma: Float32Array | number, options?: DenoiseOptions) {
    const labels = options?.labels;
    if (labels === undefined || labels.length !== x.length * K) throw new Error('labels missing or mis-sized');
    return Float32Array.from(x, (_, i) => {
      const row = labels.subarray(i * K, (i + 1) * K);
      const k = row.indexOf(1);
      return row.every((v, j) => v === (j === k ? 1 : 0)) ? k : -1;
    });
  },
};

async function classesOf(options: { count: number; seed?: number | number[]; sampleOffset?: number }) {
  const { x } = await sample(revealer, { ...options, solver: 'euler', steps: 2 });
  return Array.from(x);
}

describe('random classes of conditional sampling', () => {
  it('draws every class with frequencies consistent with uniform (chi-square, 5000 draws)', async () => {
    const n = 5000;
    const got = await classesOf({ count: n, seed: 0 });
    expect(got).toEqual(Array.from(randomClasses(n, K, { seed: 0 })));
    const counts = new Array<number>(K).fill(0);
    for (const k of got) counts[k] = (counts[k] as number) + 1;
    expect(counts.every((c) => c > 0)).toBe(true);
    const expected = n / K;
    const chi2 = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
    // 9 degrees of freedom: P(chi2 > 27.88) = 0.001 under uniform.
    expect(chi2).toBeLessThan(27.88);
  });

  it('gives a sample the same class in a batch of one as in the whole batch', async () => {
    const all = await classesOf({ count: 64, seed: 7 });
    for (const i of [0, 5, 33, 63]) expect(await classesOf({ count: 1, seed: 7, sampleOffset: i })).toEqual([all[i]]);
    const seeds = [11, 12, 13, 14, 15];
    const perSeed = await classesOf({ count: seeds.length, seed: seeds });
    for (const [i, s] of seeds.entries()) expect(await classesOf({ count: 1, seed: [s] })).toEqual([perSeed[i]]);
    // A different seed draws different classes.
    expect(await classesOf({ count: 64, seed: 8 })).not.toEqual(all);
  });

  it('reads lane 0 of block 0 of the stream (seed, sample, step 0, purpose 14)', () => {
    const seed = 0x1234_5678_9abcn;
    const [c] = randomClasses(1, K, { seed, sampleOffset: 3 });
    const r = native().philox(Uint32Array.of(0, 3, 0, PURPOSE_CLASS), Uint32Array.of(0x5678_9abc, 0x1234));
    expect(c).toBe(Math.floor(((r[0] as number) * K) / 2 ** 32));
  });

  it('keeps given labels and zero rows (the unconditional model)', async () => {
    const labels = oneHotLabels([3, -1, 9], K);
    const { x } = await sample(revealer, { count: 3, labels, solver: 'euler', steps: 2 });
    expect(Array.from(x)).toEqual([3, -1, 9]);
    expect(() => oneHotLabels([10], K)).toThrow(/outside 0\.\.9/);
  });
});
