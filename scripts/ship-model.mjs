#!/usr/bin/env node
// Makes the model that ships with the package (assets/models/<name>.safetensors, loaded by
// `loadModel('<name>')` and `pfgm sample --ckpt <name>`): the EMA weights of a finished
// `pfgm train` run, without the raw weights, with the run's recipe (from its training state) and
// the FD measured for it (the JSON that `pfgm eval --metric fd` printed) in the metadata.
// docs/dev/release.md and docs/shipped-model.md say how the shipped model was made.
//
//   node scripts/ship-model.mjs --run RUN --eval EVAL.json [--name fashion-mnist] [--out FILE]
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { decodeSafetensors, loadModel, saveModel, shippedModelPath } from '../dist/index.js';

const { values } = parseArgs({
  options: { run: { type: 'string' }, eval: { type: 'string' }, name: { type: 'string' }, out: { type: 'string' } },
});
if (values.run === undefined || values.eval === undefined) {
  console.error('usage: node scripts/ship-model.mjs --run RUN --eval EVAL.json [--name fashion-mnist] [--out FILE]');
  process.exit(2);
}
const name = values.name ?? 'fashion-mnist';
const out = values.out ?? shippedModelPath(name);
const marker = JSON.parse(await readFile(join(values.run, 'checkpoint.json'), 'utf8'));
const state = decodeSafetensors(await readFile(join(values.run, marker.files.state.file)));
const trainer = JSON.parse(state.metadata.extra).trainer;
const evaluation = JSON.parse(await readFile(values.eval, 'utf8'));
if (evaluation.metrics?.fd === undefined) throw new Error(`${values.eval}: no metrics.fd (run pfgm eval --metric fd)`);

const { net, meta, counters } = await loadModel(values.run, { weights: 'ema' });
const { objective, dataset } = meta;
const kimg = counters.images / 1000;
const o = trainer.options;
await saveModel(
  out,
  net,
  {
    objective,
    dataset,
    shipped: {
      name,
      kimg,
      training: {
        network: 'ddpmpp-small',
        D: o.D,
        batch: o.batch,
        lr: o.lr,
        lrRampupKimg: o.lrRampupKimg,
        emaHalflifeKimg: o.emaHalflifeKimg,
        emaRampupRatio: o.emaRampupRatio,
        dropout: net.config.kind === 'songunet' ? net.config.dropout : undefined,
        seed: o.seed,
        steps: counters.steps,
      },
      evaluation: {
        fd: evaluation.metrics.fd,
        precision: evaluation.metrics.precision,
        recall: evaluation.metrics.recall,
        count: evaluation.count,
        data: evaluation.data,
        solver: evaluation.solver,
        steps: evaluation.steps,
        nfe: evaluation.nfe,
        features: 'the shipped Fashion-MNIST classifier (assets/classifiers/fashion-mnist.safetensors)',
      },
    },
  },
  { raw: false },
);
net.dispose();
console.log(JSON.stringify({ out, kimg, fd: evaluation.metrics.fd }));
