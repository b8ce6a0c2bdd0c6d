// `pfgm eval` and `pfgm experiment robustness` as a user runs them: JSON metrics for vectors
// (against the API's own numbers), image metrics in the classifier's features and FID with an
// Inception weights file, and the experiment's table, JSON and plots.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePng } from '../../src/codecs/png.js';
import { encodeSafetensors, type SafetensorsEntry } from '../../src/codecs/safetensors.js';
import { inceptionTensors } from '../../src/eval/inception.js';
import { preset } from '../../src/models/config.js';
import { saveModel } from '../../src/models/modelFile.js';
import { createNetwork } from '../../src/models/network.js';
import { inceptionTestWeights } from '../helpers/inception.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const work = mkdtempSync(join(tmpdir(), 'pfgm-eval-e2e-'));
const vectorModel = join(work, 'vectors.safetensors');
const imageModel = join(work, 'images.safetensors');
afterAll(() => rmSync(work, { recursive: true, force: true }));
beforeAll(async () => {
  using v = createNetwork(preset('mlp', { features: 2, hidden: 32, numBlocks: 1 }), { D: 64, sigmaData: 1 });
  await saveModel(vectorModel, v, { objective: 'pfgmpp' });
  const small = preset('ddpmpp-small', {
    inChannels: 1,
    outChannels: 1,
    imgResolution: 28,
    modelChannels: 16,
    channelMult: [1],
    numBlocks: 1,
    attnResolutions: [],
  });
  using im = createNetwork(small, { D: 128 });
  await saveModel(imageModel, im, { objective: 'pfgmpp' });
});

function pfgm(args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'pfgm.js'), ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('pfgm eval', () => {
  it('prints vector metrics and the likelihood as JSON', () => {
    const r = pfgm(['eval', '--ckpt', vectorModel, '--data', 'toy:moons', '--count', '200', '--steps', '4']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ count: 200, solver: 'heun', nfe: 7, D: 64 });
    // An untrained network's samples are far from the moons, and the two distances agree on it.
    expect(out.metrics.sw).toBeGreaterThan(0.1);
    expect(out.metrics.energy).toBeGreaterThan(0.01);
    const n = pfgm(['eval', '--ckpt', vectorModel, '--data', 'toy:moons', '--metric', 'nll', '--nll-count', '4']);
    expect(n.code, n.stderr).toBe(0);
    expect(Number.isFinite(JSON.parse(n.stdout).nll.bpd)).toBe(true);
  }, 120_000);

  it('measures images in the classifier features and with an Inception file', () => {
    // Deterministic random weights of the real architecture (the Inception test's), written as a
    // user's converted file would be.
    const inception = join(work, 'inception.safetensors');
    const list = inceptionTensors();
    const weights = inceptionTestWeights(list);
    const entries: [string, SafetensorsEntry][] = list.map((t) => [
      t.name,
      { dtype: 'F32', shape: [...t.shape], data: weights.get(t.name) as Float32Array },
    ]);
    writeFileSync(inception, encodeSafetensors(entries, {}));
    const r = pfgm([
      'eval',
      '--ckpt',
      imageModel,
      '--data',
      'fashion-mnist:test',
      '--count',
      '8',
      '--steps',
      '2',
      '--metric',
      'fd,pr,fid,kid',
      '--inception',
      inception,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const m = JSON.parse(r.stdout).metrics;
    expect(m.fd).toBeGreaterThan(0);
    expect(m.precision).toBeGreaterThanOrEqual(0);
    expect(m.recall).toBeLessThanOrEqual(1);
    expect(m.fid).toBeGreaterThan(0);
    expect(Number.isFinite(m.kid)).toBe(true);
    expect(m.kidStd).toBeGreaterThanOrEqual(0);

    // fid.py-style reference statistics of the same 8 real images (another batch size), then the
    // FID against them: the streamed statistics agree to round-off, so the two FIDs do too.
    const ref = join(work, 'ref.npz');
    const w = pfgm([
      'eval',
      'ref',
      '--data',
      'fashion-mnist:test',
      '--count',
      '8',
      '--batch',
      '5',
      '--out',
      ref,
      '--inception',
      inception,
    ]);
    expect(w.code, w.stderr).toBe(0);
    expect(JSON.parse(w.stdout)).toMatchObject({ out: ref, count: 8, dim: 2048 });
    const viaRef = pfgm([
      'eval',
      '--ckpt',
      imageModel,
      '--ref',
      ref,
      '--count',
      '8',
      '--batch',
      '3',
      '--steps',
      '2',
      '--inception',
      inception,
    ]);
    expect(viaRef.code, viaRef.stderr).toBe(0);
    const out = JSON.parse(viaRef.stdout);
    expect(out).toMatchObject({ ref, count: 8, batch: 3 });
    expect(Math.abs(out.metrics.fid - m.fid) / m.fid).toBeLessThan(1e-6);
  }, 240_000);

  it('explains bad options', () => {
    const cases: [string[], RegExp][] = [
      [['eval', '--data', 'toy:moons'], /--ckpt/],
      [['eval', '--ckpt', vectorModel], /--data/],
      [['eval', '--ckpt', imageModel, '--ref', 'x.npz', '--metric', 'fd'], /--metric fd needs --data/],
      [['eval', 'ref', '--data', 'fashion-mnist:test'], /--out FILE.npz and --inception/],
      [['eval', '--ckpt', vectorModel, '--data', 'toy:moons', '--metric', 'fd'], /for images/],
      [['eval', '--ckpt', imageModel, '--data', 'fashion-mnist:test', '--metric', 'fid'], /--inception/],
      [['eval', '--ckpt', vectorModel, '--data', 'fashion-mnist:test'], /compare with the data/],
    ];
    for (const [args, message] of cases) {
      const r = pfgm(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toMatch(message);
    }
  }, 60_000);
});

describe('pfgm experiment robustness', () => {
  it('trains one model per D, sweeps alpha, NFE and bits, and writes a table, JSON and plots', () => {
    const out = join(work, 'robust');
    const args = ['experiment', 'robustness', '--data', 'toy:gaussians', '--out', out, '--D', '64,inf'];
    args.push('--steps', '30', '--count', '100', '--alphas', '0,0.2', '--nfe-steps', '3,6', '--bits', '4,8');
    const r = pfgm(args);
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(readFileSync(join(out, 'robustness.json'), 'utf8'));
    expect(json.rows).toHaveLength(2 * (2 + 2 + 2));
    expect(json.rows.filter((x: { sweep: string }) => x.sweep === 'nfe').map((x: { nfe: number }) => x.nfe)).toEqual([
      5, 11, 5, 11,
    ]);
    const table = readFileSync(join(out, 'robustness.md'), 'utf8');
    expect(table).toMatch(/weight bits \| 4/);
    for (const sweep of ['alpha', 'nfe', 'bits']) {
      expect(decodePng(readFileSync(join(out, `robustness-${sweep}.png`))).width).toBeGreaterThan(300);
    }
    // A second run reuses the trained models.
    expect(existsSync(join(out, 'D-64', 'model.safetensors'))).toBe(true);
    const again = pfgm([...args, '--bits', '8']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/reusing/);
  }, 240_000);
});
