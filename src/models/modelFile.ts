/**
 * Model files: one `.safetensors` file per model that PyTorch loads as an EDM state dict.
 *
 * **Model file** ({@link saveModel}, one `.safetensors`, every tensor F32, little-endian):
 * - the EMA weights under EDM's state-dict names (`map_layer0.weight`, `enc.8x8_conv.weight`, ...):
 *   the default tensor set, what PyTorch gets from `load_file` + `load_state_dict`;
 * - the buffers (NCSN++'s `map_noise.freqs`) unprefixed, and for the U-Nets the constant
 *   `*.resample_filter` buffers EDM registers on its up/down convolutions, so that the default set
 *   alone is a complete EDM state dict (`load_state_dict(strict=True)` accepts it);
 * - the raw (trained) weights under `raw.` (`raw.map_layer0.weight`), unless `{ raw: false }`;
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
 * A PyTorch state dict (EDM's names, `model.`-prefixed or not, F32, F16, BF16 or F64, no `raw.`
 * set) loads with {@link loadModel}, its EMA weights standing in for raw ones; without pfgm's
 * metadata pass `{ config }` (and `sigmaData`, `D` when not EDM's 0.5 and Infinity). Every problem
 * with a file is a {@link PfgmError} `ERR_PFGM_CHECKPOINT` naming the file and the fix.
 *
 * @module
 */
import { dirname, resolve } from 'node:path';
import { encodeSafetensors, type SafetensorsEntry } from '../codecs/safetensors.js';
import type { DatasetInfo } from '../data/dataset.js';
import { PfgmError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { errorMessage, isDirectory, makeDirectory } from '../io/files.js';
import { TRAIN_DEFAULTS } from '../physics/trainOptions.js';
import type { DeviceOption } from '../tensor.js';
import { checkD } from '../validate.js';
import { VERSION } from '../version.js';
import { readVerified } from './checkpointMarker.js';
import {
  fromNativeConfig,
  type NetworkConfig,
  type PresetName,
  preset,
  toNativeConfig,
  validateNetworkConfig,
} from './config.js';
import { weightsFromFile } from './modelWeights.js';
import {
  type CreateNetworkOptions,
  createNetwork,
  type Network,
  type PfgmSettings,
  type Precision,
  type TrainCounters,
  type WeightSet,
} from './network.js';
import {
  AGAIN,
  canonical,
  checkFileVersion,
  countersFrom,
  FILE_VERSION,
  f32,
  fail,
  fromJson,
  isRecord,
  MODEL_FORMAT,
  parseSafetensors,
  readBytes,
  type SavedFile,
  sha256,
  TRAINING_STATE_FORMAT,
  toJson,
} from './pfgmFiles.js';
import { resampleFilters } from './resampleFilters.js';
import { resolveModelPath, shippedModelNames } from './shippedModels.js';

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
  /** Whether the network uses docs/method.md §2.2's D-aware c_in (default false). */
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
    const known = Object.keys(
      preset(full.kind === 'mlp' ? 'mlp' : full.kind === 'dhariwalunet' ? 'adm-imagenet64' : 'ddpmpp-cifar10'),
    );
    config = Object.fromEntries(Object.entries(full).filter(([k]) => known.includes(k))) as unknown as NetworkConfig;
    validateNetworkConfig(config);
  } catch (e) {
    fail(`'${path}': metadata 'config' is not a valid network configuration (${errorMessage(e)})`, e);
  }
  return typeof sigmaData === 'number' ? { config, sigmaData } : { config };
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

/** The model file's bytes; everything is copied out of the network before this returns. */
export function encodeModel(net: Network, meta: ModelMeta, options: SaveModelOptions): Uint8Array {
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

/** A model file checked completely against a network, not yet loaded into it. */
export interface PreparedModel {
  /** The network the file goes into. */
  net: Network;
  /** Whether `net` was created for this file (then the caller disposes of it on failure). */
  created: boolean;
  /** The file's metadata. */
  meta: ModelMeta;
  /** The counters recorded in the file. */
  counters?: TrainCounters;
  /** Loads the checked weights into `net`. */
  apply(): void;
}

/** Checks a model file completely against (a new or the given) network; `apply` loads it. */
export function prepareModel(path: string, bytes: Uint8Array, options: LoadModelOptions): PreparedModel {
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
    sigmaData: agree(
      path,
      'sigmaData',
      pre.sigmaData ?? fromFile?.sigmaData,
      options.sigmaData,
      TRAIN_DEFAULTS.network.sigmaData,
    ),
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
 * @param path - A `.safetensors` model file, a checkpoint directory, or the name of a model that
 *   ships with the package (`fashion-mnist`; a file or folder of that name in the working
 *   directory wins).
 * @param options - Which weights go where, and the config / preconditioning for files without
 *   pfgm's metadata.
 * @throws PfgmError `ERR_PFGM_CHECKPOINT` for a missing, truncated or corrupt file, a file that is
 *   not safetensors, a checksum mismatch with a checkpoint's marker, missing, unexpected or
 *   mis-shaped tensors, or a config that does not match `options`.
 */
export async function loadModel(path: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  const where = await resolveModelPath(path);
  let file = where;
  let bytes: Uint8Array;
  if (await isDirectory(where)) {
    const verified = await readVerified(where, ['model']);
    file = verified.paths.model;
    bytes = verified.bytes.model as Uint8Array;
  } else {
    bytes = await readBytes(
      where,
      where.includes('/') || where.includes('.')
        ? 'model file'
        : `model file (or the name of a shipped model: ${shippedModelNames.join(', ')})`,
    );
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
