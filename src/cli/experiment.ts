/**
 * `pfgm experiment robustness`: the PFGM++ robustness experiments (Sec. 6, docs/method.md §4) as one
 * command. Trains (or reuses) one model per D with `pfgm train`'s recipe, then sweeps noise
 * injection, NFE and weight quantization on each, and writes a table and plots.
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openDataset } from '../data/open.js';
import { PfgmError } from '../errors.js';
import { imageMetrics } from '../eval/classifier/metrics.js';
import { slicedWasserstein } from '../eval/distances.js';
import { type RobustnessRow, robustnessPlots, robustnessSweeps, robustnessTable } from '../experiments/robustness.js';
import { loadModel } from '../models/modelFile.js';
import { epochOrder } from '../train/order.js';
import { commandArgs, outputDirectory } from './args.js';
import { trainCommand } from './train.js';

/** The help text of `pfgm experiment`. */
export const EXPERIMENT_HELP = `Usage: pfgm experiment robustness --data SRC --out DIR [options]

The robustness experiments of PFGM++ (Sec. 6): one model per D, trained with the same network,
data and recipe (pfgm train), or reused from DIR/D-<D>/model.safetensors when it exists; then,
for each model, sample quality under
  (a) noise injected at every Heun step, x <- x + alpha sigma_i eps   (--alphas)
  (b) fewer Heun steps                                                (--nfe-steps, NFE = 2n - 1)
  (c) post-training weight quantization, uniform per tensor          (--bits)
Quality is the Fréchet distance in the project's classifier features for images (--classifier
for data other than Fashion-MNIST) and sliced Wasserstein-1 for vectors; lower is better.
Writes DIR/robustness.json, DIR/robustness.md and DIR/robustness-{alpha,nfe,bits}.png.

Options:
  --data SRC           the data (as pfgm train)
  --out DIR            where models and results go
  --D list             the D values (default 64,128,2048,inf)
  --kimg k | --steps n training length per model (default: pfgm train's)
  --network NAME|FILE  network preset or JSON (default: pfgm train's)
  --batch n            training batch (default: pfgm train's)
  --lr x               learning rate (default: pfgm train's)
  --count n            samples per configuration (default 256 images, 2000 vectors)
  --alphas list        noise strengths (default 0,0.1,0.2)
  --nfe-steps list     Heun steps n (default 10,14,18,24: NFE 19-47)
  --bits list          quantization bits (default 5,6,7,8,9)
  --classifier FILE    classifier weights for image quality (default: the shipped Fashion-MNIST one)
  --seed s             seed of training and sampling (default 0)
  -h, --help           this help
`;

function list(name: string, text: string | undefined, dflt: number[], integer = false): number[] {
  if (text === undefined) return dflt;
  const out = text.split(',').map((t) => (t.trim() === 'inf' ? Number.POSITIVE_INFINITY : Number(t)));
  for (const v of out) {
    if (Number.isNaN(v) || v < 0 || (integer && !Number.isInteger(v)))
      throw new PfgmError('ERR_PFGM_ARGUMENT', `--${name} must be a comma-separated list of numbers, got '${text}'`);
  }
  return out;
}

/** Runs `pfgm experiment`; resolves to the exit code. */
export async function experimentCommand(args: string[]): Promise<number> {
  const [which, ...rest] = args;
  if (which === undefined || which === '-h' || which === '--help') {
    process.stdout.write(EXPERIMENT_HELP);
    return 0;
  }
  if (which !== 'robustness')
    throw new PfgmError('ERR_PFGM_ARGUMENT', `unknown experiment '${which}': the one there is is 'robustness'`);
  const options = {
    data: { type: 'string' },
    out: { type: 'string' },
    D: { type: 'string' },
    kimg: { type: 'string' },
    steps: { type: 'string' },
    network: { type: 'string' },
    batch: { type: 'string' },
    lr: { type: 'string' },
    count: { type: 'string' },
    alphas: { type: 'string' },
    'nfe-steps': { type: 'string' },
    bits: { type: 'string' },
    classifier: { type: 'string' },
    seed: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  } as const;
  const { values } = parseArgs({ args: commandArgs(rest, options), options });
  if (values.help) {
    process.stdout.write(EXPERIMENT_HELP);
    return 0;
  }
  if (values.data === undefined)
    throw new PfgmError('ERR_PFGM_ARGUMENT', 'pfgm experiment robustness needs --data SRC');
  if (values.out === undefined) throw new PfgmError('ERR_PFGM_ARGUMENT', 'pfgm experiment robustness needs --out DIR');
  const Ds = list('D', values.D, [64, 128, 2048, Number.POSITIVE_INFINITY]);
  if (Ds.some((D) => !(D > 0))) throw new PfgmError('ERR_PFGM_ARGUMENT', '--D values must be > 0 (or inf)');
  const alphas = list('alphas', values.alphas, [0, 0.1, 0.2]);
  const steps = list('nfe-steps', values['nfe-steps'], [10, 14, 18, 24], true);
  const bits = list('bits', values.bits, [5, 6, 7, 8, 9], true);
  const seed = values.seed === undefined ? 0 : Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0) throw new PfgmError('ERR_PFGM_ARGUMENT', '--seed must be an integer >= 0');
  await outputDirectory('--out', values.out);
  const data = await openDataset(values.data);
  const image = data.info.kind === 'image';
  const count = values.count === undefined ? (image ? 256 : 2000) : Number(values.count);
  if (!Number.isInteger(count) || count < 4)
    throw new PfgmError('ERR_PFGM_ARGUMENT', '--count must be an integer >= 4');
  const size = data.info.shape.reduce((a, b) => a * b, 1);
  const real = (await data.read(epochOrder(data.info.count, seed + 7, 0).subarray(0, Math.min(count, data.info.count))))
    .data;
  await data.close();
  const metricName = image ? 'FD (classifier features)' : 'sliced W1';
  const classifier = values.classifier ?? 'fashion-mnist';
  const metric = async (fake: Float32Array) =>
    image ? (await imageMetrics(real, fake, { classifier })).fd : slicedWasserstein(fake, real, size);
  const rows: RobustnessRow[] = [];
  for (const D of Ds) {
    const dir = join(values.out, `D-${Number.isFinite(D) ? D : 'inf'}`);
    const file = join(dir, 'model.safetensors');
    if (!existsSync(file)) {
      process.stderr.write(`pfgm experiment: training D = ${D} into ${dir}\n`);
      const pass: string[] = ['--data', values.data, '--out', dir, '--D', Number.isFinite(D) ? String(D) : 'inf'];
      pass.push('--seed', String(seed), '--sample-every', '0');
      for (const k of ['kimg', 'steps', 'network', 'batch', 'lr'] as const) {
        const v = values[k];
        if (v !== undefined) pass.push(`--${k}`, v);
      }
      const code = await trainCommand(pass);
      if (code !== 0) return code;
    } else {
      process.stderr.write(`pfgm experiment: reusing ${file}\n`);
    }
    const { net } = await loadModel(file, { weights: 'ema' });
    try {
      if (net.D !== D) throw new PfgmError('ERR_PFGM_ARGUMENT', `${file} holds a model of D = ${net.D}, not ${D}`);
      await robustnessSweeps(net, {
        alphas,
        steps,
        bits,
        count,
        seed,
        sigmaMax: image ? 80 : 20,
        metric,
        onRow: (row) => {
          rows.push(row);
          process.stderr.write(`  D=${D} ${row.sweep}=${row.value} NFE ${row.nfe}: ${row.metric.toPrecision(4)}\n`);
        },
      });
    } finally {
      net.dispose();
    }
  }
  const table = robustnessTable(rows, image ? 'FD' : 'SW');
  await writeFile(
    join(values.out, 'robustness.json'),
    `${JSON.stringify({ metric: metricName, count, rows }, null, 1)}\n`,
  );
  await writeFile(join(values.out, 'robustness.md'), `Metric: ${metricName}, ${count} samples per run.\n\n${table}`);
  const plots = robustnessPlots(rows, metricName);
  for (const [sweep, png] of Object.entries(plots)) await writeFile(join(values.out, `robustness-${sweep}.png`), png);
  process.stdout.write(table);
  return 0;
}
