// scripts/train-classifier.mjs as a user runs it (it imports the TypeScript build, dist/, like the
// CLI tests): a quick trial on an MNIST-layout folder writes a classifier file that loads with its
// dataset, configuration and measured test accuracy; bad invocations fail with a message.
// Debian's Fashion-MNIST folder has MNIST's file names, so it stands in for an MNIST folder.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { FASHION_MNIST_DIR } from '../../src/data/idx.js';
import { DEFAULT_CLASSIFIER_CONFIG } from '../../src/eval/classifier/config.js';
import { loadClassifier } from '../../src/eval/classifier/model.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'pfgm-train-classifier-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function script(args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'train-classifier.mjs'), ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('scripts/train-classifier.mjs', () => {
  it('trains on an MNIST folder and writes a file with the measured test accuracy', async () => {
    const out = join(dir, 'mnist.safetensors');
    const r = script([
      '--data',
      `mnist:${FASHION_MNIST_DIR}`,
      '--out',
      out,
      '--epochs',
      '1',
      '--train-images',
      '640',
      '--test-images',
      '300',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const m = /test accuracy ([\d.]+)% \((\d+)\/300\)/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    using c = await loadClassifier(out);
    expect(c.info.dataset).toBe('mnist');
    expect(c.config).toEqual(DEFAULT_CLASSIFIER_CONFIG);
    expect(c.info.testAccuracy).toBeCloseTo(Number(m?.[2]) / 300, 12);
    expect(c.info.metadata.train_images).toBe('640');
    expect(JSON.parse(c.info.metadata.training ?? '{}')).toMatchObject({ epochs: 1, batch: 128 });
  });

  it('explains bad invocations', () => {
    const usage = script([]);
    expect(usage.code).toBe(2);
    expect(usage.stdout).toMatch(/usage: node scripts\/train-classifier\.mjs --data/);
    const missing = script(['--data', join(dir, 'no-such-folder'), '--out', join(dir, 'x.safetensors')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error: mnist\(\): .* is not a folder/);
    const badConfig = script(['--data', 'fashion-mnist', '--out', join(dir, 'y.safetensors'), '--channels', '2']);
    expect(badConfig.code).toBe(1);
    expect(badConfig.stderr).toMatch(/^error: classifier config/);
  });
});
