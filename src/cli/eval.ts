/**
 * `pfgm eval`: sample a model and measure its samples against real data, printing JSON. Vectors:
 * sliced Wasserstein and energy distance. Images: Fréchet distance, precision and recall in the
 * feature space of the project's classifier, and FID with user-supplied Inception weights.
 * Likelihood (bits per dimension) through the probability-flow ODE on request.
 *
 * @module
 */
import { parseArgs } from 'node:util';
import type { Dataset } from '../data/dataset.js';
import { openDataset } from '../data/open.js';
import { PfgmError } from '../errors.js';
import { imageMetrics } from '../eval/classifier/metrics.js';
import { energyDistance, slicedWasserstein } from '../eval/distances.js';
import { fid } from '../eval/fid.js';
import { loadInception } from '../eval/inception.js';
import { nll } from '../eval/nll.js';
import { loadModel } from '../models/modelFile.js';
import { sample } from '../sample/sample.js';
import { type SolverName, solverNames } from '../sample/solvers.js';
import { defaultBatch } from '../sample/stream.js';
import { epochOrder } from '../train/order.js';
import { commandArgs } from './args.js';

const METRICS = ['sw', 'energy', 'fd', 'pr', 'fid', 'nll'] as const;
type Metric = (typeof METRICS)[number];

/** The help text of `pfgm eval`. */
export const EVAL_HELP = `Usage: pfgm eval --ckpt FILE --data SRC [options]

Samples a trained model and compares the samples with real data (the same sources as pfgm
train), printing one JSON object on stdout.

Metrics (--metric a,b,...; default: sw,energy for vectors, fd,pr for images):
  sw        sliced Wasserstein-1 distance (vectors)
  energy    energy distance (vectors)
  fd        Fréchet distance in the feature space of the project's classifier (images; the
            shipped classifier is for Fashion-MNIST, --classifier FILE for others)
  pr        precision and recall (Kynkäänniemi et al., k = 3) in the same feature space
  fid       FID with Inception-v3: needs --inception FILE (docs/fid.md says how to convert the
            standard weights)
  nll       negative log-likelihood in bits per dimension (probability-flow ODE with a
            Hutchinson trace estimate) of --nll-count real samples

Options:
  --ckpt FILE          the model file
  --data SRC           real data, e.g. fashion-mnist:test, toy:moons, my.csv
  --count n            samples and real samples compared (default 1000 vectors, 500 images)
  --solver NAME        ${solverNames.join(' | ')} (default heun)
  --steps n            solver steps (default 18)
  --batch n            samples integrated together (default: chosen from the model's size and
                       the free memory, as pfgm sample; printed as "batch"); the samples do not
                       depend on it
  --seed s             seed of the samples and of the real subset (default 0)
  --classifier FILE    classifier weights for fd/pr (default: the shipped Fashion-MNIST one)
  --inception FILE     Inception-v3 weights (safetensors) for fid
  --nll-count n        real samples whose likelihood is estimated (default 64)
  -h, --help           this help
`;

async function realSubset(data: Dataset, count: number, seed: number): Promise<Float32Array> {
  const n = Math.min(count, data.info.count);
  const order = epochOrder(data.info.count, seed, 0).subarray(0, n);
  return (await data.read(order)).data;
}

/** Runs `pfgm eval`; resolves to the exit code. */
export async function evalCommand(args: string[]): Promise<number> {
  const options = {
    ckpt: { type: 'string' },
    data: { type: 'string' },
    metric: { type: 'string' },
    count: { type: 'string' },
    solver: { type: 'string' },
    steps: { type: 'string' },
    batch: { type: 'string' },
    seed: { type: 'string' },
    classifier: { type: 'string' },
    inception: { type: 'string' },
    'nll-count': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  } as const;
  const { values } = parseArgs({ args: commandArgs(args, options), options });
  if (values.help) {
    process.stdout.write(EVAL_HELP);
    return 0;
  }
  if (values.ckpt === undefined) throw new PfgmError('ERR_PFGM_ARGUMENT', 'pfgm eval needs --ckpt FILE (a model file)');
  if (values.data === undefined)
    throw new PfgmError('ERR_PFGM_ARGUMENT', 'pfgm eval needs --data SRC (real data to compare with)');
  const int = (name: string, text: string | undefined, dflt: number) => {
    if (text === undefined) return dflt;
    const v = Number(text);
    if (!Number.isInteger(v) || v < 1)
      throw new PfgmError('ERR_PFGM_ARGUMENT', `--${name} must be a positive integer, got '${text}'`);
    return v;
  };
  const solver = (values.solver ?? 'heun') as SolverName;
  if (!solverNames.includes(solver))
    throw new PfgmError('ERR_PFGM_ARGUMENT', `--solver ${values.solver}: use one of ${solverNames.join(', ')}`);
  const seed = values.seed === undefined ? 0 : Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0)
    throw new PfgmError('ERR_PFGM_ARGUMENT', `--seed must be an integer >= 0, got '${values.seed}'`);
  const countFlag = values.count === undefined ? undefined : int('count', values.count, 1);
  const steps = int('steps', values.steps, 18);
  const nllCount = int('nll-count', values['nll-count'], 64);
  const data = await openDataset(values.data);
  const { net } = await loadModel(values.ckpt, { weights: 'ema' });
  try {
    const image = data.info.kind === 'image';
    const size = data.info.shape.reduce((a, b) => a * b, 1);
    if (size !== net.sampleSize) {
      throw new PfgmError(
        'ERR_PFGM_SHAPE',
        `the model makes samples of [${net.sampleShape}] but ${values.data} holds [${data.info.shape}]: compare with the data it was trained on`,
      );
    }
    const metrics = (values.metric?.split(',').map((m) => m.trim()) ??
      (image ? ['fd', 'pr'] : ['sw', 'energy'])) as Metric[];
    for (const m of metrics) {
      if (!METRICS.includes(m)) throw new PfgmError('ERR_PFGM_ARGUMENT', `--metric ${m}: use ${METRICS.join(', ')}`);
      if ((m === 'sw' || m === 'energy') && image)
        throw new PfgmError('ERR_PFGM_ARGUMENT', `--metric ${m} is for vectors; images use fd, pr or fid`);
      if ((m === 'fd' || m === 'pr' || m === 'fid') && !image)
        throw new PfgmError('ERR_PFGM_ARGUMENT', `--metric ${m} is for images; vectors use sw or energy`);
      if (m === 'fid' && values.inception === undefined)
        throw new PfgmError('ERR_PFGM_ARGUMENT', '--metric fid needs --inception FILE (docs/fid.md)');
    }
    const count = countFlag ?? (image ? 500 : 1000);
    const out: Record<string, unknown> = { ckpt: values.ckpt, data: values.data, D: net.D, objective: net.objective };
    const needSamples = metrics.some((m) => m !== 'nll');
    const real = needSamples ? await realSubset(data, count, seed) : new Float32Array(0);
    if (needSamples) {
      const t0 = performance.now();
      const batch = int('batch', values.batch, defaultBatch(net, count));
      const r = await sample(net, { count, batch, solver, steps, seed, weights: 'ema' });
      Object.assign(out, { count, batch, solver, steps, nfe: r.nfe, sampleSeconds: (performance.now() - t0) / 1000 });
      const dim = size;
      const fake = r.x;
      const result: Record<string, number> = {};
      if (metrics.includes('sw')) result.sw = slicedWasserstein(fake, real, dim);
      if (metrics.includes('energy')) result.energy = energyDistance(fake, real, dim);
      if (metrics.includes('fd') || metrics.includes('pr')) {
        const m = await imageMetrics(real, fake, { classifier: values.classifier ?? 'fashion-mnist' });
        if (metrics.includes('fd')) result.fd = m.fd;
        if (metrics.includes('pr')) Object.assign(result, { precision: m.precision, recall: m.recall });
      }
      if (metrics.includes('fid')) {
        const inception = await loadInception(values.inception as string);
        try {
          const shape = data.info.shape as [number, number, number];
          result.fid = await fid(inception, { real, fake, shape });
        } finally {
          inception.dispose();
        }
      }
      out.metrics = result;
    }
    if (metrics.includes('nll')) {
      if (net.objective !== 'pfgmpp')
        throw new PfgmError('ERR_PFGM_ARGUMENT', '--metric nll needs a denoiser (objective pfgmpp)');
      const x = await realSubset(data, nllCount, seed + 1);
      const r = await nll(net, x, { seed, bits: image ? 8 : false });
      out.nll = { bpd: r.bpd, count: x.length / size, nfe: r.nfe };
    }
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return 0;
  } finally {
    net.dispose();
    await data.close();
  }
}
