/**
 * `pfgm bench`: training-step and sampling throughput of a network on this machine, with the
 * PyTorch twin in the same invocation on request, as a table or JSON; `compare` divides two runs.
 *
 * @internal
 * @module
 */
import { appendFile, readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { getDeviceInfo } from '../addon/load.js';
import { type BenchResult, benchSample, benchTrain } from '../bench/measure.js';
import { runTorchTwin, type TorchFigures, type TorchRun } from '../bench/torch.js';
import { PfgmError } from '../errors.js';
import { type NetworkConfig, type PresetName, parseNetworkConfig, presetNames } from '../models/config.js';
import type { Precision } from '../models/network.js';
import { VERSION } from '../version.js';
import { commandArgs } from './args.js';

/** The help text of `pfgm bench`. */
export const BENCH_HELP = `Usage: pfgm bench train|sample [options]
       pfgm bench compare A.json B.json

Times pfgm's training step (sigma and noise draw, forward, loss, backward, Adam, EMA in one
native call) or EDM's Heun sampler on this machine and prints a table (JSON with --json). With
--torch the PyTorch twin of the same network, loss and sampler (the package's bench/torch_gpu.py)
runs in the same invocation on the same device, and the ratios are printed. docs/benchmarks.md.

Options:
  --network NAME|FILE  a preset (${presetNames.join(', ')}) or a JSON config (default ddpmpp-small)
  --device cpu|cuda    where to run (default: the backend pfgm uses, see pfgm info)
  --precision MODE     fp32, tf32 or bf16 on CUDA (default fp32)
  --batch n            images per step / per sampling run (default 64)
  --steps n            sample: Heun steps (default 18, 35 network evaluations)
  --repeats n          timed repetitions, median reported (default 10 train, 3 sample)
  --warmup n           untimed repetitions first (default 2 train, 1 sample)
  --D n|inf            augmented dimensions of the training noise (default 128)
  --torch              also run the PyTorch twin (eager); says why when python3 has no torch
  --compile            with --torch: torch.compile too
  --json               print one JSON object instead of the table
  --out FILE           append the JSON object to FILE as one line
  -h, --help           this help

compare A.json B.json  the ratio of A's images/s to B's, for results of the same kind (each file
                       may hold several lines: the last is used)
`;

const OPTIONS = {
  network: { type: 'string' },
  device: { type: 'string' },
  precision: { type: 'string' },
  batch: { type: 'string' },
  steps: { type: 'string' },
  repeats: { type: 'string' },
  warmup: { type: 'string' },
  D: { type: 'string' },
  torch: { type: 'boolean' },
  compile: { type: 'boolean' },
  json: { type: 'boolean' },
  out: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** One `pfgm bench` run, as --json prints it. */
export interface BenchReport {
  bench: 'train' | 'sample';
  pfgm: BenchResult;
  torch?: { eager?: TorchFigures; compile?: TorchFigures; version?: string; error?: string };
  /** pfgm's images/s over PyTorch eager's (and compiled's). */
  vsEager?: number;
  vsCompile?: number;
  version: string;
  date: string;
}

function integer(name: string, v: string | undefined, min = 1): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!Number.isInteger(x) || x < min)
    throw new PfgmError('ERR_PFGM_ARGUMENT', `--${name} must be an integer >= ${min}, got '${v}'`);
  return x;
}

async function networkSpec(v: string | undefined): Promise<PresetName | NetworkConfig> {
  if (v === undefined) return 'ddpmpp-small';
  if ((presetNames as readonly string[]).includes(v)) return v as PresetName;
  const text = await readFile(v, 'utf8').catch(() => {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `--network ${v}: neither a preset (${presetNames.join(', ')}) nor a readable JSON file`,
    );
  });
  return parseNetworkConfig(text, `--network ${v}`);
}

const ratio = (a: number | undefined, b: number | undefined) =>
  a !== undefined && b !== undefined && b > 0 ? Number((a / b).toFixed(3)) : undefined;

function table(r: BenchReport): string {
  const p = r.pfgm;
  const what = r.bench === 'train' ? 'ms/step' : 'ms/run';
  const lines = [
    `pfgm bench ${r.bench}: ${p.network} (${p.params.toLocaleString('en-US')} parameters), ${p.device}${p.gpu ? ` (${p.gpu})` : ''}, ${p.precision}, batch ${p.batch}`,
    `  pfgm          ${p.ms.toFixed(1).padStart(9)} ${what}  ${p.imagesPerSecond.toFixed(2).padStart(9)} img/s${p.nfePerSecond !== undefined ? `  ${p.nfePerSecond.toFixed(1)} NFE/s` : ''}  peak host ${p.peakHostMiB} MiB`,
  ];
  const key = r.bench === 'train' ? 'train_images_per_s' : 'sample_images_per_s';
  if (r.torch?.error !== undefined) lines.push(`  PyTorch       not run: ${r.torch.error}`);
  for (const [label, f, vs] of [
    ['PyTorch eager', r.torch?.eager, r.vsEager],
    ['torch.compile', r.torch?.compile, r.vsCompile],
  ] as const) {
    if (f === undefined) continue;
    if (f.error !== undefined) lines.push(`  ${label} failed: ${f.error}`);
    else lines.push(`  ${label} ${String(f[key]?.toFixed(2)).padStart(27)} img/s  pfgm / it = ${vs ?? '?'}`);
  }
  return `${lines.join('\n')}\n`;
}

async function compare(files: string[]): Promise<number> {
  if (files.length !== 2) throw new PfgmError('ERR_PFGM_ARGUMENT', 'pfgm bench compare needs two files: A.json B.json');
  const [a, b] = await Promise.all(
    files.map(async (f) => {
      const text = await readFile(f, 'utf8').catch((e: unknown) => {
        throw new PfgmError('ERR_PFGM_ARGUMENT', `${f}: cannot read it (${(e as Error).message})`);
      });
      const last = text.trim().split('\n').pop() ?? '';
      try {
        const r = JSON.parse(last) as BenchReport;
        if (r.pfgm?.imagesPerSecond === undefined) throw new Error('no pfgm.imagesPerSecond');
        return r;
      } catch (e) {
        throw new PfgmError('ERR_PFGM_ARGUMENT', `${f}: not a pfgm bench --json result (${(e as Error).message})`);
      }
    }),
  );
  if (a === undefined || b === undefined) return 1;
  if (a.bench !== b.bench)
    throw new PfgmError('ERR_PFGM_ARGUMENT', `${files[0]} is a ${a.bench} benchmark and ${files[1]} a ${b.bench} one`);
  const r = ratio(a.pfgm.imagesPerSecond, b.pfgm.imagesPerSecond);
  const describe = (x: BenchReport) => `${x.pfgm.network} ${x.pfgm.device} ${x.pfgm.precision} batch ${x.pfgm.batch}`;
  process.stdout.write(
    `${JSON.stringify({ bench: a.bench, a: describe(a), b: describe(b), aImagesPerSecond: a.pfgm.imagesPerSecond, bImagesPerSecond: b.pfgm.imagesPerSecond, ratio: r })}\n`,
  );
  return 0;
}

/** Runs `pfgm bench`; resolves to the exit code. */
export async function benchCommand(args: string[]): Promise<number> {
  const [kind, ...rest] = args;
  if (kind === 'compare') return compare(rest);
  if (kind === undefined || kind === '-h' || kind === '--help') {
    process.stdout.write(BENCH_HELP);
    return kind === undefined ? 2 : 0;
  }
  if (kind !== 'train' && kind !== 'sample')
    throw new PfgmError('ERR_PFGM_ARGUMENT', `pfgm bench ${kind}: use train, sample or compare`);
  const { values } = parseArgs({ args: commandArgs(rest, OPTIONS), options: OPTIONS });
  if (values.help) {
    process.stdout.write(BENCH_HELP);
    return 0;
  }
  if (values.device !== undefined && values.device !== 'cpu' && values.device !== 'cuda')
    throw new PfgmError('ERR_PFGM_DEVICE', `--device ${values.device}: use cpu or cuda`);
  if (values.precision !== undefined && !['fp32', 'tf32', 'bf16'].includes(values.precision))
    throw new PfgmError('ERR_PFGM_ARGUMENT', `--precision ${values.precision}: use fp32, tf32 or bf16`);
  const D =
    values.D === undefined ? 128 : /^inf(inity)?$/i.test(values.D) ? Number.POSITIVE_INFINITY : Number(values.D);
  if (!(D > 0)) throw new PfgmError('ERR_PFGM_ARGUMENT', `--D must be a positive number or inf, got '${values.D}'`);
  const network = await networkSpec(values.network);
  const options = {
    network,
    device: values.device as 'cpu' | 'cuda' | undefined,
    precision: values.precision as Precision | undefined,
    batch: integer('batch', values.batch),
    repeats: integer('repeats', values.repeats),
    warmup: integer('warmup', values.warmup, 0),
    D,
  };
  const steps = integer('steps', values.steps) ?? 18;
  const pfgm = kind === 'train' ? await benchTrain(options) : await benchSample({ ...options, steps });
  const report: BenchReport = { bench: kind, pfgm, version: VERSION, date: new Date().toISOString() };
  if (values.torch) {
    let run: TorchRun;
    if (typeof network !== 'string') run = { error: 'the PyTorch twin knows the presets only, not a JSON config' };
    else
      run = runTorchTwin({
        network,
        device: pfgm.device,
        precision: pfgm.precision,
        batch: pfgm.batch,
        repeats: options.repeats ?? (kind === 'train' ? 10 : 3),
        warmup: Math.max(1, options.warmup ?? 2),
        steps,
        D,
        compile: values.compile ?? false,
      });
    const eager = run.modes?.[pfgm.precision];
    const compiled = run.modes?.[`${pfgm.precision}-compile`];
    report.torch = { eager, compile: compiled, version: run.torch_version, error: run.error };
    const key = kind === 'train' ? 'train_images_per_s' : 'sample_images_per_s';
    report.vsEager = ratio(pfgm.imagesPerSecond, eager?.[key]);
    report.vsCompile = ratio(pfgm.imagesPerSecond, compiled?.[key]);
  }
  const json = JSON.stringify(report);
  if (values.out !== undefined) await appendFile(values.out, `${json}\n`);
  process.stdout.write(values.json ? `${json}\n` : table(report));
  if (!values.json && getDeviceInfo().backend === 'cpu' && pfgm.device === 'cpu')
    process.stderr.write(`pfgm bench: ${getDeviceInfo().cpu.threads} CPU threads (OMP_NUM_THREADS sets them)\n`);
  return 0;
}
