/**
 * `pfgm sample`: load a model file, draw samples with a chosen solver, write them as CSV, NPY, a
 * PNG grid or one PNG per seed, batch by batch ({@link sampleStream}: memory holds one batch, except
 * for a PNG grid); this file only parses and prints.
 *
 * @module
 */
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { PfgmError } from '../errors.js';
import { loadModel } from '../models/modelFile.js';
import type { Network } from '../models/network.js';
import { oneHotLabels } from '../physics/classes.js';
import { type SolverName, solverNames } from '../sample/solvers.js';
import { bytesPerSample, defaultBatch, sampleStream } from '../sample/stream.js';
import { countNonFiniteRows } from '../sample/update.js';
import { openSampleWriter } from '../viz/sampleWriter.js';
import { commandArgs, DEVICE_HELP, deviceFlag, outputDirectory } from './args.js';

/** The help text of `pfgm sample`. */
export const SAMPLE_HELP = `Usage: pfgm sample --ckpt FILE --out OUT [options]

Draws samples from a trained model (a model.safetensors written by pfgm train or saveModel) from
the prior of its D and writes them to OUT:
  FILE.csv   vectors (or flattened images), one sample per row
  FILE.npy   float32 array [count, ...sample shape]
  FILE.png   an image grid, or a scatter plot of 2-D vectors
  DIR        one PNG per image, named by seed (seed000000.png, ...), as EDM's generate.py

Options:
  --ckpt FILE|NAME     the model file (EMA weights are used), or fashion-mnist: the model that
                       ships with pfgm (docs/shipped-model.md)
  --count n            how many samples (default 64; with --seeds, the number of seeds)
  --batch n            samples integrated together (default: what a quarter of the free memory
                       holds at the model's estimated cost per sample, at most 1024; printed).
                       The samples are the same whatever the batch; .npy, .csv and folders are
                       written batch by batch
  --seed s             seed of the prior draws (default 0; sample i reads stream i)
  --seeds a-b          one seed per sample, e.g. 0-63 or 1,5,9: a sample depends only on its seed
  --solver NAME        ${solverNames.join(' | ')} (default heun; pfgm models: rk45 | euler | heun)
  --steps n            solver steps (default 18 for heun: NFE 35; 100 for PFGM's grid solvers)
  --sigma-max x        largest sigma of the prior and schedule (default 80)
  --class k|none       a class label for a conditional model (0-based; default: one random class
                       per sample, from its seed, as EDM's generate.py); none = unconditional, for
                       a model trained with label dropout
  --guidance w         classifier-free guidance weight (with --class k; default 1: none)
  --allow-non-finite   keep samples that hold NaN or Infinity and report how many (by default a
                       non-finite denoiser output or state is an error naming the step and sigma)
  --json               print the summary as JSON
${DEVICE_HELP}  -h, --help           this help
`;

/** Parses `a-b` and `a,b,c` lists of non-negative integers. */
export function parseSeeds(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+))?\s*$/.exec(part);
    if (m === null)
      throw new PfgmError('ERR_PFGM_ARGUMENT', `--seeds '${text}': use ranges and lists like 0-63 or 1,5,9`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new PfgmError('ERR_PFGM_ARGUMENT', `--seeds '${part}': the range ends before it starts`);
    if (b - a > 1_000_000) throw new PfgmError('ERR_PFGM_ARGUMENT', `--seeds '${part}': at most a million seeds`);
    for (let s = a; s <= b; s++) out.push(s);
  }
  return out;
}

function positive(name: string, text: string | undefined, integer: boolean): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (!(v > 0) || (integer && !Number.isInteger(v)))
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `--${name} must be a positive ${integer ? 'integer' : 'number'}, got '${text}'`,
    );
  return v;
}

/**
 * The labels of `--class k` (one-hot rows) or `--class none` (zero rows: the unconditional model,
 * which only label dropout teaches).
 */
function classLabels(text: string, net: Network, count: number): Float32Array | undefined {
  const dim = net.labelDim;
  if (dim === 0) {
    if (text === 'none') return undefined;
    throw new PfgmError('ERR_PFGM_ARGUMENT', '--class: this model is unconditional');
  }
  if (text === 'none') {
    if (!(net.config.labelDropout > 0)) {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        '--class none: this model was trained without label dropout (label_dropout 0), so it never learned to ' +
          'sample without a class; give --class k, leave --class out (a random class per sample), or train ' +
          'with --cond --label-dropout p',
      );
    }
    return new Float32Array(count * dim);
  }
  const k = Number(text);
  if (text.trim() === '' || !Number.isInteger(k) || k < 0 || k >= dim)
    throw new PfgmError('ERR_PFGM_ARGUMENT', `--class must be an integer in 0..${dim - 1} or none, got '${text}'`);
  return oneHotLabels(new Int32Array(count).fill(k), dim);
}

/** Runs `pfgm sample`; resolves to the exit code. */
export async function sampleCommand(args: string[]): Promise<number> {
  const options = {
    ckpt: { type: 'string' },
    out: { type: 'string' },
    count: { type: 'string' },
    batch: { type: 'string' },
    seed: { type: 'string' },
    seeds: { type: 'string' },
    solver: { type: 'string' },
    steps: { type: 'string' },
    'sigma-max': { type: 'string' },
    class: { type: 'string' },
    guidance: { type: 'string' },
    'allow-non-finite': { type: 'boolean' },
    json: { type: 'boolean' },
    device: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  } as const;
  const { values } = parseArgs({ args: commandArgs(args, options), options });
  if (values.help) {
    process.stdout.write(SAMPLE_HELP);
    return 0;
  }
  if (values.ckpt === undefined)
    throw new PfgmError('ERR_PFGM_ARGUMENT', 'pfgm sample needs --ckpt FILE (a model file)');
  if (values.out === undefined)
    throw new PfgmError('ERR_PFGM_ARGUMENT', 'pfgm sample needs --out FILE.csv|FILE.npy|FILE.png|DIR');
  if (values.seed !== undefined && values.seeds !== undefined)
    throw new PfgmError('ERR_PFGM_ARGUMENT', 'give --seed or --seeds, not both');
  const solver = (values.solver ?? 'heun') as SolverName;
  if (!solverNames.includes(solver))
    throw new PfgmError('ERR_PFGM_ARGUMENT', `--solver ${values.solver}: use one of ${solverNames.join(', ')}`);
  const seeds = values.seeds === undefined ? undefined : parseSeeds(values.seeds);
  const count = seeds?.length ?? positive('count', values.count, true) ?? 64;
  const seed = values.seed === undefined ? 0 : Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0)
    throw new PfgmError('ERR_PFGM_ARGUMENT', `--seed must be an integer >= 0, got '${values.seed}'`);
  // Every flag is checked before the model is read.
  const steps = positive('steps', values.steps, true);
  const sigmaMax = positive('sigma-max', values['sigma-max'], false);
  const classText = values.class?.trim();
  if (classText !== undefined && classText !== 'none' && !/^\d+$/.test(classText))
    throw new PfgmError('ERR_PFGM_ARGUMENT', `--class must be an integer >= 0 or none, got '${values.class}'`);
  const guidance = values.guidance === undefined ? undefined : Number(values.guidance);
  if (guidance !== undefined && (!Number.isFinite(guidance) || classText === undefined || classText === 'none'))
    throw new PfgmError('ERR_PFGM_ARGUMENT', '--guidance needs a number and --class k');
  // A file's folder is checked (and made) before the model is read and samples are drawn.
  if (/\.(?:csv|npy|png)$/i.test(values.out)) await outputDirectory('--out', dirname(values.out));
  const { net } = await loadModel(values.ckpt, { weights: 'ema', device: deviceFlag(values.device) });
  try {
    // Without --class, sample() draws one random class per sample for a conditional model.
    const labels = classText === undefined ? undefined : classLabels(classText, net, count);
    if (guidance !== undefined && net.labelDim === 0)
      throw new PfgmError('ERR_PFGM_ARGUMENT', '--guidance needs a class-conditional model');
    const batch = positive('batch', values.batch, true) ?? defaultBatch(net, count);
    const shape = net.sampleShape[1] === 1 && net.sampleShape[2] === 1 ? [net.sampleShape[0]] : [...net.sampleShape];
    const writer = await openSampleWriter(values.out, count, {
      shape,
      seeds: seeds ?? Array.from({ length: count }, (_, i) => i),
    });
    // Said once the output is open, so that a bad --out is the only line.
    if (!values.json)
      process.stderr.write(
        `pfgm sample: batch ${batch}${values.batch === undefined ? ` (chosen: about ${Math.ceil(bytesPerSample(net) / 1024)} KiB per sample, a quarter of the free memory)` : ''}\n`,
      );
    const t0 = performance.now();
    const r = { nfe: 0, nonFinite: values['allow-non-finite'] === true ? 0 : undefined };
    let files: string[];
    try {
      for await (const part of sampleStream(net, {
        count,
        batch,
        solver,
        steps,
        sigmaMax,
        seed: seeds ?? seed,
        labels,
        guidance,
        weights: 'ema',
        allowNonFinite: values['allow-non-finite'] === true,
      })) {
        r.nfe = Math.max(r.nfe, part.nfe);
        if (r.nonFinite !== undefined) r.nonFinite += countNonFiniteRows(part.x, part.indices.length);
        await writer.write(part.x, part.indices[0] as number);
      }
      files = await writer.close();
    } catch (error) {
      await writer.abort();
      throw error;
    }
    const seconds = (performance.now() - t0) / 1000;
    const summary = {
      count,
      batch,
      solver,
      nfe: r.nfe,
      seconds: Number(seconds.toFixed(3)),
      out: values.out,
      files: files.length,
      ...(r.nonFinite === undefined ? {} : { nonFinite: r.nonFinite }),
    };
    if (r.nonFinite !== undefined && r.nonFinite > 0)
      process.stderr.write(`pfgm sample: ${r.nonFinite} of ${count} samples hold NaN or Infinity (kept)\n`);
    if (values.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else
      process.stderr.write(
        `pfgm sample: ${count} samples with ${solver} (NFE ${r.nfe}) in ${seconds.toFixed(1)} s -> ${values.out}\n`,
      );
    return 0;
  } finally {
    net.dispose();
  }
}
