/**
 * Which files the image datasets read (PNG and JPEG), and how many bytes hold each one's header.
 *
 * @internal
 * @module
 */
import { JPEG_HEAD_BYTES } from '../codecs/jpeg.js';

/** Whether the bytes start with PNG's signature. */
export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
}

/** The file names an image dataset reads: PNG and JPEG. */
export const IMAGE_NAME = /\.(png|jpe?g)$/i;

/** Bytes to read for an image's header: PNG's is in its first 33, JPEG's after its metadata. */
export function headBytes(name: string): number {
  return /\.jpe?g$/i.test(name) ? JPEG_HEAD_BYTES : 33;
}
