/**
 * Sampling with the solver state in the network's device memory (docs/dev/architecture.md, "Where
 * sampling state lives"; docs/cuda.md): the prior is drawn on the device from the per-sample
 * streams, every solver runs over {@link DeviceOps}, and only the finished samples (and what a
 * callback asks for) come back. The solvers and their coefficients are the host path's
 * (solverOps.ts), so on the CPU backend the results are the same bits.
 *
 * @internal
 * @module
 */
import { PfgmError } from '../errors.js';
import { Network } from '../models/network.js';
import { nativeStreams } from '../physics/streams.js';
import { checkPositive } from '../validate.js';
import { DeviceOps } from './deviceOps.js';
import { dpmSolver2MWith } from './dpmSolver2M.js';
import { dpmSolver3MWith } from './dpmSolver3M.js';
import { eulerWith } from './euler.js';
import { type HeunNoise, type HeunOptions, heunNoise, heunWith } from './heun.js';
import { ipndmWith } from './ipndm.js';
import { rk45With } from './rk45.js';
import type { SampleOptions } from './sample.js';
import type { SolverName } from './solvers.js';
import type { Sampleable, SampleResult } from './types.js';

/**
 * Whether a run keeps its state on the device: `stateOnDevice` when given (a Network only), else a
 * network on CUDA does. Checked for {@link SampleOptions} and a Sampler's options alike.
 */
export function keepsStateOnDevice(model: Sampleable, stateOnDevice: boolean | undefined): model is Network {
  if (stateOnDevice === undefined) return model instanceof Network && model.device === 'cuda';
  if (stateOnDevice !== true && stateOnDevice !== false) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `stateOnDevice must be a boolean, got ${String(stateOnDevice)}`);
  }
  if (stateOnDevice && !(model instanceof Network)) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      'stateOnDevice needs a Network (an ideal denoiser runs on the host): leave it out',
    );
  }
  return stateOnDevice;
}

/**
 * One run of `options.count` samples of `net` with `solver` over `sigmas` (checked), the prior of
 * `D` drawn on the device. `noise` is Heun's churn and injected noise ({@link heunNoiseOf}).
 */
export async function solveOnDevice(
  net: Network,
  options: SampleOptions,
  solver: SolverName,
  sigmas: readonly number[],
  D: number,
  noise: Pick<HeunOptions, 'churn' | 'noiseInjection'>,
): Promise<SampleResult> {
  const count = options.count;
  // Checked before anything is allocated on the device, as the host path checks them.
  const heun = solver === 'heun' ? heunNoise(noise, count * net.sampleSize) : undefined;
  const tolerances =
    solver === 'rk45'
      ? { rtol: checkPositive('rtol', options.rtol ?? 1e-4), atol: checkPositive('atol', options.atol ?? 1e-4) }
      : undefined;
  const ops = new DeviceOps(
    net,
    {
      batch: count,
      ema: (options.weights ?? 'ema') === 'ema',
      labels: options.labels,
      augment: options.augment,
      guidance: options.guidance,
    },
    { callback: options.callback, signal: options.signal, allowNonFinite: options.allowNonFinite },
  );
  try {
    const streams = nativeStreams({ seed: options.seed ?? 0, sampleOffset: options.sampleOffset }, count);
    const x0 = await ops.prior(D, sigmas[0] as number, streams);
    return await solveWith(ops, x0, solver, sigmas, heun ?? {}, tolerances, options.signal);
  } finally {
    ops.dispose();
  }
}

/**
 * Integrates `x0` (an array of `ops`) with `solver` over `sigmas`: the solvers' device path, for
 * {@link solveOnDevice} and a Sampler's merged runs.
 */
export async function solveWith(
  ops: DeviceOps,
  x0: number,
  solver: SolverName,
  sigmas: readonly number[],
  heun: HeunNoise,
  tolerances: { rtol: number; atol: number } | undefined,
  signal: AbortSignal | undefined,
): Promise<SampleResult> {
  switch (solver) {
    case 'euler':
      return await eulerWith(ops, x0, sigmas);
    case 'heun':
      return await heunWith(ops, x0, sigmas, heun);
    case 'dpm2m':
      return await dpmSolver2MWith(ops, x0, sigmas);
    case 'dpm3m':
      return await dpmSolver3MWith(ops, x0, sigmas);
    case 'ipndm':
      return await ipndmWith(ops, x0, sigmas, 4, false);
    case 'rk45':
      return await rk45With(ops, x0, sigmas, { ...(tolerances ?? { rtol: 1e-4, atol: 1e-4 }), signal });
  }
}
