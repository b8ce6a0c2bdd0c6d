// The Winograd 3x3 convolutions (src/native/ops/conv_winograd.cc) against a float64 direct
// convolution of the same fp32 inputs, for every stride-1, padding-1 3x3 shape of the presets
// (ddpmpp-small, ddpmpp-cifar10, ncsnpp-cifar10, ddpmpp-ffhq64), in all three directions, with
// oneDNN's direct path measured beside them; and the PFGM_CONV_WINOGRAD switch.
//
// Errors are in units of u = 2^-24 times sum |x w| over each output's own terms (the scale of the
// rounding error of a direct dot product: a direct fp32 convolution stays within a few such
// units). Winograd rounds in the transformed domain, where the transforms' coefficients amplify
// the rounding of the inputs: per output, by at most kappa^2 with kappa = max_p sum_i |A^T_pi|
// |G_i|_1 |B^T_i|_1, which is 8 for F(2x2, 3x3) and 48 for F(4x4, 3x3) (kappa^2 = 64 and 2304).
// That worst case is relative to the products of a whole tile, so it shows most where an output
// has few terms: with one or three channels (the networks' first and last convolutions, which
// PFGM_CONV_WINOGRAD=auto leaves to the direct path) F(4x4) measured up to 516 units, F(2x2) 19;
// there the bounds are kappa^2. With 16 channels or more (where auto may choose Winograd),
// measured: F(2x2) within 3 units (no worse than direct), F(4x4) within 60, about 1.6e-5 of the
// largest output at 256 to 512 input channels; the bounds there (16 and 400 units) leave room
// for other data and seeds. A wrong transform coefficient gives errors of order 2^24 units. The engine uses F(4x4) where Winograd is chosen
// (docs/dev/architecture.md, "Convolution algorithms"); F(2x2) is kept for PFGM_CONV_WINOGRAD=2.
import { describe, expect, it } from 'vitest';
import { getDeviceInfo, native } from '../../src/addon/load.js';
import type { NativeHostTensor } from '../../src/addon/native.js';

process.env.PFGM_CONV_WINOGRAD = '0'; // tile 0 below: the direct path, for comparison

/** [h (= w), cin, cout] of every stride-1, padding-1 3x3 convolution in the presets. */
const SHAPES: [number, number, number][] = [
  // ddpmpp-small
  [28, 1, 32],
  [28, 32, 32],
  [28, 64, 32],
  [28, 64, 64],
  [28, 96, 32],
  [28, 32, 1],
  [14, 32, 32],
  [14, 32, 64],
  [14, 64, 64],
  [14, 96, 64],
  [14, 128, 64],
  [7, 64, 64],
  [7, 128, 64],
  // ddpmpp-cifar10 and ncsnpp-cifar10
  [32, 3, 128],
  [32, 128, 256],
  [32, 256, 256],
  [32, 384, 256],
  [32, 512, 256],
  [32, 256, 3],
  [16, 256, 256],
  [16, 512, 256],
  [8, 256, 256],
  [8, 512, 256],
  // ddpmpp-ffhq64
  [64, 3, 128],
  [64, 128, 128],
  [64, 256, 128],
  [64, 256, 256],
  [64, 384, 128],
  [64, 128, 3],
  [32, 128, 128],
];

/** Largest error allowed, in units of u sum |terms|, per tile size (0: direct). */
const ULP_BOUND: Record<number, number> = { 0: 16, 2: 16, 4: 400 };
/** The same where a channel count is below 16: the transforms' worst case, kappa^2. */
const THIN_ULP_BOUND: Record<number, number> = { 0: 16, 2: 64, 4: 2304 };
/** Largest error allowed relative to the largest output. */
const REL_BOUND: Record<number, number> = { 0: 1e-5, 2: 1e-5, 4: 1e-4 };

const value = (t: NativeHostTensor | undefined) => (t ? (t.data[0] as number) + (t.data[1] as number) : Number.NaN);

describe('Winograd 3x3 convolutions against a float64 direct convolution', () => {
  it.each(SHAPES)('%i px, %i -> %i channels', async (h, cin, cout) => {
    const n = h <= 14 ? 2 : 1;
    // 64x64 is checked on a 32x32 crop: the error of an output depends on its tile (interior or
    // border), not on how many tiles there are, and the float64 reference at 64x64 costs seconds.
    const size = Math.min(h, 32);
    const bounds = Math.min(cin, cout) >= 16 ? ULP_BOUND : THIN_ULP_BOUND;
    const out = await native().runOp('conv2d.winograd_error', { n, h: size, w: size, cin, cout, tiles: [0, 2, 4] }, {});
    const failures: string[] = [];
    for (const tile of [0, 2, 4]) {
      for (const grad of ['y', 'dx', 'dw', 'db']) {
        const ulp = value(out[`${grad}_ulp_${tile}`]);
        const rel = value(out[`${grad}_rel_${tile}`]);
        const bound = bounds[tile] as number;
        if (!(ulp <= bound)) failures.push(`tile ${tile} ${grad}: ${ulp.toFixed(1)} u > ${bound}`);
        if (!(rel <= (REL_BOUND[tile] as number)))
          failures.push(`tile ${tile} ${grad}: relative ${rel.toExponential(2)}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('handles partial border tiles and channel counts off the 16-channel blocks', async () => {
    // Sizes that leave partial tiles at the border and channel counts that fill part of a block.
    for (const [h, w, cin, cout] of [
      [5, 9, 17, 3],
      [6, 4, 1, 33],
      [3, 3, 40, 24],
    ] as const) {
      const out = await native().runOp('conv2d.winograd_error', { n: 3, h, w, cin, cout, tiles: [2, 4] }, {});
      for (const tile of [2, 4]) {
        for (const grad of ['y', 'dx', 'dw'])
          expect(value(out[`${grad}_ulp_${tile}`])).toBeLessThan(THIN_ULP_BOUND[tile] as number);
      }
    }
  });
});

/** A tensor of `shape` with values from a fixed sequence in [-1, 1). */
function filled(shape: number[], seed: number): NativeHostTensor {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  let state = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    data[i] = state / 2 ** 31 - 1;
  }
  return { shape, data };
}

/** A 3x3, stride-1 convolution of 32 -> 32 channels on 12x12 images: its attributes and inputs. */
const attrs = { k: 3, stride: 1, pad: 1 };
const convInputs = (seed: number) => ({
  x: filled([2, 12, 12, 32], seed),
  weight: filled([32, 32, 3, 3], seed + 1),
  bias: filled([32], seed + 2),
  dy: filled([2, 12, 12, 32], seed + 3),
});

/** max |a - b| and max |a|. */
function difference(a: Float32Array, b: Float32Array): { diff: number; scale: number } {
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(a[i] as number));
    diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)));
  }
  return { diff, scale };
}

describe('PFGM_CONV_WINOGRAD', () => {
  const inputs = convInputs(1);
  const run = async (setting: string) => {
    process.env.PFGM_CONV_WINOGRAD = setting;
    try {
      return await native().runOp('conv2d', attrs, inputs);
    } finally {
      process.env.PFGM_CONV_WINOGRAD = '0';
    }
  };

  it('switches the algorithm: each setting rounds differently, all agree closely', async () => {
    const direct = await run('0');
    for (const setting of ['2', '4']) {
      const other = await run(setting);
      for (const name of ['y', 'dx', 'dweight', 'dbias']) {
        const { diff, scale } = difference(direct[name]?.data as Float32Array, other[name]?.data as Float32Array);
        expect(diff / scale, `${setting} ${name}`).toBeLessThan(1e-4);
        // The bias gradient is the same column sum on both paths' inputs but not the same code.
        if (name !== 'dbias') expect(diff, `${setting} ${name} ran the direct path`).toBeGreaterThan(0);
      }
    }
  });

  it('gives concurrent calls on several worker threads the answer of a lone call', async () => {
    // Each calling thread has its own transform buffers; a shared one would mix the calls.
    process.env.PFGM_CONV_WINOGRAD = '4';
    try {
      const calls = Array.from({ length: 6 }, (_, i) =>
        native().runOp('conv2d', attrs, { ...inputs, x: filled([2, 12, 12, 32], 10 + i) }),
      );
      const results = await Promise.all(calls);
      for (const [i, result] of results.entries()) {
        const alone = await native().runOp('conv2d', attrs, { ...inputs, x: filled([2, 12, 12, 32], 10 + i) });
        for (const name of ['y', 'dx', 'dweight', 'dbias']) expect(result[name]?.data).toEqual(alone[name]?.data);
      }
    } finally {
      process.env.PFGM_CONV_WINOGRAD = '0';
    }
  });

  it('rejects a value it does not know, naming the settings', async () => {
    await expect(run('8')).rejects.toMatchObject({
      code: 'ERR_PFGM_ARGUMENT',
      message: expect.stringMatching(/PFGM_CONV_WINOGRAD is '8'.*auto, 0 .*2 or 4/),
    });
  });
});

describe('PFGM_WINOGRAD_ISA', () => {
  // The transforms are built for AVX-512, AVX2 and baseline x86-64 (conv_winograd_kernels.h);
  // capping the choice runs, here, the code that machines with less run.
  const inputs = convInputs(5);
  const withIsa = async <T>(isa: string, body: () => Promise<T>): Promise<T> => {
    process.env.PFGM_WINOGRAD_ISA = isa;
    process.env.PFGM_CONV_WINOGRAD = '4';
    try {
      return await body();
    } finally {
      delete process.env.PFGM_WINOGRAD_ISA;
      process.env.PFGM_CONV_WINOGRAD = '0';
    }
  };

  it('keeps every build within the error bounds', async () => {
    for (const isa of ['avx512', 'avx2', 'baseline']) {
      for (const [h, cin, cout] of [
        [28, 32, 32],
        [14, 64, 64],
        [7, 128, 64],
      ] as const) {
        const out = await withIsa(isa, () =>
          native().runOp('conv2d.winograd_error', { n: 1, h, w: h, cin, cout, tiles: [2, 4] }, {}),
        );
        for (const tile of [2, 4]) {
          for (const grad of ['y', 'dx', 'dw']) {
            expect(value(out[`${grad}_ulp_${tile}`]), `${isa} ${h}x${h} ${cin}->${cout} F${tile} ${grad}`).toBeLessThan(
              ULP_BOUND[tile] as number,
            );
          }
        }
      }
    }
  });

  it('switches the code: the baseline build rounds differently from the vector one', async () => {
    const vector = await withIsa('avx2', () => native().runOp('conv2d', attrs, inputs));
    const baseline = await withIsa('baseline', () => native().runOp('conv2d', attrs, inputs));
    const { diff, scale } = difference(vector.y?.data as Float32Array, baseline.y?.data as Float32Array);
    expect(diff / scale).toBeLessThan(1e-5);
    // AVX2 contracts multiply-adds into FMAs, baseline x86-64 has none: different last bits.
    if (/avx2|avx512/.test(getDeviceInfo().cpu.isa)) expect(diff).toBeGreaterThan(0);
  });

  it('rejects a value it does not know, naming the settings', async () => {
    await expect(withIsa('sse', () => native().runOp('conv2d', attrs, inputs))).rejects.toMatchObject({
      code: 'ERR_PFGM_ARGUMENT',
      message: expect.stringMatching(/PFGM_WINOGRAD_ISA is 'sse'.*avx512, avx2 or baseline/),
    });
  });
});
