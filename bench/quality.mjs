#!/usr/bin/env node
// Sample quality against PyTorch at equal recipe (docs/benchmarks.md, "Quality"): trains
// ddpmpp-small on Fashion-MNIST with `pfgm train`'s defaults (D = 128, EDM's loss and noise levels,
// Adam at 2e-4 with the default ramp-up, EMA half-life 500 kimg with ramp-up 0.05, dropout 0.1,
// batch 64) for a fixed number of steps, in pfgm and in its PyTorch twin
// (bench/torch_ref/train_quality.py) on the same images in the same order, samples both with
// EDM's Heun (18 steps), and scores both by the Fréchet distance to the test set in the shipped
// classifier's features, for each seed. Prints one JSON object (the mean and spread per side);
// writes it to --out after every seed, so a long run that is stopped keeps what it finished.
//   npm run bench:quality [-- --steps 600 --batch 64 --seeds 0,1,2 --count 1024]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { encodeNpy } from '../dist/codecs/npy.js';
import { imageMetrics, loadModel, openDataset, sample, TRAIN_DEFAULTS } from '../dist/index.js';
import { epochOrder } from '../dist/train/order.js';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '600' },
    batch: { type: 'string', default: '64' },
    seeds: { type: 'string', default: '0,1,2' },
    count: { type: 'string', default: '1024' },
    'sample-steps': { type: 'string', default: '18' },
    python: { type: 'string', default: process.env.PYTHON ?? 'python3' },
    'no-torch': { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const steps = Number(values.steps);
const batch = Number(values.batch);
const count = Number(values.count);
const sampleSteps = Number(values['sample-steps']);
const seeds = values.seeds.split(',').map(Number);
const work = mkdtempSync(join(tmpdir(), 'pfgm-bench-quality-'));
const runKimg = (steps * batch) / 1000;
const lrRampupKimg = Math.min(TRAIN_DEFAULTS.cli.lrRampupKimgMax, runKimg / TRAIN_DEFAULTS.cli.lrRampupRunDivisor);

const train = await openDataset('fashion-mnist');
const test = await openDataset('fashion-mnist:test');
const real = (await test.read(epochOrder(test.info.count, 0, 0).subarray(0, count))).data;
const fd = async (x) => (await imageMetrics(real, x)).fd;

// The twin reads the training images and each seed's order from .npy files pfgm writes.
let imagesNpy;
async function twinInputs(seed) {
  if (imagesNpy === undefined) {
    imagesNpy = join(work, 'train.npy');
    const b = await train.read(Array.from({ length: train.info.count }, (_, i) => i));
    writeFileSync(imagesNpy, encodeNpy(b.data, [train.info.count, 1, 28, 28]));
  }
  const order = new Float32Array(steps * batch);
  for (let at = 0, epoch = 0; at < order.length; epoch++) {
    const o = epochOrder(train.info.count, seed, epoch);
    for (let i = 0; i < o.length && at < order.length; i++) order[at++] = o[i];
  }
  const orderNpy = join(work, `order-${seed}.npy`);
  writeFileSync(orderNpy, encodeNpy(order, [order.length]));
  return orderNpy;
}

const pfgmRuns = [];
const torchRuns = [];
const summary = (runs) => {
  const v = runs.map((r) => r.fd).filter(Number.isFinite);
  if (v.length === 0) return null;
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const sd = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)) : null;
  return {
    mean: Number(mean.toFixed(2)),
    sd: sd === null ? null : Number(sd.toFixed(2)),
    min: Math.min(...v),
    max: Math.max(...v),
  };
};
const report = () => {
  const p = summary(pfgmRuns);
  const t = summary(torchRuns);
  return {
    bench: 'quality',
    recipe: {
      network: 'ddpmpp-small',
      data: 'fashion-mnist',
      D: 128,
      steps,
      batch,
      lr: 2e-4,
      lrRampupKimg,
      emaHalflifeKimg: 500,
      emaRampupRatio: 0.05,
      dropout: 0.1,
    },
    sampling: { solver: 'heun', steps: sampleSteps, count, against: `fashion-mnist:test, ${count} images` },
    threads: Number(process.env.OMP_NUM_THREADS ?? availableParallelism()),
    pfgm: { runs: pfgmRuns, ...p },
    torch: { runs: torchRuns, ...t },
    // pfgm is no worse than the twin beyond the seed spread when its mean FD is at most the twin's
    // mean plus the larger of the two standard deviations.
    pfgm_within_spread: p && t && p.sd !== null && t.sd !== null ? p.mean <= t.mean + Math.max(p.sd, t.sd) : null,
  };
};

try {
  for (const seed of seeds) {
    const out = join(work, `pfgm-${seed}`);
    const t0 = performance.now();
    execFileSync(
      process.execPath,
      [
        join(root, 'bin', 'pfgm.js'),
        'train',
        '--data',
        'fashion-mnist',
        '--steps',
        String(steps),
        '--batch',
        String(batch),
        '--seed',
        String(seed),
        '--out',
        out,
        '--sample-every',
        '0',
        '--checkpoint-every',
        '0',
        '--quiet',
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const trainS = (performance.now() - t0) / 1000;
    const { net } = await loadModel(join(out, 'model.safetensors'), { weights: 'ema' });
    const t1 = performance.now();
    const { x } = await sample(net, { count, steps: sampleSteps, solver: 'heun', seed: 0, batch: 128 });
    net.dispose();
    pfgmRuns.push({
      seed,
      fd: await fd(x),
      train_s: Number(trainS.toFixed(1)),
      sample_s: Number(((performance.now() - t1) / 1000).toFixed(1)),
    });
    if (!values['no-torch']) {
      const orderNpy = await twinInputs(seed);
      const samples = join(work, `torch-${seed}.npy`);
      const line = execFileSync(
        values.python,
        [
          join(root, 'bench', 'torch_ref', 'train_quality.py'),
          '--images',
          imagesNpy,
          '--order',
          orderNpy,
          '--batch',
          String(batch),
          '--steps',
          String(steps),
          '--lr-rampup-kimg',
          String(lrRampupKimg),
          '--seed',
          String(seed),
          '--count',
          String(count),
          '--sample-steps',
          String(sampleSteps),
          '--out',
          samples,
        ],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
      );
      const info = JSON.parse(line.trim().split('\n').pop());
      const ds = await openDataset(samples); // [count, 784] rows
      const tx = (await ds.read(Array.from({ length: count }, (_, k) => k))).data;
      await ds.close();
      torchRuns.push({ seed, fd: await fd(tx), train_s: info.train_s, sample_s: info.sample_s, torch: info.torch });
    }
    if (values.out) writeFileSync(values.out, `${JSON.stringify(report(), null, 2)}\n`);
    process.stderr.write(`bench:quality: seed ${seed} done\n`);
  }
  console.log(JSON.stringify(report(), null, 2));
} finally {
  await train.close();
  await test.close();
  rmSync(work, { recursive: true, force: true });
}
