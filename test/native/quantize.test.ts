// Post-training weight quantization (PFGM++ Sec. 6, docs/method.md §4 (c)): on random tensors of several
// shapes of distribution, every value lands on one of the 2^b levels from min to max, the nearest
// one (error <= half a step), at most 2^b distinct values, min and max kept, idempotent; on EDM's
// NCSN++ form and the MLP (PyTorch fixture weights: EDM's init, perturbed), quantizeWeights
// touches exactly the asked weight set's parameters and never the Fourier-frequency buffer; and
// the denoiser's output moves away from the float32 output by an amount that halves per extra bit,
// as uniform quantization noise of step (max - min) / (2^b - 1) predicts.
import { describe, expect, it } from 'vitest';
import { PfgmError } from '../../src/errors.js';
import { fromNativeConfig } from '../../src/models/config.js';
import { createNetwork, type Network } from '../../src/models/network.js';
import { quantizeTensor, quantizeTensorWithStats, quantizeWeights } from '../../src/models/quantize.js';
import { loadFixture } from '../helpers/golden.js';

/** Deterministic uniform numbers in [0, 1) (a 32-bit LCG; plenty for test data). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 2 ** 32;
  };
}

function normal(next: () => number): number {
  return Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next());
}

const DISTRIBUTIONS: Record<string, (next: () => number) => number> = {
  normal: (next) => 0.05 * normal(next),
  uniform: (next) => 3 * next() - 1,
  // heavy tails: most values crowd a few levels near 0, as in real weight tensors with outliers
  cauchy: (next) => 0.01 * Math.tan(Math.PI * (next() - 0.5)),
  positive: (next) => 1 + next(),
};

function distinct(values: Float32Array): number {
  return new Set(values).size;
}

describe('quantizeTensor', () => {
  for (const [dist, draw] of Object.entries(DISTRIBUTIONS)) {
    it(`puts ${dist} values on the nearest of 2^b levels from min to max, for b = 1..16`, () => {
      const next = rng(dist.length * 7919);
      const data = Float32Array.from({ length: 20000 }, () => draw(next));
      let min = Number.POSITIVE_INFINITY;
      let max = Number.NEGATIVE_INFINITY;
      for (const v of data) {
        min = Math.min(min, v);
        max = Math.max(max, v);
      }
      for (let bits = 1; bits <= 16; bits++) {
        const { values: q, step, maxError } = quantizeTensorWithStats(data, bits);
        expect(step).toBeCloseTo((max - min) / (2 ** bits - 1), 12);
        expect(distinct(q)).toBeLessThanOrEqual(2 ** bits);
        // min and max are levels and stay
        expect(q.reduce((a, v) => Math.min(a, v), Number.POSITIVE_INFINITY)).toBe(min);
        expect(q.reduce((a, v) => Math.max(a, v), Number.NEGATIVE_INFINITY)).toBe(max);
        let offLevel = 0; // distance from the nearest level (float32 rounding only)
        let worst = 0; // largest |q - v|
        for (let i = 0; i < data.length; i++) {
          const k = ((q[i] as number) - min) / step;
          offLevel = Math.max(offLevel, Math.abs(k - Math.round(k)) * step);
          worst = Math.max(worst, Math.abs((q[i] as number) - (data[i] as number)));
        }
        // float32 storage adds at most half an ulp of the largest magnitude
        const ulp = 2 ** (Math.floor(Math.log2(Math.max(Math.abs(min), Math.abs(max)))) - 23);
        expect(offLevel, `bits ${bits}: on a level`).toBeLessThanOrEqual(ulp);
        expect(worst, `bits ${bits}: the nearest level`).toBeLessThanOrEqual(step / 2 + ulp);
        expect(maxError).toBe(worst);
        // idempotent, bit for bit
        expect(quantizeTensor(q, bits)).toEqual(q);
      }
    });
  }

  it('uses all 2^b levels of a dense uniform tensor, and splits at the midpoint with 1 bit', () => {
    const next = rng(3);
    const data = Float32Array.from({ length: 50000 }, () => next());
    for (const bits of [1, 2, 4, 8]) expect(distinct(quantizeTensor(data, bits))).toBe(2 ** bits);
    expect([...quantizeTensor(Float32Array.of(0, 0.2, 0.49, 0.51, 0.7, 1), 1)]).toEqual([0, 0, 0, 1, 1, 1]);
    expect([...quantizeTensor(Float32Array.of(-1, -0.4, 0.4, 2), 2)]).toEqual([-1, 0, 0, 2]);
  });

  it('keeps constant and empty tensors, and rejects bad bits and non-finite values', () => {
    const constant = new Float32Array(10).fill(0.3);
    expect(quantizeTensor(constant, 3)).toEqual(constant);
    expect(quantizeTensorWithStats(constant, 3)).toMatchObject({ step: 0, maxError: 0 });
    expect(quantizeTensor(new Float32Array(0), 8)).toEqual(new Float32Array(0));
    for (const bits of [0, 17, 1.5, Number.NaN, -3]) {
      expect(() => quantizeTensor(Float32Array.of(1, 2), bits)).toThrow(/bits must be an integer from 1 to 16/);
    }
    expect(() => quantizeTensor(Float32Array.of(1, Number.NaN), 8)).toThrow(/value 1 is NaN/);
    expect(() => quantizeTensor([1, 2] as unknown as Float32Array, 8)).toThrow(PfgmError);
  });
});

function fixtureNetwork(name: string): {
  net: Network;
  weights: Map<string, Float32Array>;
  fx: ReturnType<typeof loadFixture>;
} {
  const fx = loadFixture(`networks/${name}.safetensors`);
  const net = createNetwork(fromNativeConfig(JSON.parse(fx.file.metadata.config ?? '{}')));
  const weights = new Map<string, Float32Array>();
  for (const [k, t] of fx.file.tensors)
    if (k.startsWith('param/')) weights.set(k.slice(6), (t.data as Float32Array).slice());
  return { net, weights, fx };
}

describe('quantizeWeights', () => {
  it('quantizes every parameter of the asked weight set, never the other set or the buffers', () => {
    const { net, weights } = fixtureNetwork('ncsnpp-tiny');
    using _ = net;
    expect(net.buffers().map((b) => b.name)).toEqual(['map_noise.freqs']);
    net.loadStateDict(weights, 'raw');
    // EMA weights differ from the raw ones, so the two sets get their own levels.
    const emaIn = new Map([...weights].map(([k, v]) => [k, v.map((x) => x * 1.1 + 0.001)]));
    net.loadStateDict(emaIn, 'ema');
    const before = { raw: net.stateDict('raw'), ema: net.stateDict('ema') };

    const report = quantizeWeights(net, 6, { weights: 'ema' });
    const params = net.parameters();
    expect(report.map((r) => r.name)).toEqual(params.map((p) => p.name));
    expect(report.every((r) => r.weights === 'ema')).toBe(true);
    const after = { raw: net.stateDict('raw'), ema: net.stateDict('ema') };
    for (const p of params) {
      expect(after.raw.get(p.name), `raw ${p.name} untouched`).toEqual(before.raw.get(p.name));
      const q = after.ema.get(p.name) as Float32Array;
      const orig = before.ema.get(p.name) as Float32Array;
      expect(distinct(q), p.name).toBeLessThanOrEqual(64);
      expect(q, p.name).toEqual(quantizeTensor(orig, 6));
      const r = report.find((x) => x.name === p.name);
      let worst = 0;
      for (let i = 0; i < q.length; i++) worst = Math.max(worst, Math.abs((q[i] as number) - (orig[i] as number)));
      expect(r?.maxError).toBeCloseTo(worst, 9);
      expect(r?.numel).toBe(p.numel);
      if (p.numel > 64) expect(worst, p.name).toBeGreaterThan(0); // something did change
      expect(worst).toBeLessThanOrEqual((r?.step ?? 0) / 2 + 1e-7);
    }
    expect(after.ema.get('map_noise.freqs')).toEqual(before.ema.get('map_noise.freqs'));
    expect(after.raw.get('map_noise.freqs')).toEqual(before.raw.get('map_noise.freqs'));

    // 'raw' then quantizes the raw set; a second pass changes nothing (idempotent).
    const rawReport = quantizeWeights(net, 6, { weights: 'raw' });
    expect(rawReport.every((r) => r.weights === 'raw')).toBe(true);
    for (const p of params)
      expect(net.stateDict('raw').get(p.name)).toEqual(quantizeTensor(before.raw.get(p.name) as Float32Array, 6));
    const again = quantizeWeights(net, 6);
    expect(again.length).toBe(2 * params.length);
    expect(again.every((r) => r.maxError === 0)).toBe(true);
  });

  it('rejects bad bits, an unknown weight set and non-finite weights, naming the tensor', () => {
    const { net, weights } = fixtureNetwork('mlp-tiny');
    using _ = net;
    expect(() => quantizeWeights(net, 0)).toThrow(/bits must be an integer from 1 to 16/);
    expect(() => quantizeWeights(net, 8, { weights: 'best' as 'ema' })).toThrow(/'ema', 'raw' or 'both'/);
    const name = [...weights.keys()][1] as string;
    const broken = new Map(weights);
    broken.set(
      name,
      (weights.get(name) as Float32Array).map((v, i) => (i === 2 ? Number.POSITIVE_INFINITY : v)),
    );
    net.loadStateDict(broken, 'raw');
    expect(() => quantizeWeights(net, 8, { weights: 'raw' })).toThrow(
      new RegExp(`raw tensor '${name.replace(/\./g, '\\.')}': value 2 is Infinity`),
    );
  });

  describe.each(['ncsnpp-tiny', 'mlp-tiny'])('%s: the denoiser output', (name) => {
    it('moves away from the float32 output about half as far per extra bit', async () => {
      const { net, weights, fx } = fixtureNetwork(name);
      using _ = net;
      const y = fx.tensor('input/y').data;
      const noise = fx.tensor('input/noise').data;
      const sigma = fx.tensor('input/sigma').data;
      const x = y.map((v, i) => v + (noise[i] as number));
      // One network's rounding pattern is one draw of the quantization noise: pool the squared
      // change over variants of the weights, each value moved by 2% of its tensor's RMS (which
      // reshuffles which level it rounds to, at every b here).
      const next = rng(name.length);
      const variants = Array.from({ length: 16 }, () => {
        const variant = new Map<string, Float32Array>();
        for (const [n, w] of weights) {
          const rms = Math.sqrt(w.reduce((a, v) => a + v * v, 0) / w.length);
          variant.set(
            n,
            w.map((v) => v + 0.02 * rms * normal(next)),
          );
        }
        return variant;
      });
      const bitsList = [5, 6, 7, 8, 9, 10, 11, 12];
      const squared = bitsList.map(() => 0);
      let scale = 0;
      for (const variant of variants) {
        net.loadStateDict(variant, 'both');
        const reference = await net.denoise(x, sigma);
        for (const v of reference) scale += v * v;
        for (const [j, bits] of bitsList.entries()) {
          net.loadStateDict(variant, 'both');
          quantizeWeights(net, bits, { weights: 'raw' });
          const out = await net.denoise(x, sigma);
          let sum = 0;
          for (let i = 0; i < out.length; i++) sum += ((out[i] as number) - (reference[i] as number)) ** 2;
          squared[j] = (squared[j] as number) + sum;
        }
      }
      const errors = squared.map((e) => Math.sqrt(e / scale));
      const ratios = errors.slice(1).map((e, i) => (errors[i] as number) / e);
      // least-squares slope of log2(error) against bits
      const n = bitsList.length;
      const mb = bitsList.reduce((a, b) => a + b, 0) / n;
      const me = errors.reduce((a, e) => a + Math.log2(e), 0) / n;
      let num = 0;
      let den = 0;
      bitsList.forEach((b, i) => {
        num += (b - mb) * (Math.log2(errors[i] as number) - me);
        den += (b - mb) ** 2;
      });
      const slope = num / den;
      // Measured (relative RMS change, b = 5..12; ratio per extra bit; slope of log2 change):
      //   ncsnpp-tiny 2.13e-2 ... 1.68e-4, ratios 1.93-2.13, slope -1.003
      //   mlp-tiny    6.25e-3 ... 5.62e-5, ratios 1.72-2.20, slope -0.979
      expect(slope, `errors ${errors.map((e) => e.toExponential(2)).join(' ')}`).toBeLessThan(-0.9);
      expect(slope).toBeGreaterThan(-1.1);
      for (const r of ratios) {
        expect(r, `ratios ${ratios.map((v) => v.toFixed(2)).join(' ')}`).toBeGreaterThan(1.5);
        expect(r).toBeLessThan(2.6);
      }
    });
  });
});
