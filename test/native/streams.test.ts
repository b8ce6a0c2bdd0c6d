// Randomness (docs/dev/architecture.md): a sample's draws depend on (seed, sample index, purpose, step) only — not
// on the batch it is drawn in, nor on the dtype beyond rounding.
import { describe, expect, it } from 'vitest';
import { perturb, pfgmPerturb, samplePrior, sampleTrainingSigma, tensor } from '../../src/index.js';

const N = 784;

function ramp(count: number, n: number, offset = 0): Float32Array {
  return Float32Array.from({ length: count * n }, (_, i) => Math.cos((i + offset * n) * 0.01));
}

describe('batch-size independence', () => {
  it('perturb: batch of 64 equals 64 batches of 1 with sampleOffset', async () => {
    const sigma = Array.from({ length: 64 }, (_, i) => 0.05 * (i + 1));
    const big = await perturb(tensor(ramp(64, N), [64, N]), { sigma, D: 128, seed: 42, step: 7 });
    const bigData = await big.data();
    for (const i of [0, 1, 17, 63]) {
      const one = await perturb(tensor(ramp(1, N, i), [1, N]), {
        sigma: [sigma[i] as number],
        D: 128,
        seed: 42,
        step: 7,
        sampleOffset: i,
      });
      expect(await one.data()).toEqual(bigData.subarray(i * N, (i + 1) * N));
    }
  });

  it('per-sample seeds: sample i of any batch is the draw of seed[i]', async () => {
    const seeds = Array.from({ length: 64 }, (_, i) => 5000 + 3 * i);
    const big = await samplePrior({ shape: [1, 28, 28], count: 64, D: 1, seed: seeds });
    const bigData = await big.data();
    for (const i of [0, 31, 63]) {
      const one = await samplePrior({ shape: [1, 28, 28], count: 1, D: 1, seed: [seeds[i] as number] });
      expect(await one.data()).toEqual(bigData.subarray(i * N, (i + 1) * N));
    }
  });

  it('prior, PFGM perturbation and training sigmas are batch-independent too', async () => {
    const prior = await (await samplePrior({ shape: [N], count: 64, D: 8, seed: 3 })).data();
    const last = await (await samplePrior({ shape: [N], count: 1, D: 8, seed: 3, sampleOffset: 63 })).data();
    expect(last).toEqual(prior.subarray(63 * N));

    const y = ramp(64, N);
    const big = await pfgmPerturb(tensor(y, [64, N]), { M: 100, seed: 9 });
    const one = await pfgmPerturb(tensor(y.slice(40 * N, 41 * N), [1, N]), { M: 100, seed: 9, sampleOffset: 40 });
    expect(await one.x.data()).toEqual((await big.x.data()).subarray(40 * N, 41 * N));
    expect((await one.z.data())[0]).toBe((await big.z.data())[40]);

    const sig = await (await sampleTrainingSigma({ count: 64, seed: 1, step: 2 })).data();
    const sig1 = await (await sampleTrainingSigma({ count: 1, seed: 1, step: 2, sampleOffset: 10 })).data();
    expect(sig1[0]).toBe(sig[10]);
  });

  it('seed, step and purpose each change the stream; the same key repeats exactly', async () => {
    const y = tensor(new Float32Array(4 * N), [4, N]);
    const draw = async (o: { seed: number; step?: number }) =>
      Array.from(await (await perturb(y, { sigma: 1, D: 128, ...o })).data());
    const a = await draw({ seed: 1 });
    expect(await draw({ seed: 1 })).toEqual(a);
    expect(await draw({ seed: 2 })).not.toEqual(a);
    expect(await draw({ seed: 1, step: 1 })).not.toEqual(a);
    const prior = Array.from(await (await samplePrior({ shape: [N], count: 4, D: 128, sigmaMax: 1, seed: 1 })).data());
    expect(prior).not.toEqual(a); // prior and training noise use different purposes
    // seeds above 2^53 go through bigint
    const big = await perturb(y, { sigma: 1, D: 128, seed: (1n << 63n) + 5n });
    expect(Array.from(await big.data())).not.toEqual(a);
  });

  it('f32 draws are the f64 draws rounded to float', async () => {
    const p = { shape: [N], count: 8, D: 2.5, sigmaMax: 3, seed: 12 };
    const f32 = await (await samplePrior({ ...p, dtype: 'f32' })).data();
    const f64 = await (await samplePrior({ ...p, dtype: 'f64' })).data();
    expect(Array.from(f32)).toEqual(Array.from(f64, Math.fround));
  });

  it('per-sample sigma scales each sample of the same stream', async () => {
    const y = tensor(new Float64Array(3 * N), [3, N]);
    const unit = await (await perturb(y, { sigma: 1, D: 16, seed: 4 })).data();
    const scaled = await (await perturb(y, { sigma: [0, 2, 0.5], D: 16, seed: 4 })).data();
    for (let j = 0; j < N; j++) {
      expect(scaled[j]).toBe(0);
      expect(scaled[N + j]).toBeCloseTo(2 * (unit[N + j] as number), 12);
      expect(scaled[2 * N + j]).toBeCloseTo(0.5 * (unit[2 * N + j] as number), 12);
    }
    const fromTensor = await (
      await perturb(y, { sigma: tensor(new Float32Array([0, 2, 0.5])), D: 16, seed: 4 })
    ).data();
    expect(fromTensor).toEqual(scaled);
  });
});
