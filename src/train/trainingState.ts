/**
 * Training-state files: what resuming needs besides the weights.
 *
 * **Training-state file** ({@link saveTrainingState}): tensors `adam_m` and `adam_v` (Adam's
 * moments, flat F32 in parameter order); metadata `format` = `pfgm-training-state`, `version`,
 * `counters` (JSON `{steps, adamSteps, images, skipped}`: also the state of the random streams,
 * which are keyed by step), `extra` (JSON of the trainer's own state), `param_count`, `params`
 * (JSON `[[name, shape], ...]`, checked against the network on load) and `config`.
 *
 * Every problem with a file is a {@link PfgmError} `ERR_PFGM_CHECKPOINT` that names the file and
 * says what to do; bad arguments to the save functions are `ERR_PFGM_ARGUMENT`.
 *
 * @module
 */
import { dirname, resolve } from 'node:path';
import { encodeSafetensors } from '../codecs/safetensors.js';
import { PfgmError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { makeDirectory } from '../io/files.js';
import { toNativeConfig } from '../models/config.js';
import type { Network } from '../models/network.js';
import {
  AGAIN,
  canonical,
  checkFileVersion,
  countersFrom,
  describeConfig,
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
} from '../models/pfgmFiles.js';
import { VERSION } from '../version.js';

/** The training-state file's bytes; everything is copied out of the network before this returns. */
export function encodeState(net: Network, extra: object): Uint8Array {
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

/** A training-state file checked completely against a network; `apply` loads it. */
export function prepareState(
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
