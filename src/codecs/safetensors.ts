/**
 * The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length, a JSON header naming each tensor's dtype, shape and byte range, then the raw
 * little-endian data. The project's own small reader and writer (the npm `safetensors` package is
 * a stub); weights move to and from PyTorch through it.
 *
 * @module
 */

import { PfgmError } from '../errors.js';
import { half } from './npy.js';

/** Element types this reader and writer handle (F16 and BF16 as their raw 16-bit patterns). */
export type SafetensorsDtype = 'F32' | 'F64' | 'F16' | 'BF16' | 'I32' | 'U8' | 'I64';

/** One tensor of a safetensors file. */
export interface SafetensorsEntry {
  /** Element type as spelled in the header. */
  dtype: SafetensorsDtype;
  /** Dimensions, outermost first. */
  shape: number[];
  /**
   * The values, copied out of the file into an aligned array; F16 and BF16 as their 16-bit
   * patterns (a Uint16Array; {@link floatValues} converts).
   */
  data: Float32Array | Float64Array | Int32Array | Uint8Array | Uint16Array | BigInt64Array;
}

/** A decoded safetensors file. */
export interface SafetensorsFile {
  /** Tensors by name, in header order. */
  tensors: Map<string, SafetensorsEntry>;
  /** The `__metadata__` string map (empty when absent). */
  metadata: Record<string, string>;
}

const BYTES: Record<SafetensorsDtype, number> = { F32: 4, F64: 8, F16: 2, BF16: 2, I32: 4, U8: 1, I64: 8 };

/** Whether tensors of this element type hold floating-point values ({@link floatValues} reads them). */
export function isFloatDtype(dtype: string): boolean {
  return dtype === 'F32' || dtype === 'F16' || dtype === 'BF16' || dtype === 'F64';
}

/**
 * A floating-point tensor's values as float32 (F32 as it is; F64 rounded; F16 and BF16 exactly,
 * since both fit in float32).
 *
 * @throws PfgmError `ERR_PFGM_DTYPE` for an integer tensor.
 */
export function floatValues(t: SafetensorsEntry): Float32Array {
  if (t.dtype === 'F32') return t.data as Float32Array;
  if (t.dtype === 'F64') return Float32Array.from(t.data as Float64Array);
  if (t.dtype === 'BF16') {
    const bits = new Uint32Array((t.data as Uint16Array).length);
    (t.data as Uint16Array).forEach((b, i) => {
      bits[i] = b << 16;
    });
    return new Float32Array(bits.buffer);
  }
  if (t.dtype === 'F16') return Float32Array.from(t.data as Uint16Array, half);
  throw new PfgmError('ERR_PFGM_DTYPE', `a ${t.dtype} tensor is not floating point`);
}

function bad(why: string): never {
  throw new PfgmError('ERR_PFGM_ARGUMENT', `not a valid safetensors file: ${why}`);
}

function typed(dtype: SafetensorsDtype, bytes: Uint8Array): SafetensorsEntry['data'] {
  // Copy into a fresh buffer: the file's data offsets need not be aligned for the element type.
  // Uint8Array's own slice: a Node Buffer's slice() is a view into its (pooled) memory, not a copy.
  const copy = Uint8Array.prototype.slice.call(bytes).buffer;
  switch (dtype) {
    case 'F32':
      return new Float32Array(copy);
    case 'F64':
      return new Float64Array(copy);
    case 'I32':
      return new Int32Array(copy);
    case 'I64':
      return new BigInt64Array(copy);
    case 'F16':
    case 'BF16':
      return new Uint16Array(copy);
    default:
      return new Uint8Array(copy);
  }
}

/**
 * The names of the top-level keys of a JSON object text, in order, duplicates included
 * (`JSON.parse` keeps only the last of a duplicated key). `text` must already parse as a JSON
 * object.
 */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
    else if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1) {
        let k = j + 1;
        while (/\s/.test(text[k] ?? '')) k++;
        if (text[k] === ':') keys.push(JSON.parse(text.slice(i, j + 1)) as string);
      }
      i = j;
    }
  }
  return keys;
}

function isSafeCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** One header entry checked against the format; its byte range is relative to the data. */
interface CheckedEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

function checkEntry(name: string, value: unknown): CheckedEntry {
  if (!isObject(value)) bad(`tensor '${name}' is ${JSON.stringify(value)}, not an object`);
  const dtype = value.dtype;
  if (typeof dtype !== 'string' || !Object.hasOwn(BYTES, dtype)) {
    bad(`tensor '${name}' has unsupported dtype ${JSON.stringify(dtype)} (known: ${Object.keys(BYTES).join(', ')})`);
  }
  const { shape, data_offsets: offsets } = value;
  if (!Array.isArray(shape)) bad(`tensor '${name}' lacks a shape array`);
  if (!shape.every(isSafeCount)) {
    bad(`tensor '${name}' has shape ${JSON.stringify(shape)}: dimensions must be non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2) bad(`tensor '${name}' lacks data_offsets [begin, end]`);
  const [begin, end] = offsets as unknown[];
  if (!isSafeCount(begin) || !isSafeCount(end) || begin > end) {
    bad(
      `tensor '${name}' has data_offsets ${JSON.stringify(offsets)}: they must be non-negative integers with begin <= end`,
    );
  }
  // The element count as a BigInt: a product of safe integers may not be one.
  const bytes = shape.reduce((a: bigint, d: number) => a * BigInt(d), BigInt(BYTES[dtype as SafetensorsDtype]));
  if (bytes !== BigInt(end - begin)) {
    bad(
      `tensor '${name}' has byte range [${begin}, ${end}) of ${end - begin} bytes, but its ${dtype} shape ` +
        `[${shape.join(', ')}] needs ${bytes} bytes`,
    );
  }
  return { name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin, end };
}

/**
 * Decodes a safetensors file held in memory, checking the header against the format: a JSON
 * object (strict UTF-8) whose `__metadata__`, when present, maps names to strings, and whose
 * other keys are unique tensor names, each with a known dtype, a shape of non-negative integers
 * and `data_offsets` [begin, end] that hold exactly the shape's bytes; the tensors' byte ranges,
 * sorted, must tile the data that follows the header from its first byte to its last, with no gap
 * or overlap.
 *
 * @throws PfgmError `ERR_PFGM_ARGUMENT` naming the tensor and what is wrong when the bytes are
 *   truncated, the header is not a JSON object, a name is duplicated, an entry breaks the format,
 *   or the byte ranges overlap, leave gaps or do not end at the end of the file.
 */
export function decodeSafetensors(bytes: Uint8Array): SafetensorsFile {
  if (!(bytes instanceof Uint8Array)) bad('the data is not a Uint8Array');
  if (bytes.length < 8) bad(`${bytes.length} bytes is shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const claimed = view.getBigUint64(0, true);
  if (claimed > BigInt(bytes.length - 8)) {
    bad(`the header claims ${claimed} bytes but the file has ${bytes.length - 8} after it`);
  }
  const headerLength = Number(claimed);
  let text: string;
  let header: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength));
    header = JSON.parse(text);
  } catch (e) {
    bad(`the header is not UTF-8 JSON (${(e as Error).message})`);
  }
  if (!isObject(header)) bad(`the header is ${header === null ? 'null' : typeof header}, not a JSON object`);
  const seen = new Set<string>();
  for (const key of topLevelKeys(text)) {
    if (seen.has(key)) bad(`the name '${key}' appears more than once in the header`);
    seen.add(key);
  }
  const dataLength = bytes.length - 8 - headerLength;
  const entries: CheckedEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isObject(value)) bad(`__metadata__ is ${JSON.stringify(value)}, not an object of strings`);
      for (const [key, v] of Object.entries(value)) {
        if (typeof v !== 'string') bad(`__metadata__ '${key}' is ${JSON.stringify(v)}, not a string`);
      }
      metadata = value as Record<string, string>;
      continue;
    }
    entries.push(checkEntry(name, value));
  }
  // The byte ranges, in data order, must tile [0, dataLength) exactly.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const e of sorted) {
    if (e.begin !== at) {
      bad(
        e.begin < at
          ? `tensor '${e.name}' has byte range [${e.begin}, ${e.end}) that overlaps the tensor before it (which ends at ${at})`
          : `tensor '${e.name}' starts at byte ${e.begin} of the data, leaving bytes [${at}, ${e.begin}) unused`,
      );
    }
    at = e.end;
  }
  if (at !== dataLength) {
    const last = sorted[sorted.length - 1];
    bad(
      at > dataLength
        ? `tensor '${last?.name}' has byte range [${last?.begin}, ${at}) that does not fit the ${dataLength} bytes of data`
        : `the tensors' data ends at byte ${at} but the file holds ${dataLength} bytes of data after the header`,
    );
  }
  const dataStart = 8 + headerLength;
  const tensors = new Map<string, SafetensorsEntry>();
  for (const e of entries) {
    tensors.set(e.name, {
      dtype: e.dtype,
      shape: e.shape,
      data: typed(e.dtype, bytes.subarray(dataStart + e.begin, dataStart + e.end)),
    });
  }
  return { tensors, metadata };
}

/**
 * Why bytes are not a well-formed safetensors file, as {@link checkSafetensors} finds it, from the
 * most basic problem on: `short` (under 8 bytes), `not-safetensors` (no plausible header length
 * followed by `{`), `truncated-header` and `truncated-data` (`need` bytes, `have` bytes),
 * `header-not-json` (with the parser's `error`), `header-not-object`, `metadata-not-object`.
 */
export type SafetensorsProblem =
  | { kind: 'short'; size: number }
  | { kind: 'not-safetensors' }
  | { kind: 'truncated-header'; need: number; have: number }
  | { kind: 'header-not-json'; error: unknown }
  | { kind: 'header-not-object' }
  | { kind: 'truncated-data'; need: number; have: number }
  | { kind: 'metadata-not-object' };

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Checks the framing of a safetensors file without decoding its tensors: the header length, the
 * header as a JSON object (strict UTF-8), the data its tensors' byte ranges need, and
 * `__metadata__` as an object. Tells a truncated file from one that is not safetensors at all, so
 * that a reader of files users keep can say which; {@link decodeSafetensors} checks the rest
 * (dtypes, shapes against byte ranges).
 *
 * @returns The first problem found, or undefined when the framing is sound.
 */
export function checkSafetensors(bytes: Uint8Array): SafetensorsProblem | undefined {
  const size = bytes.length;
  if (size < 8) return { kind: 'short', size };
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (headerLength < 2n || headerLength > 100_000_000n || (size > 8 && bytes[8] !== 0x7b)) {
    return { kind: 'not-safetensors' };
  }
  const n = Number(headerLength);
  if (8 + n > size) return { kind: 'truncated-header', need: n, have: size - 8 };
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (error) {
    return { kind: 'header-not-json', error };
  }
  if (!isObject(header)) return { kind: 'header-not-object' };
  let end = 0;
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const offsets = isObject(entry) ? entry.data_offsets : undefined;
    if (Array.isArray(offsets) && typeof offsets[1] === 'number') end = Math.max(end, offsets[1]);
  }
  const have = size - 8 - n;
  if (end > have) return { kind: 'truncated-data', need: end, have };
  if (header.__metadata__ !== undefined && !isObject(header.__metadata__)) return { kind: 'metadata-not-object' };
  return undefined;
}

/** Encodes tensors (and optional string metadata) as a safetensors file. */
export function encodeSafetensors(
  tensors: Iterable<[string, SafetensorsEntry]>,
  metadata?: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header.__metadata__ = metadata;
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + raw.length] };
    parts.push(raw);
    offset += raw.length;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data starts 8-byte aligned, as the reference writer does.
  json += ' '.repeat((8 - ((Buffer.byteLength(json) + 8) % 8)) % 8);
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
