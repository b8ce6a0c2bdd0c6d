// Fuzzing the PNG decoder: random bytes, mutations of valid files (the test fixtures and encodePng's
// output), the same with every chunk CRC recomputed (so that damage reaches the chunk parser, zlib
// and the row filters), and IHDR field edits either decode to an image of the size the header
// gives or are refused with a coded PfgmError; never a raw TypeError or RangeError.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32 } from '../../src/codecs/crc32.js';
import { decodePng, encodePng, type PngImage, readPngHeader } from '../../src/codecs/png.js';
import { fuzzRuns, mutationsOf, parsed, randomBytes } from '../helpers/fuzz.js';

const dir = fileURLToPath(new URL('../fixtures/png/', import.meta.url));
const fixtures = readdirSync(dir)
  .filter((f) => f.endsWith('.png'))
  .map((f) => new Uint8Array(readFileSync(join(dir, f))))
  .filter((b) => b.length < 4096);
const encoded = ([1, 2, 3, 4] as const).map((channels) =>
  encodePng({ width: 5, height: 3, channels, data: Uint8Array.from({ length: 15 * channels }, (_, i) => i * 17) }),
);
const valid = [...fixtures, ...encoded];

/** Recomputes the CRC of every whole chunk, so that a mutation is not caught by the CRC alone. */
function fixCrcs(b: Uint8Array): Uint8Array {
  const out = Uint8Array.from(b);
  const view = new DataView(out.buffer);
  let at = 8;
  while (at + 12 <= out.length) {
    const length = view.getUint32(at);
    if (at + 12 + length > out.length) break;
    view.setUint32(at + 8 + length, crc32(out.subarray(at + 4, at + 8 + length)));
    at += 12 + length;
  }
  return out;
}

function consistent(img: PngImage): void {
  expect(img.data.length).toBe(img.width * img.height * img.channels);
}

describe('fuzz: decodePng', () => {
  it('random bytes, with and without the signature', async () => {
    const signed = randomBytes(256).map((b) => Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...b));
    await fc.assert(
      fc.asyncProperty(fc.oneof(randomBytes(), signed), async (b) => {
        const img = await parsed('random bytes', () => decodePng(b));
        if (img !== undefined) consistent(img);
        await parsed('random bytes (header)', () => readPngHeader(b));
      }),
      fuzzRuns(400),
    );
  });

  it('mutations of valid files', async () => {
    await fc.assert(
      fc.asyncProperty(mutationsOf(valid), async (b) => {
        const img = await parsed('mutated file', () => decodePng(b));
        if (img !== undefined) consistent(img);
      }),
      fuzzRuns(600),
    );
  });

  it('mutations of valid files with the CRCs made to match', async () => {
    await fc.assert(
      fc.asyncProperty(mutationsOf(valid).map(fixCrcs), async (b) => {
        const img = await parsed('mutated file, CRCs fixed', () => decodePng(b));
        if (img !== undefined) consistent(img);
        await parsed('mutated file, CRCs fixed (header)', () => readPngHeader(b));
      }),
      fuzzRuns(800),
    );
  });

  it('IHDR field edits (size, bit depth, colour type, methods) with a matching CRC', async () => {
    const edit = fc.record({
      file: fc.constantFrom(...valid),
      width: fc.constantFrom(0, 1, 2, 5, 9, 0x7fffffff, 0xffffffff),
      height: fc.constantFrom(0, 1, 3, 7, 0x10000, 0xffffffff),
      depth: fc.constantFrom(0, 1, 2, 4, 8, 16, 3, 255),
      colour: fc.constantFrom(0, 2, 3, 4, 6, 1, 7),
      methods: fc.array(fc.constantFrom(0, 0, 1, 2), { minLength: 3, maxLength: 3 }),
      which: fc.integer({ min: 1, max: 31 }),
    });
    await fc.assert(
      fc.asyncProperty(edit, async (e) => {
        const b = Uint8Array.from(e.file);
        const view = new DataView(b.buffer);
        if (e.which & 1) view.setUint32(16, e.width);
        if (e.which & 2) view.setUint32(20, e.height);
        if (e.which & 4) b[24] = e.depth;
        if (e.which & 8) b[25] = e.colour;
        if (e.which & 16) b.set(e.methods, 26);
        const fixed = fixCrcs(b);
        const img = await parsed('IHDR edit', () => decodePng(fixed));
        if (img !== undefined) consistent(img);
      }),
      fuzzRuns(500),
    );
  });
});
