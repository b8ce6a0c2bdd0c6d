import { mkdtemp, open, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { npy } from '../../src/data/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pfgm-data-npy-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A .npy file as numpy.save writes it (header padded so the data starts at a multiple of 64). */
function npyBytes(
  descr: string,
  shape: number[],
  body: ArrayBufferView,
  { version = 1, fortran = false }: { version?: number; fortran?: boolean } = {},
): Buffer {
  const dict = `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const pre = version === 1 ? 10 : 12;
  const pad = (64 - ((pre + dict.length + 1) % 64)) % 64;
  const header = Buffer.from(`${dict}${' '.repeat(pad)}\n`, 'latin1');
  const head = Buffer.alloc(pre);
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  if (version === 1) head.writeUInt16LE(header.length, 8);
  else head.writeUInt32LE(header.length, 8);
  return Buffer.concat([head, header, Buffer.from(body.buffer, body.byteOffset, body.byteLength)]);
}

async function save(name: string, bytes: Buffer): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

describe('npy', () => {
  it('round-trips float32 and float64 vectors (format 1, 2, 3)', async () => {
    const f32 = Float32Array.from({ length: 12 }, (_, i) => i * 0.5 - 2);
    const a = await npy(await save('f4.npy', npyBytes('<f4', [4, 3], f32)));
    expect(a.info).toEqual({ name: 'f4.npy', kind: 'vector', shape: [3], count: 4, labelDim: 0 });
    expect([...(await a.read([3, 0, 1])).data]).toEqual([...f32.subarray(9, 12), ...f32.subarray(0, 6)]);
    await a.close();
    const f64 = Float64Array.from({ length: 10 }, (_, i) => Math.PI * i);
    for (const version of [1, 2, 3]) {
      const b = await npy(await save(`f8v${version}.npy`, npyBytes('<f8', [5, 2], f64, { version })));
      expect(b.info.shape).toEqual([2]);
      expect([...(await b.read([4, 2])).data]).toEqual([
        ...Float32Array.from([f64[8], f64[9], f64[4], f64[5]] as number[]),
      ]);
      await b.close();
    }
    const one = await npy(await save('one.npy', npyBytes('<i4', [3], Int32Array.from([7, -8, 9]))));
    expect(one.info.shape).toEqual([1]);
    expect([...(await one.read([1, 2])).data]).toEqual([-8, 9]);
    await one.close();
  });

  it('reads uint8 images in nchw and nhwc, scaled to [-1, 1]', async () => {
    // two images [C=2, H=1, W=3]
    const nchw = Uint8Array.from([0, 51, 255, 102, 153, 204, 255, 255, 0, 0, 0, 0]);
    const a = await npy(await save('nchw.npy', npyBytes('|u1', [2, 2, 1, 3], nchw)), { kind: 'image', layout: 'nchw' });
    expect(a.info).toEqual({ name: 'nchw.npy', kind: 'image', shape: [2, 1, 3], count: 2, labelDim: 0 });
    const got = [...(await a.read([0])).data];
    expect(got.map((v) => Math.round(((v + 1) / 2) * 255))).toEqual([0, 51, 255, 102, 153, 204]);
    expect(got[0]).toBe(-1);
    expect(got[2]).toBe(1);
    // the same first image stored [H=1, W=3, C=2]
    const nhwc = Uint8Array.from([0, 102, 51, 153, 255, 204, 9, 9, 9, 9, 9, 9]);
    const b = await npy(await save('nhwc.npy', npyBytes('|u1', [2, 1, 3, 2], nhwc)), { kind: 'image', layout: 'nhwc' });
    expect(b.info.shape).toEqual([2, 1, 3]);
    expect([...(await b.read([0])).data]).toEqual(got);
    // float images with a range, 3-D = one channel
    const f = Float32Array.from([0, 0.5, 1, 0.25]);
    const c = await npy(await save('gray.npy', npyBytes('<f4', [1, 2, 2], f)), { kind: 'image', range: [0, 1] });
    expect(c.info.shape).toEqual([1, 2, 2]);
    expect([...(await c.read([0])).data]).toEqual([-1, 0, 1, -0.5]);
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  it('asks what a 3-D or 4-D array is, and for the range of non-uint8 images', async () => {
    const path = await save('img4.npy', npyBytes('<f4', [1, 1, 2, 2], new Float32Array(4)));
    await expect(npy(path)).rejects.toThrow(/is 4-D \(shape \(1, 1, 2, 2\)\).*kind: 'image'/);
    await expect(npy(path, { kind: 'image', range: [0, 1] })).rejects.toThrow(/layout: 'nchw'/);
    await expect(npy(path, { kind: 'image', layout: 'nchw' })).rejects.toThrow(/range of its pixel values/);
    await expect(npy(path, { kind: 'image', layout: 'nchw', range: [1, 1] })).rejects.toThrow(/lo < hi/);
    const flat = await npy(path, { kind: 'vector' });
    expect(flat.info.shape).toEqual([4]);
    await flat.close();
  });

  it('reads rows lazily from the open file', async () => {
    const count = 50_000;
    const values = Float32Array.from({ length: count * 4 }, (_, i) => i);
    const path = await save('big.npy', npyBytes('<f4', [count, 4], values));
    const ds = await npy(path);
    expect([...(await ds.read([count - 1])).data]).toEqual([...values.subarray((count - 1) * 4)]);
    // rewrite the last row on disk: a later read sees it, so rows come from the file, not a copy
    const fh = await open(path, 'r+');
    const header = 128;
    await fh.write(Buffer.from(Float32Array.from([-1, -2, -3, -4]).buffer), 0, 16, header + (count - 1) * 16);
    await fh.close();
    const b = await ds.read([0, count - 1, 1, 2, count - 2]);
    expect([...b.data]).toEqual([
      0,
      1,
      2,
      3,
      -1,
      -2,
      -3,
      -4,
      4,
      5,
      6,
      7,
      8,
      9,
      10,
      11,
      ...values.subarray((count - 2) * 4, (count - 1) * 4),
    ]);
    await expect(ds.read([count])).rejects.toThrow(/index 50000 .* outside \[0, 50000\)/);
    // a file cut short while open
    await truncate(path, header + 10 * 16);
    await expect(ds.read([20])).rejects.toThrow(/ended early/);
    await ds.close();
    await expect(ds.read([0])).rejects.toMatchObject({ code: 'ERR_PFGM_DISPOSED' });
  });

  it('reads labels from a second .npy file', async () => {
    const data = await save('lx.npy', npyBytes('<f4', [3, 1], Float32Array.from([1, 2, 3])));
    const labels = await save('ly.npy', npyBytes('<i8', [3], BigInt64Array.from([2n, 0n, 2n])));
    const ds = await npy(data, { labels });
    expect(ds.info.labelDim).toBe(3);
    const b = await ds.read([0, 1]);
    expect([...(b.classes ?? [])]).toEqual([2, 0]);
    expect([...(b.labels ?? [])]).toEqual([0, 0, 1, 1, 0, 0]);
    await ds.close();
    const short = await save('lshort.npy', npyBytes('|u1', [2], Uint8Array.from([0, 1])));
    await expect(npy(data, { labels: short })).rejects.toThrow(/has 2 labels but .* has 3 samples/);
    const neg = await save('lneg.npy', npyBytes('<i4', [3], Int32Array.from([0, -1, 0])));
    await expect(npy(data, { labels: neg })).rejects.toThrow(/label -1 at position 1/);
  });

  it('rejects truncated, Fortran-order, big-endian, object and damaged files', async () => {
    const full = npyBytes('<f4', [4, 2], new Float32Array(8));
    const cut = await save('cut.npy', full.subarray(0, full.length - 5));
    await expect(npy(cut)).rejects.toThrow(/truncated: shape \(4, 2\) of f4 needs 160 bytes but the file has 155/);
    const extra = await save('extra.npy', Buffer.concat([full, Buffer.alloc(8)]));
    await expect(npy(extra)).rejects.toThrow(/8 bytes after its array/);
    const fortran = await save('fortran.npy', npyBytes('<f4', [4, 2], new Float32Array(8), { fortran: true }));
    await expect(npy(fortran)).rejects.toThrow(/Fortran.*ascontiguousarray/);
    const big = await save('big-endian.npy', npyBytes('>f4', [4, 2], new Float32Array(8)));
    await expect(npy(big)).rejects.toMatchObject({
      code: 'ERR_PFGM_DTYPE',
      message: expect.stringMatching(/big-endian/),
    });
    const obj = await save('obj.npy', npyBytes('|O', [2], new Uint8Array(16)));
    await expect(npy(obj)).rejects.toThrow(/Python objects/);
    const complex = await save('c8.npy', npyBytes('<c8', [2], new Uint8Array(16)));
    await expect(npy(complex)).rejects.toThrow(/dtype '<c8', which is not supported/);
    await expect(npy(await save('notnpy.npy', Buffer.from('hello world, not numpy')))).rejects.toThrow(/not a NumPy/);
    await expect(npy(await save('empty.npy', Buffer.alloc(0)))).rejects.toThrow(/is empty/);
    const zero = await save('zero.npy', npyBytes('<f4', [0, 3], new Float32Array(0)));
    await expect(npy(zero)).rejects.toThrow(/holds no samples/);
    await expect(npy(join(dir, 'absent.npy'))).rejects.toThrow(/absent\.npy' does not exist/);
    await expect(npy(dir)).rejects.toThrow(/folder/);
  });

  it('reports non-finite values when read', async () => {
    const path = await save('nan.npy', npyBytes('<f8', [2, 2], Float64Array.from([1, 2, 3, Number.NaN])));
    const ds = await npy(path);
    expect([...(await ds.read([0])).data]).toEqual([1, 2]);
    await expect(ds.read([1])).rejects.toThrow(/NaN at sample 1, element 1/);
    await ds.close();
  });
});
