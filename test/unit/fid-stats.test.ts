// Reference statistics as EDM's and PFGM++'s fid.py ref write them (.npz of mu and sigma), read
// from files NumPy wrote (test/fixtures/gen/npz.py) and written for NumPy to read; the FID between
// two such files against the value scipy's sqrtm gives (the same script); and the running
// statistics of a streamed FID against the statistics of all features at once.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readNpz } from '../../src/codecs/npz.js';
import { RunningStats, readFidStats, writeFidStats } from '../../src/eval/fidStats.js';
import { featureStats, frechetDistance } from '../../src/eval/frechet.js';
import { repoRoot } from '../helpers/toolkit.js';

const fixtures = join(repoRoot, 'test', 'fixtures', 'npz');
const expected = JSON.parse(readFileSync(join(fixtures, 'expected.json'), 'utf8')) as {
  fid_a_b: number;
  dim: number;
  mu_a_sum: number;
  sigma_b_trace: number;
};
const work = mkdtempSync(join(tmpdir(), 'pfgm-fid-stats-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const numpy = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;

describe('fid.py-style statistics files', () => {
  it("reads NumPy's savez and savez_compressed files", async () => {
    const a = await readFidStats(join(fixtures, 'stats-a.npz'));
    const b = await readFidStats(join(fixtures, 'stats-b.npz'));
    expect(a.dim).toBe(expected.dim);
    expect(a.mean.reduce((s, v) => s + v, 0)).toBeCloseTo(expected.mu_a_sum, 12);
    let trace = 0;
    for (let i = 0; i < b.dim; i++) trace += b.cov[i * b.dim + i] as number;
    expect(trace).toBeCloseTo(expected.sigma_b_trace, 12);
    const arrays = await readNpz(join(fixtures, 'stats-b.npz'));
    expect(arrays.get('sigma')).toMatchObject({ shape: [16, 16], dtype: 'f8' });
  });

  it("gives the FID between two files that EDM's formula with scipy's sqrtm gives, within 1e-6", async () => {
    const a = await readFidStats(join(fixtures, 'stats-a.npz'));
    const b = await readFidStats(join(fixtures, 'stats-b.npz'));
    const fid = await frechetDistance(a, b);
    expect(Math.abs(fid - expected.fid_a_b) / expected.fid_a_b).toBeLessThan(1e-6);
  });

  it('writes files it reads back bit for bit', async () => {
    const a = await readFidStats(join(fixtures, 'stats-a.npz'));
    const path = join(work, 'ref.npz');
    await writeFidStats(path, a);
    const back = await readFidStats(path);
    expect(back.mean).toEqual(a.mean);
    expect(back.cov).toEqual(a.cov);
  });

  it.skipIf(!numpy)('writes files NumPy reads (skipped without python3 and numpy)', async () => {
    const a = await readFidStats(join(fixtures, 'stats-a.npz'));
    const path = join(work, 'for-numpy.npz');
    await writeFidStats(path, a);
    const r = spawnSync(
      'python3',
      [
        '-c',
        'import sys, numpy as np; f = np.load(sys.argv[1]); g = np.load(sys.argv[2]); ' +
          'print(int(np.array_equal(f["mu"], g["mu"]) and np.array_equal(f["sigma"], g["sigma"])), f["sigma"].dtype, f["sigma"].shape)',
        path,
        join(fixtures, 'stats-a.npz'),
      ],
      { encoding: 'utf8' },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('1 float64 (16, 16)');
  });

  it('refuses a file without mu and sigma, naming what it holds', async () => {
    const path = join(work, 'other.npz');
    await writeFidStats(path, { dim: 2, count: 2, mean: Float64Array.of(1, 2), cov: new Float64Array(4) });
    const { encodeNpz } = await import('../../src/codecs/npz.js');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(path, encodeNpz({ features: { shape: [2], data: Float64Array.of(1, 2) } }));
    await expect(readFidStats(path)).rejects.toThrow(/no 'mu' and 'sigma' arrays \(it holds features\)/);
  });
});

describe('RunningStats', () => {
  const dim = 24;
  const rows = 200;
  const features = Float32Array.from(
    { length: rows * dim },
    (_, i) => Math.sin(i * 1.7) * (1 + (i % dim) / 5) + (i % 7),
  );

  it('equals the statistics of all vectors at once, whatever the batches', async () => {
    const all = await featureStats(features, dim);
    const running = new RunningStats(dim);
    let at = 0;
    for (const b of [1, 7, 50, 142]) {
      await running.add(features.subarray(at * dim, (at + b) * dim));
      at += b;
    }
    const s = running.stats();
    expect(s.count).toBe(rows);
    for (let i = 0; i < dim; i++) expect(Math.abs((s.mean[i] as number) - (all.mean[i] as number))).toBeLessThan(1e-12);
    const scale = Math.max(...all.cov.map(Math.abs));
    for (let k = 0; k < all.cov.length; k++)
      expect(Math.abs((s.cov[k] as number) - (all.cov[k] as number))).toBeLessThan(1e-12 * scale);
  });

  it('gives an FID of 0 (to round-off) between a set and its own streamed statistics', async () => {
    const running = new RunningStats(dim);
    for (let at = 0; at < rows; at += 64) await running.add(features.subarray(at * dim, Math.min(rows, at + 64) * dim));
    const fid = await frechetDistance(features, running.stats(), dim);
    expect(Math.abs(fid)).toBeLessThan(1e-9);
  });
});
