/**
 * Adaptive Dormand-Prince 5(4) (Dormand & Prince 1980; step control as in Hairer, Norsett & Wanner,
 * "Solving ODEs I", II.4) over a Float32Array state plus an optional Float64Array of auxiliary
 * values (the likelihood's log-density change). Used by {@link rk45} and by {@link nll}.
 *
 * Every stage of the state is one fused native combination (update.ts); the auxiliary values are
 * few (one per sample) and stay in JS doubles.
 *
 * @internal
 * @module
 */
import { PfgmError } from '../errors.js';
import type { TermsOf } from './solverOps.js';
import { combine, scaledNorm } from './update.js';

/** The right-hand side at (x, t): the slope of x, the slope of the auxiliary values, and D(x, t). */
export interface DopriEval<A = Float32Array> {
  /** dx/dt. */
  k: A;
  /** d aux/dt (empty when there are no auxiliary values). */
  kAux: Float64Array;
  /** The denoised batch behind the slope, for callbacks and the final step. */
  denoised: A;
}

/** What one accepted step reports. */
export interface DopriStep<A = Float32Array> {
  /** Accepted steps before this one. */
  i: number;
  /** Where the step starts. */
  t: number;
  /** The state there. */
  x: A;
  /** The evaluation there. */
  at: DopriEval<A>;
}

/**
 * Where the state lives: the fused combination, the scaled norm and freeing (a device run's
 * SolverOps, solverOps.ts); host Float32Arrays when left out.
 */
export interface DopriArrays<A> {
  /** `sum_k c_k a_k` as a new array. */
  combine(terms: TermsOf<A>): Promise<A>;
  /** Hairer's scaled RMS norm of `e` against `a` and `b`. */
  scaledNorm(e: A, a: A, b: A, rtol: number, atol: number): Promise<number>;
  /** Arrays no longer needed. */
  drop(...arrays: (A | undefined)[]): void;
}

const HOST: DopriArrays<Float32Array> = {
  combine: (terms) => combine(terms),
  scaledNorm: async (e, a, b, rtol, atol) => scaledNorm(e, a, b, rtol, atol),
  drop: () => undefined,
};

/** Options of {@link dopri}. */
export interface DopriOptions<A = Float32Array> {
  /** Relative tolerance (> 0). */
  rtol: number;
  /** Absolute tolerance (> 0). */
  atol: number;
  /** Give up after this many steps, accepted or rejected (default 100000). */
  maxSteps?: number;
  /** Called (and awaited) once per accepted step, with the state it starts from. */
  onStep?: (step: DopriStep<A>) => void | Promise<void>;
  /** Checked before each evaluation. */
  signal?: AbortSignal;
  /** Where the state lives (default: host Float32Arrays). */
  arrays?: DopriArrays<A>;
}

/** The end of an integration. */
export interface DopriResult<A = Float32Array> {
  /** The state at the last stop. */
  x: A;
  /** The auxiliary values there. */
  aux: Float64Array;
  /** The evaluation there (free: the method's last stage is the next step's first). */
  at: DopriEval<A>;
  /** Steps taken, accepted and rejected. */
  steps: number;
  /** How many of them were rejected. */
  rejected: number;
}

// Dormand-Prince 5(4): nodes c, stage matrix a, the fifth-order weights (= row 7 of a, so the last
// stage is the next step's first: FSAL) and e = fifth-order minus fourth-order weights.
const C = [0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1, 1];
const STAGES: readonly (readonly number[])[] = [
  [],
  [1 / 5],
  [3 / 40, 9 / 40],
  [44 / 45, -56 / 15, 32 / 9],
  [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
  [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
  [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
];
const E = [71 / 57600, 0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40];

function auxCombine<A>(
  aux: Float64Array,
  h: number,
  weights: readonly number[],
  ks: readonly DopriEval<A>[],
): Float64Array {
  const out = Float64Array.from(aux);
  for (let j = 0; j < weights.length; j++) {
    const w = h * (weights[j] as number);
    if (w === 0) continue;
    const kj = (ks[j] as DopriEval<A>).kAux;
    for (let m = 0; m < out.length; m++) out[m] = (out[m] as number) + w * (kj[m] as number);
  }
  return out;
}

/** `x + h sum_j w_j k_j` through the fused combination (zero weights skipped). */
function stateCombine<A>(
  arrays: DopriArrays<A>,
  x: A,
  h: number,
  weights: readonly number[],
  ks: readonly DopriEval<A>[],
) {
  const terms: (readonly [number, A])[] = [[1, x]];
  weights.forEach((w, j) => {
    if (w !== 0) terms.push([h * w, (ks[j] as DopriEval<A>).k]);
  });
  return arrays.combine(terms);
}

/** Frees the slopes and denoised batches of evaluations no longer needed. */
function dropEvals<A>(arrays: DopriArrays<A>, evals: readonly DopriEval<A>[]): void {
  for (const e of evals) arrays.drop(e.k, e.denoised);
}

function notFinite(t: number, step: number): never {
  throw new PfgmError(
    'ERR_PFGM_NUMERIC',
    `RK45's error estimate is not finite at t = ${t} (sigma, or ln z for PFGM; step ${step}): the state ` +
      'or the denoiser output holds NaN or Infinity, and no step size can be chosen from it',
  );
}

/**
 * Integrates from `t0` through each of `stops` in order (the step is clipped to land exactly on
 * each), adapting the step to `rtol`/`atol` on the state and the auxiliary values (the larger of
 * their two scaled RMS errors must stay below 1). The first step size follows Hairer's starting
 * rule, which costs one evaluation.
 */
export async function dopri<A = Float32Array>(
  f: (x: A, aux: Float64Array, t: number) => Promise<DopriEval<A>>,
  x0: A,
  aux0: Float64Array,
  t0: number,
  stops: readonly number[],
  options: DopriOptions<A>,
): Promise<DopriResult<A>> {
  const { rtol, atol } = options;
  const arrays = options.arrays ?? (HOST as unknown as DopriArrays<A>);
  const maxSteps = options.maxSteps ?? 100_000;
  const evaluate = (x: A, aux: Float64Array, t: number) => {
    options.signal?.throwIfAborted();
    return f(x, aux, t);
  };
  let x = x0;
  let aux = aux0;
  let t = t0;
  let at = await evaluate(x, aux, t);
  let accepted = 0;
  let rejected = 0;
  let h = Number.NaN;
  let justRejected = false;
  for (const stop of stops) {
    const dir = Math.sign(stop - t);
    if (dir === 0) continue;
    if (Number.isNaN(h))
      h = dir * (await startStep(arrays, evaluate, x, aux, t, at, dir, Math.abs(stop - t), rtol, atol));
    if (Number.isNaN(h)) notFinite(t, accepted);
    h = dir * Math.abs(h);
    while (dir * (stop - t) > 0) {
      if (accepted + rejected >= maxSteps) {
        throw new PfgmError(
          'ERR_PFGM_ARGUMENT',
          `RK45 took ${maxSteps} steps without reaching sigma = ${stop} (now at ${t}): loosen rtol/atol or check the denoiser`,
        );
      }
      // Land exactly on the stop; the next step starts from the proposal, not the clipped size.
      const last = dir * (t + h - stop) >= 0;
      const step = last ? stop - t : h;
      if (Math.abs(step) <= 1e-14 * Math.max(Math.abs(t), 1)) {
        throw new PfgmError(
          'ERR_PFGM_ARGUMENT',
          `RK45 step size underflow at sigma = ${t}: the ODE is not resolvable at rtol ${rtol}, atol ${atol}`,
        );
      }
      const ks: DopriEval<A>[] = [at];
      let xNew = x;
      let auxNew = aux;
      for (let s = 1; s < 7; s++) {
        const row = STAGES[s] as readonly number[];
        // Stage 7's input is the fifth-order solution itself (FSAL).
        if (s > 1) arrays.drop(xNew); // the previous stage's input
        xNew = await stateCombine(arrays, x, step, row, ks);
        auxNew = auxCombine(aux, step, row, ks);
        ks.push(await evaluate(xNew, auxNew, t + (C[s] as number) * step));
      }
      const errX = await arrays.combine(
        E.flatMap((w, j) => (w === 0 ? [] : [[step * w, (ks[j] as DopriEval<A>).k] as const])),
      );
      const errAux = auxCombine(new Float64Array(aux.length), step, E, ks);
      const errNorm = await arrays.scaledNorm(errX, x, xNew, rtol, atol);
      arrays.drop(errX);
      const err = Math.max(errNorm, scaledNorm(errAux, aux, auxNew, rtol, atol));
      // NaN compares false with everything: without this the step would be rejected forever.
      if (Number.isNaN(err)) notFinite(t, accepted);
      // Step control: h * 0.9 err^(-1/5), within [0.2, 10], and no growth on the step that
      // follows a rejection (Hairer's safeguard against oscillating step sizes).
      let factor = err === 0 ? 10 : Math.min(10, Math.max(0.2, 0.9 * err ** -0.2));
      if (justRejected) factor = Math.min(1, factor);
      justRejected = err > 1;
      if (err <= 1) {
        await options.onStep?.({ i: accepted, t, x, at });
        accepted++;
        arrays.drop(x);
        dropEvals(arrays, ks.slice(0, 6));
        x = xNew;
        aux = auxNew;
        t = last ? stop : t + step;
        at = ks[6] as DopriEval<A>;
        // A step clipped to land on a stop says little about the natural size: keep the proposal.
        if (!last) h = step * factor;
      } else {
        rejected++;
        arrays.drop(xNew);
        dropEvals(arrays, ks.slice(1));
        h = step * Math.min(1, factor);
      }
    }
  }
  return { x, aux, at, steps: accepted + rejected, rejected };
}

/**
 * Hairer's starting step (Solving ODEs I, II.4, "automatic step size control"): a first guess
 * from the sizes of x and its slope, refined by one trial Euler step (one extra evaluation).
 * Returns a magnitude; `dir` is the direction of integration.
 */
async function startStep<A>(
  arrays: DopriArrays<A>,
  evaluate: (x: A, aux: Float64Array, t: number) => Promise<DopriEval<A>>,
  x: A,
  aux: Float64Array,
  t: number,
  at: DopriEval<A>,
  dir: number,
  span: number,
  rtol: number,
  atol: number,
): Promise<number> {
  const norm = (v: ArrayLike<number>, ref: ArrayLike<number>) => scaledNorm(v, ref, ref, rtol, atol);
  const normX = (v: A) => arrays.scaledNorm(v, x, x, rtol, atol);
  const d0 = Math.max(await normX(x), norm(aux, aux));
  const d1 = Math.max(await normX(at.k), norm(at.kAux, aux));
  const h0 = Math.min(span, d0 < 1e-5 || d1 < 1e-5 ? 1e-6 * span : (0.01 * d0) / d1);
  if (Number.isNaN(h0)) return h0; // a NaN state or slope: the caller says so
  const x1 = await arrays.combine([
    [1, x],
    [dir * h0, at.k],
  ]);
  const aux1 = auxCombine(aux, dir * h0, [1], [at]);
  const at1 = await evaluate(x1, aux1, t + dir * h0);
  const dk = await arrays.combine([
    [1, at1.k],
    [-1, at.k],
  ]);
  const dkAux = at1.kAux.map((v, m) => v - (at.kAux[m] as number));
  const d2 = Math.max(await normX(dk), norm(dkAux, aux)) / h0;
  arrays.drop(x1, dk);
  dropEvals(arrays, [at1]);
  const h1 = Math.max(d1, d2) <= 1e-15 ? Math.max(1e-6, h0 * 1e-3) : (0.01 / Math.max(d1, d2)) ** (1 / 5);
  return Math.min(100 * h0, h1, span);
}
