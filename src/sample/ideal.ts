/**
 * The ideal denoiser of docs/method.md §2.4: the exact posterior mean E[y | x, sigma] of a finite reference
 * set under the perturbation kernel (2.1) of any D (Gaussian for D = Infinity), usable wherever a
 * model is ({@link sample}, the solvers, {@link nll}). It is the exact optimum of the training
 * objective for the empirical distribution, so sampling with it lands on reference points: the
 * ground truth for solver tests.
 *
 * @module
 */
import { native } from '../addon/load.js';
import type { NativeIdealDenoiser } from '../addon/native.js';
import type { Dataset } from '../data/dataset.js';
import { awaitNative, callNative, PfgmError } from '../errors.js';
import type { VjpResult } from '../models/network.js';
import { checkShape } from '../tensor.js';
import { checkD, checkInteger } from '../validate.js';
import type { DenoiseOptions, Sampleable } from './types.js';

/** Options of {@link idealDenoiser}. */
export interface IdealDenoiserOptions {
  /** Augmented dimensions D of the kernel: any D > 0, or Infinity (Gaussian, EDM). */
  D: number;
  /**
   * Shape of one sample, e.g. `[2]` or `[1, 28, 28]`; required for a Float32Array (a dataset
   * brings its own).
   */
  shape?: readonly number[];
  /**
   * Class of each reference (integers in [0, labelDim)) for a class-conditional denoiser; a
   * dataset with labels brings its own. Then `denoise(x, sigma, { labels })` with one-hot labels
   * is the posterior over that class's references, and all-zero labels the unconditional one.
   */
  classes?: ArrayLike<number>;
  /** Number of classes (default: the largest class + 1). */
  labelDim?: number;
}

/** Reads one-hot (or all-zero: unconditional) labels as class indices (-1 = unconditional). */
function classesOf(labels: Float32Array, batch: number, labelDim: number): Int32Array {
  if (labels.length !== batch * labelDim) {
    throw new PfgmError(
      'ERR_PFGM_SHAPE',
      `labels have ${labels.length} values, expected [${batch}, ${labelDim}] (one-hot rows, or zeros for unconditional)`,
    );
  }
  const out = new Int32Array(batch);
  for (let i = 0; i < batch; i++) {
    let cls = -1;
    for (let c = 0; c < labelDim; c++) {
      const v = labels[i * labelDim + c] as number;
      if (v === 0) continue;
      if (v !== 1 || cls !== -1) {
        throw new PfgmError(
          'ERR_PFGM_ARGUMENT',
          `labels row ${i} is neither one-hot nor all zeros: the ideal denoiser conditions on one class (or none)`,
        );
      }
      cls = c;
    }
    out[i] = cls;
  }
  return out;
}

/**
 * A reference set as a denoiser (see {@link idealDenoiser}). Calls run on a worker thread in fp32
 * with double accumulation; dispose it to free the native copy of the references.
 */
export class IdealDenoiser implements Sampleable {
  /** Augmented dimensions D of the kernel. */
  readonly D: number;
  /** Shape of one sample. */
  readonly sampleShape: readonly number[];
  /** Number of classes (0: unconditional). */
  readonly labelDim: number;
  /** Number of reference samples. */
  readonly count: number;
  #native: NativeIdealDenoiser | undefined;
  readonly #n: number;

  /** @internal */
  constructor(handle: NativeIdealDenoiser, shape: readonly number[]) {
    this.#native = handle;
    const info = callNative(() => handle.info());
    this.D = info.D;
    this.labelDim = info.labelDim;
    this.count = info.count;
    this.#n = info.n;
    this.sampleShape = [...shape];
  }

  #call(what: string, x: Float32Array, sigma: Float32Array | number, options: DenoiseOptions) {
    if (this.#native === undefined) {
      throw new PfgmError('ERR_PFGM_DISPOSED', `${what}: the ideal denoiser was disposed`);
    }
    if (!(x instanceof Float32Array)) throw new PfgmError('ERR_PFGM_DTYPE', `${what}: x must be a Float32Array`);
    const batch = Math.floor(x.length / this.#n);
    if (batch < 1 || batch * this.#n !== x.length) {
      throw new PfgmError(
        'ERR_PFGM_SHAPE',
        `${what}: got ${x.length} values, expected a whole batch of samples of shape [${this.sampleShape}] (${this.#n} each)`,
      );
    }
    let s: Float64Array;
    if (typeof sigma === 'number') {
      s = new Float64Array(batch).fill(sigma);
    } else if (sigma instanceof Float32Array && sigma.length === batch) {
      s = Float64Array.from(sigma);
    } else {
      throw new PfgmError('ERR_PFGM_SHAPE', `${what}: sigma must be a number or a Float32Array of ${batch} values`);
    }
    let classes: Int32Array | undefined;
    if (options.labels !== undefined) {
      if (this.labelDim === 0) {
        throw new PfgmError('ERR_PFGM_ARGUMENT', `${what}: this ideal denoiser is unconditional but labels were given`);
      }
      classes = classesOf(options.labels, batch, this.labelDim);
    }
    return { handle: this.#native, args: { x, sigma: s, classes } };
  }

  /**
   * E[y | x, sigma] per sample (docs/method.md (2.4)), over the references of the class of each one-hot
   * label row, or all of them without labels or for all-zero rows.
   */
  async denoise(x: Float32Array, sigma: Float32Array | number, options: DenoiseOptions = {}): Promise<Float32Array> {
    const { handle, args } = this.#call('denoise', x, sigma, options);
    return awaitNative(() => handle.denoise(args));
  }

  /**
   * The posterior mean and its input VJP `v^T dE[y | x, sigma]/dx`, exact: with the posterior
   * weights w_j and `c_j = (N + D) / (||x - y_j||^2 + r^2)` (1 / sigma^2 for D = Infinity),
   * `v^T dm/dx = sum_j w_j (v . (y_j - m)) c_j (y_j - x)`.
   */
  async inputVjp(
    x: Float32Array,
    sigma: Float32Array | number,
    v: Float32Array,
    options: DenoiseOptions = {},
  ): Promise<VjpResult> {
    const { handle, args } = this.#call('inputVjp', x, sigma, options);
    if (!(v instanceof Float32Array) || v.length !== x.length) {
      throw new PfgmError('ERR_PFGM_SHAPE', `inputVjp: v must be a Float32Array of the length of x (${x.length})`);
    }
    return awaitNative(() => handle.inputVjp({ ...args, v }));
  }

  /** Frees the native copy of the references now (otherwise the garbage collector does). */
  dispose(): void {
    this.#native?.dispose();
    this.#native = undefined;
  }

  /** `using ideal = await idealDenoiser(...)` disposes it at the end of the scope. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}

async function readAll(data: Dataset): Promise<{ y: Float32Array; classes?: Int32Array }> {
  const { count, shape, labelDim } = data.info;
  const per = shape.reduce((a, b) => a * b, 1);
  const y = new Float32Array(count * per);
  const classes = labelDim > 0 ? new Int32Array(count) : undefined;
  const chunk = 4096;
  for (let start = 0; start < count; start += chunk) {
    const idx = Array.from({ length: Math.min(chunk, count - start) }, (_, k) => start + k);
    const batch = await data.read(idx);
    y.set(batch.data, start * per);
    if (classes !== undefined) {
      if (batch.classes === undefined) {
        throw new PfgmError(
          'ERR_PFGM_ARGUMENT',
          `dataset '${data.info.name}' has labelDim ${labelDim} but gave no classes`,
        );
      }
      classes.set(batch.classes, start);
    }
  }
  return { y, classes };
}

/**
 * The ideal denoiser of a reference set: a Float32Array `[count, ...shape]` (with `shape`) or a
 * {@link Dataset} (read whole; its labels make it class-conditional). The result works wherever a
 * model does: `sample(ideal, ...)`, `heun((x, s) => ideal.denoise(x, s), ...)`, `nll(ideal, ...)`.
 *
 * @example
 * ```ts
 * const refs = toySampler('gaussians')(16, 0);                  // 16 points in 2-D
 * using ideal = await idealDenoiser(refs, { D: 128, shape: [2] });
 * const { x } = await sample(ideal, { count: 64, steps: 18, seed: 0, sigmaMax: 20 });
 * // every sample sits on one of the 16 points
 * ```
 * @throws PfgmError `ERR_PFGM_SHAPE` when the array is not a whole number of samples of `shape`,
 *   `ERR_PFGM_ARGUMENT` for a bad D, class or label count.
 */
export async function idealDenoiser(
  reference: Float32Array | Dataset,
  options: IdealDenoiserOptions,
): Promise<IdealDenoiser> {
  const D = checkD(options.D);
  let y: Float32Array;
  let shape: number[];
  let classes: Int32Array | undefined;
  let labelDim = 0;
  if (reference instanceof Float32Array) {
    if (options.shape === undefined) {
      throw new PfgmError('ERR_PFGM_ARGUMENT', 'idealDenoiser: give the shape of one sample (e.g. { shape: [2] })');
    }
    shape = checkShape(options.shape, 'shape');
    y = reference;
  } else if (reference !== null && typeof reference === 'object' && 'info' in reference) {
    shape = [...reference.info.shape];
    if (options.shape !== undefined && options.shape.join() !== shape.join()) {
      throw new PfgmError(
        'ERR_PFGM_SHAPE',
        `idealDenoiser: the dataset's samples have shape [${shape}], not [${options.shape}]`,
      );
    }
    const all = await readAll(reference);
    y = all.y;
    classes = all.classes;
    labelDim = reference.info.labelDim;
  } else {
    throw new PfgmError('ERR_PFGM_ARGUMENT', 'idealDenoiser: the reference set must be a Float32Array or a Dataset');
  }
  const n = shape.reduce((a, b) => a * b, 1);
  if (n < 1 || y.length < n || y.length % n !== 0) {
    throw new PfgmError(
      'ERR_PFGM_SHAPE',
      `idealDenoiser: ${y.length} values are not a whole number (>= 1) of samples of shape [${shape}]`,
    );
  }
  if (options.classes !== undefined) {
    classes = Int32Array.from(options.classes, (c, i) => checkInteger(`classes[${i}]`, c, 0, 2 ** 31 - 1));
    labelDim = 0;
  }
  if (classes !== undefined) {
    let max = -1;
    for (const c of classes) max = Math.max(max, c);
    labelDim = options.labelDim ?? Math.max(labelDim, max + 1);
    checkInteger('labelDim', labelDim, 1);
  } else if (options.labelDim !== undefined) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', 'idealDenoiser: labelDim needs the class of each reference (classes)');
  }
  const handle = callNative(() => new (native().IdealDenoiser)({ y, n, D, classes, labelDim }));
  return new IdealDenoiser(handle, shape);
}
