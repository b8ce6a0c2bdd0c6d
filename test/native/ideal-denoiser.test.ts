// The ideal denoiser (docs/method.md §2.4, src/sample/ideal.ts over src/native/sample/ideal_denoiser.cc):
// the posterior mean against a float64 JavaScript implementation for D from 1 to 1e6 and the
// Gaussian D = Infinity, the large-D limit, class-conditional posteriors, the exact input VJP
// against finite differences of the float64 mean, datasets as reference sets, and bad input.
import { describe, expect, it } from 'vitest';
import { idealDenoiser, PfgmError, toy } from '../../src/index.js';
import { posteriorMean64 } from '../helpers/ideal.js';
import { filled } from '../helpers/ops.js';

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let k = 0; k < a.length; k++) m = Math.max(m, Math.abs((a[k] as number) - (b[k] as number)));
  return m;
};

// 12 references in 5 dimensions and 6 queries near and far from them.
const N = 5;
const refs = filled([12, N], 1).data;
const queries = filled([6, N], 2, -1.5, 1.5).data;

describe('denoise', () => {
  it.each([1, 2.5, 128, 1e6, Number.POSITIVE_INFINITY])('D = %s equals the float64 posterior mean', async (D) => {
    using ideal = await idealDenoiser(refs, { D, shape: [N] });
    expect(ideal.count).toBe(12);
    expect(ideal.sampleShape).toEqual([N]);
    for (const sigma of [0.05, 0.3, 1, 10]) {
      const got = await ideal.denoise(queries, sigma);
      const want = posteriorMean64(queries, refs, N, D, sigma);
      // fp32 output of a double computation: a few float ulps of values of size ~1.
      expect(maxAbs(got, want), `sigma ${sigma}`).toBeLessThan(2e-6);
    }
    // Per-sample sigma.
    const s = Float32Array.from([0.05, 0.3, 1, 10, 0.1, 2]);
    const got = await ideal.denoise(queries, s);
    for (let i = 0; i < 6; i++) {
      const want = posteriorMean64(queries.subarray(i * N, (i + 1) * N), refs, N, D, s[i] as number);
      expect(maxAbs(got.subarray(i * N, (i + 1) * N), want)).toBeLessThan(2e-6);
    }
  });

  it('tends to the Gaussian softmax as D grows (docs/method.md §2.4), and D = Infinity is that softmax', async () => {
    using gauss = await idealDenoiser(refs, { D: Number.POSITIVE_INFINITY, shape: [N] });
    const g = await gauss.denoise(queries, 0.3);
    const gaps: number[] = [];
    for (const D of [1e2, 1e4, 1e6]) {
      using ideal = await idealDenoiser(refs, { D, shape: [N] });
      gaps.push(maxAbs(await ideal.denoise(queries, 0.3), g));
    }
    // The kernel's log-weights differ from the Gaussian's by O(d^4 / (sigma^4 D)): the gap falls
    // about 100x per 100x in D (measured 1.9e-2, 1.8e-4, 1.8e-6).
    expect(gaps[1] as number).toBeLessThan((gaps[0] as number) / 30);
    expect(gaps[2] as number).toBeLessThan((gaps[1] as number) / 30);
    expect(gaps[2] as number).toBeLessThan(1e-5);
  });

  it('conditions on a class: one-hot labels give the posterior over that class, zeros the unconditional one', async () => {
    const classes = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2];
    using ideal = await idealDenoiser(refs, { D: 16, shape: [N], classes });
    expect(ideal.labelDim).toBe(3);
    const labels = new Float32Array(6 * 3);
    const want: number[] = [];
    for (let i = 0; i < 6; i++) {
      const c = i % 4 === 3 ? -1 : i % 3; // query 3 is unconditional (zero row)
      if (c >= 0) labels[i * 3 + c] = 1;
      const sub =
        c < 0
          ? refs
          : Float32Array.from(classes.flatMap((k, j) => (k === c ? [...refs.subarray(j * N, (j + 1) * N)] : [])));
      want.push(...posteriorMean64(queries.subarray(i * N, (i + 1) * N), sub, N, 16, 0.4));
    }
    expect(maxAbs(await ideal.denoise(queries, 0.4, { labels }), want)).toBeLessThan(2e-6);
    const soft = labels.slice();
    soft[0] = 0.5;
    await expect(ideal.denoise(queries, 0.4, { labels: soft })).rejects.toThrow(/one-hot/);
  });

  it('reads a dataset whole, with its labels', async () => {
    const data = toy('gaussians', { count: 40, seed: 3, labels: true });
    using ideal = await idealDenoiser(data, { D: 64 });
    expect(ideal.labelDim).toBe(data.info.labelDim);
    expect(ideal.count).toBe(40);
    const batch = await data.read(Array.from({ length: 40 }, (_, i) => i));
    const x = filled([4, 2], 9, -2, 2).data;
    expect(maxAbs(await ideal.denoise(x, 0.5), posteriorMean64(x, batch.data, 2, 64, 0.5))).toBeLessThan(2e-6);
  });

  it('works on image-shaped samples', async () => {
    const imgs = filled([6, 1, 4, 4], 4).data;
    using ideal = await idealDenoiser(imgs, { D: 2048, shape: [1, 4, 4] });
    const x = filled([3, 1, 4, 4], 5).data;
    expect(maxAbs(await ideal.denoise(x, 0.7), posteriorMean64(x, imgs, 16, 2048, 0.7))).toBeLessThan(2e-6);
  });
});

describe('inputVjp', () => {
  it.each([2, 128, Number.POSITIVE_INFINITY])(
    'D = %s: v^T dm/dx matches central differences of the float64 mean',
    async (D) => {
      using ideal = await idealDenoiser(refs, { D, shape: [N] });
      const v = filled([6, N], 7).data;
      for (const sigma of [0.3, 1.5]) {
        const { denoised, vjp } = await ideal.inputVjp(queries, sigma, v);
        expect(maxAbs(denoised, posteriorMean64(queries, refs, N, D, sigma))).toBeLessThan(2e-6);
        // Column k of v^T J per sample: (v . (m(x + h e_k) - m(x - h e_k))) / 2h, in float64.
        const h = 1e-5;
        let worst = 0;
        let scale = 0;
        for (let i = 0; i < 6; i++) {
          const xi = Float64Array.from(queries.subarray(i * N, (i + 1) * N));
          for (let k = 0; k < N; k++) {
            const plus = xi.slice();
            const minus = xi.slice();
            plus[k] = (plus[k] as number) + h;
            minus[k] = (minus[k] as number) - h;
            const mp = posteriorMean64(plus, refs, N, D, sigma);
            const mm = posteriorMean64(minus, refs, N, D, sigma);
            let fd = 0;
            for (let q = 0; q < N; q++)
              fd += (v[i * N + q] as number) * (((mp[q] as number) - (mm[q] as number)) / (2 * h));
            worst = Math.max(worst, Math.abs(fd - (vjp[i * N + k] as number)));
            scale = Math.max(scale, Math.abs(fd));
          }
        }
        expect(scale).toBeGreaterThan(0.1); // the Jacobian is not trivially zero here
        // Measured: at most 2.7e-8 against entries up to 0.81 (the fp32 rounding of the output).
        expect(worst, `sigma ${sigma}: worst ${worst} of ${scale}`).toBeLessThan(1e-6 * Math.max(1, scale));
      }
    },
  );

  it('is zero when the posterior sits on one reference (the mean does not move)', async () => {
    using ideal = await idealDenoiser(refs, { D: Number.POSITIVE_INFINITY, shape: [N] });
    const x = refs.subarray(0, 2 * N).slice();
    const { vjp, denoised } = await ideal.inputVjp(x, 1e-3, filled([2, N], 3).data);
    expect(maxAbs(vjp, new Float32Array(2 * N))).toBe(0);
    expect(maxAbs(denoised, x)).toBe(0);
  });
});

describe('bad input', () => {
  it('gets clear errors', async () => {
    await expect(idealDenoiser(refs, { D: 1 })).rejects.toThrow(/shape/);
    await expect(idealDenoiser(refs, { D: 0, shape: [N] })).rejects.toThrow(/D must be/);
    await expect(idealDenoiser(refs, { D: 1, shape: [7] })).rejects.toMatchObject({ code: 'ERR_PFGM_SHAPE' });
    await expect(idealDenoiser(refs, { D: 1, shape: [N], classes: [0, 1] })).rejects.toMatchObject({
      code: 'ERR_PFGM_SHAPE',
    });
    await expect(idealDenoiser(refs, { D: 1, shape: [N], classes: new Array(12).fill(-1) })).rejects.toBeInstanceOf(
      PfgmError,
    );
    await expect(idealDenoiser(refs, { D: 1, shape: [N], labelDim: 3 })).rejects.toThrow(/classes/);
    const withNaN = refs.slice();
    withNaN[3] = Number.NaN;
    await expect(idealDenoiser(withNaN, { D: 1, shape: [N] })).rejects.toThrow(/non-finite/);
    const ideal = await idealDenoiser(refs, { D: 1, shape: [N] });
    await expect(ideal.denoise(new Float32Array(7), 1)).rejects.toMatchObject({ code: 'ERR_PFGM_SHAPE' });
    await expect(ideal.denoise(queries, 0)).rejects.toMatchObject({ code: 'ERR_PFGM_ARGUMENT' });
    await expect(ideal.denoise(queries, new Float32Array(2))).rejects.toMatchObject({ code: 'ERR_PFGM_SHAPE' });
    await expect(ideal.denoise(queries, 1, { labels: new Float32Array(6) })).rejects.toThrow(/unconditional/);
    await expect(ideal.inputVjp(queries, 1, new Float32Array(3))).rejects.toMatchObject({ code: 'ERR_PFGM_SHAPE' });
    ideal.dispose();
    await expect(ideal.denoise(queries, 1)).rejects.toMatchObject({ code: 'ERR_PFGM_DISPOSED' });
  });
});
