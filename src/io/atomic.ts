/**
 * Durable writes: {@link writeFileAtomic} leaves either the old file or the complete new one after
 * a crash, and {@link syncDirectory} flushes a folder's entries (renames, links) to disk.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { PfgmError } from '../errors.js';
import { errnoCode, errorMessage } from './files.js';

function fail(message: string, cause?: unknown): never {
  throw new PfgmError('ERR_PFGM_CHECKPOINT', message, cause === undefined ? undefined : { cause });
}

/**
 * Fsyncs a folder, so that renames and links in it survive a crash. Platforms that cannot open
 * or fsync a folder (Windows, some file systems) are skipped: a rename is then as durable as that
 * platform makes it.
 */
export async function syncDirectory(dir: string): Promise<void> {
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
