// CUDA attention, FIR resampling, the noise embeddings and label dropout (cuda/kernels/attention.cu,
// resample.cu, embedding.cu) against the CPU engine through the twin op cases:
// runOp(name, attrs, inputs, 'cpu' | 'cuda') with the same inputs. The CUDA checks are skipped
// where no CUDA device is usable; the same checks run with both sides on the CPU in a describe
// that always runs, so the plumbing (inputs, attributes, output names, comparisons) is exercised
// everywhere. Written without a GPU (docs/cuda.md lists what has run where). Tolerances, from how
// each kernel rounds (u = 2^-24, the float unit roundoff):
//
// - label_input: bit for bit. The keep decision and the two products come from one header
//   (src/native/ops/label_math.h) compiled by g++ and nvcc, with every product rounded (fp::mul).
// - positional / Fourier embedding: <= 1 ulp. Both round the same float products; only double
//   pow / cos / sin differ (CUDA's are within 2 double ulp, glibc's within 1), which moves the
//   float result only when the exact value lies within ~2^-51 of a float rounding boundary.
// - FIR resampling: |gpu - cpu| <= 36 u max|input|. Each output is a sum of T products of positive
//   weights w with the inputs; each backend's result is within (T + 2) u sum |w x| of the exact sum
//   (T roundings of the sum, one of the weight product, one of each product; the CPU's separable
//   path has the same count). Per direction: down forward T <= 16, sum w = 1: 18 u max|input|;
//   down backward T <= 4, sum w <= 0.75^2: 3.4 u; up forward T <= 4, sum w = 1 for [1,1] and
//   [1,3,3,1] and <= 1.5^2 for [1,2,5]: 13.5 u; up backward T <= 16 with sum w = 2^2: 72 u. So the
//   hard bound on the difference is 36 u except for fir_up's dx (144 u). The CUDA gather rounds
//   every operation (no FMA in its PTX) in a fixed order, so it can be emulated exactly in fp32
//   (Math.fround): on every case below the emulation differs from the CPU op by <= 3 u max|x| for
//   y and <= 10.7 u max|dy| for dx (fir_up [1,3,3,1] on 8x8x256), so 36 u holds with a margin of
//   3.4 where the worst-case argument alone would not give it.
// - attention forward: max |gpu - cpu| <= 2e-5 max |cpu| for out and the weights; backward: the
//   same with 1e-4 for each of dq, dk, dv. oneDNN's blocked sgemm and the CUDA tiles add the same
//   products in different orders: for these random inputs the difference grows like sqrt(K) u
//   times the terms' scale (K = d <= 512 or hw <= 256: about 23 u = 1.4e-6), plus a few ulp from
//   CUDA's expf against oneDNN's exp. 2e-5 leaves a margin of about 10 over that for the
//   forward; the backward chains three products and the softmax gradient's difference
//   dW - rowsum(dW o W), whose cancellation can lose a factor of a few, hence 1e-4. The weights'
//   rows must also sum to 1 within 1e-5 (256 terms, relative error <= 256 u = 1.5e-5 worst case,
//   ~16 u typical), and a second CUDA run must give the same bits (no atomics).
import { describe, expect, it } from 'vitest';
import { native } from '../../src/addon/load.js';
import type { NativeHostTensor } from '../../src/addon/native.js';
import { getDeviceInfo } from '../../src/index.js';
import { type Attrs, filled, type Inputs, out } from '../helpers/ops.js';

const hasCuda = (() => {
  try {
    return getDeviceInfo().backend === 'cuda';
  } catch {
    return false;
  }
})();

type Device = 'cpu' | 'cuda';
type Outputs = Record<string, NativeHostTensor>;
const U = 2 ** -24;

async function both(dev: Device, op: string, attrs: Attrs, inputs: Inputs): Promise<{ ref: Outputs; got: Outputs }> {
  const ref = await native().runOp(op, attrs, inputs, 'cpu');
  const got = await native().runOp(op, attrs, inputs, dev);
  expect(Object.keys(got).sort()).toEqual(Object.keys(ref).sort());
  for (const name of Object.keys(ref)) expect(got[name]?.shape, name).toEqual(ref[name]?.shape);
  return { ref, got };
}

function bitDiffs(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let n = 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) n++;
  return n;
}

function maxUlp(a: Float32Array, b: Float32Array): number {
  const ord = (v: number) => {
    const i = new Int32Array(new Float32Array([v]).buffer)[0] as number;
    return i < 0 ? -2147483648 - i : i;
  };
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(ord(a[i] as number) - ord(b[i] as number)));
  return worst;
}

const maxAbs = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
const maxDiff = (a: Float32Array, b: Float32Array) => {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs((a[i] as number) - (b[i] as number)));
  return d;
};
/** max |a - ref| / max |ref|. */
const scaledErr = (a: Float32Array, ref: Float32Array) => maxDiff(a, ref) / Math.max(maxAbs(ref), 1e-30);

/** Every third element from `lane`: q (0), k (1) or v (2) of an interleaved qkv gradient. */
function lane(x: Float32Array, which: number): Float32Array {
  const r = new Float32Array(x.length / 3);
  for (let i = 0; i < r.length; i++) r[i] = x[3 * i + which] as number;
  return r;
}

const attempt = (f: () => Promise<unknown>) => Promise.resolve().then(f);

// [name, qkv shape [n, h, w, 3c], heads, input range]
type AttentionCase = readonly [string, readonly number[], number, number];
const attentionSmall: AttentionCase[] = [
  ['16x16, c = 128 (the networks\u2019 first attention)', [3, 16, 16, 384], 1, 1],
  ['8x8, c = 256, peaked softmax (logits ~ 3 sigma)', [2, 8, 8, 768], 1, 3],
  ['63 positions (not a tile multiple), 3 heads of 1 channel', [2, 7, 9, 9], 3, 1],
  ['65 positions, 4 heads of 10 channels', [3, 5, 13, 120], 4, 2],
  ['one position, 2 heads', [2, 1, 1, 24], 2, 1],
];
const attentionFull: AttentionCase[] = [
  ['batch 128, 8x8, c = 512', [128, 8, 8, 1536], 1, 1],
  ['batch 16, 16x16, c = 256', [16, 16, 16, 768], 1, 1],
  ['16x16, c = 512, 2 heads', [4, 16, 16, 1536], 2, 1],
];

// [name, op, x shape, filter, pad (undefined: EDM's (taps - 1) // 2)]
type FirCase = readonly [string, 'fir_down' | 'fir_up', readonly number[], number[], number | undefined];
const firSmall: FirCase[] = [
  ['down [1,1], 8x8, 3 channels', 'fir_down', [2, 8, 8, 3], [1, 1], undefined],
  ['down [1,3,3,1] pad 1, odd 7x9, 1 channel', 'fir_down', [3, 7, 9, 1], [1, 3, 3, 1], undefined],
  ['down [1,3,3,1] pad 0 (the residual encoder\u2019s fused down)', 'fir_down', [2, 10, 12, 5], [1, 3, 3, 1], 0],
  ['down [1,3,3,1] pad 2', 'fir_down', [2, 6, 5, 7], [1, 3, 3, 1], 2],
  ['up [1,1], 5x7', 'fir_up', [2, 5, 7, 3], [1, 1], undefined],
  ['up [1,3,3,1] pad 1, 1x1 input', 'fir_up', [3, 1, 1, 4], [1, 3, 3, 1], undefined],
  ['up [1,3,3,1] pad 1, 8x6, 33 channels', 'fir_up', [2, 8, 6, 33], [1, 3, 3, 1], undefined],
  ['up [1,2,5] pad 0 (asymmetric, odd taps)', 'fir_up', [2, 4, 5, 2], [1, 2, 5], 0],
];
const firFull: FirCase[] = [
  ['down [1,1], batch 128, 32x32x128', 'fir_down', [128, 32, 32, 128], [1, 1], undefined],
  ['down [1,3,3,1], batch 64, 16x16x256', 'fir_down', [64, 16, 16, 256], [1, 3, 3, 1], undefined],
  ['up [1,3,3,1], batch 64, 8x8x256', 'fir_up', [64, 8, 8, 256], [1, 3, 3, 1], undefined],
];

function parity(dev: Device, full: boolean) {
  it.each(full ? [...attentionSmall, ...attentionFull] : attentionSmall)(
    'attention: %s',
    async (_name, shape, heads, range) => {
      const [n, h, w, c3] = shape as [number, number, number, number];
      const inputs = {
        qkv: filled([n, h, w, c3], 101 + c3, -range, range),
        dout: filled([n, h, w, c3 / 3], 202 + c3),
      };
      const { ref, got } = await both(dev, 'attention', { heads }, inputs);
      expect(scaledErr(out(got, 'out'), out(ref, 'out'))).toBeLessThanOrEqual(2e-5);
      expect(scaledErr(out(got, 'weights'), out(ref, 'weights'))).toBeLessThanOrEqual(2e-5);
      for (const which of [0, 1, 2]) {
        const [g, r] = [lane(out(got, 'dqkv'), which), lane(out(ref, 'dqkv'), which)];
        expect(scaledErr(g, r), `d${'qkv'[which]}`).toBeLessThanOrEqual(1e-4);
      }
      // softmax rows sum to 1
      const wts = out(got, 'weights');
      const hw = h * w;
      for (let r = 0; r < wts.length / hw; r++) {
        let sum = 0;
        for (let k = 0; k < hw; k++) sum += wts[r * hw + k] as number;
        if (!(Math.abs(sum - 1) <= 1e-5)) expect.fail(`weights row ${r} sums to ${sum}`);
      }
      // the same bits on a second run
      const again = await native().runOp('attention', { heads }, inputs, dev);
      for (const name of Object.keys(again)) expect(bitDiffs(out(again, name), out(got, name)), name).toBe(0);
    },
  );

  it.each(full ? [...firSmall, ...firFull] : firSmall)('%s', async (_name, op, shape, filter, pad) => {
    const x = filled([...shape], 300 + shape.length + filter.length, -2, 2);
    // EDM's pad is the integer (taps - 1) // 2 (the case's default would be fractional for 4 taps)
    const attrs = { filter, pad: pad ?? Math.floor((filter.length - 1) / 2) };
    const fwd = await native().runOp(op, attrs, { x }, 'cpu');
    const dy = filled(fwd.y?.shape ?? [], 400 + filter.length, -3, 3);
    const { ref, got } = await both(dev, op, attrs, { x, dy });
    expect(maxDiff(out(got, 'y'), out(ref, 'y'))).toBeLessThanOrEqual(36 * U * maxAbs(x.data));
    expect(maxDiff(out(got, 'dx'), out(ref, 'dx'))).toBeLessThanOrEqual(36 * U * maxAbs(dy.data));
  });

  it('positional embedding within 1 ulp (EDM: 10000, endpoint; DDPM++: no endpoint; VP labels to 999)', async () => {
    const x = filled([257], 501, -3, 3);
    x.data.set([0, -0, 1e-30, 999, 998.5, -2.5, 0.25, 512]);
    for (const [channels, endpoint, maxPositions] of [
      [256, true, 10000],
      [128, false, 10000],
      [2, false, 10000],
      [6, true, 37.5],
    ] as const) {
      const { ref, got } = await both(
        dev,
        'positional_embedding',
        { channels, endpoint, max_positions: maxPositions },
        { x },
      );
      expect(maxUlp(out(got, 'y'), out(ref, 'y')), `${channels} channels`).toBeLessThanOrEqual(1);
    }
  });

  it('Fourier embedding within 1 ulp (NCSN++ scale 16 frequencies, arguments to ~1e3)', async () => {
    const freqs = filled([128], 601, -40, 40);
    const x = filled([200], 602, -3, 3);
    x.data.set([0, 1e-30, -1e-30, 2.5, -2.5]);
    const { ref, got } = await both(dev, 'fourier_embedding', {}, { x, freqs });
    expect(maxUlp(out(got, 'y'), out(ref, 'y'))).toBeLessThanOrEqual(1);
  });

  it('label input with label dropout is bit-identical', async () => {
    const labels = filled([1000, 10], 701, 0, 1);
    const specs: Attrs[] = [
      { p: 0.1, training: true, seed: 2 ** 40 + 7, sample_offset: 2 ** 32 - 500, step: 12 },
      { p: 0.5, training: true, seed: 3, sample_offset: 0, step: 0 },
      { p: 1, training: true, seed: 3 },
      { p: 0.5, training: false, seed: 3 },
    ];
    for (const attrs of specs) {
      const { ref, got } = await both(dev, 'label_input', attrs, { labels });
      expect(bitDiffs(out(got, 'out'), out(ref, 'out'))).toBe(0);
    }
    const { ref, got } = await both(dev, 'label_input', { n: 5, label_dim: 3, p: 0.5, training: true }, {});
    expect(bitDiffs(out(got, 'out'), out(ref, 'out'))).toBe(0);
    expect(Array.from(out(got, 'out'))).toEqual(new Array(15).fill(0));
  });

  it('bad shapes are coded errors on the device too', async () => {
    await expect(
      attempt(() => native().runOp('attention', { heads: 2 }, { qkv: filled([1, 2, 2, 9], 1) }, dev)),
    ).rejects.toMatchObject({ code: 'ERR_PFGM_SHAPE' });
    await expect(
      attempt(() => native().runOp('fir_down', { filter: [1, 3, 3, 1], pad: 0 }, { x: filled([1, 2, 2, 1], 1) }, dev)),
    ).rejects.toMatchObject({ code: 'ERR_PFGM_SHAPE' });
    await expect(
      attempt(() => native().runOp('label_input', { p: 1.5 }, { labels: filled([2, 3], 1) }, dev)),
    ).rejects.toMatchObject({ code: 'ERR_PFGM_ARGUMENT' });
  });
}

describe('attention / resample / embedding parity plumbing (both sides on the CPU)', () => {
  parity('cpu', false);
});

describe.skipIf(!hasCuda)('CUDA attention, resampling and embeddings against the CPU engine', () => {
  parity('cuda', true);

  it('refuses more than 8 filter taps with ERR_PFGM_ARGUMENT', async () => {
    await expect(
      attempt(() =>
        native().runOp('fir_up', { filter: [1, 2, 3, 4, 5, 4, 3, 2, 1] }, { x: filled([1, 4, 4, 2], 1) }, 'cuda'),
      ),
    ).rejects.toMatchObject({ code: 'ERR_PFGM_ARGUMENT', message: expect.stringMatching(/at most 8 filter taps/) });
  });
});

// ---- the CUDA FIR gather's arithmetic, emulated exactly, against the CPU op ------------------

/**
 * cuda/kernels/resample.cu's fir_gather_kernel in fp32 (Math.fround after every operation, as its fp::mul
 * and fp::add round; its PTX has no FMA): output (b, p, q, ch) sums w[a] w[a2] x over the taps whose
 * input index lies in the image, rows-major, in tap order. `strided`: input 2 o - pad + a;
 * otherwise the transposed correlation, input (o + pad - a) / 2 when that is a whole index.
 */
function firGather(
  strided: boolean,
  [n, inH, inW, outH, outW, c]: readonly [number, number, number, number, number, number],
  pad: number,
  w: number[],
  x: Float32Array,
): Float32Array {
  const f = Math.fround;
  const source = (o: number, a: number, len: number) => {
    const i = strided ? 2 * o - pad + a : (o + pad - a) / 2;
    return Number.isInteger(i) && i >= 0 && i < len ? i : -1;
  };
  const ww = w.map((a) => w.map((b) => f(a * b)));
  const y = new Float32Array(n * outH * outW * c);
  for (let b = 0; b < n; b++) {
    for (let p = 0; p < outH; p++) {
      for (let q = 0; q < outW; q++) {
        for (let ch = 0; ch < c; ch++) {
          let acc = 0;
          for (let a = 0; a < w.length; a++) {
            const i = source(p, a, inH);
            if (i < 0) continue;
            for (let a2 = 0; a2 < w.length; a2++) {
              const j = source(q, a2, inW);
              if (j >= 0) acc = f(acc + f((ww[a]?.[a2] as number) * (x[((b * inH + i) * inW + j) * c + ch] as number)));
            }
          }
          y[((b * outH + p) * outW + q) * c + ch] = acc;
        }
      }
    }
  }
  return y;
}

describe('the CUDA FIR gather emulated in fp32 against the CPU op (the tolerance above)', () => {
  // Measured: y <= 3 u max|x| and dx <= 10.7 u max|dy| (fir_up [1,3,3,1], 8x8x256).
  it.each([...firSmall, ...firFull])('%s', async (_name, op, shape, filter, pad) => {
    const attrs = { filter, pad: pad ?? Math.floor((filter.length - 1) / 2) };
    const x = filled([...shape], 300 + shape.length + filter.length, -2, 2);
    const fwd = await native().runOp(op, attrs, { x }, 'cpu');
    const dy = filled(fwd.y?.shape ?? [], 400 + filter.length, -3, 3);
    const ref = await native().runOp(op, attrs, { x, dy }, 'cpu');
    // The taps as the host rounds them: gain * (1 / sum f) * f[a], gain 2 for up.
    const f = Math.fround;
    const sum = filter.reduce((acc, t) => f(acc + t), 0);
    const g = f((op === 'fir_up' ? 2 : 1) * f(1 / sum));
    const taps = filter.map((t) => f(g * t));
    const [n, h, w, c] = shape as [number, number, number, number];
    const [oh, ow] = [fwd.y?.shape[1] as number, fwd.y?.shape[2] as number];
    const down = op === 'fir_down';
    const y = firGather(down, [n, h, w, oh, ow, c], attrs.pad, taps, x.data);
    const dx = firGather(!down, [n, oh, ow, h, w, c], attrs.pad, taps, dy.data);
    expect(maxDiff(y, out(ref, 'y'))).toBeLessThanOrEqual(36 * U * maxAbs(x.data));
    expect(maxDiff(dx, out(ref, 'dx'))).toBeLessThanOrEqual(36 * U * maxAbs(dy.data));
  });
});

// ---- the CPU label_input case against an independent JavaScript Philox4x32-10 -----------------

const M32 = 0xffffffffn;
/** Philox4x32-10 (Salmon et al. 2011) in BigInt arithmetic: counter c[0..3], key k[0..1]. */
function philox(c: number[], k: number[]): number[] {
  let [c0, c1, c2, c3] = c.map(BigInt) as [bigint, bigint, bigint, bigint];
  let [k0, k1] = k.map(BigInt) as [bigint, bigint];
  for (let round = 0; round < 10; round++) {
    const p0 = 0xd2511f53n * c0;
    const p1 = 0xcd9e8d57n * c2;
    [c0, c1, c2, c3] = [(p1 >> 32n) ^ c1 ^ k0, p1 & M32, (p0 >> 32n) ^ c3 ^ k1, p0 & M32];
    k0 = (k0 + 0x9e3779b9n) & M32;
    k1 = (k1 + 0xbb67ae85n) & M32;
  }
  return [c0, c1, c2, c3].map(Number);
}

describe('label_input on the CPU (the reference of the CUDA twin)', () => {
  it('the JavaScript Philox reproduces a Random123 known answer', () => {
    const hex = (v: number[]) => v.map((x) => x.toString(16).padStart(8, '0')).join(' ');
    expect(hex(philox([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]))).toBe(
      'd16cfe09 94fdcceb 5001e420 24126ea1',
    );
  });

  it('keeps sample i when uniform(lane 0 of block 0 of (seed, offset + i, step, purpose 10)) >= p', async () => {
    const n = 2000;
    const dim = 7;
    const labels = filled([n, dim], 801, -1, 2);
    const seed = 2 ** 35 + 12_345;
    const sampleOffset = 2 ** 32 - 1000; // crosses 2^32: the sample's high word folds into the key
    const step = 41;
    const p = 0.3;
    const r = await native().runOp(
      'label_input',
      { p, training: true, seed, sample_offset: sampleOffset, step },
      { labels },
      'cpu',
    );
    const y = out(r, 'out');
    const gain = Math.fround(Math.sqrt(dim));
    let dropped = 0;
    for (let i = 0; i < n; i++) {
      const sample = BigInt(sampleOffset) + BigInt(i);
      const s = BigInt(seed);
      const key = [Number(s & M32), Number(((s >> 32n) ^ (sample >> 32n)) & M32)];
      const bits = philox([0, Number(sample & M32), step, 10], key)[0] as number;
      const keep = (bits + 0.5) * 2 ** -32 >= Math.fround(p) ? 1 : 0;
      dropped += 1 - keep;
      for (let j = 0; j < dim; j++) {
        const want = Math.fround(Math.fround((labels.data[i * dim + j] as number) * gain) * keep);
        if (!Object.is(y[i * dim + j], want)) expect.fail(`sample ${i}, label ${j}: ${y[i * dim + j]} vs ${want}`);
      }
    }
    // p = 0.3 of 2000: 600 expected, standard deviation 20.5; 5 sigma
    expect(Math.abs(dropped - 600)).toBeLessThan(103);
  });

  it('without training, with p = 0 or without labels it draws nothing', async () => {
    const labels = filled([50, 4], 901, -1, 1);
    for (const attrs of [
      { p: 0.9, training: false, seed: 5 },
      { p: 0, training: true, seed: 5 },
    ]) {
      const y = out(await native().runOp('label_input', attrs, { labels }, 'cpu'), 'out');
      for (let i = 0; i < labels.data.length; i++) expect(y[i]).toBe(Math.fround((labels.data[i] as number) * 2));
    }
    const z = await native().runOp('label_input', { n: 3, label_dim: 5, p: 0.5, training: true }, {}, 'cpu');
    expect(z.out?.shape).toEqual([3, 5]);
    expect(Array.from(out(z, 'out'))).toEqual(new Array(15).fill(0));
    const all = out(await native().runOp('label_input', { p: 1, training: true, seed: 9 }, { labels }, 'cpu'), 'out');
    expect(all.every((v) => v === 0)).toBe(true);
  });
});
