/**
 * PFGM's backward ODE anchored on z (docs/method.md §3) for networks trained with the `pfgm` objective:
 * `dx/dz = v_x / v_z`; with `t = ln z`, `dx/dt = z v_x / v_z`, integrated from `z_max` down to
 * `z_min` (default 1e-3) from the plane-projected hemisphere prior. Solvers: adaptive RK45
 * (Dormand-Prince, rtol = atol = 1e-4 as the paper), or Euler / Heun on a geometric z grid.
 *
 * @module
 */
import { PfgmError } from '../errors.js';
import type { BatchLabels, Network, WeightSet } from '../models/network.js';
import type { RadiusClip } from '../physics/perturb.js';
import { samplePfgmPrior } from '../physics/pfgm.js';
import type { Seed } from '../physics/streams.js';
import { TRAIN_DEFAULTS } from '../physics/trainOptions.js';
import { checkInteger, checkPositive } from '../validate.js';
import { dopri } from './dopri.js';
import { pfgmOnDevice } from './pfgmResident.js';
import { checkFiniteAt } from './update.js';

/** Options of {@link pfgmSample}. */
export interface PfgmSampleOptions extends BatchLabels {
  /** How many samples. */
  count: number;
  /** Seed of the prior draw (default 0): one number (sample i reads stream i) or one per sample. */
  seed?: Seed;
  /** First stream index when `seed` is one number (default 0): sample i reads stream `sampleOffset + i`. */
  sampleOffset?: number;
  /** `rk45` (default, adaptive), `euler` or `heun` on a geometric z grid. */
  solver?: 'rk45' | 'euler' | 'heun';
  /** Steps of the grid solvers (default 100). */
  steps?: number;
  /** Start of the ODE (default: the network's {@link Network.pfgm} zMax). */
  zMax?: number;
  /** End of the ODE (default 1e-3, the paper's). */
  zMin?: number;
  /** RK45's relative tolerance (default 1e-4). */
  rtol?: number;
  /** RK45's absolute tolerance (default 1e-4). */
  atol?: number;
  /** Weights (default `ema`). */
  weights?: WeightSet;
  /**
   * Clip the prior's radius (off by default). The PFGM reference clips to
   * `{ min: 1, max: upperNorm }` (`net.pfgm.upperNorm`); `'reference'` asks for exactly that. The
   * training perturbation rarely reaches the far tail of the prior, so the clip keeps the ODE in
   * the region the network has learnt, at the cost of not sampling the exact prior.
   */
  radiusClip?: RadiusClip | 'reference';
  /** Stops between steps. */
  signal?: AbortSignal;
  /**
   * Keep going when the network's field or the state holds NaN or Infinity (default false: reject
   * with `ERR_PFGM_NUMERIC` naming the step and z; RK45 rejects regardless).
   */
  allowNonFinite?: boolean;
  /**
   * Keep the state in the network's device memory (default: true for a network on CUDA; see
   * {@link SampleOptions.stateOnDevice}). The device computes the drift's norms in another order,
   * so its samples agree with the host path's within rounding (the CPU gives the same bits for
   * euler and rk45).
   */
  stateOnDevice?: boolean;
  /** Called after every (accepted) step with the new z and x. */
  callback?: (step: { i: number; z: number; x: Float32Array }) => void;
}

/** A finished PFGM sampling run. */
export interface PfgmSampleResult {
  /** The samples, [count, ...sample shape] row-major. */
  x: Float32Array;
  /** Network evaluations (each over the whole batch). */
  nfe: number;
}

/**
 * The drift in t = ln z, `z v_x / v_z`, per sample. The empirical field (3.1) has weights that sum
 * to one over charges on the plane z = 0, so its z component is exactly `E_z = -z` and the
 * target's is `v_z = -sqrt(N) z / (||E|| + gamma)`. A network's own v_z is a small, noisy number
 * near the plane, and dividing by it makes the ODE stiff; instead ||E|| is recovered from the
 * predicted `||v_x|| = sqrt(N) ||E_x|| / (||E|| + gamma)` with `||E||^2 = ||E_x||^2 + z^2` (a
 * quadratic in ||E||) and v_z is set to its geometric value. (The PFGM reference substitutes an
 * approximation of this below z = 1, Appendix B.2.3 of the paper.) Where the prediction is not
 * a valid normalised field (||v_x|| >= sqrt(N)), the predicted v_z is used, held below zero.
 */
export function zDrift(field: Float32Array, z: number, count: number, per: number, gamma: number): Float32Array {
  const out = new Float32Array(count * per);
  const sqrtN = Math.sqrt(per);
  for (let i = 0; i < count; i++) {
    const row = i * (per + 1);
    let vx2 = 0;
    for (let k = 0; k < per; k++) vx2 += (field[row + k] as number) ** 2;
    const c = Math.sqrt(vx2) / sqrtN;
    let vz: number;
    if (c < 1 && gamma > 0) {
      const c2 = c * c;
      const a = (c2 * gamma + Math.sqrt(c2 * c2 * gamma * gamma + (1 - c2) * (c2 * gamma * gamma + z * z))) / (1 - c2);
      vz = (-sqrtN * z) / (a + gamma);
    } else {
      const floor = -1e-6 * Math.sqrt(vx2) - 1e-12;
      vz = Math.min(field[row + per] as number, floor);
    }
    const scale = z / vz;
    for (let k = 0; k < per; k++) out[i * per + k] = scale * (field[row + k] as number);
  }
  return out;
}

/**
 * Samples a network trained with the `pfgm` objective (docs/method.md §3).
 *
 * @example
 * ```ts
 * const { x, nfe } = await pfgmSample(net, { count: 64, seed: 0 }); // RK45, about 100 NFE
 * ```
 */
export async function pfgmSample(net: Network, options: PfgmSampleOptions): Promise<PfgmSampleResult> {
  if (net.objective !== 'pfgm') {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      "pfgmSample needs a network trained with the 'pfgm' objective; sample a denoiser with sample()",
    );
  }
  const zMax = checkPositive('zMax', options.zMax ?? net.pfgm?.zMax ?? Number.NaN);
  const zMin = checkPositive('zMin', options.zMin ?? 1e-3);
  if (zMin >= zMax) throw new PfgmError('ERR_PFGM_ARGUMENT', `zMin (${zMin}) must be below zMax (${zMax})`);
  const count = checkInteger('count', options.count, 1);
  const solver = options.solver ?? 'rk45';
  if (solver !== 'rk45' && solver !== 'euler' && solver !== 'heun') {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `solver must be 'rk45', 'euler' or 'heun', got '${String(solver)}'`);
  }
  const per = net.sampleSize;
  const shape = net.sampleShape[1] === 1 && net.sampleShape[2] === 1 ? [per] : [...net.sampleShape];
  let radiusClip: RadiusClip | undefined;
  if (options.radiusClip === 'reference') {
    if (net.pfgm === undefined)
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        "radiusClip 'reference' needs the network's pfgm hyperparameters (upperNorm)",
      );
    // The reference's [1, upper_norm], kept valid for data whose upper_norm is below 1.
    radiusClip = { min: Math.min(1, net.pfgm.upperNorm), max: net.pfgm.upperNorm };
  } else radiusClip = options.radiusClip;
  const gamma = net.pfgm?.gamma ?? TRAIN_DEFAULTS.trainer.pfgm.gamma;
  if (options.stateOnDevice !== undefined && typeof options.stateOnDevice !== 'boolean') {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `stateOnDevice must be a boolean, got ${String(options.stateOnDevice)}`);
  }
  if (options.stateOnDevice ?? net.device === 'cuda') {
    const run = {
      count,
      seed: options.seed ?? 0,
      sampleOffset: options.sampleOffset,
      solver,
      steps: solver === 'rk45' ? 0 : checkInteger('steps', options.steps ?? 100, 1),
      rtol: checkPositive('rtol', options.rtol ?? 1e-4),
      atol: checkPositive('atol', options.atol ?? 1e-4),
      zMax,
      zMin,
      radiusClip,
      gamma,
    };
    return pfgmOnDevice(net, run, options);
  }
  const prior = await samplePfgmPrior({
    shape,
    count,
    zMax,
    seed: options.seed ?? 0,
    sampleOffset: options.sampleOffset,
    device: 'cpu',
    radiusClip,
  });
  const x0 = (await prior.data()) as Float32Array;
  prior.dispose();
  const weights = options.weights ?? 'ema';
  let nfe = 0;
  let step = 0;
  const check = (x: Float32Array, what: string, z: number) => {
    if (options.allowNonFinite !== true) checkFiniteAt(x, what, step, z, 'z');
  };
  const drift = async (t: number, x: Float32Array): Promise<Float32Array> => {
    const z = Math.exp(t);
    nfe++;
    check(x, 'the solver state', z);
    const v = await net.field(x, z, { labels: options.labels, augment: options.augment, weights });
    check(v, "the network's field", z);
    return zDrift(v, z, count, per, gamma);
  };
  const t0 = Math.log(zMax);
  const t1 = Math.log(zMin);
  if (solver === 'rk45') {
    const none = new Float64Array(0);
    const r = await dopri(
      async (x, _aux, t) => {
        const k = await drift(t, x);
        return { k, kAux: none, denoised: x };
      },
      x0,
      none,
      t0,
      [t1],
      {
        rtol: checkPositive('rtol', options.rtol ?? 1e-4),
        atol: checkPositive('atol', options.atol ?? 1e-4),
        signal: options.signal,
        onStep: (s) => {
          step = s.i + 1;
          options.callback?.({ i: s.i, z: Math.exp(s.t), x: s.x });
        },
      },
    );
    check(r.x, 'the solver state', zMin);
    return { x: r.x, nfe };
  }
  const steps = checkInteger('steps', options.steps ?? 100, 1);
  let x = x0;
  for (let i = 0; i < steps; i++) {
    options.signal?.throwIfAborted();
    step = i;
    // A geometric z grid is a uniform grid in t = ln z.
    const ta = t0 + ((t1 - t0) * i) / steps;
    const tb = t0 + ((t1 - t0) * (i + 1)) / steps;
    const h = tb - ta;
    const d1 = await drift(ta, x);
    const next = new Float32Array(x.length);
    for (let k = 0; k < x.length; k++) next[k] = (x[k] as number) + h * (d1[k] as number);
    if (solver === 'heun') {
      const d2 = await drift(tb, next);
      for (let k = 0; k < x.length; k++) next[k] = (x[k] as number) + 0.5 * h * ((d1[k] as number) + (d2[k] as number));
    }
    x = next;
    options.callback?.({ i, z: Math.exp(tb), x });
  }
  check(x, 'the solver state', zMin);
  return { x, nfe };
}
