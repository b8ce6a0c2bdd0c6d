// python/pfgm_torch.py, the package's bridge to the field's Python scripts: a model file pfgm
// wrote loads into PyTorch with EDM's names and preconditioning and denoises as pfgm does (within
// float32 round-off of two engines), for a DDPM++ network with labels and for the vector MLP with
// pfgm's D-aware c_in and adaptive scale. Needs python3 with torch; skipped without it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeNpy } from '../../src/codecs/npy.js';
import { preset } from '../../src/models/config.js';
import { saveModel } from '../../src/models/modelFile.js';
import { createNetwork } from '../../src/models/network.js';
import { repoRoot } from '../helpers/toolkit.js';

const torchOk = spawnSync('python3', ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
const work = mkdtempSync(join(tmpdir(), 'pfgm-python-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs the module on a model file and inputs; returns its denoised output. */
function pythonDenoise(model: string, x: Float32Array, shape: number[], sigma: Float32Array, labels?: Float32Array) {
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
    `net = pfgm_torch.load(${JSON.stringify(model)})`,
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
