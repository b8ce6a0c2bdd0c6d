/**
 * Pieces shared by the data sources: index checks, one-hot labels, file reading with errors that
 * name the file, and an in-memory {@link Dataset}. Internal.
 *
 * @internal
 * @module
 */
import { readFile, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gunzip as gunzipCallback } from 'node:zlib';
import { PfgmError } from '../errors.js';
import type { Batch, Dataset, DatasetInfo } from './dataset.js';
import { sampleSize } from './dataset.js';

/** Throws `ERR_PFGM_ARGUMENT` unless every index is an integer in [0, count). */
export function checkIndices(name: string, indices: ArrayLike<number>, count: number): void {
  if (indices === null || typeof indices !== 'object' || typeof indices.length !== 'number') {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `${name}: read(indices) needs an array of sample indices`);
  }
  for (let i = 0; i < indices.length; i++) {
    const v = indices[i];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= count) {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `${name}: index ${String(v)} (position ${i} of read's indices) is outside [0, ${count}): ` +
          `the dataset has ${count} samples, numbered from 0`,
      );
    }
  }
}

/** One-hot rows [n, labelDim] for class indices already checked to lie in [0, labelDim). */
export function oneHot(classes: Int32Array, labelDim: number): Float32Array {
  const out = new Float32Array(classes.length * labelDim);
  for (let i = 0; i < classes.length; i++) out[i * labelDim + (classes[i] as number)] = 1;
  return out;
}

/** The error for reading a dataset after `close()`. */
export function closedError(name: string): PfgmError {
  return new PfgmError('ERR_PFGM_DISPOSED', `${name}: the dataset was closed; open it again to read from it`);
}

/** Turns a file-system error into a {@link PfgmError} naming the file and what it was for. */
export function fileError(path: string, what: string, error: unknown): PfgmError {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ENOENT') {
    return new PfgmError('ERR_PFGM_ARGUMENT', `${what} '${path}' does not exist: check the path`, { cause: error });
  }
  if (code === 'EISDIR') {
    return new PfgmError('ERR_PFGM_ARGUMENT', `${what} '${path}' is a folder, expected a file`, { cause: error });
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new PfgmError('ERR_PFGM_ARGUMENT', `${what} '${path}' cannot be read: permission denied`, {
      cause: error,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new PfgmError('ERR_PFGM_ARGUMENT', `${what} '${path}' cannot be read: ${message}`, { cause: error });
}

/** Reads a whole file, with errors that name it. */
export async function readWhole(path: string, what: string): Promise<Buffer> {
  if (typeof path !== 'string' || path.length === 0) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `${what}: expected a file path string, got ${JSON.stringify(path)}`);
  }
  try {
    return await readFile(path);
  } catch (error) {
    throw fileError(path, what, error);
  }
}

const gunzip = promisify(gunzipCallback);

/** Reads a file and gunzips it when it starts with the gzip magic bytes (1f 8b). */
export async function readMaybeGzip(path: string, what: string): Promise<Buffer> {
  const raw = await readWhole(path, what);
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      return await gunzip(raw); // in zlib's thread pool, off the JS thread
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `${what} '${path}' is a damaged gzip file (${message}): download or copy it again`,
        { cause: error },
      );
    }
  }
  return raw;
}

/** Whether a path is a folder (false when it does not exist). */
export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** Whether a path is a regular file (false when it does not exist). */
export async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Writes sample `index` into `out` at `offset` (sampleSize values). */
export type FillSample = (index: number, out: Float32Array, offset: number) => void;

/** A {@link Dataset} whose samples are in memory, produced by a fill function. */
export class MemoryDataset implements Dataset {
  readonly info: DatasetInfo;
  #fill: FillSample;
  #classes: Int32Array | undefined;
  #closed = false;

  /**
   * @param info - what the dataset holds
   * @param fill - writes one sample
   * @param classes - class index of every sample when `info.labelDim > 0`
   */
  constructor(info: DatasetInfo, fill: FillSample, classes?: Int32Array) {
    this.info = info;
    this.#fill = fill;
    this.#classes = info.labelDim > 0 ? classes : undefined;
  }

  /** Reads the samples at `indices`. */
  async read(indices: ArrayLike<number>): Promise<Batch> {
    if (this.#closed) throw closedError(this.info.name);
    checkIndices(this.info.name, indices, this.info.count);
    const size = sampleSize(this.info);
    const n = indices.length;
    const data = new Float32Array(n * size);
    for (let i = 0; i < n; i++) this.#fill(indices[i] as number, data, i * size);
    return withLabels({ data }, this.info, this.#classes, indices);
  }

  /** Drops the references to the data (so it can be garbage-collected). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#fill = () => undefined;
    this.#classes = undefined;
  }
}

/** Adds `classes` and one-hot `labels` to a batch when the dataset has labels. */
export function withLabels(
  batch: Batch,
  info: DatasetInfo,
  classes: Int32Array | undefined,
  indices: ArrayLike<number>,
): Batch {
  if (classes === undefined || info.labelDim === 0) return batch;
  const picked = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) picked[i] = classes[indices[i] as number] as number;
  return { ...batch, labels: oneHot(picked, info.labelDim), classes: picked };
}

/** Scales a byte 0..255 to [-1, 1] as EDM does (x / 127.5 - 1). */
export function scaleByte(v: number): number {
  return v / 127.5 - 1;
}

/** The base name of a path (after the last / or \). */
export function baseName(path: string): string {
  const parts = path.split(/[/\\]/).filter((p) => p.length > 0);
  return parts[parts.length - 1] ?? path;
}
