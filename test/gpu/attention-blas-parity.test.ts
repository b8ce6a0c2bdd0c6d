// Attention through cuBLAS GEMMs (cuda/libs/attention_blas.cu, op case `attention_blas`, math 0 fp32,
// 1 tf32, 2 bf16) against the CPU engine's attention (oneDNN, fp32) on the same inputs, forward and
// backward: runOp('attention_blas', { heads, math }, inputs, 'cuda') against
// runOp('attention', { heads }, inputs, 'cpu'). Skipped where no CUDA device is usable, and the
// parity checks where the CUDA build has no cuBLAS (the op must then refuse, checked). The same
// comparisons run with both sides on the CPU everywhere (the `attention_blas` CPU twin, which runs
// the CPU attention), so the plumbing is exercised on any machine, and the ptxas report of the
// kernels is checked wherever nvcc is. Written without a GPU (docs/cuda.md says what has run where).
//
// Errors are max |gpu - cpu| / max |cpu| per output (q, k and v lanes of dqkv apart). Tolerances, per
// mode and output, are three times the largest error of a CPU simulation of these very inputs
// (test/gpu/attention-modes-sim.py, the same seeds and shapes; its output is quoted in TOLERANCES):
//
// - fp32 (CUBLAS_COMPUTE_32F on a CUBLAS_DEFAULT_MATH handle: IEEE fp32 FMAs, no TF32). cuBLAS and
//   oneDNN add the same fp32 products in different orders. The simulation computes the whole chain
//   (scores, softmax, weighted sum, dW, softmax backward, dv, dq, dk) in float32 twice, (A) with
//   torch's blocked CPU sgemm and (B) with one fused multiply-add per term in k order (what one
//   sgemm thread does with its accumulator: the largest error of the usual orders), and measures
//   each against float64. |GPU - CPU| <= err_GPU + err_CPU, modelled by err_A + err_B, whose largest
//   value over the cases is 3.6e-6 (out, the peaked 8x8 case); the bound is 3x that per output.
//   CUDA's expf and oneDNN's exp differ by an ulp or two (~1e-7 of the weights): inside the margin.
// - tf32 (CUBLAS_COMPUTE_32F_FAST_TF32) and bf16 (CUBLAS_COMPUTE_32F_FAST_16BF): both operands of
//   each product rounded to 10 / 7 mantissa bits. cuBLAS does not document whether it rounds or
//   truncates when it converts fp32 operands, so the simulation does both; truncation, biased toward
//   zero, is 2-4x worse and sets the bound. The errors are larger than the convolutions'
//   (math-modes-sim.py) because they chain: the scores' error moves the weights, the weights' the
//   output and dv, and dW's error passes through the softmax backward's difference
//   dW - rowsum(dW o W) (cancellation) into dq and dk.
//
// Also checked: every row of the weights sums to 1 within 1e-5 in every mode (an fp32 softmax;
// 256 terms, <= 256 u = 1.5e-5 worst case, ~16 u typical), and a second run gives the same bits
// (cuBLAS's documented run-to-run reproducibility on one stream, plus fixed-order row kernels).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { native } from '../../src/addon/load.js';
import type { NativeHostTensor } from '../../src/addon/native.js';
import { getDeviceInfo } from '../../src/index.js';
import { filled, type Inputs, out, scaledError } from '../helpers/ops.js';
import { hasNvcc as nvcc, repoRoot as root } from '../helpers/toolkit.js';

const hasCuda = (() => {
  try {
    return getDeviceInfo().backend === 'cuda';
  } catch {
    return false;
  }
})();
const hasCublas = hasCuda && native().buildInfo().cuda.cublas;

type Device = 'cpu' | 'cuda';
type Outputs = Record<string, NativeHostTensor>;
const MODES = [
  ['fp32', 0],
  ['tf32', 1],
  ['bf16', 2],
] as const;
type Mode = (typeof MODES)[number][1];
const OUTPUTS = ['out', 'weights', 'dq', 'dk', 'dv'] as const;
type Output = (typeof OUTPUTS)[number];

/**
 * The simulation's largest error over the cases below, per mode and output
 * (python3 test/gpu/attention-modes-sim.py, "largest over the cases": fp32 A+B, tf32 trunc,
 * bf16 trunc); each bound is three times its entry.
 */
const SIMULATED: Record<Mode, Record<Output, number>> = {
  0: { out: 3.62e-6, weights: 2.14e-6, dq: 2.32e-6, dk: 1.74e-6, dv: 1.47e-6 },
  1: { out: 1.85e-3, weights: 1.28e-3, dq: 2.22e-3, dk: 2.42e-3, dv: 1.5e-3 },
  2: { out: 1.48e-2, weights: 9.74e-3, dq: 1.61e-2, dk: 2.05e-2, dv: 1.41e-2 },
};
const bound = (mode: Mode, name: Output) => 3 * SIMULATED[mode][name];

// [name, qkv shape [n, h, w, 3c], heads, input range]: attention-resample-parity's cases (the same
// seeds, so the simulation applies) plus EDM's own 16x16 attention, 4 heads of 64 channels.
type Case = readonly [string, readonly number[], number, number];
const SMALL: Case[] = [
  ['16x16, c = 128 (the networks\u2019 first attention)', [3, 16, 16, 384], 1, 1],
  ['8x8, c = 256, peaked softmax (logits ~ 3 sigma)', [2, 8, 8, 768], 1, 3],
  ['63 positions (not a multiple of anything), 3 heads of 1 channel', [2, 7, 9, 9], 3, 1],
  ['65 positions, 4 heads of 10 channels', [3, 5, 13, 120], 4, 2],
  ['one position, 2 heads', [2, 1, 1, 24], 2, 1],
];
const FULL: Case[] = [
  ['batch 128, 8x8, c = 512', [128, 8, 8, 1536], 1, 1],
  ['batch 16, 16x16, c = 256', [16, 16, 16, 768], 1, 1],
  ['16x16, c = 512, 2 heads', [4, 16, 16, 1536], 2, 1],
  ['ddpmpp-cifar10: 16x16, c = 256, 4 heads of 64', [8, 16, 16, 768], 4, 1],
];

function inputsOf(c: Case): Inputs {
  const [, shape, , range] = c;
  const [n, h, w, c3] = shape as [number, number, number, number];
  return { qkv: filled([n, h, w, c3], 101 + c3, -range, range), dout: filled([n, h, w, c3 / 3], 202 + c3) };
}

/** Every third element from `which`: q (0), k (1) or v (2) of an interleaved qkv gradient. */
function lane(x: Float32Array, which: number): Float32Array {
  const r = new Float32Array(x.length / 3);
  for (let i = 0; i < r.length; i++) r[i] = x[3 * i + which] as number;
  return r;
}

/** The five outputs of a result by name: out, weights and the three lanes of dqkv. */
function parts(r: Outputs): Record<Output, Float32Array> {
  const dqkv = out(r, 'dqkv');
  return { out: out(r, 'out'), weights: out(r, 'weights'), dq: lane(dqkv, 0), dk: lane(dqkv, 1), dv: lane(dqkv, 2) };
}

interface Check {
  name: Output;
  err: number;
  bound: number;
}

function compare(got: Outputs, ref: Outputs, mode: Mode): Check[] {
  expect(Object.keys(got).sort()).toEqual(['dqkv', 'out', 'weights']);
  expect(Object.keys(ref).sort()).toEqual(['dqkv', 'out', 'weights']);
  for (const name of Object.keys(ref)) expect(got[name]?.shape, name).toEqual(ref[name]?.shape);
  const [g, r] = [parts(got), parts(ref)];
  return OUTPUTS.map((name) => ({ name, err: scaledError(g[name], r[name]), bound: bound(mode, name) }));
}

/** The largest |row sum - 1| of the weights [n, heads, hw, hw]. */
function worstRowSum(weights: Float32Array, hw: number): number {
  let worst = 0;
  for (let r = 0; r < weights.length / hw; r++) {
    let sum = 0;
    for (let k = 0; k < hw; k++) sum += weights[r * hw + k] as number;
    worst = Math.max(worst, Number.isNaN(sum) ? Number.POSITIVE_INFINITY : Math.abs(sum - 1));
  }
  return worst;
}

function bitsEqual(a: Float32Array, b: Float32Array): boolean {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

const attempt = (f: () => Promise<unknown>) => Promise.resolve().then(f);
const hwOf = (c: Case) => (c[1][1] as number) * (c[1][2] as number);

/** The CPU reference of a case, computed once and shared by the three modes. */
const references = new Map<string, Promise<Outputs>>();
function reference(c: Case): Promise<Outputs> {
  let r = references.get(c[0]);
  if (r === undefined) {
    r = native().runOp('attention', { heads: c[2] }, inputsOf(c), 'cpu');
    references.set(c[0], r);
  }
  return r;
}

/** Runs the parity checks of every case and mode with `attention_blas` on `dev`. */
function parity(dev: Device, cases: Case[], measured: string[]) {
  for (const [modeName, mode] of MODES) {
    it.each(cases.map((c) => [c[0], c] as const))(`${modeName}: %s`, async (_name, c) => {
      const inputs = inputsOf(c);
      const attrs = { heads: c[2], math: mode };
      const ref = await reference(c);
      const got = await native().runOp('attention_blas', attrs, inputs, dev);
      const checks = compare(got, ref, mode);
      measured.push(`${modeName} ${c[0]}: ${checks.map((k) => `${k.name} ${k.err.toExponential(2)}`).join(' ')}`);
      for (const k of checks) {
        expect(k.err, `${k.name}: error ${k.err.toExponential(2)} over bound ${k.bound}`).toBeLessThanOrEqual(k.bound);
      }
      expect(worstRowSum(out(got, 'weights'), hwOf(c)), 'a row of the weights sums to 1').toBeLessThanOrEqual(1e-5);
      const again = await native().runOp('attention_blas', attrs, inputs, dev);
      for (const name of Object.keys(got)) expect(bitsEqual(out(again, name), out(got, name)), name).toBe(true);
    });
  }

  it('bad shapes and modes are coded errors', async () => {
    const qkv = filled([1, 2, 2, 9], 1);
    await expect(attempt(() => native().runOp('attention_blas', { heads: 2 }, { qkv }, dev))).rejects.toMatchObject({
      code: 'ERR_PFGM_SHAPE',
    });
    await expect(
      attempt(() => native().runOp('attention_blas', {}, { qkv, dout: filled([1, 2, 2, 4], 2) }, dev)),
    ).rejects.toMatchObject({ code: 'ERR_PFGM_SHAPE' });
    for (const math of [3, -1, 0.5]) {
      await expect(attempt(() => native().runOp('attention_blas', { math }, { qkv }, dev))).rejects.toMatchObject({
        code: 'ERR_PFGM_ARGUMENT',
        message: expect.stringMatching(/attention_blas: attribute 'math' must be an integer in \[0, 2\]/),
      });
    }
  });
}

describe.skipIf(!hasCublas)('attention through cuBLAS against the CPU engine', () => {
  const measured: string[] = [];
  // The errors measured here, for docs/cuda.md (the first GPU session records them).
  afterAll(() => console.log(`attention_blas errors (max |gpu - cpu| / max |cpu|):\n${measured.join('\n')}`));
  parity('cuda', [...SMALL, ...FULL], measured);

  it('inference (weights null: pooled scratch) gives the training forward\u2019s out bit for bit', async () => {
    for (const c of [SMALL[0], SMALL[3], FULL[3]] as Case[]) {
      const { qkv } = inputsOf(c) as { qkv: NativeHostTensor };
      for (const [, mode] of MODES) {
        const train = await native().runOp('attention_blas', { heads: c[2], math: mode }, { qkv }, 'cuda');
        const infer = await native().runOp(
          'attention_blas',
          { heads: c[2], math: mode, inference: 1 },
          { qkv },
          'cuda',
        );
        expect(Object.keys(infer)).toEqual(['out']);
        expect(bitsEqual(out(infer, 'out'), out(train, 'out')), `${c[0]} mode ${mode}`).toBe(true);
      }
    }
    const qkv = filled([1, 2, 2, 9], 1);
    await expect(
      attempt(() => native().runOp('attention_blas', { inference: 1 }, { qkv, dout: filled([1, 2, 2, 3], 2) }, 'cuda')),
    ).rejects.toMatchObject({ code: 'ERR_PFGM_ARGUMENT' });
  });
});

describe.skipIf(!hasCuda || hasCublas)('attention_blas in a CUDA build without cuBLAS', () => {
  it('refuses with ERR_PFGM_DEVICE naming CUBLAS_ROOT, after the shape checks', async () => {
    const qkv = filled([1, 2, 2, 9], 1);
    await expect(attempt(() => native().runOp('attention_blas', {}, { qkv }, 'cuda'))).rejects.toMatchObject({
      code: 'ERR_PFGM_DEVICE',
      message: expect.stringMatching(/no cuBLAS.*CUBLAS_ROOT/),
    });
    await expect(attempt(() => native().runOp('attention_blas', { heads: 2 }, { qkv }, 'cuda'))).rejects.toMatchObject({
      code: 'ERR_PFGM_SHAPE',
    });
  });
});

describe('attention_blas parity plumbing (both sides on the CPU)', () => {
  const measured: string[] = [];
  parity('cpu', SMALL, measured);

  it('the CPU twin is the CPU attention, whatever the mode', async () => {
    const c = SMALL[3] as Case;
    const plain = await native().runOp('attention', { heads: c[2] }, inputsOf(c), 'cpu');
    for (const [, mode] of MODES) {
      const twin = await native().runOp('attention_blas', { heads: c[2], math: mode }, inputsOf(c), 'cpu');
      for (const name of Object.keys(plain)) expect(bitsEqual(out(twin, name), out(plain, name)), name).toBe(true);
      for (const k of compare(twin, plain, mode)) expect(k.err, k.name).toBe(0);
    }
  });

  it('the checks can fail: an error just past each bound, and a row that does not sum to 1, are caught', async () => {
    const c = SMALL[0] as Case;
    const ref = await reference(c);
    for (const [, mode] of MODES) {
      for (const [which, name] of [
        [-1, 'out'],
        [-1, 'weights'],
        [0, 'dq'],
        [1, 'dk'],
        [2, 'dv'],
      ] as const) {
        const tensor = which < 0 ? name : 'dqkv';
        const data = new Float32Array(out(ref, tensor));
        const part = parts(ref)[name];
        const scale = part.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        const at = which < 0 ? 7 : 3 * 7 + which; // element 7 of the part
        data[at] = (data[at] as number) + 2 * bound(mode, name) * scale;
        const bad = { ...ref, [tensor]: { shape: ref[tensor]?.shape ?? [], data } } as Outputs;
        const hit = compare(bad, ref, mode).find((k) => k.name === name) as Check;
        expect(hit.err, `${name} in mode ${mode}`).toBeGreaterThan(hit.bound);
        for (const other of compare(bad, ref, mode)) if (other.name !== name) expect(other.err).toBe(0);
      }
    }
    const w = new Float32Array(out(ref, 'weights'));
    expect(worstRowSum(w, hwOf(c))).toBeLessThanOrEqual(1e-5);
    w[5] = (w[5] as number) + 2e-5;
    expect(worstRowSum(w, hwOf(c))).toBeGreaterThan(1e-5);
  });

  it('the bounds are three times the simulated errors, and tf32 / bf16 the looser', () => {
    for (const name of OUTPUTS) {
      expect(bound(0, name)).toBeLessThan(2e-5);
      expect(bound(1, name)).toBeGreaterThan(10 * bound(0, name));
      expect(bound(2, name)).toBeGreaterThan(4 * bound(1, name));
      expect(bound(2, name)).toBeLessThan(0.1);
    }
  });
});

// ---- ptxas: the kernels spill nothing and have no atomics (determinism) ------------------------

describe.skipIf(!nvcc)('the attention_blas kernels as ptxas compiles them (sm_90)', () => {
  // Source file -> its kernels. The row kernels are shared with the tiled attention.
  const sources = {
    'libs/attention_blas.cu': ['split_kernel', 'merge_kernel'],
    'kernels/softmax_rows.cu': [
      'softmax_regs_kernel',
      'softmax_loop_kernel',
      'softmax_backward_regs_kernel',
      'softmax_backward_loop_kernel',
    ],
  };

  it('every kernel: no stack, no spills, at most 64 registers, no atomic instruction', () => {
    const work = mkdtempSync(join(tmpdir(), 'pfgm-attn-blas-'));
    try {
      const common = [
        '-std=c++17',
        '-O3',
        '--expt-relaxed-constexpr',
        '-arch=sm_90',
        '-I',
        join(root, 'src', 'native'),
        '-I',
        join(root, 'cuda'),
      ];
      // Without PFGM_HAVE_CUBLAS: the kernels are compiled in every CUDA build.
      for (const [file, kernels] of Object.entries(sources)) {
        const source = join(root, 'cuda', file);
        const ptx = join(work, `${basename(file)}.ptx`);
        execFileSync('nvcc', [...common, '-ptx', source, '-o', ptx]);
        const bodies = readFileSync(ptx, 'utf8')
          .split(/^\.(?:visible |weak )?\.?entry /m)
          .slice(1);
        const compiled = spawnSync(
          'nvcc',
          [...common, '-cubin', '-Xptxas', '-v', source, '-o', join(work, `${basename(file)}.cubin`)],
          { encoding: 'utf8' },
        );
        expect(compiled.status, compiled.stderr).toBe(0);
        // ptxas -v: "Compiling entry function '<mangled>' ...", then its stack / spill and register lines
        const reports = `${compiled.stdout}${compiled.stderr}`.split(/Compiling entry function '/).slice(1);
        for (const name of kernels) {
          const mangled = `${name.length}${name}`;
          const body = bodies.filter((b) => b.slice(0, b.indexOf('(')).includes(mangled)).join('');
          expect(body, `${name} in the PTX`).not.toBe('');
          expect(body, name).not.toMatch(/^\s*(?:@%p\d+\s+)?(?:atom|red)\./m);
          const report = reports.find((r) => r.slice(0, r.indexOf("'")).includes(mangled));
          expect(report, `${name} in the ptxas report`).toBeDefined();
          const frame = /(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads/.exec(report ?? '');
          expect(frame?.slice(1).map(Number), name).toEqual([0, 0, 0]);
          const registers = Number(/Used (\d+) registers/.exec(report ?? '')?.[1]);
          expect(registers, name).toBeLessThanOrEqual(64);
        }
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
