/**
 * A self-contained PNG codec (https://www.w3.org/TR/png/) on top of `node:zlib`. (Over 600 lines
 * because the decoder's colour types, bit depths, filters and interlacing and the encoder share
 * one set of chunk and CRC checks; split, each half would re-export the other's internals.)
 *
 * {@link decodePng} reads every standard colour type (grayscale, RGB, palette, grayscale+alpha,
 * RGBA) at every legal bit depth, non-interlaced or Adam7-interlaced, with all five row filters,
 * and checks every chunk's CRC. The result is always 8 bits per sample, interleaved (HWC):
 *
 * - grayscale at 1, 2 or 4 bits is scaled to 0..255 (`v * 255 / (2^depth - 1)`);
 * - 16-bit samples are rounded to 8 bits (`round(v / 257)`);
 * - palette images are expanded to RGB, or to RGBA when the file has a `tRNS` chunk;
 * - grayscale+alpha stays 2 channels and RGBA stays 4: alpha is kept here, and dropped by the
 *   dataset loaders (`imageFolder`, `zipDataset`).
 *
 * A `tRNS` chunk on a grayscale or RGB image (one transparent colour), gamma and colour-space
 * chunks, and all other ancillary chunks are ignored.
 *
 * {@link encodePng} writes 8-bit grayscale, grayscale+alpha, RGB or RGBA, non-interlaced, with
 * adaptive (per-row) or no filtering.
 *
 * @module
 */

import { deflateSync, inflateSync } from 'node:zlib';
import { PfgmError } from '../errors.js';
import { crc32 } from './crc32.js';

/** An 8-bit image, samples interleaved row by row (HWC). */
export interface PngImage {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Samples per pixel: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA. */
  channels: 1 | 2 | 3 | 4;
  /** `height * width * channels` samples, row-major, channels innermost. */
  data: Uint8Array;
}

/** What the `IHDR` chunk of a PNG says (see {@link readPngHeader}). */
export interface PngHeader {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Bits per sample (per palette index for palette images): 1, 2, 4, 8 or 16. */
  bitDepth: number;
  /** PNG colour type: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA. */
  colorType: number;
  /** Whether the image is Adam7-interlaced. */
  interlaced: boolean;
  /**
   * Channels that {@link decodePng} returns. For a palette image this is 3, or 4 when a `tRNS`
   * chunk follows, which the header alone cannot tell: a header-only read says 3.
   */
  channels: 1 | 2 | 3 | 4;
}

/** Options of {@link encodePng}. */
export interface EncodePngOptions {
  /**
   * Row filtering: `adaptive` (default) picks, per row, the filter with the smallest sum of
   * absolute differences (the heuristic the PNG specification recommends); `none` writes filter 0.
   */
  filter?: 'adaptive' | 'none';
  /** zlib compression level, 0 (stored) to 9; default 6. */
  level?: number;
}

/** The 8-byte PNG signature. */
export const PNG_SIGNATURE: Uint8Array = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

const CHANNELS_OF_TYPE: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const DEPTHS_OF_TYPE: Record<number, readonly number[]> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};
const TYPE_NAMES: Record<number, string> = {
  0: 'grayscale',
  2: 'RGB',
  3: 'palette',
  4: 'grayscale+alpha',
  6: 'RGBA',
};
/** Adam7 passes: x start, y start, x step, y step. */
const ADAM7: readonly (readonly [number, number, number, number])[] = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
];
/** Images above this many samples are refused whatever the pixel limit (a hard ceiling). */
const MAX_SAMPLES = 2 ** 30;

/**
 * The default largest image {@link decodePng} (and the dataset loaders) accept: 64 Mpx
 * (2^26 = 67,108,864 pixels, e.g. 8192 x 8192), which decodes to at most 256 MB. A PNG's
 * compressed data can be tiny while its image is huge (a 16,000 x 16,000 image of one colour
 * compresses to kilobytes and decodes to 1 GB), so the limit is checked from the `IHDR` chunk,
 * before anything is inflated. Raise it with the `maxPixels` option or the
 * `PFGM_PNG_MAX_PIXELS` environment variable (up to 2^28 pixels, the decoder's ceiling).
 */
export const PNG_MAX_PIXELS = 2 ** 26;

/** The environment variable that overrides {@link PNG_MAX_PIXELS} (a positive integer). */
export const PNG_MAX_PIXELS_ENV = 'PFGM_PNG_MAX_PIXELS';

/** Limits of {@link decodePng} (and of the dataset loaders' header scan). */
export interface PngDecodeOptions {
  /**
   * The largest image accepted, in pixels (width x height); larger ones are refused before any
   * data is inflated (default: `PFGM_PNG_MAX_PIXELS`, else {@link PNG_MAX_PIXELS}).
   */
  maxPixels?: number;
}

/** The pixel limit in force: the option, else the environment variable, else the default. */
export function pngPixelLimit(options: PngDecodeOptions = {}): number {
  const env = process.env[PNG_MAX_PIXELS_ENV];
  const fromEnv = env !== undefined && env.trim() !== '';
  const v = options.maxPixels ?? (fromEnv ? Number(env) : PNG_MAX_PIXELS);
  if (!Number.isSafeInteger(v) || v < 1) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      options.maxPixels !== undefined
        ? `maxPixels must be a positive integer, got ${String(options.maxPixels)}`
        : `${PNG_MAX_PIXELS_ENV} must be a positive integer (pixels), got '${env}'`,
    );
  }
  return v;
}

function megapixels(pixels: number): string {
  return `${(pixels / 2 ** 20).toFixed(pixels % 2 ** 20 === 0 ? 0 : 1)} Mpx`;
}

function fail(source: string, problem: string, fix: string): never {
  throw new PfgmError('ERR_PFGM_ARGUMENT', `${source}: ${problem}; ${fix}`);
}

const CORRUPT_FIX = 'the file is damaged: re-export or re-download it';
const TRUNCATED_FIX = 'the file is cut short (an interrupted copy or download?): copy or re-export it again';

function chunkType(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(
    bytes[at] as number,
    bytes[at + 1] as number,
    bytes[at + 2] as number,
    bytes[at + 3] as number,
  );
}

function checkSignature(bytes: Uint8Array, source: string): void {
  if (bytes.length < 8) {
    fail(source, `${bytes.length} bytes is too short to be a PNG file (no 8-byte signature)`, TRUNCATED_FIX);
  }
  for (let i = 0; i < 8; i++) {
    if (bytes[i] !== PNG_SIGNATURE[i]) {
      fail(source, 'not a PNG file (the first 8 bytes are not the PNG signature)', 'convert the image to PNG');
    }
  }
}

function parseHeader(view: DataView, at: number, length: number, source: string, maxPixels: number): PngHeader {
  if (length !== 13) fail(source, `the IHDR chunk has ${length} bytes instead of 13`, CORRUPT_FIX);
  const width = view.getUint32(at);
  const height = view.getUint32(at + 4);
  const bitDepth = view.getUint8(at + 8);
  const colorType = view.getUint8(at + 9);
  const compression = view.getUint8(at + 10);
  const filter = view.getUint8(at + 11);
  const interlace = view.getUint8(at + 12);
  if (width === 0 || height === 0 || width > 0x7fffffff || height > 0x7fffffff) {
    fail(source, `invalid image size ${width}x${height} in IHDR`, CORRUPT_FIX);
  }
  const depths = DEPTHS_OF_TYPE[colorType];
  if (depths === undefined) fail(source, `unknown colour type ${colorType} in IHDR`, CORRUPT_FIX);
  if (!depths.includes(bitDepth)) {
    fail(
      source,
      `bit depth ${bitDepth} is not allowed for ${TYPE_NAMES[colorType]} images (allowed: ${depths.join(', ')})`,
      CORRUPT_FIX,
    );
  }
  if (compression !== 0) fail(source, `unknown compression method ${compression} in IHDR`, CORRUPT_FIX);
  if (filter !== 0) fail(source, `unknown filter method ${filter} in IHDR`, CORRUPT_FIX);
  if (interlace > 1) fail(source, `unknown interlace method ${interlace} in IHDR`, CORRUPT_FIX);
  const channels = (colorType === 3 ? 3 : CHANNELS_OF_TYPE[colorType]) as 1 | 2 | 3 | 4;
  if (width * height > maxPixels) {
    fail(
      source,
      `the image is ${width}x${height} (${megapixels(width * height)}), above the limit of ${megapixels(maxPixels)} (${maxPixels} pixels) for decoding`,
      `downscale it, or raise the limit with the maxPixels option or ${PNG_MAX_PIXELS_ENV}`,
    );
  }
  if (width * height * 4 > MAX_SAMPLES) {
    fail(
      source,
      `the image is ${width}x${height}, larger than this decoder accepts`,
      'downscale it before loading (at most 2^28 pixels)',
    );
  }
  return { width, height, bitDepth, colorType, interlaced: interlace === 1, channels };
}

/**
 * Reads the size and format of a PNG from its first 33 bytes (signature and `IHDR` chunk),
 * checking the `IHDR` CRC, without decoding the image.
 *
 * @param bytes - at least the first 33 bytes of the file
 * @param source - names the file in error messages
 * @param options - the pixel limit ({@link PNG_MAX_PIXELS} by default)
 * @throws PfgmError `ERR_PFGM_ARGUMENT` when the bytes do not start a valid PNG, or the image is
 *   larger than the pixel limit
 */
export function readPngHeader(bytes: Uint8Array, source = 'PNG data', options: PngDecodeOptions = {}): PngHeader {
  const maxPixels = pngPixelLimit(options);
  checkSignature(bytes, source);
  if (bytes.length < 33) fail(source, `${bytes.length} bytes is too short to hold the IHDR chunk`, TRUNCATED_FIX);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(8);
  if (chunkType(bytes, 12) !== 'IHDR') fail(source, 'the first chunk is not IHDR', CORRUPT_FIX);
  if (length !== 13) fail(source, `the IHDR chunk has ${length} bytes instead of 13`, CORRUPT_FIX);
  const crc = crc32(bytes.subarray(12, 12 + 4 + 13));
  if (crc !== view.getUint32(29)) fail(source, 'CRC mismatch in chunk IHDR', CORRUPT_FIX);
  return parseHeader(view, 16, 13, source, maxPixels);
}

/** Paeth predictor. */
function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = p > a ? p - a : a - p;
  const pb = p > b ? p - b : b - p;
  const pc = p > c ? p - c : c - p;
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

/**
 * Undoes the row filters of one (sub-)image in place: `raw` holds `rows` rows of a filter byte
 * followed by `stride` bytes, starting at `offset`. Returns the unfiltered rows, packed.
 */
function unfilter(
  raw: Uint8Array,
  offset: number,
  rows: number,
  stride: number,
  bpp: number,
  source: string,
): Uint8Array {
  const out = new Uint8Array(rows * stride);
  for (let y = 0; y < rows; y++) {
    const at = offset + y * (stride + 1);
    const type = raw[at] as number;
    const row = y * stride;
    const prior = row - stride; // valid when y > 0
    const src = at + 1;
    switch (type) {
      case 0:
        out.set(raw.subarray(src, src + stride), row);
        break;
      case 1:
        for (let i = 0; i < stride; i++) {
          const left = i >= bpp ? (out[row + i - bpp] as number) : 0;
          out[row + i] = ((raw[src + i] as number) + left) & 0xff;
        }
        break;
      case 2:
        if (y === 0) out.set(raw.subarray(src, src + stride), row);
        else
          for (let i = 0; i < stride; i++)
            out[row + i] = ((raw[src + i] as number) + (out[prior + i] as number)) & 0xff;
        break;
      case 3:
        for (let i = 0; i < stride; i++) {
          const left = i >= bpp ? (out[row + i - bpp] as number) : 0;
          const up = y > 0 ? (out[prior + i] as number) : 0;
          out[row + i] = ((raw[src + i] as number) + ((left + up) >> 1)) & 0xff;
        }
        break;
      case 4:
        for (let i = 0; i < stride; i++) {
          const left = i >= bpp ? (out[row + i - bpp] as number) : 0;
          const up = y > 0 ? (out[prior + i] as number) : 0;
          const upLeft = y > 0 && i >= bpp ? (out[prior + i - bpp] as number) : 0;
          out[row + i] = ((raw[src + i] as number) + paeth(left, up, upLeft)) & 0xff;
        }
        break;
      default:
        fail(source, `unknown row filter type ${type} (row ${y} of the image data)`, CORRUPT_FIX);
    }
  }
  return out;
}

interface Palette {
  /** RGB or RGBA entries, `entryChannels` bytes each. */
  table: Uint8Array;
  entries: number;
}

/**
 * Writes the pixels of one unfiltered (sub-)image into `out` at (x0 + x * dx, y0 + y * dy).
 */
function place(
  rows: Uint8Array,
  w: number,
  h: number,
  stride: number,
  header: PngHeader,
  palette: Palette | undefined,
  outChannels: number,
  out: Uint8Array,
  x0: number,
  y0: number,
  dx: number,
  dy: number,
  source: string,
): void {
  const { width, bitDepth: depth, colorType } = header;
  const samples = CHANNELS_OF_TYPE[colorType] as number;
  const outStride = width * outChannels;
  if (depth === 8 && colorType !== 3 && dx === 1 && x0 === 0) {
    for (let y = 0; y < h; y++) {
      out.set(rows.subarray(y * stride, y * stride + stride), (y0 + y * dy) * outStride);
    }
    return;
  }
  for (let y = 0; y < h; y++) {
    const row = y * stride;
    let o = (y0 + y * dy) * outStride + x0 * outChannels;
    const step = dx * outChannels;
    if (depth === 16) {
      for (let x = 0; x < w; x++, o += step) {
        for (let c = 0; c < samples; c++) {
          const at = row + (x * samples + c) * 2;
          const v = ((rows[at] as number) << 8) | (rows[at + 1] as number);
          out[o + c] = Math.floor((v * 255 + 32767) / 65535); // round(v / 257), halves up
        }
      }
    } else if (depth === 8) {
      // palette (the 8-bit non-palette case is handled by the fast path or here when interlaced)
      for (let x = 0; x < w; x++, o += step) {
        if (colorType === 3) {
          writeIndex(rows[row + x] as number, palette, outChannels, out, o, source);
        } else {
          for (let c = 0; c < samples; c++) out[o + c] = rows[row + x * samples + c] as number;
        }
      }
    } else {
      // 1, 2 or 4 bits: grayscale or palette, one sample per pixel, most significant bits first
      const perByte = 8 / depth;
      const mask = (1 << depth) - 1;
      const scale = 255 / mask;
      for (let x = 0; x < w; x++, o += step) {
        const byte = rows[row + Math.floor(x / perByte)] as number;
        const v = (byte >> (8 - depth * ((x % perByte) + 1))) & mask;
        if (colorType === 3) writeIndex(v, palette, outChannels, out, o, source);
        else out[o] = v * scale;
      }
    }
  }
}

function writeIndex(
  index: number,
  palette: Palette | undefined,
  outChannels: number,
  out: Uint8Array,
  o: number,
  source: string,
): void {
  if (palette === undefined || index >= palette.entries) {
    fail(source, `palette index ${index} is outside the palette of ${palette?.entries ?? 0} entries`, CORRUPT_FIX);
  }
  const at = index * outChannels;
  for (let c = 0; c < outChannels; c++) out[o + c] = palette.table[at + c] as number;
}

/**
 * Decodes a PNG file held in memory to 8-bit interleaved samples (see the module notes for how
 * bit depths and colour types map to the result).
 *
 * @param bytes - the whole file
 * @param source - names the file in error messages (a path, or an entry of a ZIP)
 * @param options - the pixel limit ({@link PNG_MAX_PIXELS} by default), checked from the IHDR
 *   chunk before any data is inflated
 * @throws PfgmError `ERR_PFGM_ARGUMENT` naming the file and the problem when the data is not a
 *   PNG, is larger than the pixel limit, is cut short, has a chunk whose CRC does not match (naming the chunk), an unknown
 *   critical chunk, or compressed data that does not inflate to the size the header implies
 */
export function decodePng(bytes: Uint8Array, source = 'PNG data', options: PngDecodeOptions = {}): PngImage {
  const maxPixels = pngPixelLimit(options);
  checkSignature(bytes, source);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let header: PngHeader | undefined;
  let paletteRgb: Uint8Array | undefined;
  let transparency: Uint8Array | undefined;
  const idat: Uint8Array[] = [];
  let idatState: 'before' | 'in' | 'after' = 'before';
  let ended = false;
  let at = 8;
  while (at < bytes.length) {
    if (at + 8 > bytes.length) {
      fail(source, `a chunk header at byte ${at} is cut short`, TRUNCATED_FIX);
    }
    const length = view.getUint32(at);
    const type = chunkType(bytes, at + 4);
    if (!/^[A-Za-z]{4}$/.test(type)) {
      fail(source, `invalid chunk type at byte ${at}`, CORRUPT_FIX);
    }
    if (length > 0x7fffffff || at + 12 + length > bytes.length) {
      fail(
        source,
        `chunk ${type} at byte ${at} claims ${length} bytes but only ${Math.max(0, bytes.length - at - 12)} remain`,
        TRUNCATED_FIX,
      );
    }
    const data = bytes.subarray(at + 8, at + 8 + length);
    const stored = view.getUint32(at + 8 + length);
    const computed = crc32(bytes.subarray(at + 4, at + 8 + length));
    if (stored !== computed) {
      fail(
        source,
        `CRC mismatch in chunk ${type} at byte ${at} (stored 0x${stored.toString(16).padStart(8, '0')}, ` +
          `computed 0x${computed.toString(16).padStart(8, '0')})`,
        CORRUPT_FIX,
      );
    }
    if (header === undefined && type !== 'IHDR') fail(source, `the first chunk is ${type}, not IHDR`, CORRUPT_FIX);
    if (idatState === 'in' && type !== 'IDAT') idatState = 'after';
    switch (type) {
      case 'IHDR':
        if (header !== undefined) fail(source, 'more than one IHDR chunk', CORRUPT_FIX);
        header = parseHeader(view, at + 8, length, source, maxPixels);
        break;
      case 'PLTE':
        if (length % 3 !== 0 || length === 0 || length > 256 * 3) {
          fail(source, `the PLTE chunk has ${length} bytes, not a multiple of 3 between 3 and 768`, CORRUPT_FIX);
        }
        if (idatState !== 'before') fail(source, 'the PLTE chunk comes after the image data', CORRUPT_FIX);
        paletteRgb = data;
        break;
      case 'tRNS':
        transparency = data;
        break;
      case 'IDAT':
        if (idatState === 'after') fail(source, 'the IDAT chunks are not consecutive', CORRUPT_FIX);
        idatState = 'in';
        idat.push(data);
        break;
      case 'IEND':
        ended = true;
        break;
      default:
        // Ancillary chunks (first letter lower case) may be skipped; critical ones may not.
        if ((bytes[at + 4] as number) & 0x20) break;
        fail(source, `unknown critical chunk ${type}`, 'the file uses a PNG extension this decoder cannot read');
    }
    at += 12 + length;
    if (ended) break;
  }
  if (header === undefined) fail(source, 'no IHDR chunk', TRUNCATED_FIX);
  if (idat.length === 0) fail(source, 'no image data (IDAT chunk)', TRUNCATED_FIX);
  if (!ended) fail(source, 'no IEND chunk at the end of the file', TRUNCATED_FIX);

  const { width, height, bitDepth, colorType, interlaced } = header;
  let outChannels: 1 | 2 | 3 | 4 = header.channels;
  let palette: Palette | undefined;
  if (colorType === 3) {
    if (paletteRgb === undefined) fail(source, 'a palette image without a PLTE chunk', CORRUPT_FIX);
    const entries = paletteRgb.length / 3;
    outChannels = transparency !== undefined ? 4 : 3;
    const table = new Uint8Array(entries * outChannels);
    for (let i = 0; i < entries; i++) {
      for (let c = 0; c < 3; c++) table[i * outChannels + c] = paletteRgb[i * 3 + c] as number;
      if (outChannels === 4)
        table[i * 4 + 3] = i < (transparency as Uint8Array).length ? ((transparency as Uint8Array)[i] as number) : 255;
    }
    palette = { table, entries };
  }

  const samples = CHANNELS_OF_TYPE[colorType] as number;
  const bitsPerPixel = samples * bitDepth;
  const bpp = Math.max(1, bitsPerPixel >> 3);
  const passes = interlaced ? ADAM7 : ([[0, 0, 1, 1]] as const);
  const geometry = passes.map(([x0, y0, dx, dy]) => {
    const w = Math.ceil((width - x0) / dx);
    const h = Math.ceil((height - y0) / dy);
    const stride = Math.ceil((w * bitsPerPixel) / 8);
    return { x0, y0, dx, dy, w, h, stride, size: w > 0 && h > 0 ? h * (stride + 1) : 0 };
  });
  const expected = geometry.reduce((sum, g) => sum + g.size, 0);

  const compressed = idat.length === 1 ? (idat[0] as Uint8Array) : Buffer.concat(idat);
  let raw: Uint8Array;
  try {
    raw = inflateSync(compressed, { maxOutputLength: expected + 1 });
  } catch (e) {
    const message = (e as Error).message;
    if (/unexpected end/i.test(message)) {
      fail(source, 'the compressed image data ends early', TRUNCATED_FIX);
    }
    if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError) {
      fail(source, `the image data inflates to more than the ${expected} bytes IHDR implies`, CORRUPT_FIX);
    }
    fail(source, `the compressed image data is corrupt (zlib: ${message})`, CORRUPT_FIX);
  }
  if (raw.length !== expected) {
    fail(
      source,
      raw.length < expected
        ? `the image data holds ${raw.length} bytes, fewer than the ${expected} bytes IHDR implies`
        : `the image data inflates to more than the ${expected} bytes IHDR implies`,
      raw.length < expected ? TRUNCATED_FIX : CORRUPT_FIX,
    );
  }

  const out = new Uint8Array(width * height * outChannels);
  let offset = 0;
  for (const g of geometry) {
    if (g.size === 0) continue;
    const rows = unfilter(raw, offset, g.h, g.stride, bpp, source);
    place(rows, g.w, g.h, g.stride, header, palette, outChannels, out, g.x0, g.y0, g.dx, g.dy, source);
    offset += g.size;
  }
  return { width, height, channels: outChannels, data: out };
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/**
 * Encodes an 8-bit image as PNG (colour type from `channels`: 1 grayscale, 2 grayscale+alpha,
 * 3 RGB, 4 RGBA), non-interlaced, deflate-compressed.
 *
 * @param image - the pixels, HWC
 * @param options - filtering and compression level
 * @returns the bytes of a complete PNG file
 * @throws PfgmError `ERR_PFGM_ARGUMENT` for a non-positive or non-integer size, an unknown channel
 *   count, or data whose length is not `width * height * channels`
 */
export function encodePng(image: PngImage, options: EncodePngOptions = {}): Uint8Array {
  const { width, height, channels, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0 || width > 0x7fffffff) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `encodePng: width and height must be positive integers, got ${width}x${height}`,
    );
  }
  if (channels !== 1 && channels !== 2 && channels !== 3 && channels !== 4) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `encodePng: channels must be 1, 2, 3 or 4, got ${String(channels)}`);
  }
  if (!(data instanceof Uint8Array) || data.length !== width * height * channels) {
    throw new PfgmError(
      'ERR_PFGM_SHAPE',
      `encodePng: data must be a Uint8Array of width * height * channels = ${width * height * channels} samples, ` +
        `got ${data instanceof Uint8Array ? data.length : typeof data}`,
    );
  }
  const level = options.level ?? 6;
  if (!Number.isInteger(level) || level < 0 || level > 9) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `encodePng: level must be an integer from 0 to 9, got ${level}`);
  }
  const adaptive = (options.filter ?? 'adaptive') === 'adaptive';
  if (options.filter !== undefined && options.filter !== 'adaptive' && options.filter !== 'none') {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `encodePng: filter must be 'adaptive' or 'none', got ${String(options.filter)}`,
    );
  }
  const stride = width * channels;
  const raw = new Uint8Array(height * (stride + 1));
  const candidate = new Uint8Array(stride);
  const best = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const row = y * stride;
    const prior = row - stride;
    const cur = data.subarray(row, row + stride);
    const outAt = y * (stride + 1);
    if (!adaptive) {
      raw[outAt] = 0;
      raw.set(cur, outAt + 1);
      continue;
    }
    let bestType = 0;
    let bestCost = Number.POSITIVE_INFINITY;
    for (let type = 0; type < 5; type++) {
      let cost = 0;
      for (let i = 0; i < stride; i++) {
        const x = cur[i] as number;
        const a = i >= channels ? (cur[i - channels] as number) : 0;
        const b = y > 0 ? (data[prior + i] as number) : 0;
        const c = y > 0 && i >= channels ? (data[prior + i - channels] as number) : 0;
        let v: number;
        if (type === 0) v = x;
        else if (type === 1) v = x - a;
        else if (type === 2) v = x - b;
        else if (type === 3) v = x - ((a + b) >> 1);
        else v = x - paeth(a, b, c);
        v &= 0xff;
        candidate[i] = v;
        cost += v < 128 ? v : 256 - v;
      }
      if (cost < bestCost) {
        bestCost = cost;
        bestType = type;
        best.set(candidate);
      }
    }
    raw[outAt] = bestType;
    raw.set(best, outAt + 1);
  }
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr[8] = 8;
  ihdr[9] = ({ 1: 0, 2: 4, 3: 2, 4: 6 } as const)[channels];
  const compressed = deflateSync(raw, { level });
  const parts: Uint8Array[] = [PNG_SIGNATURE, chunk('IHDR', ihdr)];
  const maxChunk = 1 << 20;
  for (let i = 0; i < compressed.length; i += maxChunk) {
    parts.push(chunk('IDAT', compressed.subarray(i, Math.min(compressed.length, i + maxChunk))));
  }
  parts.push(chunk('IEND', new Uint8Array(0)));
  const total = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
