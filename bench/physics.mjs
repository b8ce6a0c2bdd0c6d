#!/usr/bin/env node
// Times the PFGM++ perturbation (docs/method.md (2.2)) of a CIFAR-10-sized batch with pfgm's native kernel
// and with PyTorch on the same machine, same thread count, in one run. Prints one JSON object.
//   npm run bench:physics [-- --count 128 --n 3072 --D 128 --reps 20 --device cpu|cuda]
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { getDeviceInfo, perturb, tensor } from '../dist/index.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '128' },
    n: { type: 'string', default: '3072' },
    D: { type: 'string', default: '128' },
    reps: { type: 'string', default: '20' },
    device: { type: 'string', default: 'cpu' },
    python: { type: 'string', default: process.env.PYTHON ?? 'python3' },
  },
});
const count = Number(values.count);
const n = Number(values.n);
const D = values.D === 'inf' ? Number.POSITIVE_INFINITY : Number(values.D);
const reps = Number(values.reps);
const threads = Number(process.env.OMP_NUM_THREADS ?? availableParallelism());

const y = tensor(new Float32Array(count * n), [count, n], { device: values.device });
const times = [];
for (let r = 0; r < reps + 2; r++) {
  const t0 = process.hrtime.bigint();
  const x = await perturb(y, { sigma: 0.5, D, seed: r });
  if (values.device === 'cuda') await x.data(); // include the copy back only where it is needed to sync
  times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  x.dispose();
}
const sorted = times.slice(2).sort((a, b) => a - b);
const result = {
  bench: 'perturb',
  count,
  n,
  D: values.D,
  threads,
  device: values.device,
  backend: getDeviceInfo().backend,
  pfgm_ms_median: sorted[sorted.length >> 1],
  pfgm_ms_min: sorted[0],
};

let torch = { torch_ms_median: null, torch_error: null };
if (values.device === 'cpu' && D !== Number.POSITIVE_INFINITY) {
  try {
    const script = join(dirname(fileURLToPath(import.meta.url)), 'torch_physics.py');
    const out = execFileSync(values.python, [script, JSON.stringify({ count, n, D, reps, threads })], {
      encoding: 'utf8',
      env: { ...process.env, OMP_NUM_THREADS: String(threads) },
    });
    torch = JSON.parse(out);
  } catch (error) {
    torch = { torch_ms_median: null, torch_error: String(error.message).split('\n')[0] };
  }
}
const ratio = torch.torch_ms_median ? result.pfgm_ms_median / torch.torch_ms_median : null;
console.log(JSON.stringify({ ...result, ...torch, ratio }));
