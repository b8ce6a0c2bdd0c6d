// Whole networks against PyTorch (test/fixtures/gen/networks.py, our own PyTorch twin of EDM's
// SongUNet and of the MLP): the denoiser's output, the loss of docs/method.md §2.2 and the gradient of
// every parameter, for DDPM++ and NCSN++ forms, skip encoders/decoders, class and augment labels.
import { describe, expect, it } from 'vitest';
import { fromNativeConfig } from '../../src/models/config.js';
import { createNetwork, type Network } from '../../src/models/network.js';
import { compare, type Fixture, loadFixture } from '../helpers/golden.js';

function build(fx: Fixture): Network {
  const config = fromNativeConfig(JSON.parse(fx.file.metadata.config ?? '{}'));
  const net = createNetwork(config);
  const weights = new Map<string, Float32Array>();
  for (const [name, t] of fx.file.tensors) {
    if (name.startsWith('param/')) weights.set(name.slice(6), t.data as Float32Array);
  }
  net.loadStateDict(weights);
  return net;
}

function optionalLabels(fx: Fixture) {
  const labels = fx.file.tensors.get('input/labels')?.data as Float32Array | undefined;
  const augment = fx.file.tensors.get('input/augment')?.data as Float32Array | undefined;
  return { labels, augment };
}

const NETWORKS = ['ddpmpp-tiny', 'ncsnpp-tiny', 'ddpmpp-tiny-cond', 'ddpmpp-tiny-skip', 'mlp-tiny'];

describe.each(NETWORKS)('%s matches PyTorch', (name) => {
  const fx = loadFixture(`networks/${name}.safetensors`);
  const y = fx.tensor('input/y').data;
  const noise = fx.tensor('input/noise').data;
  const sigma = fx.tensor('input/sigma').data;

  it('has the same parameter names, shapes and count', () => {
    using net = build(fx);
    const names = JSON.parse(fx.file.metadata.param_names ?? '[]') as string[];
    const buffers = new Set(JSON.parse(fx.file.metadata.buffer_names ?? '[]') as string[]);
    expect(net.parameters().map((p) => p.name)).toEqual(names.filter((n) => !buffers.has(n)));
    for (const p of net.parameters()) expect(p.shape).toEqual(fx.tensor(`param/${p.name}`).shape);
  });

  it('denoises like PyTorch (forward)', async () => {
    using net = build(fx);
    const x = y.map((v, i) => v + (noise[i] as number));
    const out = await net.denoise(x, sigma, { ...optionalLabels(fx), weights: 'raw' });
    const c = compare(out, fx.tensor('output/denoised').data, { rtol: 2e-5, atol: 1e-6 });
    expect(c.ok, `max |diff| ${c.maxAbs} at scale ${c.scale}`).toBe(true);
  });

  it('gives the same loss and every gradient (backward)', async () => {
    using net = build(fx);
    const loss = await net.lossAndGrad(y, noise, sigma, optionalLabels(fx));
    const want = fx.tensor('output/loss').data[0] as number;
    expect(Math.abs(loss - want) / Math.abs(want)).toBeLessThan(2e-5);
    const grads = net.stateDict('grads');
    const failures: string[] = [];
    for (const [pname, g] of grads) {
      const ref = fx.tensor(`grad/${pname}`).data;
      const c = compare(g, ref, { rtol: 2e-3, atol: 1e-7 });
      if (!c.ok)
        failures.push(`${pname}: max |diff| ${c.maxAbs.toExponential(2)} vs scale ${c.scale.toExponential(2)}`);
    }
    expect(failures).toEqual([]);
  });
});
