// A PNG's compressed data can be tiny while its image is huge: a 16,000 x 16,000 image of one
// colour compresses to a few hundred kB and decodes to 256 MB (1 GB as RGBA). Images above the
// pixel limit (64 Mpx by default, the maxPixels option or PFGM_PNG_MAX_PIXELS) are refused from
// their IHDR chunk, before anything is inflated: by decodePng, the dataset loaders' header scan,
// and a ZIP dataset holding such an image.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants, createDeflate } from 'node:zlib';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { crc32 } from '../../src/codecs/crc32.js';
import { decodePng, encodePng, PNG_MAX_PIXELS, readPngHeader } from '../../src/codecs/png.js';
import { imageFolder } from '../../src/data/imageFolder.js';
import { zipDataset } from '../../src/data/zip.js';
import { PfgmError } from '../../src/errors.js';
import { storedZip } from '../helpers/zip.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
afterEach(() => {
  delete process.env.PFGM_PNG_MAX_PIXELS;
});

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** A valid grayscale PNG of `side` x `side` zeros, compressed row by row (never held whole). */
async function blackPng(side: number): Promise<Uint8Array> {
  const z = createDeflate({ level: constants.Z_BEST_COMPRESSION });
  const parts: Buffer[] = [];
  z.on('data', (b: Buffer) => parts.push(b));
  const done = new Promise((resolve) => z.on('end', resolve));
  const row = Buffer.alloc(side + 1);
  for (let y = 0; y < side; y++) if (!z.write(row)) await new Promise((r) => z.once('drain', r));
  z.end();
  await done;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(side, 0);
  ihdr.writeUInt32BE(side, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // grayscale
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return new Uint8Array(
    Buffer.concat([sig, chunk('IHDR', ihdr), chunk('IDAT', Buffer.concat(parts)), chunk('IEND', new Uint8Array(0))]),
  );
}

function refusal(body: () => unknown): PfgmError {
  try {
    body();
  } catch (error) {
    if (error instanceof PfgmError) return error;
    throw error;
  }
  throw new Error('expected a PfgmError');
}

const small = encodePng({ width: 16, height: 16, channels: 1, data: new Uint8Array(256) });

describe('PNG pixel limit', () => {
  it('the default is 64 Mpx', () => {
    expect(PNG_MAX_PIXELS).toBe(64 * 2 ** 20);
  });

  it('refuses a 16,000 x 16,000 PNG of a few hundred kB before inflating it', async () => {
    const big = await blackPng(16000);
    expect(big.length).toBeLessThan(1_000_000);
    const e = refusal(() => decodePng(big, 'huge.png'));
    expect(e.code).toBe('ERR_PFGM_ARGUMENT');
    expect(e.message).toMatch(
      /huge\.png: the image is 16000x16000 \(244\.1 Mpx\), above the limit of 64 Mpx .*PFGM_PNG_MAX_PIXELS/,
    );
    expect(refusal(() => readPngHeader(big, 'huge.png')).message).toMatch(/above the limit of 64 Mpx/);
    // A ZIP dataset holding it is refused when opened, from the header.
    const dir = mkdtempSync(join(tmpdir(), 'pfgm-png-limit-'));
    dirs.push(dir);
    const zip = join(dir, 'bomb.zip');
    writeFileSync(
      zip,
      storedZip([
        ['img/a.png', small],
        ['img/b.png', big],
      ]),
    );
    await expect(zipDataset(zip)).rejects.toThrow(/img\/b\.png\): the image is 16000x16000/);
  });

  it('the limit is an option and an environment variable', async () => {
    expect(decodePng(small, 's.png', { maxPixels: 256 }).width).toBe(16);
    expect(refusal(() => decodePng(small, 's.png', { maxPixels: 255 })).message).toMatch(
      /s\.png: the image is 16x16 .*above the limit of .* \(255 pixels\)/,
    );
    expect(refusal(() => decodePng(small, 's.png', { maxPixels: 0 })).message).toMatch(
      /maxPixels must be a positive integer/,
    );
    process.env.PFGM_PNG_MAX_PIXELS = '100';
    expect(refusal(() => decodePng(small, 's.png')).message).toMatch(/\(100 pixels\)/);
    // The option wins over the environment.
    expect(decodePng(small, 's.png', { maxPixels: 1000 }).height).toBe(16);
    process.env.PFGM_PNG_MAX_PIXELS = 'lots';
    expect(refusal(() => decodePng(small, 's.png')).message).toMatch(/PFGM_PNG_MAX_PIXELS must be a positive integer/);
    delete process.env.PFGM_PNG_MAX_PIXELS;

    const dir = mkdtempSync(join(tmpdir(), 'pfgm-png-limit-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'a.png'), small);
    await expect(imageFolder(dir, { maxPixels: 200 })).rejects.toThrow(/a\.png: the image is 16x16/);
    const ds = await imageFolder(dir, { maxPixels: 256 });
    expect((await ds.read([0])).data.length).toBe(256);
    await ds.close();
  });
});
