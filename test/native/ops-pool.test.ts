// The inference ops of Inception-v3 (src/native/ops/{pool,resize,conv_inference}.cc) against
// PyTorch's golden tensors (test/fixtures/gen/ops_pool.py): max / average / adaptive average
// pooling, bilinear resizing and the rectangular ReLU-fused convolution; plus closed-form laws
// (bilinear reproduces affine ramps, max pooling propagates NaN), thread independence and
// malformed inputs reported as coded errors.
import { describe, expect, it } from 'vitest';
import type { NativeHostTensor } from '../../src/addon/native.js';
import { loadFixture, runGoldenCase } from '../helpers/golden.js';
import { filled, out, run } from '../helpers/ops.js';

const fx = loadFixture('ops/pool.safetensors');

/** Bitwise equality of two float arrays (vitest's toEqual is slow on half a million elements). */
function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

describe('pooling, resizing and inference convolutions against PyTorch', () => {
  it('the fixture covers every op', () => {
    const count = (op: string) => fx.cases.filter((c) => c.op === op).length;
    expect(count('max_pool2d')).toBeGreaterThanOrEqual(4);
    expect(count('avg_pool2d')).toBeGreaterThanOrEqual(4);
    expect(count('adaptive_avg_pool2d')).toBeGreaterThanOrEqual(3);
    expect(count('resize_bilinear')).toBeGreaterThanOrEqual(5);
    expect(count('conv2d_inference')).toBeGreaterThanOrEqual(8);
  });

  it.each(fx.cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const result = await runGoldenCase(fx, c);
    expect(Object.keys(result).sort()).toEqual([...c.outputs].sort());
    for (const [output, cmp] of Object.entries(result)) {
      expect(cmp.ok, `${c.name}/${output}: max |diff| ${cmp.maxAbs} at scale ${cmp.scale}`).toBe(true);
    }
  });

  it('count_include_pad changes the border averages and nothing inside', async () => {
    const x = filled([1, 5, 6, 3], 7);
    const attrs = { kernel: 3, stride: 1, pad: 1 };
    const incl = out(await run('avg_pool2d', { ...attrs, count_include_pad: 1 }, { x }), 'y');
    const excl = out(await run('avg_pool2d', { ...attrs, count_include_pad: 0 }, { x }), 'y');
    for (let y = 0; y < 5; y++) {
      for (let xx = 0; xx < 6; xx++) {
        const border = y === 0 || y === 4 || xx === 0 || xx === 5;
        // A corner window holds 4 of 9 pixels, an edge window 6: the two means differ by 9/4 or 9/6.
        const inside = (y === 0 || y === 4 ? 2 : 3) * (xx === 0 || xx === 5 ? 2 : 3);
        for (let c = 0; c < 3; c++) {
          const i = (y * 6 + xx) * 3 + c;
          const a = incl[i] as number;
          const b = excl[i] as number;
          if (border) expect(b * inside).toBeCloseTo(a * 9, 5);
          else expect(b).toBe(a);
        }
      }
    }
  });
});

describe('closed-form laws', () => {
  it('bilinear resizing reproduces an affine ramp at the source coordinates', async () => {
    // f(y, x) = 0.25 + 0.5 y - 0.125 x: a blend of two neighbours of an affine function is the
    // function at the blended coordinate, s = max((in / out)(d + 0.5) - 0.5, 0), except past the
    // last pixel, where both taps are the edge.
    const [h, w, oh, ow] = [6, 5, 13, 11];
    const data = new Float32Array(h * w);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[y * w + x] = 0.25 + 0.5 * y - 0.125 * x;
    const got = out(await run('resize_bilinear', { size: [oh, ow] }, { x: { shape: [1, h, w, 1], data } }), 'y');
    const src = (d: number, n: number, m: number) => Math.min(Math.max((n / m) * (d + 0.5) - 0.5, 0), n - 1);
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < ow; x++) {
        const want = 0.25 + 0.5 * src(y, h, oh) - 0.125 * src(x, w, ow);
        expect(Math.abs((got[y * ow + x] as number) - want)).toBeLessThan(1e-5);
      }
    }
  });

  it('resizing commutes with x -> 2x - 1 (the weights sum to 1)', async () => {
    const x = filled([2, 9, 7, 3], 3, 0, 1);
    const shifted = { shape: x.shape, data: x.data.map((v) => 2 * v - 1) };
    const a = out(await run('resize_bilinear', { size: [29, 31] }, { x }), 'y');
    const b = out(await run('resize_bilinear', { size: [29, 31] }, { x: shifted }), 'y');
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(2 * (a[i] as number) - 1 - (b[i] as number)));
    expect(worst).toBeLessThan(1e-6); // measured 2.4e-7: float rounding only
  });

  it('max pooling propagates NaN as PyTorch does, and ignores -inf padding', async () => {
    const x = filled([1, 4, 4, 2], 5);
    x.data[(1 * 4 + 1) * 2 + 0] = Number.NaN; // pixel (1, 1), channel 0
    const y = out(await run('max_pool2d', { kernel: 3, stride: 1, pad: 1 }, { x }), 'y');
    for (let oy = 0; oy < 4; oy++) {
      for (let ox = 0; ox < 4; ox++) {
        const sees = Math.abs(oy - 1) <= 1 && Math.abs(ox - 1) <= 1;
        expect(Number.isNaN(y[(oy * 4 + ox) * 2] as number)).toBe(sees);
        expect(Number.isFinite(y[(oy * 4 + ox) * 2 + 1] as number)).toBe(true);
      }
    }
  });

  it('a global adaptive average is the per-channel mean', async () => {
    const x = filled([2, 8, 8, 5], 9);
    const y = out(await run('adaptive_avg_pool2d', { size: 1 }, { x }), 'y');
    for (let n = 0; n < 2; n++) {
      for (let c = 0; c < 5; c++) {
        let sum = 0;
        for (let p = 0; p < 64; p++) sum += x.data[(n * 64 + p) * 5 + c] as number;
        expect(y[n * 5 + c]).toBeCloseTo(sum / 64, 6);
      }
    }
  });
});

describe('threads and concurrency', () => {
  it('concurrent calls give the answer of a lone call, bit for bit', async () => {
    // Large enough that each op splits its rows over the OpenMP threads.
    const x = filled([4, 35, 35, 48], 21);
    const calls: [string, Record<string, number | number[]>][] = [
      ['max_pool2d', { kernel: 3, stride: 2 }],
      ['avg_pool2d', { kernel: 3, stride: 1, pad: 1, count_include_pad: 0 }],
      ['resize_bilinear', { size: [61, 47] }],
    ];
    for (const [op, attrs] of calls) {
      const alone = out(await run(op, attrs, { x }), 'y');
      const together = await Promise.all(Array.from({ length: 4 }, () => run(op, attrs, { x })));
      for (const r of together) expect(sameBits(out(r, 'y'), alone), op).toBe(true);
    }
  });

  it('one inference convolution shape after another reuses its kernels correctly', async () => {
    const weight = filled([6, 4, 1, 7], 2);
    const bias = filled([6], 3);
    const attrs = { pad: [0, 3], relu: 1 };
    for (const n of [3, 1, 3]) {
      const x = filled([n, 5, 9, 4], 4 + n);
      const y = out(await run('conv2d_inference', attrs, { x, weight, bias }), 'y');
      // A direct evaluation of one output per sample: relu(sum_{c,j} w[o, c, 0, j] x[y, x + j - 3, c] + b).
      for (let s = 0; s < n; s++) {
        const [py, px, o] = [2, 1, 5];
        let acc = bias.data[o] as number;
        for (let c = 0; c < 4; c++) {
          for (let j = 0; j < 7; j++) {
            const ix = px + j - 3;
            if (ix < 0 || ix >= 9) continue;
            acc += (weight.data[(o * 4 + c) * 7 + j] as number) * (x.data[((s * 5 + py) * 9 + ix) * 4 + c] as number);
          }
        }
        expect(y[((s * 5 + py) * 9 + px) * 6 + o]).toBeCloseTo(Math.max(acc, 0), 5);
      }
    }
  });
});

describe('malformed inputs', () => {
  const x: NativeHostTensor = filled([1, 4, 4, 3], 1);
  const rejects = (p: Promise<unknown>, code: string) => expect(p).rejects.toMatchObject({ code });

  it('padding larger than half the kernel', async () => {
    await rejects(run('max_pool2d', { kernel: 3, stride: 1, pad: 2 }, { x }), 'ERR_PFGM_SHAPE');
  });

  it('a kernel larger than the padded input', async () => {
    await rejects(run('avg_pool2d', { kernel: 5, stride: 1 }, { x }), 'ERR_PFGM_SHAPE');
    await rejects(run('conv2d_inference', {}, { x, weight: filled([2, 3, 7, 1], 2) }), 'ERR_PFGM_SHAPE');
  });

  it('non-NHWC inputs, zero sizes and bad attributes', async () => {
    await rejects(run('resize_bilinear', { size: [3, 3] }, { x: filled([4, 4, 3], 1) }), 'ERR_PFGM_SHAPE');
    await rejects(run('resize_bilinear', { size: [0, 3] }, { x }), 'ERR_PFGM_ARGUMENT');
    await rejects(run('max_pool2d', { kernel: [3, 3, 3] }, { x }), 'ERR_PFGM_ARGUMENT');
    await rejects(run('max_pool2d', { kernel: 2.5 }, { x }), 'ERR_PFGM_ARGUMENT');
    await rejects(run('adaptive_avg_pool2d', { size: -1 }, { x }), 'ERR_PFGM_ARGUMENT');
  });

  it('convolution weights that do not match the input channels or the bias', async () => {
    await rejects(run('conv2d_inference', {}, { x, weight: filled([2, 4, 1, 1], 2) }), 'ERR_PFGM_SHAPE');
    await rejects(
      run('conv2d_inference', {}, { x, weight: filled([2, 3, 1, 1], 2), bias: filled([3], 3) }),
      'ERR_PFGM_SHAPE',
    );
  });
});
