/**
 * What pfgm's two safetensors files, the model file (modelFile.ts) and the training-state file
 * (train/trainingState.ts), share: their format tags and layout version, errors that name the
 * file and say what to do (`ERR_PFGM_CHECKPOINT`), JSON metadata that keeps non-finite numbers,
 * reading and framing checks of the file, and the canonical form used to compare configurations.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import {
  checkSafetensors,
  decodeSafetensors,
  type SafetensorsEntry,
  type SafetensorsFile,
  type SafetensorsProblem,
} from '../codecs/safetensors.js';
import { PfgmError } from '../errors.js';
import { errnoCode, errorMessage, readFileBytes } from '../io/files.js';
import { VERSION } from '../version.js';
import { type NetworkConfig, toNativeConfig } from './config.js';
import type { TrainCounters } from './network.js';

/** `__metadata__.format` of a model file. */
export const MODEL_FORMAT = 'pfgm-model';
/** `__metadata__.format` of a training-state file. */
export const TRAINING_STATE_FORMAT = 'pfgm-training-state';

/** Layout version of the model file, the training-state file and the checkpoint marker. */
export const FILE_VERSION = 1;

/** A file written by the save functions. */
export interface SavedFile {
  /** Where it was written. */
  path: string;
  /** Its size in bytes. */
  bytes: number;
  /** SHA-256 of its bytes, lower-case hex. */
  sha256: string;
}

/** Throws `ERR_PFGM_CHECKPOINT` with `message` (and `cause`). */
export function fail(message: string, cause?: unknown): never {
  throw new PfgmError('ERR_PFGM_CHECKPOINT', message, cause === undefined ? undefined : { cause });
}

/** The advice for a damaged file. */
export const AGAIN = 're-copy or re-export the file';

/** JSON with non-finite numbers as `{"$number": "Infinity"}`; other failures are argument errors. */
export function toJson(what: string, value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value, (_key, v: unknown) =>
      typeof v === 'number' && !Number.isFinite(v) ? { $number: String(v) } : v,
    );
  } catch (e) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `${what} cannot be stored as JSON (${errorMessage(e)}): use plain objects, arrays, strings, numbers and booleans`,
      { cause: e },
    );
  }
  if (text === undefined)
    throw new PfgmError('ERR_PFGM_ARGUMENT', `${what} cannot be stored as JSON (it is ${typeof value})`);
  return text;
}

function isNumberTag(v: unknown): v is { $number: string } {
  if (v === null || typeof v !== 'object') return false;
  const keys = Object.keys(v);
  const n = (v as { $number?: unknown }).$number;
  return keys.length === 1 && (n === 'Infinity' || n === '-Infinity' || n === 'NaN');
}

/** Parses JSON metadata written by {@link toJson}; a parse error names the file and the key. */
export function fromJson(path: string, key: string, text: string): unknown {
  try {
    return JSON.parse(text, (_key, v: unknown) => (isNumberTag(v) ? Number(v.$number) : v));
  } catch (e) {
    fail(`'${path}': metadata '${key}' is not valid JSON (${errorMessage(e)}); ${AGAIN}`, e);
  }
}

/** Whether a value is a plain object (not null, not an array). */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** SHA-256 of the bytes, lower-case hex. */
export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * A file's bytes; a missing file, a folder or another failure is an `ERR_PFGM_CHECKPOINT` naming
 * the file as `what` (`model file`, `training state`).
 */
export async function readBytes(path: string, what: string): Promise<Uint8Array> {
  try {
    return await readFileBytes(path);
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'ENOENT')
      fail(`${what} '${path}' does not exist: check the path (saveModel / saveCheckpoint write these files)`, e);
    if (code === 'EISDIR') fail(`${what} '${path}' is a directory: pass a .safetensors file`, e);
    fail(`could not read ${what} '${path}': ${errorMessage(e)}`, e);
  }
}

/** The message for a safetensors file whose framing {@link checkSafetensors} refuses. */
function framingMessage(path: string, what: string, problem: SafetensorsProblem): string {
  switch (problem.kind) {
    case 'short':
      return `${what} '${path}' is ${problem.size} bytes: too short to be a safetensors file (empty or truncated); ${AGAIN}`;
    case 'not-safetensors':
      return `${what} '${path}' is not a safetensors file: it does not start with an 8-byte header length and a JSON header; pass a .safetensors file written by pfgm or by PyTorch`;
    case 'truncated-header':
      return `${what} '${path}' is truncated: its header needs ${problem.need} bytes but only ${problem.have} follow; ${AGAIN}`;
    case 'header-not-json':
      return `${what} '${path}' is not a valid safetensors file: its header is not JSON (${errorMessage(problem.error)}); ${AGAIN}`;
    case 'header-not-object':
      return `${what} '${path}' is not a valid safetensors file: its header is not a JSON object`;
    case 'truncated-data':
      return `${what} '${path}' is truncated: its tensors need ${problem.need} bytes of data but the file has ${problem.have}; ${AGAIN}`;
    case 'metadata-not-object':
      return `${what} '${path}' is not a valid safetensors file: its __metadata__ is not an object`;
  }
}

/**
 * Decodes a safetensors file with errors that tell a truncated file from one that is not
 * safetensors at all, and name the file.
 */
export function parseSafetensors(path: string, bytes: Uint8Array, what: string): SafetensorsFile {
  const problem = checkSafetensors(bytes);
  if (problem !== undefined) {
    fail(framingMessage(path, what, problem), problem.kind === 'header-not-json' ? problem.error : undefined);
  }
  let file: SafetensorsFile;
  try {
    file = decodeSafetensors(bytes);
  } catch (e) {
    const hint = /unsupported dtype/.test(errorMessage(e))
      ? 'pfgm reads float32 weights: save them with {k: v.float() for k, v in state_dict.items()}'
      : AGAIN;
    fail(`${what} '${path}' is not a valid safetensors file (${errorMessage(e)}); ${hint}`, e);
  }
  for (const [key, value] of Object.entries(file.metadata)) {
    if (typeof value !== 'string')
      fail(`${what} '${path}': metadata '${key}' is not a string, as safetensors requires; ${AGAIN}`);
  }
  return file;
}

/** Refuses a file written in a newer layout version than {@link FILE_VERSION}. */
export function checkFileVersion(path: string, version: string | undefined): void {
  if (version === undefined) return;
  const v = Number(version);
  if (!Number.isInteger(v) || v < 1) fail(`'${path}': metadata version '${version}' is not a version number`);
  if (v > FILE_VERSION) {
    fail(
      `'${path}' was written in layout version ${v} by a newer pfgm; this pfgm ${VERSION} reads version ${FILE_VERSION}: upgrade pfgm`,
    );
  }
}

/** A canonical JSON text of a value (object keys sorted, undefined members left out), for comparisons. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (isRecord(value)) {
    const keys = Object.keys(value)
      .filter((k) => value[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** A configuration as canonical JSON of EDM's names, for messages. */
export function describeConfig(config: NetworkConfig): string {
  return canonical(toNativeConfig(config));
}

/** A float32 tensor entry. */
export function f32(shape: number[], data: Float32Array): SafetensorsEntry {
  return { dtype: 'F32', shape, data };
}

/** Training counters from metadata `key`, each a non-negative integer. */
export function countersFrom(path: string, key: string, value: unknown): TrainCounters {
  const ok = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  if (!isRecord(value) || !ok(value.steps) || !ok(value.adamSteps) || !ok(value.images) || !ok(value.skipped)) {
    fail(`'${path}': metadata '${key}' is not {steps, adamSteps, images, skipped} of non-negative integers; ${AGAIN}`);
  }
  return { steps: value.steps, adamSteps: value.adamSteps, images: value.images, skipped: value.skipped };
}
