/**
 * Dormand-Prince 5(4) with adaptive steps (the method of scipy's `RK45`, which the PFGM reference
 * uses): one state vector for the whole batch, an error norm as scipy's (RMS over components of
 * err / (atol + rtol max(|y|, |y_new|))), first-same-as-last reuse of the last stage.
 *
 * @module
 */
import { PfgmError } from '../errors.js';

/** The right-hand side dy/dt at (t, y); returns a fresh array. */
export type OdeFn = (t: number, y: Float32Array) => Promise<Float32Array>;

/** Options of {@link dormandPrince}. */
export interface DormandPrinceOptions {
  /** Relative tolerance (default 1e-4). */
  rtol?: number;
  /** Absolute tolerance (default 1e-4). */
  atol?: number;
  /** First step size (default: 1% of the interval). */
  firstStep?: number;
  /** Give up after this many evaluations (default 100000). */
  maxEvals?: number;
  /** Stops between steps. */
  signal?: AbortSignal;
  /** Called after every accepted step. */
  onStep?: (t: number, y: Float32Array) => void;
}

/** An integrated ODE: the state at the end and the number of right-hand-side evaluations. */
export interface OdeResult {
  /** The state at the end of the interval. */
  y: Float32Array;
  /** Right-hand-side evaluations. */
  nfe: number;
}

// The Dormand-Prince tableau (Dormand & Prince 1980).
const C = [0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1, 1];
const A: number[][] = [
  [],
  [1 / 5],
  [3 / 40, 9 / 40],
  [44 / 45, -56 / 15, 32 / 9],
  [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
  [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
  [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
];
// Fifth-order weights are A[6]; E is the difference to the embedded fourth-order solution.
const E = [71 / 57600, 0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40];

/**
 * Integrates dy/dt = f(t, y) from t0 to t1 (either direction) with adaptive Dormand-Prince 5(4).
 */
export async function dormandPrince(
  f: OdeFn,
  t0: number,
  t1: number,
  y0: Float32Array,
  options: DormandPrinceOptions = {},
): Promise<OdeResult> {
  const rtol = options.rtol ?? 1e-4;
  const atol = options.atol ?? 1e-4;
  const maxEvals = options.maxEvals ?? 100000;
  if (!(rtol > 0) || !(atol > 0)) throw new PfgmError('ERR_PFGM_ARGUMENT', 'rtol and atol must be positive');
  const dir = Math.sign(t1 - t0);
  const n = y0.length;
  let t = t0;
  let y = Float64Array.from(y0);
  if (dir === 0) return { y: y0.slice(), nfe: 0 };
  let h = Math.abs(options.firstStep ?? 0.01 * Math.abs(t1 - t0));
  let nfe = 0;
  const evalAt = async (tt: number, yy: Float64Array): Promise<Float64Array> => {
    nfe++;
    return Float64Array.from(await f(tt, Float32Array.from(yy)));
  };
  let k0 = await evalAt(t, y);
  const ks: Float64Array[] = new Array(7);
  const tmp = new Float64Array(n);
  while (dir * (t1 - t) > 0) {
    options.signal?.throwIfAborted();
    if (nfe > maxEvals)
      throw new PfgmError('ERR_PFGM_ARGUMENT', `the ODE needed more than ${maxEvals} evaluations: loosen rtol/atol`);
    const last = h >= Math.abs(t1 - t);
    if (last) h = Math.abs(t1 - t);
    const hs = dir * h;
    ks[0] = k0;
    for (let s = 1; s < 7; s++) {
      const row = A[s] as number[];
      for (let i = 0; i < n; i++) {
        let acc = y[i] as number;
        for (let j = 0; j < s; j++) acc += hs * (row[j] as number) * ((ks[j] as Float64Array)[i] as number);
        tmp[i] = acc;
      }
      ks[s] = await evalAt(t + (C[s] as number) * hs, tmp);
    }
    // Stage 7 was evaluated at the fifth-order solution (first same as last).
    const yNew = tmp.slice();
    let errSum = 0;
    for (let i = 0; i < n; i++) {
      let e = 0;
      for (let j = 0; j < 7; j++) e += (E[j] as number) * ((ks[j] as Float64Array)[i] as number);
      e *= hs;
      const sc = atol + rtol * Math.max(Math.abs(y[i] as number), Math.abs(yNew[i] as number));
      errSum += (e / sc) ** 2;
    }
    const err = Math.sqrt(errSum / n);
    if (err <= 1 && Number.isFinite(err)) {
      t = last ? t1 : t + hs;
      y = yNew;
      k0 = ks[6] as Float64Array;
      options.onStep?.(t, Float32Array.from(y));
      const grow = err === 0 ? 10 : Math.min(10, 0.9 * err ** -0.2);
      h *= grow;
    } else {
      h *= Number.isFinite(err) ? Math.max(0.2, 0.9 * err ** -0.2) : 0.2;
      if (h < 1e-12 * Math.max(1, Math.abs(t))) {
        throw new PfgmError(
          'ERR_PFGM_ARGUMENT',
          `the ODE step size underflowed at t = ${t}: the field is not finite there`,
        );
      }
    }
  }
  return { y: Float32Array.from(y), nfe };
}
