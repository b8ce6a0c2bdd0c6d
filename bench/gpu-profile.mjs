#!/usr/bin/env node
// Where a training step and a sampling network evaluation spend their GPU time, op by op, in
// pfgm's CUDA engine: PFGM_PROFILE=1 makes the CUDA backend drain the stream around every op and
// add up its wall time under the op's name (convolutions and matrix products with their shapes;
// cuda/backend.cu, OpTimer). The drains make the profiled step slower than a real one, so the
// unprofiled step time is measured first, in a child process, and reported beside the shares.
// Prints one JSON object. For comparison, bench/torch_gpu_profile.py profiles the same step in
// PyTorch.
//   node bench/gpu-profile.mjs --network ddpmpp-cifar10 --precision bf16 [--batch 128] [--steps 5]
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    network: { type: 'string', default: 'ddpmpp-cifar10' },
    precision: { type: 'string', default: 'fp32' },
    batch: { type: 'string', default: '128' },
    steps: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '3' },
    D: { type: 'string', default: '128' },
    top: { type: 'string', default: '25' },
    'no-plain': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(
    'node bench/gpu-profile.mjs [--network ddpmpp-cifar10] [--precision fp32|tf32|bf16] [--batch 128]\n' +
      '  [--steps 5] [--warmup 3] [--D 128] [--top 25] [--no-plain]\n' +
      'Per-op GPU time of a training step and of one network evaluation (PFGM_PROFILE=1), as JSON.',
  );
  process.exit(0);
}
const plainRun = process.env.PFGM_GPU_PROFILE_PLAIN === '1';
// The unprofiled run first, in a child, before this process holds any GPU memory (its caching
// pool keeps what it freed, which would leave the child short).
let plain = null;
if (!plainRun && !values['no-plain']) {
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    env: { ...process.env, PFGM_PROFILE: '0', PFGM_GPU_PROFILE_PLAIN: '1' },
    encoding: 'utf8',
  });
  plain = JSON.parse(out.trim().split('\n').pop());
}
if (!plainRun) process.env.PFGM_PROFILE = '1'; // before the addon loads: the engine reads it once
const { native } = await import('../dist/addon/load.js');
const { createNetwork } = await import('../dist/index.js');

const batch = Number(values.batch);
const steps = Number(values.steps);
const warmup = Number(values.warmup);
const D = values.D === 'inf' ? Number.POSITIVE_INFINITY : Number(values.D);
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const round = (v) => Math.round(v * 1000) / 1000;

const net = createNetwork(values.network, { device: 'cuda', precision: values.precision, seed: 0, D });
if (net.device !== 'cuda') throw new Error(`the network is on ${net.device}, not cuda`);
const y = new Float32Array(batch * net.sampleSize);
for (let i = 0; i < y.length; i++) y[i] = Math.sin(i * 12.9898) * 0.9;
const sigma = new Float32Array(batch).fill(2.5);

async function time(n, fn) {
  const ms = [];
  for (let s = 0; s < warmup + n; s++) {
    if (s === warmup) native().Network.profile(); // drop the warm-up's totals
    const t0 = process.hrtime.bigint();
    await fn(s);
    if (s >= warmup) ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return ms;
}

// Totals per op name (per step) and per op family (the name up to its first space).
function shares(n) {
  const totals = Object.entries(native().Network.profile()).map(([k, v]) => [k, v / n]);
  totals.sort((a, b) => b[1] - a[1]);
  // The backend's op timers are named gpu:<op> [shape]; the engine's own stage scopes (step.*,
  // layer names) nest around them and are reported apart.
  const families = {};
  const stages = {};
  for (const [k, v] of totals) {
    if (k.startsWith('gpu:')) {
      const f = k.slice(4).split(' ')[0];
      families[f] = (families[f] ?? 0) + v;
    } else {
      stages[k] = round(v);
    }
  }
  const opsMs = Object.values(families).reduce((a, b) => a + b, 0);
  return {
    ops_ms: round(opsMs),
    families: Object.fromEntries(
      Object.entries(families)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => [k, round(v)]),
    ),
    stages,
    top: Object.fromEntries(
      totals
        .filter(([k]) => k.startsWith('gpu:'))
        .slice(0, Number(values.top))
        .map(([k, v]) => [k.slice(4), round(v)]),
    ),
  };
}

const trainMs = await time(steps, (s) => net.trainStep(y, { D, seed: 1 + s, lr: 2e-4 }));
const train = { step_ms: round(median(trainMs)), ...(plainRun ? {} : shares(steps)) };
const evalMs = await time(steps, () => net.denoise(y, sigma, { weights: 'ema' }));
const evaluate = { call_ms: round(median(evalMs)), ...(plainRun ? {} : shares(steps)) };
net.dispose();

if (plainRun) {
  console.log(JSON.stringify({ train_ms: train.step_ms, eval_ms: evaluate.call_ms }));
} else {
  console.log(
    JSON.stringify({
      bench: 'gpu-profile',
      network: values.network,
      precision: values.precision,
      batch,
      D: values.D,
      env: Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('PFGM_CUDNN'))),
      unprofiled: plain,
      train,
      evaluate,
    }),
  );
}
