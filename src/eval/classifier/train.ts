/**
 * Training and evaluating the feature classifier on a labelled image dataset, with the engine's
 * own forward, backward and Adam (one native call per step).
 *
 * @module
 */
import type { Dataset } from '../../data/dataset.js';
import { PfgmError } from '../../errors.js';
import { epochOrder } from '../../train/order.js';
import type { ClassifierConfig } from './config.js';
import { type Classifier, createClassifier } from './model.js';

/** Progress of {@link trainClassifier}, reported every `logEvery` steps and at each epoch's end. */
export interface ClassifierProgress {
  /** Epoch, from 0. */
  epoch: number;
  /** Steps done so far, over all epochs. */
  step: number;
  /** Steps of the whole run. */
  steps: number;
  /** Mean training loss since the last report. */
  loss: number;
  /** Training accuracy since the last report. */
  accuracy: number;
  /** The learning rate of the last step. */
  lr: number;
  /** Training throughput since the last report. */
  imagesPerSecond: number;
  /** True for the report that ends an epoch. */
  endOfEpoch: boolean;
}

/** Options of {@link trainClassifier}. */
export interface TrainClassifierOptions {
  /** Network overrides; `inChannels`, `resolution` and `classes` default to the dataset's. */
  config?: Partial<ClassifierConfig>;
  /** Passes over the data (default 6). */
  epochs?: number;
  /** Images per step (default 128). */
  batch?: number;
  /** Peak Adam learning rate (default 2e-3), reached after a linear warm-up, then cosine decay to 0. */
  lr?: number;
  /** Warm-up steps (default 200). */
  warmupSteps?: number;
  /** Mirror each image left-right with probability 1/2 (default false). */
  flip?: boolean;
  /** Seed of the initial weights, the data order and the flips (default 0). */
  seed?: number;
  /** Reports progress every this many steps (default 100). */
  logEvery?: number;
  /** Called with progress reports. */
  onProgress?: (progress: ClassifierProgress) => void;
  /** Stops after the current step when aborted (the classifier is returned as it is). */
  signal?: AbortSignal;
}

/** Result of {@link evaluateClassifier}. */
export interface ClassifierEvaluation {
  /** Fraction of images whose predicted class is their label. */
  accuracy: number;
  /** Number of correctly classified images. */
  correct: number;
  /** Number of images evaluated. */
  count: number;
  /** Mean softmax cross-entropy. */
  loss: number;
}

/** Options of {@link evaluateClassifier}. */
export interface EvaluateClassifierOptions {
  /** Evaluate only the first this many images (default: all). */
  limit?: number;
  /** Images per native call (default 500). */
  batch?: number;
}

function checkImages(fn: string, data: Dataset, c: ClassifierConfig | undefined): void {
  const info = data.info;
  if (info.kind !== 'image' || info.shape.length !== 3) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `${fn}: '${info.name}' is not an image dataset`);
  }
  if (info.labelDim < 2) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `${fn}: '${info.name}' has no class labels: a classifier trains and is evaluated on labelled data (e.g. idx() with { labels })`,
    );
  }
  if (c === undefined) return;
  const [ch, h, w] = info.shape as [number, number, number];
  if (ch !== c.inChannels || h !== c.resolution || w !== c.resolution || info.labelDim !== c.classes) {
    throw new PfgmError(
      'ERR_PFGM_SHAPE',
      `${fn}: '${info.name}' holds ${ch} x ${h} x ${w} images of ${info.labelDim} classes, but the classifier takes ` +
        `${c.inChannels} x ${c.resolution} x ${c.resolution} images of ${c.classes} classes`,
    );
  }
}

function positiveInt(fn: string, name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 1)
    throw new PfgmError('ERR_PFGM_ARGUMENT', `${fn}: ${name} must be a positive integer, got ${v}`);
  return v;
}

/** Left-right mirror of image i when bit i of the step's draw says so (deterministic per seed and step). */
function flipImages(x: Float32Array, count: number, channels: number, side: number, seed: number, step: number): void {
  let state = (seed * 0x9e3779b1 + step * 0x85ebca6b) >>> 0;
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    if ((state & 1) === 0) continue;
    for (let c = 0; c < channels; c++) {
      const base = (i * channels + c) * side * side;
      for (let r = 0; r < side; r++) x.subarray(base + r * side, base + (r + 1) * side).reverse();
    }
  }
}

/**
 * Trains a new classifier on a labelled image dataset: Adam with a linear warm-up and cosine
 * decay, a fresh shuffle per epoch. `scripts/train-classifier.mjs` runs it for Fashion-MNIST or
 * MNIST and writes the weights file.
 *
 * @param data - the training images with labels ({@link Dataset}, e.g. `fashionMnist()`).
 * @param options - see {@link TrainClassifierOptions}.
 * @throws {@link PfgmError} `ERR_PFGM_ARGUMENT` for a dataset without labels or bad options.
 */
export async function trainClassifier(data: Dataset, options: TrainClassifierOptions = {}): Promise<Classifier> {
  const fn = 'trainClassifier';
  checkImages(fn, data, undefined);
  const [channels, side] = data.info.shape as [number, number, number];
  const classifier = createClassifier(
    { inChannels: channels, resolution: side, classes: data.info.labelDim, ...options.config },
    { seed: options.seed ?? 0 },
  );
  try {
    checkImages(fn, data, classifier.config);
    const epochs = positiveInt(fn, 'epochs', options.epochs ?? 6);
    const batch = positiveInt(fn, 'batch', options.batch ?? 128);
    const logEvery = positiveInt(fn, 'logEvery', options.logEvery ?? 100);
    const peak = options.lr ?? 2e-3;
    if (!(peak > 0 && Number.isFinite(peak)))
      throw new PfgmError('ERR_PFGM_ARGUMENT', `${fn}: lr must be > 0, got ${peak}`);
    const warmup = options.warmupSteps ?? 200;
    const seed = options.seed ?? 0;
    const perEpoch = Math.floor(data.info.count / batch);
    if (perEpoch < 1)
      throw new PfgmError('ERR_PFGM_ARGUMENT', `${fn}: the dataset has fewer images than one batch (${batch})`);
    const steps = perEpoch * epochs;
    let step = 0;
    let lossSum = 0;
    let correct = 0;
    let seen = 0;
    let since = performance.now();
    let lr = 0;
    const report = (epoch: number, endOfEpoch: boolean) => {
      const now = performance.now();
      options.onProgress?.({
        epoch,
        step,
        steps,
        loss: seen > 0 ? lossSum / (seen / batch) : Number.NaN,
        accuracy: seen > 0 ? correct / seen : Number.NaN,
        lr,
        imagesPerSecond: (seen * 1000) / Math.max(now - since, 1),
        endOfEpoch,
      });
      lossSum = 0;
      correct = 0;
      seen = 0;
      since = now;
    };
    for (let epoch = 0; epoch < epochs; epoch++) {
      const order = epochOrder(data.info.count, seed, epoch);
      for (let b = 0; b < perEpoch; b++) {
        if (options.signal?.aborted) return classifier;
        const read = await data.read(order.subarray(b * batch, (b + 1) * batch));
        if (read.classes === undefined)
          throw new PfgmError('ERR_PFGM_ARGUMENT', `${fn}: the dataset returned no labels`);
        if (options.flip) flipImages(read.data, batch, channels, side, seed, step);
        // Linear warm-up to the peak, then cosine decay to 0 at the last step.
        const progress = Math.max(0, step - warmup) / Math.max(1, steps - warmup);
        lr = step < warmup ? (peak * (step + 1)) / warmup : peak * 0.5 * (1 + Math.cos(Math.PI * progress));
        const r = await classifier.trainStep(read.data, read.classes, { lr });
        step++;
        lossSum += r.loss;
        correct += r.correct;
        seen += batch;
        if (step % logEvery === 0) report(epoch, false);
      }
      report(epoch, true);
    }
    return classifier;
  } catch (e) {
    classifier.dispose();
    throw e;
  }
}

/**
 * Accuracy and mean cross-entropy of a classifier on a labelled image dataset (e.g. the test
 * split it did not train on).
 *
 * @param classifier - the classifier.
 * @param data - labelled images of the classifier's shape and classes.
 * @param options - see {@link EvaluateClassifierOptions}.
 */
export async function evaluateClassifier(
  classifier: Classifier,
  data: Dataset,
  options: EvaluateClassifierOptions = {},
): Promise<ClassifierEvaluation> {
  const fn = 'evaluateClassifier';
  checkImages(fn, data, classifier.config);
  const count = Math.min(data.info.count, options.limit ?? data.info.count);
  positiveInt(fn, 'limit', count);
  const chunk = positiveInt(fn, 'batch', options.batch ?? 500);
  const k = classifier.config.classes;
  let correct = 0;
  let loss = 0;
  for (let start = 0; start < count; start += chunk) {
    const n = Math.min(chunk, count - start);
    const indices = Int32Array.from({ length: n }, (_, i) => start + i);
    const read = await data.read(indices);
    const classes = read.classes as Int32Array;
    const { logits } = await classifier.forward(read.data, { batch: chunk });
    for (let i = 0; i < n; i++) {
      const z = logits.subarray(i * k, (i + 1) * k);
      let best = 0;
      let max = z[0] as number;
      for (let c = 1; c < k; c++) {
        if ((z[c] as number) > max) {
          max = z[c] as number;
          best = c;
        }
      }
      let sum = 0;
      for (let c = 0; c < k; c++) sum += Math.exp((z[c] as number) - max);
      const label = classes[i] as number;
      loss += Math.log(sum) - ((z[label] as number) - max);
      if (best === label) correct++;
    }
  }
  return { accuracy: correct / count, correct, count, loss: loss / count };
}
