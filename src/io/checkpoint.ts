/**
 * Model files, training-state files and crash-safe checkpoints (DESIGN "Files users keep").
 *
 * **Model file** ({@link saveModel}, one `.safetensors`, every tensor F32, little-endian):
 * - the EMA weights under EDM's state-dict names (`map_layer0.weight`, `enc.8x8_conv.weight`, ...):
 *   the default tensor set, what PyTorch gets from `load_file` + `load_state_dict`;
 * - the buffers (NCSN++'s `map_noise.freqs`) unprefixed, and for SongUNets the constant
 *   `*.resample_filter` buffers EDM registers on its up/down convolutions, so that the default set
 *   alone is a complete EDM state dict (`load_state_dict(strict=True)` accepts it);
 * - the raw (trained) weights under the prefix `raw.` (`raw.map_layer0.weight`), parameters only
 *   (left out with `{ raw: false }`, e.g. for an export);
 * - `__metadata__` (string values): `format` = `pfgm-model`, `version` = `1`, `config` (JSON of
 *   {@link toNativeConfig}: EDM's snake_case names plus `kind`), `precond` (JSON
 *   `{sigma_data, D, d_aware_c_in}`, D = `"inf"` for EDM), `objective`, `dataset` (JSON of the
 *   {@link DatasetInfo}), `counters` (JSON of the network's counters when saved), `written_by`,
 *   and every other key of the meta given: strings as they are, anything else as JSON, those keys
 *   listed in `json_keys` so that {@link loadModel} gives back numbers and objects. JSON here
 *   writes a non-finite number x as `{"$number": "Infinity"}` (or `-Infinity`, `NaN`).
 *
 * In PyTorch (EDM's networks, or bench/torch_ref/edm_nets.py):
 * ```python
 * sd = safetensors.torch.load_file("model-000003.safetensors")
 * net.load_state_dict({k: v for k, v in sd.items() if not k.startswith("raw.")})   # EMA weights
 * ```
 * A state dict exported from PyTorch (EDM's names, no `raw.` set) loads with {@link loadModel}:
 * its raw weights are then the EMA ones; without pfgm's metadata pass `{ config }` (and
 * `sigmaData`, `D` when they are not EDM's 0.5 and Infinity).
 *
 * **Training-state file** ({@link saveTrainingState}): tensors `adam_m` and `adam_v` (Adam's
 * moments, flat F32 in parameter order); metadata `format` = `pfgm-training-state`, `version`,
 * `counters` (JSON `{steps, adamSteps, images, skipped}`: also the state of the random streams,
 * which are keyed by step), `extra` (JSON of the trainer's own state), `param_count`, `params`
 * (JSON `[[name, shape], ...]`, checked against the network on load) and `config`.
 *
 * **Checkpoint directory** ({@link saveCheckpoint}) holds one completed generation:
 * ```
 * <dir>/model-000003.safetensors   the model file of generation 3
 * <dir>/state-000003.safetensors   its training state
 * <dir>/checkpoint.json            the completion marker, written last
 * <dir>/model.safetensors          the latest complete model for users and PyTorch: a hard link to
 *                                  model-000003.safetensors (a copy where links are not supported),
 *                                  updated after the marker; not part of the checkpoint proper
 * ```
 * `checkpoint.json` = `{format: "pfgm-checkpoint", version: 1, generation, written, writtenBy,
 * counters, files: {model: {file, bytes, sha256}, state: {file, bytes, sha256}}}`. A save writes
 * generation n + 1 beside generation n, each file to `<name>.tmp-<pid>-<random>` then fsync, rename
 * and a directory fsync; only when both files are durable does it replace `checkpoint.json` the same
 * way, and only then does it point `model.safetensors` at the new model and delete generation n. The marker therefore always names two complete
 * files: a crash or an error at any point leaves either the old checkpoint or the new one, never a
 * mix, and files no marker names (an interrupted save's) are removed by the next save.
 * {@link loadCheckpoint} trusts nothing the marker does not vouch for: it checks both files' sizes
 * and SHA-256 before decoding them. One process saves into a directory at a time.
 *
 * Every problem with a file is a {@link PfgmError} `ERR_PFGM_CHECKPOINT` that names the file and
 * says what to do; bad arguments to the save functions are `ERR_PFGM_ARGUMENT`.
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { type FileHandle, link, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { DatasetInfo } from '../data/dataset.js';
import { PfgmError } from '../errors.js';
import {
  fromNativeConfig,
  type NetworkConfig,
  type PresetName,
  preset,
  toNativeConfig,
  validateNetworkConfig,
} from '../models/config.js';
import {
  type CreateNetworkOptions,
  createNetwork,
  type Network,
  type ParameterInfo,
  type PfgmSettings,
  type Precision,
  type TrainCounters,
  type WeightSet,
} from '../models/network.js';
import type { DeviceOption } from '../tensor.js';
import { checkD } from '../validate.js';
import { VERSION } from '../version.js';
import { decodeSafetensors, encodeSafetensors, type SafetensorsEntry, type SafetensorsFile } from './safetensors.js';

/** `__metadata__.format` of a model file. */
export const MODEL_FORMAT = 'pfgm-model';
/** `__metadata__.format` of a training-state file. */
export const TRAINING_STATE_FORMAT = 'pfgm-training-state';
/** `format` of a checkpoint's completion marker. */
export const CHECKPOINT_FORMAT = 'pfgm-checkpoint';
/** File name of the completion marker inside a checkpoint directory. */
export const CHECKPOINT_MARKER = 'checkpoint.json';
/** File name of the latest complete model inside a checkpoint directory (a link to model-N). */
export const LATEST_MODEL = 'model.safetensors';

const FILE_VERSION = 1;

/**
 * What a model file records besides its weights. `objective` is required when saving; every
 * further key is stored too (strings as they are, anything else as JSON) and comes back from
 * {@link loadModel}.
 */
export interface ModelMeta {
  /** The training objective, e.g. `pfgmpp` (any D, EDM at Infinity) or `pfgm`. */
  objective: string;
  /**
   * Augmented dimensions D the model was trained at (Infinity = EDM), i.e. the sampler's prior.
   * Saving takes the network's `D` when this is left out, and refuses a different value.
   */
  D?: number;
  /** Whether the network uses METHOD §2.2's D-aware c_in (default false). */
  dAwareCIn?: boolean;
  /** The data the model was trained on. */
  dataset?: DatasetInfo;
  /** PFGM's hyperparameters; saving writes the network's {@link Network.pfgm}, loading returns them. */
  pfgm?: PfgmSettings;
  /**
   * Anything else (run name, kimg, hyperparameters, ...). The keys `format`, `version`, `config`,
   * `precond`, `counters`, `json_keys` and `written_by` are written by {@link saveModel} from the
   * network itself; values under those names here are ignored.
   */
  [key: string]: string | number | boolean | object | undefined;
}

/** Options of {@link saveModel} and {@link saveCheckpoint}. */
export interface SaveModelOptions {
  /** Store the raw weights under `raw.` too (default true; false gives a pure EMA export). */
  raw?: boolean;
}

/** Options of {@link loadModel}. */
export interface LoadModelOptions {
  /**
   * Which weights go where: `both` (default) loads the raw weights as the network's raw weights
   * and the EMA weights as its EMA (what resuming needs); `ema` puts the EMA weights in both (what
   * sampling wants, whichever set a caller asks for); `raw` puts the raw weights in both. A file
   * without a `raw.` set (e.g. a PyTorch export) uses its EMA weights wherever raw ones are asked.
   */
  weights?: WeightSet | 'both';
  /**
   * The network configuration, for a file whose metadata has none (a plain PyTorch state dict).
   * When the file has one, the two must agree.
   */
  config?: NetworkConfig | PresetName;
  /** sigma_data for a file without `precond` metadata (default 0.5); must agree when it has one. */
  sigmaData?: number;
  /** D for a file without `precond` metadata (default Infinity); must agree when it has one. */
  D?: number;
  /** D-aware c_in for a file without `precond` metadata (default false). */
  dAwareCIn?: boolean;
  /** Where the created network lives (default `auto`; see {@link CreateNetworkOptions.device | createNetwork}). */
  device?: DeviceOption;
  /** Arithmetic of the created network on CUDA (default `fp32`; see {@link CreateNetworkOptions.precision | createNetwork}). */
  precision?: Precision;
  /**
   * Load into this existing network instead of creating one; its configuration and sigma_data
   * must match the file's. Nothing is changed in it unless the whole file checks out.
   */
  into?: Network;
}

/** What {@link loadModel} returns. */
export interface LoadedModel {
  /** The network with the file's weights (the caller owns it: `dispose()` it when done). */
  net: Network;
  /** The file's metadata: objective, D, dataset and the extra keys it was saved with. */
  meta: ModelMeta;
  /** The training counters recorded when the model was saved (not loaded into `net`). */
  counters?: TrainCounters;
  /** The model file read (for a checkpoint directory, the file its marker names). */
  path: string;
}

/** A file written by the save functions. */
export interface SavedFile {
  /** Where it was written. */
  path: string;
  /** Its size in bytes. */
  bytes: number;
  /** SHA-256 of its bytes, lower-case hex. */
  sha256: string;
}

/** One file named by a checkpoint's completion marker. */
export interface CheckpointFileEntry {
  /** File name inside the checkpoint directory. */
  file: string;
  /** Size in bytes. */
  bytes: number;
  /** SHA-256 of the bytes, lower-case hex. */
  sha256: string;
}

/** The completion marker `checkpoint.json` of a checkpoint directory. */
export interface CheckpointMarker {
  /** Always {@link CHECKPOINT_FORMAT}. */
  format: typeof CHECKPOINT_FORMAT;
  /** Marker layout version (1). */
  version: number;
  /** Generation of the files (1 for the first save into the directory, then +1 per save). */
  generation: number;
  /** When the checkpoint was completed (ISO 8601). */
  written: string;
  /** The pfgm version that wrote it. */
  writtenBy: string;
  /** The network's training counters at the save. */
  counters: TrainCounters;
  /** The two files of this generation. */
  files: {
    /** The model file ({@link saveModel}'s layout). */
    model: CheckpointFileEntry;
    /** The training-state file ({@link saveTrainingState}'s layout). */
    state: CheckpointFileEntry;
  };
}

/** A step of {@link saveCheckpoint}, reported to its `hook` once that step is durable. */
export type CheckpointStage = 'model' | 'state' | 'marker';

/** Options of {@link saveCheckpoint}. */
export interface SaveCheckpointOptions extends SaveModelOptions {
  /**
   * Called after each durable step: the model file, the state file, the marker. For tests: a hook
   * that throws at `model` or `state` behaves like a crash between writes (the previous
   * checkpoint stays the one that loads).
   */
  hook?: (stage: CheckpointStage) => void | Promise<void>;
}

/** Options of {@link loadCheckpoint}. */
export interface LoadCheckpointOptions {
  /**
   * Load into this existing network instead of creating one (its configuration must match); it
   * is changed only when both files check out.
   */
  into?: Network;
  /** Where the created network lives (default `auto`); ignored with `into`. */
  device?: DeviceOption;
  /** Arithmetic of the created network on CUDA (default `fp32`); ignored with `into`. */
  precision?: Precision;
}

/** What {@link loadCheckpoint} returns. */
export interface LoadedCheckpoint<T extends object = Record<string, unknown>> {
  /** The network with raw and EMA weights, Adam's moments and the counters restored. */
  net: Network;
  /** The model file's metadata. */
  meta: ModelMeta;
  /** The trainer's own state as given to {@link saveCheckpoint}. */
  extra: T;
  /** The verified completion marker. */
  marker: CheckpointMarker;
  /** Absolute paths of the two files read. */
  files: {
    /** The model file. */
    model: string;
    /** The training-state file. */
    state: string;
  };
}

// --- errors and JSON ---------------------------------------------------------------------------

function fail(message: string, cause?: unknown): never {
  throw new PfgmError('ERR_PFGM_CHECKPOINT', message, cause === undefined ? undefined : { cause });
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function errnoCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

const AGAIN = 're-copy or re-export the file';

/** JSON with non-finite numbers as `{"$number": "Infinity"}`; other failures are argument errors. */
function toJson(what: string, value: unknown): string {
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

function fromJson(path: string, key: string, text: string): unknown {
  try {
    return JSON.parse(text, (_key, v: unknown) => (isNumberTag(v) ? Number(v.$number) : v));
  } catch (e) {
    fail(`'${path}': metadata '${key}' is not valid JSON (${errorMessage(e)}); ${AGAIN}`, e);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * A plain Uint8Array over a Buffer's bytes (no copy). decodeSafetensors copies tensors with
 * `bytes.slice()`, which on a Node Buffer is a view of the whole (pooled) ArrayBuffer, not a copy.
 */
function plainBytes(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

// --- files -------------------------------------------------------------------------------------

async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (e) {
    // Windows cannot open a directory, and some file systems refuse fsync on one: the rename is
    // then as durable as that platform makes it.
    if (!['EISDIR', 'EPERM', 'EINVAL', 'EBADF', 'ENOTSUP', 'EACCES'].includes(errnoCode(e) ?? '')) throw e;
  } finally {
    await handle?.close();
  }
}

/**
 * Writes a file so that a crash leaves either the old file or the complete new one: the bytes go
 * to `<path>.tmp-<pid>-<random>`, which is fsynced and renamed over `path`, then the directory is
 * fsynced. On an error the temporary file is removed and `path` is untouched.
 *
 * @throws PfgmError `ERR_PFGM_CHECKPOINT` naming the file and the system's reason (disk full, no
 *   permission, missing directory, ...).
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  let handle: FileHandle | undefined;
  try {
    handle = await open(tmp, 'wx', 0o644);
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(tmp, path);
  } catch (e) {
    await handle?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    fail(
      `could not write '${path}': ${errorMessage(e)}; check that its directory exists and is writable and that the disk has space (the previous file, if any, is unchanged)`,
      e,
    );
  }
  try {
    await syncDirectory(dirname(resolve(path)));
  } catch (e) {
    fail(`wrote '${path}' but could not flush its directory to disk: ${errorMessage(e)}`, e);
  }
}

async function readBytes(path: string, what: string): Promise<Uint8Array> {
  try {
    return plainBytes(await readFile(path));
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'ENOENT')
      fail(`${what} '${path}' does not exist: check the path (saveModel / saveCheckpoint write these files)`, e);
    if (code === 'EISDIR') fail(`${what} '${path}' is a directory: pass a .safetensors file`, e);
    fail(`could not read ${what} '${path}': ${errorMessage(e)}`, e);
  }
}

/**
 * Decodes a safetensors file with errors that tell a truncated file from one that is not
 * safetensors at all, and name the file.
 */
function parseSafetensors(path: string, bytes: Uint8Array, what: string): SafetensorsFile {
  const size = bytes.length;
  if (size < 8)
    fail(`${what} '${path}' is ${size} bytes: too short to be a safetensors file (empty or truncated); ${AGAIN}`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (headerLength < 2n || headerLength > 100_000_000n || (size > 8 && bytes[8] !== 0x7b)) {
    fail(
      `${what} '${path}' is not a safetensors file: it does not start with an 8-byte header length and a JSON header; pass a .safetensors file written by pfgm or by PyTorch`,
    );
  }
  const n = Number(headerLength);
  if (8 + n > size) {
    fail(`${what} '${path}' is truncated: its header needs ${n} bytes but only ${size - 8} follow; ${AGAIN}`);
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    fail(`${what} '${path}' is not a valid safetensors file: its header is not JSON (${errorMessage(e)}); ${AGAIN}`, e);
  }
  if (!isRecord(header)) fail(`${what} '${path}' is not a valid safetensors file: its header is not a JSON object`);
  let end = 0;
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const offsets = isRecord(entry) ? entry.data_offsets : undefined;
    if (Array.isArray(offsets) && typeof offsets[1] === 'number') end = Math.max(end, offsets[1]);
  }
  const have = size - 8 - n;
  if (end > have)
    fail(`${what} '${path}' is truncated: its tensors need ${end} bytes of data but the file has ${have}; ${AGAIN}`);
  if (header.__metadata__ !== undefined && !isRecord(header.__metadata__))
    fail(`${what} '${path}' is not a valid safetensors file: its __metadata__ is not an object`);
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

function checkFileVersion(path: string, version: string | undefined): void {
  if (version === undefined) return;
  const v = Number(version);
  if (!Number.isInteger(v) || v < 1) fail(`'${path}': metadata version '${version}' is not a version number`);
  if (v > FILE_VERSION) {
    fail(
      `'${path}' was written in layout version ${v} by a newer pfgm; this pfgm ${VERSION} reads version ${FILE_VERSION}: upgrade pfgm`,
    );
  }
}

// --- configurations ----------------------------------------------------------------------------

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (isRecord(value)) {
    const keys = Object.keys(value)
      .filter((k) => value[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The keys where two configurations differ, in EDM's names, e.g. `hidden: 16 vs 32`. */
function configDiff(a: NetworkConfig, b: NetworkConfig): string {
  const x = toNativeConfig(a);
  const y = toNativeConfig(b);
  const keys = [...new Set([...Object.keys(x), ...Object.keys(y)])];
  return keys
    .filter((k) => canonical(x[k]) !== canonical(y[k]))
    .map((k) => `${k}: ${canonical(x[k])} vs ${canonical(y[k])}`)
    .join(', ');
}

function sameConfig(a: NetworkConfig, b: NetworkConfig): boolean {
  return canonical(toNativeConfig(a)) === canonical(toNativeConfig(b));
}

/** A configuration from EDM-named metadata, with keys we do not know (e.g. sigma_data) dropped. */
function configFromMetadata(path: string, value: unknown): { config: NetworkConfig; sigmaData?: number } {
  if (!isRecord(value)) fail(`'${path}': metadata 'config' is not a JSON object; ${AGAIN}`);
  const { sigma_data: sigmaData, ...rest } = value;
  let config: NetworkConfig;
  try {
    const full = fromNativeConfig(rest);
    const known = Object.keys(preset(full.kind === 'mlp' ? 'mlp' : 'ddpmpp-cifar10'));
    config = Object.fromEntries(Object.entries(full).filter(([k]) => known.includes(k))) as unknown as NetworkConfig;
    validateNetworkConfig(config);
  } catch (e) {
    fail(`'${path}': metadata 'config' is not a valid network configuration (${errorMessage(e)})`, e);
  }
  return typeof sigmaData === 'number' ? { config, sigmaData } : { config };
}

function describeConfig(config: NetworkConfig): string {
  return canonical(toNativeConfig(config));
}

/**
 * The constant FIR filters EDM's SongUNet registers as `<conv>.resample_filter` buffers on its
 * up/down convolutions (EDM: outer(f, f) / sum(f)^2, shape [1, 1, k, k]), by name.
 */
function resampleFilters(c: NetworkConfig): Map<string, { shape: number[]; data: Float32Array }> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  if (c.kind !== 'songunet') return out;
  const f = c.resampleFilter.map((v) => Math.fround(v));
  const k = f.length;
  const norm = Math.fround(Math.fround(f.reduce((a, b) => Math.fround(a + b), 0)) ** 2);
  const data = new Float32Array(k * k);
  for (let i = 0; i < k; i++)
    for (let j = 0; j < k; j++) data[i * k + j] = Math.fround((f[i] as number) * (f[j] as number)) / norm;
  const modules: string[] = [];
  const levels = c.channelMult.length;
  for (let level = 1; level < levels; level++) {
    const r = c.imgResolution >> level;
    modules.push(`enc.${r}x${r}_down.conv0`, `enc.${r}x${r}_down.skip`);
    if (c.encoderType === 'skip') modules.push(`enc.${r}x${r}_aux_down`);
    if (c.encoderType === 'residual') modules.push(`enc.${r}x${r}_aux_residual`);
  }
  for (let level = levels - 1; level >= 0; level--) {
    const r = c.imgResolution >> level;
    if (level !== levels - 1) modules.push(`dec.${r}x${r}_up.conv0`, `dec.${r}x${r}_up.skip`);
    if (c.decoderType === 'skip' && level < levels - 1) modules.push(`dec.${r}x${r}_aux_up`);
  }
  for (const m of modules) out.set(`${m}.resample_filter`, { shape: [1, 1, k, k], data });
  return out;
}

// --- model files -------------------------------------------------------------------------------

const RESERVED_KEYS = new Set(['format', 'version', 'config', 'precond', 'counters', 'json_keys', 'written_by']);
const META_KEYS = new Set(['objective', 'D', 'dAwareCIn', 'dataset', 'pfgm']);

function datasetRecord(d: DatasetInfo): Record<string, unknown> {
  const out: Record<string, unknown> = {
    name: d.name,
    kind: d.kind,
    shape: d.shape,
    count: d.count,
    labelDim: d.labelDim,
  };
  if (d.classNames !== undefined) out.classNames = d.classNames;
  return out;
}

function modelMetadata(net: Network, meta: ModelMeta): Record<string, string> {
  if (!isRecord(meta)) throw new PfgmError('ERR_PFGM_ARGUMENT', 'saveModel: meta must be an object');
  if (typeof meta.objective !== 'string' || meta.objective.length === 0) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `saveModel: meta.objective must name the training objective (e.g. 'pfgmpp'), got ${JSON.stringify(meta.objective)}`,
    );
  }
  const D = meta.D === undefined ? net.D : checkD(meta.D);
  if (D !== net.D) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `saveModel: meta.D = ${D} but the network was created for D = ${net.D}; leave meta.D out or create the network with { D: ${D} }`,
    );
  }
  if ((meta.objective === 'pfgm') !== (net.objective === 'pfgm')) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `saveModel: meta.objective is '${meta.objective}' but the network serves '${net.objective}'; leave them consistent`,
    );
  }
  const md: Record<string, string> = {
    format: MODEL_FORMAT,
    version: String(FILE_VERSION),
    config: JSON.stringify(toNativeConfig(net.config)),
    precond: JSON.stringify({
      sigma_data: net.sigmaData,
      D: Number.isFinite(D) ? D : 'inf',
      d_aware_c_in: meta.dAwareCIn ?? net.dAwareCIn,
      adaptive_scale: net.adaptiveScale,
    }),
    objective: meta.objective,
  };
  if (net.pfgm !== undefined) md.pfgm = JSON.stringify(net.pfgm);
  if (meta.dataset !== undefined) md.dataset = toJson('meta.dataset', datasetRecord(meta.dataset));
  md.counters = JSON.stringify(net.counters());
  md.written_by = `pfgm ${VERSION}`;
  const jsonKeys: string[] = [];
  for (const [key, value] of Object.entries(meta)) {
    if (META_KEYS.has(key) || RESERVED_KEYS.has(key) || value === undefined) continue;
    if (typeof value === 'string') md[key] = value;
    else {
      md[key] = toJson(`meta.${key}`, value);
      jsonKeys.push(key);
    }
  }
  if (jsonKeys.length > 0) md.json_keys = JSON.stringify(jsonKeys);
  return md;
}

function f32(shape: number[], data: Float32Array): SafetensorsEntry {
  return { dtype: 'F32', shape, data };
}

/** The model file's bytes; everything is copied out of the network before this returns. */
function encodeModel(net: Network, meta: ModelMeta, options: SaveModelOptions): Uint8Array {
  const metadata = modelMetadata(net, meta);
  const { raw, ema, buffers } = net.flatWeights();
  const params = net.parameters();
  const entries: [string, SafetensorsEntry][] = [];
  for (const p of params) entries.push([p.name, f32(p.shape, ema.subarray(p.offset, p.offset + p.numel))]);
  for (const b of net.buffers()) entries.push([b.name, f32(b.shape, buffers.subarray(b.offset, b.offset + b.numel))]);
  for (const [name, f] of resampleFilters(net.config)) entries.push([name, f32(f.shape, f.data)]);
  if (options.raw !== false) {
    for (const p of params) entries.push([`raw.${p.name}`, f32(p.shape, raw.subarray(p.offset, p.offset + p.numel))]);
  }
  return encodeSafetensors(entries, metadata);
}

/**
 * Saves a network as one `.safetensors` model file (EMA weights under EDM's names, raw weights
 * under `raw.`, buffers, and the configuration in `__metadata__`; layout in this module's
 * description), written atomically. The network's state is copied when the call starts.
 *
 * @param path - The file to write (its directory is created when missing).
 * @param net - The network to save.
 * @param meta - Objective, D, dataset and any further keys to record.
 * @param options - `{ raw: false }` leaves the raw weights out.
 * @returns Where the file went, its size and SHA-256.
 * @throws PfgmError `ERR_PFGM_ARGUMENT` for meta that cannot be stored, `ERR_PFGM_CHECKPOINT` when
 *   the file cannot be written (the previous file at `path`, if any, is then unchanged).
 */
export async function saveModel(
  path: string,
  net: Network,
  meta: ModelMeta,
  options: SaveModelOptions = {},
): Promise<SavedFile> {
  const bytes = encodeModel(net, meta, options);
  await makeDirectory(dirname(resolve(path)));
  await writeFileAtomic(path, bytes);
  return { path, bytes: bytes.length, sha256: sha256(bytes) };
}

interface Precond {
  sigmaData?: number;
  D?: number;
  dAwareCIn?: boolean;
  adaptiveScale?: boolean;
}

function precondFromMetadata(path: string, text: string): Precond {
  const v = fromJson(path, 'precond', text);
  if (!isRecord(v)) fail(`'${path}': metadata 'precond' is not a JSON object; ${AGAIN}`);
  const out: Precond = {};
  if (v.sigma_data !== undefined) {
    if (typeof v.sigma_data !== 'number' || !(v.sigma_data > 0))
      fail(`'${path}': precond.sigma_data must be a number > 0, got ${JSON.stringify(v.sigma_data)}`);
    out.sigmaData = v.sigma_data;
  }
  if (v.D !== undefined) {
    const D = v.D === null || v.D === 'inf' || v.D === 'Infinity' || v.D === '+inf' ? Number.POSITIVE_INFINITY : v.D;
    if (typeof D !== 'number' || !(D > 0))
      fail(`'${path}': precond.D must be a number > 0 or "inf", got ${JSON.stringify(v.D)}`);
    out.D = D;
  }
  if (v.d_aware_c_in !== undefined) {
    if (typeof v.d_aware_c_in !== 'boolean')
      fail(`'${path}': precond.d_aware_c_in must be true or false, got ${JSON.stringify(v.d_aware_c_in)}`);
    out.dAwareCIn = v.d_aware_c_in;
  }
  if (v.adaptive_scale !== undefined) {
    if (typeof v.adaptive_scale !== 'boolean')
      fail(`'${path}': precond.adaptive_scale must be true or false, got ${JSON.stringify(v.adaptive_scale)}`);
    out.adaptiveScale = v.adaptive_scale;
  }
  return out;
}

function pfgmFromMetadata(path: string, text: string | undefined): PfgmSettings | undefined {
  if (text === undefined) return undefined;
  const v = fromJson(path, 'pfgm', text);
  const num = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
  if (
    !isRecord(v) ||
    !num(v.M) ||
    !num(v.tau) ||
    !num(v.s) ||
    !num(v.zMax) ||
    !num(v.upperNorm) ||
    !num(v.gamma) ||
    typeof v.restrictM !== 'boolean'
  ) {
    fail(`'${path}': metadata 'pfgm' is not {M, tau, s, zMax, upperNorm, gamma, restrictM}; ${AGAIN}`);
  }
  return { M: v.M, tau: v.tau, s: v.s, zMax: v.zMax, upperNorm: v.upperNorm, gamma: v.gamma, restrictM: v.restrictM };
}

function agree<T>(path: string, name: string, fromFile: T | undefined, fromOptions: T | undefined, dflt: T): T {
  if (fromFile !== undefined && fromOptions !== undefined && fromFile !== fromOptions) {
    fail(
      `'${path}' records ${name} = ${String(fromFile)} but options.${name} = ${String(fromOptions)}: leave options.${name} out to use the file's value`,
    );
  }
  return fromFile ?? fromOptions ?? dflt;
}

function countersFrom(path: string, key: string, value: unknown): TrainCounters {
  const ok = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  if (!isRecord(value) || !ok(value.steps) || !ok(value.adamSteps) || !ok(value.images) || !ok(value.skipped)) {
    fail(`'${path}': metadata '${key}' is not {steps, adamSteps, images, skipped} of non-negative integers; ${AGAIN}`);
  }
  return { steps: value.steps, adamSteps: value.adamSteps, images: value.images, skipped: value.skipped };
}

function metaFromMetadata(path: string, md: Record<string, string>, precond: Required<Precond>): ModelMeta {
  const meta: ModelMeta = { objective: md.objective ?? 'pfgmpp', D: precond.D, dAwareCIn: precond.dAwareCIn };
  const pfgm = pfgmFromMetadata(path, md.pfgm);
  if (pfgm !== undefined) meta.pfgm = pfgm;
  if (md.dataset !== undefined) {
    const d = fromJson(path, 'dataset', md.dataset);
    if (!isRecord(d) || typeof d.name !== 'string' || !Array.isArray(d.shape))
      fail(`'${path}': metadata 'dataset' is not a dataset description {name, kind, shape, count, labelDim}`);
    meta.dataset = d as unknown as DatasetInfo;
  }
  let jsonKeys: string[] = [];
  if (md.json_keys !== undefined) {
    const keys = fromJson(path, 'json_keys', md.json_keys);
    if (Array.isArray(keys)) jsonKeys = keys.filter((k): k is string => typeof k === 'string');
  }
  for (const [key, value] of Object.entries(md)) {
    if (META_KEYS.has(key) || RESERVED_KEYS.has(key)) continue;
    meta[key] = jsonKeys.includes(key) ? (fromJson(path, key, value) as ModelMeta[string]) : value;
  }
  return meta;
}

/** Checks every tensor of a model file against the network and gathers the flat weight sets. */
function weightsFromFile(
  path: string,
  file: SafetensorsFile,
  net: Network,
): { ema: Float32Array; raw: Float32Array | undefined; buffers: Float32Array } {
  const params = net.parameters();
  const bufferInfo = net.buffers();
  const filters = resampleFilters(net.config);
  const paramNames = new Set(params.map((p) => p.name));
  const bufferNames = new Set(bufferInfo.map((b) => b.name));
  const missing: string[] = [];
  const wrong: string[] = [];
  const unexpected: string[] = [];
  const hasRaw = [...file.tensors.keys()].some((k) => k.startsWith('raw.') && paramNames.has(k.slice(4)));

  const fill = (list: ParameterInfo[], prefix: string): Float32Array => {
    const flat = new Float32Array(list.reduce((n, p) => Math.max(n, p.offset + p.numel), 0));
    for (const p of list) {
      const name = prefix + p.name;
      const t = file.tensors.get(name);
      if (t === undefined) missing.push(name);
      else if (t.dtype !== 'F32') wrong.push(`${name} is ${t.dtype}, expected F32`);
      else if (canonical(t.shape) !== canonical(p.shape))
        wrong.push(`${name} has shape [${t.shape}], expected [${p.shape}]`);
      else flat.set(t.data as Float32Array, p.offset);
    }
    return flat;
  };
  const ema = fill(params, '');
  const raw = hasRaw ? fill(params, 'raw.') : undefined;
  const buffers = fill(bufferInfo, '');

  for (const [name, t] of file.tensors) {
    const base = name.startsWith('raw.') ? name.slice(4) : name;
    if (paramNames.has(base)) continue;
    if (bufferNames.has(base)) continue; // a `raw.` copy of a buffer (a Python writer's) is ignored
    const f = filters.get(base);
    if (f === undefined) {
      unexpected.push(name);
      continue;
    }
    const values = t.data;
    const same =
      canonical(t.shape) === canonical(f.shape) &&
      values.length === f.data.length &&
      f.data.every((v, i) => Math.abs(Number(values[i]) - v) <= 1e-6);
    if (!same)
      wrong.push(
        `${name} does not equal the resampleFilter [${net.config.kind === 'songunet' ? net.config.resampleFilter : ''}] of the config`,
      );
  }

  if (missing.length + wrong.length + unexpected.length > 0) {
    const list = (what: string, names: string[]) =>
      names.length === 0
        ? []
        : [`${what} (${names.length}): ${names.slice(0, 5).join('; ')}${names.length > 5 ? '; ...' : ''}`];
    fail(
      `'${path}' does not fit the network ${describeConfig(net.config)}: ${[
        ...list('missing tensors', missing),
        ...list('wrong tensors', wrong),
        ...list('unexpected tensors', unexpected),
      ].join(
        '. ',
      )}. The file holds a different network or was cut short: load it with the config it was trained with (options.config for a file without pfgm metadata), or re-export it`,
    );
  }
  return { ema, raw, buffers };
}

interface PreparedModel {
  net: Network;
  created: boolean;
  meta: ModelMeta;
  counters?: TrainCounters;
  apply(): void;
}

/** Checks a model file completely against (a new or the given) network; `apply` loads it. */
function prepareModel(path: string, bytes: Uint8Array, options: LoadModelOptions): PreparedModel {
  const file = parseSafetensors(path, bytes, 'model file');
  const md = file.metadata;
  if (md.format !== undefined && md.format !== MODEL_FORMAT) {
    fail(
      md.format === TRAINING_STATE_FORMAT
        ? `'${path}' is a training state, not a model: pass the model file (model-N.safetensors), or the checkpoint directory`
        : `'${path}' is a '${md.format}' file, not a pfgm model`,
    );
  }
  checkFileVersion(path, md.version);
  const fromFile = md.config === undefined ? undefined : configFromMetadata(path, fromJson(path, 'config', md.config));
  let given: NetworkConfig | undefined;
  if (options.config !== undefined) {
    given = typeof options.config === 'string' ? preset(options.config) : validateNetworkConfig(options.config);
  }
  if (fromFile !== undefined && given !== undefined && !sameConfig(fromFile.config, given)) {
    fail(
      `'${path}' holds a network whose config differs from options.config (${configDiff(fromFile.config, given)}; file vs options): leave options.config out to use the file's`,
    );
  }
  const config = fromFile?.config ?? given;
  if (config === undefined) {
    fail(
      `'${path}' has no 'config' metadata (a plain PyTorch state dict?): pass loadModel(path, { config }) with the network's configuration`,
    );
  }
  const pre = md.precond === undefined ? {} : precondFromMetadata(path, md.precond);
  const objective = md.objective === 'pfgm' ? 'pfgm' : 'pfgmpp';
  const D = agree(path, 'D', pre.D, options.D, objective === 'pfgm' ? 1 : Number.POSITIVE_INFINITY);
  const precond: Required<Precond> = {
    sigmaData: agree(path, 'sigmaData', pre.sigmaData ?? fromFile?.sigmaData, options.sigmaData, 0.5),
    D,
    dAwareCIn: agree(path, 'dAwareCIn', pre.dAwareCIn, options.dAwareCIn, false),
    // Files written before adaptive_scale existed used EDM's coefficients.
    adaptiveScale: pre.adaptiveScale ?? false,
  };
  const meta = metaFromMetadata(path, md, precond);
  const counters =
    md.counters === undefined ? undefined : countersFrom(path, 'counters', fromJson(path, 'counters', md.counters));

  const into = options.into;
  if (into !== undefined) {
    if (!sameConfig(into.config, config)) {
      fail(
        `'${path}' holds a different network than the one to load into (${configDiff(config, into.config)}; file vs network): create the network with the file's config, or load without 'into'`,
      );
    }
    if (into.objective !== objective || into.adaptiveScale !== precond.adaptiveScale) {
      fail(
        `'${path}' holds a '${objective}' model${precond.adaptiveScale ? ' with adaptive scaling' : ''}, the network to load into differs: create it with the file's objective and adaptiveScale, or load without 'into'`,
      );
    }
    if (into.sigmaData !== precond.sigmaData || into.D !== precond.D) {
      fail(
        `'${path}' was saved with sigma_data ${precond.sigmaData} and D ${precond.D}, the network to load into has ${into.sigmaData} and ${into.D}: create it with the file's values, or load without 'into'`,
      );
    }
  }
  const net =
    into ??
    createNetwork(config, {
      sigmaData: precond.sigmaData,
      D: precond.D,
      dAwareCIn: precond.dAwareCIn,
      adaptiveScale: precond.adaptiveScale,
      objective,
      pfgm: meta.pfgm as PfgmSettings | undefined,
      device: options.device,
      precision: options.precision,
    });
  if (into !== undefined && into.pfgm === undefined && meta.pfgm !== undefined) into.pfgm = meta.pfgm as PfgmSettings;
  try {
    const w = weightsFromFile(path, file, net);
    const raw = w.raw ?? w.ema;
    const which = options.weights ?? 'both';
    const apply = () =>
      net.loadFlatWeights({
        raw: which === 'ema' ? w.ema : raw,
        ema: which === 'raw' ? raw : w.ema,
        buffers: w.buffers,
      });
    return counters === undefined
      ? { net, created: into === undefined, meta, apply }
      : { net, created: into === undefined, meta, counters, apply };
  } catch (e) {
    if (into === undefined) net.dispose();
    throw e;
  }
}

/**
 * Loads a model file (or the model of a checkpoint directory, verified against its marker) into
 * a new network built with {@link createNetwork}, or into `options.into`.
 *
 * @param path - A `.safetensors` model file, or a checkpoint directory.
 * @param options - Which weights go where, and the config / preconditioning for files without
 *   pfgm's metadata.
 * @throws PfgmError `ERR_PFGM_CHECKPOINT` for a missing, truncated or corrupt file, a file that is
 *   not safetensors, a checksum mismatch with a checkpoint's marker, missing, unexpected or
 *   mis-shaped tensors, or a config that does not match `options`.
 */
export async function loadModel(path: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  let file = path;
  let bytes: Uint8Array;
  if (await isDirectory(path)) {
    const verified = await readVerified(path, ['model']);
    file = verified.paths.model;
    bytes = verified.bytes.model as Uint8Array;
  } else {
    bytes = await readBytes(path, 'model file');
  }
  const prepared = prepareModel(file, bytes, options);
  try {
    prepared.apply();
  } catch (e) {
    if (prepared.created) prepared.net.dispose();
    throw e;
  }
  const out: LoadedModel = { net: prepared.net, meta: prepared.meta, path: file };
  if (prepared.counters !== undefined) out.counters = prepared.counters;
  return out;
}

// --- training state ----------------------------------------------------------------------------

function encodeState(net: Network, extra: object): Uint8Array {
  if (!isRecord(extra))
    throw new PfgmError('ERR_PFGM_ARGUMENT', 'saveTrainingState: extra must be a plain object (the trainer state)');
  const extraJson = toJson('extra', extra);
  const { adamM, adamV, counters } = net.optimizerState();
  const n = net.paramCount;
  return encodeSafetensors(
    [
      ['adam_m', f32([n], adamM)],
      ['adam_v', f32([n], adamV)],
    ],
    {
      format: TRAINING_STATE_FORMAT,
      version: String(FILE_VERSION),
      counters: JSON.stringify(counters),
      extra: extraJson,
      param_count: String(n),
      params: JSON.stringify(net.parameters().map((p) => [p.name, p.shape])),
      config: JSON.stringify(toNativeConfig(net.config)),
      written_by: `pfgm ${VERSION}`,
    },
  );
}

/**
 * Saves what resuming needs besides the weights: Adam's moments, the counters (which are also
 * the random streams' state) and the trainer's own `extra` state (data-order seed, epoch,
 * position, hyperparameters...; any JSON, Infinity and NaN included), atomically.
 *
 * @param path - The file to write (its directory is created when missing).
 * @param net - The network whose optimizer state to save.
 * @param extra - The trainer's state as a plain object.
 * @throws PfgmError `ERR_PFGM_ARGUMENT` when `extra` cannot be stored as JSON (nothing is
 *   written), `ERR_PFGM_CHECKPOINT` when the file cannot be written.
 */
export async function saveTrainingState(path: string, net: Network, extra: object): Promise<SavedFile> {
  const bytes = encodeState(net, extra);
  await makeDirectory(dirname(resolve(path)));
  await writeFileAtomic(path, bytes);
  return { path, bytes: bytes.length, sha256: sha256(bytes) };
}

function prepareState(
  path: string,
  bytes: Uint8Array,
  net: Network,
): { extra: Record<string, unknown>; apply(): void } {
  const file = parseSafetensors(path, bytes, 'training state');
  const md = file.metadata;
  if (md.format !== TRAINING_STATE_FORMAT) {
    fail(
      md.format === MODEL_FORMAT
        ? `'${path}' is a model file, not a training state: pass the state file (state-N.safetensors), or use loadModel`
        : `'${path}' is not a pfgm training state (format ${JSON.stringify(md.format ?? null)}): pass a file written by saveTrainingState`,
    );
  }
  checkFileVersion(path, md.version);
  const fileConfig = md.config ?? '(unknown)';
  const count = Number(md.param_count);
  if (count !== net.paramCount) {
    fail(
      `'${path}' is the training state of a network with ${md.param_count} parameters, but this network has ${net.paramCount}: it belongs to a different configuration (file: ${fileConfig}; network: ${describeConfig(net.config)}). Resume with the configuration the run was started with`,
    );
  }
  const layout = md.params === undefined ? undefined : fromJson(path, 'params', md.params);
  if (!Array.isArray(layout)) fail(`'${path}': metadata 'params' is missing or not a list; ${AGAIN}`);
  const params = net.parameters();
  if (layout.length !== params.length) {
    fail(
      `'${path}' lists ${layout.length} parameter tensors, this network has ${params.length}: it belongs to a different configuration (file: ${fileConfig}). Resume with the configuration the run was started with`,
    );
  }
  for (const [i, p] of params.entries()) {
    const entry = layout[i] as unknown;
    if (!Array.isArray(entry) || entry[0] !== p.name || canonical(entry[1]) !== canonical(p.shape)) {
      fail(
        `'${path}' does not match this network: parameter #${i} is ${canonical(entry)} in the file but ${canonical([p.name, p.shape])} in the network (file config: ${fileConfig}). Resume with the configuration the run was started with`,
      );
    }
  }
  const moment = (name: string): Float32Array => {
    const t = file.tensors.get(name);
    if (t === undefined) fail(`'${path}' lacks the tensor '${name}' (Adam's moments); ${AGAIN}`);
    if (t.dtype !== 'F32' || canonical(t.shape) !== canonical([count]))
      fail(`'${path}': '${name}' is ${t.dtype} [${t.shape}], expected F32 [${count}]; ${AGAIN}`);
    return t.data as Float32Array;
  };
  const adamM = moment('adam_m');
  const adamV = moment('adam_v');
  if (md.counters === undefined) fail(`'${path}' lacks its 'counters' metadata; ${AGAIN}`);
  const counters = countersFrom(path, 'counters', fromJson(path, 'counters', md.counters));
  const extra = md.extra === undefined ? {} : fromJson(path, 'extra', md.extra);
  if (!isRecord(extra)) fail(`'${path}': metadata 'extra' is not a JSON object; ${AGAIN}`);
  return { extra, apply: () => net.loadOptimizerState({ adamM, adamV, counters }) };
}

/**
 * Restores a training state written by {@link saveTrainingState} into `net` (Adam's moments and
 * counters) and returns the trainer's `extra` state. Nothing is changed unless the file checks out.
 *
 * @param path - The training-state file.
 * @param net - A network with the configuration the state was saved from.
 * @returns The `extra` object given when saving.
 * @throws PfgmError `ERR_PFGM_CHECKPOINT` for a missing, truncated or corrupt file, a model file
 *   given instead, or a state saved from a network with other parameters (count, names, shapes).
 */
export async function loadTrainingState<T extends object = Record<string, unknown>>(
  path: string,
  net: Network,
): Promise<T> {
  const prepared = prepareState(path, await readBytes(path, 'training state'), net);
  prepared.apply();
  return prepared.extra as T;
}

// --- checkpoint directories --------------------------------------------------------------------

const GENERATION_FILE = /^(model|state)-(\d+)\.safetensors$/;
const TEMP_FILE = /^(?:(?:model|state)-\d+\.safetensors|model\.safetensors|checkpoint\.json)\.tmp-(\d+)-[0-9a-f]+$/;

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function makeDirectory(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    fail(`could not create the directory '${dir}': ${errorMessage(e)}`, e);
  }
}

function parseMarker(path: string, text: string): CheckpointMarker {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch (e) {
    fail(
      `the checkpoint marker '${path}' is not JSON (${errorMessage(e)}): it was damaged after it was written; restore the directory from a copy`,
      e,
    );
  }
  const entry = (v: unknown): v is CheckpointFileEntry =>
    isRecord(v) &&
    typeof v.file === 'string' &&
    v.file === basename(v.file) &&
    GENERATION_FILE.test(v.file) &&
    typeof v.bytes === 'number' &&
    typeof v.sha256 === 'string';
  if (
    !isRecord(m) ||
    m.format !== CHECKPOINT_FORMAT ||
    typeof m.generation !== 'number' ||
    !isRecord(m.files) ||
    !entry(m.files.model) ||
    !entry(m.files.state)
  ) {
    fail(`'${path}' is not a pfgm checkpoint marker (format '${CHECKPOINT_FORMAT}' naming a model and a state file)`);
  }
  if (typeof m.version !== 'number' || m.version > FILE_VERSION)
    fail(
      `'${path}' has marker version ${String(m.version)}; this pfgm ${VERSION} reads version ${FILE_VERSION}: upgrade pfgm`,
    );
  return m as unknown as CheckpointMarker;
}

async function readMarker(dir: string): Promise<{ path: string; marker: CheckpointMarker }> {
  const path = join(dir, CHECKPOINT_MARKER);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (errnoCode(e) !== 'ENOENT') fail(`could not read '${path}': ${errorMessage(e)}`, e);
    if (!(await isDirectory(dir))) fail(`the checkpoint directory '${dir}' does not exist: check the path`, e);
    fail(
      `'${dir}' holds no completed checkpoint (no ${CHECKPOINT_MARKER}; a save that was interrupted before it finished leaves none): point at a directory written by saveCheckpoint, or load a model file with loadModel`,
      e,
    );
  }
  return { path, marker: parseMarker(path, text) };
}

type Part = 'model' | 'state';

/** Reads the marker and the named files and checks their sizes and SHA-256 against it. */
async function readVerified(
  dir: string,
  parts: Part[],
): Promise<{ marker: CheckpointMarker; paths: Record<Part, string>; bytes: Partial<Record<Part, Uint8Array>> }> {
  const { path: markerPath, marker } = await readMarker(dir);
  const paths = {
    model: resolve(dir, marker.files.model.file),
    state: resolve(dir, marker.files.state.file),
  };
  const bytes: Partial<Record<Part, Uint8Array>> = {};
  for (const part of parts) {
    const entry = marker.files[part];
    const path = paths[part];
    let data: Uint8Array;
    try {
      data = plainBytes(await readFile(path));
    } catch (e) {
      fail(
        `the checkpoint marker '${markerPath}' names '${entry.file}', which cannot be read (${errorMessage(e)}): the file was moved or deleted; restore it from a copy, or train from the last model file you trust`,
        e,
      );
    }
    if (data.length !== entry.bytes) {
      fail(
        `'${path}' is ${data.length} bytes but the checkpoint marker records ${entry.bytes}: the file was truncated or changed after the checkpoint was written; restore it from a copy, or train from the last model file you trust`,
      );
    }
    const hash = sha256(data);
    if (hash !== entry.sha256) {
      fail(
        `'${path}' fails its checksum (SHA-256 ${hash}, the checkpoint marker records ${entry.sha256}): the file is corrupt; restore it from a copy, or train from the last model file you trust`,
      );
    }
    bytes[part] = data;
  }
  return { marker, paths, bytes };
}

/**
 * Reads a checkpoint directory's completion marker and checks both files it names (sizes and
 * SHA-256) without loading them.
 *
 * @returns The marker (file names are relative to `dir`).
 * @throws PfgmError `ERR_PFGM_CHECKPOINT` when there is no completed checkpoint, a file is
 *   missing, or a size or checksum does not match.
 */
export async function verifyCheckpoint(dir: string): Promise<CheckpointMarker> {
  return (await readVerified(dir, ['model', 'state'])).marker;
}

async function lastGeneration(dir: string): Promise<number> {
  let last = 0;
  try {
    last = (await readMarker(dir)).marker.generation;
  } catch {
    // no marker, or a damaged one: the file names below still say which numbers are taken
  }
  for (const name of await readdir(dir)) {
    const m = GENERATION_FILE.exec(name);
    if (m !== null) last = Math.max(last, Number(m[2]));
  }
  return last;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoCode(e) === 'EPERM';
  }
}

/**
 * Points `<dir>/model.safetensors` at the new model: a hard link made under a temporary name and
 * renamed over the old one, or an atomic copy where links are not supported. The checkpoint is
 * complete before this runs, so a failure here only warns.
 */
async function updateLatestModel(dir: string, file: string, bytes: Uint8Array): Promise<void> {
  const target = join(dir, LATEST_MODEL);
  const tmp = `${target}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    await link(join(dir, file), tmp);
    await rename(tmp, target);
    await syncDirectory(dir);
    return;
  } catch {
    await rm(tmp, { force: true }).catch(() => undefined);
  }
  try {
    await writeFileAtomic(target, bytes);
  } catch (e) {
    process.emitWarning(
      `pfgm: the checkpoint in '${dir}' is complete (${file}) but '${target}' could not be updated: ${errorMessage(e)}`,
    );
  }
}

/** Removes generations the marker does not name and temporary files of processes that are gone. */
async function removeStale(dir: string, marker: CheckpointMarker): Promise<void> {
  const keep = new Set([marker.files.model.file, marker.files.state.file]);
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const temp = TEMP_FILE.exec(name);
    const stale = GENERATION_FILE.test(name)
      ? !keep.has(name)
      : temp !== null && Number(temp[1]) !== process.pid && !alive(Number(temp[1]));
    if (stale) await rm(join(dir, name), { force: true }).catch(() => undefined);
  }
}

const saving = new Map<string, Promise<unknown>>();

/** Runs the saves into one directory from this process one after another, in call order. */
function oneAtATime<T>(dir: string, body: () => Promise<T>): Promise<T> {
  const key = resolve(dir);
  const run = (saving.get(key) ?? Promise.resolve()).catch(() => undefined).then(body);
  saving.set(key, run);
  run
    .finally(() => {
      if (saving.get(key) === run) saving.delete(key);
    })
    .catch(() => undefined);
  return run;
}

/**
 * Saves a complete, crash-safe checkpoint into `dir`: the model file, the training state, then the
 * completion marker `checkpoint.json` (layout and guarantees in this module's description). The
 * previous checkpoint in `dir` stays the valid one until the new one is complete, and is deleted
 * only then. The network's state is copied when the call starts; call it between training steps.
 *
 * @param dir - The checkpoint directory (created when missing). Saves from this process run one
 *   after another; one process may save into a directory at a time.
 * @param net - The network to save.
 * @param meta - The model file's metadata (objective, D, dataset, ...).
 * @param extra - The trainer's own state for the training-state file.
 * @param options - `raw: false` to leave raw weights out; `hook` for crash tests.
 * @returns The marker that was written.
 * @throws PfgmError `ERR_PFGM_ARGUMENT` when `meta` or `extra` cannot be stored (nothing is
 *   written), `ERR_PFGM_CHECKPOINT` when a file cannot be written (the previous checkpoint remains).
 */
export async function saveCheckpoint(
  dir: string,
  net: Network,
  meta: ModelMeta,
  extra: object,
  options: SaveCheckpointOptions = {},
): Promise<CheckpointMarker> {
  // Everything is serialised before the first file is touched: a failure here writes nothing.
  const modelBytes = encodeModel(net, meta, options);
  const stateBytes = encodeState(net, extra);
  const counters = net.counters();
  return oneAtATime(dir, () => writeCheckpoint(dir, modelBytes, stateBytes, counters, options));
}

async function writeCheckpoint(
  dir: string,
  modelBytes: Uint8Array,
  stateBytes: Uint8Array,
  counters: TrainCounters,
  options: SaveCheckpointOptions,
): Promise<CheckpointMarker> {
  await makeDirectory(dir);
  const generation = (await lastGeneration(dir)) + 1;
  const tag = String(generation).padStart(6, '0');
  const model: CheckpointFileEntry = {
    file: `model-${tag}.safetensors`,
    bytes: modelBytes.length,
    sha256: sha256(modelBytes),
  };
  const state: CheckpointFileEntry = {
    file: `state-${tag}.safetensors`,
    bytes: stateBytes.length,
    sha256: sha256(stateBytes),
  };
  const marker: CheckpointMarker = {
    format: CHECKPOINT_FORMAT,
    version: FILE_VERSION,
    generation,
    written: new Date().toISOString(),
    writtenBy: `pfgm ${VERSION}`,
    counters,
    files: { model, state },
  };
  const written: string[] = [];
  try {
    await writeFileAtomic(join(dir, model.file), modelBytes);
    written.push(model.file);
    await options.hook?.('model');
    await writeFileAtomic(join(dir, state.file), stateBytes);
    written.push(state.file);
    await options.hook?.('state');
    await writeFileAtomic(join(dir, CHECKPOINT_MARKER), `${JSON.stringify(marker, null, 2)}\n`);
  } catch (e) {
    // Unless the new marker did land (a failure after its rename), the old marker is the valid
    // one: this generation's files are orphans.
    const current = await readMarker(dir).catch(() => undefined);
    if (current?.marker.generation !== generation) {
      for (const f of written) await rm(join(dir, f), { force: true }).catch(() => undefined);
    }
    throw e;
  }
  await options.hook?.('marker');
  await updateLatestModel(dir, model.file, modelBytes);
  await removeStale(dir, marker);
  return marker;
}

/**
 * Loads the checkpoint of a directory written by {@link saveCheckpoint}: verifies the marker's
 * sizes and SHA-256 for both files, checks both completely against the network, and only then
 * restores raw and EMA weights, buffers, Adam's moments and counters.
 *
 * @param dir - The checkpoint directory.
 * @param options - `into` to restore into an existing network of the same configuration.
 * @throws PfgmError `ERR_PFGM_CHECKPOINT` when there is no completed checkpoint, a file is missing,
 *   truncated or corrupt, or the files do not fit the network.
 */
export async function loadCheckpoint<T extends object = Record<string, unknown>>(
  dir: string,
  options: LoadCheckpointOptions = {},
): Promise<LoadedCheckpoint<T>> {
  const { marker, paths, bytes } = await readVerified(dir, ['model', 'state']);
  const model = prepareModel(
    paths.model,
    bytes.model as Uint8Array,
    options.into === undefined ? { device: options.device, precision: options.precision } : { into: options.into },
  );
  try {
    const state = prepareState(paths.state, bytes.state as Uint8Array, model.net);
    model.apply();
    state.apply();
    return { net: model.net, meta: model.meta, extra: state.extra as T, marker, files: paths };
  } catch (e) {
    if (model.created) model.net.dispose();
    throw e;
  }
}
