/**
 * `pfgm train`: parse options, open the data, build or resume the network, run the
 * {@link Trainer}, and write what a user keeps: `stats.jsonl`, sample PNGs and the checkpoint.
 *
 * @internal
 * @module
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Dataset } from '../data/dataset.js';
import { openDataset } from '../data/open.js';
import { PfgmError } from '../errors.js';
import {
  type NetworkConfig,
  type PresetName,
  parseNetworkConfig,
  preset,
  presetNames,
  validateNetworkConfig,
} from '../models/config.js';
import { saveModel } from '../models/modelFile.js';
import { createNetwork, type Network, type Objective, type Precision } from '../models/network.js';
import { checkRunLength, resolveTrainOptions, TRAIN_DEFAULTS, type TrainOptions } from '../physics/trainOptions.js';
import type { DeviceOption } from '../tensor.js';
import { loadCheckpoint, saveCheckpoint } from '../train/checkpoint.js';
import { checkTrainingMemory } from '../train/memory.js';
import { resumedTrainOptions, Trainer, type TrainerState } from '../train/trainer.js';
import { commandArgs, deviceFlag, outputDirectory } from './args.js';
import { snapshotName } from './evalSweep.js';
import { launchWorkers } from './launch.js';
import { tickReporter } from './progress.js';
import { StopSignals } from './stopSignals.js';
import {
  DISTRIBUTED_HELP,
  DISTRIBUTED_OPTIONS,
  joinGroup,
  launchPlan,
  pinLocalGpu,
  watchLauncher,
  workerArgs,
} from './trainDistributed.js';
import { writeSamples } from './trainSamples.js';

export const TRAIN_HELP = `Usage: pfgm train [--data SRC] --out DIR [options]

Trains a PFGM++ model (EDM's recipe at any D) or a PFGM model (--objective pfgm, D = 1) on
images or vectors and writes, in DIR:
  model.safetensors    the weights (EMA by EDM's names, raw ones under raw.*) and the config;
                       checkpoint.json names the complete model-N / state-N pair (Adam moments,
                       counters, data position) that --resume continues from exactly
  stats.jsonl          one JSON object per tick (kimg, step, loss, lr, images/s, ...)
  samples-*.png        sample grids (images) or scatter plots (2-D vectors) as training goes

Data (--data SRC):
  fashion-mnist[:test]   Debian's dataset-fashion-mnist (the default when installed)
  toy:NAME               2-D toy sets: gaussians, moons, rings, checkerboard, spirals
                         (the default without Fashion-MNIST: toy:gaussians)
  FILE.csv | FILE.npy    vectors, one sample per row
  IDX file (.gz ok), a CIFAR-10 binary folder, a folder of PNGs or JPEGs, an EDM-style ZIP of them

Options:
  --out DIR            where results go (required)
  --D n|inf            augmented dimensions (default 128; inf = EDM diffusion)
  --objective NAME     pfgmpp (default; docs/method.md §2.2, any D) or pfgm (docs/method.md §3: D = 1, the
                       normalised-field target over a large batch, sampled with the z-ODE)
  --ref-batch n        pfgm: the large batch of the field target (default 4096)
  --stf                stable target field: the batch's posterior mean as target (docs/method.md §2.4)
  --network NAME|FILE  a preset (${presetNames.join(', ')}) or a JSON config
                       (default: ddpmpp-small fitted to the images, mlp for vectors)
  --cond               train a class-conditional network on the data's labels (EDM's --cond);
                       without it the labels are ignored and the network is unconditional
  --label-dropout p    with --cond: drop a sample's label with probability p, so the network also
                       learns the unconditional model (classifier-free guidance; default 0.1)
  --dropout p          dropout inside the network's blocks (default: the network's, 0.1 for
                       ddpmpp-small, 0 for mlp)
  --batch n            samples per step (default 64 for images, 256 for vectors)
  --micro-batch n      accumulate gradients over chunks of n (when a batch does not fit)
  --lr x               Adam learning rate (default 1e-3 vectors, 2e-4 images)
  --lr-rampup-kimg k   learning-rate ramp-up (default: a tenth of the run, at most EDM's 10000)
  --ema-halflife-kimg k  EMA half-life (default EDM's 500, with EDM's ramp-up ratio 0.05)
  --kimg k | --steps n how long to train (default --kimg 12.8, a few minutes on 2 CPU cores;
                       at most 10^12 of either)
  --seed s             seed of the data order, perturbations and dropout (default 0)
  --xflip              mirror images at random (EDM's --xflip)
  --sample-every n     write samples every n ticks (default 10; 0 = only at the end)
  --snapshot-every n   keep the model every n ticks as network-snapshot-<kimg>.safetensors (and
                       at the end; default 0 = none): pfgm eval --ckpt-dir DIR measures them all
  --checkpoint-every n save the checkpoint every n ticks (default 10; always at the end and on Ctrl-C)
  --device auto|cpu|cuda|cuda:N  where to train (default auto: the GPU when the CUDA build finds one;
                          cuda:N picks GPU N, see docs/cuda.md)
  --precision fp32|tf32|bf16  arithmetic of convolutions and matrix products on CUDA (default
                       fp32; bf16 = autocast with fp32 master weights)
  --resume DIR         continue the run saved in DIR (same data and seed) with its saved
                       hyperparameters; flags given now override them (said in one line)
  --json               print one JSON object per tick on stdout instead of the progress bar
  --quiet              no progress on stderr (on a terminal a bar, otherwise one line per tick)
  -h, --help           this help

${DISTRIBUTED_HELP}
Ctrl-C (or SIGTERM) stops after the current step and saves the checkpoint; a second one while
it is saved waits for it; a third exits at once (the previous checkpoint stays). Exit code 130
after SIGINT, 143 after SIGTERM. A batch that cannot fit in memory is refused before any data is
read, naming the largest that fits (PFGM_MEMORY_BYTES sets the memory to assume).
`;

interface Parsed {
  data?: string;
  objective: Objective;
  refBatch?: number;
  out: string;
  D: number;
  network?: string;
  batch?: number;
  microBatch?: number;
  lr?: number;
  lrRampupKimg?: number;
  emaHalflifeKimg?: number;
  kimg?: number;
  steps?: number;
  seed: number;
  xflip: boolean;
  stf: boolean;
  cond: boolean;
  labelDropout?: number;
  dropout?: number;
  sampleEvery: number;
  snapshotEvery: number;
  checkpointEvery: number;
  resume?: string;
  device?: DeviceOption;
  precision?: Precision;
  json: boolean;
  quiet: boolean;
  /** The data-parallel flags, as given. */
  distributed: { [K in keyof typeof DISTRIBUTED_OPTIONS]?: string };
  /** The training options whose flags were given (names as in {@link TrainOptions}). */
  explicit: ReadonlySet<string>;
}

function number(name: string, v: string | undefined, integer = false): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!Number.isFinite(x) || x <= 0 || (integer && !Number.isInteger(x))) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `--${name} must be a positive ${integer ? 'integer' : 'number'}, got '${v}'`,
    );
  }
  return x;
}

/** A number written as text, or undefined when the flag is absent; ranges are resolveTrainOptions'. */
function numeric(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === '' || Number.isNaN(x))
    throw new PfgmError('ERR_PFGM_ARGUMENT', `--${name} must be a number, got '${v}'`);
  return x;
}

/** A probability in [0, 1) written as text, or undefined when the flag is absent. */
function probability(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === '' || !(x >= 0 && x < 1))
    throw new PfgmError('ERR_PFGM_ARGUMENT', `--${name} must be a probability in [0, 1), got '${v}'`);
  return x;
}

/** The flag that sets a training option, for resolveTrainOptions' messages. */
function flag(option: string): string {
  const flags: Record<string, string> = {
    D: '--D',
    'pfgm.refBatch': '--ref-batch',
    checkpointTicks: '--checkpoint-every',
  };
  return flags[option] ?? `--${option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** The flags that set a training option, and the option (a resumed run keeps the others). */
const TRAINING_FLAGS: Record<string, string> = {
  D: 'D',
  'ref-batch': 'pfgm.refBatch',
  stf: 'stf',
  batch: 'batch',
  'micro-batch': 'microBatch',
  lr: 'lr',
  'lr-rampup-kimg': 'lrRampupKimg',
  'ema-halflife-kimg': 'emaHalflifeKimg',
  seed: 'seed',
  xflip: 'xflip',
  'checkpoint-every': 'checkpointTicks',
};

const OPTIONS = {
  data: { type: 'string' },
  out: { type: 'string' },
  D: { type: 'string' },
  objective: { type: 'string' },
  'ref-batch': { type: 'string' },
  stf: { type: 'boolean' },
  network: { type: 'string' },
  cond: { type: 'boolean' },
  'label-dropout': { type: 'string' },
  dropout: { type: 'string' },
  batch: { type: 'string' },
  'micro-batch': { type: 'string' },
  lr: { type: 'string' },
  'lr-rampup-kimg': { type: 'string' },
  'ema-halflife-kimg': { type: 'string' },
  kimg: { type: 'string' },
  steps: { type: 'string' },
  seed: { type: 'string' },
  xflip: { type: 'boolean' },
  'sample-every': { type: 'string' },
  'snapshot-every': { type: 'string' },
  'checkpoint-every': { type: 'string' },
  device: { type: 'string' },
  precision: { type: 'string' },
  resume: { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  ...DISTRIBUTED_OPTIONS,
} as const;

function parse(args: string[]): Parsed | undefined {
  const { values } = parseArgs({
    args: commandArgs(args, OPTIONS),
    options: OPTIONS,
  });
  if (values.help) {
    process.stdout.write(TRAIN_HELP);
    return undefined;
  }
  if (values.out === undefined)
    throw new PfgmError('ERR_PFGM_ARGUMENT', 'pfgm train needs --out DIR (where the model, stats and samples go)');
  const objective = values.objective ?? 'pfgmpp';
  if (objective !== 'pfgmpp' && objective !== 'pfgm') {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `--objective ${objective}: use pfgmpp (any D) or pfgm (D = 1)`);
  }
  if (objective === 'pfgm' && values.D !== undefined && Number(values.D) !== 1) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `--objective pfgm is PFGM's D = 1; leave --D out (got --D ${values.D})`);
  }
  if (objective === 'pfgm' && values.stf) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      '--stf is an option of --objective pfgmpp; pfgm has its own large-batch target',
    );
  }
  const device = deviceFlag(values.device);
  if (values.precision !== undefined && !['fp32', 'tf32', 'bf16'].includes(values.precision)) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `--precision ${values.precision}: use fp32, tf32 or bf16`);
  }
  if (values.kimg !== undefined && values.steps !== undefined)
    throw new PfgmError('ERR_PFGM_ARGUMENT', 'give --kimg or --steps, not both');
  const D =
    values.D === undefined
      ? TRAIN_DEFAULTS.cli.D
      : values.D === 'inf' || values.D === 'Infinity'
        ? Number.POSITIVE_INFINITY
        : number('D', values.D);
  const sampleEvery = values['sample-every'] === undefined ? 10 : Number(values['sample-every']);
  if (!Number.isInteger(sampleEvery) || sampleEvery < 0)
    throw new PfgmError('ERR_PFGM_ARGUMENT', '--sample-every must be an integer >= 0');
  const snapshotEvery = values['snapshot-every'] === undefined ? 0 : Number(values['snapshot-every']);
  if (!Number.isInteger(snapshotEvery) || snapshotEvery < 0)
    throw new PfgmError('ERR_PFGM_ARGUMENT', '--snapshot-every must be an integer >= 0');
  const checkpointEvery = values['checkpoint-every'] === undefined ? 10 : Number(values['checkpoint-every']);
  if (!Number.isInteger(checkpointEvery) || checkpointEvery < 0) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', '--checkpoint-every must be an integer >= 0');
  }
  const cond = values.cond ?? false;
  const labelDropout = probability('label-dropout', values['label-dropout']);
  const dropout = probability('dropout', values.dropout);
  if (labelDropout !== undefined && !cond)
    throw new PfgmError('ERR_PFGM_ARGUMENT', '--label-dropout is an option of --cond (a class-conditional network)');
  if (values.resume !== undefined && (cond || dropout !== undefined)) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      '--resume continues the saved network as it was built: leave out --cond, --label-dropout and --dropout',
    );
  }
  const seed = values.seed === undefined ? 0 : Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0)
    throw new PfgmError('ERR_PFGM_ARGUMENT', `--seed must be an integer >= 0, got '${values.seed}'`);
  const training = {
    objective: objective as Objective,
    D: objective === 'pfgm' ? 1 : (D as number),
    refBatch: number('ref-batch', values['ref-batch'], true),
    batch: number('batch', values.batch, true),
    microBatch: number('micro-batch', values['micro-batch'], true),
    lr: number('lr', values.lr),
    lrRampupKimg: numeric('lr-rampup-kimg', values['lr-rampup-kimg']),
    emaHalflifeKimg: number('ema-halflife-kimg', values['ema-halflife-kimg']),
  };
  // Every training option is checked here, before any file is touched, by the Trainer's rules.
  resolveTrainOptions(
    {
      ...trainOptions({ ...training, seed, xflip: values.xflip ?? false, stf: values.stf ?? false }),
      checkpointTicks: checkpointEvery,
    },
    { label: flag },
  );
  const kimg = number('kimg', values.kimg);
  const steps = number('steps', values.steps, true);
  checkRunLength({ kimg, steps }, flag);
  return {
    data: values.data,
    ...training,
    out: values.out,
    network: values.network,
    kimg,
    steps,
    seed,
    xflip: values.xflip ?? false,
    stf: values.stf ?? false,
    cond,
    labelDropout,
    dropout,
    sampleEvery,
    snapshotEvery,
    checkpointEvery,
    resume: values.resume,
    device,
    precision: values.precision as Precision | undefined,
    json: values.json ?? false,
    quiet: values.quiet ?? false,
    distributed: Object.fromEntries(Object.keys(DISTRIBUTED_OPTIONS).map((k) => [k, values[k as keyof typeof values]])),
    explicit: new Set(
      Object.entries(TRAINING_FLAGS)
        .filter(([f]) => values[f as keyof typeof values] !== undefined)
        .map(([, option]) => option),
    ),
  };
}

/** The Trainer options the flags set (undefined where `pfgm train` picks by data and run). */
function trainOptions(
  o: Pick<
    Parsed,
    | 'objective'
    | 'D'
    | 'refBatch'
    | 'batch'
    | 'microBatch'
    | 'lr'
    | 'lrRampupKimg'
    | 'emaHalflifeKimg'
    | 'seed'
    | 'xflip'
    | 'stf'
  >,
): TrainOptions {
  return {
    objective: o.objective,
    D: o.D,
    batch: o.batch,
    microBatch: o.microBatch,
    lr: o.lr,
    lrRampupKimg: o.lrRampupKimg,
    emaHalflifeKimg: o.emaHalflifeKimg,
    seed: o.seed,
    xflip: o.xflip,
    stf: o.stf,
    pfgm: o.refBatch === undefined ? undefined : { refBatch: o.refBatch },
  };
}

function defaultData(): string {
  return existsSync('/usr/share/datasets/fashion-mnist') ? 'fashion-mnist' : 'toy:gaussians';
}

/** What --cond, --label-dropout and --dropout make of the network. */
interface Conditioning {
  cond: boolean;
  labelDropout?: number;
  dropout?: number;
}

/**
 * The network to train: {@link baseNetwork}, class-conditional on the data's labels only with
 * --cond (EDM's train.py: unconditional unless --cond), with the dropout flags applied.
 */
async function networkFor(spec: string | undefined, data: Dataset, c: Conditioning): Promise<NetworkConfig> {
  const config = await baseNetwork(spec, data);
  const classes = data.info.labelDim;
  if (c.cond && classes === 0) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `--cond: the data (${data.info.name}) have no class labels to condition on; leave --cond out`,
    );
  }
  if (!c.cond && config.labelDim > 0) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `--network ${spec}: label_dim ${config.labelDim} makes a class-conditional network; add --cond to train one`,
    );
  }
  if (c.cond && config.labelDim > 0 && config.labelDim !== classes) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `--network ${spec}: label_dim ${config.labelDim}, but the data have ${classes} classes`,
    );
  }
  const fileDropout = config.labelDropout > 0 ? config.labelDropout : undefined;
  return validateNetworkConfig({
    ...config,
    labelDim: c.cond ? classes : 0,
    labelDropout: c.cond ? (c.labelDropout ?? fileDropout ?? TRAIN_DEFAULTS.cli.labelDropout) : 0,
    dropout: c.dropout ?? config.dropout,
  });
}

/** The network a preset name, a JSON file or (left out) the data's kind and shape give. */
async function baseNetwork(spec: string | undefined, data: Dataset): Promise<NetworkConfig> {
  const info = data.info;
  if (spec !== undefined && (presetNames as readonly string[]).includes(spec)) {
    return info.kind === 'vector'
      ? preset(spec as PresetName, { features: info.shape[0] })
      : preset(spec as PresetName);
  }
  if (spec !== undefined) {
    const text = await readFile(spec, 'utf8').catch(() => {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `--network ${spec}: neither a preset (${presetNames.join(', ')}) nor a readable JSON file`,
      );
    });
    return parseNetworkConfig(text, `--network ${spec}`);
  }
  if (info.kind === 'vector') return preset('mlp', { features: info.shape[0] });
  const [c, h] = info.shape as [number, number, number];
  const levels = h % 4 === 0 ? [1, 2, 2] : h % 2 === 0 ? [1, 2] : [1];
  return preset('ddpmpp-small', {
    inChannels: c,
    outChannels: c,
    imgResolution: h,
    channelMult: levels,
    attnResolutions: [h >> (levels.length - 1)],
  });
}

/** Runs `pfgm train`; resolves to the exit code. */
export async function trainCommand(args: string[]): Promise<number> {
  const o = parse(args);
  if (o === undefined) return 0;
  const plan = launchPlan(o.distributed);
  if (plan !== undefined) return launchWorkers(['train', ...workerArgs(args)], plan);
  watchLauncher();
  pinLocalGpu();
  await outputDirectory('--out', o.out);
  const source = o.data ?? defaultData();
  const data = await openDataset(source);
  let net: Network;
  let resumeState: TrainerState | undefined;
  if (o.resume !== undefined) {
    const ckpt = await loadCheckpoint(o.resume, { device: o.device, precision: o.precision });
    net = ckpt.net;
    resumeState = ckpt.extra?.trainer as TrainerState | undefined;
  } else {
    net = createNetwork(await networkFor(o.network, data, o), {
      objective: o.objective,
      D: o.D,
      seed: o.seed,
      sigmaData: TRAIN_DEFAULTS.cli.sigmaData[data.info.kind],
      device: o.device,
      precision: o.precision,
    });
  }
  // A rank of a data-parallel run (launched here or by torchrun, srun, mpirun): rank 0 alone
  // writes stats, samples and checkpoints and reports progress.
  const joined = await joinGroup(net.device, o.distributed);
  const root = joined === undefined || joined.group.isRoot;
  if (net.labelDim === 0 && data.info.labelDim > 0 && root) {
    process.stderr.write(
      `pfgm train: the data have ${data.info.labelDim} classes; training an unconditional network (--cond trains a class-conditional one)\n`,
    );
  }
  const cli = TRAIN_DEFAULTS.cli;
  const kind = data.info.kind;
  const runKimg = (batch: number) => o.kimg ?? (o.steps !== undefined ? (o.steps * batch) / 1000 : cli.kimg);
  const firstBatch = o.batch ?? cli.batch[kind];
  let options: TrainOptions = {
    ...trainOptions(o),
    objective: undefined, // the network's (a resumed run's is the checkpoint's)
    batch: firstBatch,
    D: net.D,
    lr: o.lr ?? cli.lr[kind],
    lrRampupKimg: o.lrRampupKimg ?? Math.min(cli.lrRampupKimgMax, runKimg(firstBatch) / cli.lrRampupRunDivisor),
    checkpointTicks: o.checkpointEvery,
  };
  if (resumeState?.options !== undefined) {
    // A resumed run keeps every hyperparameter of the checkpoint (the schedule of the steps
    // already planned stays the same), except the flags given now.
    const explicit: Record<string, unknown> = {};
    for (const key of o.explicit) {
      if (key === 'pfgm.refBatch') explicit.pfgm = { refBatch: o.refBatch };
      else if (key !== 'D') explicit[key] = (options as Record<string, unknown>)[key];
    }
    const resumed = resumedTrainOptions(resumeState, explicit as TrainOptions);
    options = { ...resumed.options, objective: undefined, D: net.D };
    if (resumed.overridden.length > 0) {
      const list = resumed.overridden.map((r) => `${flag(r.option)} ${String(r.given)} (was ${String(r.saved)})`);
      process.stderr.write(
        `pfgm train: resuming with the checkpoint's hyperparameters except ${list.join(', ')}, given now\n`,
      );
    }
  }
  const batch = options.batch ?? firstBatch;
  const totalKimg = runKimg(batch);
  const statsFile = join(o.out, 'stats.jsonl');
  const meta = {
    objective: net.objective === 'pfgm' ? 'pfgm' : options.stf ? 'pfgmpp+stf' : 'pfgmpp',
    dataset: data.info,
  };
  const stop = new StopSignals(o.out);
  const trainer = new Trainer(net, data, {
    ...options,
    distributed: joined?.group,
    checkpoint: async (t) => {
      await stop.saving(() => saveCheckpoint(o.out, net, meta, { trainer: t.state(), source }));
    },
  });
  if (resumeState) trainer.loadState(resumeState);
  const to = trainer.options;
  checkTrainingMemory(
    net,
    {
      batch: to.batch,
      microBatch: to.microBatch,
      readCount: (b) => (to.objective === 'pfgm' ? Math.max(b, to.pfgm.refBatch) : b),
    },
    { label: flag },
  );
  let tick = 0;
  const progress = tickReporter(totalKimg, { quiet: o.quiet || !root });
  stop.install();
  try {
    const run =
      o.steps !== undefined
        ? { steps: o.steps, signal: stop.abort.signal }
        : { kimg: totalKimg, signal: stop.abort.signal };
    for await (const t of trainer.run(run)) {
      tick++;
      if (!root) continue;
      await writeFile(statsFile, `${JSON.stringify(t)}\n`, { flag: 'a' });
      if (o.json) process.stdout.write(`${JSON.stringify(t)}\n`);
      else progress.tick(t);
      const last = t.kimg >= totalKimg - 1e-9 || (o.steps !== undefined && t.step >= o.steps);
      if (last || (o.sampleEvery > 0 && tick % o.sampleEvery === 0)) {
        await writeSamples(net, data, join(o.out, `samples-${t.kimg.toFixed(1).padStart(7, '0')}kimg.png`), 0);
      }
      if (o.snapshotEvery > 0 && (last || tick % o.snapshotEvery === 0))
        await saveModel(join(o.out, snapshotName(t.kimg)), net, meta);
    }
  } catch (error) {
    // In a group, a rank without a signal of its own stops with the ones that had one.
    const stoppedByGroup = joined !== undefined && error instanceof DOMException && error.name === 'AbortError';
    if (stop.abort.signal.aborted || stoppedByGroup) {
      if (!root) return stop.exitCode;
      process.stderr.write(
        `pfgm train: interrupted; checkpoint written to ${o.out}, continue with --resume ${o.out}\n`,
      );
      return stop.exitCode;
    }
    // The error's line goes below the progress bar, not onto it.
    progress.end();
    throw error;
  } finally {
    stop.finish();
    await data.close();
    joined?.group.close();
  }
  if (!root) return 0;
  progress.end();
  process.stderr.write(`pfgm train: done. Model: ${join(o.out, 'model.safetensors')}, stats: ${statsFile}\n`);
  net.dispose();
  return 0;
}
