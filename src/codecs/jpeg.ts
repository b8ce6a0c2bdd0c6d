/**
 * JPEG images (baseline and progressive) for the image datasets: the header (size and colour) is
 * read here by walking the file's marker segments to the frame header, so a folder of images is
 * checked without decoding any; the pixels are decoded by jpeg-js, a well-kept pure-JavaScript
 * decoder (no native library to install), with its resolution and memory limits set from pfgm's
 * pixel limit.
 *
 * @module
 */
import jpeg from 'jpeg-js';
import { PfgmError } from '../errors.js';
import type { PngHeader, PngImage } from './png.js';

/** Bytes of a file to read for its header: enough for the frame header after EXIF and ICC data. */
export const JPEG_HEAD_BYTES = 1 << 18;

/** Whether the bytes start as a JPEG does (SOI then a marker). */
export function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

// Start-of-frame markers (baseline, extended, progressive, lossless; Huffman or arithmetic).
const SOF = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

function bad(name: string, problem: string): never {
  throw new PfgmError('ERR_PFGM_ARGUMENT', `${name}: ${problem}; re-encode or replace the image`);
}

/**
 * Width, height and colour of a JPEG from its first bytes (at least up to its frame header), in
 * the shape of a PNG header (`colorType` 0 for one component, 2 for three).
 *
 * @throws PfgmError `ERR_PFGM_ARGUMENT` naming the file when it is not a JPEG, is damaged before
 *   its frame header, has no frame header in the bytes given, or is larger than `maxPixels`.
 */
export function readJpegHeader(
  bytes: Uint8Array,
  name: string,
  options: { maxPixels?: number } = {},
): Pick<PngHeader, 'width' | 'height' | 'colorType'> {
  if (!isJpeg(bytes)) bad(name, 'not a JPEG file (it does not start with FF D8)');
  let i = 2;
  while (i + 4 <= bytes.length) {
    if (bytes[i] !== 0xff) bad(name, `a damaged JPEG (no marker at byte ${i})`);
    let m = bytes[i + 1] as number;
    while (m === 0xff && i + 2 < bytes.length) m = bytes[++i + 1] as number; // fill bytes
    if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) {
      i += 2;
      continue;
    }
    if (m === 0xda || m === 0xd9) bad(name, 'a damaged JPEG (image data before a frame header)');
    const length = ((bytes[i + 2] as number) << 8) | (bytes[i + 3] as number);
    if (SOF.has(m)) {
      if (i + 10 > bytes.length) break;
      const height = ((bytes[i + 5] as number) << 8) | (bytes[i + 6] as number);
      const width = ((bytes[i + 7] as number) << 8) | (bytes[i + 8] as number);
      const components = bytes[i + 9] as number;
      if (width === 0 || height === 0) bad(name, `a JPEG of ${width}x${height} pixels`);
      if (components !== 1 && components !== 3) {
        bad(name, `a JPEG with ${components} colour components (CMYK?); pfgm reads grayscale and RGB JPEGs`);
      }
      const limit = options.maxPixels;
      if (limit !== undefined && width * height > limit) {
        throw new PfgmError(
          'ERR_PFGM_ARGUMENT',
          `${name}: ${width}x${height} pixels is over the limit of ${limit} (PFGM_PNG_MAX_PIXELS or maxPixels raises it)`,
        );
      }
      return { width, height, colorType: components === 1 ? 0 : 2 };
    }
    if (length < 2) bad(name, `a damaged JPEG (a segment of length ${length} at byte ${i})`);
    i += 2 + length;
  }
  return bad(name, `no JPEG frame header in its first ${bytes.length} bytes`);
}

/**
 * Decodes a JPEG to 8-bit gray or RGB samples, row-major, channels innermost.
 *
 * @throws PfgmError `ERR_PFGM_ARGUMENT` naming the file when it is damaged or too large.
 */
export function decodeJpeg(bytes: Uint8Array, name: string, options: { maxPixels?: number } = {}): PngImage {
  const header = readJpegHeader(bytes, name, options);
  const pixels = header.width * header.height;
  let decoded: { width: number; height: number; data: Uint8Array };
  try {
    decoded = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: false,
      tolerantDecoding: false,
      maxResolutionInMP: Math.max(1, Math.ceil(pixels / 1e6) + 1),
      maxMemoryUsageInMB: Math.max(64, Math.ceil((pixels * 12) / 2 ** 20)),
    }) as { width: number; height: number; data: Uint8Array };
  } catch (e) {
    return bad(name, `the JPEG cannot be decoded (${(e as Error).message})`);
  }
  const n = decoded.width * decoded.height;
  const channels = decoded.data.length / n;
  if (channels !== 1 && channels !== 3) bad(name, `the JPEG decoded to ${channels} channels`);
  if (header.colorType === 0 && channels === 3) {
    // jpeg-js hands a grayscale JPEG back as three equal channels: keep one.
    const gray = new Uint8Array(n);
    for (let p = 0; p < n; p++) gray[p] = decoded.data[3 * p] as number;
    return { width: decoded.width, height: decoded.height, channels: 1, data: gray };
  }
  return { width: decoded.width, height: decoded.height, channels: channels as 1 | 3, data: decoded.data };
}
