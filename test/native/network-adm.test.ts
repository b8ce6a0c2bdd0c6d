// EDM's ADM network (DhariwalUNet) against EDM's own module: test/fixtures/gen/edm_pickles.py made
// a small class-conditional network with map_augment (adm-cond.pkl, random weights; converted to
// adm-cond.safetensors) and computed, with EDM's code, its denoiser output, EDM's loss
// (docs/method.md §2.2) and the gradient of every parameter on a fixed batch with class and
// augment labels (adm-cond-grads.safetensors). The engine's forward, loss and every gradient must
// match; finite differences of the loss check the backward pass once more without PyTorch; a fresh
// network is initialised as EDM's code initialises it; and the adm-imagenet64 preset has the parameters, names and shapes EDM's
// DhariwalUNet(img_resolution=64, in_channels=3, out_channels=3, label_dim=1000) has.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { preset } from '../../src/models/config.js';
import { loadModel } from '../../src/models/modelFile.js';
import { createNetwork, type Network } from '../../src/models/network.js';
import { compare, fixturePath, loadFixture } from '../helpers/golden.js';

const fx = loadFixture('edm/adm-cond-grads.safetensors');
const y = fx.tensor('input/y').data;
const noise = fx.tensor('input/noise').data;
const sigma = fx.tensor('input/sigma').data;
const labels = { labels: fx.tensor('input/labels').data, augment: fx.tensor('input/augment').data };

async function load(): Promise<Network> {
  // The converted file has no raw set: its EMA weights stand in for the raw ones.
  const { net } = await loadModel(fixturePath('edm/adm-cond.safetensors'));
  return net;
}

describe('DhariwalUNet matches EDM', () => {
  it("has EDM's parameter names and shapes, in EDM's order", async () => {
    using net = await load();
    expect(net.config.kind).toBe('dhariwalunet');
    const names = JSON.parse(fx.file.metadata.param_names ?? '[]') as string[];
    expect(net.parameters().map((p) => p.name)).toEqual(names);
    for (const p of net.parameters()) expect(p.shape).toEqual(fx.tensor(`grad/${p.name}`).shape);
  });

  it('denoises with class and augment labels like EDM (forward)', async () => {
    using net = await load();
    const x = y.map((v, i) => v + (noise[i] as number));
    const out = await net.denoise(x, sigma, { ...labels, weights: 'raw' });
    const c = compare(out, fx.tensor('output/denoised').data, { rtol: 2e-5, atol: 1e-6 });
    expect(c.ok, `max |diff| ${c.maxAbs} at scale ${c.scale}`).toBe(true);
  });

  it("gives EDM's loss and every gradient (backward)", async () => {
    using net = await load();
    const loss = await net.lossAndGrad(y, noise, sigma, labels);
    const want = fx.tensor('output/loss').data[0] as number;
    expect(Math.abs(loss - want) / Math.abs(want)).toBeLessThan(2e-5);
    const grads = net.stateDict('grads');
    expect(grads.size).toBe(net.parameters().length);
    const failures: string[] = [];
    for (const [name, g] of grads) {
      const c = compare(g, fx.tensor(`grad/${name}`).data, { rtol: 1e-4, atol: 1e-7 });
      if (!c.ok) failures.push(`${name}: max |diff| ${c.maxAbs.toExponential(2)} vs scale ${c.scale.toExponential(2)}`);
    }
    expect(failures).toEqual([]);
  });

  it('agrees with finite differences of the loss', async () => {
    using net = await load();
    const weights = new Map([...net.stateDict('raw')].map(([k, v]) => [k, v.slice()]));
    await net.lossAndGrad(y, noise, sigma, labels);
    const grads = net.stateDict('grads');
    // Every 8th tensor (mapping, encoder, attention, decoder, output), at its largest gradient.
    const names = [...grads.keys()].filter((_, i, all) => i % Math.ceil(all.length / 10) === 0);
    let checked = 0;
    for (const name of names) {
      const g = grads.get(name) as Float32Array;
      let at = 0;
      for (let i = 1; i < g.length; i++) if (Math.abs(g[i] as number) > Math.abs(g[at] as number)) at = i;
      const w = weights.get(name) as Float32Array;
      const original = w[at] as number;
      const h = Math.max(1e-3, 1e-2 * Math.abs(original));
      const lossAt = async (v: number) => {
        w[at] = v;
        net.loadStateDict(weights, 'raw');
        return net.lossAndGrad(y, noise, sigma, labels);
      };
      const fd = ((await lossAt(original + h)) - (await lossAt(original - h))) / (2 * h);
      w[at] = original;
      const analytic = g[at] as number;
      expect(Math.abs(fd - analytic), `${name}[${at}]: fd ${fd} vs backward ${analytic}`).toBeLessThan(
        2e-2 * Math.abs(analytic) + 1e-3,
      );
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(8);
  });
});

describe("DhariwalUNet's initialisation", () => {
  it("is EDM's: kaiming-uniform times sqrt(1/3) with biases alike, zero conv1 / proj / out_conv", () => {
    const config = preset('adm-imagenet64', {
      imgResolution: 8,
      labelDim: 10,
      modelChannels: 64,
      channelMult: [1, 2],
      numBlocks: 1,
      attnResolutions: [4],
    });
    using net = createNetwork(config, { seed: 3 });
    const w = net.stateDict('raw');
    const maxAbs = (name: string) => (w.get(name) as Float32Array).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    // sqrt(1/3) * sqrt(3 / fan_in) = 1 / sqrt(fan_in), for weights and biases.
    for (const [name, fanIn] of [
      ['enc.8x8_conv.weight', 3 * 9],
      ['enc.8x8_conv.bias', 3 * 9],
      ['enc.8x8_block0.conv0.weight', 64 * 9],
      ['enc.8x8_block0.affine.bias', 256],
      ['dec.4x4_in0.qkv.weight', 128],
      ['map_layer0.bias', 64],
    ] as const) {
      expect(maxAbs(name), name).toBeLessThanOrEqual(1 / Math.sqrt(fanIn));
      expect(maxAbs(name), name).toBeGreaterThan(0.8 / Math.sqrt(fanIn));
    }
    for (const name of ['enc.8x8_block0.conv1.weight', 'dec.4x4_in0.proj.weight', 'out_conv.weight', 'out_conv.bias'])
      expect(maxAbs(name), name).toBe(0);
    // map_label: kaiming_normal times sqrt(label_dim), i.e. unit variance.
    const label = w.get('map_label.weight') as Float32Array;
    const variance = label.reduce((u, v) => u + v * v, 0) / label.length;
    expect(variance).toBeGreaterThan(0.9);
    expect(variance).toBeLessThan(1.1);
    expect(w.has('map_label.bias')).toBe(false);
    expect(net.parameters().find((p) => p.name === 'enc.8x8_block0.affine.weight')?.shape).toEqual([128, 256]);
  });
});

describe('the adm-imagenet64 preset', () => {
  it("has the parameters of EDM's ImageNet-64 network (295,899,267), by name and shape", () => {
    const edm = JSON.parse(readFileSync(fixturePath('edm/adm-imagenet64.json'), 'utf8')) as {
      parameters: number;
      shapes: [string, number[]][];
    };
    using net = createNetwork('adm-imagenet64');
    expect(net.paramCount).toBe(edm.parameters);
    expect(net.paramCount).toBe(295_899_267);
    expect(net.parameters().map((p) => [p.name, p.shape])).toEqual(edm.shapes);
    expect(net.sampleShape).toEqual([3, 64, 64]);
    expect(net.labelDim).toBe(1000);
  });
});
