/**
 * The feature classifier of the image metrics: a small CNN in the native engine (configuration
 * in {@link ClassifierConfig}) with forward, backward, softmax cross-entropy and Adam, its
 * weights file format, and the classifier that ships with the package.
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { native } from '../../addon/load.js';
import type { NativeClassifier, NativeParamInfo } from '../../addon/native.js';
import { decodeSafetensors, encodeSafetensors, type SafetensorsEntry } from '../../codecs/safetensors.js';
import { awaitNative, callNative, PfgmError } from '../../errors.js';
import { writeFileAtomic } from '../../io/atomic.js';
import type { ParameterInfo } from '../../models/network.js';
import { type ClassifierConfig, classifierConfig, toNativeClassifierConfig } from './config.js';

/** The `format` written to a classifier file's metadata. */
export const CLASSIFIER_FORMAT = 'pfgm-classifier';

/** Classifiers that ship with the package, by name. */
export type ShippedClassifier = 'fashion-mnist';

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/**
 * Where a shipped classifier's weights are (`assets/classifiers/<name>.safetensors` in the
 * package). The Fashion-MNIST classifier was trained by `scripts/train-classifier.mjs` on the 60k
 * training images with the project's own engine; its measured test accuracy is in the file's
 * metadata and in docs/metrics.md (91.95% on the 10k test images).
 */
export function shippedClassifierPath(name: ShippedClassifier): string {
  if (name !== 'fashion-mnist') {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `no shipped classifier '${String(name)}': the package ships 'fashion-mnist'`,
    );
  }
  return join(packageRoot, 'assets', 'classifiers', `${name}.safetensors`);
}

/** What a classifier file says about its classifier besides the weights. */
export interface ClassifierInfo {
  /** The dataset it was trained on (e.g. `fashion-mnist`, `mnist`), when recorded. */
  dataset?: string;
  /** Accuracy measured on the dataset's test split after training, when recorded. */
  testAccuracy?: number;
  /** Every `__metadata__` entry of the file, as stored. */
  metadata: Record<string, string>;
}

/** Loss and accuracy of a batch. */
export interface ClassifierLoss {
  /** Mean softmax cross-entropy over the batch. */
  loss: number;
  /** Number of samples whose top class is their label. */
  correct: number;
}

/** Options of {@link Classifier.trainStep}: torch.optim.Adam's hyperparameters. */
export interface ClassifierStepOptions {
  /** Learning rate of this step. */
  lr: number;
  /** Adam beta1 (default 0.9). */
  beta1?: number;
  /** Adam beta2 (default 0.999). */
  beta2?: number;
  /** Adam epsilon (default 1e-8). */
  eps?: number;
}

/** Output of {@link Classifier.forward}. */
export interface ClassifierOutput {
  /** [count, classes] logits. */
  logits: Float32Array;
  /** [count, featureDim] features (the feature layer's SiLU output), when asked for. */
  features?: Float32Array;
}

/** Options of {@link Classifier.forward}. */
export interface ClassifierForwardOptions {
  /** Also return the features (default false). */
  features?: boolean;
  /** Images per native call (default 256); bounds the memory of the activations. */
  batch?: number;
}

/** A feature classifier in the native engine; see {@link createClassifier} and {@link loadClassifier}. */
export class Classifier {
  /** The network's configuration. */
  readonly config: ClassifierConfig;
  /** Number of trainable parameters. */
  readonly paramCount: number;
  /** What the file it was loaded from records (empty metadata for a new classifier). */
  readonly info: ClassifierInfo;
  #native: NativeClassifier | undefined;
  readonly #params: NativeParamInfo[];

  /** @internal */
  constructor(config: ClassifierConfig, handle: NativeClassifier, info: ClassifierInfo) {
    this.config = config;
    this.info = info;
    this.#native = handle;
    const p = callNative(() => handle.paramInfo());
    this.#params = p.params;
    this.paramCount = p.paramCount;
  }

  /** Values of one image: channels x resolution x resolution. */
  get sampleSize(): number {
    return this.config.inChannels * this.config.resolution * this.config.resolution;
  }

  #handle(what: string): NativeClassifier {
    if (this.#native === undefined) throw new PfgmError('ERR_PFGM_DISPOSED', `${what}: the classifier was disposed`);
    return this.#native;
  }

  /** The trainable tensors, by name, in buffer order. */
  parameters(): ParameterInfo[] {
    return this.#params.map((p) => ({ ...p, shape: [...p.shape] }));
  }

  /** Copies of the weights (or of the last gradients) by name. */
  stateDict(which: 'params' | 'grads' = 'params'): Map<string, Float32Array> {
    const flat = callNative(() => this.#handle('stateDict').getBuffer(which));
    const out = new Map<string, Float32Array>();
    for (const p of this.#params) out.set(p.name, flat.slice(p.offset, p.offset + p.numel));
    return out;
  }

  /**
   * Loads weights by name; every parameter must be present with its exact size.
   *
   * @throws {@link PfgmError} `ERR_PFGM_ARGUMENT` naming the missing, unknown or mis-sized tensor.
   */
  loadStateDict(tensors: Map<string, Float32Array>): void {
    const h = this.#handle('loadStateDict');
    const known = new Set(this.#params.map((p) => p.name));
    for (const name of tensors.keys()) {
      if (!known.has(name))
        throw new PfgmError('ERR_PFGM_ARGUMENT', `loadStateDict: this classifier has no tensor '${name}'`);
    }
    const flat = new Float32Array(this.paramCount);
    for (const p of this.#params) {
      const t = tensors.get(p.name);
      if (t === undefined) throw new PfgmError('ERR_PFGM_ARGUMENT', `loadStateDict: tensor '${p.name}' is missing`);
      if (t.length !== p.numel) {
        throw new PfgmError(
          'ERR_PFGM_ARGUMENT',
          `loadStateDict: '${p.name}' has ${t.length} values, expected ${p.numel} (shape [${p.shape}])`,
        );
      }
      flat.set(t, p.offset);
    }
    callNative(() => h.setBuffer('params', flat));
  }

  #count(what: string, images: Float32Array): number {
    if (!(images instanceof Float32Array)) {
      throw new PfgmError('ERR_PFGM_DTYPE', `${what}: images must be a Float32Array (NCHW, values in [-1, 1])`);
    }
    const size = this.sampleSize;
    if (images.length === 0 || images.length % size !== 0) {
      const c = this.config;
      throw new PfgmError(
        'ERR_PFGM_SHAPE',
        `${what}: got ${images.length} values, not a whole number of ${c.inChannels} x ${c.resolution} x ${c.resolution} images (${size} values each)`,
      );
    }
    return images.length / size;
  }

  #labels(what: string, labels: Int32Array, count: number): void {
    if (!(labels instanceof Int32Array) || labels.length !== count) {
      throw new PfgmError('ERR_PFGM_SHAPE', `${what}: labels must be an Int32Array of ${count} class indices`);
    }
  }

  /**
   * Logits (and features) of a batch of images, NCHW in [-1, 1] as the datasets give them,
   * computed in chunks off the JS thread.
   */
  async forward(images: Float32Array, options: ClassifierForwardOptions = {}): Promise<ClassifierOutput> {
    const h = this.#handle('forward');
    const count = this.#count('forward', images);
    const chunk = options.batch ?? 256;
    if (!Number.isInteger(chunk) || chunk < 1) {
      throw new PfgmError('ERR_PFGM_ARGUMENT', `forward: batch must be a positive integer, got ${String(chunk)}`);
    }
    const { classes, featureDim } = this.config;
    const logits = new Float32Array(count * classes);
    const features = options.features ? new Float32Array(count * featureDim) : undefined;
    const size = this.sampleSize;
    for (let start = 0; start < count; start += chunk) {
      const n = Math.min(chunk, count - start);
      const x = images.subarray(start * size, (start + n) * size);
      const r = await awaitNative(() => h.forward({ batch: n, x, features: features !== undefined }));
      logits.set(r.logits, start * classes);
      if (features !== undefined && r.features !== undefined) features.set(r.features, start * featureDim);
    }
    return features === undefined ? { logits } : { logits, features };
  }

  /** The feature vectors ([count, featureDim]) of a batch of images. */
  async features(
    images: Float32Array,
    options: Omit<ClassifierForwardOptions, 'features'> = {},
  ): Promise<Float32Array> {
    const r = await this.forward(images, { ...options, features: true });
    return r.features as Float32Array;
  }

  /** The predicted class of each image. */
  async predict(images: Float32Array): Promise<Int32Array> {
    const { logits } = await this.forward(images);
    const k = this.config.classes;
    const out = new Int32Array(logits.length / k);
    for (let i = 0; i < out.length; i++) {
      let best = 0;
      for (let c = 1; c < k; c++) if ((logits[i * k + c] as number) > (logits[i * k + best] as number)) best = c;
      out[i] = best;
    }
    return out;
  }

  /** Cross-entropy loss, correct count and every gradient (read with `stateDict('grads')`); nothing is updated. */
  async lossAndGrad(images: Float32Array, labels: Int32Array): Promise<ClassifierLoss> {
    const h = this.#handle('lossAndGrad');
    const batch = this.#count('lossAndGrad', images);
    this.#labels('lossAndGrad', labels, batch);
    return awaitNative(() => h.lossAndGrad({ batch, x: images, labels }));
  }

  /** One training step in one native call: forward, cross-entropy, backward and an Adam update. */
  async trainStep(images: Float32Array, labels: Int32Array, options: ClassifierStepOptions): Promise<ClassifierLoss> {
    const h = this.#handle('trainStep');
    const batch = this.#count('trainStep', images);
    this.#labels('trainStep', labels, batch);
    return awaitNative(() =>
      h.trainStep({
        batch,
        x: images,
        labels,
        lr: options.lr,
        beta1: options.beta1,
        beta2: options.beta2,
        eps: options.eps,
      }),
    );
  }

  /**
   * Writes the weights as fp32 safetensors with the configuration and `metadata` (e.g. the
   * dataset and the measured test accuracy) in `__metadata__`, atomically.
   */
  async save(path: string, metadata: Record<string, string> = {}): Promise<void> {
    const weights = this.stateDict('params');
    const entries: [string, SafetensorsEntry][] = this.parameters().map((p) => [
      p.name,
      { dtype: 'F32', shape: p.shape, data: weights.get(p.name) as Float32Array },
    ]);
    const meta = { ...metadata, format: CLASSIFIER_FORMAT, config: JSON.stringify(this.config) };
    await writeFileAtomic(path, encodeSafetensors(entries, meta));
  }

  /** Frees the native classifier now (otherwise the garbage collector does). */
  dispose(): void {
    this.#native?.dispose();
    this.#native = undefined;
  }

  /** `using c = createClassifier()` disposes it at the end of the scope. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Options of {@link createClassifier}. */
export interface CreateClassifierOptions {
  /** Seed of the initial weights (default 0). */
  seed?: number;
}

/**
 * A new classifier with Xavier-uniform weights and zero biases (GroupNorm scales 1).
 *
 * @param config - overrides of {@link DEFAULT_CLASSIFIER_CONFIG}.
 * @param options - see {@link CreateClassifierOptions}.
 * @throws {@link PfgmError} `ERR_PFGM_ARGUMENT` for an invalid configuration.
 */
export function createClassifier(
  config: Partial<ClassifierConfig> = {},
  options: CreateClassifierOptions = {},
): Classifier {
  return build(config, options.seed ?? 0, { metadata: {} });
}

function build(config: Partial<ClassifierConfig>, seed: number, info: ClassifierInfo): Classifier {
  const c = classifierConfig(config);
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `createClassifier: seed must be a non-negative integer, got ${String(seed)}`,
    );
  }
  const Ctor = native().Classifier;
  const handle = callNative(() => new Ctor(toNativeClassifierConfig(c, seed)));
  return new Classifier(c, handle, info);
}

/**
 * Loads a classifier: the one shipped with the package (`'fashion-mnist'`, the default) or a
 * file written by {@link Classifier.save} / `scripts/train-classifier.mjs` (e.g. one trained on
 * MNIST, which does not ship with the package).
 *
 * @param source - a shipped classifier's name or a path to a classifier file.
 * @throws {@link PfgmError} `ERR_PFGM_ARGUMENT` when the file is missing, is not a classifier
 *   file, or does not match its recorded configuration.
 */
export async function loadClassifier(source: ShippedClassifier | string = 'fashion-mnist'): Promise<Classifier> {
  const path = source === 'fashion-mnist' ? shippedClassifierPath(source) : source;
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `loadClassifier: cannot read '${path}' (${(e as Error).message}): give 'fashion-mnist' or the path of a classifier ` +
        'file written by scripts/train-classifier.mjs',
      { cause: e },
    );
  }
  const file = decodeSafetensors(bytes);
  if (file.metadata.format !== CLASSIFIER_FORMAT || file.metadata.config === undefined) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `loadClassifier: '${path}' is not a pfgm classifier file (its metadata lacks format '${CLASSIFIER_FORMAT}' and a config): ` +
        'train one with scripts/train-classifier.mjs',
    );
  }
  let config: Partial<ClassifierConfig>;
  try {
    config = JSON.parse(file.metadata.config) as Partial<ClassifierConfig>;
  } catch {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `loadClassifier: '${path}' has a config that is not JSON`);
  }
  const accuracy = Number(file.metadata.test_accuracy);
  const info: ClassifierInfo = { metadata: { ...file.metadata } };
  if (file.metadata.dataset !== undefined) info.dataset = file.metadata.dataset;
  if (Number.isFinite(accuracy)) info.testAccuracy = accuracy;
  const classifier = build(config, 0, info);
  const weights = new Map<string, Float32Array>();
  for (const [name, t] of file.tensors) {
    if (!(t.data instanceof Float32Array)) {
      classifier.dispose();
      throw new PfgmError('ERR_PFGM_ARGUMENT', `loadClassifier: tensor '${name}' of '${path}' is ${t.dtype}, not F32`);
    }
    weights.set(name, t.data);
  }
  try {
    classifier.loadStateDict(weights);
  } catch (e) {
    classifier.dispose();
    throw e;
  }
  return classifier;
}
