// `pfgm train --resume` keeps the checkpoint's hyperparameters: with the default learning-rate
// ramp-up (a tenth of the run), a resumed run with a new --steps target trains exactly as an
// uninterrupted run with the saved hyperparameters (weights equal bit for bit), and a flag given
// explicitly on resume overrides its saved value with one line saying so.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import type { TrainerState } from '../../src/train/trainer.js';
import { savedWeights } from '../helpers/modelWeights.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const work = mkdtempSync(join(tmpdir(), 'pfgm-train-resume-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function pfgm(args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'pfgm.js'), ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const common = ['--data', 'toy:moons', '--network', 'mlp', '--D', '64', '--json', '--sample-every', '0'];

describe('pfgm train --resume', () => {
  it('keeps the saved schedule: equal to an uninterrupted run with the saved hyperparameters', async () => {
    const a = join(work, 'a');
    const first = pfgm(['train', ...common, '--out', a, '--steps', '12', '--batch', '32']);
    expect(first.code, first.stderr).toBe(0);
    const saved = (await loadCheckpoint<{ trainer: TrainerState }>(a)).extra.trainer;
    expect(saved.options?.lrRampupKimg).toBeCloseTo((12 * 32) / 1000 / 10, 12);
    expect(saved.options).toMatchObject({ batch: 32, lr: 1e-3, seed: 0, D: 64 });

    // Resume with a larger target and no other flag: batch, lr and the ramp-up are the saved ones.
    const again = pfgm(['train', ...common, '--out', a, '--resume', a, '--steps', '30']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toMatch(/except/);

    const b = join(work, 'b');
    const straight = pfgm([
      'train',
      ...common,
      '--out',
      b,
      '--steps',
      '30',
      '--batch',
      '32',
      '--lr-rampup-kimg',
      String(saved.options?.lrRampupKimg),
    ]);
    expect(straight.code, straight.stderr).toBe(0);
    const wa = await savedWeights(a);
    const wb = await savedWeights(b);
    expect(Buffer.from(wa.raw.buffer).equals(Buffer.from(wb.raw.buffer))).toBe(true);
    expect(Buffer.from(wa.ema.buffer).equals(Buffer.from(wb.ema.buffer))).toBe(true);
  }, 180_000);

  it('an explicit flag overrides its saved value, in one line', async () => {
    const c = join(work, 'c');
    expect(pfgm(['train', ...common, '--out', c, '--steps', '4', '--batch', '16']).code).toBe(0);
    const r = pfgm(['train', ...common, '--out', c, '--resume', c, '--steps', '6', '--lr', '5e-4', '--batch', '16']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.split('\n').filter((l) => /hyperparameters/.test(l));
    expect(lines).toEqual([
      "pfgm train: resuming with the checkpoint's hyperparameters except --lr 0.0005 (was 0.001), given now",
    ]);
    const state = (await loadCheckpoint<{ trainer: TrainerState }>(c)).extra.trainer;
    expect(state.options).toMatchObject({ lr: 5e-4, batch: 16 });
  }, 120_000);
});
