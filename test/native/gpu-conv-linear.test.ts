// The CUDA backend's convolutions and linear layers where no GPU can run them (cuda/libs/conv.cu,
// cuda/libs/linear.cu, docs/cuda.md), and the bf16 rounding their autocast uses, checked on the CPU:
// - the CPU-only addon and the CUDA addon without a device refuse runOp('conv2d' | 'linear', ...,
//   'cuda') with ERR_PFGM_DEVICE, and the CUDA addon has the twins (with their CPU cases);
// - ops/bf16_math.h (shared with cuda/kernels/bf16.cu) through the CPU case `bf16_round`, bit for bit
//   against an independent model of IEEE round-to-nearest-even to 8 significant bits.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { NativeAddon } from '../../src/addon/native.js';
import { filled } from '../helpers/ops.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = process.env.PFGM_ADDON_DIR ?? join(root, 'build', 'Release');
const requireNative = createRequire(import.meta.url);
const load = (name: string) => requireNative(join(dir, name)) as NativeAddon;
const cudaPath = join(dir, 'pfgm_cuda.node');
const attempt = (f: () => Promise<unknown>) => Promise.resolve().then(f);

const conv = {
  attrs: { k: 3, stride: 1, pad: 1, math: 2 },
  inputs: { x: filled([1, 4, 4, 3], 1), weight: filled([2, 3, 3, 3], 2), bias: filled([2], 3) },
};
const linear = { attrs: { math: 1 }, inputs: { x: filled([2, 3], 4), weight: filled([5, 3], 5) } };

describe('conv2d and linear on device cuda without a usable GPU', () => {
  it('the CPU-only build refuses both with ERR_PFGM_DEVICE', async () => {
    const cpu = load('pfgm_cpu.node');
    for (const [op, c] of [
      ['conv2d', conv],
      ['linear', linear],
    ] as const) {
      await expect(attempt(() => cpu.runOp(op, c.attrs, c.inputs, 'cuda'))).rejects.toMatchObject({
        code: 'ERR_PFGM_DEVICE',
        message: expect.stringMatching(/no CUDA in this build/),
      });
    }
  });

  it.skipIf(!existsSync(cudaPath))('the CUDA build has the twins and refuses them without a device', async () => {
    const cuda = load('pfgm_cuda.node');
    const gpuCases = cuda.opCases('cuda');
    const cpuCases = cuda.opCases('cpu');
    for (const name of ['conv2d', 'linear', 'bf16_round']) {
      expect(gpuCases, name).toContain(name);
      expect(cpuCases, name).toContain(name);
    }
    const info = cuda.buildInfo().cuda;
    expect(typeof info.cudnn).toBe('boolean');
    expect(typeof info.cublas).toBe('boolean');
    if (info.available) return; // a GPU: test/gpu/conv-linear-parity.test.ts runs them
    for (const [op, c] of [
      ['conv2d', conv],
      ['linear', linear],
    ] as const) {
      await expect(attempt(() => cuda.runOp(op, c.attrs, c.inputs, 'cuda'))).rejects.toMatchObject({
        code: 'ERR_PFGM_DEVICE',
        message: expect.stringContaining(info.reason),
      });
    }
    // the CPU path of the same addon is unaffected by the GPU-only attributes
    const y = await cuda.runOp('conv2d', { ...conv.attrs, plan_stats: 1 }, conv.inputs, 'cpu');
    expect(Object.keys(y)).toEqual(['y']);
  });
});

/** IEEE round-to-nearest-even of a float to bf16 (8 significant bits), computed in doubles. */
function bf16Model(v: number): number {
  if (Number.isNaN(v) || !Number.isFinite(v) || v === 0) return v;
  const a = Math.abs(v);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1; // log2 may round up just below a power of two
  if (2 ** (e + 1) <= a) e += 1;
  e = Math.max(e, -126); // subnormals: bf16 shares float's exponent range, spacing 2^-133
  const ulp = 2 ** (e - 7);
  const q = a / ulp; // exact: a power-of-two scaling
  let r = Math.floor(q);
  const frac = q - r;
  if (frac > 0.5 || (frac === 0.5 && r % 2 === 1)) r += 1;
  const rounded = r * ulp;
  return Math.sign(v) * (rounded >= 2 ** 128 ? Number.POSITIVE_INFINITY : rounded);
}

describe('bf16 rounding (ops/bf16_math.h, the CUDA autocast conversion)', () => {
  it('matches round-to-nearest-even on random bit patterns, ties, subnormals, overflow and NaN', async () => {
    const count = 200_003;
    const bits = new Uint32Array(count);
    let s = 12345;
    for (let i = 0; i < count; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      bits[i] = s;
    }
    // exact ties with even and odd kept bits, either sign, normal and subnormal; around the largest
    // bf16 and the overflow threshold; zeros, infinities, NaNs with low payload bits only
    const special = [
      0x3f808000, 0x3f818000, 0xbf808000, 0xbf818000, 0x00008000, 0x00018000, 0x80018000, 0x7f7f7fff, 0x7f7f8000,
      0x7f7f8001, 0x7f7effff, 0xff7f8000, 0x00000001, 0x80000001, 0x0000ffff, 0x007fffff, 0x00800000, 0x00000000,
      0x80000000, 0x7f800000, 0xff800000, 0x7f800001, 0xff800001, 0x7fc00000, 0x7fffffff,
    ];
    bits.set(special);
    const x = new Float32Array(bits.buffer);
    const y = (await load('pfgm_cpu.node').runOp('bf16_round', {}, { x: { shape: [count], data: x } }, 'cpu')).y
      ?.data as Float32Array;
    const yBits = new Uint32Array(y.buffer, y.byteOffset, y.length);
    let nans = 0;
    let lowBits = 0;
    for (let i = 0; i < count; i++) {
      const v = x[i] as number;
      if (Number.isNaN(v)) {
        nans++;
        expect(Number.isNaN(y[i] as number), `NaN stays NaN (bits ${(bits[i] as number).toString(16)})`).toBe(true);
        if (((yBits[i] as number) & 0xffff) !== 0) lowBits++;
        continue;
      }
      const want = Math.fround(bf16Model(v));
      if (!Object.is(y[i], want)) expect.fail(`bits ${(bits[i] as number).toString(16)}: ${y[i]} vs ${want}`);
      if (((yBits[i] as number) & 0xffff) !== 0) lowBits++;
    }
    expect(lowBits, 'results with bits below bf16 precision').toBe(0);
    expect(nans).toBeGreaterThan(100); // random patterns include NaNs (about 1 in 256)
    // spot values: ties to even, overflow to infinity
    expect(Array.from(y.subarray(0, 4))).toEqual([1, 1.015625, -1, -1.015625]);
    expect(y[8]).toBe(Number.POSITIVE_INFINITY); // 0x7f7f8000: halfway to 2^128 with an odd kept bit
    expect(y[7]).toBe(bf16Model(3.3895313892515355e38)); // 0x7f7f7fff rounds down to the largest bf16
  });
});

/**
 * cuda/kernels/bias.cu's column_sums, loop for loop: blocks (tile, chunk) with grid-stride loops over
 * gridX tiles and gridY chunks, threads (tx < 32, ty < 8), per-thread fp32 sums (Math.fround), the
 * fixed tree over the 8 lanes, then the chunks in double. Also counts how often each element is
 * read, to check the indexing covers every element exactly once.
 */
function columnSumsModel(dy: Float32Array, rows: number, cols: number, gridX: number, gridY: number) {
  const chunkRows = 256;
  const tiles = Math.ceil(cols / 32);
  const chunks = Math.ceil(rows / chunkRows);
  const partial = new Float32Array(chunks * cols);
  const reads = new Uint8Array(rows * cols);
  for (let bx = 0; bx < Math.min(gridX, tiles); bx++) {
    for (let by = 0; by < Math.min(gridY, chunks); by++) {
      for (let tile = bx; tile < tiles; tile += gridX) {
        for (let chunk = by; chunk < chunks; chunk += gridY) {
          const acc = Array.from({ length: 8 }, () => new Float32Array(32));
          for (let ty = 0; ty < 8; ty++) {
            for (let tx = 0; tx < 32; tx++) {
              const c = tile * 32 + tx;
              let sum = 0;
              if (c < cols) {
                const end = Math.min(rows, (chunk + 1) * chunkRows);
                for (let r = chunk * chunkRows + ty; r < end; r += 8) {
                  sum = Math.fround(sum + (dy[r * cols + c] as number));
                  reads[r * cols + c] = (reads[r * cols + c] as number) + 1;
                }
              }
              (acc[ty] as Float32Array)[tx] = sum;
            }
          }
          for (let tx = 0; tx < 32; tx++) {
            const c = tile * 32 + tx;
            if (c >= cols) continue;
            const a = (k: number) => (acc[k] as Float32Array)[tx] as number;
            const f = Math.fround;
            partial[chunk * cols + c] = f(f(f(a(0) + a(1)) + f(a(2) + a(3))) + f(f(a(4) + a(5)) + f(a(6) + a(7))));
          }
        }
      }
    }
  }
  const out = new Float32Array(cols);
  for (let c = 0; c < cols; c++) {
    let s = 0;
    for (let chunk = 0; chunk < chunks; chunk++) s += partial[chunk * cols + c] as number;
    out[c] = s;
  }
  return { out, reads };
}

describe("the GPU bias gradient's summation order, modelled on the CPU", () => {
  it('reads every element once for any grid, and stays within the parity test bound', async () => {
    const cpu = load('pfgm_cpu.node');
    // [rows, cols, dy range]: the parity test's 70_001 x 37 (mean 1, so no cancellation helps), a
    // single partial chunk, one column, and 300 x 17 as in its linear shapes
    const cases = [
      [70_001, 37, -1, 3],
      [100, 5, -1, 1],
      [1000, 1, 0, 1],
      [300, 17, -1, 1],
    ] as const;
    let worst = 0;
    for (const [rows, cols, lo, hi] of cases) {
      const dy = filled([rows, cols], rows + cols, lo, hi);
      const ref = await cpu.runOp(
        'linear',
        {},
        { x: filled([rows, 1], 1), weight: filled([cols, 1], 2), bias: filled([cols], 3), dy },
        'cpu',
      );
      const want = ref.dbias?.data as Float32Array;
      // the launch's grid, and small grids that make both grid-stride loops run
      for (const [gx, gy] of [
        [Math.ceil(cols / 32), Math.min(65535, Math.ceil(rows / 256))],
        [1, 3],
        [2, 1],
      ] as const) {
        const { out, reads } = columnSumsModel(dy.data, rows, cols, gx, gy);
        expect(
          reads.every((n) => n === 1),
          `${rows}x${cols} grid ${gx}x${gy}`,
        ).toBe(true);
        const abs = new Float64Array(cols);
        for (let i = 0; i < dy.data.length; i++)
          abs[i % cols] = (abs[i % cols] as number) + Math.abs(dy.data[i] as number);
        for (let c = 0; c < cols; c++) {
          const bound = 40 * 2 ** -24 * (abs[c] as number) + Math.abs(want[c] as number) * 2 ** -24;
          worst = Math.max(worst, Math.abs((out[c] as number) - (want[c] as number)) / bound);
        }
      }
    }
    // measured: 0.037 of the bound (the fp32 sums are short, <= 32 terms + a tree of 8; the
    // double pass adds little), so the GPU test's bound of 1 leaves a wide margin for the device
    expect(worst).toBeLessThan(0.1);
  });
});
