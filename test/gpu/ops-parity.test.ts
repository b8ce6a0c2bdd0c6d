// CUDA ops (cuda/*.cu) against the CPU engine on random inputs, forward and backward, through the
// twin op cases: runOp(name, attrs, inputs, 'cpu' | 'cuda') with the same inputs. Skipped where
// no CUDA device is usable. Written without a GPU at hand (docs/cuda.md lists what was run where);
// the tolerances below follow from how each kernel rounds:
//
// - exact (bit for bit): elementwise ops, the adaptive scale's forward and input gradient, dropout
//   (same Philox bits, one rounding), the loss gradient, Adam + EMA, EMA, axpy, Rademacher probes.
//   The CUDA code spells every operation with fp:: (ops/rounding.h) so nvcc cannot fuse a
//   multiply-add the CPU (baseline x86-64, no FMA) rounds twice.
// - <= 1 ulp: the adaptive scale's per-channel sums and the linear combination (both sum in double
//   and round once; the double sums may differ in their last bits through FMA or their order,
//   which moves the float result only at a rounding tie) and churn noise (double Box-Muller; CUDA's and libm's log/sin/cos differ by a few double ulp).
// - <= 8 ulp forward, 1e-6 |dy| (1 + |x|) backward: SiLU. Both use the same polynomial exp; the CPU
//   runs its AVX2 clone with FMA-contracted Horner steps and nvcc contracts too, but not
//   necessarily the same steps (expected: 2-3 ulp); the derivative's 1 + x (1 - s) cancels near
//   x = -1.28, hence the absolute bound.
// - group norm: fp32 partial sums on the GPU against double sums on the CPU (cuda/kernels/group_norm.cu):
//   mean within 2e-5 of the group's standard deviation (+ 1 ulp of the mean, which both round to
//   float), rstd within 2e-5 relative, y within 2e-5 and the gradients within 5e-5 of their
//   largest magnitude. A JS model of the kernel's summation order (fp32 through Math.fround) on
//   the first four shapes below gave mean errors <= 1.3e-7 of the std and rstd <= 3.5e-7 relative
//   against the CPU op, so the bounds leave a margin of about 50 for nvcc's contractions and the
//   backward. The backward's one-read path sums a thread's <= 32 pixels in fp32 and the rest in
//   double, as the two-pass path does (the kernel lab on the emulator: 1.4e-7 of dx's scale).
// - loss value and per-sample losses: 1e-5 relative (fp32 tree per sample vs a double sum).
// - gradient norm: 1e-12 relative (both square and sum in double, in different orders).
import { describe, expect, it } from 'vitest';
import { native } from '../../src/addon/load.js';
import type { NativeHostTensor } from '../../src/addon/native.js';
import { getDeviceInfo } from '../../src/index.js';
import { type Attrs, filled, type Inputs, out, scaledError } from '../helpers/ops.js';

const hasCuda = (() => {
  try {
    return getDeviceInfo().backend === 'cuda';
  } catch {
    return false;
  }
})();

type Outputs = Record<string, NativeHostTensor>;

async function both(op: string, attrs: Attrs, inputs: Inputs): Promise<{ cpu: Outputs; gpu: Outputs }> {
  const cpu = await native().runOp(op, attrs, inputs, 'cpu');
  const gpu = await native().runOp(op, attrs, inputs, 'cuda');
  expect(Object.keys(gpu).sort()).toEqual(Object.keys(cpu).sort());
  return { cpu, gpu };
}

/** Elements whose bits differ (NaNs compare by bits too). */
function bitDiffs(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let n = 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) n++;
  return n;
}

function expectExact(r: { cpu: Outputs; gpu: Outputs }, names?: string[]) {
  for (const name of names ?? Object.keys(r.cpu)) {
    expect(bitDiffs(out(r.gpu, name), out(r.cpu, name)), `${name}: elements that differ`).toBe(0);
  }
}

/** Largest distance in units in the last place (NaN against NaN counts 0). */
function maxUlp(a: Float32Array, b: Float32Array): number {
  const ord = (v: number) => {
    const i = new Int32Array(new Float32Array([v]).buffer)[0] as number;
    return i < 0 ? -2147483648 - i : i;
  };
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const [u, v] = [a[i] as number, b[i] as number];
    if (Number.isNaN(u) && Number.isNaN(v)) continue;
    worst = Math.max(worst, Math.abs(ord(u) - ord(v)));
  }
  return worst;
}

const attempt = (f: () => Promise<unknown>) => Promise.resolve().then(f);

describe.skipIf(!hasCuda)('CUDA ops parity with the CPU engine', () => {
  it('elementwise ops are bit-identical, including a grid-stride loop past 2^24 elements', async () => {
    const big = 2 ** 24 + 12_345;
    expectExact(await both('axpby', { alpha: 0.37, beta: -1.9 }, { a: filled([big], 1), b: filled([big], 2) }));
    expectExact(await both('scale', { alpha: -3.3 }, { a: filled([100_003], 3) }));
    expectExact(
      await both(
        'concat_channels',
        {},
        { a: filled([2, 5, 7, 3], 4), b: filled([2, 5, 7, 64], 5), dy: filled([2, 5, 7, 67], 6) },
      ),
    );
    expectExact(await both('add_channel_bias', {}, { x: filled([3, 9, 11, 40], 7), bias: filled([3, 40], 8) }));
    expectExact(await both('nchw_to_nhwc', {}, { x: filled([3, 5, 17, 19], 9) }));
    expectExact(await both('nhwc_to_nchw', {}, { x: filled([3, 17, 19, 5], 10) }));
  });

  it('SiLU forward within 8 ulp, backward within 1e-6 |dy| (1 + |x|)', async () => {
    const x = filled([300_001], 11, -100, 100);
    const special = [0, -0, 1e-30, -1e-30, -1.28, -87.3, -88, 88.3, 89, -90, 1e30, Number.NaN];
    x.data.set(special);
    const dy = filled([300_001], 12, -2, 2);
    const r = await both('silu', {}, { x, dy });
    expect(maxUlp(out(r.gpu, 'y'), out(r.cpu, 'y'))).toBeLessThanOrEqual(8);
    const [g, c] = [out(r.gpu, 'dx'), out(r.cpu, 'dx')];
    for (let i = 0; i < c.length; i++) {
      if (Number.isNaN(c[i] as number)) {
        expect(Number.isNaN(g[i] as number)).toBe(true);
        continue;
      }
      const bound = 1e-6 * Math.abs(dy.data[i] as number) * (1 + Math.abs(x.data[i] as number)) + 1e-30;
      if (!(Math.abs((g[i] as number) - (c[i] as number)) <= bound)) {
        expect.fail(`silu dx at x = ${x.data[i]}: ${g[i]} vs ${c[i]}`);
      }
    }
  });

  // Outputs y, the mask's words (their bits as floats), dx read from the mask and dx_regen drawn
  // again: per-sample sizes that end in a partial word and a partial Philox block, in place too.
  it('dropout keeps the CPU mask bit for bit (forward, mask words, backward both ways)', async () => {
    for (const [n, per] of [
      [3, 12_345],
      [5, 33],
      [2, 7],
    ] as const) {
      for (const p of [0, 0.13, 0.5, 0.9]) {
        for (const in_place of [0, 1]) {
          const attrs = { p, seed: 2 ** 40 + 3, step: 9, site: 5, sample_offset: 7, in_place };
          const r = await both('dropout', attrs, { x: filled([n, per], 13), dy: filled([n, per], 14) });
          expectExact(r);
          expect(bitDiffs(out(r.gpu, 'dx'), out(r.gpu, 'dx_regen')), `${n} x ${per}, p = ${p}`).toBe(0);
        }
      }
    }
  });

  // backward_path: the path group_norm.cu's backward must take for the shape (1: one read, x and
  // dy held in registers by a block per column of whole groups; 2: the two-pass fallback), so
  // both stay covered. no_dx / no_params / no_dshift leave those gradients out (null).
  const oneRead = { backward_path: 1 };
  const twoPass = { backward_path: 2 };
  it.each([
    ['one chunk, 48 channels, shift + SiLU', [3, 7, 9, 48], 12, true, true, -1, 1, oneRead],
    ['16 chunks, a mean of 100, shift + SiLU', [2, 64, 64, 128], 32, true, true, 99, 101, twoPass],
    ['one read, a mean of 100, shift + SiLU', [2, 16, 16, 128], 32, true, true, 99, 101, oneRead],
    ['256 channels, no shift, no SiLU', [5, 16, 16, 256], 32, false, false, -3, 2, oneRead],
    ['4 channels in one group', [4, 28, 28, 4], 1, true, false, -1, 1, oneRead],
    ['ddpmpp-small at 28x28: 8 groups of 4', [3, 28, 28, 32], 8, true, true, -1, 1, oneRead],
    ['512 channels at 32x32: 512 threads a block', [2, 32, 32, 512], 32, true, true, -1, 1, oneRead],
    ['groups of 6 channels, 24-channel columns', [2, 16, 16, 192], 32, true, true, -2, 1, oneRead],
    ['groups of 2, no dx', [3, 8, 8, 64], 32, true, true, -1, 1, { ...oneRead, no_dx: 1 }],
    ['4x4, dx only', [2, 4, 4, 96], 24, true, true, -1, 1, { ...oneRead, no_params: 1, no_dshift: 1 }],
    ['parameter gradients only', [2, 16, 16, 256], 32, true, true, -1, 1, { ...oneRead, no_dx: 1, no_dshift: 1 }],
    ['48x48, too many pixels to hold, no dx', [1, 48, 48, 64], 16, false, true, -1, 1, { ...twoPass, no_dx: 1 }],
  ] as const)('group norm: %s', async (_name, shape, groups, silu, withShift, lo, hi, extra) => {
    const [n, , , c] = shape;
    const inputs: Inputs = {
      x: filled([...shape], 21, lo, hi),
      gamma: filled([c], 22, 0.5, 1.5),
      beta: filled([c], 23, -0.5, 0.5),
      dy: filled([...shape], 24),
      ...(withShift ? { shift: filled([n, c], 25) } : {}),
    };
    const attrs = { groups, silu, eps: 1e-5, ...extra };
    const r = await both('group_norm', attrs, inputs);
    const [gm, cm] = [out(r.gpu, 'mean'), out(r.cpu, 'mean')];
    const [gr, cr] = [out(r.gpu, 'rstd'), out(r.cpu, 'rstd')];
    for (let i = 0; i < cm.length; i++) {
      // 2e-5 of the group's std, plus the float rounding of a large mean (1 ulp = 7.6e-6 at 100)
      const ulp = 2 ** (Math.floor(Math.log2(Math.abs(cm[i] as number) || 1)) - 23);
      expect(Math.abs((gm[i] as number) - (cm[i] as number))).toBeLessThanOrEqual(2e-5 / (cr[i] as number) + ulp);
      expect(Math.abs((gr[i] as number) / (cr[i] as number) - 1)).toBeLessThan(2e-5);
    }
    expect(scaledError(out(r.gpu, 'y'), out(r.cpu, 'y'))).toBeLessThan(2e-5);
    const grads = ['dx', 'dgamma', 'dbeta', 'dshift'].filter((name) => name in r.cpu);
    const want = ['dx', 'dgamma', 'dbeta', 'dshift'].filter(
      (name) =>
        !(name === 'dx' && 'no_dx' in extra) &&
        !((name === 'dgamma' || name === 'dbeta') && 'no_params' in extra) &&
        !(name === 'dshift' && (!withShift || 'no_dshift' in extra)),
    );
    expect(grads).toEqual(want);
    for (const name of grads) {
      expect(scaledError(out(r.gpu, name), out(r.cpu, name)), name).toBeLessThan(5e-5);
    }
    // deterministic: a second run gives the same bits
    const again = await native().runOp('group_norm', attrs, inputs, 'cuda');
    for (const name of Object.keys(again)) expect(bitDiffs(out(again, name), out(r.gpu, name)), name).toBe(0);
  });

  it('adaptive scale (modulate): y and dx bit-identical, the per-channel sums within 1 ulp', async () => {
    // 40 channels: two channel tiles of the sum kernel, the second partial; 64 x 64 positions: 512
    // per lane of a block.
    for (const [n, hw, c] of [
      [3, 99, 40],
      [2, 4096, 192],
    ] as const) {
      const x = filled([n, hw, c], 30);
      const params = filled([n, 2 * c], 31);
      const dy = filled([n, hw, c], 32);
      expectExact(await both('backend.modulate_forward', { n, hw, c }, { x, params }));
      const r = await both('backend.modulate_backward', { n, hw, c }, { x, params, dy });
      expectExact(r, ['dx']);
      // Both sum in double and round once; the orders differ (the CPU's sequential, the GPU's in
      // eight lanes), which moves the float only at a rounding tie.
      expect(maxUlp(out(r.gpu, 'dparams'), out(r.cpu, 'dparams'))).toBeLessThanOrEqual(1);
    }
  });

  it('weighted MSE: loss within 1e-5, gradient bit-identical', async () => {
    const r = await both(
      'weighted_mse',
      {},
      { pred: filled([8, 3, 32, 32], 31), target: filled([8, 3, 32, 32], 32), weight: filled([8], 33, 0.5, 1e5) },
    );
    expect(Math.abs((out(r.gpu, 'loss')[0] as number) / (out(r.cpu, 'loss')[0] as number) - 1)).toBeLessThan(1e-5);
    const [gs, cs] = [out(r.gpu, 'per_sample'), out(r.cpu, 'per_sample')];
    for (let i = 0; i < 8; i++) expect(Math.abs((gs[i] as number) / (cs[i] as number) - 1)).toBeLessThan(1e-5);
    expectExact(r, ['dpred']);
  });

  it('Adam + EMA, EMA and axpy are bit-identical', async () => {
    const n = 1_000_003;
    const inputs = {
      p: filled([n], 41),
      g: filled([n], 42, -5, 5),
      m: filled([n], 43, -0.1, 0.1),
      v: filled([n], 44, 0, 0.01),
      ema: filled([n], 45),
    };
    for (const t of [1, 10, 5000]) {
      const attrs = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, t, grad_scale: 0.3, ema_beta: 0.9993 };
      expectExact(await both('adam_step', attrs, inputs));
    }
    expectExact(await both('ema_update', { beta: 0.999 }, { ema: filled([n], 46), p: filled([n], 47) }));
    expectExact(await both('axpy', { alpha: 0.25 }, { x: filled([n], 48), y: filled([n], 49) }));
  });

  it('gradient statistics: norm within 1e-12, finiteness, deterministic', async () => {
    const g = filled([3_000_005], 51, -1, 1);
    const r = await both('grad_stats', {}, { g });
    const norm = (o: Outputs) => (out(o, 'norm')[0] as number) + (out(o, 'norm')[1] as number);
    expect(Math.abs(norm(r.gpu) / norm(r.cpu) - 1)).toBeLessThan(1e-12);
    expect(out(r.gpu, 'finite')[0]).toBe(1);
    const again = await native().runOp('grad_stats', {}, { g }, 'cuda');
    expect(bitDiffs(out(again, 'norm'), out(r.gpu, 'norm'))).toBe(0);
    for (const [at, bad] of [
      [0, Number.NaN],
      [2_999_999, Number.POSITIVE_INFINITY],
      [1_234_567, Number.NEGATIVE_INFINITY],
    ] as const) {
      const h = { shape: g.shape, data: new Float32Array(g.data) };
      h.data[at] = bad;
      expect(out(await native().runOp('grad_stats', {}, { g: h }, 'cuda'), 'finite')[0]).toBe(0);
    }
  });

  it('sampler kernels: linear combination and churn within 1 ulp, Rademacher exact', async () => {
    for (const terms of [1, 2, 5, 16]) {
      const coefs = Array.from({ length: terms }, (_, t) => (t % 2 ? -1 : 1) * (1 + 11.25 * t) * 1.0003);
      const inputs = Object.fromEntries(Array.from({ length: terms }, (_, t) => [`t${t}`, filled([100_003], 60 + t)]));
      const r = await both('linear_combination', { coefs }, inputs);
      expect(maxUlp(out(r.gpu, 'out'), out(r.cpu, 'out'))).toBeLessThanOrEqual(1);
    }
    const seeds = [5, 9, 2 ** 33 + 1, 77, 2 ** 40, 3, 12];
    const streamSets: Attrs[] = [
      { seed: 42, sample_offset: 3, step: 4 },
      { seeds, step: 2 },
    ];
    for (const streams of streamSets) {
      const r = await both('churn_noise', { ...streams, scale: 0.37 }, { x: filled([7, 3 * 32 * 32 + 1], 70) });
      expect(maxUlp(out(r.gpu, 'out'), out(r.cpu, 'out'))).toBeLessThanOrEqual(1);
      expectExact(await both('rademacher', { ...streams, count: 7, n: 1001 }, {}));
    }
  });

  // PFGM_CUDA_NO_CACHING=1 (for out-of-bounds checks: compute-sanitizer, the emulator) turns the
  // cache off; test/native/caching-pool.test.ts checks that mode's policy.
  const cachingOff = !['', '0', undefined].includes(process.env.PFGM_CUDA_NO_CACHING);
  it.skipIf(cachingOff)(
    'the caching allocator reuses on the same stream only and returns memory on release',
    async () => {
      const r = await native().runOp(
        'caching_pool',
        {
          script: [
            [1, 1000, 0], // h0: device call
            [2, 0, 0],
            [1, 900, 1], // h1: other stream, device call
            [1, 900, 0], // h2: h0's block
            [1, 3 * 2 ** 20, 0], // h3: class 3 MiB, device call
            [2, 1, 0],
            [2, 2, 0],
            [2, 3, 0],
            [3, 0, 0],
          ].flat(),
        },
        {},
        'cuda',
      );
      expect(Array.from(out(r, 'classes'))).toEqual([1024, 1024, 1024, 3 * 2 ** 20]);
      expect(Array.from(out(r, 'reused'))).toEqual([0, 0, 1, 0]);
      // [in use (difference), cached, device allocations, device frees, hits]
      expect(Array.from(out(r, 'stats'))).toEqual([0, 0, 3, 3, 1]);
    },
  );

  it('CUDA failures are coded errors naming the call, and the device stays usable', async () => {
    await expect(attempt(() => native().runOp('cuda_fault', { kind: 1 }, {}, 'cuda'))).rejects.toMatchObject({
      code: 'ERR_PFGM_CUDA',
      message: expect.stringMatching(/cudaMemcpy \(a deliberately invalid copy\) failed: cudaError\w+ \(/),
    });
    await expect(attempt(() => native().runOp('cuda_fault', { kind: 2 }, {}, 'cuda'))).rejects.toMatchObject({
      code: 'ERR_PFGM_OUT_OF_MEMORY',
      message: expect.stringMatching(/could not allocate 64\.00 TiB .*free of/),
    });
    await expect(
      attempt(() =>
        native().runOp(
          'group_norm',
          { groups: 5 },
          { x: filled([1, 2, 2, 48], 1), gamma: filled([48], 2), beta: filled([48], 3) },
          'cuda',
        ),
      ),
    ).rejects.toMatchObject({ code: 'ERR_PFGM_SHAPE' });
    expectExact(await both('axpby', { alpha: 1, beta: 1 }, { a: filled([10], 1), b: filled([10], 2) }));
  });
});
