#!/usr/bin/env node
// FID Inception-v3 features per image: pfgm's native network (src/eval/inception.ts) against the
// same network in PyTorch (bench/torch_inception.py, as pytorch-fid runs it), one invocation, on
// the same device (pfgm's choice, as `pfgm eval` makes it, or --device), the same thread count, the
// two alternating `--rounds` times so that a busy machine slows both alike. On CUDA both run fp32
// (TF32 off: docs/cuda.md, "FID's Inception"). Weights are arbitrary (speed does not depend on
// them), or a converted file with --weights. Prints one JSON object; `device` says where pfgm ran,
// `pfgm_images_per_s` is the median rate.
//   npm run bench:inception [-- --device auto|cpu|cuda --batch 8 --size 32 --channels 3 --iters 3
//                              --rounds 2 --no-torch --channels-last]
// (--batch defaults to 8 on the CPU, 64 on CUDA; --channels-last also times PyTorch with
// channels_last tensors, which pytorch-fid does not use.)
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { native } from '../dist/addon/load.js';
import { createInception, getDeviceInfo, inceptionTensors, loadInception } from '../dist/index.js';

const { values } = parseArgs({
  options: {
    device: { type: 'string', default: 'auto' },
    batch: { type: 'string' },
    size: { type: 'string', default: '32' },
    channels: { type: 'string', default: '3' },
    iters: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '2' },
    weights: { type: 'string' },
    'no-torch': { type: 'boolean', default: false },
    'channels-last': { type: 'boolean', default: false },
    python: { type: 'string', default: process.env.PYTHON ?? 'python3' },
  },
});
const threads = Number(process.env.OMP_NUM_THREADS ?? availableParallelism());
const [size, channels, iters, rounds] = ['size', 'channels', 'iters', 'rounds'].map((k) => Number(values[k]));
const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s[s.length >> 1];
};
const round = (v) => (v === null || v === undefined ? null : Math.round(v * 10) / 10);

// Weights in the ranges of real ones (batch-norm variances positive), from a fixed sequence.
function arbitraryWeights() {
  const w = new Map();
  let state = 1;
  for (const t of inceptionTensors()) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const fanIn = t.shape.length === 4 ? t.shape[1] * t.shape[2] * t.shape[3] : 1;
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      const u = state / 2 ** 32;
      if (t.name.endsWith('conv.weight')) a[i] = (2 * u - 1) * Math.sqrt(6 / fanIn);
      else if (t.name.endsWith('bn.weight') || t.name.endsWith('running_var')) a[i] = 0.8 + 0.4 * u;
      else a[i] = 0.1 * (2 * u - 1);
    }
    w.set(t.name, a);
  }
  return w;
}

const loadOptions = { device: values.device };
const net = values.weights
  ? await loadInception(values.weights, loadOptions)
  : await createInception(arbitraryWeights(), loadOptions);
const batch = Number(values.batch ?? (net.device === 'cuda' ? 64 : 8));
const images = new Float32Array(batch * channels * size * size);
for (let i = 0; i < images.length; i++) images[i] = Math.sin(i * 12.9898) * 0.9;
const shape = { count: batch, channels, height: size, width: size, batchSize: batch };
await net.features(images, shape); // warm-up: kernels chosen, weights reordered

const pfgmMs = [];
const torchRuns = [];
const profile = {};
for (let r = 0; r < rounds; r++) {
  native().Network.profile(); // reset the stage timings (PFGM_PROFILE=1)
  for (let i = 0; i < iters; i++) {
    const t0 = process.hrtime.bigint();
    await net.features(images, shape);
    pfgmMs.push(Number(process.hrtime.bigint() - t0) / 1e6 / batch);
  }
  for (const [k, v] of Object.entries(native().Network.profile())) profile[k] = (profile[k] ?? 0) + v;
  if (values['no-torch']) continue;
  const script = join(dirname(fileURLToPath(import.meta.url)), 'torch_inception.py');
  try {
    const args = [script, '--batch', String(batch), '--threads', String(threads), '--size', String(size)];
    args.push('--device', net.device);
    args.push('--channels', String(channels), '--iters', String(iters), '--warmup', '1');
    if (values['channels-last']) args.push('--channels-last');
    const out = execFileSync(values.python, args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, OMP_NUM_THREADS: String(threads) },
    });
    torchRuns.push(JSON.parse(out.trim().split('\n').pop()));
  } catch (e) {
    torchRuns.push({
      error: `PyTorch run failed (${String(e.message).split('\n')[0]}); install torch for the comparison`,
    });
  }
}
net.dispose();
const torchMs = torchRuns.flatMap((t) => t.torch_ms_per_image_all ?? []);
const result = {
  bench: 'inception',
  device: net.device,
  gpu: net.device === 'cuda' ? (getDeviceInfo().cuda.name ?? null) : null,
  batch,
  input: [channels, size, size],
  threads,
  isa: getDeviceInfo().cpu.isa,
  pfgm_ms_per_image: round(median(pfgmMs)),
  pfgm_ms_per_image_best: round(Math.min(...pfgmMs)),
  pfgm_ms_per_image_all: pfgmMs.map(round),
  pfgm_images_per_s: round(1000 / median(pfgmMs)),
  torch_ms_per_image: torchMs.length ? round(median(torchMs)) : null,
  torch_ms_per_image_best: torchMs.length ? round(Math.min(...torchMs)) : null,
  torch_images_per_s: torchMs.length ? round(1000 / median(torchMs)) : null,
  torch_channels_last_ms_per_image: round(
    median(torchRuns.map((t) => t.torch_channels_last_ms_per_image ?? null).filter((v) => v !== null)),
  ),
  ratio: torchMs.length ? Math.round((median(pfgmMs) / median(torchMs)) * 1000) / 1000 : null,
  pfgm_peak_rss_mb: round(process.resourceUsage().maxRSS / 1024),
  torch_peak_rss_mb: round(torchRuns[0]?.torch_peak_rss_mb),
  torch_version: torchRuns[0]?.torch_version ?? null,
  torch_error: torchRuns.find((t) => t.error)?.error ?? null,
};
if (Object.keys(profile).length > 0) {
  result.pfgm_profile_ms_per_image = Object.fromEntries(
    Object.entries(profile).map(([k, v]) => [k, round(v / (rounds * iters * batch))]),
  );
}
console.log(JSON.stringify(result));
