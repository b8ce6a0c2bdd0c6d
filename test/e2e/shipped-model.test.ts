// The model that ships with the package (assets/models/fashion-mnist.safetensors,
// docs/shipped-model.md): it loads by name from the API and the CLI, its metadata records the
// recipe and the FD that the docs state, and it draws clothes, not noise: the shipped classifier
// (trained apart from it, on real images) recognises most of its samples with confidence and
// finds most of the ten classes among them; the quick run's model fails that.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodePng } from '../../src/codecs/png.js';
import { loadClassifier } from '../../src/eval/classifier/model.js';
import { loadModel, PfgmError, sample, shippedModelPath } from '../../src/index.js';
import { repoRoot } from '../helpers/toolkit.js';

const work = mkdtempSync(join(tmpdir(), 'pfgm-shipped-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Shipped {
  kimg: number;
  training: { D: number; batch: number; lr: number };
  evaluation: { fd: number; count: number; steps: number };
}

function pfgm(args: string[], cwd: string) {
  const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'pfgm.js'), ...args], { encoding: 'utf8', cwd });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the shipped Fashion-MNIST model', () => {
  it('loads by name; its metadata holds the recipe and the FD the docs state', async () => {
    const { net, meta, path } = await loadModel('fashion-mnist');
    try {
      expect(path).toBe(shippedModelPath('fashion-mnist'));
      expect(net.sampleShape).toEqual([1, 28, 28]);
      expect(net.D).toBe(128);
      const shipped = meta.shipped as Shipped;
      expect(shipped.training.D).toBe(128);
      expect(shipped.kimg).toBeGreaterThan(0);
      const doc = readFileSync(join(repoRoot, 'docs', 'shipped-model.md'), 'utf8');
      expect(doc).toContain(`FD ${shipped.evaluation.fd.toFixed(2)}`);
      expect(doc).toContain(`${shipped.kimg.toFixed(1)} kimg`);
    } finally {
      net.dispose();
    }
  });

  it('draws images the independent classifier recognises, across the classes', { timeout: 180_000 }, async () => {
    const { net } = await loadModel('fashion-mnist', { weights: 'ema' });
    using classifier = await loadClassifier('fashion-mnist');
    try {
      const count = 64;
      const { x } = await sample(net, { count, seed: 0 }); // Heun, 18 steps
      const { logits } = await classifier.forward(x);
      let confident = 0;
      let meanTop = 0;
      const classes = new Set<number>();
      for (let i = 0; i < count; i++) {
        const row = logits.subarray(i * 10, (i + 1) * 10);
        const top = Math.max(...row);
        const p = 1 / row.reduce((a, v) => a + Math.exp(v - top), 0);
        if (p > 0.8) confident++;
        meanTop += p / count;
        classes.add(row.indexOf(top));
      }
      // Measured: the shipped model 49 of 64 confident, mean top probability 0.884, all 10
      // classes; the quick run's model (12.8 kimg, FD 11.7) 29 of 64, 0.72, 9 classes.
      expect(confident).toBeGreaterThanOrEqual(0.6 * count);
      expect(meanTop).toBeGreaterThan(0.8);
      expect(classes.size).toBeGreaterThanOrEqual(8);
    } finally {
      net.dispose();
    }
  });

  it('pfgm sample --ckpt fashion-mnist works from any folder; a file of that name there wins', () => {
    const r = pfgm(['sample', '--ckpt', 'fashion-mnist', '--count', '4', '--steps', '3', '--out', 'grid.png'], work);
    expect(r.code, r.stderr).toBe(0);
    const png = decodePng(readFileSync(join(work, 'grid.png')));
    expect(png.width).toBeGreaterThanOrEqual(56);
    writeFileSync(join(work, 'fashion-mnist'), 'not a model');
    const local = pfgm(['sample', '--ckpt', 'fashion-mnist', '--count', '1', '--out', 'x.png'], work);
    expect(local.code).not.toBe(0);
    expect(local.stderr).toMatch(/'fashion-mnist'/);
    expect(local.stderr).not.toMatch(/\n\s+at /);
  });

  it('an unknown name is refused, naming the shipped models', async () => {
    const e = await loadModel('no-such-model').catch((err: unknown) => err);
    expect(e).toBeInstanceOf(PfgmError);
    expect((e as PfgmError).message).toMatch(/shipped model: fashion-mnist\) 'no-such-model' does not exist/);
  });
});
