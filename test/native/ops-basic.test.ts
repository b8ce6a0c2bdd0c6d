// Group norm, SiLU, dropout, the elementwise helpers, the noise embeddings and the loss
// (src/native/ops/{group_norm,activation,elementwise,embedding,loss}.cc) against PyTorch's golden
// tensors (test/fixtures/gen/ops_basic.py); group norm's gradients against finite differences and
// a float64 reference on shapes that split samples into several chunks; dropout's mask against
// its Philox specification; malformed inputs reported as coded errors.
import { describe, expect, it } from 'vitest';
import { native } from '../../src/addon/load.js';
import type { NativeHostTensor } from '../../src/addon/native.js';
import { loadFixture, runGoldenCase } from '../helpers/golden.js';
import { type Attrs, filled, type Inputs, out, run } from '../helpers/ops.js';

const fx = loadFixture('ops/basic.safetensors');

const at = (a: ArrayLike<number>, i: number) => a[i] as number;

describe('basic ops against PyTorch', () => {
  it('the fixture covers every op', () => {
    const ops = new Set(fx.cases.map((c) => c.op));
    for (const op of [
      'group_norm',
      'silu',
      'positional_embedding',
      'fourier_embedding',
      'weighted_mse',
      'concat_channels',
      'nchw_to_nhwc',
      'nhwc_to_nchw',
      'add_channel_bias',
    ]) {
      expect(ops.has(op), op).toBe(true);
    }
    expect(fx.cases.filter((c) => c.op === 'group_norm').length).toBeGreaterThanOrEqual(12);
  });

  it.each(fx.cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const result = await runGoldenCase(fx, c);
    expect(Object.keys(result).sort()).toEqual([...c.outputs].sort());
    for (const [output, cmp] of Object.entries(result)) {
      expect(cmp.ok, `${c.name}/${output}: max |diff| ${cmp.maxAbs} at scale ${cmp.scale}`).toBe(true);
    }
  });
});

interface GroupNormProblem {
  n: number;
  h: number;
  w: number;
  c: number;
  groups: number;
  eps: number;
  silu: boolean;
  shift: boolean;
}

function groupNormInputs(p: GroupNormProblem, seed: number): Inputs {
  const inputs: Inputs = {
    x: filled([p.n, p.h, p.w, p.c], seed, -1.5, 2.5),
    gamma: filled([p.c], seed + 1, 0.5, 1.5),
    beta: filled([p.c], seed + 2, -0.5, 0.5),
    dy: filled([p.n, p.h, p.w, p.c], seed + 3),
  };
  if (p.shift) inputs.shift = filled([p.n, p.c], seed + 4);
  return inputs;
}

const gnAttrs = (p: GroupNormProblem): Attrs => ({ groups: p.groups, eps: p.eps, silu: p.silu });

/** Group norm forward and backward in float64: the textbook formulas, one group at a time. */
function groupNormReference(p: GroupNormProblem, inputs: Inputs) {
  const { n, c, groups, eps } = p;
  const hw = p.h * p.w;
  const cg = c / groups;
  const m = hw * cg;
  const x = (inputs.x as NativeHostTensor).data;
  const gamma = (inputs.gamma as NativeHostTensor).data;
  const beta = (inputs.beta as NativeHostTensor).data;
  const dy = (inputs.dy as NativeHostTensor).data;
  const shift = inputs.shift?.data;
  const y = new Float64Array(x.length);
  const dx = new Float64Array(x.length);
  const dgamma = new Float64Array(c);
  const dbeta = new Float64Array(c);
  const dshift = new Float64Array(n * c);
  const idx = (i: number, q: number, ch: number) => (i * hw + q) * c + ch;
  for (let i = 0; i < n; i++) {
    for (let g = 0; g < groups; g++) {
      const u = (q: number, ch: number) => at(x, idx(i, q, ch)) + (shift ? at(shift, i * c + ch) : 0);
      let mean = 0;
      for (let q = 0; q < hw; q++) for (let ch = g * cg; ch < (g + 1) * cg; ch++) mean += u(q, ch);
      mean /= m;
      let v = 0;
      for (let q = 0; q < hw; q++) for (let ch = g * cg; ch < (g + 1) * cg; ch++) v += (u(q, ch) - mean) ** 2;
      const r = 1 / Math.sqrt(v / m + eps);
      let s1 = 0;
      let s2 = 0;
      const dxhat = new Float64Array(hw * cg);
      const xhat = new Float64Array(hw * cg);
      for (let q = 0; q < hw; q++) {
        for (let ch = g * cg; ch < (g + 1) * cg; ch++) {
          const k = q * cg + ch - g * cg;
          xhat[k] = (u(q, ch) - mean) * r;
          const z = at(gamma, ch) * at(xhat, k) + at(beta, ch);
          const s = 1 / (1 + Math.exp(-z));
          y[idx(i, q, ch)] = p.silu ? z * s : z;
          const dz = at(dy, idx(i, q, ch)) * (p.silu ? s * (1 + z * (1 - s)) : 1);
          dbeta[ch] = at(dbeta, ch) + dz;
          dgamma[ch] = at(dgamma, ch) + dz * at(xhat, k);
          dxhat[k] = dz * at(gamma, ch);
          s1 += at(dxhat, k);
          s2 += at(dxhat, k) * at(xhat, k);
        }
      }
      for (let q = 0; q < hw; q++) {
        for (let ch = g * cg; ch < (g + 1) * cg; ch++) {
          const k = q * cg + ch - g * cg;
          const d = r * (at(dxhat, k) - s1 / m - (at(xhat, k) * s2) / m);
          dx[idx(i, q, ch)] = d;
          dshift[i * c + ch] = at(dshift, i * c + ch) + d;
        }
      }
    }
  }
  return { y, dx, dgamma, dbeta, dshift };
}

function expectClose(name: string, got: ArrayLike<number>, want: ArrayLike<number>, rtol: number) {
  expect(got.length, name).toBe(want.length);
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(at(want, i)));
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(at(got, i) - at(want, i));
    worst = Number.isNaN(d) ? Number.POSITIVE_INFINITY : Math.max(worst, d);
  }
  expect(worst, `${name}: max |diff| ${worst} at scale ${scale}`).toBeLessThanOrEqual(rtol * scale + 1e-7);
}

const sameBits = (a: Float32Array, b: Float32Array) =>
  a.length === b.length &&
  Buffer.compare(
    Buffer.from(a.buffer, a.byteOffset, a.byteLength),
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  ) === 0;

describe('group norm on multi-chunk shapes', () => {
  // Shapes large enough that each sample is split into several chunks; few samples take the
  // chunks-over-threads schedule, many the sample-per-thread one.
  const problems: GroupNormProblem[] = [
    { n: 1, h: 24, w: 20, c: 64, groups: 16, eps: 1e-5, silu: true, shift: true },
    { n: 3, h: 20, w: 20, c: 32, groups: 8, eps: 1e-6, silu: false, shift: true },
    { n: 6, h: 18, w: 17, c: 32, groups: 8, eps: 1e-5, silu: true, shift: false },
    { n: 5, h: 8, w: 9, c: 256, groups: 32, eps: 1e-5, silu: true, shift: true },
  ];
  it.each(problems)('[$n, $h, $w, $c] silu=$silu shift=$shift matches a float64 reference', async (p) => {
    const inputs = groupNormInputs(p, 7);
    const got = await run('group_norm', gnAttrs(p), inputs);
    const want = groupNormReference(p, inputs);
    expectClose('y', out(got, 'y'), want.y, 2e-6);
    expectClose('dx', out(got, 'dx'), want.dx, 2e-5);
    expectClose('dgamma', out(got, 'dgamma'), want.dgamma, 2e-5);
    expectClose('dbeta', out(got, 'dbeta'), want.dbeta, 2e-5);
    if (p.shift) expectClose('dshift', out(got, 'dshift'), want.dshift, 2e-5);
    else expect(got.dshift).toBeUndefined();
  });

  it("a sample's output and input gradient do not depend on the batch around it", async () => {
    const p: GroupNormProblem = { n: 6, h: 16, w: 16, c: 64, groups: 16, eps: 1e-5, silu: true, shift: true };
    const batch = groupNormInputs(p, 11);
    const all = await run('group_norm', gnAttrs(p), batch);
    const per = p.h * p.w * p.c;
    const i = 4;
    const slice = (t: NativeHostTensor, size: number, shape: number[]) => ({
      shape,
      data: t.data.slice(i * size, (i + 1) * size),
    });
    const alone = await run('group_norm', gnAttrs(p), {
      x: slice(batch.x as NativeHostTensor, per, [1, p.h, p.w, p.c]),
      dy: slice(batch.dy as NativeHostTensor, per, [1, p.h, p.w, p.c]),
      shift: slice(batch.shift as NativeHostTensor, p.c, [1, p.c]),
      gamma: batch.gamma as NativeHostTensor,
      beta: batch.beta as NativeHostTensor,
    });
    for (const name of ['y', 'dx']) {
      expect(sameBits(out(all, name).slice(i * per, (i + 1) * per), out(alone, name)), name).toBe(true);
    }
    expect(sameBits(out(all, 'dshift').slice(i * p.c, (i + 1) * p.c), out(alone, 'dshift'))).toBe(true);
  });
});

describe('group norm gradients against finite differences', () => {
  const problems: GroupNormProblem[] = [
    { n: 2, h: 3, w: 3, c: 32, groups: 8, eps: 1e-5, silu: true, shift: true },
    { n: 2, h: 4, w: 3, c: 16, groups: 4, eps: 1e-5, silu: false, shift: true },
    { n: 1, h: 12, w: 12, c: 64, groups: 16, eps: 1e-5, silu: true, shift: true },
  ];
  it.each(problems)('[$n, $h, $w, $c] silu=$silu', async (p) => {
    const inputs = groupNormInputs(p, 3);
    const dy = (inputs.dy as NativeHostTensor).data;
    const grads = await run('group_norm', gnAttrs(p), inputs);
    // loss = sum(dy * y): backward's outputs are its gradients.
    const loss = async (changed: Inputs) => {
      const { dy: _unused, ...forward } = changed;
      const y = out(await run('group_norm', gnAttrs(p), forward), 'y');
      let sum = 0;
      for (let k = 0; k < y.length; k++) sum += at(y, k) * at(dy, k);
      return sum;
    };
    const step = 1e-2;
    const check = async (name: 'x' | 'gamma' | 'beta' | 'shift', grad: Float32Array) => {
      const base = inputs[name] as NativeHostTensor;
      for (let probe = 0; probe < 6; probe++) {
        const k = Math.floor(((probe * 7919 + 0.5) / 6) % base.data.length);
        const shifted = (delta: number) => {
          const data = base.data.slice();
          data[k] = at(data, k) + delta;
          return { ...inputs, [name]: { shape: base.shape, data } };
        };
        const numeric = ((await loss(shifted(step))) - (await loss(shifted(-step)))) / (2 * step);
        const analytic = at(grad, k);
        expect(Math.abs(numeric - analytic), `d loss / d ${name}[${k}]: ${numeric} vs ${analytic}`).toBeLessThanOrEqual(
          1e-2 * Math.max(1, Math.abs(analytic)),
        );
      }
    };
    await check('x', out(grads, 'dx'));
    await check('gamma', out(grads, 'dgamma'));
    await check('beta', out(grads, 'dbeta'));
    await check('shift', out(grads, 'dshift'));
  });
});

describe('dropout', () => {
  const base = { seed: 1234, step: 7, site: 2, sample_offset: 0 };

  it('keeps 1 - p of the elements and scales them by exactly 1 / (1 - p)', async () => {
    for (const p of [0.1, 0.3, 0.5]) {
      const x = filled([8, 12500], 5, 0.5, 1.5);
      const y = out(await run('dropout', { ...base, p }, { x }), 'y');
      const scale = Math.fround(1 / (1 - Math.fround(p)));
      let kept = 0;
      let wrong = 0;
      for (let k = 0; k < y.length; k++) {
        if (at(y, k) === 0) continue;
        kept++;
        if (at(y, k) !== Math.fround(at(x.data, k) * scale)) wrong++;
      }
      expect(wrong, `p = ${p}: kept values not x / (1 - p)`).toBe(0);
      // Binomial: 5 standard deviations.
      const total = y.length;
      expect(Math.abs(kept / total - (1 - p))).toBeLessThanOrEqual(5 * Math.sqrt((p * (1 - p)) / total));
    }
  });

  it('backward applies the forward mask', async () => {
    const x = filled([4, 3000], 6, 0.5, 1.5);
    const dy = filled([4, 3000], 7);
    const r = await run('dropout', { ...base, p: 0.25 }, { x, dy });
    const y = out(r, 'y');
    const dx = out(r, 'dx');
    const scale = Math.fround(1 / (1 - Math.fround(0.25)));
    let wrong = 0;
    for (let k = 0; k < y.length; k++) {
      if (at(dx, k) !== (at(y, k) === 0 ? 0 : Math.fround(at(dy.data, k) * scale))) wrong++;
    }
    expect(wrong).toBe(0);
  });

  it("a sample's mask is the same in a batch of 8 and alone", async () => {
    const per = 2000;
    const x = filled([8, per], 8, 0.5, 1.5);
    const batch = out(await run('dropout', { ...base, p: 0.4 }, { x }), 'y');
    for (const i of [0, 5, 7]) {
      const one = { shape: [1, per], data: x.data.slice(i * per, (i + 1) * per) };
      const alone = out(await run('dropout', { ...base, p: 0.4, sample_offset: i }, { x: one }), 'y');
      expect(sameBits(batch.slice(i * per, (i + 1) * per), alone), `sample ${i}`).toBe(true);
    }
    const shifted = out(await run('dropout', { ...base, p: 0.4, sample_offset: 1 }, { x }), 'y');
    expect(sameBits(shifted, batch)).toBe(false);
  });

  it('follows the Philox specification of activation.h', async () => {
    // Seed above 2^32 and a sample offset so that every word of the key and counter matters.
    const seed = 2 ** 32 * 3 + 77;
    const [site, step, offset, p] = [5, 123456, 9, 0.35];
    const per = 1001; // not a multiple of 4: the last block is partial
    const x = filled([3, per], 9, 0.5, 1.5);
    const y = out(await run('dropout', { seed, step, site, sample_offset: offset, p }, { x }), 'y');
    const threshold = Math.ceil(Math.fround(p) * 2 ** 32);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < per; j += 4) {
        const counter = Uint32Array.from([((site << 24) | (j >>> 2)) >>> 0, offset + i, step, 9]);
        const bits = native().philox(counter, Uint32Array.from([77, 3]));
        for (let lane = 0; lane < 4 && j + lane < per; lane++) {
          const kept = at(bits, lane) >= threshold;
          expect(at(y, i * per + j + lane) !== 0, `sample ${i} element ${j + lane}`).toBe(kept);
        }
      }
    }
  });

  it('separate sites and steps draw separate masks', async () => {
    const x = filled([2, 4096], 10, 0.5, 1.5);
    const a = out(await run('dropout', { ...base, p: 0.5 }, { x }), 'y');
    const b = out(await run('dropout', { ...base, p: 0.5, site: 3 }, { x }), 'y');
    const c = out(await run('dropout', { ...base, p: 0.5, step: 8 }, { x }), 'y');
    let sameB = 0;
    let sameC = 0;
    for (let k = 0; k < a.length; k++) {
      if ((at(a, k) === 0) === (at(b, k) === 0)) sameB++;
      if ((at(a, k) === 0) === (at(c, k) === 0)) sameC++;
    }
    // Independent masks agree on about half the elements.
    expect(Math.abs(sameB / a.length - 0.5)).toBeLessThan(0.05);
    expect(Math.abs(sameC / a.length - 0.5)).toBeLessThan(0.05);
  });

  it('p = 0 is an exact copy, gradients included', async () => {
    const x = filled([3, 5000], 11);
    x.data[0] = -0;
    x.data[1] = 3e-42; // subnormal
    x.data[2] = Number.NaN;
    x.data[3] = Number.POSITIVE_INFINITY;
    const r = await run('dropout', { ...base, p: 0 }, { x, dy: x });
    expect(sameBits(out(r, 'y'), x.data)).toBe(true);
    expect(sameBits(out(r, 'dx'), x.data)).toBe(true);
  });
});

describe('silu and the elementwise helpers on large inputs', () => {
  // Above the parallel threshold, with a length that leaves partial vectors at the ends.
  const count = 100_003;

  it('silu matches a float64 reference', async () => {
    const x = filled([count], 12, -12, 12);
    const dy = filled([count], 13);
    const r = await run('silu', {}, { x, dy });
    const y = out(r, 'y');
    const dx = out(r, 'dx');
    let worstY = 0;
    let worstDx = 0;
    for (let k = 0; k < count; k++) {
      const v = at(x.data, k);
      const s = 1 / (1 + Math.exp(-v));
      worstY = Math.max(worstY, Math.abs(at(y, k) - v * s) / Math.max(1, Math.abs(v)));
      worstDx = Math.max(worstDx, Math.abs(at(dx, k) - at(dy.data, k) * s * (1 + v * (1 - s))));
    }
    expect(worstY).toBeLessThanOrEqual(1e-6);
    expect(worstDx).toBeLessThanOrEqual(2e-6);
  });

  it('axpby and scale', async () => {
    const a = filled([count], 14);
    const b = filled([count], 15);
    const y = out(await run('axpby', { alpha: 0.75, beta: -1.5 }, { a, b }), 'y');
    const z = out(await run('scale', { alpha: 3 }, { a }), 'y');
    let wrong = 0;
    for (let k = 0; k < count; k++) {
      const ax = Math.fround(0.75 * at(a.data, k));
      const by = Math.fround(-1.5 * at(b.data, k));
      // With FMA contraction one of the two products may stay unrounded.
      const roundings = [ax + by, 0.75 * at(a.data, k) + by, ax - 1.5 * at(b.data, k)].map(Math.fround);
      if (!roundings.includes(at(y, k))) wrong++;
      if (at(z, k) !== Math.fround(3 * at(a.data, k))) wrong++;
    }
    expect(wrong).toBe(0);
  });

  it('NCHW -> NHWC -> NCHW is the identity, concat then split too', async () => {
    const img = filled([3, 5, 40, 36], 16);
    const nhwc = (await run('nchw_to_nhwc', {}, { x: img })).y as NativeHostTensor;
    expect(nhwc.shape).toEqual([3, 40, 36, 5]);
    expect(at(nhwc.data, ((1 * 40 + 7) * 36 + 9) * 5 + 2)).toBe(at(img.data, ((1 * 5 + 2) * 40 + 7) * 36 + 9));
    const back = (await run('nhwc_to_nchw', {}, { x: nhwc })).y as NativeHostTensor;
    expect(sameBits(back.data, img.data)).toBe(true);

    const a = filled([2, 30, 30, 48], 17);
    const b = filled([2, 30, 30, 16], 18);
    const cat = await run('concat_channels', {}, { a, b, dy: filled([2, 30, 30, 64], 19) });
    const split = await run('concat_channels', {}, { a, b, dy: cat.y as NativeHostTensor });
    expect(sameBits(out(split, 'da'), a.data)).toBe(true);
    expect(sameBits(out(split, 'db'), b.data)).toBe(true);
  });

  it('add_channel_bias adds one bias per sample and channel', async () => {
    const x = filled([3, 20, 20, 96], 20);
    const bias = filled([3, 96], 21);
    const y = out(await run('add_channel_bias', {}, { x, bias }), 'y');
    for (const k of [0, 96 * 400 + 5, 2 * 96 * 400 + 96 * 17 + 95]) {
      const i = Math.floor(k / (96 * 400));
      expect(at(y, k)).toBe(Math.fround(at(x.data, k) + at(bias.data, i * 96 + (k % 96))));
    }
  });

  it('weighted MSE weights each sample and averages over the batch', async () => {
    const pred = filled([4, 3, 32, 32], 22);
    const target = filled([4, 3, 32, 32], 23);
    const weight = { shape: [4], data: Float32Array.from([1, 2, 0.5, 1e4]) };
    const r = await run('weighted_mse', {}, { pred, target, weight });
    const per = 3 * 32 * 32;
    let total = 0;
    for (let i = 0; i < 4; i++) {
      let sum = 0;
      for (let j = 0; j < per; j++) sum += (at(pred.data, i * per + j) - at(target.data, i * per + j)) ** 2;
      expect(at(out(r, 'per_sample'), i)).toBeCloseTo(Math.fround(at(weight.data, i) * sum), 0);
      expect(Math.abs(at(out(r, 'per_sample'), i) / (at(weight.data, i) * sum) - 1)).toBeLessThan(1e-6);
      total += at(weight.data, i) * sum;
    }
    expect(Math.abs(at(out(r, 'loss'), 0) / (total / 4) - 1)).toBeLessThan(1e-6);
  });
});

describe('group_norm_bench', () => {
  it('reports positive per-iteration timings', async () => {
    const r = await run('group_norm_bench', { n: 2, h: 8, w: 8, c: 32, iters: 2, silu: true, shift: true }, {});
    expect(at(out(r, 'forward_ms'), 0)).toBeGreaterThan(0);
    expect(at(out(r, 'backward_ms'), 0)).toBeGreaterThan(0);
  });
});

describe('malformed inputs come back as coded errors', () => {
  const rejects = (p: Promise<unknown>, code: string, message?: RegExp) =>
    expect(p).rejects.toMatchObject(message ? { code, message: expect.stringMatching(message) } : { code });
  const x = filled([2, 3, 3, 32], 1);
  const gamma = filled([32], 2);
  const beta = filled([32], 3);

  it('group norm', async () => {
    await rejects(run('group_norm', {}, { x: filled([2, 9, 32], 1), gamma, beta }), 'ERR_PFGM_SHAPE', /NHWC/);
    await rejects(run('group_norm', {}, { x, gamma: filled([16], 2), beta }), 'ERR_PFGM_SHAPE', /gamma/);
    await rejects(run('group_norm', {}, { x, gamma, beta: filled([33], 2) }), 'ERR_PFGM_SHAPE', /beta/);
    await rejects(run('group_norm', { groups: 5 }, { x, gamma, beta }), 'ERR_PFGM_SHAPE', /5 groups/);
    await rejects(run('group_norm', { groups: 0 }, { x, gamma, beta }), 'ERR_PFGM_ARGUMENT', /groups/);
    await rejects(run('group_norm', { eps: -1 }, { x, gamma, beta }), 'ERR_PFGM_ARGUMENT', /eps/);
    await rejects(run('group_norm', {}, { x, gamma, beta, shift: filled([32], 4) }), 'ERR_PFGM_SHAPE', /shift/);
    await rejects(run('group_norm', {}, { x, gamma, beta, dy: filled([2, 3, 4, 32], 4) }), 'ERR_PFGM_SHAPE', /dy/);
    await rejects(run('group_norm', {}, { x: filled([0, 3, 3, 32], 1), gamma, beta }), 'ERR_PFGM_SHAPE');
    await rejects(run('group_norm', {}, { x, gamma }), 'ERR_PFGM_ARGUMENT', /beta/);
  });

  it('dropout', async () => {
    const d = filled([2, 10], 1);
    await rejects(run('dropout', { p: 1 }, { x: d }), 'ERR_PFGM_ARGUMENT', /p must be/);
    await rejects(run('dropout', { p: -0.1 }, { x: d }), 'ERR_PFGM_ARGUMENT', /p must be/);
    await rejects(run('dropout', { p: 0.1, site: 256 }, { x: d }), 'ERR_PFGM_ARGUMENT', /site/);
    await rejects(run('dropout', { p: 0.1, seed: -1 }, { x: d }), 'ERR_PFGM_ARGUMENT', /seed/);
    await rejects(run('dropout', { p: 0.1 }, { x: d, dy: filled([2, 11], 2) }), 'ERR_PFGM_SHAPE', /dy/);
    await rejects(run('dropout', { p: 0.1 }, { x: filled([0], 1) }), 'ERR_PFGM_SHAPE');
  });

  it('the other ops', async () => {
    await rejects(run('silu', {}, { x: filled([5], 1), dy: filled([6], 1) }), 'ERR_PFGM_SHAPE');
    await rejects(run('axpby', { alpha: 1, beta: 1 }, { a: filled([5], 1), b: filled([4], 1) }), 'ERR_PFGM_SHAPE');
    await rejects(
      run('concat_channels', {}, { a: filled([2, 3, 3, 4], 1), b: filled([2, 3, 4, 4], 1) }),
      'ERR_PFGM_SHAPE',
      /last \(channel\) dimension/,
    );
    await rejects(
      run(
        'concat_channels',
        {},
        { a: filled([2, 3, 3, 4], 1), b: filled([2, 3, 3, 2], 1), dy: filled([2, 3, 3, 4], 1) },
      ),
      'ERR_PFGM_SHAPE',
    );
    await rejects(run('add_channel_bias', {}, { x, bias: filled([32], 1) }), 'ERR_PFGM_SHAPE', /bias/);
    await rejects(run('nchw_to_nhwc', {}, { x: filled([3, 4, 4], 1) }), 'ERR_PFGM_SHAPE');
    await rejects(run('positional_embedding', { channels: 31 }, { x: filled([4], 1) }), 'ERR_PFGM_SHAPE', /even/);
    await rejects(
      run('positional_embedding', { channels: 2, endpoint: true }, { x: filled([4], 1) }),
      'ERR_PFGM_ARGUMENT',
    );
    await rejects(run('positional_embedding', { channels: 32 }, { x: filled([4, 1], 1) }), 'ERR_PFGM_SHAPE');
    await rejects(run('fourier_embedding', {}, { x: filled([4], 1), freqs: filled([4, 2], 1) }), 'ERR_PFGM_SHAPE');
    await rejects(
      run('weighted_mse', {}, { pred: filled([4, 6], 1), target: filled([4, 6], 2), weight: filled([3], 3) }),
      'ERR_PFGM_SHAPE',
      /weight/,
    );
    await rejects(
      run('weighted_mse', {}, { pred: filled([4, 6], 1), target: filled([4, 5], 2), weight: filled([4], 3) }),
      'ERR_PFGM_SHAPE',
    );
  });

  it('the process survives and the ops still work', async () => {
    const r = await run('group_norm', {}, { x, gamma, beta });
    expect(out(r, 'y').length).toBe(x.data.length);
  });
});
