/**
 * The NumPy .npy format (format versions 1.0, 2.0 and 3.0): the header (magic `\x93NUMPY`, the
 * version, the header length and a Python dict literal with `descr`, `fortran_order` and `shape`),
 * the element types a reader accepts, conversion of stored elements to numbers, and
 * {@link encodeNpy}, the writer of little-endian float32 arrays. The lazily read dataset over
 * these files is data/npy.ts.
 *
 * @module
 */
import { endianness } from 'node:os';
import { PfgmError, type PfgmErrorCode } from '../errors.js';

/** An element type of a .npy file that this reader accepts (`f4` = little-endian float32, ...). */
export type NpyKind = 'f2' | 'f4' | 'f8' | 'i1' | 'i2' | 'i4' | 'i8' | 'u1' | 'u2' | 'u4' | 'u8' | 'b1';

/** The parsed header of a .npy file. */
export interface NpyHeader {
  /** Element type. */
  dtype: NpyKind;
  /** Bytes per element. */
  itemSize: number;
  /** Array shape. */
  shape: number[];
  /** Byte offset of the data. */
  dataOffset: number;
}

const SUPPORTED = 'float16/32/64, int8/16/32/64, uint8/16/32/64 and bool';
const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const LITTLE_HOST = endianness() === 'LE';

/**
 * Throws the error of a bad .npy file: `npy file '<path>' <problem>`.
 *
 * @param code - `ERR_PFGM_ARGUMENT` unless given (`ERR_PFGM_DTYPE`, `ERR_PFGM_SHAPE`, ...).
 */
export function npyError(path: string, problem: string, code: PfgmErrorCode = 'ERR_PFGM_ARGUMENT'): never {
  throw new PfgmError(code, `npy file '${path}' ${problem}`);
}

/**
 * The total header length (magic .. end of the dict) and the format's major version from the
 * first 12 bytes of a .npy file.
 */
export function npyHeaderLength(path: string, first: Uint8Array): { length: number; version: number } {
  if (first.length < 10 || MAGIC.some((b, i) => first[i] !== b)) {
    npyError(path, 'is not a NumPy .npy file (it does not start with \\x93NUMPY): write it with numpy.save');
  }
  const major = first[6] as number;
  const view = new DataView(first.buffer, first.byteOffset, first.byteLength);
  if (major === 1) return { length: 10 + view.getUint16(8, true), version: 1 };
  if (major === 2 || major === 3) {
    if (first.length < 12) npyError(path, 'is truncated inside its header');
    return { length: 12 + view.getUint32(8, true), version: major };
  }
  return npyError(
    path,
    `has format version ${major}.${first[7]}, which this reader does not know (it reads 1.0, 2.0, 3.0)`,
  );
}

function parseDtype(path: string, descr: string): { dtype: NpyKind; itemSize: number } {
  const m = /^([<>|=])([a-zA-Z])(\d+)$/.exec(descr);
  if (m === null) {
    if (/^[<>|=]?O/.test(descr)) {
      npyError(
        path,
        'holds Python objects (dtype object): save a numeric array instead, e.g. numpy.save(path, arr.astype(numpy.float32))',
        'ERR_PFGM_DTYPE',
      );
    }
    npyError(path, `has dtype '${descr}', which is not supported: use ${SUPPORTED}`, 'ERR_PFGM_DTYPE');
  }
  const [, order, kind, sizeText] = m as unknown as [string, string, string, string];
  const size = Number(sizeText);
  if (kind === 'O') {
    npyError(
      path,
      'holds Python objects (dtype object): save a numeric array instead, e.g. numpy.save(path, arr.astype(numpy.float32))',
      'ERR_PFGM_DTYPE',
    );
  }
  const key = `${kind}${size}`;
  const known: readonly string[] = ['f2', 'f4', 'f8', 'i1', 'i2', 'i4', 'i8', 'u1', 'u2', 'u4', 'u8', 'b1'];
  if (!known.includes(key)) {
    npyError(path, `has dtype '${descr}', which is not supported: use ${SUPPORTED}`, 'ERR_PFGM_DTYPE');
  }
  if (order === '>' && size > 1) {
    npyError(
      path,
      `is big-endian (dtype '${descr}'): convert it with numpy.save(path, arr.astype('<${key}'))`,
      'ERR_PFGM_DTYPE',
    );
  }
  return { dtype: key as NpyKind, itemSize: size };
}

/** Parses the header dict; `bytes` holds at least `length` bytes of the file. */
export function parseNpyHeader(path: string, bytes: Uint8Array, length: number, version: number): NpyHeader {
  const start = version === 1 ? 10 : 12;
  const raw = Buffer.from(bytes.buffer, bytes.byteOffset + start, length - start);
  const text = raw.toString(version === 3 ? 'utf8' : 'latin1');
  if (/['"]descr['"]\s*:\s*\[/.test(text)) {
    npyError(
      path,
      `holds a structured array (dtype with fields): save one plain numeric array per file`,
      'ERR_PFGM_DTYPE',
    );
  }
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(text)?.[1];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    npyError(path, `has a damaged header ${JSON.stringify(text.trim())}: write it again with numpy.save`);
  }
  if (fortran === 'True') {
    npyError(
      path,
      'is in Fortran (column-major) order: save a C-order copy with numpy.save(path, numpy.ascontiguousarray(arr))',
    );
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim().replace(/L$/, ''))
    .filter((s) => s.length > 0)
    .map(Number);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    npyError(path, `has a damaged shape (${shapeText}) in its header: write it again with numpy.save`);
  }
  return { ...parseDtype(path, descr), shape, dataOffset: length };
}

/**
 * Converts `n` elements of `bytes` (little-endian, starting at byte 0) to numbers in `out`,
 * from index `at` on.
 */
export function decodeNpyValues(
  dtype: NpyKind,
  bytes: Uint8Array,
  n: number,
  out: Float32Array | Float64Array,
  at: number,
): void {
  const buf = bytes.buffer;
  const off = bytes.byteOffset;
  if (dtype === 'u1' || dtype === 'b1') {
    for (let i = 0; i < n; i++) out[at + i] = bytes[i] as number;
    return;
  }
  if (dtype === 'i1') {
    const a = new Int8Array(buf, off, n);
    for (let i = 0; i < n; i++) out[at + i] = a[i] as number;
    return;
  }
  if (LITTLE_HOST && dtype === 'f4' && off % 4 === 0) {
    out.set(new Float32Array(buf, off, n), at);
    return;
  }
  const v = new DataView(buf, off, bytes.byteLength);
  switch (dtype) {
    case 'f2':
      for (let i = 0; i < n; i++) out[at + i] = half(v.getUint16(2 * i, true));
      return;
    case 'f4':
      for (let i = 0; i < n; i++) out[at + i] = v.getFloat32(4 * i, true);
      return;
    case 'f8':
      for (let i = 0; i < n; i++) out[at + i] = v.getFloat64(8 * i, true);
      return;
    case 'i2':
      for (let i = 0; i < n; i++) out[at + i] = v.getInt16(2 * i, true);
      return;
    case 'u2':
      for (let i = 0; i < n; i++) out[at + i] = v.getUint16(2 * i, true);
      return;
    case 'i4':
      for (let i = 0; i < n; i++) out[at + i] = v.getInt32(4 * i, true);
      return;
    case 'u4':
      for (let i = 0; i < n; i++) out[at + i] = v.getUint32(4 * i, true);
      return;
    case 'i8':
      for (let i = 0; i < n; i++) out[at + i] = Number(v.getBigInt64(8 * i, true));
      return;
    case 'u8':
      for (let i = 0; i < n; i++) out[at + i] = Number(v.getBigUint64(8 * i, true));
      return;
  }
}

/** IEEE 754 half-precision bits to a number (also safetensors' F16). */
export function half(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** A shape as Python writes a tuple: `(3,)`, `(2, 3)`. */
export function npyShapeText(shape: number[]): string {
  return `(${shape.join(', ')}${shape.length === 1 ? ',' : ''})`;
}

/**
 * An NPY file (format 1.0) of little-endian float32 (`<f4`) or, from a Float64Array, float64
 * (`<f8`) values in C order.
 *
 * @param shape - The array's shape; its product must equal `data.length`.
 */
export function encodeNpy(data: Float32Array | Float64Array, shape: readonly number[]): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new PfgmError('ERR_PFGM_SHAPE', `encodeNpy: shape [${shape}] does not hold ${data.length} values`);
  }
  const f64 = data instanceof Float64Array;
  const head = npyHeader(f64 ? '<f8' : '<f4', shape);
  const out = new Uint8Array(head.length + data.length * (f64 ? 8 : 4));
  out.set(head, 0);
  const view = new DataView(out.buffer, head.length);
  for (let i = 0; i < data.length; i++) {
    if (f64) view.setFloat64(i * 8, data[i] as number, true);
    else view.setFloat32(i * 4, data[i] as number, true);
  }
  return out;
}

/**
 * The header of an NPY file (format 1.0) of little-endian float32 values in C order of `shape`:
 * the bytes before the data, for a writer that appends the data in pieces.
 */
export function npyFloat32Header(shape: readonly number[]): Uint8Array {
  return npyHeader('<f4', shape);
}

/** The header of an NPY file (format 1.0) of `descr` values in C order of `shape`. */
function npyHeader(descr: '<f4' | '<f8', shape: readonly number[]): Uint8Array {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${dims}), }`;
  // Magic (6) + version (2) + length (2) + header + '\n' is padded to a multiple of 64 bytes.
  const pad = 64 - ((10 + header.length + 1) % 64);
  header = `${header}${' '.repeat(pad % 64)}\n`;
  const out = new Uint8Array(10 + header.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  return out;
}

/** float32 values as little-endian bytes (the data of an NPY `<f4` file). */
export function float32LittleEndian(data: Float32Array): Uint8Array {
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i] as number, true);
  return out;
}
