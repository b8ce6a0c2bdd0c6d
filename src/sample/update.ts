/**
 * The solvers' one native update (docs/dev/architecture.md, "Fusion"): every step of every solver is
 * `out = sum_k c_k a_k` over Float32Arrays, computed by one fused native kernel
 * (src/native/sample/sampler.h) with the coefficients in double and one rounding per element.
 * Plus the checks every solver shares.
 *
 * @internal
 * @module
 */
import { native } from '../addon/load.js';
import { awaitNative, callNative, PfgmError } from '../errors.js';
import type { DenoiseFn, SampleResult, SolverOptions, StepInfo } from './types.js';

/** One term of a linear combination: a coefficient and an array. */
export type Term = readonly [coefficient: number, array: Float32Array];

/**
 * Below this many element-terms the update runs on the JS thread: a worker thread's round trip
 * (tens of microseconds) costs more than the work. Above it the update runs on a worker so the
 * event loop never blocks on a large batch.
 */
export const SYNC_LIMIT = 1 << 18;

/**
 * `out = sum_k c_k a_k` (a new array unless `out` is given; `out` may be one of the arrays).
 * The arrays must not be modified until the Promise settles.
 */
export async function combine(terms: readonly Term[], out?: Float32Array): Promise<Float32Array> {
  const first = terms[0];
  if (first === undefined) throw new PfgmError('ERR_PFGM_INTERNAL', 'combine: no terms');
  const target = out ?? new Float32Array(first[1].length);
  const coefs = Float64Array.from(terms, (t) => t[0]);
  const arrays = terms.map((t) => t[1]);
  if (target.length * terms.length <= SYNC_LIMIT) {
    callNative(() => native().linearCombination(target, coefs, arrays));
  } else {
    await awaitNative(() => native().linearCombinationAsync(target, coefs, arrays));
  }
  return target;
}

/**
 * Checks a solver's sigmas: at least one step, every value finite, strictly decreasing, positive
 * except the last, which is exactly 0 (the k-diffusion convention).
 */
export function checkSigmas(sigmas: readonly number[]): void {
  const bad = (why: string) =>
    new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `sigmas ${why}: give descending noise levels ending in 0, e.g. karras({ steps: 18 })`,
    );
  if (!Array.isArray(sigmas) || sigmas.length < 2) throw bad('must hold at least two values (one step)');
  if (sigmas[sigmas.length - 1] !== 0) throw bad(`must end in 0, got ${sigmas[sigmas.length - 1]}`);
  for (let i = 0; i + 1 < sigmas.length; i++) {
    const s = sigmas[i] as number;
    if (typeof s !== 'number' || !Number.isFinite(s) || s <= 0) throw bad(`[${i}] = ${s} is not finite and > 0`);
    if (!((sigmas[i + 1] as number) < s)) throw bad(`are not strictly decreasing at index ${i}`);
  }
}

/** Checks the start point of a solver. */
export function checkStart(x: unknown): asserts x is Float32Array {
  if (!(x instanceof Float32Array) || x.length === 0) {
    throw new PfgmError('ERR_PFGM_DTYPE', 'x must be a non-empty Float32Array (the batch at sigmas[0])');
  }
}

/** The index of the first NaN or Infinity in `x`, or -1. */
export function firstNonFinite(x: Float32Array): number {
  for (let k = 0; k < x.length; k++) if (!Number.isFinite(x[k] as number)) return k;
  return -1;
}

/** How many of the `count` rows of `x` hold a NaN or an Infinity. */
export function countNonFiniteRows(x: Float32Array, count: number): number {
  const per = x.length / count;
  let rows = 0;
  for (let r = 0; r < count; r++) {
    for (let k = r * per; k < (r + 1) * per; k++) {
      if (!Number.isFinite(x[k] as number)) {
        rows++;
        break;
      }
    }
  }
  return rows;
}

/**
 * Throws `ERR_PFGM_NUMERIC` when `x` (`what`: the denoiser output, the solver state) holds a NaN
 * or an Infinity, naming the solver step and the noise level (`level` named `levelName`).
 */
export function checkFiniteAt(x: Float32Array, what: string, step: number, level: number, levelName = 'sigma'): void {
  const k = firstNonFinite(x);
  if (k < 0) return;
  throw nonFiniteError(what, x[k] as number, k, step, level, levelName);
}

/** The error of {@link checkFiniteAt} for `value` at index `k` (also raised by a device run). */
export function nonFiniteError(
  what: string,
  value: number,
  k: number,
  step: number,
  level: number,
  levelName = 'sigma',
): PfgmError {
  return new PfgmError(
    'ERR_PFGM_NUMERIC',
    `${what} holds non-finite values (${value} at index ${k}) at solver step ${step}, ${levelName} ${level}: ` +
      'check the model for NaN or infinite weights (a diverged training run?), or pass allowNonFinite to keep such samples',
  );
}

/** sqrt(mean((e / (atol + rtol max(|a|, |b|)))^2)): Hairer's scaled error norm (RK45's step control). */
export function scaledNorm(
  e: ArrayLike<number>,
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  rtol: number,
  atol: number,
): number {
  let acc = 0;
  for (let k = 0; k < e.length; k++) {
    const sc = atol + rtol * Math.max(Math.abs(a[k] as number), Math.abs(b[k] as number));
    const r = (e[k] as number) / sc;
    acc += r * r;
  }
  return e.length === 0 ? 0 : Math.sqrt(acc / e.length);
}

/**
 * Counts denoiser evaluations, honours the AbortSignal before each one, and checks what comes
 * back (a denoiser that returns the wrong length is caught at once, and so are non-finite
 * values in its output or in the state it is given, unless `allowNonFinite`, rather than
 * poisoning the rest of the run).
 */
export class Evaluator {
  /** Evaluations so far. */
  nfe = 0;
  readonly #denoise: DenoiseFn;
  readonly #options: SolverOptions;

  constructor(denoise: DenoiseFn, options: SolverOptions) {
    if (typeof denoise !== 'function') {
      throw new PfgmError('ERR_PFGM_ARGUMENT', 'denoise must be a function (x, sigma) => Promise<Float32Array>');
    }
    this.#denoise = denoise;
    this.#options = options;
  }

  /** D(x, sigma) at solver step `step` (named in the error when x or D is not finite). */
  async denoise(x: Float32Array, sigma: number, step: number): Promise<Float32Array> {
    this.#options.signal?.throwIfAborted();
    const check = this.#options.allowNonFinite !== true;
    if (check) checkFiniteAt(x, 'the solver state', step, sigma);
    const out = await this.#denoise(x, sigma);
    this.nfe++;
    if (!(out instanceof Float32Array) || out.length !== x.length) {
      throw new PfgmError(
        'ERR_PFGM_SHAPE',
        `the denoiser returned ${out instanceof Float32Array ? `${out.length} values` : 'no Float32Array'} for a batch of ${x.length}`,
      );
    }
    if (check) checkFiniteAt(out, 'the denoiser output', step, sigma);
    return out;
  }

  /** The solver's result: the final state `x`, checked like the states before it. */
  finish(x: Float32Array, step: number, sigma: number): SampleResult {
    if (this.#options.allowNonFinite !== true) checkFiniteAt(x, 'the solver state', step, sigma);
    return { x, nfe: this.nfe };
  }

  /** Hands a step to the callback. */
  step(info: StepInfo): void {
    this.#options.callback?.(info);
  }

  /** Throws the signal's reason when it was aborted. */
  checkAbort(): void {
    this.#options.signal?.throwIfAborted();
  }
}

/** `(x - D) / sigma`, the ODE's slope in sigma (docs/method.md (1.1)). */
export function slope(x: Float32Array, denoised: Float32Array, sigma: number): Promise<Float32Array> {
  return combine([
    [1 / sigma, x],
    [-1 / sigma, denoised],
  ]);
}
