#!/usr/bin/env node
// Makes the model that ships with the package (assets/models/<name>.safetensors, loaded by
// `loadModel('<name>')` and `pfgm sample --ckpt <name>`): the EMA weights of a finished
// `pfgm train` run, without the raw weights, with the run's recipe (from its training state) and
// the FD measured for it (the JSON that `pfgm eval --metric fd` printed) in the metadata. The
// weights are stored as IEEE half floats by default (--dtype f16; loadModel widens them to f32):
// half the size, so the file stays small in git and in the package, at a relative rounding of
// 2^-11 per weight. The conversion is deterministic, so the FD to record is the shipped file's
// own: ship once, evaluate the file, ship again with that evaluation.
// docs/dev/release.md and docs/shipped-model.md say how the shipped model was made.
//
//   node scripts/ship-model.mjs --run RUN --eval EVAL.json [--name fashion-mnist] [--out FILE] [--dtype f16|f32]
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { decodeSafetensors, encodeSafetensors, loadModel, saveModel, shippedModelPath } from '../dist/index.js';

const { values } = parseArgs({
  options: {
    run: { type: 'string' },
    eval: { type: 'string' },
    name: { type: 'string' },
    out: { type: 'string' },
    dtype: { type: 'string', default: 'f16' },
  },
});
if (values.dtype !== 'f16' && values.dtype !== 'f32') {
  console.error(`--dtype must be f16 or f32, got ${values.dtype}`);
  process.exit(2);
}
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
if (values.dtype === 'f16') {
  const file = decodeSafetensors(await readFile(out));
  const tensors = [...file.tensors].map(([name, t]) =>
    t.dtype === 'F32' ? [name, { dtype: 'F16', shape: t.shape, data: toHalf(t.data) }] : [name, t],
  );
  await writeFile(out, encodeSafetensors(tensors, file.metadata));
}
console.log(JSON.stringify({ out, kimg, dtype: values.dtype, fd: evaluation.metrics.fd }));

/** IEEE 754 binary16 bit patterns of float32 values, rounded to nearest, ties to even. */
function toHalf(values) {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    f[0] = values[i];
    const x = u[0];
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    const mant = x & 0x7fffff;
    let h;
    if (exp === 0xff) {
      h = sign | 0x7c00 | (mant ? 0x200 : 0); // Inf or NaN
    } else if (exp > 142) {
      h = sign | 0x7c00; // beyond 65504 after rounding: Inf
    } else if (exp >= 113) {
      // normal half: 10 mantissa bits, round on the 13 dropped ones
      const m = mant >>> 13;
      const rest = mant & 0x1fff;
      h = sign | ((exp - 112) << 10) | m;
      if (rest > 0x1000 || (rest === 0x1000 && (m & 1) === 1)) h += 1; // may carry into the exponent
    } else if (exp >= 102) {
      // subnormal half
      const full = mant | 0x800000;
      const shift = 126 - exp;
      const m = full >>> shift;
      const rest = full & ((1 << shift) - 1);
      const halfway = 1 << (shift - 1);
      h = sign | m;
      if (rest > halfway || (rest === halfway && (m & 1) === 1)) h += 1;
    } else {
      h = sign; // below half the smallest subnormal: zero
    }
    out[i] = h;
  }
  return out;
}
