/**
 * Writing samples as they arrive, batch by batch ({@link openSampleWriter}): a `.npy` or `.csv`
 * file grows one batch at a time and a folder receives one PNG per sample, so writing `count`
 * samples holds one batch in memory. A PNG grid needs every sample and collects them. Files
 * appear complete or not at all (a temporary file renamed at the end).
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { float32LittleEndian, npyFloat32Header } from '../codecs/npy.js';
import { PfgmError } from '../errors.js';
import { syncDirectory } from '../io/atomic.js';
import { errorMessage } from '../io/files.js';
import { encodeCsv, type WriteSamplesOptions, writeSamples } from './samples.js';

/** A destination for samples that arrive in batches, from {@link openSampleWriter}. */
export interface SampleWriter {
  /** Writes the batch `x` of samples `[start, start + n)`; batches come in order. */
  write(x: Float32Array, start: number): Promise<void>;
  /** Finishes the output once every sample is written; resolves to the files written. */
  close(): Promise<string[]>;
  /** Gives up: removes a partly written file (a folder keeps the PNGs already written). */
  abort(): Promise<void>;
}

/**
 * Opens `out` for `count` samples written batch by batch, in the formats of {@link writeSamples}:
 * `FILE.npy` and `FILE.csv` are appended to a temporary file renamed into place by `close()`, a
 * folder gets each batch's PNGs at once, and `FILE.png` (a grid or a scatter plot) collects the
 * samples and is written by `close()`.
 *
 * @throws PfgmError `ERR_PFGM_ARGUMENT` for an extension it cannot write; `ERR_PFGM_CHECKPOINT`
 *   when the file cannot be created or written.
 */
export async function openSampleWriter(
  out: string,
  count: number,
  options: WriteSamplesOptions,
): Promise<SampleWriter> {
  const ext = extname(out).toLowerCase();
  const per = options.shape.reduce((a, b) => a * b, 1);
  if (ext === '.png') {
    const all = new Float32Array(count * per);
    return {
      write: async (x, start) => all.set(x, start * per),
      close: () => writeSamples(out, all, count, options),
      abort: async () => undefined,
    };
  }
  if (ext === '') {
    const files: string[] = [];
    return {
      write: async (x, start) => {
        const n = x.length / per;
        const seeds = options.seeds?.slice(start, start + n) ?? Array.from({ length: n }, (_, i) => start + i);
        files.push(...(await writeSamples(out, x, n, { ...options, seeds })));
      },
      close: async () => files,
      abort: async () => undefined,
    };
  }
  if (ext !== '.npy' && ext !== '.csv') {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `don't know how to write '${out}': use FILE.csv, FILE.npy, FILE.png or a folder (no extension)`,
    );
  }
  const tmp = `${out}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  const fail = (e: unknown): never => {
    throw new PfgmError(
      'ERR_PFGM_CHECKPOINT',
      `could not write '${out}': ${errorMessage(e)}; check that its directory exists and is writable and that the disk has space`,
      { cause: e },
    );
  };
  let handle: FileHandle | undefined;
  try {
    handle = await open(tmp, 'wx', 0o644);
    if (ext === '.npy') await handle.write(npyFloat32Header([count, ...options.shape]));
  } catch (e) {
    await handle?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    fail(e);
  }
  const file = handle as FileHandle;
  const abort = async () => {
    await file.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
  };
  return {
    write: async (x) => {
      try {
        if (ext === '.npy') await file.write(float32LittleEndian(x));
        else await file.write(encodeCsv(x, x.length / per));
      } catch (e) {
        await abort();
        fail(e);
      }
    },
    close: async () => {
      try {
        await file.sync();
        await file.close();
        await rename(tmp, out);
        await syncDirectory(dirname(resolve(out)));
      } catch (e) {
        await abort();
        fail(e);
      }
      return [out];
    },
    abort,
  };
}
