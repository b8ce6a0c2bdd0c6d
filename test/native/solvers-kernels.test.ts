// The sampler's fused native kernels (src/native/sample/sampler.h): the linear combination every
// solver step goes through, against a float64 JavaScript reference (sync and worker-thread forms,
// in place, every term count); EDM's churn noise and the Hutchinson probes against their laws
// (KS / binomial) and the per-sample stream contract (same sample, same numbers, in any batch).
// Bad arguments come back as coded errors.
import { describe, expect, it } from 'vitest';
import { native } from '../../src/addon/load.js';
import { PfgmError } from '../../src/errors.js';
import { nativeStreams } from '../../src/physics/streams.js';
import { combine, SYNC_LIMIT } from '../../src/sample/update.js';
import { filled } from '../helpers/ops.js';
import { ksTest, normalCdf } from '../helpers/stats.js';

/** out = sum_k c_k a_k in float64, rounded once. */
function reference(coefs: number[], arrays: Float32Array[]): Float32Array {
  const n = (arrays[0] as Float32Array).length;
  const out = new Float32Array(n);
  for (let k = 0; k < n; k++) {
    let acc = 0;
    for (let t = 0; t < coefs.length; t++) acc += (coefs[t] as number) * ((arrays[t] as Float32Array)[k] as number);
    out[k] = acc;
  }
  return out;
}

const arrays = (terms: number, n: number, seed: number) =>
  Array.from({ length: terms }, (_, t) => filled([n], seed + 17 * t, -3, 3).data);
const coefsFor = (terms: number) => Array.from({ length: terms }, (_, t) => (t % 2 === 0 ? 1.5 : -0.75) / (t + 1));

/** Largest difference in units of the float32 spacing at each value (ulps). */
function maxUlps(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let k = 0; k < a.length; k++) {
    const ulp = 2 ** (Math.floor(Math.log2(Math.max(Math.abs(b[k] as number), 1e-30))) - 23);
    worst = Math.max(worst, Math.abs((a[k] as number) - (b[k] as number)) / ulp);
  }
  return worst;
}

describe('linearCombination', () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 11, 16])('%i terms equal the float64 reference (sync and async)', async (terms) => {
    for (const n of [1, 7, 1000, 40_001]) {
      const a = arrays(terms, n, n + terms);
      const c = coefsFor(terms);
      const want = reference(c, a);
      const sync = new Float32Array(n);
      native().linearCombination(sync, Float64Array.from(c), a);
      const async = new Float32Array(n);
      await native().linearCombinationAsync(async, Float64Array.from(c), a);
      // Both accumulate in double in term order and round once, as the reference does; the AVX2
      // build of the loop may fuse a multiply-add (one rounding fewer in double), which can move
      // the float result by one ulp where the double sum sits on a rounding boundary.
      expect(maxUlps(sync, want)).toBeLessThanOrEqual(1);
      expect(async).toEqual(sync);
    }
  });

  it('runs in place when out is one of the terms, and through combine() on both paths', async () => {
    const n = 5000;
    const [a, b] = arrays(2, n, 3) as [Float32Array, Float32Array];
    const want = reference([0.25, -2], [a, b]);
    const inPlace = a.slice();
    native().linearCombination(inPlace, Float64Array.of(0.25, -2), [inPlace, b]);
    expect(maxUlps(inPlace, want)).toBeLessThanOrEqual(1);
    expect(
      await combine([
        [0.25, a],
        [-2, b],
      ]),
    ).toEqual(inPlace);
    // Above SYNC_LIMIT element-terms combine() takes the worker thread: same numbers.
    const big = Math.ceil(SYNC_LIMIT / 2) + 3;
    const [p, q] = arrays(2, big, 9) as [Float32Array, Float32Array];
    expect(
      maxUlps(
        await combine([
          [0.25, p],
          [-2, q],
        ]),
        reference([0.25, -2], [p, q]),
      ),
    ).toBeLessThanOrEqual(1);
  });

  it('reads views at their offsets (subarrays of one buffer, as guidance passes them)', () => {
    const buf = filled([20], 5).data;
    const lo = buf.subarray(0, 10);
    const hi = buf.subarray(10);
    const out = new Float32Array(10);
    native().linearCombination(out, Float64Array.of(2, 1), [lo, hi]);
    expect(maxUlps(out, reference([2, 1], [lo.slice(), hi.slice()]))).toBeLessThanOrEqual(1);
  });

  it('refuses bad arguments with coded errors', async () => {
    const a = new Float32Array(8);
    const call = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as { code?: string }).code;
      }
      return 'no error';
    };
    expect(call(() => native().linearCombination(a, Float64Array.of(1, 2), [a]))).toBe('ERR_PFGM_SHAPE');
    expect(call(() => native().linearCombination(a, Float64Array.of(1), [new Float32Array(7)]))).toBe('ERR_PFGM_SHAPE');
    expect(call(() => native().linearCombination(a, Float64Array.of(Number.NaN), [a]))).toBe('ERR_PFGM_ARGUMENT');
    expect(call(() => native().linearCombination(a, new Float64Array(0), []))).toBe('ERR_PFGM_ARGUMENT');
    const many = Array.from({ length: 17 }, () => a);
    expect(call(() => native().linearCombination(a, new Float64Array(17), many))).toBe('ERR_PFGM_ARGUMENT');
    expect(call(() => native().linearCombination(a, Float64Array.of(1), [new Float64Array(8) as never]))).toBe(
      'ERR_PFGM_DTYPE',
    );
    // A shifted view of the output would be read after it was written: refused.
    const buf = new Float32Array(9);
    expect(call(() => native().linearCombination(buf.subarray(0, 8), Float64Array.of(1), [buf.subarray(1)]))).toBe(
      'ERR_PFGM_ARGUMENT',
    );
    expect(call(() => native().linearCombinationAsync(a, Float64Array.of(1), [new Float32Array(3)]))).toBe(
      'ERR_PFGM_SHAPE',
    );
  });
});

describe('churnNoise', () => {
  const draw = async (x: Float32Array, count: number, seed: number | number[], step: number, scale = 1) => {
    const out = new Float32Array(x.length);
    await native().churnNoise({ x, out, count, scale, ...nativeStreams({ seed, step }, count) });
    return out;
  };

  it('adds scale * N(0, 1) noise (KS), and a wrong scale is rejected by the same test', async () => {
    const count = 64;
    const n = 130;
    const x = filled([count * n], 1).data;
    const scale = 0.7;
    const out = await draw(x, count, 3, 2, scale);
    const eps = out.map((v, k) => (v - (x[k] as number)) / scale);
    const { p } = ksTest(eps, normalCdf);
    expect(p, `KS p = ${p}`).toBeGreaterThan(1e-3);
    expect(ksTest(eps, (z) => normalCdf(z / 1.2)).p).toBeLessThan(1e-4);
    expect(await draw(x, count, 3, 2, 0)).toEqual(x);
  });

  it('gives each sample its own stream: the same numbers in any batch, new ones at a new step', async () => {
    const n = 9;
    const seeds = [11, 12, 13, 14];
    const x = new Float32Array(4 * n);
    const all = await draw(x, 4, seeds, 5);
    const two = await draw(new Float32Array(2 * n), 2, [12, 13], 5);
    expect(two).toEqual(all.subarray(n, 3 * n));
    const next = await draw(x, 4, seeds, 6);
    expect(next).not.toEqual(all);
    // One seed: stream offset + i, so sample 2 of a batch equals sample 0 at offset 2.
    const single = new Float32Array(n);
    await native().churnNoise({
      x: single.slice(),
      out: single,
      count: 1,
      scale: 1,
      ...nativeStreams({ seed: 7, sampleOffset: 2, step: 5 }, 1),
    });
    const batch = await draw(new Float32Array(3 * n), 3, 7, 5);
    expect(single).toEqual(batch.subarray(2 * n));
  });

  it('refuses mis-sized arrays and bad scales', async () => {
    const x = new Float32Array(10);
    const base = { count: 2, ...nativeStreams({ seed: 0 }, 2) };
    expect(() => native().churnNoise({ ...base, x, out: new Float32Array(12), scale: 1 })).toThrow(/same length/);
    expect(() => native().churnNoise({ ...base, x, out: new Float32Array(10), scale: -1 })).toThrow(/scale/);
    expect(() => native().churnNoise({ ...base, count: 3, x, out: new Float32Array(10), scale: 1 })).toThrow(
      /whole number/,
    );
  });
});

describe('rademacher', () => {
  it('draws +-1 with probability 1/2 each, per sample and per probe', () => {
    const count = 50;
    const n = 1000;
    const out = new Float32Array(count * n);
    native().rademacher({ out, count, ...nativeStreams({ seed: 4, step: 0 }, count) });
    let plus = 0;
    let other = 0;
    for (const v of out) {
      if (v === 1) plus++;
      else if (v !== -1) other++;
    }
    expect(other).toBe(0);
    // Binomial(50000, 1/2): standard deviation 112; 5 sigma.
    expect(Math.abs(plus - (count * n) / 2)).toBeLessThan(5 * Math.sqrt((count * n) / 4));
    // Neighbouring coordinates are uncorrelated (the bits of one Philox word).
    let agree = 0;
    for (let k = 0; k + 1 < out.length; k++) if (out[k] === out[k + 1]) agree++;
    expect(Math.abs(agree - (out.length - 1) / 2)).toBeLessThan(5 * Math.sqrt(out.length / 4));
    const probe1 = new Float32Array(count * n);
    native().rademacher({ out: probe1, count, ...nativeStreams({ seed: 4, step: 1 }, count) });
    expect(probe1).not.toEqual(out);
    const one = new Float32Array(n);
    native().rademacher({ out: one, count: 1, ...nativeStreams({ seed: 4, sampleOffset: 3, step: 0 }, 1) });
    expect(one).toEqual(out.subarray(3 * n, 4 * n));
  });
});

describe('checks before the native side', () => {
  it('combine() needs a term', async () => {
    await expect(combine([])).rejects.toBeInstanceOf(PfgmError);
  });
});

describe('garbage', () => {
  it('the sampler entry points survive garbage when called directly', async () => {
    const addon = native() as unknown as Record<string, (...args: unknown[]) => unknown>;
    const f = new Float32Array(4);
    const junk: unknown[][] = [
      [],
      [null],
      [42],
      [{}],
      [f, {}, []],
      [f, Float64Array.of(1), [null]],
      [{ x: f, out: f, count: 1.5, scale: 1, seeds: new BigUint64Array(1) }],
      [{ out: f, count: 2, seeds: [1, 2] }],
      [{ out: f, count: 2, seeds: new BigUint64Array(3) }],
      [{ out: f, count: 1, seeds: new BigUint64Array(1), step: -1 }],
    ];
    for (const name of ['linearCombination', 'linearCombinationAsync', 'churnNoise', 'rademacher']) {
      for (const args of junk) {
        let threw: unknown;
        try {
          const result = (addon[name] as (...a: unknown[]) => unknown)(...args);
          if (result instanceof Promise) await result;
        } catch (error) {
          threw = error;
        }
        expect(String((threw as { code?: string } | undefined)?.code), `${name}(${String(args)})`).toMatch(
          /^ERR_PFGM_/,
        );
      }
    }
    const Ideal = native().IdealDenoiser as unknown as new (a: unknown) => unknown;
    for (const args of [
      undefined,
      {},
      { y: f, n: 3, D: 1 },
      { y: f, n: 2, D: -1 },
      { y: f, n: 2, D: 1, classes: [0, 1] },
    ]) {
      expect(() => new Ideal(args), JSON.stringify(args)).toThrow(
        expect.objectContaining({ code: expect.stringMatching(/^ERR_PFGM_/) }),
      );
    }
    const ideal = new (native().IdealDenoiser)({ y: f, n: 2, D: 1 });
    for (const args of [
      {},
      { x: f },
      { x: f, sigma: new Float64Array(1) },
      { x: f, sigma: Float64Array.of(1, -1) },
      { x: f, sigma: Float64Array.of(1, 1), classes: Int32Array.of(0, 0) },
    ]) {
      let threw: unknown;
      try {
        await ideal.denoise(args as never);
      } catch (error) {
        threw = error;
      }
      expect(String((threw as { code?: string } | undefined)?.code), JSON.stringify(Object.keys(args))).toMatch(
        /^ERR_PFGM_/,
      );
    }
    ideal.dispose();
  });
});
