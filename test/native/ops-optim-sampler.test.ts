// The op cases that expose the optimiser passes and the sampler kernels to runOp (so the CUDA
// twins can be compared with them, test/gpu/ops-parity.test.ts) are themselves checked here:
// Adam, EMA and axpy against torch's float32 arithmetic written out in JS with Math.fround (bit
// for bit), the gradient norm against a float64 sum, the linear combination against a float64
// sum rounded once, and the churn and Rademacher draws against the sampler's own bindings.
import { describe, expect, it } from 'vitest';
import { native } from '../../src/addon/load.js';
import { type Attrs, filled, out, run } from '../helpers/ops.js';

const f = Math.fround;

function adamReference(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  o: { lr: number; beta1: number; beta2: number; eps: number; t: number; gradScale: number },
) {
  const bc1 = 1 - o.beta1 ** o.t;
  const bc2 = 1 - o.beta2 ** o.t;
  const [b1, b2, e, step, sbc2, gs] = [
    f(o.beta1),
    f(o.beta2),
    f(o.eps),
    f(o.lr / bc1),
    f(Math.sqrt(bc2)),
    f(o.gradScale),
  ];
  const P = new Float32Array(p);
  const M = new Float32Array(m);
  const V = new Float32Array(v);
  for (let i = 0; i < p.length; i++) {
    const gi = f((g[i] as number) * gs);
    const mi = f((M[i] as number) + f(f(1 - b1) * f(gi - (M[i] as number))));
    const vi = f(f(b2 * (V[i] as number)) + f(f(f(1 - b2) * gi) * gi));
    M[i] = mi;
    V[i] = vi;
    P[i] = f((P[i] as number) - f(f(step * mi) / f(f(f(Math.sqrt(vi)) / sbc2) + e)));
  }
  return { P, M, V };
}

describe('optimiser op cases', () => {
  it('adam_step (+ EMA) is torch.optim.Adam in float32, bit for bit', async () => {
    const n = 40_001;
    const p = filled([n], 1);
    const g = filled([n], 2, -3, 3);
    const m = filled([n], 3, -0.1, 0.1);
    const v = filled([n], 4, 0, 0.01);
    const ema = filled([n], 5);
    for (const t of [1, 7, 1000]) {
      const o = { lr: 2e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, t, gradScale: 0.7 };
      const r = await run('adam_step', { ...o, grad_scale: o.gradScale, ema_beta: 0.99 }, { p, g, m, v, ema });
      const ref = adamReference(p.data, g.data, m.data, v.data, o);
      expect(out(r, 'p')).toEqual(ref.P);
      expect(out(r, 'm')).toEqual(ref.M);
      expect(out(r, 'v')).toEqual(ref.V);
      const e = out(r, 'ema');
      for (let i = 0; i < n; i += 997) {
        const pi = ref.P[i] as number;
        expect(e[i]).toBe(f(pi + f(f(0.99) * f((ema.data[i] as number) - pi))));
      }
    }
  });

  it('ema_update and axpy round like float32', async () => {
    const a = filled([3001], 6);
    const b = filled([3001], 7);
    const e = out(await run('ema_update', { beta: 0.999 }, { ema: a, p: b }), 'ema');
    const y = out(await run('axpy', { alpha: -0.3 }, { x: a, y: b }), 'y');
    for (let i = 0; i < 3001; i++) {
      const [ai, bi] = [a.data[i] as number, b.data[i] as number];
      expect(e[i]).toBe(f(bi + f(f(0.999) * f(ai - bi))));
      expect(y[i]).toBe(f(bi + f(f(-0.3) * ai)));
    }
  });

  it('grad_stats: the float64 norm and finiteness', async () => {
    const g = filled([200_003], 8, -2, 2);
    let sum = 0;
    for (const x of g.data) sum += x * x;
    const r = await run('grad_stats', {}, { g });
    const norm = out(r, 'norm');
    expect(Math.abs((norm[0] as number) + (norm[1] as number) - Math.sqrt(sum)) / Math.sqrt(sum)).toBeLessThan(1e-13);
    expect(out(r, 'finite')[0]).toBe(1);
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
      const h = { shape: g.shape, data: new Float32Array(g.data) };
      h.data[123_457] = bad;
      expect(out(await run('grad_stats', {}, { g: h }), 'finite')[0]).toBe(0);
    }
  });
});

describe('sampler op cases', () => {
  it('linear_combination is the float64 sum rounded once (within 1 ulp)', async () => {
    for (const terms of [1, 3, 5, 7, 16]) {
      const coefs = Array.from({ length: terms }, (_, t) => (t % 2 ? -1 : 1) * (1 + 37.5 * t) * 1.0001);
      const inputs = Object.fromEntries(Array.from({ length: terms }, (_, t) => [`t${t}`, filled([9999], 10 + t)]));
      const o = out(await run('linear_combination', { coefs }, inputs), 'out');
      let worst = 0;
      for (let k = 0; k < 9999; k++) {
        let acc = 0;
        for (let t = 0; t < terms; t++) acc += (coefs[t] as number) * (inputs[`t${t}`]?.data[k] as number);
        const ulp = 2 ** (Math.floor(Math.log2(Math.abs(f(acc)) || 2 ** -149)) - 23);
        worst = Math.max(worst, Math.abs((o[k] as number) - f(acc)) / ulp);
      }
      expect(worst).toBeLessThanOrEqual(1);
    }
  });

  it('churn_noise and rademacher draw what the sampler bindings draw', async () => {
    const x = filled([6, 333], 20);
    const seeds = [5, 9, 1 << 30, 77, 2 ** 40, 3];
    const streamSets: { attrs: Attrs; seeds: BigUint64Array; offset: number; step: number }[] = [
      { attrs: { seed: 42, sample_offset: 3, step: 4 }, seeds: new BigUint64Array([42n]), offset: 3, step: 4 },
      { attrs: { seeds, step: 2 }, seeds: new BigUint64Array(seeds.map(BigInt)), offset: 0, step: 2 },
    ];
    for (const { attrs: streams, seeds: s, offset, step } of streamSets) {
      const viaCase = out(await run('churn_noise', { ...streams, scale: 0.37 }, { x }), 'out');
      const viaBinding = new Float32Array(x.data.length);
      await native().churnNoise({ x: x.data, out: viaBinding, count: 6, scale: 0.37, seeds: s, offset, step });
      expect(viaCase).toEqual(viaBinding);
      const signs = out(await run('rademacher', { ...streams, count: 6, n: 333 }, {}), 'out');
      const ref = new Float32Array(6 * 333);
      native().rademacher({ out: ref, count: 6, seeds: s, offset, step });
      expect(signs).toEqual(ref);
      expect(new Set(signs)).toEqual(new Set([-1, 1]));
    }
  });
});
