#!/usr/bin/env node
// Data-parallel scaling on the CPU (docs/distributed.md): the training step of 2 Gloo workers x 1
// thread against 1 worker x 1 thread at the same per-worker batch, through `pfgm train` itself.
// Perfect scaling keeps the step time; efficiency = (1-worker step time) / (2-worker step time),
// target >= 0.9. Prints one JSON object.
//   npm run bench:distributed [-- --network ddpmpp-small --batch 8 --steps 16 --workers 2]
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
