/**
 * {@link Sampler}: concurrent sampling requests batched together. Requests that share a solver and
 * a schedule are integrated as one batch (one network pass per ODE step for all of them); the
 * others wait their turn in one FIFO queue. A request joins or leaves between runs, never in the
 * middle of a trajectory, and each sample keeps its own seed, stream and labels, so a request's
 * result is the one it gets alone.
 *
 * @module
 */
import { PfgmError } from '../errors.js';
import { Network, type WeightSet } from '../models/network.js';
import { oneHotLabels, randomClasses } from '../physics/classes.js';
import { karras } from '../physics/schedule.js';
import type { Seed } from '../physics/streams.js';
import { checkD, checkFinite, checkInteger, checkOneOf, checkPositive } from '../validate.js';
import { type MergedPiece, type MergedRun, runMergedOnHost } from './merged.js';
import { runMergedOnDevice } from './mergedOnDevice.js';
import { keepsStateOnDevice } from './resident.js';
import { sample, sampleSizeOf } from './sample.js';
import { type SolverName, solverNames } from './solvers.js';
import type { Sampleable, SampleResult } from './types.js';
import { checkSigmas, countNonFiniteRows, firstNonFinite } from './update.js';

/** Options of a {@link Sampler}. */
export interface SamplerOptions {
  /** Most samples integrated in one run (default 128); a larger request runs in pieces. */
  maxBatch?: number;
  /**
   * Most requests held at once, running or waiting (default 256); {@link Sampler.sample} refuses
   * more with `ERR_PFGM_BUSY`, so memory stays bounded.
   */
  maxQueue?: number;
  /** Weights to sample with (default `ema`). */
  weights?: WeightSet;
  /**
   * Keep each merged run's solver state in the network's device memory (default: when the model
   * is a {@link Network} on CUDA), as {@link sample}'s `stateOnDevice`; `true` on the CPU backend
   * gives the host path's bits, `false` on CUDA runs the solvers on the host.
   */
  stateOnDevice?: boolean;
}

/** One request to a {@link Sampler}. */
export interface SampleRequest {
  /** How many samples (default: the number of seeds when `seed` is an array, else 1). */
  count?: number;
  /** One seed (sample i reads stream `sampleOffset + i`) or one per sample (default 0). */
  seed?: Seed;
  /** First stream index when `seed` is one number (default 0). */
  sampleOffset?: number;
  /** The solver (default `heun`). */
  solver?: SolverName;
  /** Steps of EDM's schedule (default 18; RK45 2). */
  steps?: number;
  /** An explicit schedule, descending and ending in 0 (then `steps`, `sigmaMax`, `sigmaMin`, `rho` are unused). */
  sigmas?: readonly number[];
  /** Largest sigma of the prior and the schedule (default 80). */
  sigmaMax?: number;
  /** Smallest non-zero sigma (default 0.002). */
  sigmaMin?: number;
  /** Schedule exponent (default 7). */
  rho?: number;
  /** One-hot labels [count, labelDim] for a conditional model. */
  labels?: Float32Array;
  /** A class for every sample (0-based), instead of `labels`. */
  class?: number;
  /** Classifier-free guidance weight (needs labels or a class). */
  guidance?: number;
  /** Keep samples that hold NaN or Infinity (default false: reject with `ERR_PFGM_NUMERIC`). */
  allowNonFinite?: boolean;
  /** Removes the request from the queue, or rejects it when the run it is in ends. */
  signal?: AbortSignal;
}

/** Counters of a {@link Sampler}. */
export interface SamplerStats {
  /** Requests waiting or running. */
  pending: number;
  /** Samples of those requests not yet integrated. */
  queuedSamples: number;
  /** Samples delivered since the Sampler was made. */
  samplesTotal: number;
  /** Runs (merged batches) since the Sampler was made. */
  runs: number;
}

/** A request checked and normalised. */
interface Job {
  count: number;
  seed: Seed;
  sampleOffset: number;
  solver: SolverName;
  sigmas: number[];
  labels: Float32Array | undefined;
  guidance: number | undefined;
  allowNonFinite: boolean;
  signal: AbortSignal | undefined;
  /** Requests with the same key run together. */
  key: string;
  /** The schedule as the request gave it, for a request that runs alone through {@link sample}. */
  schedule: Pick<SampleRequest, 'steps' | 'sigmas' | 'sigmaMax' | 'sigmaMin' | 'rho'>;
  x: Float32Array;
  nfe: number;
  /** Pieces not yet finished. */
  left: number;
  settled: boolean;
  resolve: (r: SampleResult) => void;
  reject: (e: unknown) => void;
  onAbort: (() => void) | undefined;
}

/** Samples `[start, start + n)` of a job. */
interface Piece {
  job: Job;
  start: number;
  n: number;
}

let uniqueKey = 0;

/**
 * Batches concurrent sampling requests: each {@link Sampler.sample} call is queued, and every run
 * takes the oldest waiting request together with every other waiting request of the same solver
 * and schedule (and the same kind of labels), up to `maxBatch` samples, and integrates them as one
 * batch: one network pass per ODE step. Each sample keeps its seed, stream, labels and guidance
 * weight, so a request's samples are those {@link sample} gives it alone (bit for bit on the CPU
 * for the fixed-step solvers). RK45 requests, whose steps depend on their batch, and models with
 * the `pfgm` objective run alone, in queue order.
 *
 * @example
 * ```ts
 * await using sampler = new Sampler(net, { maxBatch: 128 });
 * const [a, b] = await Promise.all([
 *   sampler.sample({ count: 2, seed: [0, 1], steps: 18 }),
 *   sampler.sample({ count: 4, seed: 7, steps: 18, class: 3, guidance: 2 }),
 * ]);
 * ```
 */
export class Sampler {
  readonly #model: Sampleable;
  readonly #maxBatch: number;
  readonly #maxQueue: number;
  readonly #weights: WeightSet;
  readonly #onDevice: boolean;
  readonly #queue: Piece[] = [];
  readonly #jobs = new Set<Job>();
  #pump: Promise<void> | undefined;
  #disposed = false;
  #samplesTotal = 0;
  #runs = 0;

  /**
   * @param model - What to sample (not disposed by the Sampler).
   * @param options - Batch and queue limits.
   */
  constructor(model: Sampleable, options: SamplerOptions = {}) {
    this.#model = model;
    this.#maxBatch = checkInteger('maxBatch', options.maxBatch ?? 128, 1);
    this.#maxQueue = checkInteger('maxQueue', options.maxQueue ?? 256, 1);
    this.#weights = options.weights ?? 'ema';
    this.#onDevice = keepsStateOnDevice(model, options.stateOnDevice);
  }

  /** The model sampled. */
  get model(): Sampleable {
    return this.#model;
  }

  /** Most samples in one run. */
  get maxBatch(): number {
    return this.#maxBatch;
  }

  /** Most requests held at once. */
  get maxQueue(): number {
    return this.#maxQueue;
  }

  /** Requests waiting or running, samples still to integrate, samples delivered, runs. */
  stats(): SamplerStats {
    let queuedSamples = 0;
    for (const p of this.#queue) queuedSamples += p.n;
    return { pending: this.#jobs.size, queuedSamples, samplesTotal: this.#samplesTotal, runs: this.#runs };
  }

  /**
   * Queues a request; resolves to its samples `{ x, nfe }` when its last piece is integrated.
   *
   * @throws PfgmError `ERR_PFGM_BUSY` when `maxQueue` requests are already held (try again
   *   later); `ERR_PFGM_DISPOSED` after {@link Sampler.dispose}; the argument errors of
   *   {@link sample}; `ERR_PFGM_NUMERIC` for a non-finite result without `allowNonFinite`. An
   *   aborted request rejects with the signal's reason.
   */
  sample(request: SampleRequest): Promise<SampleResult> {
    try {
      if (this.#disposed) throw new PfgmError('ERR_PFGM_DISPOSED', 'Sampler.sample: the Sampler was disposed');
      request.signal?.throwIfAborted();
      if (this.#jobs.size >= this.#maxQueue) {
        throw new PfgmError(
          'ERR_PFGM_BUSY',
          `Sampler.sample: ${this.#jobs.size} requests are already queued (maxQueue ${this.#maxQueue}); try again later`,
        );
      }
      const { promise, job } = this.#jobOf(request);
      this.#jobs.add(job);
      for (let start = 0; start < job.count; start += this.#maxBatch) {
        this.#queue.push({ job, start, n: Math.min(this.#maxBatch, job.count - start) });
        job.left++;
      }
      if (job.signal !== undefined) {
        const signal = job.signal;
        job.onAbort = () => {
          // Waiting pieces leave the queue now; a running piece's run finishes for the others.
          for (let k = this.#queue.length - 1; k >= 0; k--) if (this.#queue[k]?.job === job) this.#queue.splice(k, 1);
          this.#settle(job, undefined, signal.reason);
        };
        signal.addEventListener('abort', job.onAbort, { once: true });
      }
      this.#pump ??= this.#drainQueue();
      return promise;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Resolves when every request held now or later has settled and the queue is empty. */
  async drain(): Promise<void> {
    while (this.#pump !== undefined) await this.#pump;
  }

  /**
   * Stops taking requests: waiting requests reject with `ERR_PFGM_DISPOSED`, the run in progress
   * finishes (its requests resolve), and the Promise resolves when it has. With `{ drain: true }`
   * every waiting request runs first.
   */
  async dispose(options: { drain?: boolean } = {}): Promise<void> {
    this.#disposed = true;
    if (options.drain !== true) {
      const waiting = new Set(this.#queue.map((p) => p.job));
      this.#queue.length = 0;
      for (const job of waiting) {
        this.#settle(
          job,
          undefined,
          new PfgmError('ERR_PFGM_DISPOSED', 'the Sampler was disposed before this request ran'),
        );
      }
    }
    await this.drain();
  }

  /** `await using sampler = new Sampler(...)`: {@link Sampler.dispose} at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  #jobOf(request: SampleRequest): { promise: Promise<SampleResult>; job: Job } {
    const model = this.#model;
    const seed = request.seed ?? 0;
    const count = checkInteger('count', request.count ?? (Array.isArray(seed) ? seed.length : 1), 1);
    const solver = checkOneOf('solver', request.solver ?? 'heun', solverNames);
    if (Array.isArray(seed) && seed.length !== count) {
      throw new PfgmError('ERR_PFGM_SHAPE', `seed has ${seed.length} entries but count is ${count}`);
    }
    const sampleOffset = checkInteger('sampleOffset', request.sampleOffset ?? 0, 0);
    if (Array.isArray(seed) && sampleOffset !== 0) {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        'sampleOffset applies to a single seed; with one seed per sample, choose the seeds',
      );
    }
    let labels = request.labels;
    if (request.class !== undefined) {
      if (labels !== undefined) throw new PfgmError('ERR_PFGM_ARGUMENT', 'give labels or class, not both');
      if (model.labelDim === 0) throw new PfgmError('ERR_PFGM_ARGUMENT', 'class: this model is unconditional');
      const k = checkInteger('class', request.class, 0, model.labelDim - 1);
      labels = new Float32Array(count * model.labelDim);
      for (let i = 0; i < count; i++) labels[i * model.labelDim + k] = 1;
    }
    // A conditional model without labels: one random class per sample from its own stream, the
    // classes sample() draws (guidance keeps asking for the classes to guide toward).
    if (labels === undefined && model.labelDim > 0 && request.guidance === undefined)
      labels = oneHotLabels(randomClasses(count, model.labelDim, { seed, sampleOffset }), model.labelDim);
    if (labels !== undefined) {
      if (model.labelDim === 0) throw new PfgmError('ERR_PFGM_ARGUMENT', 'labels: this model is unconditional');
      if (!(labels instanceof Float32Array) || labels.length !== count * model.labelDim) {
        throw new PfgmError('ERR_PFGM_SHAPE', `labels must be a Float32Array [${count}, ${model.labelDim}]`);
      }
    }
    if (request.guidance !== undefined) {
      checkFinite('guidance', request.guidance);
      if (labels === undefined) throw new PfgmError('ERR_PFGM_ARGUMENT', 'guidance needs labels or a class');
    }
    let sigmas: number[];
    if (request.sigmas !== undefined) {
      checkSigmas(request.sigmas);
      sigmas = [...request.sigmas];
    } else {
      const sigmaMax = checkPositive('sigmaMax', request.sigmaMax ?? 80);
      const steps = checkInteger('steps', request.steps ?? (solver === 'rk45' ? 2 : 18), 1);
      sigmas = karras({ steps, sigmaMax, sigmaMin: request.sigmaMin, rho: request.rho });
    }
    const alone = solver === 'rk45' || (model instanceof Network && model.objective === 'pfgm');
    const key = alone ? `alone:${uniqueKey++}` : `${solver}|${labels === undefined ? 'u' : 'c'}|${sigmas.join(',')}`;
    let resolve!: (r: SampleResult) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<SampleResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const job: Job = {
      count,
      seed,
      sampleOffset,
      solver,
      sigmas,
      labels,
      guidance: request.guidance,
      allowNonFinite: request.allowNonFinite === true,
      signal: request.signal,
      key,
      schedule: {
        steps: request.steps,
        sigmas: request.sigmas,
        sigmaMax: request.sigmaMax,
        sigmaMin: request.sigmaMin,
        rho: request.rho,
      },
      x: new Float32Array(count * sampleSizeOf(model)),
      nfe: 0,
      left: 0,
      settled: false,
      resolve,
      reject,
      onAbort: undefined,
    };
    return { promise, job };
  }

  #settle(job: Job, result: SampleResult | undefined, error?: unknown): void {
    if (job.settled) return;
    job.settled = true;
    this.#jobs.delete(job);
    if (job.onAbort !== undefined) job.signal?.removeEventListener('abort', job.onAbort);
    if (result !== undefined) {
      this.#samplesTotal += job.count;
      job.resolve(result);
    } else job.reject(error);
  }

  async #drainQueue(): Promise<void> {
    try {
      // Requests made in the same turn of the event loop (a Promise.all, HTTP requests read
      // together) join the first run instead of waiting for the next.
      await new Promise((resolve) => setImmediate(resolve));
      while (this.#queue.length > 0) {
        const first = this.#queue[0] as Piece;
        const taken: Piece[] = [];
        let rows = 0;
        for (let k = 0; k < this.#queue.length; k++) {
          const p = this.#queue[k] as Piece;
          if (p.job.key !== first.job.key || rows + p.n > this.#maxBatch) continue;
          taken.push(p);
          rows += p.n;
          this.#queue.splice(k--, 1);
        }
        this.#runs++;
        try {
          await this.#run(taken);
          for (const p of taken) {
            p.job.left--;
            if (p.job.left === 0 && !p.job.settled) this.#finish(p.job);
          }
        } catch (error) {
          for (const p of taken) {
            for (let k = this.#queue.length - 1; k >= 0; k--)
              if (this.#queue[k]?.job === p.job) this.#queue.splice(k, 1);
            this.#settle(p.job, undefined, error);
          }
        }
      }
    } finally {
      this.#pump = undefined;
    }
  }

  #finish(job: Job): void {
    if (!job.allowNonFinite && firstNonFinite(job.x) >= 0) {
      this.#settle(
        job,
        undefined,
        new PfgmError(
          'ERR_PFGM_NUMERIC',
          'the samples hold non-finite values: check the model for NaN or infinite weights, or pass allowNonFinite to keep such samples',
        ),
      );
      return;
    }
    const result: SampleResult = { x: job.x, nfe: job.nfe };
    if (job.allowNonFinite) result.nonFinite = countNonFiniteRows(job.x, job.count);
    this.#settle(job, result);
  }

  /** Integrates the pieces of one run and writes each into its request's result. */
  async #run(pieces: Piece[]): Promise<void> {
    const live = pieces.filter((p) => !p.job.settled);
    if (live.length === 0) return;
    const model = this.#model;
    const per = sampleSizeOf(model);
    const first = (live[0] as Piece).job;
    if (first.key.startsWith('alone:')) {
      const p = live[0] as Piece;
      const r = await sample(model, {
        ...this.#sliceOf(p),
        ...first.schedule,
        solver: first.solver,
        guidance: first.guidance,
        weights: this.#weights,
        allowNonFinite: true,
        signal: first.signal,
        stateOnDevice: model instanceof Network ? this.#onDevice : undefined,
      });
      first.x.set(r.x, p.start * per);
      first.nfe = Math.max(first.nfe, r.nfe);
      return;
    }
    const L = model.labelDim;
    const rows = live.reduce((a, p) => a + p.n, 0);
    const labels = first.labels === undefined ? undefined : new Float32Array(rows * L);
    const merged: MergedPiece[] = [];
    let at = 0;
    for (const p of live) {
      const slice = this.#sliceOf(p);
      labels?.set(slice.labels as Float32Array, at * L);
      merged.push({
        firstRow: at,
        rows: p.n,
        seed: slice.seed,
        sampleOffset: slice.sampleOffset,
        guidance: p.job.guidance,
      });
      at += p.n;
    }
    // Stop early only when every request in the run has gone; an aborted request settles first,
    // in its own listener.
    const controller = new AbortController();
    const stopIfEmpty = () => {
      if (live.every((p) => p.job.settled)) controller.abort();
    };
    for (const p of live) p.job.signal?.addEventListener('abort', stopIfEmpty);
    const run: MergedRun = {
      rows,
      pieces: merged,
      labels,
      solver: first.solver as MergedRun['solver'],
      sigmas: first.sigmas,
      weights: this.#weights,
      D: checkD(model.D),
      signal: controller.signal,
    };
    let r: SampleResult;
    try {
      r =
        this.#onDevice && model instanceof Network
          ? await runMergedOnDevice(model, run)
          : await runMergedOnHost(model, run);
    } catch (error) {
      if (controller.signal.aborted) return;
      throw error;
    } finally {
      for (const p of live) p.job.signal?.removeEventListener('abort', stopIfEmpty);
    }
    for (const [k, p] of live.entries()) {
      const at = (merged[k] as MergedPiece).firstRow;
      p.job.x.set(r.x.subarray(at * per, (at + p.n) * per), p.start * per);
      p.job.nfe = Math.max(p.job.nfe, r.nfe);
    }
  }

  /** The seeds and labels of a piece, as {@link sample} takes them. */
  #sliceOf(p: Piece): {
    count: number;
    seed: Seed;
    sampleOffset: number | undefined;
    labels: Float32Array | undefined;
  } {
    const { job, start, n } = p;
    const L = this.#model.labelDim;
    return {
      count: n,
      seed: Array.isArray(job.seed) ? job.seed.slice(start, start + n) : job.seed,
      sampleOffset: Array.isArray(job.seed) ? undefined : job.sampleOffset + start,
      labels: job.labels?.subarray(start * L, (start + n) * L),
    };
  }
}
