#!/usr/bin/env node
// Times the 3x3 convolutions of `ddpmpp-small` at batch 64, forward and forward + backward (input,
// weight and bias gradients), with pfgm's CPU engine and with PyTorch eager on the same machine and
// thread count. The engine side runs in native code (op case "conv2d.bench") so neither JS nor
// copies are timed. Prints one JSON object with GFLOP/s per shape, from the median iteration and
// from the best one (the best is what a machine shared with other work can be trusted for).
//   node bench/kernels/conv.mjs [--n 64 --iters 10 --rounds 2 --python python3]
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
    n: { type: 'string', default: '64' },
    iters: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
    python: { type: 'string', default: process.env.PYTHON ?? 'python3' },
  },
});
const n = Number(values.n);
const iters = Number(values.iters);
const rounds = Number(values.rounds);
const cpu = getDeviceInfo().cpu;

// ddpmpp-small's 3x3 convolutions: its resolutions 28/14/7 with 32 and 64 channels.
const shapes = [
  { name: '28x28 32->32', h: 28, cin: 32, cout: 32, k: 3, stride: 1, pad: 1 },
  { name: '14x14 32->64', h: 14, cin: 32, cout: 64, k: 3, stride: 1, pad: 1 },
  { name: '14x14 64->64', h: 14, cin: 64, cout: 64, k: 3, stride: 1, pad: 1 },
  { name: '7x7 64->64', h: 7, cin: 64, cout: 64, k: 3, stride: 1, pad: 1 },
];

const gflop = (s) => {
  const oh = Math.floor((s.h + 2 * s.pad - s.k) / s.stride) + 1;
  return (2 * n * oh * oh * s.cout * s.cin * s.k * s.k) / 1e9;
};
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const rate = (flop, ms) => Number((flop / (ms / 1e3)).toFixed(1));

/** Per-iteration times of the engine: forward, and forward + both backward primitives. */
async function engineTimes({ name: _name, ...geometry }) {
  const attrs = { ...geometry, n, w: geometry.h, iters, warmup: 2 };
  const out = await native().runOp('conv2d.bench', attrs, {});
  const fwd = Array.from(out.fwd_ms.data);
  const fwdbwd = fwd.map((t, i) => t + out.bwd_data_ms.data[i] + out.bwd_weights_ms.data[i]);
  return { fwd, fwdbwd };
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

// Rounds alternate engine and PyTorch so that both meet the same background load.
const times = shapes.map(() => ({
  pfgm: { fwd: [], fwdbwd: [] },
  nchw: { fwd: [], fwdbwd: [] },
  cl: { fwd: [], fwdbwd: [] },
}));
let torchInfo = { torch_version: null };
for (let r = 0; r < rounds; r++) {
  for (const [i, s] of shapes.entries()) {
    const t = await engineTimes(s);
    times[i].pfgm.fwd.push(...t.fwd);
    times[i].pfgm.fwdbwd.push(...t.fwdbwd);
  }
  try {
    const torch = torchTimes();
    torchInfo = { torch_version: torch.torch_version, torch_threads: torch.threads };
    for (const [i, t] of torch.shapes.entries()) {
      for (const key of ['fwd', 'fwdbwd']) {
        times[i].nchw[key].push(...t.nchw[key]);
        times[i].cl[key].push(...t.channels_last[key]);
      }
    }
  } catch (error) {
    torchInfo = { torch_version: null, torch_error: String(error.message).split('\n')[0] };
  }
}

const summary = (flop, t) =>
  t.fwd.length === 0
    ? null
    : {
        fwd: rate(flop, median(t.fwd)),
        fwdbwd: rate(3 * flop, median(t.fwdbwd)),
        fwd_best: rate(flop, Math.min(...t.fwd)),
        fwdbwd_best: rate(3 * flop, Math.min(...t.fwdbwd)),
      };
const results = shapes.map((s, i) => {
  const flop = gflop(s);
  const pfgm = summary(flop, times[i].pfgm);
  const torch = summary(flop, times[i].nchw);
  return {
    shape: s.name,
    gflop_fwd: Number(flop.toFixed(3)),
    pfgm,
    torch_nchw: torch,
    torch_channels_last: summary(flop, times[i].cl),
    fwdbwd_speedup_vs_torch: torch && Number((pfgm.fwdbwd / torch.fwdbwd).toFixed(2)),
  };
});
console.log(
  JSON.stringify({
    bench: 'conv2d 3x3 ddpmpp-small',
    unit: 'GFLOP/s (fwdbwd counts 3x the forward FLOPs)',
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
