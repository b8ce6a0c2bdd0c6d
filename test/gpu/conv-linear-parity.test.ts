// cuDNN convolutions and cuBLAS linear layers (cuda/libs/conv.cu, cuda/libs/linear.cu) against the CPU engine
// (oneDNN, fp32) through the twin op cases `conv2d` and `linear`, forward and all three gradients,
// in each math mode (attribute `math`: 0 fp32, 1 tf32, 2 bf16; the CPU case ignores it). Skipped
// where no CUDA device is usable; the comparison plumbing runs everywhere with both sides on the CPU
// (last describe). Written without a GPU (docs/cuda.md says what has run where).
//
// Errors are measured as max |gpu - cpu| / max |cpu| per output ("scaled"), except the bias
// gradient, which is bounded per column. Tolerances:
//
// - fp32 (CUDNN_FMA_MATH without FFT/Winograd; CUBLAS_COMPUTE_32F): both sides sum K products in
//   fp32 in different orders, each off by ~ sqrt(K) 2^-24 of the products' root-sum-square, which
//   is about the output's scale; the bound is 8 sqrt(K) 2^-24 with K the length of each dot
//   product: cin k^2 for y, cout k^2 for dx, n oh ow for dweight (the brief's "scale times
//   sqrt(K) eps", with a factor 8 for worst-case elements and split-K orders).
// - tf32: 3e-3. test/gpu/math-modes-sim.py rounds these very inputs as TF32 tensor cores do in
//   the worst case (13 mantissa bits truncated, a bias toward zero) and measured at most 1.03e-3
//   over every output here (typically 6-9e-4); the bound is three times that.
// - bf16: 1.2e-2. Inputs, weights and dy rounded to bf16 (2^-9 relative each), fp32 sums, and
//   cuDNN's bf16 output rounded once more: the same simulation measured at most 4.14e-3
//   (convolutions) and 4.06e-3 (linear); the bound is three times that.
// - bias gradient (fp32 kernels in every mode, cuda/kernels/bias.cu): per column, |gpu - cpu| <=
//   40 * 2^-24 * sum_r |dy[r, c]| + 1 ulp: each GPU thread adds <= 32 values in fp32, a tree of 8
//   adds 3 more roundings, the rest is double, and the CPU sums in double.
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
type Device = 'cpu' | 'cuda';
const EPS = 2 ** -24;
const MODES = [
  ['fp32', 0],
  ['tf32', 1],
  ['bf16', 2],
] as const;
type Mode = (typeof MODES)[number][1];

/** [name, n, h, w, cin, cout, k, stride, pad, bias] */
type ConvCase = readonly [string, number, number, number, number, number, number, number, number, boolean];
// The networks' convolutions (src/native/nn/layers.cc: k 1 or 3, pad k/2, or 0 on the fused
// resampling path) plus stride 2, odd sizes and an even kernel, which the op supports too.
const CONVS: ConvCase[] = [
  ['input conv 3->128, 3x3 pad 1', 2, 32, 32, 3, 128, 3, 1, 1, true],
  ['128->256, 3x3 pad 1', 2, 16, 16, 128, 256, 3, 1, 1, true],
  ['1x1 skip 128->256', 2, 16, 16, 128, 256, 1, 1, 0, true],
  ['fused-resample path: 3x3 pad 0, 17x17, no bias', 2, 17, 17, 64, 64, 3, 1, 0, false],
  ['stride 2, 3x3 pad 1, odd 15x13, 5->7', 3, 15, 13, 5, 7, 3, 2, 1, true],
  ['stride 2, 1x1, 9x9', 2, 9, 9, 16, 24, 1, 2, 0, true],
  ['output conv 128->3, 3x3 pad 1', 2, 32, 32, 128, 3, 3, 1, 1, true],
  ['even kernel 2x2, stride 2', 2, 8, 8, 6, 10, 2, 2, 0, true],
];

/** [name, rows, in, out, bias] */
type LinearCase = readonly [string, number, number, number, boolean];
// The mapping network (src/native/nn/mapping.cc) at 128 channels: map_layer0 128->512, map_layer1
// 512->512, the label (10 classes) and augment (9, no bias) maps; plus many rows and odd sizes.
const LINEARS: LinearCase[] = [
  ['map_layer0 128->512', 8, 128, 512, true],
  ['map_layer1 512->512', 8, 512, 512, true],
  ['map_label 10->128', 8, 10, 128, true],
  ['map_augment 9->128, no bias', 8, 9, 128, false],
  ['1000 rows 64->3', 1000, 64, 3, true],
  ['300 rows 33->17', 300, 33, 17, true],
];

// Same seeds and ranges as test/gpu/math-modes-sim.py, whose measurements set the tolerances.
function convInputs(c: ConvCase, i: number): { attrs: Attrs; inputs: Inputs } {
  const [, n, h, w, cin, cout, k, stride, pad, bias] = c;
  const oh = Math.floor((h + 2 * pad - k) / stride) + 1;
  const ow = Math.floor((w + 2 * pad - k) / stride) + 1;
  return {
    attrs: { k, stride, pad },
    inputs: {
      x: filled([n, h, w, cin], 100 + i),
      weight: filled([cout, cin, k, k], 200 + i, -0.3, 0.3),
      dy: filled([n, oh, ow, cout], 300 + i),
      ...(bias ? { bias: filled([cout], 700 + i) } : {}),
    },
  };
}

function linearInputs(c: LinearCase, i: number): Inputs {
  const [, rows, fin, fout, bias] = c;
  return {
    x: filled([rows, fin], 400 + i),
    weight: filled([fout, fin], 500 + i, -0.3, 0.3),
    dy: filled([rows, fout], 600 + i),
    ...(bias ? { bias: filled([fout], 800 + i) } : {}),
  };
}

function scaledBound(mode: Mode, k: number): number {
  if (mode === 1) return 3e-3;
  if (mode === 2) return 1.2e-2;
  return 8 * Math.sqrt(k) * EPS;
}

/** Largest ratio of a bias-gradient error to its bound (<= 1 passes); dy is [rows, cols]. */
function biasGradRatio(g: Float32Array, c: Float32Array, dy: Float32Array, cols: number): number {
  const abs = new Float64Array(cols);
  for (let i = 0; i < dy.length; i++) abs[i % cols] = (abs[i % cols] as number) + Math.abs(dy[i] as number);
  let worst = 0;
  for (let j = 0; j < cols; j++) {
    const ref = c[j] as number;
    const bound = 40 * EPS * (abs[j] as number) + Math.abs(ref) * EPS + 1e-30;
    const d = Math.abs((g[j] as number) - ref);
    worst = Math.max(worst, Number.isNaN(d) ? Number.POSITIVE_INFINITY : d / bound);
  }
  return worst;
}

interface Check {
  name: string;
  err: number;
  bound: number;
}

/** Every output of a conv2d or linear case against the reference, with its bound. */
function compare(
  gpu: Outputs,
  cpu: Outputs,
  mode: Mode,
  dots: { y: number; dx: number; dweight: number },
  dy: NativeHostTensor,
): Check[] {
  expect(Object.keys(gpu).sort()).toEqual(Object.keys(cpu).sort());
  const checks: Check[] = [];
  for (const name of ['y', 'dx', 'dweight'] as const) {
    checks.push({ name, err: scaledError(out(gpu, name), out(cpu, name)), bound: scaledBound(mode, dots[name]) });
  }
  if (cpu.dbias) {
    const cols = cpu.dbias.data.length;
    checks.push({ name: 'dbias', err: biasGradRatio(out(gpu, 'dbias'), out(cpu, 'dbias'), dy.data, cols), bound: 1 });
  }
  return checks;
}

function expectWithin(checks: Check[], label: string) {
  for (const c of checks) {
    expect(c.err, `${label} ${c.name}: error ${c.err.toExponential(2)} over bound ${c.bound}`).toBeLessThanOrEqual(
      c.bound,
    );
  }
}

function convDots(c: ConvCase): { y: number; dx: number; dweight: number } {
  const [, n, h, w, cin, cout, k, stride, pad] = c;
  const oh = Math.floor((h + 2 * pad - k) / stride) + 1;
  const ow = Math.floor((w + 2 * pad - k) / stride) + 1;
  return { y: cin * k * k, dx: cout * k * k, dweight: n * oh * ow };
}

async function runBoth(op: string, attrs: Attrs, inputs: Inputs, devices: [Device, Device]) {
  const ref = await native().runOp(op, attrs, inputs, devices[0]);
  const got = await native().runOp(op, attrs, inputs, devices[1]);
  return { ref, got };
}

function bitsEqual(a: Float32Array, b: Float32Array): boolean {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

const attempt = (f: () => Promise<unknown>) => Promise.resolve().then(f);

describe.skipIf(!hasCuda)('cuDNN convolutions and cuBLAS linear layers against the CPU engine', () => {
  const buildInfo = () => native().buildInfo().cuda;

  it('the build has cuDNN and cuBLAS (else the ops refuse, checked below)', () => {
    const info = buildInfo();
    if (!info.cudnn || !info.cublas) {
      console.warn(
        `this CUDA build lacks ${info.cudnn ? '' : 'cuDNN '}${info.cublas ? '' : 'cuBLAS'}: rebuild with CUDNN_ROOT/CUBLAS_ROOT`,
      );
    }
    expect(info.compiled).toBe(true);
  });

  for (const [modeName, mode] of MODES) {
    it.each(CONVS.map((c, i) => [c[0], c, i] as const))(`conv2d ${modeName}: %s`, async (_name, c, i) => {
      if (!buildInfo().cudnn) return;
      const { attrs, inputs } = convInputs(c, i);
      const { ref, got } = await runBoth('conv2d', { ...attrs, math: mode }, inputs, ['cpu', 'cuda']);
      expectWithin(compare(got, ref, mode, convDots(c), inputs.dy as NativeHostTensor), `conv2d ${modeName}`);
    });

    it.each(LINEARS.map((c, i) => [c[0], c, i] as const))(`linear ${modeName}: %s`, async (_name, c, i) => {
      if (!buildInfo().cublas) return;
      const inputs = linearInputs(c, i);
      const { ref, got } = await runBoth('linear', { math: mode }, inputs, ['cpu', 'cuda']);
      const [, rows, fin, fout] = c;
      expectWithin(
        compare(got, ref, mode, { y: fin, dx: fout, dweight: rows }, inputs.dy as NativeHostTensor),
        `linear ${modeName}`,
      );
    });
  }

  it('a conv plan is made once per (shape, mode) and reused; deterministic algorithms repeat bit for bit', async () => {
    if (!buildInfo().cudnn) return;
    // a shape no other test uses, so the first call must create its plan
    const c: ConvCase = ['plan', 1, 11, 7, 9, 12, 3, 1, 1, true];
    const { attrs, inputs } = convInputs(c, 40);
    for (const [, mode] of MODES) {
      const first = await native().runOp('conv2d', { ...attrs, math: mode, plan_stats: 1 }, inputs, 'cuda');
      const second = await native().runOp('conv2d', { ...attrs, math: mode, plan_stats: 1 }, inputs, 'cuda');
      const [p1, p2] = [out(first, 'plan'), out(second, 'plan')];
      expect(p1[0], 'first call creates the plan').toBe(1);
      expect(p2[0], 'second call reuses it').toBe(0);
      expect(Array.from(p2.subarray(1, 7))).toEqual(Array.from(p1.subarray(1, 7)));
      expect(p2[7]).toBe(p1[7]);
      // the three directions' deterministic flags: where set, results must repeat exactly
      const outputsOf = ['y', 'dx', 'dweight'] as const;
      for (let d = 0; d < 3; d++) {
        if (p1[4 + d] === 1) {
          const name = outputsOf[d] as string;
          expect(bitsEqual(out(first, name), out(second, name)), `${name} repeats in mode ${mode}`).toBe(true);
        }
      }
      expect(bitsEqual(out(first, 'dbias'), out(second, 'dbias')), 'dbias repeats').toBe(true);
    }
  });

  it('the bias gradient over many rows stays within its bound and is deterministic', async () => {
    if (!buildInfo().cublas) return;
    // 70_001 rows: 274 chunks of 256 rows, the last one partial; 37 columns: two column tiles
    const inputs = {
      x: filled([70_001, 2], 900),
      weight: filled([37, 2], 901),
      bias: filled([37], 902),
      dy: filled([70_001, 37], 903, -1, 3),
    };
    const { ref, got } = await runBoth('linear', {}, inputs, ['cpu', 'cuda']);
    expect(biasGradRatio(out(got, 'dbias'), out(ref, 'dbias'), inputs.dy.data, 37)).toBeLessThanOrEqual(1);
    const again = await native().runOp('linear', {}, inputs, 'cuda');
    expect(bitsEqual(out(again, 'dbias'), out(got, 'dbias'))).toBe(true);
  });

  it('an empty batch gives zero parameter gradients, as on the CPU', async () => {
    const info = buildInfo();
    if (info.cublas) {
      const inputs = { x: filled([0, 5], 1), weight: filled([4, 5], 2), bias: filled([4], 3), dy: filled([0, 4], 4) };
      const { ref, got } = await runBoth('linear', {}, inputs, ['cpu', 'cuda']);
      for (const name of ['dweight', 'dbias']) expect(Array.from(out(got, name))).toEqual(Array.from(out(ref, name)));
    }
    if (info.cudnn) {
      const inputs = {
        x: filled([0, 4, 4, 3], 1),
        weight: filled([2, 3, 3, 3], 2),
        bias: filled([2], 3),
        dy: filled([0, 4, 4, 2], 4),
      };
      const { ref, got } = await runBoth('conv2d', { k: 3, stride: 1, pad: 1 }, inputs, ['cpu', 'cuda']);
      for (const name of ['dweight', 'dbias']) expect(Array.from(out(got, name))).toEqual(Array.from(out(ref, name)));
    }
  });

  it('bf16 rounding on the GPU equals the CPU model bit for bit', async () => {
    const x = filled([100_003], 77, -1e3, 1e3);
    x.data.set([0, -0, 1, 1.00390625, 1.01171875, 3.4e38, -3.4e38, 1e-40, Number.NaN, Number.POSITIVE_INFINITY]);
    const { ref, got } = await runBoth('bf16_round', {}, { x }, ['cpu', 'cuda']);
    expect(bitsEqual(out(got, 'y'), out(ref, 'y'))).toBe(true);
  });

  it('bad shapes and modes are coded errors; a build without a library refuses with ERR_PFGM_DEVICE', async () => {
    const x = filled([1, 4, 4, 3], 1);
    await expect(
      attempt(() =>
        native().runOp('conv2d', { k: 3, stride: 1, pad: 1 }, { x, weight: filled([2, 4, 3, 3], 2) }, 'cuda'),
      ),
    ).rejects.toMatchObject({ code: 'ERR_PFGM_SHAPE' });
    await expect(
      attempt(() =>
        native().runOp('conv2d', { k: 3, stride: 1, pad: 1, math: 3 }, { x, weight: filled([2, 3, 3, 3], 2) }, 'cuda'),
      ),
    ).rejects.toMatchObject({ code: 'ERR_PFGM_ARGUMENT' });
    const info = buildInfo();
    if (!info.cudnn) {
      await expect(
        attempt(() =>
          native().runOp('conv2d', { k: 3, stride: 1, pad: 1 }, { x, weight: filled([2, 3, 3, 3], 2) }, 'cuda'),
        ),
      ).rejects.toMatchObject({ code: 'ERR_PFGM_DEVICE', message: expect.stringMatching(/no cuDNN.*CUDNN_ROOT/) });
    }
    if (!info.cublas) {
      await expect(
        attempt(() => native().runOp('linear', {}, { x: filled([2, 3], 1), weight: filled([4, 3], 2) }, 'cuda')),
      ).rejects.toMatchObject({ code: 'ERR_PFGM_DEVICE', message: expect.stringMatching(/no cuBLAS.*CUBLAS_ROOT/) });
    }
  });
});

describe('conv/linear parity plumbing, both sides on the CPU', () => {
  it('the CPU cases accept the GPU-only attributes and ignore them', async () => {
    const c = CONVS[4] as ConvCase;
    const { attrs, inputs } = convInputs(c, 4);
    const plain = await native().runOp('conv2d', attrs, inputs, 'cpu');
    const withMode = await native().runOp('conv2d', { ...attrs, math: 2, plan_stats: 1 }, inputs, 'cpu');
    expect(Object.keys(withMode).sort()).toEqual(['dbias', 'dweight', 'dx', 'y']);
    for (const name of Object.keys(plain)) expect(bitsEqual(out(withMode, name), out(plain, name)), name).toBe(true);
  });

  it.each(CONVS.map((c, i) => [c[0], c, i] as const))('conv2d inputs, outputs and bounds: %s', async (_n, c, i) => {
    const { attrs, inputs } = convInputs(c, i);
    const { ref, got } = await runBoth('conv2d', { ...attrs, math: 0 }, inputs, ['cpu', 'cpu']);
    expect(Object.keys(ref).sort()).toEqual(c[9] ? ['dbias', 'dweight', 'dx', 'y'] : ['dweight', 'dx', 'y']);
    const checks = compare(got, ref, 0, convDots(c), inputs.dy as NativeHostTensor);
    for (const check of checks) {
      expect(check.err, check.name).toBe(0);
      expect(check.bound).toBeGreaterThan(0);
    }
    // the checks can fail: an error just past each bound is caught
    for (const name of ['y', 'dx', 'dweight'] as const) {
      const bad = { ...got, [name]: { ...(got[name] as NativeHostTensor) } } as Outputs;
      const data = new Float32Array(out(got, name));
      let at = 0;
      for (let j = 0; j < data.length; j++) if (Math.abs(data[j] as number) > Math.abs(data[at] as number)) at = j;
      const scale = Math.abs(data[at] as number);
      for (const mode of [0, 1, 2] as const) {
        const bound = compare(got, ref, mode, convDots(c), inputs.dy as NativeHostTensor).find((k) => k.name === name)
          ?.bound as number;
        const moved = new Float32Array(data);
        moved[(at + 1) % moved.length] = (data[(at + 1) % data.length] as number) + 2 * bound * scale;
        (bad[name] as NativeHostTensor).data = moved;
        const hit = compare(bad, ref, mode, convDots(c), inputs.dy as NativeHostTensor).find((k) => k.name === name);
        expect((hit as Check).err, `${name} mode ${mode}`).toBeGreaterThan((hit as Check).bound);
      }
    }
    if (ref.dbias) {
      const moved = new Float32Array(out(got, 'dbias'));
      moved[0] = (moved[0] as number) + 1e-3 * (1 + Math.abs(moved[0] as number));
      const bad = { ...got, dbias: { shape: ref.dbias.shape, data: moved } };
      const hit = compare(bad, ref, 0, convDots(c), inputs.dy as NativeHostTensor).find((k) => k.name === 'dbias');
      expect((hit as Check).err).toBeGreaterThan(1);
    }
  });

  it.each(LINEARS.map((c, i) => [c[0], c, i] as const))('linear inputs, outputs and bounds: %s', async (_n, c, i) => {
    const inputs = linearInputs(c, i);
    const { ref, got } = await runBoth('linear', { math: 1 }, inputs, ['cpu', 'cpu']);
    const [, rows, fin, fout, bias] = c;
    expect(Object.keys(ref).sort()).toEqual(bias ? ['dbias', 'dweight', 'dx', 'y'] : ['dweight', 'dx', 'y']);
    for (const check of compare(got, ref, 1, { y: fin, dx: fout, dweight: rows }, inputs.dy as NativeHostTensor)) {
      expect(check.err, check.name).toBe(0);
    }
  });

  it('the fp32 bound grows like sqrt(K) and the tf32/bf16 bounds are the stated constants', () => {
    expect(scaledBound(0, 1152)).toBeCloseTo(8 * Math.sqrt(1152) * 2 ** -24, 15);
    expect(scaledBound(0, 4 * 1152) / scaledBound(0, 1152)).toBeCloseTo(2, 12);
    expect(scaledBound(1, 10)).toBe(3e-3);
    expect(scaledBound(2, 10)).toBe(1.2e-2);
  });

  it('the bias-gradient bound: exact sums pass, a sum off by more than 40 eps of sum |dy| fails', () => {
    const cols = 3;
    const dy = filled([1000, cols], 5).data;
    const sums = new Float32Array(cols);
    const exact = new Float64Array(cols);
    for (let i = 0; i < dy.length; i++) exact[i % cols] = (exact[i % cols] as number) + (dy[i] as number);
    sums.set(exact);
    expect(biasGradRatio(sums, sums, dy, cols)).toBe(0);
    const absSum = dy.reduce((s, v, i) => (i % cols === 1 ? s + Math.abs(v) : s), 0);
    const off = new Float32Array(sums);
    off[1] = (off[1] as number) + 60 * EPS * absSum;
    expect(biasGradRatio(off, sums, dy, cols)).toBeGreaterThan(1);
  });
});
