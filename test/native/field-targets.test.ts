// The closed-form field targets (src/native/objectives/field_targets.cc): PFGM++'s posterior
// weights and mean (docs/method.md §2.4, the ideal denoiser / STF target) and PFGM's normalized empirical
// field (docs/method.md §3, eq. 3.1), against float64 numpy references (test/fixtures/gen/field_targets.py)
// and against their closed-form limits: one reference, sigma -> 0, sigma -> inf, D -> inf, a query
// sitting on a reference. Malformed inputs come back as coded errors.
import { describe, expect, it } from 'vitest';
import type { NativeHostTensor } from '../../src/addon/native.js';
import { loadFixture, runGoldenCase } from '../helpers/golden.js';
import { type Attrs, filled, type Inputs, out, run } from '../helpers/ops.js';

const fx = loadFixture('ops/field_targets.safetensors');

const tensor = (shape: number[], values: ArrayLike<number>): NativeHostTensor => ({
  shape,
  data: Float32Array.from(values),
});
const at = (a: ArrayLike<number>, i: number) => a[i] as number;
const row = (t: NativeHostTensor, i: number, n: number) => t.data.subarray(i * n, (i + 1) * n);

function sqDist(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += (at(a, k) - at(b, k)) ** 2;
  return s;
}

/** Index of the reference nearest to x. */
function nearest(x: ArrayLike<number>, y: NativeHostTensor, n: number): number {
  let best = 0;
  for (let j = 1; j < (y.shape[0] as number); j++) {
    if (sqDist(x, row(y, j, n)) < sqDist(x, row(y, best, n))) best = j;
  }
  return best;
}

/** x_i = y_{i mod refs} + scale_i * (noise in [-1, 1)): each query sits next to a known reference. */
function perturbed(y: NativeHostTensor, n: number, scales: number[], seed: number): NativeHostTensor {
  const refs = y.shape[0] as number;
  const noise = filled([scales.length, n], seed);
  const data = new Float32Array(scales.length * n);
  for (let i = 0; i < scales.length; i++) {
    for (let k = 0; k < n; k++) {
      data[i * n + k] = at(y.data, (i % refs) * n + k) + (scales[i] as number) * at(noise.data, i * n + k);
    }
  }
  return { shape: [scales.length, n], data };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(at(a, i) - at(b, i)));
  return m;
}

const D_VALUES: [string, Attrs][] = [
  ['1', { D: 1 }],
  ['2.5', { D: 2.5 }],
  ['128', { D: 128 }],
  ['1e6', { D: 1e6 }],
  ['inf', { D_inf: 1 }],
];

describe('field targets against float64 references', () => {
  it('the fixture covers every op, every D and both N', () => {
    const names = fx.cases.map((c) => c.name);
    for (const op of ['posterior_log_weights', 'posterior_mean', 'pfgm_field_target']) {
      expect(
        fx.cases.some((c) => c.op === op),
        op,
      ).toBe(true);
    }
    for (const d of ['1', '2.5', '128', '1e+06', 'inf']) {
      for (const n of ['n2', 'n784']) expect(names).toContain(`logw_${n}_D${d}`);
      expect(names).toContain(`mean_n2_D${d}`);
    }
    expect(names).toContain('pfgm_n784_gamma5');
  });

  it.each(fx.cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const result = await runGoldenCase(fx, c);
    expect(Object.keys(result).sort()).toEqual([...c.outputs].sort());
    for (const [output, cmp] of Object.entries(result)) {
      expect(cmp.ok, `${c.name}/${output}: max |diff| ${cmp.maxAbs} at scale ${cmp.scale}`).toBe(true);
    }
  });

  // Log-probabilities reach -1e4 at tiny sigma, where fp32 keeps ~1e-3 absolute and the golden
  // tolerance must scale with them; the probabilities themselves, which the targets use, are held
  // to 1e-6 absolute everywhere, and every row sums to 1.
  it.each(fx.cases.filter((c) => c.op === 'posterior_log_weights').map((c) => [c.name, c] as const))(
    '%s: probabilities within 1e-6, rows sum to 1',
    async (_name, c) => {
      const inputs: Inputs = {};
      for (const name of c.inputs) inputs[name] = fx.tensor(`${c.name}/${name}`);
      const got = out(await run(c.op, c.attrs, inputs), 'logw');
      const want = fx.tensor(`${c.name}/logw`);
      const [queries, refs] = want.shape as [number, number];
      for (let i = 0; i < queries; i++) {
        let sum = 0;
        for (let j = 0; j < refs; j++) {
          const p = Math.exp(at(got, i * refs + j));
          expect(Math.abs(p - Math.exp(at(want.data, i * refs + j))), `${i},${j}`).toBeLessThan(1e-6);
          sum += p;
        }
        expect(Math.abs(sum - 1)).toBeLessThan(1e-6);
      }
    },
  );
});

describe('posterior mean: closed-form limits', () => {
  const sigmas = [1e-4, 0.01, 1, 80, 1e5];

  it.each(D_VALUES)('a single reference is the mean, exactly (D = %s)', async (_label, dAttrs) => {
    for (const n of [2, 784]) {
      const y = filled([1, n], 7);
      const x = filled([sigmas.length, n], 8, -30, 30);
      const sigma = tensor([sigmas.length], sigmas);
      const mean = out(await run('posterior_mean', dAttrs, { x, y, sigma }), 'mean');
      for (let i = 0; i < sigmas.length; i++)
        expect(Array.from(row({ shape: [], data: mean }, i, n))).toEqual(Array.from(y.data));
      const logw = out(await run('posterior_log_weights', dAttrs, { x, y, sigma }), 'logw');
      expect(Array.from(logw)).toEqual(new Array(sigmas.length).fill(0));
    }
  });

  it.each(D_VALUES)('sigma -> 0 snaps a nearby query to its reference (D = %s)', async (_label, dAttrs) => {
    for (const n of [2, 784]) {
      const refs = 16;
      const y = filled([refs, n], 11);
      // Queries 1e-3 sigma-units away (per coordinate) from reference i mod refs; one query sits
      // exactly on a reference, where finite D's d2 = 0 must not produce NaN.
      const sigma = 1e-3;
      const scales = [0, 1e-6, 1e-5, 1e-4, 1e-3];
      const x = perturbed(y, n, scales, 12);
      const mean = out(
        await run('posterior_mean', dAttrs, {
          x,
          y,
          sigma: tensor(
            [scales.length],
            scales.map(() => sigma),
          ),
        }),
        'mean',
      );
      for (let i = 0; i < scales.length; i++) {
        const xi = row(x, i, n);
        const k = nearest(xi, y, n);
        expect(k).toBe(i % refs);
        // The other references keep a relative weight of at most
        // ((d_k^2 + r^2) / (d_j^2 + r^2))^((N+D)/2) (D = inf: exp(-(d_j^2 - d_k^2) / (2 sigma^2))):
        // ~1e-8 for the heavy tail of D = 1 at N = 2, exactly 0 in fp64 otherwise.
        const D = (dAttrs.D as number | undefined) ?? Number.POSITIVE_INFINITY;
        const dk = sqDist(xi, row(y, k, n));
        let bound = 0;
        for (let j = 0; j < refs; j++) {
          if (j === k) continue;
          const dj = sqDist(xi, row(y, j, n));
          const ratio = Number.isFinite(D)
            ? ((dk + sigma * sigma * D) / (dj + sigma * sigma * D)) ** ((n + D) / 2)
            : Math.exp(-(dj - dk) / (2 * sigma * sigma));
          bound += ratio * maxAbsDiff(row(y, j, n), row(y, k, n));
        }
        const diff = maxAbsDiff(mean.subarray(i * n, (i + 1) * n), row(y, k, n));
        if (bound === 0) expect(diff, `n ${n} query ${i}`).toBe(0);
        else expect(diff, `n ${n} query ${i}`).toBeLessThanOrEqual(bound + 6e-8);
      }
    }
  });

  it('sigma -> 0 with D = inf snaps any query to its nearest reference', async () => {
    const n = 2;
    const y = filled([32, n], 21);
    const x = filled([64, n], 22, -1.5, 1.5);
    const mean = out(
      await run(
        'posterior_mean',
        { D: Number.POSITIVE_INFINITY },
        { x, y, sigma: tensor([64], new Array(64).fill(1e-4)) },
      ),
      'mean',
    );
    for (let i = 0; i < 64; i++) {
      const xi = row(x, i, n);
      const k = nearest(xi, y, n);
      // A query almost equidistant from two references splits its weight: skip the rare tie.
      const d = Array.from({ length: 32 }, (_, j) => sqDist(xi, row(y, j, n))).sort((a, b) => a - b);
      if ((at(d, 1) - at(d, 0)) / (2 * 1e-8) < 50) continue;
      expect(Array.from(mean.subarray(i * n, (i + 1) * n))).toEqual(Array.from(row(y, k, n)));
    }
  });

  it.each(D_VALUES.slice(0, 4))(
    'sigma -> 0 with finite D = %s tends to the weights ||x - y_j||^-(N+D), not to the nearest point',
    async (_label, dAttrs) => {
      const D = dAttrs.D as number;
      const n = 2;
      const refs = 8;
      const y = filled([refs, n], 31);
      const x = filled([6, n], 32, -1.5, 1.5);
      const mean = out(
        await run('posterior_mean', dAttrs, { x, y, sigma: tensor([6], new Array(6).fill(1e-7)) }),
        'mean',
      );
      for (let i = 0; i < 6; i++) {
        const xi = row(x, i, n);
        const logits = Array.from({ length: refs }, (_, j) => (-(n + D) / 2) * Math.log(sqDist(xi, row(y, j, n))));
        const m = Math.max(...logits);
        const w = logits.map((l) => Math.exp(l - m));
        const s = w.reduce((a, b) => a + b, 0);
        for (let k = 0; k < n; k++) {
          const want = w.reduce((acc, wj, j) => acc + (wj / s) * at(y.data, j * n + k), 0);
          expect(Math.abs(at(mean, i * n + k) - want)).toBeLessThan(1e-6);
        }
      }
    },
  );

  it('r^2 below the double range (D = 1e-300, sigma = 1e-30) still gives the r = 0 limit, not NaN', async () => {
    const D = 1e-300;
    const n = 2;
    const refs = 8;
    const y = filled([refs, n], 33);
    const far = filled([3, n], 34, -1.5, 1.5);
    // Queries 0-2 off the data; query 3 exactly on reference 5, which then takes all the weight.
    const x = tensor([4, n], [...far.data, ...row(y, 5, n)]);
    const sigma = tensor([4], new Array(4).fill(1e-30));
    const mean = out(await run('posterior_mean', { D }, { x, y, sigma }), 'mean');
    for (let i = 0; i < 3; i++) {
      const xi = row(x, i, n);
      const w = Array.from({ length: refs }, (_, j) => sqDist(xi, row(y, j, n)) ** (-(n + D) / 2));
      const s = w.reduce((a, b) => a + b, 0);
      for (let k = 0; k < n; k++) {
        const want = w.reduce((acc, wj, j) => acc + (wj / s) * at(y.data, j * n + k), 0);
        expect(Math.abs(at(mean, i * n + k) - want)).toBeLessThan(1e-6);
      }
    }
    expect(Array.from(mean.subarray(3 * n, 4 * n))).toEqual(Array.from(row(y, 5, n)));
  });

  it.each(D_VALUES)('sigma -> inf tends to the reference average (D = %s)', async (_label, dAttrs) => {
    for (const n of [2, 784]) {
      const refs = 24;
      const y = filled([refs, n], 41);
      const x = filled([3, n], 42, -3, 3);
      const mean = out(await run('posterior_mean', dAttrs, { x, y, sigma: tensor([3], [1e6, 1e7, 1e8]) }), 'mean');
      for (let k = 0; k < n; k++) {
        let avg = 0;
        for (let j = 0; j < refs; j++) avg += at(y.data, j * n + k) / refs;
        for (let i = 0; i < 3; i++) expect(Math.abs(at(mean, i * n + k) - avg)).toBeLessThan(1e-6);
      }
    }
  });

  it('D = 1e8 agrees with D = inf', async () => {
    // The log-weights differ by a relative O(N/D + d^2 / (sigma^2 D)), times their spread across
    // references, which the sigmas below keep at O(10): ~1e-6 at N = 2, ~1e-5 at N = 784.
    for (const [n, sigmaValues, tol] of [
      [2, [0.05, 0.2, 1, 5, 80], 1e-6],
      [784, [0.01, 5, 12, 16, 80], 2e-5],
    ] as const) {
      const refs = 16;
      const y = filled([refs, n], 51);
      const x = perturbed(
        y,
        n,
        sigmaValues.map((s) => 1.7 * s),
        52,
      );
      const sigma = tensor([sigmaValues.length], sigmaValues);
      const big = out(await run('posterior_mean', { D: 1e8 }, { x, y, sigma }), 'mean');
      const inf = out(await run('posterior_mean', { D_inf: 1 }, { x, y, sigma }), 'mean');
      expect(maxAbsDiff(big, inf), `n ${n}`).toBeLessThan(tol);
      // D near the double range: r^2 = sigma^2 D would overflow, yet the weights stay Gaussian.
      const huge = out(await run('posterior_mean', { D: 1e307 }, { x, y, sigma }), 'mean');
      expect(maxAbsDiff(huge, inf), `n ${n}, D = 1e307`).toBeLessThan(1e-6);
      const byInfinity = out(await run('posterior_mean', { D: Number.POSITIVE_INFINITY }, { x, y, sigma }), 'mean');
      expect(Array.from(byInfinity)).toEqual(Array.from(inf));
    }
  });

  it('image-shaped batches keep their shape', async () => {
    const y = filled([5, 4, 4, 3], 61);
    const x = filled([2, 4, 4, 3], 62);
    const r = await run('posterior_mean', { D: 128 }, { x, y, sigma: tensor([2], [0.5, 2]) });
    expect(r.mean?.shape).toEqual([2, 4, 4, 3]);
  });
});

describe('PFGM normalized field (3.1): closed-form checks', () => {
  /** The single-reference target, in float64: E = (y - x, -z), v = sqrt(N) E / (||E|| + gamma). */
  function singleTarget(x: ArrayLike<number>, z: number, y: ArrayLike<number>, gamma: number): number[] {
    const e = [...Array.from(y, (v, k) => v - at(x, k)), -z];
    const norm = Math.hypot(...e);
    return e.map((v) => (Math.sqrt(y.length) * v) / (norm + gamma));
  }

  it('one reference: v points from x~ to (y, 0) with norm sqrt(N) ||E|| / (||E|| + gamma)', async () => {
    for (const n of [2, 784]) {
      const y = filled([1, n], 71);
      const zs = [1e-3, 0.1, 1, 10, 40];
      const x = perturbed(y, n, [0.01, 0.1, 1, 3, 10], 72);
      for (const gamma of [5, 0.5, 0]) {
        const v = out(await run('pfgm_field_target', { gamma }, { x, z: tensor([5], zs), y }), 'v');
        for (let i = 0; i < 5; i++) {
          const got = v.subarray(i * (n + 1), (i + 1) * (n + 1));
          const want = singleTarget(row(x, i, n), zs[i] as number, y.data, gamma);
          expect(maxAbsDiff(got, want), `n ${n} gamma ${gamma} query ${i}`).toBeLessThan(2e-6 * Math.sqrt(n));
          // The z component points down, toward the data plane.
          expect(at(got, n)).toBeLessThan(0);
        }
      }
    }
  });

  it('||v|| < sqrt(N), and = sqrt(N) when gamma = 0', async () => {
    for (const n of [2, 784]) {
      const y = filled([32, n], 81);
      const zs = [1e-3, 0.01, 0.3, 3, 40];
      const x = perturbed(y, n, [0.001, 0.01, 0.3, 3, 40], 82);
      const z = tensor([5], zs);
      const v5 = out(await run('pfgm_field_target', { gamma: 5 }, { x, z, y }), 'v');
      const v0 = out(await run('pfgm_field_target', { gamma: 0 }, { x, z, y }), 'v');
      for (let i = 0; i < 5; i++) {
        const norm5 = Math.hypot(...v5.subarray(i * (n + 1), (i + 1) * (n + 1)));
        const norm0 = Math.hypot(...v0.subarray(i * (n + 1), (i + 1) * (n + 1)));
        expect(norm5).toBeLessThan(Math.sqrt(n));
        expect(Math.abs(norm0 / Math.sqrt(n) - 1)).toBeLessThan(1e-6);
        // ||v|| = sqrt(N) ||E|| / (||E|| + gamma) gives ||E|| back from ||v||, and the two gammas
        // must agree on it.
        const e = (norm5 * 5) / (Math.sqrt(n) - norm5);
        expect(Math.abs(norm5 - (Math.sqrt(n) * e) / (e + 5))).toBeLessThan(1e-5);
        for (let k = 0; k <= n; k++) {
          expect(Math.abs(at(v5, i * (n + 1) + k) - (at(v0, i * (n + 1) + k) * e) / (e + 5))).toBeLessThan(1e-5);
        }
      }
    }
  });

  it('a query on a reference point (z = 0, d_j = 0) gives v = 0, not NaN', async () => {
    for (const n of [2, 784]) {
      const y = filled([8, n], 91);
      const x = { shape: [3, n], data: Float32Array.from([...row(y, 3, n), ...row(y, 3, n), ...row(y, 5, n)]) };
      const v = out(await run('pfgm_field_target', { gamma: 5 }, { x, z: tensor([3], [0, 1e-3, 0]), y }), 'v');
      for (const i of [0, 2])
        expect(Array.from(v.subarray(i * (n + 1), (i + 1) * (n + 1)))).toEqual(new Array(n + 1).fill(0));
      // With z > 0 the same point has a finite field pointing straight down (x = y_3 is the
      // dominant charge), not NaN.
      const above = v.subarray(n + 1, 2 * (n + 1));
      for (const value of above) expect(Number.isFinite(value)).toBe(true);
      expect(at(above, n)).toBeLessThan(0);
      // gamma = 0 on a charge: 0/0 must still come back as 0.
      const v0 = out(await run('pfgm_field_target', { gamma: 0 }, { x, z: tensor([3], [0, 0, 0]), y }), 'v');
      for (const value of v0) expect(value).toBe(0);
    }
  });

  it('z = 0 off the data: finite field, zero z component', async () => {
    const n = 2;
    const y = filled([4, n], 95);
    const x = filled([2, n], 96, 2, 3);
    const v = out(await run('pfgm_field_target', {}, { x, z: tensor([2], [0, 0]), y }), 'v');
    for (const value of v) expect(Number.isFinite(value)).toBe(true);
    expect(at(v, 2)).toBe(-0);
  });
});

describe('the float path (no double copy of the references) gives identical results', () => {
  it.each(fx.cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const inputs: Inputs = {};
    for (const name of c.inputs) inputs[name] = fx.tensor(`${c.name}/${name}`);
    const wide = await run(c.op, c.attrs, inputs);
    const narrow = await run(c.op, { ...c.attrs, widen: 0 }, inputs);
    for (const name of c.outputs) expect(Array.from(out(narrow, name))).toEqual(Array.from(out(wide, name)));
  });
});

describe('posterior_mean cost', () => {
  it('64 queries x 256 references x 784 dims', async () => {
    const r = await run('posterior_mean_bench', { queries: 64, refs: 256, n: 784, sigma: 1, D: 128, iters: 5 }, {});
    const ms = at(out(r, 'ms'), 0);
    console.log(`posterior_mean 64 x 256 x 784 (D = 128): ${ms.toFixed(3)} ms per call`);
    expect(ms).toBeGreaterThan(0);
  });
});

describe('malformed inputs come back as coded errors', () => {
  const rejects = (p: Promise<unknown>, code: string, message?: RegExp) =>
    expect(p).rejects.toMatchObject(message ? { code, message: expect.stringMatching(message) } : { code });
  const x = filled([3, 4], 1);
  const y = filled([5, 4], 2);
  const sigma = tensor([3], [0.1, 1, 10]);

  it('posterior ops', async () => {
    for (const op of ['posterior_mean', 'posterior_log_weights']) {
      await rejects(run(op, { D: 1 }, { x, y: filled([5, 3], 2), sigma }), 'ERR_PFGM_SHAPE', /'y'/);
      await rejects(run(op, { D: 1 }, { x: filled([3], 1), y, sigma }), 'ERR_PFGM_SHAPE', /'x'/);
      await rejects(run(op, { D: 1 }, { x, y: filled([0, 4], 2), sigma }), 'ERR_PFGM_SHAPE');
      await rejects(run(op, { D: 1 }, { x, y, sigma: tensor([2], [1, 1]) }), 'ERR_PFGM_SHAPE', /sigma/);
      await rejects(run(op, { D: 1 }, { x, y }), 'ERR_PFGM_ARGUMENT', /sigma/);
      await rejects(run(op, {}, { x, y, sigma }), 'ERR_PFGM_ARGUMENT', /D/);
      await rejects(run(op, { D: 0 }, { x, y, sigma }), 'ERR_PFGM_ARGUMENT', /D must be > 0/);
      await rejects(run(op, { D: -1 }, { x, y, sigma }), 'ERR_PFGM_ARGUMENT', /D must be > 0/);
      await rejects(run(op, { D: 4, D_inf: 1 }, { x, y, sigma }), 'ERR_PFGM_ARGUMENT', /D_inf/);
      await rejects(run(op, { D: 1 }, { x, y, sigma: tensor([3], [0.1, 0, 1]) }), 'ERR_PFGM_ARGUMENT', /sigma\[1\]/);
      await rejects(run(op, { D: 1 }, { x, y, sigma: tensor([3], [0.1, Number.NaN, 1]) }), 'ERR_PFGM_ARGUMENT');
    }
  });

  it('pfgm_field_target', async () => {
    const z = tensor([3], [0.1, 1, 10]);
    await rejects(run('pfgm_field_target', {}, { x, y: filled([5, 2, 2], 2), z }), 'ERR_PFGM_SHAPE', /'y'/);
    await rejects(run('pfgm_field_target', {}, { x, y, z: tensor([4], [1, 1, 1, 1]) }), 'ERR_PFGM_SHAPE', /'z'/);
    await rejects(
      run('pfgm_field_target', {}, { x, y, z: tensor([3], [1, Number.POSITIVE_INFINITY, 1]) }),
      'ERR_PFGM_ARGUMENT',
      /z\[1\]/,
    );
    await rejects(run('pfgm_field_target', { gamma: -1 }, { x, y, z }), 'ERR_PFGM_ARGUMENT', /gamma/);
    await rejects(run('pfgm_field_target', {}, { x, y }), 'ERR_PFGM_ARGUMENT', /'z'/);
  });
});
