// conv2d and linear (src/native/ops/conv.cc, linear.cc) against PyTorch's golden tensors
// (test/fixtures/gen/ops_conv.py), conv2d's gradients against finite differences of its own
// forward, and malformed shapes reported as coded errors.
import { describe, expect, it } from 'vitest';
import { native } from '../../src/addon/load.js';
import type { NativeHostTensor } from '../../src/addon/native.js';
import { loadFixture, runGoldenCase } from '../helpers/golden.js';

const fx = loadFixture('ops/conv.safetensors');

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

describe('conv2d and linear against PyTorch', () => {
  it('the fixture covers both ops', () => {
    expect(fx.cases.filter((c) => c.op === 'conv2d').length).toBeGreaterThanOrEqual(10);
    expect(fx.cases.filter((c) => c.op === 'linear').length).toBeGreaterThanOrEqual(3);
  });

  it.each(fx.cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const result = await runGoldenCase(fx, c);
    expect(Object.keys(result).sort()).toEqual([...c.outputs].sort());
    for (const [output, cmp] of Object.entries(result)) {
      expect(cmp.ok, `${c.name}/${output}: max |diff| ${cmp.maxAbs} at scale ${cmp.scale}`).toBe(true);
    }
  });
});

describe('conv2d on several worker threads at once', () => {
  it('gives every concurrent call the answer of a lone call', async () => {
    // A new shape, so the calls race to create its primitives, then share them: each worker thread runs
    // primitives that another made (what oneDNN's default, per-thread scratchpad would get wrong).
    const attrs = { k: 3, stride: 2, pad: 1 };
    const inputs = {
      x: filled([3, 9, 9, 5], 11),
      weight: filled([6, 5, 3, 3], 12),
      bias: filled([6], 13),
      dy: filled([3, 5, 5, 6], 14),
    };
    const results = await Promise.all(Array.from({ length: 6 }, () => native().runOp('conv2d', attrs, inputs)));
    const alone = await native().runOp('conv2d', attrs, inputs);
    for (const result of results) {
      for (const name of ['y', 'dx', 'dweight', 'dbias']) expect(result[name]?.data).toEqual(alone[name]?.data);
    }
  });
});

describe('conv2d gradients against finite differences', () => {
  // loss = sum(dy * y): its gradient with respect to x and the weight is what backward writes.
  const geometries = [
    { k: 3, stride: 1, pad: 1 },
    { k: 3, stride: 2, pad: 1 },
    { k: 1, stride: 1, pad: 0 },
  ];
  it.each(geometries)('k=$k stride=$stride pad=$pad', async (attrs) => {
    const [n, h, w, cin, cout] = [2, 7, 6, 3, 5];
    const oh = Math.floor((h + 2 * attrs.pad - attrs.k) / attrs.stride) + 1;
    const ow = Math.floor((w + 2 * attrs.pad - attrs.k) / attrs.stride) + 1;
    const x = filled([n, h, w, cin], 1);
    const weight = filled([cout, cin, attrs.k, attrs.k], 2);
    const bias = filled([cout], 3);
    const dy = filled([n, oh, ow, cout], 4);
    const grads = await native().runOp('conv2d', attrs, { x, weight, bias, dy });
    const loss = async (inputs: Record<string, NativeHostTensor>) => {
      const y = (await native().runOp('conv2d', attrs, { ...inputs, bias })).y as NativeHostTensor;
      let sum = 0;
      for (let i = 0; i < y.data.length; i++) sum += (y.data[i] as number) * (dy.data[i] as number);
      return sum;
    };
    const step = 1e-2;
    const check = async (name: 'x' | 'weight', grad: NativeHostTensor | undefined) => {
      const base = name === 'x' ? x : weight;
      for (let probe = 0; probe < 6; probe++) {
        const i = Math.floor(((probe + 0.5) / 6) * base.data.length);
        const shifted = (delta: number) => {
          const data = base.data.slice();
          data[i] = (data[i] as number) + delta;
          return { x, weight, [name]: { shape: base.shape, data } };
        };
        const numeric = ((await loss(shifted(step))) - (await loss(shifted(-step)))) / (2 * step);
        const analytic = grad?.data[i] as number;
        expect(Math.abs(numeric - analytic), `d loss / d ${name}[${i}]`).toBeLessThanOrEqual(
          1e-2 * Math.max(1, Math.abs(analytic)),
        );
      }
    };
    await check('x', grads.dx);
    await check('weight', grads.dweight);
  });
});

describe('conv2d and linear refuse malformed shapes', () => {
  const x = filled([1, 4, 4, 3], 1);
  const rejectsShape = (p: Promise<unknown>) => expect(p).rejects.toMatchObject({ code: 'ERR_PFGM_SHAPE' });

  it('weight channels must match the input', async () => {
    await rejectsShape(native().runOp('conv2d', { k: 3, stride: 1, pad: 1 }, { x, weight: filled([2, 4, 3, 3], 2) }));
  });

  it('the weight must have the kernel size of attribute k', async () => {
    await rejectsShape(native().runOp('conv2d', { k: 1, stride: 1, pad: 0 }, { x, weight: filled([2, 3, 3, 3], 2) }));
  });

  it('the kernel may not exceed the padded input', async () => {
    const weight = filled([2, 3, 7, 7], 2);
    await rejectsShape(native().runOp('conv2d', { k: 7, stride: 1, pad: 1 }, { x, weight }));
  });

  it('dy must have the output shape', async () => {
    const weight = filled([2, 3, 3, 3], 2);
    const dy = filled([1, 4, 4, 3], 3);
    await rejectsShape(native().runOp('conv2d', { k: 3, stride: 1, pad: 1 }, { x, weight, dy }));
  });

  it('linear weight must be [out, in]', async () => {
    await rejectsShape(native().runOp('linear', {}, { x: filled([2, 5], 1), weight: filled([5, 4], 2) }));
  });
});
