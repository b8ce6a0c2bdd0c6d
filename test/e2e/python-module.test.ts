// python/pfgm_torch.py, the package's bridge to the field's Python scripts: a model file pfgm
// wrote loads into PyTorch with EDM's names and preconditioning and denoises as pfgm does (within
// float32 round-off of two engines), for a DDPM++ network with labels, for EDM's ADM network
// (DhariwalUNet) with labels and two attention heads, and for the vector MLP with pfgm's D-aware
// c_in and adaptive scale. Independently of pfgm's engine, the converted ADM pickle of EDM's own
// code (test/fixtures/edm/adm-cond.*) must denoise as EDM's code did. Needs python3 with torch;
// skipped without it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeNpy } from '../../src/codecs/npy.js';
import { readNpz } from '../../src/codecs/npz.js';
import { preset } from '../../src/models/config.js';
import { saveModel } from '../../src/models/modelFile.js';
import { createNetwork } from '../../src/models/network.js';
import { repoRoot } from '../helpers/toolkit.js';

const torchOk = spawnSync('python3', ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
const edmRepo = process.env.EDM_REPO;
const withEdm = torchOk && edmRepo !== undefined && existsSync(join(edmRepo, 'training', 'networks.py'));
const work = mkdtempSync(join(tmpdir(), 'pfgm-python-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs the module on a model file and inputs; returns its denoised output. */
function pythonDenoise(
  model: string,
  x: Float32Array,
  shape: number[],
  sigma: Float32Array,
  labels?: Float32Array,
  weights: 'ema' | 'raw' = 'ema',
) {
  const xPath = join(work, 'x.npy');
  const sPath = join(work, 's.npy');
  const lPath = join(work, 'l.npy');
  const oPath = join(work, 'o.bin');
  writeFileSync(xPath, encodeNpy(x, shape));
  writeFileSync(sPath, encodeNpy(sigma, [sigma.length]));
  if (labels !== undefined) writeFileSync(lPath, encodeNpy(labels, [sigma.length, labels.length / sigma.length]));
  const code = [
    'import sys, numpy as np, torch',
    `sys.path.insert(0, ${JSON.stringify(join(repoRoot, 'python'))})`,
    'import pfgm_torch',
    `net = pfgm_torch.load(${JSON.stringify(model)}, weights=${JSON.stringify(weights)})`,
    `x = torch.from_numpy(np.load(${JSON.stringify(xPath)}))`,
    `s = torch.from_numpy(np.load(${JSON.stringify(sPath)}))`,
    labels === undefined ? 'l = None' : `l = torch.from_numpy(np.load(${JSON.stringify(lPath)}))`,
    'with torch.no_grad(): out = net(x, s, l)',
    `out.numpy().astype("<f4").tofile(${JSON.stringify(oPath)})`,
  ].join('\n');
  const r = spawnSync('python3', ['-c', code], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  const b = readFileSync(oPath);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}

/** A few large steps, so the network's own output F (not only c_skip x) shapes D, and EMA != raw. */
async function trainABit(net: ReturnType<typeof createNetwork>, labels?: Float32Array): Promise<void> {
  const n = 4;
  const y = Float32Array.from({ length: n * net.sampleSize }, (_, i) => Math.cos(i * 0.7));
  for (let s = 0; s < 5; s++)
    await net.trainStep(y, { D: net.D, seed: s, lr: 1e-2, lrRampupKimg: 0, emaHalflifeKimg: 0.001, labels });
}

function relMax(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs((a[i] as number) - (b[i] as number)));
    m = Math.max(m, Math.abs(b[i] as number));
  }
  return d / m;
}

describe.skipIf(!torchOk)('python/pfgm_torch.py (needs python3 with torch)', () => {
  it('denoises like pfgm: a small DDPM++ with class labels', async () => {
    const config = {
      ...preset('ddpmpp-small', { channelMult: [1, 2], attnResolutions: [14], modelChannels: 16, numBlocks: 1 }),
      labelDim: 3,
    };
    const net = createNetwork(config, { D: 128, seed: 5 });
    await trainABit(
      net,
      Float32Array.from({ length: 4 * 3 }, (_, i) => (i % 3 === 1 ? 1 : 0)),
    );
    const file = join(work, 'unet.safetensors');
    await saveModel(file, net, { objective: 'pfgmpp' });
    const n = 3;
    const x = Float32Array.from({ length: n * 784 }, (_, i) => Math.sin(i * 0.013) * 2);
    const sigma = Float32Array.of(0.05, 1.3, 40);
    const labels = Float32Array.from({ length: n * 3 }, (_, i) => (i % 4 === 0 ? 1 : 0));
    const ours = await net.denoise(x, sigma, { labels, weights: 'ema' });
    const theirs = pythonDenoise(file, x, [n, 1, 28, 28], sigma, labels);
    expect(relMax(theirs, ours)).toBeLessThan(1e-5);
    net.dispose();
  }, 120_000);

  it("denoises like EDM's own code: the converted ADM pickle (adm-cond, class labels)", async () => {
    // adm-cond.pkl is EDMPrecond around EDM's DhariwalUNet (random weights, label_dim 3,
    // augment_dim 2, a 64-channel level with one attention head and an 8-channel one without);
    // `out` is that module's output for x, sigma, labels (test/fixtures/gen/edm_pickles.py).
    const dir = join(repoRoot, 'test', 'fixtures', 'edm');
    const io = await readNpz(join(dir, 'adm-cond-io.npz'));
    const get = (k: string) => Float32Array.from(io.get(k)?.data ?? []);
    const x = get('x');
    const sigma = get('sigma');
    const labels = get('labels');
    const out = get('out');
    expect(x.length).toBe(4 * 64);
    const theirs = pythonDenoise(join(dir, 'adm-cond.safetensors'), x, [4, 1, 8, 8], sigma, labels);
    // Same float32 computation in the same order up to the preconditioning's rounding: measured
    // 4.7e-8 of max |out|.
    expect(relMax(theirs, out)).toBeLessThan(1e-5);
    // The labels reach the output (no labels = the all-zero label is far off), so the match above
    // needs the label path.
    expect(relMax(pythonDenoise(join(dir, 'adm-cond.safetensors'), x, [4, 1, 8, 8], sigma), out)).toBeGreaterThan(1e-3);
  }, 120_000);

  it('denoises like pfgm: a small ADM network (DhariwalUNet) with class labels', async () => {
    // 32 and 128 channels: the 4x4 level attends with two heads, the 8x8 one has no attention
    // layers although listed (fewer than 64 channels), as in EDM.
    const config = preset('adm-imagenet64', {
      imgResolution: 8,
      inChannels: 1,
      outChannels: 1,
      labelDim: 3,
      modelChannels: 32,
      channelMult: [1, 4],
      numBlocks: 1,
      attnResolutions: [8, 4],
    });
    const net = createNetwork(config, { D: 64, seed: 2 });
    await trainABit(
      net,
      Float32Array.from({ length: 4 * 3 }, (_, i) => (i % 3 === 2 ? 1 : 0)),
    );
    const file = join(work, 'adm.safetensors');
    await saveModel(file, net, { objective: 'pfgmpp' });
    const n = 3;
    const x = Float32Array.from({ length: n * 64 }, (_, i) => Math.sin(i * 0.05) * 2);
    // Noise levels where c_out F, not c_skip x, makes up D, so a small error in the network shows
    // (a 1e-3 change to one weight of enc.8x8_conv gives 1.6e-5; measured here: 1.7e-7).
    const sigma = Float32Array.of(0.8, 5, 40);
    const labels = Float32Array.from({ length: n * 3 }, (_, i) => (i % 4 === 0 ? 1 : 0));
    const ours = await net.denoise(x, sigma, { labels, weights: 'ema' });
    const theirs = pythonDenoise(file, x, [n, 1, 8, 8], sigma, labels);
    expect(relMax(theirs, ours)).toBeLessThan(1e-5);
    // The raw set (parameters only) over the file's buffers (the resample filters).
    const oursRaw = await net.denoise(x, sigma, { labels, weights: 'raw' });
    expect(relMax(oursRaw, ours)).toBeGreaterThan(1e-4);
    expect(relMax(pythonDenoise(file, x, [n, 1, 8, 8], sigma, labels, 'raw'), oursRaw)).toBeLessThan(1e-5);
    net.dispose();
  }, 120_000);

  it.skipIf(!withEdm)(
    "the DhariwalUNet twin is EDM's, bit for bit (needs torch and EDM_REPO)",
    () => {
      // Same seed: the same weights (EDM's RNG order) and the same state-dict order; with every
      // tensor random (no zero-initialised layer hiding a path), the same output to the last bit,
      // with and without augment labels.
      const code = [
        'import sys, torch',
        `sys.path.insert(0, ${JSON.stringify(join(repoRoot, 'bench', 'torch_ref'))})`,
        'import edm_nets',
        'from training.networks import DhariwalUNet',
        'cfg = dict(img_resolution=8, in_channels=2, out_channels=2, label_dim=3, augment_dim=2, model_channels=32,',
        '           channel_mult=[1, 4], num_blocks=2, attn_resolutions=[8, 4], dropout=0.0)',
        'torch.manual_seed(0); edm = DhariwalUNet(**cfg)',
        'torch.manual_seed(0); ours = edm_nets.DhariwalUNet(**cfg)',
        'se, so = edm.state_dict(), ours.state_dict()',
        'assert list(se) == list(so), (list(se), list(so))',
        'assert all(torch.equal(se[k], so[k]) for k in se), "initial weights differ"',
        'torch.manual_seed(1)',
        'with torch.no_grad():',
        '    for k, v in se.items():',
        '        if not k.endswith("resample_filter"): v.copy_(torch.randn_like(v) * 0.2)',
        'ours.load_state_dict(se)',
        'x, t, c, a = torch.randn(3, 2, 8, 8), torch.randn(3), torch.eye(3), torch.randn(3, 2)',
        'with torch.no_grad():',
        '    assert torch.equal(edm(x, t, c, a), ours(x, t, c, a)), "outputs differ"',
        '    assert torch.equal(edm(x, t, c), ours(x, t, c)), "outputs differ without augment labels"',
      ].join('\n');
      const r = spawnSync('python3', ['-c', code], { encoding: 'utf8', env: { ...process.env, PYTHONPATH: edmRepo } });
      expect(r.status, r.stderr).toBe(0);
    },
    120_000,
  );

  it("denoises like pfgm: the MLP with pfgm's D-aware c_in and adaptive scale", async () => {
    const net = createNetwork(preset('mlp', { features: 2 }), { D: 8, seed: 1, dAwareCIn: true, adaptiveScale: true });
    await trainABit(net);
    const file = join(work, 'mlp.safetensors');
    await saveModel(file, net, { objective: 'pfgmpp' });
    const x = Float32Array.of(0.3, -1.2, 4, 7, -20, 0.5, 0.01, 0.02);
    const sigma = Float32Array.of(0.01, 0.5, 3, 0.1);
    const ours = await net.denoise(x, sigma, { weights: 'ema' });
    const theirs = pythonDenoise(file, x, [4, 2], sigma);
    expect(relMax(theirs, ours)).toBeLessThan(1e-5);
    net.dispose();
  }, 120_000);
});
