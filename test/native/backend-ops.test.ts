// The generic op entries (test/native/cases/backend_cases.cc): op case `backend.<op>` exists for
// every op of the list in src/native/nn/backend_ops.h, generated from it, and calls the op through
// nn::Backend on any device of the test addons. A table of ops of every kind (elementwise, rows
// with host coefficients, group norm, FIR resampling, Adam, the loss, the reductions that return
// host values) is checked against references written here (a closed form or a direct loop in
// float64), the guarded device ('cpu-guarded') and the fake-CUDA addon's CUDA backend against
// 'cpu' bit for bit, and the CUDA kernels (emulated, and on a GPU where there is one) against the
// references. Adding an op to the list needs one row of the table, nothing else here.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { native } from '../../src/addon/load.js';
import type { NativeAddon, NativeHostTensor } from '../../src/addon/native.js';
import {
  adaptiveAvgRef,
  convInferenceRef,
  placeChannelsRef,
  poolRef,
  resizeBilinearRef,
} from '../helpers/inference-ops.js';
import { type Attrs, filled, type Inputs } from '../helpers/ops.js';
import { builtAddons, repoRoot } from '../helpers/toolkit.js';

type Outputs = Record<string, NativeHostTensor>;
type Device = 'cpu' | 'cuda' | 'cpu-guarded';
type Values = Record<string, ArrayLike<number>>;
/** An op's expected outputs, computed in float64 from the case's attributes and input values. */
type Reference = (
  a: Record<string, number>,
  x: Record<string, Float32Array>,
  lists: Record<string, number[]>,
) => Values;

interface Row {
  op: string;
  attrs: Attrs;
  inputs: Inputs;
  reference: Reference;
  /** Largest max |out - ref| / max |ref| accepted, per output. */
  tol: number;
}

const row = (op: string, attrs: Attrs, inputs: Inputs, reference: Reference, tol = 1e-6): Row => ({
  op,
  attrs,
  inputs,
  reference,
  tol,
});

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
const positive = (shape: number[], seed: number) => filled(shape, seed, 0.1, 1);

/** torch.optim.Adam with grad_scale and EDM's EMA in the same pass (optim/optim.h). */
const adam: Reference = (a, x) => {
  const n = a.count as number;
  const [param, m, v, ema] = [new Float64Array(n), new Float64Array(n), new Float64Array(n), new Float64Array(n)];
  const [b1, b2, t] = [a.beta1 as number, a.beta2 as number, a.t as number];
  for (let i = 0; i < n; i++) {
    const g = (x.grad?.[i] as number) * (a.grad_scale as number);
    m[i] = b1 * (x.m?.[i] as number) + (1 - b1) * g;
    v[i] = b2 * (x.v?.[i] as number) + (1 - b2) * g * g;
    const step = ((a.lr as number) / (1 - b1 ** t)) * (m[i] as number);
    param[i] =
      (x.param?.[i] as number) - step / (Math.sqrt(v[i] as number) / Math.sqrt(1 - b2 ** t) + (a.eps as number));
    ema[i] = (param[i] as number) + (a.ema_beta as number) * ((x.ema?.[i] as number) - (param[i] as number));
  }
  return { param, m, v, ema };
};

/** Doubles as the float array of their bits: a double input in backend memory (a step's statistics). */
const doubles = (...v: number[]): NativeHostTensor => ({
  shape: [2 * v.length],
  data: new Float32Array(new Float64Array(v).buffer),
});

/** adam_step_checked's row: statistics whose gradient norm (sqrt 2.25 = 1.5) exceeds grad_clip 0.6. */
const checkedStats = { loss: 0.375, sumsq: 2.25 };
const adamChecked: Reference = (a, x, l) =>
  adam({ ...a, grad_scale: Math.fround((a.grad_clip as number) / Math.sqrt(checkedStats.sumsq)) }, x, l);

/** EDM's group norm with the per-sample shift and SiLU (ops/group_norm.h), NHWC. */
const groupNorm: Reference = (a, x) => {
  const [n, hw, c, groups] = [a.n as number, a.hw as number, a.c as number, a.groups as number];
  const per = c / groups;
  const y = new Float64Array(n * hw * c);
  const mean = new Float64Array(n * groups);
  const rstd = new Float64Array(n * groups);
  const value = (s: number, p: number, ch: number) =>
    (x.x?.[(s * hw + p) * c + ch] as number) + (x.shift?.[s * c + ch] as number);
  for (let s = 0; s < n; s++) {
    for (let g = 0; g < groups; g++) {
      const chans = range(per).map((k) => g * per + k);
      const all = range(hw).flatMap((p) => chans.map((ch) => value(s, p, ch)));
      const mu = all.reduce((u, w) => u + w, 0) / all.length;
      const variance = all.reduce((u, w) => u + (w - mu) ** 2, 0) / all.length;
      const r = 1 / Math.sqrt(variance + (a.eps as number));
      mean[s * groups + g] = mu;
      rstd[s * groups + g] = r;
      for (let p = 0; p < hw; p++) {
        for (const ch of chans) {
          const z = (value(s, p, ch) - mu) * r * (x.gamma?.[ch] as number) + (x.beta?.[ch] as number);
          y[(s * hw + p) * c + ch] = a.silu ? z * sigmoid(z) : z;
        }
      }
    }
  }
  return { y, mean, rstd };
};

/** EDM's FIR downsampling: conv2d with f f^T / (sum f)^2, stride 2, zero padding (ops/resample.h). */
const firDown: Reference = (a, x, lists) => {
  const f = lists.f as number[];
  const [n, h, w, c, pad, taps] = [
    a.n as number,
    a.h as number,
    a.w as number,
    a.c as number,
    a.pad as number,
    f.length,
  ];
  const sum = f.reduce((u, v) => u + v, 0);
  const [oh, ow] = [Math.floor((h + 2 * pad - taps) / 2) + 1, Math.floor((w + 2 * pad - taps) / 2) + 1];
  const y = new Float64Array(n * oh * ow * c);
  for (let s = 0; s < n; s++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        for (let ch = 0; ch < c; ch++) {
          let acc = 0;
          for (let i = 0; i < taps; i++) {
            for (let j = 0; j < taps; j++) {
              const [iy, ix] = [2 * oy - pad + i, 2 * ox - pad + j];
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              acc +=
                (((f[i] as number) * (f[j] as number)) / sum ** 2) *
                (x.x?.[((s * h + iy) * w + ix) * c + ch] as number);
            }
          }
          y[((s * oh + oy) * ow + ox) * c + ch] = acc;
        }
      }
    }
  }
  return { y };
};

/** Per-row reductions (ops/rows.h) and the loss (ops/loss.h), written out. */
const rowsOf = (x: Float32Array, cols: number) =>
  range(x.length / cols).map((r) => Array.from(x.subarray(r * cols, (r + 1) * cols)));

/**
 * The adaptive scale's coefficients (ops/precond_math.h) from each row's norm and its sigma:
 * s^2 = max(sigma^2, ||x||^2 / cols - sd^2); with c_skip and c_out unless the case nulls them.
 */
const adaptiveCoefs: Reference = (a, x) => {
  const [sd, dAware, cols] = [a.sigma_data as number, a.d_aware_D as number, a.cols as number];
  const s2 = rowsOf(x.x as Float32Array, cols).map((r, i) => {
    const sigma = x.sigma?.[i] as number;
    return Math.max(sigma * sigma, r.reduce((u, v) => u + v * v, 0) / cols - sd * sd);
  });
  const out: Values = {
    c_in: s2.map((s) => 1 / Math.sqrt(dAware > 2 ? (s * dAware) / (dAware - 2) + sd * sd : s + sd * sd)),
  };
  if (a.c_skip !== 0) out.c_skip = s2.map((s) => (sd * sd) / (s + sd * sd));
  if (a.c_out !== 0) out.c_out = s2.map((s) => (Math.sqrt(s) * sd) / Math.sqrt(s + sd * sd));
  return out;
};
/** Per-sample noise levels on both sides of the rows' norms (x in [-3, 3]: ||x||^2 / N near 3). */
const levels = (...v: number[]) => ({ shape: [v.length], data: Float32Array.from(v) });

const table: Row[] = [
  row('axpby', { count: 7, alpha: 0.5, beta: -2 }, { a: filled([7], 1), b: filled([7], 2) }, (a, x) => ({
    y: range(7).map((i) => (a.alpha as number) * (x.a?.[i] as number) + (a.beta as number) * (x.b?.[i] as number)),
  })),
  row('swap_halves', { rows: 3, cols: 4 }, { x: filled([3, 4], 3) }, (_a, x) => ({
    y: rowsOf(x.x as Float32Array, 4).flatMap((r) => [...r.slice(2), ...r.slice(0, 2)]),
  })),
  row('silu_forward', { count: 9 }, { x: filled([9], 4, -4, 4) }, (_a, x) => ({
    y: Array.from(x.x as Float32Array, (v) => v * sigmoid(v)),
  })),
  row(
    'group_norm_forward',
    { n: 2, hw: 3, c: 4, groups: 2, eps: 1e-5, silu: true },
    { x: filled([2, 3, 4], 5), shift: filled([2, 4], 6), gamma: filled([4], 7), beta: filled([4], 8) },
    groupNorm,
    1e-5,
  ),
  row('modulate_forward', { n: 2, hw: 3, c: 4 }, { x: filled([2, 3, 4], 25), params: filled([2, 8], 26) }, (_a, x) => ({
    y: range(24).map((k) => {
      const [i, ch] = [Math.floor(k / 12), k % 4];
      const p = x.params as Float32Array;
      return (p[i * 8 + 4 + ch] as number) + (x.x?.[k] as number) * ((p[i * 8 + ch] as number) + 1);
    }),
  })),
  row(
    'modulate_backward',
    { n: 2, hw: 3, c: 4 },
    { x: filled([2, 3, 4], 27), params: filled([2, 8], 28), dy: filled([2, 3, 4], 29) },
    (_a, x) => {
      const [xs, p, dy] = [x.x as Float32Array, x.params as Float32Array, x.dy as Float32Array];
      const sum = (i: number, ch: number, f: (k: number) => number) =>
        range(3).reduce((u, q) => u + f((i * 3 + q) * 4 + ch), 0);
      const dparams = range(16).map((j) => {
        const [i, ch] = [Math.floor(j / 8), j % 4];
        return j % 8 < 4
          ? sum(i, ch, (k) => (dy[k] as number) * (xs[k] as number))
          : sum(i, ch, (k) => dy[k] as number);
      });
      const dx = range(24).map((k) => (dy[k] as number) * ((p[Math.floor(k / 12) * 8 + (k % 4)] as number) + 1));
      return { dx, dparams };
    },
  ),
  row('fir_down_forward', { n: 2, h: 5, w: 4, c: 3, pad: 1, f: [1, 3, 3, 1] }, { x: filled([2, 5, 4, 3], 9) }, firDown),
  row(
    'adam_step',
    { count: 6, lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, t: 3, grad_scale: 0.5, ema_beta: 0.75 },
    {
      param: filled([6], 10),
      grad: filled([6], 11),
      m: filled([6], 12, -0.1, 0.1),
      v: positive([6], 13),
      ema: filled([6], 14),
    },
    adam,
    1e-5,
  ),
  row(
    'adam_step_checked',
    { count: 6, lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, t: 3, grad_clip: 0.6, ema_beta: 0.75 },
    {
      param: filled([6], 10),
      grad: filled([6], 11),
      m: filled([6], 12, -0.1, 0.1),
      v: positive([6], 13),
      ema: filled([6], 14),
      stats: doubles(checkedStats.loss, checkedStats.sumsq, 0),
    },
    adamChecked,
    1e-5,
  ),
  row('scale_rows', { rows: 3, cols: 4 }, { a: filled([3], 15), x: filled([3, 4], 16) }, (_a, x) => ({
    y: rowsOf(x.x as Float32Array, 4).flatMap((r, i) => r.map((v) => (x.a?.[i] as number) * v)),
  })),
  row('scale_rows_dev', { rows: 3, cols: 4 }, { a: filled([3], 15), x: filled([3, 4], 16) }, (_a, x) => ({
    y: rowsOf(x.x as Float32Array, 4).flatMap((r, i) => r.map((v) => (x.a?.[i] as number) * v)),
  })),
  row(
    'axpby_rows_dev',
    { rows: 3, cols: 4 },
    { a: filled([3], 36), x: filled([3, 4], 37), b: filled([3], 38), z: filled([3, 4], 39) },
    (_a, x) => ({
      y: range(12).map((k) => {
        const i = Math.floor(k / 4);
        return (x.a?.[i] as number) * (x.x?.[k] as number) + (x.b?.[i] as number) * (x.z?.[k] as number);
      }),
    }),
  ),
  // The denoiser's three coefficients with the D-aware c_in, and PFGM's field's c_in alone.
  row(
    'adaptive_coefs',
    { rows: 4, cols: 6, sigma_data: 0.5, d_aware_D: 5 },
    { x: filled([4, 6], 40, -3, 3), sigma: levels(0.05, 2, 0.1, 0.5) },
    adaptiveCoefs,
  ),
  row(
    'adaptive_coefs',
    { rows: 3, cols: 5, sigma_data: 0.5, d_aware_D: 0, c_skip: 0, c_out: 0 },
    { x: filled([3, 5], 41, -3, 3), sigma: levels(3, 0.2, 1) },
    adaptiveCoefs,
  ),
  row(
    'weighted_mse_backward',
    { samples: 2, per_sample: 3 },
    { pred: filled([2, 3], 17), target: filled([2, 3], 18), weight: positive([2], 19) },
    (_a, x) => ({
      dpred: range(6).map(
        (i) =>
          (2 * (x.weight?.[Math.floor(i / 3)] as number) * ((x.pred?.[i] as number) - (x.target?.[i] as number))) / 2,
      ),
    }),
  ),
  row(
    'weighted_mse_forward',
    { samples: 2, per_sample: 3 },
    { pred: filled([2, 3], 20), target: filled([2, 3], 21), weight: positive([2], 22) },
    (_a, x) => {
      let loss = 0;
      for (let i = 0; i < 6; i++) {
        loss += (x.weight?.[Math.floor(i / 3)] as number) * ((x.pred?.[i] as number) - (x.target?.[i] as number)) ** 2;
      }
      return { result: [loss / 2] };
    },
  ),
  row(
    'weighted_mse_accumulate',
    { samples: 2, per_sample: 3, share: 0.25 },
    { pred: filled([2, 3], 20), target: filled([2, 3], 21), weight: positive([2], 22), total: doubles(1.5) },
    (a, x) => {
      let loss = 0;
      for (let i = 0; i < 6; i++) {
        loss += (x.weight?.[Math.floor(i / 3)] as number) * ((x.pred?.[i] as number) - (x.target?.[i] as number)) ** 2;
      }
      return { total: [1.5 + (a.share as number) * (loss / 2)] };
    },
  ),
  row('sumsq_rows', { rows: 2, cols: 5 }, { x: filled([2, 5], 23) }, (_a, x) => ({
    out: rowsOf(x.x as Float32Array, 5).map((r) => r.reduce((u, v) => u + v * v, 0)),
  })),
  // Column sums (the bias gradients): rows over several fixed chunks of 2048, the last partial,
  // with one column block and with two.
  ...[
    [5000, 32],
    [4100, 70],
  ].map(([rows, cols]) =>
    row(
      'sum_columns',
      { rows: rows as number, cols: cols as number },
      { x: filled([rows as number, cols as number], 24) },
      (_a, x) => ({
        out: range(cols as number).map((j) =>
          rowsOf(x.x as Float32Array, cols as number).reduce((u, r) => u + (r[j] as number), 0),
        ),
      }),
    ),
  ),
  // The FID Inception's ops (test/helpers/inference-ops.ts): a rectangular kernel with per-axis
  // stride and padding through the patch matrix, and a 1x1 one that is the product itself.
  row(
    'conv2d_inference_forward',
    { n: 2, h: 6, w: 5, cin: 3, cout: 4, kh: 3, kw: 2, stride_h: 2, stride_w: 1, pad_h: 1, pad_w: 1, relu: 1 },
    { x: filled([2, 6, 5, 3], 25), weight: filled([4, 3, 2, 3], 26), bias: filled([4], 27) },
    convInferenceRef,
    1e-5,
  ),
  row(
    'conv2d_inference_forward',
    { n: 2, h: 3, w: 4, cin: 5, cout: 3, kh: 1, kw: 1, relu: 0 },
    { x: filled([2, 3, 4, 5], 28), weight: filled([3, 1, 1, 5], 29) },
    convInferenceRef,
    1e-5,
  ),
  row(
    'max_pool2d_forward',
    { n: 2, h: 5, w: 6, c: 3, kh: 3, kw: 3, stride_h: 2, stride_w: 2, pad_h: 1, pad_w: 1 },
    { x: filled([2, 5, 6, 3], 30) },
    poolRef('max'),
  ),
  row(
    'avg_pool2d_forward',
    { n: 2, h: 4, w: 5, c: 3, kh: 3, kw: 3, pad_h: 1, pad_w: 1, count_include_pad: 0 },
    { x: filled([2, 4, 5, 3], 31) },
    poolRef('avg'),
  ),
  row(
    'adaptive_avg_pool2d_forward',
    { n: 2, h: 5, w: 7, c: 3, oh: 2, ow: 3 },
    { x: filled([2, 5, 7, 3], 32) },
    adaptiveAvgRef,
  ),
  row(
    'resize_bilinear_forward',
    { n: 2, h: 5, w: 4, c: 2, oh: 7, ow: 3 },
    { x: filled([2, 5, 4, 2], 33) },
    resizeBilinearRef,
  ),
  row(
    'place_channels',
    { pixels: 3, c: 2, cy: 5, offset: 2 },
    { x: filled([3, 2], 34), y: filled([3, 5], 35) },
    placeChannelsRef,
  ),
  row('grad_stats', { count: 10 }, { g: filled([10], 24) }, (_a, x) => ({
    finite: [1],
    norm: [Math.sqrt(Array.from(x.g as Float32Array).reduce((u, v) => u + v * v, 0))],
  })),
  row('grad_stats_into', { count: 10 }, { g: filled([10], 24) }, (_a, x) => ({
    stats: [Array.from(x.g as Float32Array).reduce((u, v) => u + v * v, 0), 0],
  })),
];

/** Outputs as float64 values: [hi, lo] doubles (a `result`, a `norm`) and `<name>.lo` pairs joined. */
function values(out: Outputs): Record<string, number[]> {
  const v: Record<string, number[]> = {};
  for (const [name, t] of Object.entries(out)) {
    if (name.endsWith('.lo')) continue;
    const lo = out[`${name}.lo`];
    if (lo) v[name] = Array.from(t.data, (hi, i) => hi + (lo.data[i] as number));
    else if (name === 'result' || name === 'norm') v[name] = [(t.data[0] as number) + (t.data[1] as number)];
    else v[name] = Array.from(t.data);
  }
  return v;
}

function expectMatchesReference(r: Row, out: Outputs, device: string): void {
  const numbers: Record<string, number> = {};
  const lists: Record<string, number[]> = {};
  for (const [k, v] of Object.entries(r.attrs)) {
    if (Array.isArray(v)) lists[k] = v;
    else numbers[k] = Number(v);
  }
  const x = Object.fromEntries(Object.entries(r.inputs).map(([k, t]) => [k, t.data]));
  const want = r.reference(numbers, x, lists);
  const got = values(out);
  expect(Object.keys(got).sort(), `${r.op} on ${device}: its outputs`).toEqual(Object.keys(want).sort());
  for (const [name, ref] of Object.entries(want)) {
    const a = got[name] as number[];
    expect(a.length, `${r.op}/${name} on ${device}`).toBe(ref.length);
    let [diff, scale] = [0, 0];
    for (let i = 0; i < ref.length; i++) {
      const d = Math.abs((a[i] as number) - (ref[i] as number));
      diff = Number.isNaN(d) ? Number.POSITIVE_INFINITY : Math.max(diff, d);
      scale = Math.max(scale, Math.abs(ref[i] as number));
    }
    expect(diff / Math.max(scale, 1e-30), `${r.op}/${name} on ${device}: max |diff| ${diff}`).toBeLessThanOrEqual(
      r.tol,
    );
  }
}

/** Every output equal bit for bit (NaN payloads aside, none are expected). */
function expectSameBits(a: Outputs, b: Outputs, what: string): void {
  expect(Object.keys(a).sort(), what).toEqual(Object.keys(b).sort());
  for (const [name, t] of Object.entries(a)) {
    expect(t.shape, `${what}: ${name}`).toEqual(b[name]?.shape);
    expect(new Uint32Array(t.data.buffer), `${what}: ${name}`).toEqual(
      new Uint32Array((b[name] as NativeHostTensor).data.buffer),
    );
  }
}

const cases = (addon: NativeAddon, r: Row, device: Device) => addon.runOp(`backend.${r.op}`, r.attrs, r.inputs, device);
// Synchronous refusals and rejected promises alike become a rejection.
const attempt = (f: () => Promise<unknown>) => Promise.resolve().then(f);

/** The ops of the list, read from backend_ops.h itself. */
const listed = [
  ...readFileSync(join(repoRoot, 'src', 'native', 'nn', 'backend_ops.h'), 'utf8').matchAll(
    /^ {2}X\((\w+), [^,]+, (\w+),/gm,
  ),
].map((m) => m[2] as string);

describe('the generic op entries, one per op of backend_ops.h', () => {
  it('exist for every op of the list and no other, on cpu and cpu-guarded', () => {
    expect(listed.length).toBeGreaterThanOrEqual(30);
    const want = listed.map((op) => `backend.${op}`).sort();
    const generic = (device: Device) =>
      native()
        .opCases(device)
        .filter((n) => n.startsWith('backend.'));
    expect(generic('cpu').sort()).toEqual(want);
    expect(generic('cpu-guarded').sort()).toEqual(want);
    // the table covers ops of different kinds; all of them are in the list
    for (const r of table) expect(listed, r.op).toContain(r.op);
  });

  it.each(table.map((r) => [r.op, r] as const))('%s on cpu matches its reference', async (_op, r) => {
    expectMatchesReference(r, await cases(native(), r, 'cpu'), 'cpu');
  });

  it.each(table.map((r) => [r.op, r] as const))('%s on cpu-guarded equals cpu bit for bit', async (_op, r) => {
    const [guarded, cpu] = [await cases(native(), r, 'cpu-guarded'), await cases(native(), r, 'cpu')];
    expectSameBits(guarded, cpu, `${r.op}: cpu-guarded against cpu`);
  });

  it('refuses an input of the wrong size, a missing input and a name no parameter reads', async () => {
    const r = table[0] as Row;
    for (const device of ['cpu', 'cpu-guarded'] as const) {
      await expect(
        attempt(() => native().runOp('backend.axpby', r.attrs, { ...r.inputs, b: filled([6], 2) }, device)),
      ).rejects.toMatchObject({
        code: 'ERR_PFGM_SHAPE',
        message: expect.stringMatching(/backend\.axpby: input 'b' holds 6 values, the op reads 7/),
      });
    }
    await expect(attempt(() => native().runOp('backend.axpby', r.attrs, { a: filled([7], 1) }))).rejects.toMatchObject({
      code: 'ERR_PFGM_ARGUMENT',
      message: expect.stringMatching(/input 'b' is missing/),
    });
    await expect(
      attempt(() => native().runOp('backend.axpby', { ...r.attrs, gamma: 1 }, r.inputs)),
    ).rejects.toMatchObject({
      code: 'ERR_PFGM_ARGUMENT',
      message: expect.stringMatching(/no parameter reads attribute 'gamma'/),
    });
    await expect(
      attempt(() => native().runOp('backend.axpby', { ...r.attrs, count: 6.5 }, r.inputs)),
    ).rejects.toMatchObject({
      code: 'ERR_PFGM_ARGUMENT',
      message: expect.stringMatching(/'count' must be a whole number/),
    });
    // a host array of the wrong size is refused too
    await expect(
      attempt(() =>
        native().runOp('backend.scale_rows', { rows: 3, cols: 4 }, { a: filled([2], 1), x: filled([3, 4], 2) }),
      ),
    ).rejects.toMatchObject({
      code: 'ERR_PFGM_SHAPE',
      message: expect.stringMatching(/input 'a' holds 2 values, the op reads 3/),
    });
  });

  it("a step's checked update applies nothing where the statistics say a gradient or the loss is not finite", async () => {
    const r = table.find((t) => t.op === 'adam_step_checked') as Row;
    const unchanged = ['param', 'm', 'v', 'ema'];
    for (const stats of [
      doubles(0.375, 2.25, 1),
      doubles(Number.NaN, 2.25, 0),
      doubles(0.375, Number.POSITIVE_INFINITY, 0),
    ]) {
      for (const device of ['cpu', 'cpu-guarded'] as const) {
        const out = await native().runOp('backend.adam_step_checked', r.attrs, { ...r.inputs, stats }, device);
        for (const name of unchanged) expect(out[name]?.data, `${name} on ${device}`).toEqual(r.inputs[name]?.data);
      }
    }
    // Under the clipping threshold the update is Adam's with the gradient unscaled.
    const { grad_clip: _clip, ...attrs } = r.attrs;
    const under = await native().runOp('backend.adam_step_checked', r.attrs, {
      ...r.inputs,
      stats: doubles(0.375, 0.25, 0),
    });
    const { stats: _stats, ...inputs } = r.inputs;
    const plain = await native().runOp('backend.adam_step', { ...attrs, grad_scale: 1 }, inputs);
    expectSameBits(under, plain, 'checked Adam under the threshold against plain Adam');
    // The statistics flag a non-finite gradient.
    const g = filled([10], 24);
    g.data[7] = Number.NaN;
    const flagged = values(await native().runOp('backend.grad_stats_into', { count: 10 }, { g }));
    expect(flagged.stats?.[1]).toBe(1);
  });

  it('passes null for an optional array left out, and only the generic cases run on cpu-guarded', async () => {
    const r = table.find((t) => t.op === 'adam_step') as Row;
    const withEma = await native().runOp('backend.adam_step', r.attrs, r.inputs);
    const { ema: _ema, ...rest } = r.inputs;
    const without = await native().runOp('backend.adam_step', { ...r.attrs, ema: 0 }, rest);
    expect(Object.keys(without).sort()).toEqual(['m', 'param', 'v']);
    expectSameBits(without, { param: withEma.param, m: withEma.m, v: withEma.v } as Outputs, 'adam without the EMA');
    await expect(
      attempt(() =>
        native().runOp('axpby', { alpha: 1, beta: 2 }, { a: filled([3], 1), b: filled([3], 2) }, 'cpu-guarded'),
      ),
    ).rejects.toMatchObject({ code: 'ERR_PFGM_ARGUMENT', message: expect.stringMatching(/only the generic cases/) });
    await expect(attempt(() => native().runOp('backend.axpby', {}, {}, 'gpu' as 'cuda'))).rejects.toMatchObject({
      code: 'ERR_PFGM_ARGUMENT',
    });
  });
});

// The fake-CUDA addon: cuda/backend.cu's forwarding, staging and downloads over the CPU ops.
const fakeFile = join(builtAddons, 'pfgm_fakecuda.node');
const fake = existsSync(fakeFile) ? (createRequire(import.meta.url)(fakeFile) as NativeAddon) : undefined;

describe.skipIf(!fake)('the generic entries on the fake-CUDA addon', () => {
  it.each(table.map((r) => [r.op, r] as const))("%s on its 'cuda' equals cpu bit for bit", async (_op, r) => {
    const addon = fake as NativeAddon;
    expect(addon.opCases('cuda')).toContain(`backend.${r.op}`);
    expectSameBits(await cases(addon, r, 'cuda'), await cases(native(), r, 'cpu'), `${r.op}: fake cuda against cpu`);
  });
});

// The CUDA test addon on a machine with a usable GPU: the kernels against the same references.
const cudaFile = join(builtAddons, 'pfgm_cuda.node');
const gpu = existsSync(cudaFile) ? (createRequire(import.meta.url)(cudaFile) as NativeAddon) : undefined;

describe.skipIf(gpu?.buildInfo().cuda.available !== true)('the generic entries on the GPU', () => {
  it.each(table.map((r) => [r.op, r] as const))('%s on cuda matches its reference', async (_op, r) => {
    expectMatchesReference(r, await cases(gpu as NativeAddon, r, 'cuda'), 'the GPU');
  });
});

// The emulated-CUDA addon runs the real kernels; in a child process, as test/native/cuda-emulated
// does (a kernel fault leaves the emulated context unusable), with exact device extents.
const emuFile = join(builtAddons, 'pfgm_emucuda.node');

describe.skipIf(!existsSync(emuFile))('the generic entries on the emulated CUDA kernels', () => {
  it('match the references', { timeout: 300_000 }, () => {
    const jobs = table.map((r) => ({
      op: r.op,
      attrs: r.attrs,
      inputs: Object.fromEntries(
        Object.entries(r.inputs).map(([k, t]) => [k, { shape: t.shape, data: Array.from(t.data) }]),
      ),
    }));
    const script = `
      const addon = require(${JSON.stringify(emuFile)});
      const jobs = JSON.parse(require('node:fs').readFileSync(process.argv[1], 'utf8'));
      (async () => {
        const results = [];
        for (const j of jobs) {
          const inputs = Object.fromEntries(Object.entries(j.inputs).map(([k, t]) => [k, { shape: t.shape, data: Float32Array.from(t.data) }]));
          const out = await addon.runOp('backend.' + j.op, j.attrs, inputs, 'cuda');
          results.push(Object.fromEntries(Object.entries(out).map(([k, t]) => [k, { shape: t.shape, data: Array.from(t.data) }])));
        }
        console.log(JSON.stringify(results));
      })().catch((e) => { console.error(e.code, e.message); process.exit(1); });`;
    // Through a file: the larger rows would not fit one command-line argument.
    const jobsDir = mkdtempSync(join(tmpdir(), 'pfgm-backend-ops-'));
    const jobsFile = join(jobsDir, 'jobs.json');
    writeFileSync(jobsFile, JSON.stringify(jobs));
    const r = spawnSync(process.execPath, ['-e', script, jobsFile], {
      encoding: 'utf8',
      env: { ...process.env, PFGM_CUDA_NO_CACHING: '1' },
      maxBuffer: 64 * 2 ** 20,
    });
    rmSync(jobsDir, { recursive: true, force: true });
    expect(r.status, r.stderr).toBe(0);
    const results = JSON.parse(r.stdout.trim().split('\n').pop() ?? '[]') as Record<
      string,
      { shape: number[]; data: number[] }
    >[];
    expect(results.length).toBe(table.length);
    table.forEach((row, i) => {
      const out = Object.fromEntries(
        Object.entries(results[i] ?? {}).map(([k, t]) => [k, { shape: t.shape, data: Float32Array.from(t.data) }]),
      );
      expectMatchesReference(row, out, 'the emulated CUDA device');
    });
  });
});
