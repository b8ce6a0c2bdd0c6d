// PFGM's objective (docs/method.md §3) in the engine: the field model (the backbone's extra channel,
// average-pooled, is the z component), its loss and backward checked by finite differences, the
// Trainer's hyperparameters from the data, the z-ODE drift against the exact empirical field,
// and the errors that keep denoisers and field models apart.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { toy } from '../../src/data/toy.js';
import { fromNativeConfig, preset } from '../../src/models/config.js';
import { loadModel, saveModel } from '../../src/models/modelFile.js';
import { createNetwork, type Network } from '../../src/models/network.js';
import { pfgmHyperparameters } from '../../src/physics/pfgm.js';
import { zDrift } from '../../src/sample/pfgmOde.js';
import { SplitMix64 } from '../../src/train/order.js';
import { Trainer } from '../../src/train/trainer.js';
import { loadFixture } from '../helpers/golden.js';
import { out as output, run } from '../helpers/ops.js';

function rng(seed: number): () => number {
  const r = new SplitMix64(BigInt(seed));
  return () => Number(r.next() >> 11n) / 2 ** 53 - 0.5;
}

// Random weights of a useful scale, so every layer's gradient is far from round-off.
function randomize(net: Network, seed: number): Map<string, Float32Array> {
  const u = rng(seed);
  const w = net.stateDict('raw');
  for (const [name, t] of w) {
    if (name.endsWith('resample_filter') || name.includes('freqs')) continue;
    const fan = Math.max(1, t.length / 16);
    for (let i = 0; i < t.length; i++) t[i] = (2 * u()) / Math.sqrt(fan) + (t[i] as number);
  }
  net.loadStateDict(w, 'raw');
  return w;
}

describe.each(['ddpmpp-tiny', 'mlp-tiny'])('PFGM field model (%s)', (name) => {
  it('has one more output than inputs, and its loss gradient matches finite differences', async () => {
    const fx = loadFixture(`networks/${name}.safetensors`);
    using net = createNetwork(fromNativeConfig(JSON.parse(fx.file.metadata.config ?? '{}')), { objective: 'pfgm' });
    expect(net.D).toBe(1);
    expect(net.objective).toBe('pfgm');
    const weights = randomize(net, 3);
    const n = 2;
    const per = net.sampleSize;
    const u = rng(5);
    const x = Float32Array.from({ length: n * per }, () => 2 * u());
    const z = Float32Array.of(0.3, 2.5);
    const target = Float32Array.from({ length: n * (per + 1) }, () => 2 * u());
    const out = await net.field(x, z, { weights: 'raw' });
    expect(out.length).toBe(n * (per + 1));
    // The loss is the batch mean of the summed squared error against the target.
    let direct = 0;
    for (let k = 0; k < out.length; k++) direct += ((out[k] as number) - (target[k] as number)) ** 2;
    const loss = await net.fieldLossAndGrad(x, z, target);
    expect(Math.abs(loss - direct / n)).toBeLessThan(1e-4 * loss);
    const grads = net.stateDict('grads');
    const names = [...grads.keys()].filter((_, i, all) => i % Math.ceil(all.length / 8) === 0);
    names.push([...grads.keys()].at(-1) as string, [...grads.keys()].at(-2) as string); // the output layer
    let checked = 0;
    for (const pname of names) {
      const g = grads.get(pname) as Float32Array;
      let at = 0;
      for (let i = 1; i < g.length; i++) if (Math.abs(g[i] as number) > Math.abs(g[at] as number)) at = i;
      if (Math.abs(g[at] as number) < 1e-4) continue;
      const w = weights.get(pname) as Float32Array;
      const original = w[at] as number;
      const h = Math.max(1e-3, 1e-2 * Math.abs(original));
      const lossAt = async (v: number) => {
        w[at] = v;
        net.loadStateDict(weights, 'raw');
        return net.fieldLossAndGrad(x, z, target);
      };
      const fd = ((await lossAt(original + h)) - (await lossAt(original - h))) / (2 * h);
      w[at] = original;
      net.loadStateDict(weights, 'raw');
      const analytic = g[at] as number;
      expect(Math.abs(fd - analytic), `${pname}[${at}]: fd ${fd} vs backward ${analytic}`).toBeLessThan(
        2e-2 * Math.abs(analytic) + 1e-3,
      );
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(5);
  });
});

describe('PFGM z-ODE drift', () => {
  it('equals z v_x / v_z of the exact empirical field (3.1), recovering v_z from v_x', async () => {
    // Exact normalised fields from the engine's docs/method.md (3.1) kernel at random points.
    const N = 5;
    const refs = 40;
    const q = 16;
    const u = rng(11);
    const y = Float32Array.from({ length: refs * N }, () => 2 * u());
    const x = Float32Array.from({ length: q * N }, () => 6 * u());
    for (const z of [0.01, 0.3, 4]) {
      const zs = new Float32Array(q).fill(z);
      const v = output(
        await run(
          'pfgm_field_target',
          { gamma: 5 },
          { x: { shape: [q, N], data: x }, z: { shape: [q], data: zs }, y: { shape: [refs, N], data: y } },
        ),
        'v',
      );
      const drift = zDrift(v, z, q, N, 5);
      for (let i = 0; i < q; i++) {
        const vz = v[i * (N + 1) + N] as number;
        for (let k = 0; k < N; k++) {
          const exact = (z * (v[i * (N + 1) + k] as number)) / vz;
          expect(Math.abs((drift[i * N + k] as number) - exact)).toBeLessThan(2e-3 * Math.abs(exact) + 1e-5);
        }
      }
    }
  });
});

describe('PFGM objective in the Trainer', () => {
  it('computes M, z_max and upper_norm from the data (docs/method.md §3) and trains', async () => {
    const data = toy('gaussians', { count: 3000, seed: 0 });
    using net = createNetwork(preset('mlp', { features: 2, hidden: 32, numBlocks: 1 }), {
      objective: 'pfgm',
      sigmaData: 1,
    });
    const trainer = new Trainer(net, data, { batch: 64, lr: 1e-3, seed: 0, pfgm: { refBatch: 512 } });
    const hp = await trainer.pfgmSettings();
    const all = (await data.read(Uint32Array.from({ length: 3000 }, (_, i) => i))).data;
    let norm = 0;
    for (let i = 0; i < 3000; i++) norm += Math.hypot(all[2 * i] as number, all[2 * i + 1] as number);
    const expected = pfgmHyperparameters({ dataNorm: norm / 3000, N: 2 });
    expect(hp.M).toBe(expected.M);
    expect(hp.zMax).toBeCloseTo(expected.zMax, 9);
    expect(hp.upperNorm).toBeCloseTo(expected.upperNorm, 9);
    expect(hp.gamma).toBe(5);
    // An explicit M fixes z_max and upper_norm by the same formulas.
    const fixed = pfgmHyperparameters({ dataNorm: 1, N: 2, M: 100 });
    expect(fixed.M).toBe(100);
    expect(fixed.zMax).toBeCloseTo(Math.sqrt(2 / Math.PI) * 0.01 * 1.03 ** 100, 12);
    expect(fixed.upperNorm).toBeCloseTo(Math.sqrt(2) * 0.01 * 1.03 ** 100, 12);
    expect(net.pfgm).toEqual(hp);
    let last = Number.NaN;
    for await (const t of trainer.run({ steps: 20 })) last = t.loss;
    expect(Number.isFinite(last)).toBe(true);
    expect(net.counters()).toMatchObject({ steps: 20, images: 20 * 64 });
    // The model file keeps the objective, the scaling and PFGM's hyperparameters.
    const file = join(mkdtempSync(join(tmpdir(), 'pfgm-field-')), 'model.safetensors');
    await saveModel(file, net, { objective: 'pfgm' });
    const loaded = await loadModel(file);
    using back = loaded.net;
    expect(back.objective).toBe('pfgm');
    expect(back.adaptiveScale).toBe(true);
    expect(back.pfgm).toEqual(hp);
    expect(loaded.meta.pfgm).toEqual(hp);
    const x = Float32Array.of(0.5, -1, 2, 0.25);
    expect(await back.field(x, 0.7, { weights: 'ema' })).toEqual(await net.field(x, 0.7, { weights: 'ema' }));
    await expect(saveModel(file, net, { objective: 'pfgmpp' })).rejects.toThrow(/serves 'pfgm'/);
  });

  it('keeps denoisers and field models apart with clear errors', async () => {
    const data = toy('gaussians', { count: 100, seed: 0 });
    const config = preset('mlp', { features: 2, hidden: 16, numBlocks: 1 });
    using field = createNetwork(config, { objective: 'pfgm' });
    using denoiser = createNetwork(config, { D: 128 });
    expect(() => createNetwork(config, { objective: 'pfgm', D: 128 })).toThrow(/D = 1/);
    await expect(field.denoise(new Float32Array(2), 1)).rejects.toThrow(/pfgmSample/);
    await expect(denoiser.field(new Float32Array(2), 1)).rejects.toThrow(/objective: 'pfgm'/);
    expect(() => new Trainer(denoiser, data, { objective: 'pfgm' })).toThrow(/objective: 'pfgm'/);
    expect(() => new Trainer(field, data, { stf: true })).toThrow(/stf/);
    expect(() => new Trainer(field, data, { pfgm: { tau: -1 } })).toThrow(/tau/);
  });
});
