import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DatasetInfo, FASHION_MNIST_DIR, openDataset, toy, xflip } from '../../src/data/index.js';
import { PfgmError } from '../../src/errors.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pfgm-data-open-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function idxFile(magic: number, dims: number[], body: number[]): Buffer {
  const b = Buffer.alloc(4 + 4 * dims.length + body.length);
  b.writeUInt32BE(magic, 0);
  for (const [i, d] of dims.entries()) b.writeUInt32BE(d, 4 + 4 * i);
  b.set(body, 4 + 4 * dims.length);
  return b;
}

describe('openDataset', () => {
  it('opens toy sets, csv and npy files', async () => {
    const t = await openDataset('toy:moons', { count: 50, seed: 4, labels: true });
    expect(t.info).toMatchObject({ name: 'toy:moons', count: 50, labelDim: 2 });
    expect((await t.read([7])).data).toEqual((await toy('moons', { count: 50, seed: 4 }).read([7])).data);
    await expect(openDataset('toy:swiss')).rejects.toThrow(/no toy dataset 'swiss'.*gaussians, moons/);

    const csvPath = join(dir, 'v.CSV');
    await writeFile(csvPath, 'a,b,y\n1,2,0\n3,4,1\n');
    const c = await openDataset(csvPath, { labelColumn: 'y' });
    expect(c.info).toMatchObject({ kind: 'vector', shape: [2], count: 2, labelDim: 2 });

    const head = "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2, 2), }";
    const header = Buffer.from(`${head}${' '.repeat(128 - 10 - head.length - 1)}\n`, 'latin1');
    const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length, 0]);
    const npyPath = join(dir, 'img.npy');
    await writeFile(npyPath, Buffer.concat([pre, header, Buffer.from([0, 255, 255, 0])]));
    const n = await openDataset(npyPath, { kind: 'image' });
    expect(n.info).toMatchObject({ kind: 'image', shape: [1, 2, 2], count: 1 });
    expect([...(await n.read([0])).data]).toEqual([-1, 1, 1, -1]);
    await n.close();
  });

  it('opens IDX files with the labels beside them, and MNIST and CIFAR-10 folders', async () => {
    const m = join(dir, 'mnist');
    await mkdir(m);
    const images = join(m, 'train-images-idx3-ubyte.gz');
    await writeFile(images, gzipSync(idxFile(0x803, [2, 2, 2], [0, 1, 2, 3, 4, 5, 6, 7])));
    await writeFile(join(m, 'train-labels-idx1-ubyte'), idxFile(0x801, [2], [3, 4]));
    const a = await openDataset(images);
    expect(a.info).toMatchObject({ kind: 'image', shape: [1, 2, 2], count: 2, labelDim: 10 });
    expect([...((await a.read([1])).classes ?? [])]).toEqual([4]);
    expect((await openDataset(images, { labels: false })).info.labelDim).toBe(0);
    const folder = await openDataset(m);
    expect(folder.info).toMatchObject({ name: 'mnist', count: 2, labelDim: 10 });
    await expect(openDataset(m, { split: 'test' })).rejects.toThrow(/MNIST-style train files but not the test split/);

    const cifar = join(dir, 'cifar');
    await mkdir(cifar);
    const record = Buffer.alloc(3073);
    record[0] = 6;
    await writeFile(join(cifar, 'test_batch.bin'), record);
    await writeFile(join(cifar, 'data_batch_1.bin'), record);
    const test = await openDataset(cifar, { split: 'test' });
    expect(test.info).toMatchObject({ name: 'cifar10:test', shape: [3, 32, 32], count: 1, labelDim: 10 });
    await expect(openDataset(cifar)).rejects.toThrow(/lacks data_batch_2\.bin/);
  });

  it.skipIf(!existsSync(FASHION_MNIST_DIR))('opens fashion-mnist:test', async () => {
    const ds = await openDataset('fashion-mnist:test');
    expect(ds.info).toMatchObject({ name: 'fashion-mnist:test', count: 10000, shape: [1, 28, 28], labelDim: 10 });
    await ds.close();
  });

  it('lists the accepted sources for unknown ones and empty folders', async () => {
    const empty = join(dir, 'empty');
    await mkdir(empty);
    await expect(openDataset(empty)).rejects.toThrow(/the folder is empty\. Accepted sources: 'fashion-mnist'/);
    await expect(openDataset(join(dir, 'missing'))).rejects.toThrow(/no such file or folder.*Accepted sources/);
    const txt = join(dir, 'notes.txt');
    await writeFile(txt, 'hello');
    await expect(openDataset(txt)).rejects.toThrow(/not recognized.*\.csv file, a \.npy file/);
    await expect(openDataset('')).rejects.toMatchObject({ code: 'ERR_PFGM_ARGUMENT' });
    await expect(openDataset('toy:moons', { labels: 'x' })).resolves.toBeDefined();
    await expect(openDataset(join(dir, 'x.npy'), { labels: true })).rejects.toThrow(/labels must be the path/);
  });

  it('hands .zip files and other folders to the image readers', async () => {
    // data/zip.js and data/imageFolder.js are other modules; built in or not, these are PfgmErrors
    await expect(openDataset(join(dir, 'absent.zip'))).rejects.toBeInstanceOf(PfgmError);
    const other = join(dir, 'other');
    await mkdir(other);
    await writeFile(join(other, 'readme.txt'), 'no images');
    await expect(openDataset(other)).rejects.toBeInstanceOf(PfgmError);
    await expect(openDataset(other, { labels: 'labels.csv' })).rejects.toThrow(/take labels: true or false/);
  });
});

describe('xflip', () => {
  const info: DatasetInfo = { name: 'x', kind: 'image', shape: [2, 2, 3], count: 2, labelDim: 0 };

  it('mirrors the flagged images left-right in place', () => {
    const data = Float32Array.from({ length: 24 }, (_, i) => i);
    const out = xflip({ data }, info, Uint8Array.from([1, 0]));
    expect(out).toBe(data);
    expect([...data.subarray(0, 12)]).toEqual([2, 1, 0, 5, 4, 3, 8, 7, 6, 11, 10, 9]);
    expect([...data.subarray(12)]).toEqual([12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]);
    xflip(data, info, Uint8Array.from([1, 1]));
    expect([...data.subarray(0, 3)]).toEqual([0, 1, 2]);
    expect([...data.subarray(12, 15)]).toEqual([14, 13, 12]);
  });

  it('rejects vectors, wrong lengths and flags other than 0 and 1', () => {
    const data = new Float32Array(24);
    expect(() => xflip(data, { ...info, kind: 'vector', shape: [12] }, Uint8Array.from([1, 0]))).toThrow(/only images/);
    expect(() => xflip(data, info, Uint8Array.from([1]))).toThrow(/got 24 values for 1 flags/);
    const before = Float32Array.from({ length: 24 }, (_, i) => i);
    expect(() => xflip(before, info, Uint8Array.from([1, 2]))).toThrow(/flags\[1\] is 2/);
    expect(before[0]).toBe(0); // nothing flipped before the error
  });
});
