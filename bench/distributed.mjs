#!/usr/bin/env node
// Data-parallel scaling (docs/distributed.md). Prints one JSON object.
// CPU (default): the training step of 2 Gloo workers x 1 thread against 1 worker x 1 thread at the
// same per-worker batch, through `pfgm train` itself. Perfect scaling keeps the step time;
// efficiency = (1-worker step time) / (2-worker step time), target >= 0.9.
// GPU (--device cuda): one NCCL rank against the plain step at the same batch (the overhead of the
// path, target < 2%), and the time of the gradient all-reduce itself (PFGM_PROFILE's
// step.all_reduce), for ddpmpp-cifar10's 55.7 M gradients by default.
//   npm run bench:distributed [-- --network ddpmpp-small --batch 8 --steps 16 --workers 2]
//   npm run bench:distributed -- --device cuda [--network ddpmpp-cifar10 --batch 128 --steps 20]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    network: { type: 'string', default: 'ddpmpp-small' },
    data: { type: 'string', default: 'fashion-mnist' },
    batch: { type: 'string', default: '8' },
    steps: { type: 'string', default: '16' },
    workers: { type: 'string', default: '2' },
    device: { type: 'string', default: 'cpu' },
    precision: { type: 'string', default: 'bf16' },
  },
});
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'pfgm.js');
const perWorker = Number(values.batch);
const steps = Number(values.steps);
const workers = Number(values.workers);
const work = mkdtempSync(join(tmpdir(), 'pfgm-bench-dist-'));

/** Median milliseconds per step over the ticks after the first two (warm-up), and the loss. */
function run(n) {
  const out = join(work, `w${n}`);
  const args = [
    bin,
    'train',
    '--data',
    values.data,
    '--network',
    values.network,
    '--batch',
    String(perWorker * n),
    '--steps',
    String(steps),
    '--sample-every',
    '0',
    '--checkpoint-every',
    '0',
    '--json',
    '--out',
    out,
    ...(n > 1 ? ['--nproc-per-node', String(n)] : []),
  ];
  const r = spawnSync(process.execPath, args, {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: '1', PFGM_DEVICE: 'cpu' },
  });
  if (r.status !== 0) throw new Error(`pfgm train failed:\n${r.stderr}`);
  const ticks = readFileSync(join(out, 'stats.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  // One tick per step at this length: imagesPerSecond of a tick is the global batch / step time.
  const ms = ticks
    .slice(2)
    .map((t) => ((perWorker * n) / t.imagesPerSecond) * 1000)
    .sort((a, b) => a - b);
  return {
    workers: n,
    threads_per_worker: 1,
    global_batch: perWorker * n,
    ms_per_step: Number(ms[Math.floor(ms.length / 2)].toFixed(1)),
    images_per_s: Number(((perWorker * n * 1000) / ms[Math.floor(ms.length / 2)]).toFixed(2)),
    final_loss: ticks.at(-1).loss,
  };
}

if (values.device === 'cuda') {
  rmSync(work, { recursive: true, force: true });
  await gpu();
  process.exit(0);
}

try {
  const one = run(1);
  const many = run(workers);
  const efficiency = one.ms_per_step / many.ms_per_step;
  process.stdout.write(
    `${JSON.stringify(
      {
        bench: 'distributed',
        backend: 'gloo',
        cpu: cpus()[0]?.model,
        cores: availableParallelism(),
        network: values.network,
        data: values.data,
        per_worker_batch: perWorker,
        steps,
        one_worker: one,
        [`${workers}_workers`]: many,
        scaling_efficiency: Number(efficiency.toFixed(3)),
        target: 0.9,
        meets_target: efficiency >= 0.9,
      },
      null,
      2,
    )}\n`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}

/** One NCCL rank against no group, on the GPU, timed step by step through the API. */
async function gpu() {
  process.env.PFGM_PROFILE = '1';
  const { createNetwork, getDeviceInfo, initDistributed, preset } = await import('../dist/index.js');
  const { native } = await import('../dist/addon/load.js');
  const network = values.network === 'ddpmpp-small' && values.batch === '8' ? 'ddpmpp-cifar10' : values.network;
  const batch = values.batch === '8' ? 128 : Number(values.batch);
  const timed = Math.max(5, steps);
  const info = getDeviceInfo();
  const net = createNetwork(preset(network), { D: 128, seed: 0, device: 'cuda', precision: values.precision });
  const y = Float32Array.from({ length: batch * net.sampleSize }, (_, i) => Math.sin(i * 0.37));
  const options = { D: 128, lr: 1e-4, lrRampupKimg: 0, seed: 0 };
  const run = async () => {
    for (let i = 0; i < 3; i++) await net.trainStep(y, options);
    native().Network.profile();
    const ms = [];
    for (let i = 0; i < timed; i++) {
      const t0 = performance.now();
      await net.trainStep(y, options);
      ms.push(performance.now() - t0);
    }
    const profile = native().Network.profile();
    ms.sort((a, b) => a - b);
    return {
      ms_per_step: Number(ms[Math.floor(ms.length / 2)].toFixed(2)),
      all_reduce_ms: (profile['step.all_reduce'] ?? 0) / timed,
    };
  };
  const plain = await run();
  const group = await initDistributed({ rank: 0, worldSize: 1, backend: 'nccl', masterPort: 29555 });
  net.attachDistributed(group);
  const ranked = await run();
  net.attachDistributed(undefined);
  group.close();
  const overhead = ranked.ms_per_step / plain.ms_per_step - 1;
  process.stdout.write(
    `${JSON.stringify(
      {
        bench: 'distributed',
        backend: 'nccl',
        gpu: info.cuda.name,
        nccl: info.collectives.nccl.detail,
        network,
        params: net.paramCount,
        batch,
        precision: values.precision,
        steps: timed,
        plain_ms_per_step: plain.ms_per_step,
        one_nccl_rank_ms_per_step: ranked.ms_per_step,
        overhead: Number(overhead.toFixed(4)),
        target_overhead: 0.02,
        meets_target: overhead < 0.02,
        all_reduce_ms: Number(ranked.all_reduce_ms.toFixed(3)),
        note: 'PFGM_PROFILE synchronises the device around each stage, so these step times are profiled ones',
      },
      null,
      2,
    )}\n`,
  );
  net.dispose();
}
