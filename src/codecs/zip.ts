/**
 * A minimal ZIP reader (PKWARE APPNOTE): finds the end-of-central-directory record, lists the
 * central directory, and reads entries lazily through a `FileHandle` (positioned reads, so
 * concurrent reads are safe), stored or deflated, each checked against its CRC-32.
 *
 * ZIP64 archives (over 65,535 entries or 4 GiB, as EDM's `dataset_tool` writes for FFHQ's
 * 70,000 images) are read: the ZIP64 end record and the ZIP64 extra fields of entries. This reader
 * is the project's own (rather than yauzl's) because the datasets need only this much of the
 * format, read lazily and checked entry by entry, and it has no dependencies; inflating large
 * entries happens in zlib's thread pool (`read`).
 *
 * Not supported, each with a clear error: archives split over several files, encrypted entries,
 * and compression methods other than stored (0) and deflate (8). Names without the UTF-8 flag are read as Latin-1 (the same as
 * CP437 for ASCII names).
 *
 * @module
 */

import { type FileHandle, open } from 'node:fs/promises';
import { promisify } from 'node:util';
import { constants, inflateRaw } from 'node:zlib';
import { PfgmError } from '../errors.js';
import { crc32 } from './crc32.js';

/** One file or folder of a ZIP archive, as its central directory describes it. */
export interface ZipEntry {
  /** Path inside the archive, `/`-separated; folders end with `/`. */
  readonly name: string;
  /** Whether the entry is a folder (its name ends with `/`). */
  readonly isDirectory: boolean;
  /** Compression method: 0 stored, 8 deflate (others cannot be read). */
  readonly method: number;
  /** Size of the stored (compressed) data in bytes. */
  readonly compressedSize: number;
  /** Size of the entry's contents in bytes. */
  readonly size: number;
  /** CRC-32 of the contents, unsigned. */
  readonly crc32: number;
  /** General-purpose flags (bit 0: encrypted, bit 3: data descriptor, bit 11: UTF-8 name). */
  readonly flags: number;
  /** Byte offset of the entry's local header in the archive. */
  readonly localHeaderOffset: number;
}

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const ZIP64_EXTRA = 0x0001;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const METHOD_NAMES: Record<number, string> = {
  1: 'shrink',
  6: 'implode',
  9: 'deflate64',
  12: 'bzip2',
  14: 'LZMA',
  93: 'zstd',
  95: 'xz',
  98: 'PPMd',
};

// zlib's asynchronous inflate runs in libuv's thread pool, off the JS thread.
const inflate = promisify(inflateRaw);

const latin1 = new TextDecoder('latin1');
const utf8 = new TextDecoder('utf-8');

/** An open ZIP archive. Create one with {@link openZip}; close it with {@link ZipReader.close}. */
export class ZipReader {
  /** Path of the archive, as given to {@link openZip}. */
  readonly path: string;
  /** Every entry, in central-directory order. */
  readonly entries: readonly ZipEntry[];
  private readonly byName: Map<string, ZipEntry>;
  private handle: FileHandle | undefined;

  private constructor(path: string, handle: FileHandle, entries: ZipEntry[]) {
    this.path = path;
    this.handle = handle;
    this.entries = entries;
    this.byName = new Map(entries.map((e) => [e.name, e]));
  }

  /** @internal Use {@link openZip}. */
  static async open(path: string): Promise<ZipReader> {
    const handle = await openFile(path);
    try {
      const entries = await readDirectory(path, handle);
      return new ZipReader(path, handle, entries);
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  /** The entry with exactly this name, or `undefined`. */
  entry(name: string): ZipEntry | undefined {
    return this.byName.get(name);
  }

  /** Finds an entry, checks it can be read and locates its data. */
  private async locate(
    entry: ZipEntry | string,
  ): Promise<{ e: ZipEntry; where: string; handle: FileHandle; dataStart: number }> {
    const e = typeof entry === 'string' ? this.byName.get(entry) : entry;
    if (e === undefined) {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `${this.path}: no entry named '${String(entry)}' in the ZIP archive; list the archive's entries to find the right name`,
      );
    }
    const where = `${this.path} (entry ${e.name})`;
    const handle = this.handle;
    if (handle === undefined) {
      throw new PfgmError('ERR_PFGM_DISPOSED', `${this.path}: the ZIP archive was closed; open it again to read`);
    }
    if (e.flags & 1) {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `${where}: the entry is encrypted; re-create the archive without a password`,
      );
    }
    if (e.method !== 0 && e.method !== 8) {
      const name = METHOD_NAMES[e.method] ?? 'unknown';
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `${where}: compression method ${e.method} (${name}) is not supported; re-create the archive with deflate or no compression (e.g. python zipfile.ZIP_DEFLATED)`,
      );
    }
    const local = await readAt(handle, e.localHeaderOffset, 30);
    const view = new DataView(local.buffer, local.byteOffset, local.byteLength);
    if (local.length < 30 || view.getUint32(0, true) !== LOCAL_SIGNATURE) {
      corrupt(this.path, `entry ${e.name}: no local file header at byte ${e.localHeaderOffset}`);
    }
    const dataStart = e.localHeaderOffset + 30 + view.getUint16(26, true) + view.getUint16(28, true);
    return { e, where, handle, dataStart };
  }

  /**
   * Reads and, when deflated, inflates one entry, checking its size and CRC-32.
   *
   * @param entry - an entry of this archive, or its name
   * @throws PfgmError `ERR_PFGM_ARGUMENT` naming the archive and the entry when the entry does not
   *   exist, is encrypted, uses an unsupported method, is cut short, fails to inflate, or fails its
   *   CRC check; `ERR_PFGM_DISPOSED` after {@link ZipReader.close}
   */
  async read(entry: ZipEntry | string): Promise<Uint8Array> {
    const { e, where, handle, dataStart } = await this.locate(entry);
    const stored = await readAt(handle, dataStart, e.compressedSize);
    if (stored.length < e.compressedSize) {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `${where}: the entry's data is cut short (${stored.length} of ${e.compressedSize} bytes); the archive is truncated: copy or re-create it`,
      );
    }
    let data: Uint8Array;
    if (e.method === 0) {
      if (e.compressedSize !== e.size) corrupt(this.path, `entry ${e.name} is stored but its two sizes differ`);
      data = stored;
    } else {
      try {
        data = plain(await inflate(stored, { maxOutputLength: Math.max(1, e.size) }));
      } catch (error) {
        throw new PfgmError(
          'ERR_PFGM_ARGUMENT',
          `${where}: the compressed data is corrupt or larger than the ${e.size} bytes the directory records ` +
            `(zlib: ${(error as Error).message}); the archive is damaged: re-create it`,
          { cause: error },
        );
      }
      if (data.length !== e.size) {
        corrupt(this.path, `entry ${e.name} inflates to ${data.length} bytes, not the ${e.size} the directory records`);
      }
    }
    const crc = crc32(data);
    if (crc !== e.crc32) {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `${where}: CRC-32 mismatch (recorded 0x${e.crc32.toString(16).padStart(8, '0')}, ` +
          `computed 0x${crc.toString(16).padStart(8, '0')}); the archive is damaged: re-create or re-download it`,
      );
    }
    return data;
  }

  /**
   * Reads the first `length` bytes of an entry's contents (fewer when the entry is shorter),
   * inflating only as much as needed, without a CRC check: for peeking at file headers.
   *
   * @param entry - an entry of this archive, or its name
   * @param length - how many bytes to return at most
   * @throws PfgmError as {@link ZipReader.read} does, but without the CRC check
   */
  async readHead(entry: ZipEntry | string, length: number): Promise<Uint8Array> {
    const { e, where, handle, dataStart } = await this.locate(entry);
    const want = Math.min(length, e.size);
    if (e.method === 0) return readAt(handle, dataStart, Math.min(want, e.compressedSize));
    for (let take = Math.min(e.compressedSize, 256); ; take = Math.min(e.compressedSize, take * 4)) {
      const stored = await readAt(handle, dataStart, take);
      let data: Uint8Array;
      try {
        data = plain(
          await inflate(stored, { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: Math.max(1, e.size) }),
        );
      } catch (error) {
        throw new PfgmError(
          'ERR_PFGM_ARGUMENT',
          `${where}: the compressed data is corrupt (zlib: ${(error as Error).message}); the archive is damaged: re-create it`,
          { cause: error },
        );
      }
      if (data.length >= want || take >= e.compressedSize || stored.length < take) return data.subarray(0, want);
    }
  }

  /** Closes the file. Reading afterwards is an error; closing twice is allowed. */
  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close();
  }
}

/**
 * Opens a ZIP archive and reads its central directory (entries are read later, on demand).
 *
 * @param path - the archive
 * @throws PfgmError `ERR_PFGM_ARGUMENT` naming the file when it cannot be opened, is not a ZIP
 *   archive, is truncated, or is a ZIP64 or multi-file archive
 */
export async function openZip(path: string): Promise<ZipReader> {
  return ZipReader.open(path);
}

/** The bytes of a Buffer as a plain Uint8Array (no copy). */
function plain(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

function corrupt(path: string, problem: string): never {
  throw new PfgmError(
    'ERR_PFGM_ARGUMENT',
    `${path}: ${problem}; the ZIP archive is damaged or truncated: re-create or re-download it`,
  );
}

async function openFile(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      code === 'ENOENT'
        ? `${path}: no such file; check the path`
        : `${path}: cannot open the file (${(e as Error).message}); check the path and its permissions`,
      { cause: e },
    );
  }
}

async function readAt(handle: FileHandle, position: number, length: number): Promise<Uint8Array> {
  const buffer = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? buffer : buffer.subarray(0, done);
}

async function readDirectory(path: string, handle: FileHandle): Promise<ZipEntry[]> {
  const info = await handle.stat();
  if (!info.isFile()) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `${path}: not a file (a folder?); pass the path of a .zip archive`);
  }
  const fileSize = info.size;
  if (fileSize < 22) {
    corrupt(path, `${fileSize} bytes is too short for a ZIP archive (no end-of-central-directory record)`);
  }
  // The EOCD record is 22 bytes plus a comment of at most 65,535 bytes, at the end of the file.
  const tailStart = Math.max(0, fileSize - 22 - 0xffff);
  const tail = await readAt(handle, tailStart, fileSize - tailStart);
  const tv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tv.getUint32(i, true) === EOCD_SIGNATURE && i + 22 + tv.getUint16(i + 20, true) <= tail.length) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `${path}: not a ZIP archive (no end-of-central-directory record); check the file, or re-create the archive if it was cut short`,
    );
  }
  let disk = tv.getUint16(eocd + 4, true);
  let cdDisk = tv.getUint16(eocd + 6, true);
  let countOnDisk = tv.getUint16(eocd + 8, true);
  let count = tv.getUint16(eocd + 10, true);
  let cdSize = tv.getUint32(eocd + 12, true);
  let cdOffset = tv.getUint32(eocd + 16, true);
  let endOfDirectory = tailStart + eocd;
  const zip64Locator = eocd >= 20 && tv.getUint32(eocd - 20, true) === ZIP64_LOCATOR_SIGNATURE;
  if (zip64Locator) {
    // The ZIP64 end record holds the 64-bit counts and offsets the classic one saturates.
    const at = Number(tv.getBigUint64(eocd - 20 + 8, true));
    const rec = await readAt(handle, at, 56);
    const rv = new DataView(rec.buffer, rec.byteOffset, rec.byteLength);
    if (rec.length < 56 || rv.getUint32(0, true) !== ZIP64_EOCD_SIGNATURE) {
      corrupt(path, `the ZIP64 end record is missing at byte ${at}`);
    }
    disk = rv.getUint32(16, true);
    cdDisk = rv.getUint32(20, true);
    countOnDisk = Number(rv.getBigUint64(24, true));
    count = Number(rv.getBigUint64(32, true));
    cdSize = Number(rv.getBigUint64(40, true));
    cdOffset = Number(rv.getBigUint64(48, true));
    endOfDirectory = at;
  } else if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    corrupt(path, 'the end record says ZIP64 but there is no ZIP64 end record');
  }
  if (disk !== 0 || cdDisk !== 0 || countOnDisk !== count) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `${path}: a multi-part (split) ZIP archive, which this reader does not support; join it into one archive`,
    );
  }
  if (cdOffset + cdSize > endOfDirectory) {
    corrupt(path, `the central directory (bytes ${cdOffset} to ${cdOffset + cdSize}) runs past the end record`);
  }
  const cd = await readAt(handle, cdOffset, cdSize);
  const view = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
  const entries: ZipEntry[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 46 > cd.length || view.getUint32(at, true) !== CENTRAL_SIGNATURE) {
      corrupt(path, `central directory record ${i} of ${count} is missing or invalid`);
    }
    const flags = view.getUint16(at + 8, true);
    const method = view.getUint16(at + 10, true);
    const crc = view.getUint32(at + 16, true);
    let compressedSize = view.getUint32(at + 20, true);
    let size = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    let localHeaderOffset = view.getUint32(at + 42, true);
    const end = at + 46 + nameLength + extraLength + commentLength;
    if (end > cd.length) corrupt(path, `central directory record ${i} runs past the directory`);
    const nameBytes = cd.subarray(at + 46, at + 46 + nameLength);
    const name = (flags & 0x800 ? utf8 : latin1).decode(nameBytes).replaceAll('\\', '/');
    if (compressedSize === 0xffffffff || size === 0xffffffff || localHeaderOffset === 0xffffffff) {
      // The 64-bit values are in the ZIP64 extra field, in this order, for the saturated ones only.
      let e = at + 46 + nameLength;
      const extraEnd = e + extraLength;
      let found = false;
      while (e + 4 <= extraEnd) {
        const id = view.getUint16(e, true);
        const len = view.getUint16(e + 2, true);
        if (id === ZIP64_EXTRA) {
          let f = e + 4;
          const next = (): number => {
            if (f + 8 > e + 4 + len) corrupt(path, `entry ${name}'s ZIP64 extra field is too short`);
            const v = Number(view.getBigUint64(f, true));
            f += 8;
            return v;
          };
          if (size === 0xffffffff) size = next();
          if (compressedSize === 0xffffffff) compressedSize = next();
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = next();
          found = true;
          break;
        }
        e += 4 + len;
      }
      if (!found) corrupt(path, `entry ${name} has 32-bit fields saturated but no ZIP64 extra field`);
    }
    if (localHeaderOffset + 30 + compressedSize > cdOffset) {
      corrupt(path, `entry ${name}'s data (at byte ${localHeaderOffset}) runs into the central directory`);
    }
    entries.push({
      name,
      isDirectory: name.endsWith('/'),
      method,
      compressedSize,
      size,
      crc32: crc,
      flags,
      localHeaderOffset,
    });
    at = end;
  }
  return entries;
}
