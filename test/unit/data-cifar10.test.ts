import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CIFAR10_CLASSES, cifar10 } from '../../src/data/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pfgm-data-cifar-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Records of 1 label byte + 3072 pixel bytes; pixel k of record n is (n * 7 + k) % 256. */
function batch(labels: number[]): Buffer {
  const b = Buffer.alloc(labels.length * 3073);
  for (const [n, label] of labels.entries()) {
    b[n * 3073] = label;
    for (let k = 0; k < 3072; k++) b[n * 3073 + 1 + k] = (n * 7 + k) % 256;
  }
  return b;
}

describe('cifar10', () => {
  it('reads a synthetic 2-record batch', async () => {
    const file = join(dir, 'two.bin');
    await writeFile(file, batch([3, 8]));
    const ds = await cifar10([file]);
    expect(ds.info).toEqual({
      name: 'cifar10',
      kind: 'image',
      shape: [3, 32, 32],
      count: 2,
      labelDim: 10,
      classNames: [...CIFAR10_CLASSES],
    });
    const b = await ds.read([1, 0]);
    expect(b.data).toHaveLength(2 * 3072);
    expect(b.data[0]).toBeCloseTo(7 / 127.5 - 1, 6); // record 1, red channel, pixel 0
    expect(b.data[1024]).toBeCloseTo(((7 + 1024) % 256) / 127.5 - 1, 6); // green plane starts at 1024
    expect(b.data[3072]).toBe(-1); // record 0, pixel 0 = 0
    expect(b.data[3072 + 255]).toBe(1);
    expect([...(b.classes ?? [])]).toEqual([8, 3]);
    expect(b.labels?.[8]).toBe(1);
    expect(b.labels?.[10 + 3]).toBe(1);
    await expect(ds.read([2])).rejects.toThrow(/outside \[0, 2\)/);
  });

  it('finds the split files in a folder (or its cifar-10-batches-bin) and reads batches.meta.txt', async () => {
    const root = join(dir, 'unpacked');
    const bin = join(root, 'cifar-10-batches-bin');
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, 'test_batch.bin'), batch([0, 1, 2]));
    await writeFile(
      join(bin, 'batches.meta.txt'),
      `${['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'].join('\n')}\n\n`,
    );
    const test = await cifar10(root, { split: 'test' });
    expect(test.info).toMatchObject({ name: 'cifar10:test', count: 3, labelDim: 10 });
    expect(test.info.classNames?.[9]).toBe('j');
    for (let i = 1; i <= 4; i++) await writeFile(join(bin, `data_batch_${i}.bin`), batch([i, i]));
    await expect(cifar10(bin)).rejects.toThrow(/lacks data_batch_5\.bin of the train split/);
    await writeFile(join(bin, 'data_batch_5.bin'), batch([5]));
    const train = await cifar10(bin);
    expect(train.info.count).toBe(9);
    expect([...((await train.read([0, 8])).classes ?? [])]).toEqual([1, 5]);
  });

  it('rejects wrong sizes, bad labels, missing files and empty folders', async () => {
    const odd = join(dir, 'odd.bin');
    await writeFile(odd, batch([1]).subarray(0, 3000));
    await expect(cifar10([odd])).rejects.toThrow(/3000 bytes, which is not a whole number of 3073-byte records/);
    const empty = join(dir, 'empty.bin');
    await writeFile(empty, Buffer.alloc(0));
    await expect(cifar10([empty])).rejects.toThrow(/it is empty/);
    const bad = join(dir, 'bad.bin');
    await writeFile(bad, batch([1, 10]));
    await expect(cifar10([bad])).rejects.toThrow(/record 1, has label 10/);
    await expect(cifar10([join(dir, 'none.bin')])).rejects.toThrow(/none\.bin' does not exist/);
    const folder = join(dir, 'empty-folder');
    await mkdir(folder);
    await expect(cifar10(folder, { split: 'test' })).rejects.toThrow(/lacks test_batch\.bin/);
    await expect(cifar10(join(dir, 'no-folder'))).rejects.toThrow(/is not a folder/);
    await expect(cifar10([])).rejects.toThrow(/non-empty list/);
  });
});
