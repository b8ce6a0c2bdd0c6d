#!/usr/bin/env node
// The CPU engine's 3x3 convolutions in the kernel lab (bench/kernels/conv/README.md): each
// algorithm (variant) of src/native/ops/conv.cc on the networks' shapes, forward, backward data
// and backward weights, checked against a float64 direct convolution (op case
// "conv2d.winograd_error") and timed in native code (op case "conv2d.bench", so neither JS nor
// copies are timed), beside PyTorch eager on the same machine and thread count. Prints one JSON
// object with GFLOP/s per shape (direct-convolution FLOPs over the time, so algorithms that do
// fewer FLOPs show as faster) from the median and the best iteration, and the fraction of the
// machine's fp32 peak.
//   node bench/kernels/conv.mjs [--set small|cifar10] [--n 64] [--iters 10] [--rounds 2]
//                               [--variant direct,winograd2,winograd4,auto] [--ghz 3.5]
//                               [--cpu-clock] [--no-torch] [--no-check] [--python python3]
// --cpu-clock times process CPU time instead of wall time (use with OMP_NUM_THREADS=1 on a
// machine shared with other work). --ghz is the clock for the peak (cores x GHz x 16 fp32 FMA
// lanes x 2); 3.5 is what a dependent-add loop measured on the project's AMD EPYC.
// Needs the TypeScript build (dist/) and the test build of the addon (op cases are not in the
// shipped one): build/Release/testing by default; PFGM_ADDON_DIR picks another addon build.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { getDeviceInfo, native } from '../../dist/addon/load.js';

process.env.PFGM_ADDON_DIR ??= join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'build', 'Release', 'testing');

const { values } = parseArgs({
  options: {
    set: { type: 'string', default: 'small' },
    n: { type: 'string' },
    iters: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
    variant: { type: 'string', default: 'direct,winograd2,winograd4,auto' },
    ghz: { type: 'string', default: '3.5' },
    'cpu-clock': { type: 'boolean', default: false },
    'no-torch': { type: 'boolean', default: false },
    'no-check': { type: 'boolean', default: false },
    python: { type: 'string', default: process.env.PYTHON ?? 'python3' },
  },
});

// The variants: PFGM_CONV_WINOGRAD's settings (src/native/ops/conv.cc).
const SETTINGS = { direct: '0', winograd2: '2', winograd4: '4', auto: 'auto' };
const variants = values.variant.split(',');
for (const v of variants) {
  if (!(v in SETTINGS)) throw new Error(`--variant: ${v} is not one of ${Object.keys(SETTINGS).join(', ')}`);
}
// The most used 3x3 shapes of each network ([h, cin, cout]) and its benchmark batch.
const SETS = {
  small: {
    n: 64,
    shapes: [
      [28, 32, 32],
      [28, 64, 32],
      [14, 64, 64],
      [14, 128, 64],
      [7, 64, 64],
    ],
  },
  cifar10: {
    n: 8,
    shapes: [
      [32, 256, 256],
      [32, 512, 256],
      [16, 256, 256],
      [16, 512, 256],
      [8, 256, 256],
    ],
  },
};
const set = SETS[values.set];
if (!set) throw new Error(`--set: ${values.set} is not one of ${Object.keys(SETS).join(', ')}`);
const n = Number(values.n ?? set.n);
const iters = Number(values.iters);
const rounds = Number(values.rounds);
const cpu = getDeviceInfo().cpu;
const shapes = set.shapes.map(([h, cin, cout]) => ({
  name: `${h}x${h} ${cin}->${cout}`,
  h,
  cin,
  cout,
  k: 3,
  stride: 1,
  pad: 1,
}));
const peak = cpu.threads * Number(values.ghz) * 16 * 2;

const gflop = (s) => (2 * n * s.h * s.h * s.cout * s.cin * 9) / 1e9;
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const rate = (flop, ms) => Number((flop / (ms / 1e3)).toFixed(1));

async function withSetting(setting, body) {
  const before = process.env.PFGM_CONV_WINOGRAD;
  process.env.PFGM_CONV_WINOGRAD = setting;
  try {
    return await body();
  } finally {
    if (before === undefined) delete process.env.PFGM_CONV_WINOGRAD;
    else process.env.PFGM_CONV_WINOGRAD = before;
  }
}

/** Per-iteration times of one variant: forward, backward data, backward weights (+ bias). */
async function engineTimes(variant, { name: _name, ...geometry }) {
  const attrs = { ...geometry, n, w: geometry.h, iters, warmup: 2, cpu_clock: values['cpu-clock'] ? 1 : 0 };
  const out = await withSetting(SETTINGS[variant], () => native().runOp('conv2d.bench', attrs, {}));
  return {
    fwd: Array.from(out.fwd_ms.data),
    bwd_data: Array.from(out.bwd_data_ms.data),
    bwd_weights: Array.from(out.bwd_weights_ms.data),
  };
}

/** Largest error of each variant against float64, in units of 2^-24 sum |x w| (one image). */
async function check(s) {
  const tiles = { direct: 0, winograd2: 2, winograd4: 4 };
  const out = await withSetting('0', () =>
    native().runOp(
      'conv2d.winograd_error',
      { n: 1, h: s.h, w: s.h, cin: s.cin, cout: s.cout, tiles: Object.values(tiles) },
      {},
    ),
  );
  const value = (t) => Number((t.data[0] + t.data[1]).toFixed(2));
  return Object.fromEntries(
    Object.entries(tiles).map(([v, t]) => [
      v,
      Object.fromEntries(['y', 'dx', 'dw'].map((g) => [g, value(out[`${g}_ulp_${t}`])])),
    ]),
  );
}

function torchTimes() {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'torch_conv.py');
  const cfg = { threads: cpu.threads, n, iters, warmup: 2, shapes };
  const out = execFileSync(values.python, [script, JSON.stringify(cfg)], {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: String(cpu.threads) },
  });
  return JSON.parse(out);
}

// Rounds alternate the variants and PyTorch so that all meet the same background load.
const times = shapes.map(() => ({
  ...Object.fromEntries(variants.map((v) => [v, { fwd: [], bwd_data: [], bwd_weights: [] }])),
  torch: { fwd: [], fwdbwd: [] },
}));
let torchInfo = { torch_version: null };
for (let r = 0; r < rounds; r++) {
  for (const [i, s] of shapes.entries()) {
    for (const v of variants) {
      const t = await engineTimes(v, s);
      for (const key of ['fwd', 'bwd_data', 'bwd_weights']) times[i][v][key].push(...t[key]);
    }
  }
  if (values['no-torch']) continue;
  try {
    const torch = torchTimes();
    torchInfo = { torch_version: torch.torch_version, torch_threads: torch.threads };
    for (const [i, t] of torch.shapes.entries()) {
      times[i].torch.fwd.push(...t.nchw.fwd);
      times[i].torch.fwdbwd.push(...t.nchw.fwdbwd);
    }
  } catch (error) {
    torchInfo = { torch_version: null, torch_error: String(error.message).split('\n')[0] };
  }
}

const results = [];
for (const [i, s] of shapes.entries()) {
  const flop = gflop(s);
  const row = { shape: s.name, gflop_fwd: Number(flop.toFixed(3)) };
  for (const v of variants) {
    const t = times[i][v];
    const fwdbwd = t.fwd.map((f, k) => f + t.bwd_data[k] + t.bwd_weights[k]);
    row[v] = {
      fwd: rate(flop, median(t.fwd)),
      bwd_data: rate(flop, median(t.bwd_data)),
      bwd_weights: rate(flop, median(t.bwd_weights)),
      fwdbwd: rate(3 * flop, median(fwdbwd)),
      fwdbwd_best: rate(3 * flop, Math.min(...fwdbwd)),
      fwdbwd_of_peak: Number((rate(3 * flop, median(fwdbwd)) / peak).toFixed(2)),
    };
  }
  if (times[i].torch.fwd.length > 0) {
    row.torch_nchw = {
      fwd: rate(flop, median(times[i].torch.fwd)),
      fwdbwd: rate(3 * flop, median(times[i].torch.fwdbwd)),
    };
  }
  if (!values['no-check']) row.error_units = await check(s);
  results.push(row);
}
console.log(
  JSON.stringify({
    bench: `conv2d 3x3 ${values.set === 'small' ? 'ddpmpp-small' : 'ddpmpp-cifar10'}`,
    unit: 'GFLOP/s of the direct convolution (fwdbwd counts 3x the forward FLOPs)',
    clock: values['cpu-clock'] ? 'process CPU time' : 'wall',
    peak_gflops: peak,
    peak_formula: `${cpu.threads} threads x ${values.ghz} GHz x 16 fp32 FMA lanes x 2`,
    n,
    iters,
    rounds,
    threads: cpu.threads,
    isa: cpu.isa,
    onednn: cpu.onednn,
    ...torchInfo,
    shapes: results,
  }),
);
