/**
 * The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length, a JSON header naming each tensor's dtype, shape and byte range, then the raw
 * little-endian data. The project's own small reader and writer (the npm `safetensors` package is
 * a stub); weights move to and from PyTorch through it.
 *
 * @module
 */

import { PfgmError } from '../errors.js';

/** Element types this reader and writer handle. */
export type SafetensorsDtype = 'F32' | 'F64' | 'I32' | 'U8' | 'I64';

/** One tensor of a safetensors file. */
export interface SafetensorsEntry {
  /** Element type as spelled in the header. */
  dtype: SafetensorsDtype;
  /** Dimensions, outermost first. */
  shape: number[];
  /** The values, copied out of the file into an aligned array. */
  data: Float32Array | Float64Array | Int32Array | Uint8Array | BigInt64Array;
}

/** A decoded safetensors file. */
export interface SafetensorsFile {
  /** Tensors by name, in header order. */
  tensors: Map<string, SafetensorsEntry>;
  /** The `__metadata__` string map (empty when absent). */
  metadata: Record<string, string>;
}

const BYTES: Record<SafetensorsDtype, number> = { F32: 4, F64: 8, I32: 4, U8: 1, I64: 8 };

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
    default:
      return new Uint8Array(copy);
  }
}

/**
 * Decodes a safetensors file held in memory.
 *
 * @throws PfgmError `ERR_PFGM_ARGUMENT` naming what is wrong when the bytes are truncated,
 *   the header is not JSON, or a tensor's byte range does not fit its shape or the file.
 */
export function decodeSafetensors(bytes: Uint8Array): SafetensorsFile {
  if (bytes.length < 8) bad(`${bytes.length} bytes is shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > bytes.length - 8) {
    bad(`the header claims ${headerLength} bytes but the file has ${bytes.length - 8} after it`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch (e) {
    bad(`the header is not JSON (${(e as Error).message})`);
  }
  const dataStart = 8 + headerLength;
  const tensors = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = value as Record<string, string>;
      continue;
    }
    const v = value as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    const dtype = v.dtype as SafetensorsDtype;
    if (!(dtype in BYTES)) bad(`tensor '${name}' has unsupported dtype ${String(v.dtype)}`);
    if (!Array.isArray(v.shape) || !Array.isArray(v.data_offsets)) {
      bad(`tensor '${name}' lacks shape or data_offsets`);
    }
    const [begin, end] = v.data_offsets;
    const count = v.shape.reduce((a, b) => a * b, 1);
    if (end - begin !== count * BYTES[dtype] || begin < 0 || dataStart + end > bytes.length) {
      bad(`tensor '${name}' has byte range [${begin}, ${end}) that does not fit`);
    }
    tensors.set(name, {
      dtype,
      shape: v.shape,
      data: typed(dtype, bytes.subarray(dataStart + begin, dataStart + end)),
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
