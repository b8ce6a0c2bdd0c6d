// pfgm bench as a user runs it: the training step and the sampler timed with their JSON, the
// PyTorch twin run or the reason it was not (no torch here is a reason, not a failure), results
// appended to a file, and compare's ratio of two of them.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/toolkit.js';

const work = mkdtempSync(join(tmpdir(), 'pfgm-bench-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const torchOk = spawnSync('python3', ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;

function pfgm(args: string[]) {
  const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'pfgm.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, PFGM_DEVICE: 'cpu' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('pfgm bench', () => {
  it('times training steps and reports JSON, with the PyTorch twin or why not', () => {
    const r = pfgm([
      'bench',
      'train',
      '--network',
      'mlp',
      '--batch',
      '16',
      '--repeats',
      '3',
      '--warmup',
      '1',
      '--torch',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.bench).toBe('train');
    expect(j.pfgm).toMatchObject({ kind: 'train', network: 'mlp', device: 'cpu', precision: 'fp32', batch: 16 });
    expect(j.pfgm.msAll).toHaveLength(3);
    // images/s is the batch over the median step (ms rounded to the microsecond).
    expect(Math.abs(j.pfgm.imagesPerSecond / (16 / (j.pfgm.ms / 1000)) - 1)).toBeLessThan(1e-3);
    expect(Number.isFinite(j.pfgm.loss.first)).toBe(true);
    // The twin knows EDM's presets only; without torch it says how to get it.
    expect(j.torch.error).toMatch(torchOk ? /has the presets .*ddpmpp-small, not mlp/ : /has no torch: install it/);
  }, 120_000);

  it.skipIf(!torchOk)(
    'runs the PyTorch twin in the same invocation (needs torch)',
    () => {
      const r = pfgm([
        'bench',
        'train',
        '--network',
        'ddpmpp-small',
        '--batch',
        '2',
        '--repeats',
        '1',
        '--warmup',
        '1',
        '--torch',
        '--json',
      ]);
      expect(r.code, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout);
      expect(j.torch.eager.train_images_per_s).toBeGreaterThan(0);
      expect(j.vsEager).toBeCloseTo(j.pfgm.imagesPerSecond / j.torch.eager.train_images_per_s, 2);
    },
    180_000,
  );

  it('times sampling, appends results to a file, and compares two', () => {
    const a = join(work, 'a.jsonl');
    const b = join(work, 'b.jsonl');
    for (const [file, batch] of [
      [a, '32'],
      [b, '8'],
    ] as const) {
      const r = pfgm([
        'bench',
        'sample',
        '--network',
        'mlp',
        '--batch',
        batch,
        '--steps',
        '3',
        '--repeats',
        '2',
        '--out',
        file,
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/pfgm bench sample: mlp .* batch \d+\n {2}pfgm .* img\/s {2}[\d.]+ NFE\/s/);
    }
    const ja = JSON.parse(readFileSync(a, 'utf8').trim());
    const jb = JSON.parse(readFileSync(b, 'utf8').trim());
    expect(ja.pfgm.nfe).toBe(5); // Heun, 3 steps: 2n - 1
    const c = pfgm(['bench', 'compare', a, b]);
    expect(c.code, c.stderr).toBe(0);
    const cmp = JSON.parse(c.stdout);
    expect(Math.abs(cmp.ratio / (ja.pfgm.imagesPerSecond / jb.pfgm.imagesPerSecond) - 1)).toBeLessThan(1e-3);
  }, 120_000);

  it('explains bad use', () => {
    for (const [args, message] of [
      [['bench', 'fly'], /use train, sample or compare/],
      [['bench', 'train', '--device', 'tpu'], /--device tpu: use cpu or cuda/],
      [['bench', 'compare', 'x.json'], /needs two files/],
      [['bench', 'train', '--network', 'nope'], /neither a preset/],
    ] as const) {
      const r = pfgm([...args]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(message);
    }
  });
});
