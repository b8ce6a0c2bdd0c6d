/**
 * PFGM's z-ODE (docs/method.md §3) with its state in the network's device memory: the prior drawn
 * on the device, each evaluation's drift computed there from the backbone's raw output
 * (`pfgm_drift_f32`, the arithmetic of {@link zDrift}), the steps as fused combinations and RK45's
 * error norm as a device reduction; only the finished samples (and what a callback asks for) come
 * back. Called by {@link pfgmSample} for a network on CUDA (or with `stateOnDevice`).
 *
 * @internal
 * @module
 */
import type { Network } from '../models/network.js';
import { nativeClip, type RadiusClip } from '../physics/perturb.js';
import { nativeStreams, type Seed } from '../physics/streams.js';
import { DeviceOps } from './deviceOps.js';
import { dopri } from './dopri.js';
import type { PfgmSampleOptions, PfgmSampleResult } from './pfgmOde.js';

/** A z-ODE run, its options checked by {@link pfgmSample}. */
export interface PfgmDeviceRun {
  /** Samples. */
  count: number;
  /** Seed of the prior. */
  seed: Seed;
  /** First stream index. */
  sampleOffset?: number;
  /** `rk45`, `euler` or `heun`. */
  solver: 'rk45' | 'euler' | 'heun';
  /** Grid steps (euler, heun). */
  steps: number;
  /** RK45's tolerances. */
  rtol: number;
  /** RK45's tolerances. */
  atol: number;
  /** Start and end of the ODE. */
  zMax: number;
  /** End of the ODE. */
  zMin: number;
  /** The prior's radius clip. */
  radiusClip?: RadiusClip;
  /** The field normalisation's gamma. */
  gamma: number;
}

/** {@link pfgmSample} on the device. */
export async function pfgmOnDevice(
  net: Network,
  run: PfgmDeviceRun,
  options: PfgmSampleOptions,
): Promise<PfgmSampleResult> {
  const { count, zMax, zMin, gamma } = run;
  const ops = new DeviceOps(
    net,
    { batch: count, ema: (options.weights ?? 'ema') === 'ema', labels: options.labels, augment: options.augment },
    { signal: options.signal, allowNonFinite: options.allowNonFinite },
  );
  try {
    const streams = nativeStreams({ seed: run.seed, sampleOffset: run.sampleOffset }, count);
    const x0 = await ops.prior(1, zMax, { ...streams, ...nativeClip(run.radiusClip) });
    let step = 0;
    const drift = (x: number, t: number) => ops.drift(x, Math.exp(t), step, gamma);
    const t0 = Math.log(zMax);
    const t1 = Math.log(zMin);
    const callback = options.callback;
    if (run.solver === 'rk45') {
      const none = new Float64Array(0);
      const r = await dopri(
        async (x: number, _aux, t) => ({ k: await drift(x, t), kAux: none, denoised: x }),
        x0,
        none,
        t0,
        [t1],
        {
          rtol: run.rtol,
          atol: run.atol,
          signal: options.signal,
          arrays: ops,
          onStep: async (s) => {
            step = s.i + 1;
            if (callback !== undefined) callback({ i: s.i, z: Math.exp(s.t), x: await ops.host(s.x) });
          },
        },
      );
      return { x: (await ops.finish(r.x, step, zMin, 'z')).x, nfe: ops.nfe };
    }
    let x = x0;
    for (let i = 0; i < run.steps; i++) {
      options.signal?.throwIfAborted();
      step = i;
      // A geometric z grid is a uniform grid in t = ln z.
      const ta = t0 + ((t1 - t0) * i) / run.steps;
      const tb = t0 + ((t1 - t0) * (i + 1)) / run.steps;
      const h = tb - ta;
      const d1 = await drift(x, ta);
      let next = await ops.combine([
        [1, x],
        [h, d1],
      ]);
      if (run.solver === 'heun') {
        const d2 = await drift(next, tb);
        ops.drop(next);
        next = await ops.combine([
          [1, x],
          [0.5 * h, d1],
          [0.5 * h, d2],
        ]);
        ops.drop(d2);
      }
      ops.drop(x, d1);
      x = next;
      if (callback !== undefined) callback({ i, z: Math.exp(tb), x: await ops.host(x) });
    }
    return { x: (await ops.finish(x, step, zMin, 'z')).x, nfe: ops.nfe };
  } finally {
    ops.dispose();
  }
}
