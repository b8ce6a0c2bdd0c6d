// A ZIP archive of stored (uncompressed) entries for tests, written by the package's own writer
// (src/codecs/zipWriter.ts); the reader's tests also read archives that Python's zipfile wrote.
import { encodeStoredZip } from '../../src/codecs/zipWriter.js';

/** A ZIP of stored entries (strings are written as UTF-8). */
export function storedZip(entries: [string, Uint8Array | string][]): Uint8Array {
  return encodeStoredZip(entries.map(([name, c]) => [name, typeof c === 'string' ? new TextEncoder().encode(c) : c]));
}
