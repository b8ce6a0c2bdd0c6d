/**
 * The device path of the solvers (docs/dev/architecture.md, "Where sampling state lives"): a
 * sampling run that keeps x, the denoised batches and the multistep history in the network's
 * device memory, as ids of native arrays. Each call is one native step on a worker (one fused
 * kernel, one network evaluation on device memory, or a reduction whose scalar comes back), so
 * progress callbacks and an AbortSignal still act between steps; the batch crosses to the host
 * only for a callback (which asks for it) and for the finished samples.
 *
 * @internal
 * @module
 */
import type { NativeSampleRun, NativeStreams } from '../addon/native.js';
import { awaitNative, callNative } from '../errors.js';
import type { Network } from '../models/network.js';
import type { SolverOps, TermsOf } from './solverOps.js';
import type { SampleResult, SolverOptions } from './types.js';
import { nonFiniteError } from './update.js';

/** What a device run evaluates: the network's weights, labels and guidance. */
export interface DeviceRunConfig {
  /** Samples in the batch. */
  batch: number;
  /** The EMA weights. */
  ema: boolean;
  /** [batch, labelDim] labels. */
  labels?: Float32Array;
  /** [batch, augmentDim] augment labels. */
  augment?: Float32Array;
  /** Classifier-free guidance weight of every row (both halves in one pass, as on the host). */
  guidance?: number;
  /**
   * Guidance of some rows only, instead of `guidance`: ascending, disjoint ranges, each with its
   * weight (a Sampler's merged requests); the other rows are not guided.
   */
  guided?: readonly { start: number; count: number; weight: number }[];
}

/** {@link SolverOps} over a native sampling run on the network's device. */
export class DeviceOps implements SolverOps<number> {
  /** Evaluations so far. */
  nfe = 0;
  readonly #run: NativeSampleRun;
  readonly #options: SolverOptions;
  readonly #numel: number;
  #next = 0;

  constructor(net: Network, config: DeviceRunConfig, options: SolverOptions) {
    const handle = net.nativeHandle('sample');
    // Made by the addon that made the network.
    this.#run = callNative(() => handle.sampleRun(config));
    this.#options = options;
    this.#numel = config.batch * net.sampleSize;
  }

  /** Host<->device copies of the batch so far (uploads: a given start; downloads: results, callbacks). */
  transfers(): { uploads: number; downloads: number } {
    return callNative(() => this.#run.transfers());
  }

  /**
   * The PFGM++ prior at `sigmaMax` (PFGM's: D = 1 at zMax, with its radius clip), drawn on the
   * device from the per-sample streams.
   */
  async prior(
    D: number,
    sigmaMax: number,
    streams: NativeStreams & { clipMin?: number; clipMax?: number },
  ): Promise<number> {
    const id = this.#id();
    await awaitNative(() => this.#run.prior(id, D, sigmaMax, streams));
    return id;
  }

  /**
   * The PFGM++ prior at `sigmaMax` of every row, drawn in pieces: rows `[firstRow, firstRow +
   * rows)` of each piece from its own streams (a Sampler's merged requests, each with its seeds).
   */
  async priorRows(
    D: number,
    sigmaMax: number,
    pieces: readonly { streams: NativeStreams; firstRow: number; rows: number }[],
  ): Promise<number> {
    const id = this.#id();
    for (const p of pieces) {
      const streams = { ...p.streams, firstRow: p.firstRow, rows: p.rows };
      await awaitNative(() => this.#run.prior(id, D, sigmaMax, streams));
    }
    return id;
  }

  /**
   * PFGM's z-ODE drift dx/d(ln z) at (x, z) (a network trained with the `pfgm` objective), with
   * the checks of the host path named by `step` and z.
   */
  async drift(x: number, z: number, step: number, gamma: number): Promise<number> {
    this.#options.signal?.throwIfAborted();
    const check = this.#options.allowNonFinite !== true;
    if (check) await this.#check(x, 'the solver state', step, z, 'z');
    const out = this.#id();
    await awaitNative(() => this.#run.drift(x, z, gamma, out));
    this.nfe++;
    if (check) await this.#check(out, "the network's field", step, z, 'z');
    return out;
  }

  /** A host copy of array `id`. */
  host(id: number): Promise<Float32Array> {
    return awaitNative(() => this.#run.download(id));
  }

  /** A start point given on the host. */
  async upload(x: Float32Array): Promise<number> {
    const id = this.#id();
    await awaitNative(() => this.#run.upload(id, x));
    return id;
  }

  async denoise(x: number, sigma: number, step: number): Promise<number> {
    this.#options.signal?.throwIfAborted();
    const check = this.#options.allowNonFinite !== true;
    if (check) await this.#check(x, 'the solver state', step, sigma);
    const out = this.#id();
    await awaitNative(() => this.#run.denoise(x, sigma, out));
    this.nfe++;
    if (check) await this.#check(out, 'the denoiser output', step, sigma);
    return out;
  }

  async combine(terms: TermsOf<number>): Promise<number> {
    const out = this.#id();
    const coefs = Float64Array.from(terms, (t) => t[0]);
    const ids = terms.map((t) => t[1]);
    await awaitNative(() => this.#run.combine(out, coefs, ids));
    return out;
  }

  async slopeUpdate(
    x: number,
    den: number,
    sigma: number,
    coefs: readonly number[],
    older: readonly number[],
  ): Promise<[d: number, x: number]> {
    const d = this.#id();
    const out = this.#id();
    // slopes[0] is the new slope, computed in the kernel: its id is a placeholder.
    await awaitNative(() => this.#run.slopeUpdate(x, den, sigma, Float64Array.from(coefs), [d, ...older], d, out));
    return [d, out];
  }

  async noise(x: number, scale: number, streams: NativeStreams): Promise<number> {
    this.checkAbort();
    const out = this.#id();
    await awaitNative(() => this.#run.churn(x, out, scale, streams));
    return out;
  }

  async scaledNorm(e: number, a: number, b: number, rtol: number, atol: number): Promise<number> {
    const sum = await awaitNative(() => this.#run.scaledSumsq(e, a, b, rtol, atol));
    return Math.sqrt(sum / this.#numel);
  }

  async step(i: number, sigma: number, x: number, denoised: number): Promise<void> {
    const callback = this.#options.callback;
    if (callback === undefined) return;
    const hx = await awaitNative(() => this.#run.download(x));
    const hd = await awaitNative(() => this.#run.download(denoised));
    callback({ i, sigma, x: hx, denoised: hd });
  }

  checkAbort(): void {
    this.#options.signal?.throwIfAborted();
  }

  async finish(x: number, step: number, sigma: number, levelName = 'sigma'): Promise<SampleResult> {
    if (this.#options.allowNonFinite !== true) await this.#check(x, 'the solver state', step, sigma, levelName);
    return { x: await awaitNative(() => this.#run.download(x)), nfe: this.nfe };
  }

  drop(...arrays: (number | undefined)[]): void {
    for (const id of new Set(arrays)) {
      // Ordered after every earlier call of the run by the network's mutex and the awaits; a
      // failure here (a disposed run) has nothing left to free.
      if (id === undefined) continue;
      try {
        this.#run.release(id).catch(() => undefined);
      } catch {
        // disposed already: nothing left to free
      }
    }
  }

  /** Frees every array of the run. */
  dispose(): void {
    this.#run.dispose();
  }

  #id(): number {
    return this.#next++;
  }

  async #check(id: number, what: string, step: number, level: number, levelName = 'sigma'): Promise<void> {
    const r = await awaitNative(() => this.#run.check(id));
    if (r.index >= 0) throw nonFiniteError(what, r.value, r.index, step, level, levelName);
  }
}
