/**
 * Where a solver's arrays live. Every solver is written once over {@link SolverOps}: its control
 * flow and its coefficients (the step's arithmetic in double) are the same whether the arrays are
 * host Float32Arrays ({@link HostOps}, the CPU path) or ids of arrays that stay in the network's
 * GPU memory (deviceOps.ts, docs/dev/architecture.md "Where sampling state lives"); only the
 * storage and the kernels' device differ.
 *
 * @internal
 * @module
 */
import { native } from '../addon/load.js';
import type { NativeStreams } from '../addon/native.js';
import { awaitNative } from '../errors.js';
import type { DenoiseFn, SampleResult, SolverOptions } from './types.js';
import { combine, Evaluator, scaledNorm } from './update.js';

/** Terms of a linear combination over arrays of type A. */
export type TermsOf<A> = readonly (readonly [coefficient: number, array: A])[];

/** The operations a solver runs on its arrays (host Float32Arrays or device ids). */
export interface SolverOps<A> {
  /** D(x, sigma) at solver step `step`: honours the AbortSignal, counts, checks finiteness. */
  denoise(x: A, sigma: number, step: number): Promise<A>;
  /** `sum_k c_k a_k` as a new array: one fused kernel. */
  combine(terms: TermsOf<A>): Promise<A>;
  /**
   * iPNDM's step: the slope `d = (x - D) / sigma` and `x + coefs[0] d + sum_j coefs[j + 1] older[j]`
   * (a device does both in one kernel; the host as two combinations, the same bits).
   */
  slopeUpdate(x: A, den: A, sigma: number, coefs: readonly number[], older: readonly A[]): Promise<[d: A, x: A]>;
  /** `x + scale eps` with eps from the churn streams (`count` samples): one fused kernel. */
  noise(x: A, scale: number, streams: NativeStreams, count: number): Promise<A>;
  /** The RMS of `e / (atol + rtol max(|a|, |b|))` (Hairer's scaled norm, for RK45). */
  scaledNorm(e: A, a: A, b: A, rtol: number, atol: number): Promise<number>;
  /** Reports a step to the callback (a device run copies x and D to the host only if there is one). */
  step(i: number, sigma: number, x: A, denoised: A): Promise<void>;
  /** Throws the signal's reason when it was aborted. */
  checkAbort(): void;
  /** The result: `x` checked and on the host. */
  finish(x: A, step: number, sigma: number): Promise<SampleResult>;
  /** Arrays the solver no longer needs (a device run frees them; a no-op on the host). */
  drop(...arrays: (A | undefined)[]): void;
}

/** The host path: Float32Arrays, the native CPU update, exactly as the solvers always ran. */
export class HostOps implements SolverOps<Float32Array> {
  readonly #ev: Evaluator;

  constructor(denoise: DenoiseFn, options: SolverOptions) {
    this.#ev = new Evaluator(denoise, options);
  }

  denoise(x: Float32Array, sigma: number, step: number): Promise<Float32Array> {
    return this.#ev.denoise(x, sigma, step);
  }

  combine(terms: TermsOf<Float32Array>): Promise<Float32Array> {
    return combine(terms);
  }

  async slopeUpdate(
    x: Float32Array,
    den: Float32Array,
    sigma: number,
    coefs: readonly number[],
    older: readonly Float32Array[],
  ): Promise<[d: Float32Array, x: Float32Array]> {
    const d = await combine([
      [1 / sigma, x],
      [-1 / sigma, den],
    ]);
    const terms: (readonly [number, Float32Array])[] = [
      [1, x],
      [coefs[0] as number, d],
    ];
    older.forEach((o, j) => {
      terms.push([coefs[j + 1] as number, o]);
    });
    return [d, await combine(terms)];
  }

  async noise(x: Float32Array, scale: number, streams: NativeStreams, count: number): Promise<Float32Array> {
    this.#ev.checkAbort();
    const out = new Float32Array(x.length);
    const args = { x, out, count, scale, ...streams };
    await awaitNative(() => native().churnNoise(args));
    return out;
  }

  async scaledNorm(e: Float32Array, a: Float32Array, b: Float32Array, rtol: number, atol: number): Promise<number> {
    return scaledNorm(e, a, b, rtol, atol);
  }

  async step(i: number, sigma: number, x: Float32Array, denoised: Float32Array): Promise<void> {
    this.#ev.step({ i, sigma, x, denoised });
  }

  checkAbort(): void {
    this.#ev.checkAbort();
  }

  async finish(x: Float32Array, step: number, sigma: number): Promise<SampleResult> {
    return this.#ev.finish(x, step, sigma);
  }

  drop(): void {}
}
