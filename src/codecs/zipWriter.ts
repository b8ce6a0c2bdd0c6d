/**
 * A ZIP writer for small archives of stored (uncompressed) entries, as NumPy's `np.savez` writes
 * them: one local header and one central-directory record per entry (PKWARE APPNOTE 4.3), sizes
 * under 4 GiB and at most 65,535 entries (no ZIP64). What pfgm writes this way is read back by
 * NumPy, Python's zipfile and {@link openZip}.
 *
 * @module
 */
import { PfgmError } from '../errors.js';
import { crc32 } from './crc32.js';

const LIMIT = 0xffffffff;

/**
 * The bytes of a ZIP archive holding `entries` (name, contents) stored, in order; names are written
 * as UTF-8 (flagged so).
 *
 * @throws PfgmError `ERR_PFGM_ARGUMENT` past ZIP's 32-bit limits (4 GiB, 65,535 entries).
 */
export function encodeStoredZip(entries: readonly (readonly [string, Uint8Array])[]): Uint8Array {
  if (entries.length > 0xffff)
    throw new PfgmError('ERR_PFGM_ARGUMENT', `a stored ZIP holds at most 65,535 entries, got ${entries.length}`);
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, content] of entries) {
    const data = Buffer.from(content.buffer, content.byteOffset, content.byteLength);
    const nameBytes = Buffer.from(name, 'utf8');
    if (data.length >= LIMIT || offset + 30 + nameBytes.length + data.length >= LIMIT) {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `ZIP entry ${name}: the archive would pass 4 GiB (ZIP64 is not written)`,
      );
    }
    const crc = crc32(content);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed: 2.0
    local.writeUInt16LE(0x800, 6); // UTF-8 name
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x800, 8);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, data);
    centrals.push(central, nameBytes);
    offset += 30 + nameBytes.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  const out = Buffer.concat([...locals, cd, end]);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
