// CUDA physics kernels against the CPU reference: same Philox streams, so the same draws within
// float rounding. The math runs in double on both; libm and CUDA double transcendentals differ by
// a few ulp, which log/exp amplify to about 1e-11 relative in f64 and which f32 rounding hides.
// Skipped where no CUDA device is usable.
import { describe, expect, it } from 'vitest';
import {
  getDeviceInfo,
  perturb,
  pfgmPerturb,
  samplePrior,
  sampleTrainingSigma,
  type Tensor,
  tensor,
} from '../../src/index.js';
import { betaCdf, ksTest, rowNorms2 } from '../helpers/stats.js';

const hasCuda = (() => {
  try {
    return getDeviceInfo().backend === 'cuda';
  } catch {
    return false;
  }
})();

async function maxRelDiff(a: Tensor, b: Tensor): Promise<number> {
  const [x, y] = [await a.data(), await b.data()];
  expect(x.length).toBe(y.length);
  let worst = 0;
  for (let i = 0; i < x.length; i++) {
    const u = x[i] as number;
    const v = y[i] as number;
    worst = Math.max(worst, Math.abs(u - v) / Math.max(1e-30, Math.abs(u), Math.abs(v)));
  }
  return worst;
}

function batch(count: number, n: number, dtype: 'f32' | 'f64', device: 'cpu' | 'cuda') {
  const data = dtype === 'f32' ? new Float32Array(count * n) : new Float64Array(count * n);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.37);
  return tensor(data, [count, n], { device });
}

describe.skipIf(!hasCuda)('CUDA physics parity with the CPU engine', () => {
  it('round-trips tensors of every dtype through GPU memory', async () => {
    for (const data of [
      new Float32Array([1, 2, 3]),
      new Float64Array([4, 5, 6]),
      new Int32Array([-7, 8, 9]),
      new Uint8Array([1, 2, 255]),
    ]) {
      const t = tensor(data, [3], { device: 'cuda' });
      expect(t.device).toBe('cuda');
      expect(Array.from(await t.data())).toEqual(Array.from(data));
      t.dispose();
    }
  });

  it.each([
    ['f64', 1e-10],
    ['f32', 2e-7],
  ] as const)('perturb %s matches for D in {0.5, 1, 128, 1e9, Infinity}', async (dtype, tol) => {
    for (const D of [0.5, 1, 128, 1e9, Number.POSITIVE_INFINITY]) {
      const sigma = Array.from({ length: 37 }, (_, i) => 0.01 * (i + 1));
      const opts = { D, sigma, seed: 11, sampleOffset: 5, step: 3 };
      const cpu = await perturb(batch(37, 3 * 33, dtype, 'cpu'), opts);
      const gpu = await perturb(batch(37, 3 * 33, dtype, 'cuda'), opts);
      expect(gpu.device).toBe('cuda');
      expect(await maxRelDiff(cpu, gpu)).toBeLessThan(tol);
    }
  });

  it('per-sample seeds and the radius clip agree', async () => {
    const seeds = Array.from({ length: 16 }, (_, i) => 1000 + 7 * i);
    const opts = { D: 2, sigma: 3, seed: seeds, radiusClip: { min: 40, max: 60 } };
    const cpu = await perturb(batch(16, 784, 'f64', 'cpu'), opts);
    const gpu = await perturb(batch(16, 784, 'f64', 'cuda'), opts);
    expect(await maxRelDiff(cpu, gpu)).toBeLessThan(1e-10);
  });

  it('prior draws, PFGM perturbation and training sigmas agree', async () => {
    const p = { shape: [3, 8, 8], count: 20, D: 64, sigmaMax: 80, seed: 3, dtype: 'f64' as const };
    expect(
      await maxRelDiff(await samplePrior({ ...p, device: 'cpu' }), await samplePrior({ ...p, device: 'cuda' })),
    ).toBeLessThan(1e-10);
    const q = { M: 291, seed: 8 };
    const a = await pfgmPerturb(batch(20, 3072, 'f64', 'cpu'), q);
    const b = await pfgmPerturb(batch(20, 3072, 'f64', 'cuda'), q);
    expect(await maxRelDiff(a.x, b.x)).toBeLessThan(1e-10);
    expect(await maxRelDiff(a.z, b.z)).toBeLessThan(1e-10);
    const s = { count: 1000, seed: 4, dtype: 'f64' as const };
    expect(
      await maxRelDiff(
        await sampleTrainingSigma({ ...s, device: 'cpu' }),
        await sampleTrainingSigma({ ...s, device: 'cuda' }),
      ),
    ).toBeLessThan(1e-10);
  });

  it('GPU draws follow the kernel law at CIFAR-10 size', async () => {
    const N = 3072;
    const D = 128;
    const x = await samplePrior({ shape: [N], count: 4000, D, sigmaMax: 1, seed: 21, dtype: 'f64', device: 'cuda' });
    const R2 = rowNorms2(await x.data(), 4000);
    expect(ksTest(R2, (v) => betaCdf(v / (v + D), N / 2, D / 2, D / (v + D))).p).toBeGreaterThan(1e-3);
  });

  it('an impossible allocation is a coded error, not a crash', async () => {
    await expect(
      samplePrior({ shape: [1 << 20, 1 << 20], count: 4, D: 1, seed: 0, device: 'cuda' }),
    ).rejects.toMatchObject({ code: 'ERR_PFGM_OUT_OF_MEMORY' });
    // and the device still works afterwards
    const t = tensor(new Float32Array([1, 2]), [2], { device: 'cuda' });
    expect(Array.from(await t.data())).toEqual([1, 2]);
  });
});
