// JPEG images in datasets: files libjpeg-turbo's cjpeg wrote (test/fixtures/gen/jpeg_fixtures.py)
// decode to what its djpeg decodes them to, within the rounding two IDCTs and upsamplers may
// differ by; their headers are read without decoding; image folders and ZIPs of JPEGs load; bad
// files are refused naming them.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeJpeg, readJpegHeader } from '../../src/codecs/jpeg.js';
import { encodeStoredZip } from '../../src/codecs/zipWriter.js';
import { imageFolder } from '../../src/data/imageFolder.js';
import { zipDataset } from '../../src/data/zip.js';

const fixtures = join(import.meta.dirname, '..', 'fixtures', 'jpeg');
const work = mkdtempSync(join(tmpdir(), 'pfgm-jpeg-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The pixels of a binary PGM/PPM (djpeg's output). */
function pnm(path: string): { width: number; height: number; channels: number; data: Uint8Array } {
  const b = readFileSync(path);
  const text = b.subarray(0, 32).toString('latin1');
  const m = /^(P5|P6)\s+(\d+)\s+(\d+)\s+(\d+)\s/.exec(text);
  if (m === null) throw new Error(`${path}: not a binary PNM`);
  return {
    width: Number(m[2]),
    height: Number(m[3]),
    channels: m[1] === 'P5' ? 1 : 3,
    data: new Uint8Array(b.subarray(m[0].length)),
  };
}

describe('JPEG', () => {
  for (const [name, ext] of [
    ['gray', 'pgm'],
    ['rgb', 'ppm'],
    ['rgb-progressive', 'ppm'],
  ] as const) {
    it(`${name}: header and pixels as libjpeg-turbo's djpeg gives them`, () => {
      const bytes = new Uint8Array(readFileSync(join(fixtures, `${name}.jpg`)));
      const ref = pnm(join(fixtures, `${name}.djpeg.${ext}`));
      expect(readJpegHeader(bytes, name)).toEqual({ width: 20, height: 14, colorType: ref.channels === 1 ? 0 : 2 });
      const image = decodeJpeg(bytes, name);
      expect([image.width, image.height, image.channels]).toEqual([ref.width, ref.height, ref.channels]);
      let worst = 0;
      for (let i = 0; i < ref.data.length; i++)
        worst = Math.max(worst, Math.abs((image.data[i] as number) - (ref.data[i] as number)));
      // The two IDCTs round differently (measured: 1 gray, 2 through the RGB conversion).
      expect(worst).toBeLessThanOrEqual(ref.channels === 1 ? 1 : 2);
    });
  }

  it('loads image folders and ZIPs of JPEGs', async () => {
    const folder = join(work, 'folder');
    for (const c of ['a', 'b']) {
      mkdirSync(join(folder, c), { recursive: true });
      copyFileSync(join(fixtures, 'rgb.jpg'), join(folder, c, 'x.jpg'));
      copyFileSync(join(fixtures, 'rgb-progressive.jpg'), join(folder, c, 'y.jpeg'));
    }
    const ds = await imageFolder(folder);
    expect(ds.info).toMatchObject({ shape: [3, 14, 20], count: 4, labelDim: 2, classNames: ['a', 'b'] });
    const b = await ds.read([0, 3]);
    expect(b.data.every((v) => v >= -1 && v <= 1)).toBe(true);
    await ds.close();
    const zipPath = join(work, 'set.zip');
    writeFileSync(
      zipPath,
      encodeStoredZip([
        ['00000/img00000000.jpg', new Uint8Array(readFileSync(join(fixtures, 'gray.jpg')))],
        ['00000/img00000001.jpg', new Uint8Array(readFileSync(join(fixtures, 'gray.jpg')))],
      ]),
    );
    const z = await zipDataset(zipPath);
    expect(z.info).toMatchObject({ shape: [1, 14, 20], count: 2 });
    const zb = await z.read([1]);
    const ref = pnm(join(fixtures, 'gray.djpeg.pgm'));
    expect(Math.abs((zb.data[5] as number) - ((ref.data[5] as number) / 127.5 - 1))).toBeLessThanOrEqual(
      1 / 127.5 + 1e-6,
    );
    await z.close();
  });

  it('refuses damaged and unsupported JPEGs, naming the file', () => {
    const bytes = new Uint8Array(readFileSync(join(fixtures, 'rgb.jpg')));
    expect(() => readJpegHeader(bytes.subarray(0, 10), 'cut.jpg')).toThrow(
      /cut\.jpg: no JPEG frame header in its first 10 bytes/,
    );
    expect(() => readJpegHeader(new Uint8Array([0x89, 0x50, 0x4e, 0x47]), 'png.jpg')).toThrow(/png\.jpg: not a JPEG/);
    const truncated = bytes.subarray(0, bytes.length - 300);
    expect(() => decodeJpeg(truncated, 'short.jpg')).toThrow(/short\.jpg/);
    expect(() => readJpegHeader(bytes, 'big.jpg', { maxPixels: 100 })).toThrow(
      /big\.jpg: 20x14 pixels is over the limit of 100/,
    );
  });
});
