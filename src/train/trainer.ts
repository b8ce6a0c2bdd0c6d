/**
 * The training loop (DESIGN "TypeScript API"): batches from a {@link Dataset} in a seeded
 * per-epoch order, one native step each (perturbation, forward, loss, backward, Adam, EMA), ticks
 * reported as an async iterator and as progress events, abort with a final checkpoint, and
 * exact resume.
 *
 * @module
 */
import type { Batch, Dataset } from '../data/dataset.js';
import { PfgmError } from '../errors.js';
import type { Network, Objective, PfgmSettings } from '../models/network.js';
import { pfgmHyperparameters } from '../physics/pfgm.js';
import { checkD, checkNonNegative, checkPositive } from '../validate.js';
import { epochOrder, flipFlag } from './order.js';

export type { Objective } from '../models/network.js';

/** Options of the `pfgm` objective (METHOD §3); M, z_max and upper_norm come from the data. */
export interface PfgmTrainOptions {
  /**
   * The large batch over which the field target (3.1) is computed, containing the small batch
   * (default 4096, the paper's CIFAR-10 value, or the whole dataset when smaller).
   */
  refBatch?: number;
  /** Growth rate tau (default 0.03). */
  tau?: number;
  /** Smallest perturbation scale s (default 0.01). */
  s?: number;
  /** gamma of the normalisation (default 5). */
  gamma?: number;
  /** The paper's restrict_M (default true). */
  restrictM?: boolean;
  /** Override M (default: METHOD §3's rule of thumb from the data's mean norm). */
  M?: number;
}

/** Hyperparameters of a {@link Trainer}; EDM's defaults where it has them. */
export interface TrainerOptions {
  /** Samples per step (default 64). */
  batch?: number;
  /** Accumulate gradients over chunks of this many samples (default: the whole batch). */
  microBatch?: number;
  /** Augmented dimensions D (default: the network's {@link Network.D}). */
  D?: number;
  /**
   * Objective (default: the network's, {@link Network.objective}): `pfgmpp` (METHOD §2.2, any
   * D > 0 and Infinity) or `pfgm` (METHOD §3, for a network created with `{ objective: 'pfgm' }`).
   */
  objective?: Objective;
  /** Options of the `pfgm` objective. */
  pfgm?: PfgmTrainOptions;
  /** Stable target field: the batch posterior mean as the target (METHOD §2.4; default false). */
  stf?: boolean;
  /** Adam learning rate after ramp-up (default 1e-3, EDM's). */
  lr?: number;
  /** Learning-rate ramp-up in thousands of images (default 10000, EDM's). */
  lrRampupKimg?: number;
  /** EMA half-life in thousands of images (default 500, EDM's). */
  emaHalflifeKimg?: number;
  /** EMA ramp-up ratio (default 0.05, EDM's). */
  emaRampupRatio?: number;
  /** Clip the global gradient norm (default 0: off). */
  gradClip?: number;
  /** Seed of the data order, the perturbations and dropout (default 0). */
  seed?: number;
  /** Mirror images horizontally with probability 1/2 (EDM's --xflip; default false). */
  xflip?: boolean;
  /** Report a tick every this many thousand images (default: about 50 ticks per run). */
  tickKimg?: number;
  /** Called with every tick's statistics. */
  onProgress?: (tick: TickStats) => void;
  /**
   * Called to write a checkpoint: at the end of a run, when aborted (before the abort error is
   * thrown), and every `checkpointTicks` ticks.
   */
  checkpoint?: (trainer: Trainer) => Promise<void>;
  /** Ticks between periodic checkpoints (default 0: only at the end and on abort). */
  checkpointTicks?: number;
}

/** What one tick reports. */
export interface TickStats {
  /** Thousands of images seen so far. */
  kimg: number;
  /** Training steps so far. */
  step: number;
  /** Mean loss over the tick's steps (METHOD §2.2). */
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
}

/** How long to run: a number of thousand images or of steps (from the start of training). */
export interface RunOptions {
  /** Stop once this many thousand images have been seen in total. */
  kimg?: number;
  /** Stop after this many steps in total. */
  steps?: number;
  /** Aborting writes a checkpoint (when configured) and then rejects with the signal's reason. */
  signal?: AbortSignal;
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1)
    throw new PfgmError('ERR_PFGM_ARGUMENT', `${name} must be a positive integer, got ${v}`);
  return v;
}

/**
 * Trains a network on a dataset.
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
  /** The resolved options. */
  readonly options: Readonly<
    Required<Omit<TrainerOptions, 'onProgress' | 'checkpoint' | 'microBatch' | 'tickKimg' | 'pfgm'>>
  > &
    Pick<TrainerOptions, 'onProgress' | 'checkpoint' | 'microBatch' | 'tickKimg'> & {
      /** The resolved options of the `pfgm` objective. */
      readonly pfgm: Readonly<Required<Omit<PfgmTrainOptions, 'M'>>> & Pick<PfgmTrainOptions, 'M'>;
    };
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
    const objective = options.objective ?? net.objective;
    if (objective !== 'pfgmpp' && objective !== 'pfgm') {
      throw new PfgmError('ERR_PFGM_ARGUMENT', `objective must be 'pfgmpp' or 'pfgm', got '${String(objective)}'`);
    }
    if (objective !== net.objective) {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        objective === 'pfgm'
          ? `the pfgm objective needs a network with PFGM's extra z output: createNetwork(config, { objective: 'pfgm' })`
          : `this network predicts PFGM's field; train it with objective 'pfgm', or create a denoiser for 'pfgmpp'`,
      );
    }
    if (objective === 'pfgm' && options.stf) {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        'stf is an option of the pfgmpp objective; PFGM has its own large-batch target',
      );
    }
    if (objective === 'pfgm' && options.D !== undefined && options.D !== 1) {
      throw new PfgmError('ERR_PFGM_ARGUMENT', `the pfgm objective is D = 1, got D = ${options.D}`);
    }
    const p = options.pfgm ?? {};
    this.options = {
      batch: positiveInt('batch', options.batch ?? 64),
      microBatch: options.microBatch,
      D: checkD(options.D ?? net.D),
      objective,
      stf: options.stf ?? false,
      lr: options.lr ?? 1e-3,
      lrRampupKimg: options.lrRampupKimg ?? 10000,
      emaHalflifeKimg: options.emaHalflifeKimg ?? 500,
      emaRampupRatio: options.emaRampupRatio ?? 0.05,
      gradClip: options.gradClip ?? 0,
      seed: options.seed ?? 0,
      xflip: options.xflip ?? false,
      tickKimg: options.tickKimg,
      onProgress: options.onProgress,
      checkpoint: options.checkpoint,
      checkpointTicks: options.checkpointTicks ?? 0,
      pfgm: {
        refBatch: Math.min(positiveInt('pfgm.refBatch', p.refBatch ?? 4096), data.info.count),
        tau: checkPositive('pfgm.tau', p.tau ?? 0.03),
        s: checkPositive('pfgm.s', p.s ?? 0.01),
        gamma: checkNonNegative('pfgm.gamma', p.gamma ?? 5),
        restrictM: p.restrictM ?? true,
        M: p.M === undefined ? undefined : checkNonNegative('pfgm.M', p.M),
      },
    };
  }

  /**
   * PFGM's hyperparameters (METHOD §3) from the data: the mean L2 norm of up to 4096 samples in a
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

  /** Where the run stands in its data (for checkpoints). */
  state(): TrainerState {
    const at = this.#resume ?? { epoch: this.#epoch, position: this.#position };
    return { ...at, seed: this.options.seed };
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

  #readAhead(n: number): Promise<Batch> {
    this.#resume = { epoch: this.#epoch, position: this.#position };
    return this.data.read(this.#nextIndices(n));
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

  #prepare(batch: Batch, step: number): Batch {
    if (!this.options.xflip || this.data.info.kind !== 'image') return batch;
    const [c, h, w] = this.data.info.shape as [number, number, number];
    const per = c * h * w;
    const n = batch.data.length / per;
    for (let i = 0; i < n; i++) {
      if (!flipFlag(this.options.seed, step, i)) continue;
      for (let row = 0; row < c * h; row++) batch.data.subarray(i * per + row * w, i * per + (row + 1) * w).reverse();
    }
    return batch;
  }

  #pfgmStep(batch: Batch, pfgm: PfgmSettings) {
    const o = this.options;
    const per = this.net.sampleSize;
    const labels =
      this.net.labelDim > 0 && this.data.info.labelDim > 0 && batch.labels !== undefined
        ? batch.labels.subarray(0, o.batch * this.data.info.labelDim)
        : undefined;
    return this.net.pfgmStep(batch.data.subarray(0, o.batch * per), batch.data, {
      M: pfgm.M,
      tau: pfgm.tau,
      s: pfgm.s,
      gamma: pfgm.gamma,
      restrictM: pfgm.restrictM,
      seed: o.seed,
      labels,
      microBatch: o.microBatch,
      lr: o.lr,
      lrRampupKimg: o.lrRampupKimg,
      emaHalflifeKimg: o.emaHalflifeKimg,
      emaRampupRatio: o.emaRampupRatio,
      gradClip: o.gradClip,
    });
  }

  /**
   * Runs until `kimg` thousand images or `steps` steps in total, yielding a {@link TickStats} at
   * every tick and at the end.
   */
  async *run(run: RunOptions): AsyncGenerator<TickStats, void, undefined> {
    const o = this.options;
    if (run.kimg === undefined && run.steps === undefined) {
      throw new PfgmError('ERR_PFGM_ARGUMENT', 'say how long to train: run({ kimg }) or run({ steps })');
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
    let pending = this.#readAhead(readCount);
    for (;;) {
      const counters = this.net.counters();
      if (counters.images >= targetImages || counters.steps >= targetSteps) break;
      if (run.signal?.aborted) {
        pending.catch(() => undefined);
        if (o.checkpoint) await o.checkpoint(this);
        const back = this.#resume;
        if (back !== undefined) this.loadState({ ...back, seed: o.seed });
        run.signal.throwIfAborted();
      }
      const batch = this.#prepare(await pending, counters.steps);
      // Read the next batch while this step runs natively.
      pending = this.#readAhead(readCount);
      const r =
        pfgm !== undefined
          ? await this.#pfgmStep(batch, pfgm)
          : await this.net.trainStep(batch.data, {
              D: o.D,
              seed: o.seed,
              labels: useLabels ? batch.labels : undefined,
              microBatch: o.microBatch,
              stf: o.stf,
              lr: o.lr,
              lrRampupKimg: o.lrRampupKimg,
              emaHalflifeKimg: o.emaHalflifeKimg,
              emaRampupRatio: o.emaRampupRatio,
              gradClip: o.gradClip,
            });
      last = r;
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
        if (o.checkpoint && (done || (o.checkpointTicks > 0 && ticks % o.checkpointTicks === 0)))
          await o.checkpoint(this);
        yield tick;
      }
    }
    // The read-ahead of a batch that will not be used: drop it (and any error it raises).
    pending.catch(() => undefined);
    const back = this.#resume;
    if (back !== undefined) {
      if (back.epoch !== this.#epoch) this.#order = undefined;
      this.#epoch = back.epoch;
      this.#position = back.position;
      this.#resume = undefined;
    }
  }
}
