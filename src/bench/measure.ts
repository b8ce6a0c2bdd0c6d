/**
 * Timing pfgm's own training step and sampler (docs/benchmarks.md): the measurements behind
 * `pfgm bench` and the repository's `bench/*.mjs` scripts, one code path for both. A step's
 * Promise settles after its work is done on the device, so the wall time around the await is the
 * step's time, on the CPU and on a GPU alike.
 *
 * @module
 */

import type { DeviceName } from '../addon/deviceInfo.js';
import { getDeviceInfo } from '../addon/load.js';
import { PfgmError } from '../errors.js';
import type { NetworkConfig, PresetName } from '../models/config.js';
import { createNetwork, type Network, type Precision } from '../models/network.js';
import { sample } from '../sample/sample.js';

/** What both benchmarks take. */
export interface BenchOptions {
  /** A preset name or a network config (default `ddpmpp-small`). */
  network?: PresetName | NetworkConfig;
  /** Where to run (default: pfgm's backend, `getDeviceInfo().backend`). */
  device?: DeviceName;
  /** Arithmetic on CUDA (default fp32). */
  precision?: Precision;
  /** Images per step or per sampling run (default 64). */
  batch?: number;
  /** Timed repetitions, the median reported (default 10 steps, 3 sampling runs). */
  repeats?: number;
  /** Untimed repetitions first (default 2 steps, 1 sampling run). */
  warmup?: number;
  /** Augmented dimensions of the training noise (default 128). */
  D?: number;
  /** Called once the warm-up is over, before the first timed repetition (e.g. to reset a profiler). */
  onWarm?: () => void;
}

/** Options of {@link benchSample}. */
export interface SampleBenchOptions extends BenchOptions {
  /** Heun steps (default 18: 35 network evaluations). */
  steps?: number;
}

/** What a benchmark measured. */
export interface BenchResult {
  /** `train` or `sample`. */
  kind: 'train' | 'sample';
  /** The network's preset name, or `custom`. */
  network: string;
  /** Its parameters. */
  params: number;
  /** Where it ran. */
  device: DeviceName;
  /** The GPU's name, when on one. */
  gpu?: string;
  /** Arithmetic. */
  precision: Precision;
  /** Images per step or per sampling run. */
  batch: number;
  /** Median milliseconds per step (train) or per sampling run (sample). */
  ms: number;
  /** Every timed repetition, in milliseconds. */
  msAll: number[];
  /** Images per second at the median. */
  imagesPerSecond: number;
  /** Network evaluations per second (sample). */
  nfePerSecond?: number;
  /** Network evaluations per sampling run (sample). */
  nfe?: number;
  /** The process's peak resident memory so far, MiB. */
  peakHostMiB: number;
  /** train: the loss of the first and the last step (a sanity check that it trained). */
  loss?: { first: number; last: number };
}

const median = (a: readonly number[]): number => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2
    ? (s[s.length >> 1] as number)
    : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

function positive(name: string, v: number | undefined, dflt: number, min = 1): number {
  const x = v ?? dflt;
  if (!Number.isInteger(x) || x < min)
    throw new PfgmError('ERR_PFGM_ARGUMENT', `${name} must be an integer >= ${min}, got ${String(v)}`);
  return x;
}

function network(o: BenchOptions): { net: Network; name: string; device: DeviceName; precision: Precision } {
  const device = o.device ?? getDeviceInfo().backend;
  const precision = o.precision ?? 'fp32';
  const spec = o.network ?? 'ddpmpp-small';
  const net = createNetwork(spec, {
    seed: 0,
    D: o.D ?? 128,
    device,
    ...(device === 'cuda' ? { precision } : {}),
  });
  if (net.device !== device) {
    net.dispose();
    throw new PfgmError('ERR_PFGM_DEVICE', `asked for a network on ${device}, got one on ${net.device}`);
  }
  return { net, name: typeof spec === 'string' ? spec : 'custom', device, precision };
}

function result(kind: BenchResult['kind'], n: ReturnType<typeof network>, batch: number, msAll: number[]): BenchResult {
  const ms = median(msAll);
  const info = getDeviceInfo();
  return {
    kind,
    network: n.name,
    params: n.net.paramCount,
    device: n.device,
    ...(n.device === 'cuda' && info.cuda.name !== undefined ? { gpu: info.cuda.name } : {}),
    precision: n.precision,
    batch,
    ms: Number(ms.toFixed(3)),
    msAll: msAll.map((v) => Number(v.toFixed(3))),
    imagesPerSecond: Number((batch / (ms / 1000)).toFixed(3)),
    peakHostMiB: Number((process.resourceUsage().maxRSS / 1024).toFixed(1)),
  };
}

/** A fixed batch of images in [-1, 1] (the timing does not depend on the values). */
function fixedBatch(count: number): Float32Array {
  const y = new Float32Array(count);
  for (let i = 0; i < count; i++) y[i] = Math.sin(i * 12.9898) * 0.9;
  return y;
}

/**
 * Times the training step: sigma and Student-t draw at D, forward, EDM's loss, backward, Adam and
 * the EMA, fused into one native call.
 *
 * @throws PfgmError `ERR_PFGM_NUMERIC` when a loss is not finite.
 */
export async function benchTrain(options: BenchOptions = {}): Promise<BenchResult> {
  const batch = positive('batch', options.batch, 64);
  const repeats = positive('repeats', options.repeats, 10);
  const warmup = positive('warmup', options.warmup, 2, 0);
  const n = network(options);
  try {
    const y = fixedBatch(batch * n.net.sampleSize);
    const ms: number[] = [];
    const losses: number[] = [];
    for (let s = 0; s < warmup + repeats; s++) {
      if (s === warmup) options.onWarm?.();
      const t0 = performance.now();
      // One seed for the run, as a Trainer has: the draws differ by step (the streams are keyed by
      // the step's index), and a GPU step replays from its CUDA graph (docs/cuda.md).
      const r = await n.net.trainStep(y, { D: options.D ?? 128, seed: 1, lr: 2e-4 });
      const dt = performance.now() - t0;
      if (!Number.isFinite(r.loss)) throw new PfgmError('ERR_PFGM_NUMERIC', `a training step's loss was ${r.loss}`);
      losses.push(r.loss);
      if (s >= warmup) ms.push(dt);
    }
    return { ...result('train', n, batch, ms), loss: { first: losses[0] as number, last: losses.at(-1) as number } };
  } finally {
    n.net.dispose();
  }
}

/** Times whole EDM Heun sampling runs of `batch` images from the prior. */
export async function benchSample(options: SampleBenchOptions = {}): Promise<BenchResult> {
  const batch = positive('batch', options.batch, 64);
  const repeats = positive('repeats', options.repeats, 3);
  const warmup = positive('warmup', options.warmup, 1, 0);
  const steps = positive('steps', options.steps, 18);
  const n = network(options);
  try {
    const ms: number[] = [];
    let nfe = 0;
    for (let i = 0; i < warmup + repeats; i++) {
      if (i === warmup) options.onWarm?.();
      const t0 = performance.now();
      const r = await sample(n.net, { count: batch, steps, solver: 'heun', seed: i });
      const dt = performance.now() - t0;
      nfe = r.nfe;
      if (i >= warmup) ms.push(dt);
    }
    const out = result('sample', n, batch, ms);
    return { ...out, nfe, nfePerSecond: Number(((nfe * 1000) / out.ms).toFixed(3)) };
  } finally {
    n.net.dispose();
  }
}
