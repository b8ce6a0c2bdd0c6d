/**
 * The one interface every data source implements: images or vectors, read by index so the
 * trainer can shuffle, and read lazily so a dataset larger than memory trains by streaming.
 *
 * @module
 */

/** What a dataset holds. */
export interface DatasetInfo {
  /** A short name for logs and checkpoints (e.g. `fashion-mnist`, `toy:moons`, a file name). */
  name: string;
  /** `image`: samples are [C, H, W] scaled to [-1, 1]; `vector`: samples are [N], as stored. */
  kind: 'image' | 'vector';
  /** Shape of one sample: [C, H, W] for images, [N] for vectors. */
  shape: number[];
  /** Number of samples. */
  count: number;
  /** Number of classes when the data has labels, else 0. */
  labelDim: number;
  /** Class names, when the source has them. */
  classNames?: string[];
}

/** Samples read from a dataset. */
export interface Batch {
  /** [n, ...shape] values, row-major (NCHW for images), images scaled to [-1, 1]. */
  data: Float32Array;
  /** One-hot labels [n, labelDim] when the dataset has labels. */
  labels?: Float32Array;
  /** Class index of each sample when the dataset has labels. */
  classes?: Int32Array;
}

/** A data source: {@link DatasetInfo} plus random access by index. */
export interface Dataset {
  /** Shape, size and labels of the data. */
  readonly info: DatasetInfo;
  /**
   * Reads the samples at `indices` (any order, repeats allowed), in that order.
   *
   * @throws PfgmError `ERR_PFGM_ARGUMENT` for an index outside [0, count), and a clear error
   *   naming the file and the problem when the source turns out to be corrupt.
   */
  read(indices: ArrayLike<number>): Promise<Batch>;
  /** Releases open files; reading afterwards is an error. Idempotent. */
  close(): Promise<void>;
  /** `await using data = await openDataset(...)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Elements of one sample of a dataset. */
export function sampleSize(info: DatasetInfo): number {
  return info.shape.reduce((a, b) => a * b, 1);
}
