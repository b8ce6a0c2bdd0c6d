/**
 * The training loop (docs/dev/architecture.md, "TypeScript layers"): batches from a {@link Dataset} in a seeded
 * per-epoch order, one native step each (perturbation, forward, loss, backward, Adam, EMA), ticks
 * reported as an async iterator and as progress events, abort with a final checkpoint, and
 * exact resume.
 *
 * @module
 */
import type { Batch, Dataset } from '../data/dataset.js';
import type { DistributedGroup } from '../distributed/group.js';
import { PfgmError } from '../errors.js';
import type { Network, PfgmSettings } from '../models/network.js';
import { pfgmHyperparameters } from '../physics/pfgm.js';
import {
  checkRunLength,
  type MAX_RUN_LENGTH,
  type ResolvedTrainOptions,
  resolveTrainOptions,
  type TRAIN_DEFAULTS,
  type TrainOptions,
} from '../physics/trainOptions.js';
import { checkGroup, localBatch } from './dataParallel.js';
import { checkTrainingMemory } from './memory.js';
import { epochOrder, flipFlag } from './order.js';

export type { Objective } from '../models/network.js';
export type { PfgmTrainOptions } from '../physics/trainOptions.js';

/**
 * Hyperparameters of a {@link Trainer}: every {@link TrainOptions} field (checked and defaulted
 * by {@link resolveTrainOptions}; defaults in {@link TRAIN_DEFAULTS}, `trainer` then `step`) and
 * the callbacks.
 */
export interface TrainerOptions extends TrainOptions {
  /** Called with every tick's statistics. */
  onProgress?: (tick: TickStats) => void;
  /**
   * Called to write a checkpoint: at the end of a run, when aborted (before the abort error is
   * thrown), when reading a batch fails (before that error is thrown), and every
   * `checkpointTicks` ticks. In a data-parallel group only rank 0 calls it.
   */
  checkpoint?: (trainer: Trainer) => Promise<void>;
  /**
   * A data-parallel group ({@link initDistributed}) to train in (docs/distributed.md): `batch`
   * is then the global batch, split evenly over the ranks; each rank reads its own shard of
   * every global batch, the gradients are averaged in one all-reduce per step, and the weights
   * equal those of one process at the global batch up to float round-off. Every rank must
   * construct its Trainer with the same options and data.
   */
  distributed?: DistributedGroup;
}

/** What one tick reports. */
export interface TickStats {
  /** Thousands of images seen so far. */
  kimg: number;
  /** Training steps so far. */
  step: number;
  /** Mean loss over the tick's steps (docs/method.md §2.2). */
  loss: number;
  /** Learning rate of the last step. */
  lr: number;
  /** Throughput over the tick. */
  imagesPerSecond: number;
  /** Steps skipped for non-finite gradients so far. */
  skippedSteps: number;
  /** Mean gradient norm over the tick. */
  gradNorm: number;
  /** Seconds since the run started. */
  seconds: number;
}

/** Where a run stands in its data; saved with checkpoints so a resumed run continues exactly. */
export interface TrainerState {
  /** Current epoch. */
  epoch: number;
  /** Next position in the epoch's order. */
  position: number;
  /** The trainer's seed. */
  seed: number;
  /**
   * Every training hyperparameter the run used (the trainer's resolved options, without the
   * callbacks), so that a resumed run continues with the same schedule; see
   * {@link resumedTrainOptions}. Absent in states saved by older versions.
   */
  options?: TrainOptions;
}

/** What {@link resumedTrainOptions} returns. */
export interface ResumedTrainOptions {
  /** The options to give the resumed run's {@link Trainer}. */
  options: TrainOptions;
  /** The options given explicitly that differ from the saved ones. */
  overridden: OverriddenOption[];
}

/** An option given for a resumed run that differs from its saved value. */
export interface OverriddenOption {
  /** Its name (`lr`, `pfgm.refBatch`, ...). */
  option: string;
  /** The value the checkpoint saved. */
  saved: unknown;
  /** The value given now, which the resumed run uses. */
  given: unknown;
}

const SAVED_OPTION_KEYS = [
  'objective',
  'D',
  'batch',
  'microBatch',
  'stf',
  'lr',
  'lrRampupKimg',
  'beta1',
  'beta2',
  'eps',
  'gradClip',
  'emaHalflifeKimg',
  'emaRampupRatio',
  'pMean',
  'pStd',
  'seed',
  'xflip',
  'tickKimg',
  'checkpointTicks',
] as const satisfies readonly (keyof TrainOptions)[];

const SAVED_PFGM_KEYS = ['refBatch', 'tau', 's', 'gamma', 'restrictM', 'M'] as const;

/**
 * The options of a resumed run: the hyperparameters saved in its {@link TrainerState} (so the
 * schedule of the steps already planned, e.g. a learning-rate ramp-up that defaulted from the
 * first run's length, stays the same), except those the user gives explicitly, which win and are
 * reported in `overridden`. Without saved options (an older state), the explicit ones are used.
 *
 * @param state - the saved trainer state (its `options`)
 * @param explicit - only the options the user set explicitly for the resumed run
 *
 * @example
 * ```ts
 * const { extra } = await loadCheckpoint<{ trainer: TrainerState }>(dir, { into: net });
 * const { options, overridden } = resumedTrainOptions(extra.trainer, { lr: 5e-4 });
 * const trainer = new Trainer(net, data, options);
 * trainer.loadState(extra.trainer);
 * ```
 */
export function resumedTrainOptions(state: TrainerState, explicit: TrainOptions): ResumedTrainOptions {
  const saved = state.options;
  if (saved === undefined || saved === null || typeof saved !== 'object')
    return { options: { ...explicit }, overridden: [] };
  const options: Record<string, unknown> = {};
  const overridden: ResumedTrainOptions['overridden'] = [];
  const given = explicit as Record<string, unknown>;
  const was = saved as Record<string, unknown>;
  for (const key of SAVED_OPTION_KEYS) {
    const v = given[key] !== undefined ? given[key] : was[key];
    if (v !== undefined) options[key] = v;
    if (given[key] !== undefined && was[key] !== undefined && !Object.is(given[key], was[key]))
      overridden.push({ option: key, saved: was[key], given: given[key] });
  }
  const pfgm: Record<string, unknown> = {};
  const savedPfgm = (typeof was.pfgm === 'object' && was.pfgm !== null ? was.pfgm : {}) as Record<string, unknown>;
  const givenPfgm = (explicit.pfgm ?? {}) as Record<string, unknown>;
  for (const key of SAVED_PFGM_KEYS) {
    const v = givenPfgm[key] !== undefined ? givenPfgm[key] : savedPfgm[key];
    if (v !== undefined) pfgm[key] = v;
    if (givenPfgm[key] !== undefined && savedPfgm[key] !== undefined && !Object.is(givenPfgm[key], savedPfgm[key]))
      overridden.push({ option: `pfgm.${key}`, saved: savedPfgm[key], given: givenPfgm[key] });
  }
  options.pfgm = pfgm;
  return { options: options as TrainOptions, overridden };
}

/** How long to run: a number of thousand images or of steps (from the start of training). */
export interface RunOptions {
  /** Stop once this many thousand images have been seen in total (at most 10^12). */
  kimg?: number;
  /** Stop after this many steps in total (an integer, at most 10^12). */
  steps?: number;
  /** Aborting writes a checkpoint (when configured) and then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Trains a network on a dataset. A class-conditional network (its config's `labelDim` > 0) trains
 * on the data's one-hot labels, dropped with its `labelDropout`; an unconditional one ignores
 * any labels the data have.
 *
 * @example
 * ```ts
 * const trainer = new Trainer(net, data, { batch: 64, lr: 2e-4, D: 128 });
 * for await (const t of trainer.run({ kimg: 100, signal })) console.log(t.kimg, t.loss);
 * ```
 */
export class Trainer {
  /** The network being trained. */
  readonly net: Network;
  /** The data. */
  readonly data: Dataset;
  /**
   * The resolved options ({@link resolveTrainOptions}; `pfgm.refBatch` at most the dataset's
   * size) and the callbacks; these are what every step gets.
   */
  readonly options: ResolvedTrainOptions & Readonly<Pick<TrainerOptions, 'onProgress' | 'checkpoint'>>;
  /** The data-parallel group, when training in one. */
  readonly distributed: DistributedGroup | undefined;
  #epoch = 0;
  #position = 0;
  #order: Uint32Array | undefined;
  // Where training resumes: the data position before the batch that is read ahead but not yet
  // trained. Checkpoints save this, so a resumed run trains on exactly the batches this one would.
  #resume: { epoch: number; position: number } | undefined;

  constructor(net: Network, data: Dataset, options: TrainerOptions = {}) {
    this.net = net;
    this.data = data;
    const size = net.sampleSize;
    const dataSize = data.info.shape.reduce((a, b) => a * b, 1);
    if (dataSize !== size) {
      throw new PfgmError(
        'ERR_PFGM_SHAPE',
        `the data's samples have shape [${data.info.shape}] (${dataSize} values) but the network takes [${net.sampleShape}] (${size}): build the network for this data (e.g. preset('ddpmpp-small', { inChannels, imgResolution }))`,
      );
    }
    if (data.info.count < 1) throw new PfgmError('ERR_PFGM_ARGUMENT', `dataset ${data.info.name} is empty`);
    // The network decides: a conditional one (labelDim > 0) trains on the data's labels, an
    // unconditional one ignores them.
    if (net.labelDim > 0 && data.info.labelDim !== net.labelDim) {
      throw new PfgmError(
        'ERR_PFGM_SHAPE',
        data.info.labelDim === 0
          ? `the network is class-conditional (labelDim ${net.labelDim}) but dataset ${data.info.name} has no labels: build it with labelDim 0`
          : `the network takes ${net.labelDim} classes but dataset ${data.info.name} has ${data.info.labelDim}`,
      );
    }
    const o = resolveTrainOptions(options, { D: net.D, objective: net.objective });
    if (o.objective !== net.objective) {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        o.objective === 'pfgm'
          ? `the pfgm objective needs a network with PFGM's extra z output: createNetwork(config, { objective: 'pfgm' })`
          : `this network predicts PFGM's field; train it with objective 'pfgm', or create a denoiser for 'pfgmpp'`,
      );
    }
    this.options = Object.freeze({
      ...o,
      pfgm: Object.freeze({ ...o.pfgm, refBatch: Math.min(o.pfgm.refBatch, data.info.count) }),
      onProgress: options.onProgress,
      checkpoint: options.checkpoint,
    });
    this.distributed = options.distributed;
    if (this.distributed !== undefined) {
      localBatch(o, this.distributed.worldSize);
      net.attachDistributed(this.distributed);
    }
  }

  /** Samples this process trains on per step: the batch, or its share of it in a group. */
  get localBatch(): number {
    return this.distributed === undefined ? this.options.batch : localBatch(this.options, this.distributed.worldSize);
  }

  /** The global index of this process's first sample in each batch. */
  get #offset(): number {
    return this.distributed === undefined ? 0 : this.distributed.rank * this.localBatch;
  }

  /** Whether this process writes checkpoints (outside a group, or rank 0 of one). */
  get #writes(): boolean {
    return this.distributed === undefined || this.distributed.isRoot;
  }

  /**
   * PFGM's hyperparameters (docs/method.md §3) from the data: the mean L2 norm of up to 4096 samples in a
   * seeded order gives M, z_max and upper_norm. Stored on the network ({@link Network.pfgm}) so
   * they are saved with it; a network that already has them (a resumed run) keeps them.
   */
  async pfgmSettings(): Promise<PfgmSettings> {
    if (this.net.pfgm !== undefined) return this.net.pfgm;
    const o = this.options.pfgm;
    const count = Math.min(4096, this.data.info.count);
    const order = epochOrder(this.data.info.count, this.options.seed ^ 0x5f3759df, 0).subarray(0, count);
    const { data } = await this.data.read(order);
    const N = this.net.sampleSize;
    let sum = 0;
    for (let i = 0; i < count; i++) {
      let q = 0;
      for (let k = i * N; k < (i + 1) * N; k++) q += (data[k] as number) ** 2;
      sum += Math.sqrt(q);
    }
    const hp = pfgmHyperparameters({ dataNorm: sum / count, N, tau: o.tau, s: o.s, M: o.M });
    this.net.pfgm = { ...hp, gamma: o.gamma, restrictM: o.restrictM };
    return this.net.pfgm;
  }

  /** Where the run stands in its data, and its hyperparameters (for checkpoints). */
  state(): TrainerState {
    const at = this.#resume ?? { epoch: this.#epoch, position: this.#position };
    const { onProgress: _progress, checkpoint: _checkpoint, ...options } = this.options;
    return { ...at, seed: this.options.seed, options: { ...options, pfgm: { ...options.pfgm } } };
  }

  /** Continues from a saved {@link TrainerState} (the network's own state is loaded separately). */
  loadState(state: TrainerState): void {
    if (state.seed !== this.options.seed) {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `the checkpoint was trained with seed ${state.seed}, this trainer has ${this.options.seed}: resume with the same seed`,
      );
    }
    this.#epoch = state.epoch;
    this.#position = state.position;
    this.#order = undefined;
    this.#resume = undefined;
  }

  /**
   * Starts reading the next batch. The promise is marked handled at once: it may reject while a
   * step runs and before the loop awaits it, and that rejection must reach the loop (and through
   * it the caller of run()), not Node's unhandled-rejection handler, which ends the process.
   */
  #readAhead(n: number, shard: boolean): Promise<Batch> {
    this.#resume = { epoch: this.#epoch, position: this.#position };
    let read: Promise<Batch>;
    try {
      // Every rank walks the same global order; each reads its own slice of the global batch.
      const global = this.#nextIndices(n);
      const b = this.localBatch;
      read = this.data.read(shard ? global.subarray(this.#offset, this.#offset + b) : global);
    } catch (error) {
      read = Promise.reject(error);
    }
    read.catch(() => undefined);
    return read;
  }

  /**
   * Awaits a read-ahead batch. When the read fails, the steps this run trained are saved (the
   * checkpoint's data position is that of the failed batch, so a resumed run retries it), and
   * the read's error is thrown (a failure of that save is added to the error's message).
   */
  async #awaitBatch(pending: Promise<Batch>, trained: boolean): Promise<Batch> {
    try {
      return await pending;
    } catch (error) {
      const o = this.options;
      if (o.checkpoint && trained && this.#writes) {
        try {
          await o.checkpoint(this);
        } catch (saveError) {
          const also = `; the checkpoint after the last good step could not be written either: ${saveError instanceof Error ? saveError.message : String(saveError)}`;
          if (error instanceof PfgmError) throw new PfgmError(error.code, `${error.message}${also}`, { cause: error });
          throw error;
        }
      }
      const back = this.#resume;
      if (back !== undefined) this.loadState({ ...back, seed: o.seed });
      throw error;
    }
  }

  #nextIndices(n: number): Uint32Array {
    const out = new Uint32Array(n);
    const count = this.data.info.count;
    for (let i = 0; i < n; i++) {
      if (this.#position >= count) {
        this.#epoch++;
        this.#position = 0;
        this.#order = undefined;
      }
      if (this.#order === undefined) this.#order = epochOrder(count, this.options.seed, this.#epoch);
      out[i] = this.#order[this.#position++] as number;
    }
    return out;
  }

  /** Mirrors images at random; `first` is the global index of the batch's first sample. */
  #prepare(batch: Batch, step: number, first: number): Batch {
    if (!this.options.xflip || this.data.info.kind !== 'image') return batch;
    const [c, h, w] = this.data.info.shape as [number, number, number];
    const per = c * h * w;
    const n = batch.data.length / per;
    for (let i = 0; i < n; i++) {
      if (!flipFlag(this.options.seed, step, first + i)) continue;
      for (let row = 0; row < c * h; row++) batch.data.subarray(i * per + row * w, i * per + (row + 1) * w).reverse();
    }
    return batch;
  }

  #pfgmStep(batch: Batch, pfgm: PfgmSettings, stopVote: boolean) {
    const o = this.options;
    const per = this.net.sampleSize;
    // Every rank reads the whole reference batch; its small batch is its slice of the first
    // `batch` samples, so the field targets are those of one process.
    const b = this.localBatch;
    const first = this.#offset;
    const ld = this.data.info.labelDim;
    const labels =
      this.net.labelDim > 0 && ld > 0 && batch.labels !== undefined
        ? batch.labels.subarray(first * ld, (first + b) * ld)
        : undefined;
    return this.net.pfgmStep(batch.data.subarray(first * per, (first + b) * per), batch.data, {
      ...o,
      sampleOffset: first,
      stopVote,
      M: pfgm.M,
      tau: pfgm.tau,
      s: pfgm.s,
      gamma: pfgm.gamma,
      restrictM: pfgm.restrictM,
      labels,
    });
  }

  /**
   * Runs until `kimg` thousand images or `steps` steps in total, yielding a {@link TickStats} at
   * every tick and at the end.
   *
   * @throws PfgmError `ERR_PFGM_ARGUMENT` for a missing or out-of-range length
   *   ({@link MAX_RUN_LENGTH}); `ERR_PFGM_OUT_OF_MEMORY`, before any data is read, when the batch
   *   does not fit in memory by the estimate of {@link checkTrainingMemory} (the message names the
   *   largest batch that fits); and any error of reading a batch, after the steps trained so far
   *   are saved through `checkpoint`.
   */
  async *run(run: RunOptions): AsyncGenerator<TickStats, void, undefined> {
    const o = this.options;
    if (run.kimg === undefined && run.steps === undefined) {
      throw new PfgmError('ERR_PFGM_ARGUMENT', 'say how long to train: run({ kimg }) or run({ steps })');
    }
    checkRunLength(run);
    // Before any data is read: a batch far too large is refused at once (ERR_PFGM_OUT_OF_MEMORY).
    const readFor = (batch: number) => (o.objective === 'pfgm' ? Math.max(batch, o.pfgm.refBatch) : batch);
    // A rank holds its share of the batch, and with pfgm the whole reference batch.
    const world = this.distributed?.worldSize ?? 1;
    checkTrainingMemory(this.net, {
      batch: this.localBatch,
      microBatch: o.microBatch,
      readCount: (b) => readFor(b * world),
    });
    const group = this.distributed;
    if (group !== undefined) {
      // Before any step: the same network, options and data everywhere, then rank 0's weights,
      // optimizer state, counters and data position on every rank.
      await checkGroup(group, this.net, this.state(), this.data.info);
      await this.net.syncFromRoot(0);
      const [epoch, position] = await group.broadcast(Float64Array.of(this.#epoch, this.#position), 0);
      if (epoch !== this.#epoch || position !== this.#position)
        this.loadState({ epoch: epoch as number, position: position as number, seed: o.seed });
    }
    const targetImages = run.kimg !== undefined ? run.kimg * 1000 : Number.POSITIVE_INFINITY;
    const targetSteps = run.steps ?? Number.POSITIVE_INFINITY;
    const start = this.net.counters();
    const remainingImages = Math.min(targetImages - start.images, (targetSteps - start.steps) * o.batch);
    const tickImages = (o.tickKimg ?? Math.max(o.batch, remainingImages / 50) / 1000) * 1000;
    const useLabels = this.net.labelDim > 0 && this.data.info.labelDim > 0;
    const pfgm = o.objective === 'pfgm' ? await this.pfgmSettings() : undefined;
    // PFGM reads the large reference batch each step; its first `batch` samples are trained on.
    const readCount = pfgm !== undefined ? Math.max(o.batch, o.pfgm.refBatch) : o.batch;
    const t0 = performance.now();
    let tickStart = t0;
    let tickImagesSeen = 0;
    let tickLoss = 0;
    let tickNorm = 0;
    let tickSteps = 0;
    let ticks = 0;
    let last = { lr: 0 };
    const shard = pfgm === undefined;
    let pending = this.#readAhead(readCount, shard);
    for (;;) {
      const counters = this.net.counters();
      if (counters.images >= targetImages || counters.steps >= targetSteps) break;
      // In a group the ranks stop together: a signal becomes a vote carried by the next step.
      if (run.signal?.aborted && group === undefined) {
        if (o.checkpoint) await o.checkpoint(this);
        const back = this.#resume;
        if (back !== undefined) this.loadState({ ...back, seed: o.seed });
        run.signal.throwIfAborted();
      }
      const batch = this.#prepare(
        await this.#awaitBatch(pending, counters.steps > start.steps),
        counters.steps,
        shard ? this.#offset : 0,
      );
      // Read the next batch while this step runs natively.
      pending = this.#readAhead(readCount, shard);
      const stopVote = run.signal?.aborted === true;
      const r =
        pfgm !== undefined
          ? await this.#pfgmStep(batch, pfgm, stopVote)
          : await this.net.trainStep(batch.data, {
              ...o,
              labels: useLabels ? batch.labels : undefined,
              sampleOffset: this.#offset,
              stopVote,
            });
      last = r;
      if (r.stop && group !== undefined) {
        // Every rank finished this step and saw the vote: rank 0 saves it, all stop here.
        if (o.checkpoint && this.#writes) await o.checkpoint(this);
        const back = this.#resume;
        if (back !== undefined) this.loadState({ ...back, seed: o.seed });
        if (run.signal?.aborted) run.signal.throwIfAborted();
        throw new DOMException(`rank ${group.rank}: another rank of the group stopped the run`, 'AbortError');
      }
      if (!r.skipped) {
        tickLoss += r.loss;
        tickNorm += r.gradNorm;
        tickSteps++;
      }
      tickImagesSeen += o.batch;
      const after = this.net.counters();
      const done = after.images >= targetImages || after.steps >= targetSteps;
      if (tickImagesSeen >= tickImages || done) {
        const now = performance.now();
        const tick: TickStats = {
          kimg: after.images / 1000,
          step: after.steps,
          loss: tickSteps > 0 ? tickLoss / tickSteps : Number.NaN,
          lr: last.lr,
          imagesPerSecond: tickImagesSeen / ((now - tickStart) / 1000),
          skippedSteps: after.skipped,
          gradNorm: tickSteps > 0 ? tickNorm / tickSteps : Number.NaN,
          seconds: (now - t0) / 1000,
        };
        tickStart = now;
        tickImagesSeen = tickLoss = tickNorm = tickSteps = 0;
        ticks++;
        o.onProgress?.(tick);
        if (o.checkpoint && this.#writes && (done || (o.checkpointTicks > 0 && ticks % o.checkpointTicks === 0)))
          await o.checkpoint(this);
        yield tick;
      }
    }
    // The read-ahead of a batch that will not be used is dropped (its errors are already handled).
    const back = this.#resume;
    if (back !== undefined) {
      if (back.epoch !== this.#epoch) this.#order = undefined;
      this.#epoch = back.epoch;
      this.#position = back.position;
      this.#resume = undefined;
    }
  }
}
