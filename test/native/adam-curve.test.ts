// 200 native training steps (Adam with EDM's learning-rate ramp-up, EDM's EMA) on a fixed batch
// track PyTorch's: the loss curve step by step, the learning rates, and the final raw and EMA
// weights (test/fixtures/gen/networks.py, torch.optim.Adam).
import { describe, expect, it } from 'vitest';
import { fromNativeConfig } from '../../src/models/config.js';
import { createNetwork } from '../../src/models/network.js';
import { compare, loadFixture } from '../helpers/golden.js';

describe('200 Adam steps on a fixed batch', () => {
  it('track PyTorch: loss curve, learning rates, final and EMA weights', async () => {
    const fx = loadFixture('networks/adam200.safetensors');
    const train = JSON.parse(fx.file.metadata.train ?? '{}');
    using net = createNetwork(fromNativeConfig(JSON.parse(fx.file.metadata.config ?? '{}')));
    const init = new Map<string, Float32Array>();
    for (const [name, t] of fx.file.tensors)
      if (name.startsWith('param/')) init.set(name.slice(6), t.data as Float32Array);
    net.loadStateDict(init);
    const y = fx.tensor('input/y').data;
    const noise = fx.tensor('input/noise').data;
    const sigma = fx.tensor('input/sigma').data;
    const wantLoss = fx.tensor('losses').data;
    const wantLr = fx.file.tensors.get('lrs')?.data as Float64Array;
    const losses: number[] = [];
    for (let i = 0; i < train.steps; i++) {
      const r = await net.trainStep(y, {
        D: Number.POSITIVE_INFINITY,
        noise,
        sigma,
        lr: train.lr,
        beta1: train.betas[0],
        beta2: train.betas[1],
        eps: train.eps,
        lrRampupKimg: train.lr_rampup_kimg,
        emaHalflifeKimg: train.ema_halflife_kimg,
        emaRampupRatio: train.ema_rampup_ratio,
      });
      expect(r.skipped).toBe(false);
      expect(r.lr).toBeCloseTo(wantLr[i] as number, 12);
      losses.push(r.loss);
    }
    // The loss falls by more than three orders of magnitude; both runs must follow the same curve.
    expect(losses[199] as number).toBeLessThan((losses[0] as number) * 1e-2);
    // Once the loss nears zero, Adam on one fixed batch overshoots and round-off decides the
    // details (PyTorch run on 1 vs 2 threads differs by 3e-2 after step 100 and by 76% in the
    // final spike). So: tight for the first 100 steps, 5% up to step 190, and the end state loose.
    const worst = (from: number, to: number) => {
      let w = 0;
      for (let i = from; i < to; i++) {
        w = Math.max(w, Math.abs((losses[i] as number) - (wantLoss[i] as number)) / Math.abs(wantLoss[i] as number));
      }
      return w;
    };
    expect(worst(0, 100), 'relative loss difference, steps 0-99').toBeLessThan(1e-3);
    expect(worst(100, 190), 'relative loss difference, steps 100-189').toBeLessThan(5e-2);
    // Attention key biases get no true gradient (softmax ignores them): Adam moves them by noise.
    const nullGrad = new Set(Object.keys(JSON.parse(fx.file.metadata.null_gradient ?? '{}')));
    for (const [set, prefix] of [
      ['raw', 'final/'],
      ['ema', 'ema/'],
    ] as const) {
      const weights = net.stateDict(set);
      const bad: string[] = [];
      for (const [name, w] of weights) {
        if (nullGrad.has(name)) {
          expect(w.every((v) => Number.isFinite(v))).toBe(true);
          continue;
        }
        const c = compare(w, fx.tensor(`${prefix}${name}`).data, { rtol: 2e-2, atol: 1e-5 });
        if (!c.ok) bad.push(`${prefix}${name}: ${c.maxAbs.toExponential(2)} at scale ${c.scale.toExponential(2)}`);
      }
      expect(bad).toEqual([]);
    }
  });
});
