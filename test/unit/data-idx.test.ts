import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, fashionMnist, idx, mnist } from '../../src/data/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pfgm-data-idx-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function idxImages(count: number, rows: number, cols: number, pixel: (n: number, k: number) => number): Buffer {
  const b = Buffer.alloc(16 + count * rows * cols);
  b.writeUInt32BE(0x803, 0);
  b.writeUInt32BE(count, 4);
  b.writeUInt32BE(rows, 8);
  b.writeUInt32BE(cols, 12);
  for (let n = 0; n < count; n++) for (let k = 0; k < rows * cols; k++) b[16 + n * rows * cols + k] = pixel(n, k);
  return b;
}

function idxLabels(labels: number[]): Buffer {
  const b = Buffer.alloc(8 + labels.length);
  b.writeUInt32BE(0x801, 0);
  b.writeUInt32BE(labels.length, 4);
  b.set(labels, 8);
  return b;
}

async function save(name: string, bytes: Buffer): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

const pixel = (n: number, k: number): number => (n * 40 + k * 17) % 256;

describe('idx', () => {
  it('reads plain and gzipped images with labels', async () => {
    const images = idxImages(3, 2, 3, pixel);
    const labels = idxLabels([7, 0, 9]);
    for (const gz of [false, true]) {
      const ext = gz ? '.gz' : '';
      const pack = (b: Buffer): Buffer => (gz ? gzipSync(b) : b);
      const ds = await idx(await save(`img${ext}`, pack(images)), { labels: await save(`lab${ext}`, pack(labels)) });
      expect(ds.info).toEqual({ name: `img${ext}`, kind: 'image', shape: [1, 2, 3], count: 3, labelDim: 10 });
      const b = await ds.read([2, 0]);
      const expected = [0, 1, 2, 3, 4, 5].map((k) => pixel(2, k) / 127.5 - 1);
      expected.push(...[0, 1, 2, 3, 4, 5].map((k) => pixel(0, k) / 127.5 - 1));
      expect([...b.data]).toEqual([...Float32Array.from(expected)]);
      expect([...(b.classes ?? [])]).toEqual([9, 7]);
      const onehot = new Array(20).fill(0);
      onehot[9] = 1;
      onehot[17] = 1;
      expect([...(b.labels ?? [])]).toEqual(onehot);
      await ds.close();
    }
    const unlabelled = await idx(join(dir, 'img'));
    expect(unlabelled.info.labelDim).toBe(0);
    expect((await unlabelled.read([1])).labels).toBeUndefined();
  });

  it('says how many bytes a truncated file lacks', async () => {
    const images = idxImages(3, 2, 3, pixel);
    const cut = await save('cut', images.subarray(0, images.length - 4));
    await expect(idx(cut)).rejects.toThrow(
      /truncated: its header says 3 images of 2 x 3, which needs 34 bytes, but 30 are present \(4 missing\)/,
    );
    const cutGz = await save('cut.gz', gzipSync(images.subarray(0, 20)));
    await expect(idx(cutGz)).rejects.toThrow(/needs 34 bytes, but 20 are present \(after decompression\)/);
    const damagedGz = await save('damaged.gz', gzipSync(images).subarray(0, 20));
    await expect(idx(damagedGz)).rejects.toThrow(/damaged gzip file/);
    const labels = await save('labcut', idxLabels([1, 2, 3]).subarray(0, 10));
    await expect(idx(await save('img3', images), { labels })).rejects.toThrow(
      /labels file .* needs 11 bytes, but 10 are present/,
    );
  });

  it('rejects a bad magic number, mismatched counts and labels beyond labelDim', async () => {
    const images = await save('img-ok', idxImages(3, 2, 2, pixel));
    const labels = await save('lab-ok', idxLabels([1, 2, 3]));
    await expect(idx(labels)).rejects.toThrow(/magic number 0x00000801, expected 0x00000803.*labels file/);
    await expect(idx(images, { labels: images })).rejects.toThrow(/magic number 0x00000803, expected 0x00000801/);
    await expect(idx(await save('junk', Buffer.from('not an idx file at all')))).rejects.toThrow(/magic number/);
    await expect(idx(await save('empty', Buffer.alloc(0)))).rejects.toThrow(/is empty/);
    const two = await save('lab-two', idxLabels([1, 2]));
    await expect(idx(images, { labels: two })).rejects.toMatchObject({
      code: 'ERR_PFGM_SHAPE',
      message: expect.stringMatching(/has 2 labels but images file .* has 3 images/),
    });
    const high = await save('lab-high', idxLabels([1, 12, 3]));
    await expect(idx(images, { labels: high })).rejects.toThrow(/label 12 at position 1, but labelDim is 10/);
    const ds = await idx(images, { labels: high, labelDim: 13 });
    expect(ds.info.labelDim).toBe(13);
    await expect(ds.read([3])).rejects.toThrow(/index 3 .* outside \[0, 3\)/);
    await expect(idx(join(dir, 'nope'))).rejects.toThrow(/does not exist/);
  });

  it('finds MNIST files in a folder, gzipped or not', async () => {
    const m = join(dir, 'mnist');
    await mkdir(m);
    await writeFile(join(m, 'train-images-idx3-ubyte.gz'), gzipSync(idxImages(4, 28, 28, pixel)));
    await writeFile(join(m, 'train-labels-idx1-ubyte.gz'), gzipSync(idxLabels([5, 0, 4, 1])));
    await writeFile(join(m, 't10k-images.idx3-ubyte'), idxImages(2, 28, 28, pixel));
    const train = await mnist(m);
    expect(train.info).toMatchObject({ name: 'mnist', shape: [1, 28, 28], count: 4, labelDim: 10 });
    expect(train.info.classNames?.[5]).toBe('5');
    expect([...((await train.read([0])).classes ?? [])]).toEqual([5]);
    const test = await mnist(m, { split: 'test' });
    expect(test.info).toMatchObject({ name: 'mnist:test', count: 2, labelDim: 0 });
    await expect(mnist(dir)).rejects.toThrow(/no train images: expected one of train-images-idx3-ubyte/);
    await expect(mnist(m, { split: 'val' as 'test' })).rejects.toThrow(/split must be 'train' or 'test'/);
  });
});

describe('fashionMnist', () => {
  it('says how to install it when absent', async () => {
    await expect(fashionMnist({ dir: join(dir, 'absent') })).rejects.toThrow(/apt-get install dataset-fashion-mnist/);
  });

  it.skipIf(!existsSync(FASHION_MNIST_DIR))('loads the Debian package (60000 train, 10000 test)', async () => {
    const train = await fashionMnist({ split: 'train' });
    expect(train.info).toEqual({
      name: 'fashion-mnist',
      kind: 'image',
      shape: [1, 28, 28],
      count: 60000,
      labelDim: 10,
      classNames: [...FASHION_MNIST_CLASSES],
    });
    const b = await train.read([0, 59999]);
    expect(b.data).toHaveLength(2 * 784);
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (const v of b.data) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    expect(min).toBe(-1);
    expect(max).toBeLessThanOrEqual(1);
    expect(max).toBeGreaterThan(0.9);
    expect(b.classes?.[0]).toBe(9);
    expect(train.info.classNames?.[9]).toBe('Ankle boot');
    expect([...(b.labels ?? new Float32Array()).subarray(0, 10)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    await train.close();
    const test = await fashionMnist({ split: 'test' });
    expect(test.info.count).toBe(10000);
    expect(test.info.name).toBe('fashion-mnist:test');
    expect((await test.read([0])).classes?.[0]).toBe(9);
    await test.close();
  });
});
