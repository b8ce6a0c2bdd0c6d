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
import { classifierExtractor, imageMetrics } from '../eval/classifier/metrics.js';
import { energyDistance, slicedWasserstein } from '../eval/distances.js';
import { readFidStats, writeFidStats } from '../eval/fidStats.js';
import { type FeatureStats, frechetDistance } from '../eval/frechet.js';
import { INCEPTION_FEATURES, loadInception } from '../eval/inception.js';
import { kid } from '../eval/kid.js';
import { nll } from '../eval/nll.js';
import { datasetStats, type FeatureExtractor, inceptionExtractor, keeping, sampledStats } from '../eval/streamed.js';
import { loadModel } from '../models/modelFile.js';
import type { Network } from '../models/network.js';
import { type SolverName, solverNames } from '../sample/solvers.js';
import { defaultBatch } from '../sample/stream.js';
import { epochOrder } from '../train/order.js';
import { commandArgs, DEVICE_HELP, deviceFlag } from './args.js';
import { listSnapshots, type SweepRow, writeSweep } from './evalSweep.js';

const METRICS = ['sw', 'energy', 'fd', 'pr', 'fid', 'kid', 'nll'] as const;
/** Rows of Inception features per side that KID is computed from. */
const KID_FEATURES = 2000;
type Metric = (typeof METRICS)[number];

/** The help text of `pfgm eval`. */
export const EVAL_HELP = `Usage: pfgm eval (--ckpt FILE | --ckpt-dir RUN) (--data SRC | --ref FILE.npz) [options]
       pfgm eval ref --data SRC --out FILE.npz --inception FILE [--count n] [--batch n]

Samples a trained model and compares the samples with real data (the same sources as pfgm
train), printing one JSON object on stdout. fid and fd stream: samples and real images go
through the feature network one batch at a time into a running mean and covariance (float64),
so --count 50000 needs the memory of one batch.

pfgm eval ref writes the Inception statistics of real data (all of it, or --count images) as
EDM's and PFGM++'s fid.py ref does (an .npz of mu and sigma), for --ref.

Metrics (--metric a,b,...; default: sw,energy for vectors, fd,pr for images):
  sw        sliced Wasserstein-1 distance (vectors)
  energy    energy distance (vectors)
  fd        Fréchet distance in the feature space of the project's classifier (images; the
            shipped classifier is for Fashion-MNIST, --classifier FILE for others)
  pr        precision and recall (Kynkäänniemi et al., k = 3) in the same feature space
  fid       FID with Inception-v3: needs --inception FILE (docs/fid.md says how to convert the
            standard weights)
  kid       KID (kernel Inception distance, unbiased in the set size) from the same features:
            100 subsets of up to 1000 of the first ${KID_FEATURES} images of each side; needs --data
  nll       negative log-likelihood in bits per dimension (probability-flow ODE with a
            Hutchinson trace estimate) of --nll-count real samples

Options:
  --ckpt FILE|NAME     the model file, or fashion-mnist: the model that ships with pfgm
  --ckpt-dir RUN       every snapshot pfgm train --snapshot-every kept in RUN, in kimg order: one
                       JSON line each, then RUN/snapshot-metrics.csv and a plot per metric
                       (RUN/snapshot-<metric>.png) against kimg
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
  --ref FILE.npz       fid against these reference statistics (pfgm eval ref, or EDM's and
                       PFGM++'s own files) instead of --data's images
  --nll-count n        real samples whose likelihood is estimated (default 64)
${DEVICE_HELP}  -h, --help           this help
`;

async function realSubset(data: Dataset, count: number, seed: number): Promise<Float32Array> {
  const n = Math.min(count, data.info.count);
  const order = epochOrder(data.info.count, seed, 0).subarray(0, n);
  return (await data.read(order)).data;
}

/** A positive integer flag, or `dflt` when absent. */
function int(name: string, text: string | undefined, dflt: number): number {
  if (text === undefined) return dflt;
  const v = Number(text);
  if (!Number.isInteger(v) || v < 1)
    throw new PfgmError('ERR_PFGM_ARGUMENT', `--${name} must be a positive integer, got '${text}'`);
  return v;
}

function seedFlag(text: string | undefined): number {
  const seed = text === undefined ? 0 : Number(text);
  if (!Number.isInteger(seed) || seed < 0)
    throw new PfgmError('ERR_PFGM_ARGUMENT', `--seed must be an integer >= 0, got '${text}'`);
  return seed;
}

/** `pfgm eval ref`: the Inception statistics of real data, as fid.py ref writes them. */
async function evalRefCommand(args: string[]): Promise<number> {
  const options = {
    data: { type: 'string' },
    out: { type: 'string' },
    inception: { type: 'string' },
    count: { type: 'string' },
    batch: { type: 'string' },
    seed: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  } as const;
  const { values } = parseArgs({ args: commandArgs(args, options), options });
  if (values.help) {
    process.stdout.write(EVAL_HELP);
    return 0;
  }
  if (values.data === undefined || values.out === undefined || values.inception === undefined) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      'pfgm eval ref needs --data SRC, --out FILE.npz and --inception FILE (docs/fid.md)',
    );
  }
  const count = values.count === undefined ? undefined : int('count', values.count, 1);
  const batch = int('batch', values.batch, 100);
  const data = await openDataset(values.data);
  const inception = await loadInception(values.inception);
  try {
    if (data.info.kind !== 'image')
      throw new PfgmError('ERR_PFGM_ARGUMENT', `--data ${values.data} holds vectors; FID needs images`);
    const t0 = performance.now();
    const r = await datasetStats(data, [inceptionExtractor(inception, data.info.shape)], {
      count,
      batch,
      seed: seedFlag(values.seed),
    });
    await writeFidStats(values.out, r.stats[0] as FeatureStats);
    process.stdout.write(
      `${JSON.stringify({ out: values.out, data: values.data, count: r.count, dim: INCEPTION_FEATURES, inceptionDevice: inception.device, seconds: (performance.now() - t0) / 1000 })}\n`,
    );
    return 0;
  } finally {
    inception.dispose();
    await data.close();
  }
}

/** Runs `pfgm eval`; resolves to the exit code. */
export async function evalCommand(args: string[]): Promise<number> {
  if (args[0] === 'ref') return evalRefCommand(args.slice(1));
  const options = {
    ckpt: { type: 'string' },
    'ckpt-dir': { type: 'string' },
    data: { type: 'string' },
    ref: { type: 'string' },
    metric: { type: 'string' },
    count: { type: 'string' },
    solver: { type: 'string' },
    steps: { type: 'string' },
    batch: { type: 'string' },
    seed: { type: 'string' },
    classifier: { type: 'string' },
    inception: { type: 'string' },
    'nll-count': { type: 'string' },
    device: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  } as const;
  const { values } = parseArgs({ args: commandArgs(args, options), options });
  if (values.help) {
    process.stdout.write(EVAL_HELP);
    return 0;
  }
  if ((values.ckpt === undefined) === (values['ckpt-dir'] === undefined)) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      'pfgm eval needs --ckpt FILE (a model file) or --ckpt-dir RUN (every snapshot of a run), one of them',
    );
  }
  if (values.data === undefined && values.ref === undefined)
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      'pfgm eval needs --data SRC (real data to compare with), or --ref FILE.npz for fid',
    );
  const solver = (values.solver ?? 'heun') as SolverName;
  if (!solverNames.includes(solver))
    throw new PfgmError('ERR_PFGM_ARGUMENT', `--solver ${values.solver}: use one of ${solverNames.join(', ')}`);
  const seed = seedFlag(values.seed);
  const countFlag = values.count === undefined ? undefined : int('count', values.count, 1);
  const steps = int('steps', values.steps, 18);
  const nllCount = int('nll-count', values['nll-count'], 64);
  const device = deviceFlag(values.device);
  const data = values.data === undefined ? undefined : await openDataset(values.data);
  try {
    const image = data === undefined || data.info.kind === 'image';
    const metrics = (values.metric?.split(',').map((m) => m.trim()) ??
      (data === undefined ? ['fid'] : image ? ['fd', 'pr'] : ['sw', 'energy'])) as Metric[];
    for (const m of metrics) {
      if (!METRICS.includes(m)) throw new PfgmError('ERR_PFGM_ARGUMENT', `--metric ${m}: use ${METRICS.join(', ')}`);
      if ((m === 'sw' || m === 'energy') && image)
        throw new PfgmError('ERR_PFGM_ARGUMENT', `--metric ${m} is for vectors; images use fd, pr or fid`);
      if ((m === 'fd' || m === 'pr' || m === 'fid' || m === 'kid') && !image)
        throw new PfgmError('ERR_PFGM_ARGUMENT', `--metric ${m} is for images; vectors use sw or energy`);
      if ((m === 'fid' || m === 'kid') && values.inception === undefined)
        throw new PfgmError('ERR_PFGM_ARGUMENT', `--metric ${m} needs --inception FILE (docs/fid.md)`);
      if (m !== 'fid' && data === undefined)
        throw new PfgmError('ERR_PFGM_ARGUMENT', `--metric ${m} needs --data SRC (--ref serves fid only)`);
    }
    const count = countFlag ?? (image ? 500 : 1000);
    const dir = values['ckpt-dir'];
    const files = dir !== undefined ? await listSnapshots(dir) : [{ kimg: Number.NaN, file: values.ckpt as string }];
    const rows: SweepRow[] = [];
    for (const { kimg, file } of files) {
      const { net } = await loadModel(file, { weights: 'ema', device });
      try {
        const size = net.sampleSize;
        if (data !== undefined && data.info.shape.reduce((a, b) => a * b, 1) !== size) {
          throw new PfgmError(
            'ERR_PFGM_SHAPE',
            `the model makes samples of [${net.sampleShape}] but ${values.data} holds [${data.info.shape}]: compare with the data it was trained on`,
          );
        }
        const out: Record<string, unknown> = { ckpt: file, data: values.data, D: net.D, objective: net.objective };
        if (dir !== undefined) out.kimg = kimg;
        if (values.ref !== undefined) out.ref = values.ref;
        const result: Record<string, number> = {};
        if (metrics.some((m) => m !== 'nll')) {
          const r = await sampleMetrics(net, data, metrics, {
            count,
            batch: int('batch', values.batch, defaultBatch(net, count)),
            solver,
            steps,
            seed,
            classifier: values.classifier ?? 'fashion-mnist',
            inception: values.inception,
            ref: values.ref,
          });
          Object.assign(out, r.info);
          Object.assign(result, r.metrics);
          out.metrics = r.metrics;
        }
        if (metrics.includes('nll') && data !== undefined) {
          if (net.objective !== 'pfgmpp')
            throw new PfgmError('ERR_PFGM_ARGUMENT', '--metric nll needs a denoiser (objective pfgmpp)');
          const x = await realSubset(data, nllCount, seed + 1);
          const r = await nll(net, x, { seed, bits: image ? 8 : false });
          out.nll = { bpd: r.bpd, count: x.length / size, nfe: r.nfe };
          result.bpd = r.bpd;
        }
        process.stdout.write(`${JSON.stringify(out)}\n`);
        rows.push({ kimg, file, metrics: result });
      } finally {
        net.dispose();
      }
    }
    if (dir !== undefined) {
      const written = await writeSweep(dir, rows);
      process.stderr.write(`pfgm eval: ${rows.length} snapshots; wrote ${written.join(', ')}\n`);
    }
    return 0;
  } finally {
    await data?.close();
  }
}

interface SampleMetricsOptions {
  count: number;
  batch: number;
  solver: SolverName;
  steps: number;
  seed: number;
  classifier: string;
  inception?: string;
  ref?: string;
}

/**
 * The metrics over generated samples: fid and fd stream (one batch of images at a time through
 * Inception / the classifier into running statistics); sw, energy and pr need every sample, so
 * only they keep them.
 */
async function sampleMetrics(
  net: Network,
  data: Dataset | undefined,
  metrics: readonly Metric[],
  o: SampleMetricsOptions,
): Promise<{ info: Record<string, unknown>; metrics: Record<string, number> }> {
  const shape = net.sampleShape;
  const wantKid = metrics.includes('kid');
  const inception =
    o.inception === undefined || !(metrics.includes('fid') || wantKid) ? undefined : await loadInception(o.inception);
  try {
    const streamed: FeatureExtractor[] = [];
    const fakeKept =
      inception === undefined ? undefined : keeping(inceptionExtractor(inception, shape), wantKid ? KID_FEATURES : 0);
    const fidAt = fakeKept === undefined ? -1 : streamed.push(fakeKept) - 1;
    const fdAt = metrics.includes('fd') ? streamed.push(await classifierExtractor(o.classifier)) - 1 : -1;
    const hold = metrics.some((m) => m === 'sw' || m === 'energy' || m === 'pr');
    const fake = hold ? new Float32Array(o.count * net.sampleSize) : undefined;
    let at = 0;
    const t0 = performance.now();
    const s = await sampledStats(
      net,
      { count: o.count, batch: o.batch, solver: o.solver, steps: o.steps, seed: o.seed, weights: 'ema' },
      streamed,
      (x) => {
        fake?.set(x, at);
        at += x.length;
      },
    );
    const info = {
      count: o.count,
      batch: o.batch,
      solver: o.solver,
      steps: o.steps,
      nfe: s.nfe,
      ...(inception === undefined ? {} : { inceptionDevice: inception.device }),
      sampleSeconds: (performance.now() - t0) / 1000,
    };
    const result: Record<string, number> = {};
    // The real side: reference statistics from a file, or the same streamed features of the
    // seeded real subset.
    // The real side's Inception pass keeps its own first rows for KID.
    const realKept =
      inception === undefined ? undefined : keeping(inceptionExtractor(inception, shape), wantKid ? KID_FEATURES : 0);
    const realExtractors = streamed
      .map((e, k) => (k === fidAt ? realKept : e))
      .filter((e, k): e is FeatureExtractor => e !== undefined && !(k === fidAt && o.ref !== undefined && !wantKid));
    const real =
      data !== undefined && realExtractors.length > 0
        ? await datasetStats(data, realExtractors, { count: o.count, batch: o.batch, seed: o.seed })
        : undefined;
    const realStats = (k: number) =>
      real?.stats[realExtractors.indexOf((k === fidAt ? realKept : streamed[k]) as FeatureExtractor)] as FeatureStats;
    if (fidAt >= 0 && metrics.includes('fid')) {
      const ref = o.ref !== undefined ? await readFidStats(o.ref) : realStats(fidAt);
      result.fid = await frechetDistance(s.stats[fidAt] as FeatureStats, ref);
    }
    if (fdAt >= 0) result.fd = await frechetDistance(s.stats[fdAt] as FeatureStats, realStats(fdAt));
    if (wantKid && fakeKept !== undefined && realKept !== undefined) {
      const k = kid(fakeKept.kept(), realKept.kept(), INCEPTION_FEATURES, { seed: o.seed });
      Object.assign(result, { kid: k.kid, kidStd: k.std });
    }
    if (fake !== undefined && data !== undefined) {
      const realAll = await realSubset(data, o.count, o.seed);
      const dim = net.sampleSize;
      if (metrics.includes('sw')) result.sw = slicedWasserstein(fake, realAll, dim);
      if (metrics.includes('energy')) result.energy = energyDistance(fake, realAll, dim);
      if (metrics.includes('pr')) {
        const m = await imageMetrics(realAll, fake, { classifier: o.classifier });
        Object.assign(result, { precision: m.precision, recall: m.recall });
      }
    }
    return { info, metrics: result };
  } finally {
    inception?.dispose();
  }
}
