#!/usr/bin/env node
// Sample quality against NFE for every solver on one trained model (docs/quality-vs-nfe-images.md, docs/quality-vs-nfe-vectors.md): sliced
// Wasserstein-1 to real data for vectors, Fréchet distance in the project's classifier features
// for images. Prints JSON; with --docs DIR also writes DIR/quality-vs-nfe.md and a PNG plot.
//
//   node bench/quality-vs-nfe.mjs --ckpt runs/fashion-mnist/model.safetensors --data fashion-mnist:test
//   node bench/quality-vs-nfe.mjs --toy gaussians           (trains a small 2-D model first, ~15 s)
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  createNetwork,
  imageMetrics,
  linePlot,
  loadModel,
  openDataset,
  preset,
  sample,
  slicedWasserstein,
  Trainer,
  toy,
  toySampler,
} from '../dist/index.js';

const { values } = parseArgs({
  options: {
    ckpt: { type: 'string' },
    data: { type: 'string' },
    toy: { type: 'string' },
    count: { type: 'string' },
    nfe: { type: 'string' },
    docs: { type: 'string' },
    seed: { type: 'string' },
    rtols: { type: 'string' },
  },
});
const nfes = (values.nfe ?? '5,9,17,35').split(',').map(Number);
const seed = Number(values.seed ?? 0);
let net;
let real;
let image = false;
let label;
if (values.toy !== undefined) {
  const data = toy(values.toy, { count: 20000, seed: 0 });
  net = createNetwork(preset('mlp', { features: 2, hidden: 128, numBlocks: 3, embChannels: 128, noiseChannels: 32 }), {
    D: 128,
    sigmaData: 1,
    seed: 0,
  });
  const trainer = new Trainer(net, data, { batch: 256, lr: 2e-3, lrRampupKimg: 20, emaHalflifeKimg: 10, seed: 0 });
  for await (const _ of trainer.run({ steps: 1500 })) {
    // train
  }
  real = toySampler(values.toy)(Number(values.count ?? 2000), 7);
  label = `MLP on toy:${values.toy}, D = 128, 1500 steps`;
} else {
  const loaded = await loadModel(values.ckpt, { weights: 'ema' });
  net = loaded.net;
  const data = await openDataset(values.data);
  image = data.info.kind === 'image';
  const n = Math.min(Number(values.count ?? (image ? 256 : 2000)), data.info.count);
  real = (await data.read(Uint32Array.from({ length: n }, (_, i) => i))).data;
  await data.close();
  label = `${values.ckpt} against ${values.data}`;
}
const count = real.length / net.sampleSize;
const sigmaMax = image ? 80 : 20;
const metric = async (x) => (image ? (await imageMetrics(real, x)).fd : slicedWasserstein(x, real, net.sampleSize));
const stepsFor = (solver, nfe) => (solver === 'heun' ? Math.max(2, Math.round((nfe + 1) / 2)) : nfe);
const rows = [];
for (const solver of ['euler', 'heun', 'dpm2m', 'dpm3m', 'ipndm']) {
  for (const target of nfes) {
    const t0 = performance.now();
    const r = await sample(net, { count, solver, steps: stepsFor(solver, target), seed, sigmaMax });
    rows.push({ solver, nfe: r.nfe, metric: await metric(r.x), seconds: (performance.now() - t0) / 1000 });
    process.stderr.write(`${JSON.stringify(rows.at(-1))}\n`);
  }
}
// --rtols '' skips RK45 (its 80-120 NFE are costly on images).
const rtols = (values.rtols ?? '1e-2,1e-3,1e-4')
  .split(',')
  .filter((t) => t !== '')
  .map(Number);
for (const rtol of rtols) {
  // Two sigmas (sigmaMax, sigmaMin) then 0: RK45 picks its own steps in between.
  const r = await sample(net, { count, solver: 'rk45', rtol, atol: rtol, seed, sigmaMax, steps: 2 });
  rows.push({ solver: 'rk45', rtol, nfe: r.nfe, metric: await metric(r.x) });
  process.stderr.write(`${JSON.stringify(rows.at(-1))}\n`);
}
const metricName = image ? 'FD (classifier features)' : 'sliced W1';
const result = { model: label, count, metric: metricName, rows };
process.stdout.write(`${JSON.stringify(result)}\n`);
if (values.docs !== undefined) {
  const solvers = [...new Set(rows.map((r) => r.solver))];
  const lines = [`Model: ${label}; ${count} samples per run; ${metricName} (lower is better).`, ''];
  lines.push('| solver | NFE | metric |', '|---|---|---|');
  for (const r of rows)
    lines.push(`| ${r.solver}${r.rtol ? ` (rtol ${r.rtol})` : ''} | ${r.nfe} | ${r.metric.toPrecision(4)} |`);
  const stem = image ? 'quality-vs-nfe-images' : 'quality-vs-nfe-vectors';
  await writeFile(join(values.docs, `${stem}.md`), `${lines.join('\n')}\n`);
  const series = solvers.map((s) => {
    const own = rows.filter((r) => r.solver === s).sort((a, b) => a.nfe - b.nfe);
    return { name: s, x: own.map((r) => r.nfe), y: own.map((r) => r.metric) };
  });
  await writeFile(
    join(values.docs, 'img', `${stem}.png`),
    linePlot(series, { title: 'Quality against NFE', xLabel: 'NFE', yLabel: metricName, logX: true, logY: true }),
  );
}
net.dispose();
