// Writing samples: NPY files that our own reader (and NumPy's format) loads back exactly, CSV rows
// that the CSV reader loads back, PNG grids and per-seed PNGs that decode to the samples' bytes.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeNpy } from '../../src/codecs/npy.js';
import { decodePng } from '../../src/codecs/png.js';
import { csv } from '../../src/data/csv.js';
import { npy } from '../../src/data/npy.js';
import { toByte } from '../../src/viz/grid.js';
import { writeSamples } from '../../src/viz/samples.js';

const work = mkdtempSync(join(tmpdir(), 'pfgm-samples-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('writeSamples', () => {
  const vectors = Float32Array.from({ length: 5 * 3 }, (_, i) => Math.sin(i) * 3.25);
  it('round-trips vectors through NPY and CSV', async () => {
    const file = join(work, 'v.npy');
    await writeSamples(file, vectors, 5, { shape: [3] });
    const bytes = readFileSync(file);
    expect((10 + bytes.readUInt16LE(8)) % 64).toBe(0); // the header is padded to 64 bytes
    const ds = await npy(file);
    expect(ds.info.shape).toEqual([3]);
    expect((await ds.read(Uint32Array.of(0, 1, 2, 3, 4))).data).toEqual(vectors);
    const text = join(work, 'v.csv');
    await writeSamples(text, vectors, 5, { shape: [3] });
    const back = await csv(text);
    const got = (await back.read(Uint32Array.of(0, 1, 2, 3, 4))).data;
    for (let i = 0; i < vectors.length; i++) expect(got[i]).toBeCloseTo(vectors[i] as number, 6);
  });

  it('writes an image grid and one PNG per seed', async () => {
    const images = Float32Array.from({ length: 4 * 1 * 3 * 2 }, (_, i) => (i % 7) / 3 - 1);
    await writeSamples(join(work, 'grid.png'), images, 4, { shape: [1, 3, 2], columns: 2 });
    const grid = decodePng(readFileSync(join(work, 'grid.png')));
    expect(grid.width).toBe(2 * 2 + 3 * 2); // two columns of width 2, padding 2 around
    const dir = join(work, 'each');
    await writeSamples(dir, images, 4, { shape: [1, 3, 2], seeds: [10, 11, 12, 13] });
    expect(readdirSync(dir).sort()).toEqual(['seed000010.png', 'seed000011.png', 'seed000012.png', 'seed000013.png']);
    const third = decodePng(readFileSync(join(dir, 'seed000012.png')));
    expect([third.width, third.height, third.channels]).toEqual([2, 3, 1]);
    expect([...third.data]).toEqual([...images.subarray(12, 18)].map(toByte));
  });

  it('explains what it cannot write', async () => {
    await expect(writeSamples(join(work, 'x.png'), vectors, 5, { shape: [3] })).rejects.toThrow(/csv or \.npy/);
    await expect(writeSamples(join(work, 'x.txt'), vectors, 5, { shape: [3] })).rejects.toThrow(/FILE\.csv/);
    await expect(writeSamples(join(work, 'x.npy'), vectors, 4, { shape: [3] })).rejects.toThrow(/4 samples/);
    expect(() => encodeNpy(vectors, [4, 3])).toThrow(/shape/);
  });
});
