/**
 * Small file-system helpers: error texts and codes of system errors, whether a path is a folder,
 * creating a folder, and reading a file into a plain Uint8Array.
 *
 * @module
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import { PfgmError } from '../errors.js';

/** The message of an error (or the thrown value as text). */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The system error code (`ENOENT`, `EISDIR`, ...) of a thrown value, if it has one. */
export function errnoCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Whether `path` exists and is a folder (false for anything that cannot be stat'ed). */
export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Creates a folder and its missing parents.
 *
 * @throws PfgmError `ERR_PFGM_CHECKPOINT` naming the folder and the system's reason.
 */
export async function makeDirectory(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    const cause = e === undefined ? undefined : { cause: e };
    throw new PfgmError('ERR_PFGM_CHECKPOINT', `could not create the directory '${dir}': ${errorMessage(e)}`, cause);
  }
}

/**
 * A plain Uint8Array over a Buffer's bytes (no copy). decodeSafetensors copies tensors with
 * `bytes.slice()`, which on a Node Buffer is a view of the whole (pooled) ArrayBuffer, not a copy.
 */
export function plainBytes(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** A file's bytes as a plain Uint8Array (see {@link plainBytes}); errors are the system's. */
export async function readFileBytes(path: string): Promise<Uint8Array> {
  return plainBytes(await readFile(path));
}
