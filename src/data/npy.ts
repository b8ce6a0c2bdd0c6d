/**
 * Vectors and images from a NumPy .npy file, read lazily: the file stays open and each
 * `read(indices)` reads only the rows it asks for, so a file larger than memory trains by
 * streaming.
 *
 * @module
 */
import { type FileHandle, open } from 'node:fs/promises';
import {
  decodeNpyValues,
  type NpyHeader,
  npyError,
  npyHeaderLength,
  npyShapeText,
  parseNpyHeader,
} from '../codecs/npy.js';
import { PfgmError } from '../errors.js';
import { baseName, checkIndices, closedError, fileError, readWhole, withLabels } from './common.js';
import type { Batch, Dataset, DatasetInfo } from './dataset.js';

const MAX_RUN_BYTES = 8 << 20;

/** Options of {@link npy}. */
export interface NpyOptions {
  /**
   * A second .npy file of integer class labels, shape (count,) or (count, 1), values 0..K-1
   * (`labelDim` = largest label + 1).
   */
  labels?: string;
  /**
   * `vector` (the default for 1-D and 2-D arrays; a 3-D or larger array is flattened to one
   * vector per sample) or `image` (3-D [n, H, W] or 4-D arrays, see `layout`, scaled by `range`).
   * 3-D and 4-D arrays must say which they are.
   */
  kind?: 'vector' | 'image';
  /** Axis order of a 4-D image array: `nchw` = [n, C, H, W], `nhwc` = [n, H, W, C]. */
  layout?: 'nchw' | 'nhwc';
  /**
   * The [lo, hi] of the stored pixel values, mapped linearly to [-1, 1]. Default [0, 255] for
   * uint8; required for every other dtype (e.g. [0, 1], or [-1, 1] to keep the values).
   */
  range?: [number, number];
}

/** How one stored row becomes one sample. */
interface Layout {
  info: DatasetInfo;
  /** Elements per stored row. */
  rowElems: number;
  /** Image: [C, H, W] and whether the row is stored H, W, C; scaling lo and 2 / (hi - lo). */
  image?: { C: number; H: number; W: number; nhwc: boolean; lo: number; scale: number };
}

function planLayout(path: string, header: NpyHeader, options: NpyOptions): Layout {
  const { shape, dtype } = header;
  const dims = shape.length;
  if (dims === 0) npyError(path, 'holds a single scalar: save an array of shape (count, ...) with one row per sample');
  const count = shape[0] as number;
  if (count === 0) npyError(path, `holds no samples (shape ${npyShapeText(shape)})`);
  const rest = shape.slice(1);
  const rowElems = rest.reduce((a, b) => a * b, 1);
  if (rowElems === 0) npyError(path, `has empty samples (shape ${npyShapeText(shape)})`);
  const kind = options.kind ?? (dims <= 2 ? 'vector' : undefined);
  const name = baseName(path);
  if (kind === undefined) {
    npyError(
      path,
      `is ${dims}-D (shape ${npyShapeText(shape)}): say what it holds, e.g. npy(path, { kind: 'image', layout: 'nchw' ` +
        `(or 'nhwc'), range: [0, 255] }) for images, or { kind: 'vector' } to flatten each sample`,
    );
  }
  if (kind !== 'vector' && kind !== 'image') {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `npy(): kind must be 'vector' or 'image', got ${JSON.stringify(kind)}`);
  }
  if (kind === 'vector') {
    return { info: { name, kind, shape: [rowElems], count, labelDim: 0 }, rowElems };
  }
  if (dims !== 3 && dims !== 4) {
    npyError(
      path,
      `has shape ${npyShapeText(shape)}, which is not an image array: images are [n, H, W] or [n, C, H, W] / [n, H, W, C]`,
      'ERR_PFGM_SHAPE',
    );
  }
  let layout = options.layout;
  if (dims === 4 && layout === undefined) {
    npyError(
      path,
      `is 4-D (shape ${npyShapeText(shape)}): say the axis order with layout: 'nchw' ([n, C, H, W]) or 'nhwc' ([n, H, W, C])`,
    );
  }
  if (layout !== undefined && layout !== 'nchw' && layout !== 'nhwc') {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `npy(): layout must be 'nchw' or 'nhwc', got ${JSON.stringify(layout)}`);
  }
  layout ??= 'nchw';
  let C = 1;
  let H: number;
  let W: number;
  if (dims === 3) [H, W] = rest as [number, number];
  else if (layout === 'nchw') [C, H, W] = rest as [number, number, number];
  else [H, W, C] = rest as [number, number, number];
  const range = options.range ?? (dtype === 'u1' ? [0, 255] : undefined);
  if (range === undefined) {
    npyError(
      path,
      `holds images of dtype ${dtype}: say the range of its pixel values, e.g. range: [0, 1] or [-1, 1], ` +
        'which is mapped to [-1, 1]',
    );
  }
  const [lo, hi] = range;
  if (
    !Array.isArray(range) ||
    range.length !== 2 ||
    typeof lo !== 'number' ||
    typeof hi !== 'number' ||
    !Number.isFinite(lo) ||
    !Number.isFinite(hi) ||
    !(lo < hi)
  ) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `npy(): range must be [lo, hi] with finite lo < hi, got ${JSON.stringify(options.range)}`,
    );
  }
  return {
    info: { name, kind: 'image', shape: [C, H, W], count, labelDim: 0 },
    rowElems,
    image: { C, H, W, nhwc: dims === 4 && layout === 'nhwc', lo, scale: 2 / (hi - lo) },
  };
}

/** Reads a whole labels .npy file into class indices. */
async function readLabels(path: string, count: number, dataPath: string): Promise<Int32Array> {
  const bytes = await readWhole(path, 'npy labels file');
  const { length, version } = npyHeaderLength(path, bytes);
  if (bytes.length < length) npyError(path, `is truncated inside its header (${bytes.length} bytes)`);
  const header = parseNpyHeader(path, bytes, length, version);
  const { shape } = header;
  if (!(shape.length === 1 || (shape.length === 2 && shape[1] === 1))) {
    npyError(
      path,
      `has shape ${npyShapeText(shape)}: labels must be one integer per sample, shape (count,) or (count, 1)`,
    );
  }
  const n = shape[0] as number;
  if (n !== count) {
    throw new PfgmError(
      'ERR_PFGM_SHAPE',
      `npy labels file '${path}' has ${n} labels but '${dataPath}' has ${count} samples: give one label per sample`,
    );
  }
  const need = length + n * header.itemSize;
  if (bytes.length < need) {
    npyError(path, `is truncated: its header promises ${need} bytes but the file has ${bytes.length}`);
  }
  const values = new Float64Array(n);
  decodeNpyValues(header.dtype, bytes.subarray(length, need).slice(), n, values, 0);
  const classes = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i] as number;
    if (!Number.isInteger(v) || v < 0 || v > 65535) {
      npyError(path, `has label ${v} at position ${i}: labels must be class indices 0, 1, 2, ... (at most 65535)`);
    }
    classes[i] = v;
  }
  return classes;
}

class NpyDataset implements Dataset {
  readonly info: DatasetInfo;
  readonly #path: string;
  readonly #fh: FileHandle;
  readonly #header: NpyHeader;
  readonly #layout: Layout;
  readonly #rowBytes: number;
  readonly #classes: Int32Array | undefined;
  #closed = false;

  constructor(path: string, fh: FileHandle, header: NpyHeader, layout: Layout, classes: Int32Array | undefined) {
    this.#path = path;
    this.#fh = fh;
    this.#header = header;
    this.#layout = layout;
    this.#rowBytes = layout.rowElems * header.itemSize;
    this.#classes = classes;
    let labelDim = 0;
    if (classes !== undefined) for (const c of classes) labelDim = Math.max(labelDim, c + 1);
    this.info = { ...layout.info, labelDim };
  }

  async read(indices: ArrayLike<number>): Promise<Batch> {
    if (this.#closed) throw closedError(this.info.name);
    checkIndices(this.info.name, indices, this.info.count);
    const n = indices.length;
    const size = this.#layout.rowElems;
    const data = new Float32Array(n * size);
    const order = Array.from({ length: n }, (_, i) => i).sort(
      (a, b) => (indices[a] as number) - (indices[b] as number),
    );
    const runs: { first: number; last: number; positions: number[] }[] = [];
    for (const p of order) {
      const s = indices[p] as number;
      const run = runs[runs.length - 1];
      if (run !== undefined && s <= run.last + 1 && (s - run.first + 1) * this.#rowBytes <= MAX_RUN_BYTES) {
        run.last = s;
        run.positions.push(p);
      } else {
        runs.push({ first: s, last: s, positions: [p] });
      }
    }
    await Promise.all(runs.map((run) => this.#readRun(run.first, run.last, run.positions, indices, data)));
    return withLabels({ data }, this.info, this.#classes, indices);
  }

  async #readRun(
    first: number,
    last: number,
    positions: number[],
    indices: ArrayLike<number>,
    data: Float32Array,
  ): Promise<void> {
    const rowBytes = this.#rowBytes;
    const length = (last - first + 1) * rowBytes;
    const bytes = new Uint8Array(length);
    const position = this.#header.dataOffset + first * rowBytes;
    let got = 0;
    try {
      while (got < length) {
        const { bytesRead } = await this.#fh.read(bytes, got, length - got, position + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
    } catch (error) {
      if (this.#closed) throw closedError(this.info.name);
      throw fileError(this.#path, 'npy file', error);
    }
    if (got < length) {
      npyError(this.#path, `ended early: it was truncated while open (rows ${first}..${last} could not be read)`);
    }
    const size = this.#layout.rowElems;
    const row = new Float32Array(size);
    const image = this.#layout.image;
    for (const p of positions) {
      const s = indices[p] as number;
      const at = p * size;
      const rowStart = (s - first) * rowBytes;
      if (image === undefined) {
        decodeNpyValues(this.#header.dtype, bytes.subarray(rowStart, rowStart + rowBytes), size, data, at);
        for (let i = 0; i < size; i++) {
          if (!Number.isFinite(data[at + i] as number)) this.#nonFinite(s, i, data[at + i] as number);
        }
        continue;
      }
      decodeNpyValues(this.#header.dtype, bytes.subarray(rowStart, rowStart + rowBytes), size, row, 0);
      const { C, H, W, nhwc, lo, scale } = image;
      const HW = H * W;
      for (let c = 0; c < C; c++) {
        for (let q = 0; q < HW; q++) {
          const v = (nhwc ? row[q * C + c] : row[c * HW + q]) as number;
          const x = (v - lo) * scale - 1;
          if (!Number.isFinite(x)) this.#nonFinite(s, nhwc ? q * C + c : c * HW + q, v);
          data[at + c * HW + q] = x;
        }
      }
    }
  }

  #nonFinite(sample: number, element: number, value: number): never {
    return npyError(
      this.#path,
      `has ${value} at sample ${sample}, element ${element}${value === Number.POSITIVE_INFINITY || value === Number.NEGATIVE_INFINITY ? ' (or a value beyond the float32 range)' : ''}: ` +
        'training needs finite values; clean the data',
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#fh.close();
  }
}

/**
 * Opens a NumPy .npy file (format 1.0, 2.0 or 3.0; little-endian float16/32/64, signed or
 * unsigned integers of 8 to 64 bits, or bool; C order) of shape [count, ...]:
 *
 * - 1-D [count] and 2-D [count, N] arrays are `vector` datasets of shape [1] and [N], values as
 *   stored (converted to float32);
 * - 3-D [count, H, W] and 4-D [count, C, H, W] (`layout: 'nchw'`) or [count, H, W, C]
 *   (`layout: 'nhwc'`) arrays are `image` datasets of shape [C, H, W] (C = 1 for 3-D) when
 *   `kind: 'image'` is given, scaled from `range` to [-1, 1] (default range [0, 255] for uint8,
 *   required otherwise); `kind: 'vector'` flattens them instead.
 *
 * Only the header is read here; `read` reads just the rows it is asked for from the open file.
 * Non-finite values are reported when read. Close the dataset to close the file.
 *
 * @param path - the .npy file
 * @param options - see {@link NpyOptions}
 * @throws PfgmError `ERR_PFGM_ARGUMENT` for a missing, damaged, truncated or Fortran-order file or
 *   bad options; `ERR_PFGM_DTYPE` for big-endian, object, structured or other unsupported dtypes;
 *   `ERR_PFGM_SHAPE` for a labels file whose count differs.
 */
export async function npy(path: string, options: NpyOptions = {}): Promise<Dataset> {
  if (typeof path !== 'string' || path.length === 0) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `npy(): expected a file path string, got ${JSON.stringify(path)}`);
  }
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (error) {
    throw fileError(path, 'npy file', error);
  }
  try {
    const st = await fh.stat();
    if (st.isDirectory()) npyError(path, 'is a folder, expected a .npy file');
    const size = st.size;
    if (size === 0) npyError(path, 'is empty (0 bytes): write it with numpy.save');
    const first = new Uint8Array(12);
    const { bytesRead } = await fh.read(first, 0, 12, 0);
    const { length, version } = npyHeaderLength(path, first.subarray(0, bytesRead));
    if (size < length) npyError(path, `is truncated inside its header (${size} bytes, the header needs ${length})`);
    const headBytes = new Uint8Array(length);
    await fh.read(headBytes, 0, length, 0);
    const header = parseNpyHeader(path, headBytes, length, version);
    const layout = planLayout(path, header, options);
    const expected = length + layout.info.count * layout.rowElems * header.itemSize;
    if (size < expected) {
      npyError(
        path,
        `is truncated: shape ${npyShapeText(header.shape)} of ${header.dtype} needs ${expected} bytes but the file ` +
          `has ${size} (${expected - size} missing); copy or save it again`,
      );
    }
    if (size > expected) {
      npyError(
        path,
        `has ${size - expected} bytes after its array of shape ${npyShapeText(header.shape)} (${expected} bytes expected): ` +
          'save exactly one array per file with numpy.save',
      );
    }
    let classes: Int32Array | undefined;
    if (options.labels !== undefined) {
      if (typeof options.labels !== 'string' || options.labels.length === 0) {
        throw new PfgmError(
          'ERR_PFGM_ARGUMENT',
          `npy(): labels must be the path of a .npy file of class indices, got ${JSON.stringify(options.labels)}`,
        );
      }
      classes = await readLabels(options.labels, layout.info.count, path);
    }
    return new NpyDataset(path, fh, header, layout, classes);
  } catch (error) {
    await fh.close().catch(() => undefined);
    throw error;
  }
}
