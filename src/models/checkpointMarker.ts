/**
 * The completion marker `checkpoint.json` of a checkpoint directory (the directory's layout and
 * its guarantees: train/checkpoint.ts), and the verified read of the files it names: sizes and
 * SHA-256 are checked before anything is decoded. It sits with the model file because
 * `loadModel` also loads the model of a checkpoint directory; writing checkpoints is the
 * trainer's side (train/checkpoint.ts).
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { errnoCode, errorMessage, isDirectory, readFileBytes } from '../io/files.js';
import { VERSION } from '../version.js';
import type { TrainCounters } from './network.js';
import { FILE_VERSION, fail, isRecord, sha256 } from './pfgmFiles.js';

/** `format` of a checkpoint's completion marker. */
export const CHECKPOINT_FORMAT = 'pfgm-checkpoint';
/** File name of the completion marker inside a checkpoint directory. */
export const CHECKPOINT_MARKER = 'checkpoint.json';

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

/** Names of a generation's files: `model-000003.safetensors`, `state-000003.safetensors`. */
export const GENERATION_FILE = /^(model|state)-(\d+)\.safetensors$/;

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

/** Reads and checks the marker of `dir`; a missing one says whether `dir` exists at all. */
export async function readMarker(dir: string): Promise<{ path: string; marker: CheckpointMarker }> {
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

/** One of the two files of a checkpoint generation. */
export type CheckpointPart = 'model' | 'state';

/** Reads the marker and the named files and checks their sizes and SHA-256 against it. */
export async function readVerified(
  dir: string,
  parts: CheckpointPart[],
): Promise<{
  marker: CheckpointMarker;
  paths: Record<CheckpointPart, string>;
  bytes: Partial<Record<CheckpointPart, Uint8Array>>;
}> {
  const { path: markerPath, marker } = await readMarker(dir);
  const paths = {
    model: resolve(dir, marker.files.model.file),
    state: resolve(dir, marker.files.state.file),
  };
  const bytes: Partial<Record<CheckpointPart, Uint8Array>> = {};
  for (const part of parts) {
    const entry = marker.files[part];
    const path = paths[part];
    let data: Uint8Array;
    try {
      data = await readFileBytes(path);
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
