// Finite differences of the whole loss (docs/method.md §2.2) through EDM's NCSN++ form and the MLP agree
// with the engine's backward pass, on the coordinates with the largest gradients of several
// parameter tensors: an independent check of the backward pass that needs no PyTorch.
import { describe, expect, it } from 'vitest';
import { fromNativeConfig } from '../../src/models/config.js';
import { createNetwork } from '../../src/models/network.js';
import { loadFixture } from '../helpers/golden.js';

describe.each(['ncsnpp-tiny', 'mlp-tiny'])('%s: finite differences', (name) => {
  it('match the analytic gradient', async () => {
    const fx = loadFixture(`networks/${name}.safetensors`);
    using net = createNetwork(fromNativeConfig(JSON.parse(fx.file.metadata.config ?? '{}')));
    const weights = new Map<string, Float32Array>();
    for (const [k, t] of fx.file.tensors)
      if (k.startsWith('param/')) weights.set(k.slice(6), (t.data as Float32Array).slice());
    net.loadStateDict(weights, 'raw');
    const y = fx.tensor('input/y').data;
    const noise = fx.tensor('input/noise').data;
    const sigma = fx.tensor('input/sigma').data;
    await net.lossAndGrad(y, noise, sigma);
    const grads = net.stateDict('grads');
    const names = [...grads.keys()].filter((_, i, all) => i % Math.ceil(all.length / 8) === 0);
    let checked = 0;
    for (const pname of names) {
      const g = grads.get(pname) as Float32Array;
      let at = 0;
      for (let i = 1; i < g.length; i++) if (Math.abs(g[i] as number) > Math.abs(g[at] as number)) at = i;
      const w = weights.get(pname) as Float32Array;
      const h = Math.max(1e-3, 1e-2 * Math.abs(w[at] as number));
      const original = w[at] as number;
      const lossAt = async (v: number) => {
        w[at] = v;
        net.loadStateDict(weights, 'raw');
        return net.lossAndGrad(y, noise, sigma);
      };
      const fd = ((await lossAt(original + h)) - (await lossAt(original - h))) / (2 * h);
      w[at] = original;
      const analytic = g[at] as number;
      expect(Math.abs(fd - analytic), `${pname}[${at}]: fd ${fd} vs backward ${analytic}`).toBeLessThan(
        2e-2 * Math.abs(analytic) + 1e-3,
      );
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(6);
  });
});
