/**
 * NumPy's `.npz` archives (`np.savez`, `np.savez_compressed`): a ZIP of `.npy` files, one array
 * each, named by their key. EDM's and PFGM++'s `fid.py ref` write their reference statistics this
 * way (`mu`, `sigma`), and so does `pfgm eval ref`.
 *
 * @module
 */
import { PfgmError } from '../errors.js';
import { decodeNpyValues, encodeNpy, type NpyKind, npyHeaderLength, parseNpyHeader } from './npy.js';
import { openZip } from './zip.js';
import { encodeStoredZip } from './zipWriter.js';

/** One array of an `.npz` archive, its values widened to float64. */
export interface NpzArray {
  /** The array's shape. */
  shape: number[];
  /** Its element type as stored (`f8`, `f4`, `i8`, ...). */
  dtype: NpyKind;
  /** Its values in C order. */
  data: Float64Array;
}

/**
 * Reads every array of an `.npz` archive (stored or deflated), keyed by name without `.npy`.
 *
 * @throws PfgmError `ERR_PFGM_ARGUMENT` for a missing, damaged or non-NumPy archive, naming the
 *   file and the entry.
 */
export async function readNpz(path: string): Promise<Map<string, NpzArray>> {
  const zip = await openZip(path);
  try {
    const out = new Map<string, NpzArray>();
    for (const entry of zip.entries) {
      if (entry.isDirectory || !entry.name.endsWith('.npy')) continue;
      const where = `${path} (${entry.name})`;
      const bytes = await zip.read(entry);
      const { length, version } = npyHeaderLength(where, bytes.subarray(0, 12));
      if (bytes.length < length) throw new PfgmError('ERR_PFGM_ARGUMENT', `${where}: the .npy header is cut short`);
      const header = parseNpyHeader(where, bytes, length, version);
      const count = header.shape.reduce((a, b) => a * b, 1);
      if (bytes.length - length < count * header.itemSize) {
        throw new PfgmError(
          'ERR_PFGM_ARGUMENT',
          `${where}: holds ${bytes.length - length} bytes of data, [${header.shape}] needs ${count * header.itemSize}`,
        );
      }
      const data = new Float64Array(count);
      // Copied so the values are aligned for a typed view.
      decodeNpyValues(header.dtype, bytes.slice(length, length + count * header.itemSize), count, data, 0);
      out.set(entry.name.slice(0, -4), { shape: header.shape, dtype: header.dtype, data });
    }
    return out;
  } finally {
    await zip.close();
  }
}

/**
 * An `.npz` archive as `np.savez` writes it (stored, one `<name>.npy` per array): float64 arrays
 * stay `<f8`, float32 ones `<f4`.
 */
export function encodeNpz(
  arrays: Readonly<Record<string, { shape: readonly number[]; data: Float64Array | Float32Array }>>,
): Uint8Array {
  return encodeStoredZip(
    Object.entries(arrays).map(([name, a]) => [`${name}.npy`, encodeNpy(a.data, a.shape)] as const),
  );
}
