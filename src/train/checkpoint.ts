/**
 * Crash-safe checkpoint directories: a model file and a training-state file that load together
 * or not at all.
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
import { randomBytes } from 'node:crypto';
import { link, readdir, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { syncDirectory, writeFileAtomic } from '../io/atomic.js';
import { errnoCode, errorMessage, makeDirectory } from '../io/files.js';
import {
  CHECKPOINT_FORMAT,
  CHECKPOINT_MARKER,
  type CheckpointFileEntry,
  type CheckpointMarker,
  GENERATION_FILE,
  readMarker,
  readVerified,
} from '../models/checkpointMarker.js';
import { encodeModel, type ModelMeta, prepareModel, type SaveModelOptions } from '../models/modelFile.js';
import type { Network, Precision, TrainCounters } from '../models/network.js';
import { FILE_VERSION, sha256 } from '../models/pfgmFiles.js';
import type { DeviceOption } from '../tensor.js';
import { VERSION } from '../version.js';
import { encodeState, prepareState } from './trainingState.js';

/** File name of the latest complete model inside a checkpoint directory (a link to model-N). */
export const LATEST_MODEL = 'model.safetensors';

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

const TEMP_FILE = /^(?:(?:model|state)-\d+\.safetensors|model\.safetensors|checkpoint\.json)\.tmp-(\d+)-[0-9a-f]+$/;

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
