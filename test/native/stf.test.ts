// The stable target field (docs/method.md §2.4) lowers the variance of the training target: measured on
// 8 Gaussians at sigma = 1, D = 128, the STF target (posterior mean over the 256-sample batch)
// is far closer to the ideal target E[y | x] (posterior mean over 8192 fresh samples) than the
// plain target y is; and the training step uses it.
import { describe, expect, it } from 'vitest';
import { native } from '../../src/addon/load.js';
import { toySampler } from '../../src/data/toy.js';
import { preset } from '../../src/models/config.js';
import { createNetwork } from '../../src/models/network.js';
import { perturb } from '../../src/physics/perturb.js';
import { tensor } from '../../src/tensor.js';

const mse = (a: Float32Array, b: Float32Array) =>
  a.reduce((s, v, i) => s + (v - (b[i] as number)) ** 2, 0) / (a.length / 2);

describe('stable target field', () => {
  it('lowers the variance of the target around the ideal E[y | x]', async () => {
    const y = toySampler('gaussians')(256, 1);
    const reference = toySampler('gaussians')(8192, 2);
    const sigma = 1;
    const yt = tensor(y, [256, 2], { device: 'cpu' });
    const xt = await perturb(yt, { sigma, D: 128, seed: 3 });
    const x = (await xt.data()) as Float32Array;
    const s = new Float32Array(256).fill(sigma);
    const run = async (refs: Float32Array) =>
      (
        await native().runOp(
          'posterior_mean',
          { D: 128 },
          {
            x: { shape: [256, 2], data: x },
            y: { shape: [refs.length / 2, 2], data: refs },
            sigma: { shape: [256], data: s },
          },
        )
      ).mean?.data as Float32Array;
    const ideal = await run(reference);
    const stf = await run(y);
    const plainError = mse(y, ideal);
    const stfError = mse(stf, ideal);
    expect(plainError).toBeGreaterThan(0.3);
    expect(stfError, `STF ${stfError.toFixed(4)} vs plain ${plainError.toFixed(4)}`).toBeLessThan(plainError / 5);
    yt.dispose();
    xt.dispose();
  });

  it('changes what the training step fits', async () => {
    const y = toySampler('gaussians')(128, 4);
    const losses = [];
    for (const stf of [false, true]) {
      using net = createNetwork(preset('mlp', { features: 2, hidden: 32, numBlocks: 1 }), {
        D: 128,
        sigmaData: 1,
      });
      losses.push((await net.trainStep(y, { D: 128, seed: 9, stf, pMean: 0.5, pStd: 0.1 })).loss);
    }
    // At sigma around e^0.5 the STF target is near the batch mean, which the untrained network
    // (output ~ c_skip x) misses by less than it misses the scattered clean points.
    expect(losses[1]).toBeLessThan(losses[0] as number);
    expect(Number.isFinite(losses[1])).toBe(true);
  });
});
