// `pfgm sample` as a user runs it on a saved model: CSV, NPY and PNG outputs, per-seed
// independence of the batch (--seeds 3-5 equals rows 3-5 of --seeds 0-9 up to round-off), and
// clear errors.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePng } from '../../src/codecs/png.js';
import { npy } from '../../src/data/npy.js';
import { preset } from '../../src/models/config.js';
import { saveModel } from '../../src/models/modelFile.js';
import { createNetwork } from '../../src/models/network.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const work = mkdtempSync(join(tmpdir(), 'pfgm-sample-e2e-'));
const model = join(work, 'model.safetensors');
const nanModel = join(work, 'nan.safetensors');
afterAll(() => rmSync(work, { recursive: true, force: true }));
beforeAll(async () => {
  using net = createNetwork(preset('mlp', { features: 2, hidden: 32, numBlocks: 1 }), { D: 64, sigmaData: 1, seed: 3 });
  // Weights of a useful scale, so the samples depend on the network.
  const w = net.stateDict('raw');
  for (const t of w.values()) for (let i = 0; i < t.length; i++) t[i] = Math.sin(i * 12.9898 + t.length) * 0.3;
  net.loadStateDict(w, 'both');
  await saveModel(model, net, { objective: 'pfgmpp' });
  // One NaN weight: every sample becomes NaN.
  (w.values().next().value as Float32Array)[0] = Number.NaN;
  net.loadStateDict(w, 'both');
  await saveModel(nanModel, net, { objective: 'pfgmpp' });
});

function pfgm(args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'pfgm.js'), ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function rows(file: string): number[][] {
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(',').map(Number));
}

describe('pfgm sample', () => {
  it('writes CSV, NPY and a scatter PNG; a sample depends only on its seed', async () => {
    const all = join(work, 'all.csv');
    const r = pfgm(['sample', '--ckpt', model, '--seeds', '0-9', '--steps', '6', '--out', all, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ count: 10, solver: 'heun', nfe: 11 });
    const some = join(work, 'some.csv');
    expect(pfgm(['sample', '--ckpt', model, '--seeds', '3-5', '--steps', '6', '--out', some]).code).toBe(0);
    // Equal up to the network's float round-off, which depends on the batch's GEMM blocking.
    const expected = rows(all).slice(3, 6);
    rows(some).forEach((row, i) => {
      for (const [k, v] of row.entries()) expect(Math.abs(v - (expected[i]?.[k] as number))).toBeLessThan(1e-4);
    });
    const arr = join(work, 'x.npy');
    const n = pfgm([
      'sample',
      '--ckpt',
      model,
      '--count',
      '7',
      '--solver',
      'dpm2m',
      '--steps',
      '5',
      '--out',
      arr,
      '--json',
    ]);
    expect(n.code, n.stderr).toBe(0);
    expect(JSON.parse(n.stdout)).toMatchObject({ nfe: 5 });
    expect((await npy(arr)).info).toMatchObject({ count: 7, shape: [2] });
    const png = join(work, 'x.png');
    expect(pfgm(['sample', '--ckpt', model, '--count', '50', '--steps', '4', '--out', png]).code).toBe(0);
    expect(decodePng(readFileSync(png)).width).toBeGreaterThan(100);
  }, 60_000);

  it("samples EDM's ADM network converted from EDM's pickle (python/convert_edm.py)", async () => {
    // test/fixtures/edm/adm-cond.safetensors: a small class-conditional DhariwalUNet of EDM's code.
    const adm = join(root, 'test', 'fixtures', 'edm', 'adm-cond.safetensors');
    const arr = join(work, 'adm.npy');
    const r = pfgm(['sample', '--ckpt', adm, '--seeds', '0-3', '--steps', '4', '--class', '1', '--out', arr, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ count: 4, solver: 'heun', nfe: 7 });
    // [4, 1, 8, 8] float32, read back one flattened sample per row.
    const samples = async (file: string) => {
      await using set = await npy(file, { kind: 'vector' });
      expect(set.info).toMatchObject({ count: 4, shape: [64] });
      return Array.from((await set.read([0, 1, 2, 3])).data);
    };
    const values = await samples(arr);
    expect(values.every(Number.isFinite)).toBe(true);
    // A sample depends on its seed and on the class.
    expect(values.slice(0, 64)).not.toEqual(values.slice(64, 128));
    const other = join(work, 'adm-class2.npy');
    const r2 = pfgm(['sample', '--ckpt', adm, '--seeds', '0-3', '--steps', '4', '--class', '2', '--out', other]);
    expect(r2.code, r2.stderr).toBe(0);
    expect(await samples(other)).not.toEqual(values);
  }, 60_000);

  it('explains bad options', () => {
    const cases: [string[], RegExp][] = [
      [['sample', '--out', join(work, 'a.csv')], /--ckpt/],
      [['sample', '--ckpt', model], /--out/],
      [['sample', '--ckpt', model, '--out', join(work, 'a.csv'), '--solver', 'nope'], /one of/],
      [['sample', '--ckpt', model, '--out', join(work, 'a.csv'), '--seeds', '5-2'], /ends before/],
      [['sample', '--ckpt', join(work, 'missing.safetensors'), '--out', join(work, 'a.csv')], /missing\.safetensors/],
      [['sample', '--ckpt', model, '--out', join(work, 'a.txt'), '--count', '2', '--steps', '2'], /FILE\.csv/],
      [['sample', '--ckpt', model, '--out', join(work, 'a.csv'), '--class', '1'], /unconditional/],
    ];
    for (const [args, message] of cases) {
      const r = pfgm(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toMatch(message);
    }
  }, 60_000);

  it('a model with a NaN weight is an error naming the step and sigma, unless --allow-non-finite', () => {
    const out = join(work, 'nan.csv');
    const r = pfgm(['sample', '--ckpt', nanModel, '--count', '4', '--steps', '3', '--out', out]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/non-finite values .* at solver step 0, sigma 80.*\[ERR_PFGM_NUMERIC\]/);
    const kept = pfgm([
      'sample',
      '--ckpt',
      nanModel,
      '--count',
      '4',
      '--steps',
      '3',
      '--out',
      out,
      '--allow-non-finite',
    ]);
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stderr).toMatch(/4 of 4 samples hold NaN or Infinity/);
    expect(
      rows(out)
        .flat()
        .every((v) => Number.isNaN(v)),
    ).toBe(true);
    const json = pfgm([
      'sample',
      '--ckpt',
      model,
      '--count',
      '2',
      '--steps',
      '2',
      '--out',
      out,
      '--allow-non-finite',
      '--json',
    ]);
    expect(JSON.parse(json.stdout)).toMatchObject({ count: 2, nonFinite: 0 });
  }, 60_000);
});
