// Image datasets (a folder of PNGs, an EDM-style ZIP) and the PNG visualisations (image grids,
// scatter plots). ZIP fixtures come from python zipfile (test/fixtures/gen/zip_fixtures.py).
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { decodePng, encodePng, type PngImage } from '../../src/codecs/png.js';
import type { Dataset } from '../../src/data/dataset.js';
import { imageFolder, pngToSample } from '../../src/data/imageFolder.js';
import { zipDataset } from '../../src/data/zip.js';
import { PfgmError } from '../../src/errors.js';
import { gridImage, imageGrid, toByte } from '../../src/viz/grid.js';
import { scatterImage, scatterPlot } from '../../src/viz/scatter.js';
import { storedZip } from '../helpers/zip.js';

const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'pfgm-images-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let folders = 0;

/** Writes files (relative path -> bytes) into a fresh folder and returns it. */
function folder(files: Record<string, Uint8Array | string>): string {
  const root = join(tmp, `f${folders++}`);
  mkdirSync(root, { recursive: true });
  for (const [rel, bytes] of Object.entries(files)) {
    const path = join(root, ...rel.split('/'));
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, bytes);
  }
  return root;
}

/** An RGB image whose pixel (y, x, c) is `base + 10 y + 3 x + 50 c` (mod 256). */
function rgb(width: number, height: number, base: number, channels: 1 | 2 | 3 | 4 = 3): Uint8Array {
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) data[(y * width + x) * channels + c] = (base + 10 * y + 3 * x + 50 * c) & 0xff;
    }
  }
  return encodePng({ width, height, channels, data });
}

/** The [C, H, W] sample imageFolder must produce from `rgb(width, height, base)`. */
function rgbSample(width: number, height: number, base: number, C = 3): number[] {
  const out: number[] = [];
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) out.push(((base + 10 * y + 3 * x + 50 * c) & 0xff) / 127.5 - 1);
    }
  }
  return out;
}

function close(values: ArrayLike<number>, want: number[]): void {
  expect(values.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(values[i] as number).toBeCloseTo(want[i] as number, 6);
}

async function using<T>(ds: Dataset, body: (ds: Dataset) => Promise<T>): Promise<T> {
  try {
    return await body(ds);
  } finally {
    await ds.close();
  }
}

describe('imageFolder', () => {
  it('reads PNGs recursively, sorted by path, with labels from subfolders', async () => {
    const root = folder({
      'dog/b.png': rgb(4, 3, 60),
      'cat/b.png': rgb(4, 3, 20),
      'cat/a.png': rgb(4, 3, 10),
      'bird/deep/x.png': rgb(4, 3, 0),
      'dog/a.png': rgb(4, 3, 50),
      'dog/.hidden.png': 'not a png',
      'dog/readme.txt': 'ignored',
    });
    await using(await imageFolder(root), async (ds) => {
      expect(ds.info).toEqual({
        name: root.split(/[\\/]/).pop(),
        kind: 'image',
        shape: [3, 3, 4],
        count: 5,
        labelDim: 3,
        classNames: ['bird', 'cat', 'dog'],
      });
      // order: bird/deep/x, cat/a, cat/b, dog/a, dog/b
      const batch = await ds.read([4, 0, 2, 2]);
      expect([...(batch.classes ?? [])]).toEqual([2, 0, 1, 1]);
      expect([...(batch.labels ?? [])]).toEqual([0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 1, 0]);
      const size = 3 * 3 * 4;
      close(batch.data.subarray(0, size), rgbSample(4, 3, 60));
      close(batch.data.subarray(size, 2 * size), rgbSample(4, 3, 0));
      close(batch.data.subarray(2 * size, 3 * size), rgbSample(4, 3, 20));
      close(batch.data.subarray(3 * size), rgbSample(4, 3, 20));
      expect(Math.min(...batch.data)).toBeGreaterThanOrEqual(-1);
      expect(Math.max(...batch.data)).toBeLessThanOrEqual(1);
      await expect(ds.read([5])).rejects.toThrow(/index 5 .*outside \[0, 5\)/);
      await expect(ds.read([1.5])).rejects.toMatchObject({ code: 'ERR_PFGM_ARGUMENT' });
    });
  });

  it('has no labels with a single subfolder or loose files, unless asked', async () => {
    const one = folder({ 'only/a.png': rgb(2, 2, 0), 'only/sub/b.png': rgb(2, 2, 9) });
    await using(await imageFolder(one), async (ds) => {
      expect(ds.info.labelDim).toBe(0);
      expect(ds.info.classNames).toBeUndefined();
      expect((await ds.read([0, 1])).labels).toBeUndefined();
    });
    await using(await imageFolder(one, { labels: true }), async (ds) => {
      expect(ds.info.labelDim).toBe(1);
      expect([...((await ds.read([1])).classes ?? [])]).toEqual([0]);
    });
    const loose = folder({ 'a/x.png': rgb(2, 2, 0), 'b/y.png': rgb(2, 2, 0), 'z.png': rgb(2, 2, 0) });
    await using(await imageFolder(loose), async (ds) => expect(ds.info.labelDim).toBe(0));
    await expect(imageFolder(loose, { labels: true })).rejects.toThrow(/z\.png is not inside a class subfolder/);
    const two = folder({ 'a/x.png': rgb(2, 2, 0), 'b/y.png': rgb(2, 2, 0) });
    await using(await imageFolder(two, { labels: false }), async (ds) => expect(ds.info.labelDim).toBe(0));
  });

  it('takes labels from dataset.json (EDM folder layout) over subfolder names', async () => {
    const root = folder({
      '00000/img00000000.png': rgb(2, 2, 0),
      '00000/img00000001.png': rgb(2, 2, 1),
      '00001/img00001000.png': rgb(2, 2, 2),
      'dataset.json': JSON.stringify({
        labels: [
          ['00000/img00000000.png', 4],
          ['00000/img00000001.png', 0],
          ['00001/img00001000.png', 4],
        ],
      }),
    });
    await using(await imageFolder(root), async (ds) => {
      expect(ds.info.labelDim).toBe(5);
      expect(ds.info.classNames).toBeUndefined();
      expect([...((await ds.read([0, 1, 2])).classes ?? [])]).toEqual([4, 0, 4]);
    });
    const nulls = folder({ 'a/x.png': rgb(2, 2, 0), 'b/y.png': rgb(2, 2, 0), 'dataset.json': '{"labels": null}' });
    await using(await imageFolder(nulls), async (ds) => expect(ds.info.labelDim).toBe(0));
    const missing = folder({ 'a/x.png': rgb(2, 2, 0), 'dataset.json': '{"labels": [["a/y.png", 1]]}' });
    await expect(imageFolder(missing)).rejects.toThrow(/dataset\.json: no label for a\/x\.png/);
  });

  it('drops alpha and expands palettes', async () => {
    const root = folder({
      'a.png': rgb(3, 2, 5, 4), // RGBA
      'b.png': rgb(3, 2, 5, 3),
    });
    await using(await imageFolder(root), async (ds) => {
      expect(ds.info.shape).toEqual([3, 2, 3]);
      const { data } = await ds.read([0, 1]);
      close(data.subarray(0, 18), rgbSample(3, 2, 5));
      close(data.subarray(18), rgbSample(3, 2, 5));
    });
    const gray = folder({ 'a.png': rgb(3, 2, 7, 2), 'b.png': rgb(3, 2, 7, 1) });
    await using(await imageFolder(gray), async (ds) => {
      expect(ds.info.shape).toEqual([1, 2, 3]);
      const { data } = await ds.read([0, 1]);
      close(data.subarray(0, 6), rgbSample(3, 2, 7, 1));
      close(data.subarray(6), rgbSample(3, 2, 7, 1));
    });
    const palette = folder({});
    copyFileSync(join(fixtures, 'png', 'pal4-trns.png'), join(palette, 'p.png'));
    const want = decodePng(readFileSync(join(fixtures, 'png', 'pal4-trns.png')));
    await using(await imageFolder(palette), async (ds) => {
      expect(ds.info.shape).toEqual([3, want.height, want.width]);
      const { data } = await ds.read([0]);
      const plane = want.width * want.height;
      for (let p = 0; p < plane; p++) {
        for (let c = 0; c < 3; c++)
          expect(data[c * plane + p]).toBeCloseTo((want.data[p * 4 + c] as number) / 127.5 - 1, 6);
      }
    });
  });

  it('names both files on a size or channel mismatch, and converts when asked', async () => {
    const sizes = folder({ 'a.png': rgb(4, 3, 0), 'b.png': rgb(5, 3, 0), 'c.png': rgb(4, 3, 0) });
    const error = await imageFolder(sizes).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PfgmError);
    expect((error as PfgmError).code).toBe('ERR_PFGM_SHAPE');
    expect((error as Error).message).toMatch(/b\.png is 5x3 but .*a\.png \(the first image\) is 4x3.*resolution/);

    const kinds = folder({ 'a.png': rgb(2, 2, 0, 1), 'b.png': rgb(2, 2, 0, 3) });
    await expect(imageFolder(kinds)).rejects.toThrow(/b\.png is RGB but .*a\.png \(the first image\) is grayscale/);
    await using(await imageFolder(kinds, { channels: 1 }), async (ds) => {
      expect(ds.info.shape).toEqual([1, 2, 2]);
      const { data } = await ds.read([1]);
      // pixel (0, 0) of b is (0, 50, 100): luma (50 * 38470 + 100 * 7471 + 32768) >> 16 = 41,
      // about 0.587 * 50 + 0.114 * 100
      expect(data[0]).toBeCloseTo(41 / 127.5 - 1, 6);
    });
    await using(await imageFolder(kinds, { channels: 3 }), async (ds) => {
      const { data } = await ds.read([0]);
      close(data, [...rgbSample(2, 2, 0, 1), ...rgbSample(2, 2, 0, 1), ...rgbSample(2, 2, 0, 1)]);
    });
  });

  it('center-crops and box-resamples to a resolution', async () => {
    // 8x6 gray image: 2x2 blocks of value 20 * block column + 100 * block row, in a 1-pixel frame
    // cropped away by the center crop to 6x6.
    const w = 8;
    const h = 6;
    const data = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) {
      for (let x = 1; x < w - 1; x++) data[y * w + x] = 20 * Math.floor((x - 1) / 2) + 100 * Math.floor(y / 2);
    }
    const root = folder({ 'a.png': encodePng({ width: w, height: h, channels: 1, data }), 'b.png': rgb(3, 3, 0, 1) });
    await using(await imageFolder(root, { resolution: 3 }), async (ds) => {
      expect(ds.info.shape).toEqual([1, 3, 3]);
      const batch = await ds.read([0, 1]);
      close(
        batch.data.subarray(0, 9),
        [0, 20, 40, 100, 120, 140, 200, 220, 240].map((v) => v / 127.5 - 1),
      );
      close(batch.data.subarray(9), rgbSample(3, 3, 0, 1));
    });
    const out = new Float32Array(4);
    pngToSample(
      { width: 4, height: 2, channels: 1, data: new Uint8Array([0, 10, 20, 30, 40, 50, 60, 70]) },
      [1, 2, 2],
      out,
    );
    close(
      out,
      [10, 20, 50, 60].map((v) => v / 127.5 - 1),
    ); // the middle 2x2 crop, as is
    expect(() => pngToSample({ width: 1, height: 1, channels: 1, data: new Uint8Array(1) }, [2, 1, 1], out)).toThrow(
      PfgmError,
    );
  });

  it('reports empty folders, missing folders and bad files', async () => {
    const empty = folder({ 'notes.txt': 'nothing here' });
    await expect(imageFolder(empty)).rejects.toThrow(
      new RegExp(`no \\.png or \\.jpg files in ${empty.replaceAll('\\', '\\\\')}`),
    );
    const others = folder({ 'a.webp': 'x', 'b.GIF': 'y' });
    await expect(imageFolder(others)).rejects.toThrow(/2 images in other formats: convert them to PNG/);
    // A file named .jpg that is not one is refused by name when the folder is opened.
    const fake = folder({ 'a.jpg': 'x' });
    await expect(imageFolder(fake)).rejects.toThrow(/a\.jpg: not a JPEG file/);
    await expect(imageFolder(join(tmp, 'nowhere'))).rejects.toThrow(/nowhere does not exist/);
    await expect(imageFolder(join(fixtures, 'zip', 'edm.zip'))).rejects.toThrow(/not a folder.*zipDataset/);
    await expect(imageFolder(empty, { channels: 2 as 1 })).rejects.toThrow(/channels must be 1 or 3/);
    await expect(imageFolder(empty, { resolution: 0 })).rejects.toThrow(/resolution/);
    const notPng = folder({ 'a.png': rgb(2, 2, 0), 'b.png': 'definitely not a png, but long enough to fill a header' });
    await expect(imageFolder(notPng)).rejects.toThrow(/b\.png: not a PNG file/);
  });

  it('decodes lazily: a truncated or vanished file fails on read, naming the file', async () => {
    const good = rgb(16, 16, 3);
    const root = folder({ 'a.png': good, 'b.png': good.subarray(0, good.length - 30), 'c.png': good });
    await using(await imageFolder(root), async (ds) => {
      expect(ds.info.count).toBe(3);
      await ds.read([0, 2]);
      const error = await ds.read([0, 1]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PfgmError);
      expect((error as Error).message).toMatch(/b\.png: .*cut short/);
      unlinkSync(join(root, 'c.png'));
      await expect(ds.read([2])).rejects.toThrow(/c\.png: cannot read the image/);
    });
    const ok = await imageFolder(folder({ 'a.png': good }));
    await ok.close();
    await expect(ok.read([0])).rejects.toMatchObject({ code: 'ERR_PFGM_DISPOSED' });
  });
});

describe('zipDataset', () => {
  it('reads an EDM-style archive (python zipfile) with dataset.json labels', async () => {
    const path = join(fixtures, 'zip', 'edm.zip');
    await using(await zipDataset(path), async (ds) => {
      expect(ds.info).toEqual({ name: 'edm', kind: 'image', shape: [3, 3, 4], count: 6, labelDim: 3 });
      const batch = await ds.read([5, 0, 3]);
      expect([...(batch.classes ?? [])]).toEqual([2, 0, 0]);
      expect([...(batch.labels ?? [])]).toEqual([0, 0, 1, 1, 0, 0, 1, 0, 0]);
      for (const [k, i] of [5, 0, 3].entries()) {
        const want: number[] = [];
        for (let c = 0; c < 3; c++) {
          for (let y = 0; y < 3; y++)
            for (let x = 0; x < 4; x++) want.push(((40 * i + 10 * y + 3 * x + 100 * c) % 256) / 127.5 - 1);
        }
        close(batch.data.subarray(k * 36, (k + 1) * 36), want);
      }
    });
    await using(await zipDataset(path, { labels: false }), async (ds) => expect(ds.info.labelDim).toBe(0));
  });

  it('reads a ZIP64 archive (as EDM writes past 65,535 images) with its labels', async () => {
    await using(await zipDataset(join(fixtures, 'zip', 'edm-zip64.zip')), async (ds) => {
      expect(ds.info).toMatchObject({ shape: [1, 2, 3], count: 4, labelDim: 2 });
      const b = await ds.read([3]);
      // Image 3: value 40 * 3 + 3 * y + x.
      expect([...b.data].map((v) => Math.round((v + 1) * 127.5))).toEqual([120, 121, 122, 123, 124, 125]);
      expect([...(b.classes ?? [])]).toEqual([1]);
    });
  });

  it('reads a grayscale archive without labels', async () => {
    await using(await zipDataset(join(fixtures, 'zip', 'edm-gray-nolabels.zip')), async (ds) => {
      expect(ds.info.shape).toEqual([1, 2, 2]);
      expect(ds.info.labelDim).toBe(0);
      const batch = await ds.read([2, 1]);
      expect(batch.labels).toBeUndefined();
      close(
        batch.data,
        [100, 101, 102, 103, 50, 51, 52, 53].map((v) => v / 127.5 - 1),
      );
    });
    await expect(zipDataset(join(fixtures, 'zip', 'edm-gray-nolabels.zip'), { labels: true })).rejects.toThrow(
      /no dataset\.json with labels/,
    );
  });

  it('explains bad archives, labels and entries', async () => {
    const write = (name: string, entries: [string, Uint8Array | string][]): string => {
      const path = join(tmp, name);
      writeFileSync(path, storedZip(entries));
      return path;
    };
    const png = rgb(2, 2, 0);
    await expect(zipDataset(write('none.zip', [['a.txt', 'hi']]))).rejects.toThrow(
      /no \.png or \.jpg entries in .*none\.zip/,
    );
    const vector = write('vector.zip', [
      ['a.png', png],
      ['dataset.json', '{"labels": [["a.png", [0.5, 1]]]}'],
    ]);
    await expect(zipDataset(vector)).rejects.toThrow(
      /vector\.zip \(entry dataset\.json\): the label of a\.png .*integer/,
    );
    const missing = write('missing.zip', [
      ['a.png', png],
      ['b.png', png],
      ['dataset.json', '{"labels": [["a.png", 1]]}'],
    ]);
    await expect(zipDataset(missing)).rejects.toThrow(/no label for b\.png/);
    const mismatch = write('mismatch.zip', [
      ['a.png', png],
      ['b.png', rgb(3, 2, 0)],
    ]);
    await expect(zipDataset(mismatch)).rejects.toThrow(/mismatch\.zip \(entry b\.png\) is 3x2 but .*\(entry a\.png\)/);
    // c.png: a PNG with a damaged IDAT (its own CRC fails) stored with a correct entry CRC;
    // b.png: a good PNG whose bytes get damaged in the archive afterwards (the entry CRC fails)
    const corrupt = png.slice();
    corrupt[45] = (corrupt[45] as number) ^ 0xff;
    const bad = write('bad.zip', [
      ['a.png', png],
      ['b.png', png],
      ['c.png', corrupt],
      ['__MACOSX/._a.png', 'resource fork'],
    ]);
    const bytes = readFileSync(bad);
    const bStart = 30 + 'a.png'.length + png.length + 30 + 'b.png'.length;
    bytes[bStart + 45] = (bytes[bStart + 45] as number) ^ 0xff;
    writeFileSync(bad, bytes);
    await using(await zipDataset(bad), async (ds) => {
      expect(ds.info.count).toBe(3);
      await ds.read([0]);
      await expect(ds.read([1])).rejects.toThrow(/bad\.zip \(entry b\.png\): CRC-32 mismatch/);
      await expect(ds.read([2])).rejects.toThrow(/bad\.zip \(entry c\.png\): CRC mismatch in chunk IDAT/);
    });
  });
});

describe('imageGrid', () => {
  it('lays out samples with padding and clips to 0..255', () => {
    // five 1-channel 2x3 samples, 3 columns, padding 1 -> 13 x 7
    const values = [-1, -0.5, 0, 0.5, 1, 2];
    const batch = new Float32Array(5 * 6);
    for (let k = 0; k < 5; k++) for (let i = 0; i < 6; i++) batch[k * 6 + i] = (values[i] as number) * (k % 2 ? -1 : 1);
    batch[29] = Number.NaN;
    const png = imageGrid(batch, [1, 2, 3], { columns: 3, padding: 1 });
    const img = decodePng(png);
    expect([img.width, img.height, img.channels]).toEqual([13, 7, 1]);
    const at = (x: number, y: number): number => img.data[y * 13 + x] as number;
    const bytes = [0, 64, 128, 191, 255, 255];
    for (let k = 0; k < 5; k++) {
      const x0 = 1 + (k % 3) * 4;
      const y0 = 1 + Math.floor(k / 3) * 3;
      for (let i = 0; i < 6; i++) {
        const want = k === 4 && i === 5 ? 0 : k % 2 ? toByte(-(values[i] as number)) : bytes[i];
        expect(at(x0 + (i % 3), y0 + Math.floor(i / 3)), `sample ${k} value ${i}`).toBe(want);
      }
    }
    for (let x = 0; x < 13; x++) expect(at(x, 0)).toBe(0); // padding row
    for (let y = 0; y < 7; y++) expect(at(12, y)).toBe(0); // last padding column
    for (let x = 9; x < 13; x++) expect(at(x, 5)).toBe(0); // the empty sixth cell
  });

  it('writes RGB, defaults to a square grid, and inverts the dataset scaling exactly', () => {
    const batch = new Float32Array(4 * 3 * 2 * 2).map((_, i) => (i % 3) - 1);
    const img = gridImage(batch, [3, 2, 2]);
    expect([img.width, img.height, img.channels]).toEqual([2 * 4 + 2, 2 * 4 + 2, 3]);
    expect(decodePng(imageGrid(batch, [3, 2, 2], { padding: 0, padValue: 1 }))).toMatchObject({
      width: 4,
      height: 4,
      channels: 3,
    });
    const f = new Float32Array(1);
    for (let p = 0; p < 256; p++) {
      f[0] = p / 127.5 - 1;
      expect(toByte(f[0] as number)).toBe(p);
    }
    expect(() => imageGrid(new Float32Array(7), [1, 2, 3])).toThrow(/not a whole number/);
    expect(() => imageGrid(new Float32Array(8), [2, 2, 2])).toThrow(/C = 1 \(grayscale\) or 3/);
    expect(() => imageGrid(new Float32Array(0), [1, 2, 2])).toThrow(PfgmError);
    expect(() => imageGrid(new Float32Array(4), [1, 2, 2], { columns: 0 })).toThrow(/columns/);
  });
});

describe('scatterPlot', () => {
  const pixel = (img: PngImage, x: number, y: number): number[] => [
    ...img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3),
  ];

  it('draws points and reference points where expected', () => {
    const points = new Float32Array([0.5, 0.5, 1, 1, -1, -1, 3, 0, Number.NaN, 0]);
    const reference = new Float32Array([-0.5, 0.5]);
    const png = scatterPlot(points, { size: 101, range: [-1, 1], reference, radius: 1 });
    const img = decodePng(png);
    expect([img.width, img.height, img.channels]).toEqual([101, 101, 3]);
    const blue = [31, 119, 180];
    const orange = [255, 127, 14];
    expect(pixel(img, 75, 25)).toEqual(blue); // (0.5, 0.5)
    expect(pixel(img, 76, 25)).toEqual(blue); // radius 1
    expect(pixel(img, 100, 0)).toEqual(blue); // (1, 1): top right
    expect(pixel(img, 0, 100)).toEqual(blue); // (-1, -1): bottom left
    expect(pixel(img, 25, 25)).toEqual(orange); // reference (-0.5, 0.5)
    expect(pixel(img, 25, 75)).toEqual([255, 255, 255]);
    expect(pixel(img, 50, 10)).toEqual([220, 220, 220]); // y axis
    expect(pixel(img, 90, 50)).toEqual([220, 220, 220]); // x axis
    // exactly the expected pixels are blue: 3 in-range points, radius-1 discs (3x3; 2x2 in corners)
    let blueCount = 0;
    for (let y = 0; y < 101; y++)
      for (let x = 0; x < 101; x++) if (pixel(img, x, y).join() === blue.join()) blueCount++;
    expect(blueCount).toBe(9 + 4 + 4);
    // points are drawn over reference points
    const over = scatterImage(new Float32Array([0, 0]), {
      size: 11,
      range: [-1, 1],
      reference: new Float32Array([0, 0]),
    });
    expect(pixel(over, 5, 5)).toEqual(blue);
  });

  it('defaults to 512 pixels and a range that holds every point', () => {
    const points = new Float32Array([10, 20, 30, 40]);
    const img = decodePng(scatterPlot(points));
    expect([img.width, img.height]).toEqual([512, 512]);
    // bounding square [10, 40] widened 5% each side: [8.5, 41.5]; (10, 20) -> column 23, row 333
    const scale = 511 / 33;
    expect(pixel(img, Math.round(1.5 * scale), Math.round((41.5 - 20) * scale))).toEqual([31, 119, 180]);
    expect(pixel(img, Math.round(21.5 * scale), Math.round(1.5 * scale))).toEqual([31, 119, 180]);
    expect(() => scatterPlot(new Float32Array(3))).toThrow(/n x 2/);
    expect(() => scatterPlot(points, { range: [1, 1] })).toThrow(/range/);
    expect(() => scatterPlot(points, { size: 1 })).toThrow(/size/);
    expect(decodePng(scatterPlot(new Float32Array(0), { size: 8 })).width).toBe(8);
  });
});
