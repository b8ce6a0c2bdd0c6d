// The CUDA caching allocator's policy (src/native/memory/caching_pool.h), run here against a fake
// device of fixed capacity through the "caching_pool" op case: size classes against the rule
// stated in the header (computed independently below), same-stream reuse without a device call,
// no reuse across streams, the free-everything-and-retry path on a miss that runs out of memory,
// and a coded ERR_PFGM_OUT_OF_MEMORY naming the sizes. The same policy runs over cudaMalloc in
// cuda/runtime/allocator.cu (test/gpu/ops-parity.test.ts checks it on a device).
import { describe, expect, it } from 'vitest';
import { out, run } from '../helpers/ops.js';

const ALLOC = 1;
const FREE = 2;
const RELEASE = 3;

/** The stated rule: 512-byte steps up to 1 MiB, then steps of 2^floor(log2(bytes)) / 8. */
function expectedClass(bytes: number): number {
  const b = Math.max(bytes, 1);
  if (b <= 2 ** 20) return Math.ceil(b / 512) * 512;
  const step = 2 ** Math.floor(Math.log2(b)) / 8;
  return Math.ceil(b / step) * step;
}

async function replay(capacity: number, script: number[][], caching = 1) {
  const r = await run('caching_pool', { capacity, caching, script: script.flat() }, {});
  const [inUse, cached, deviceAllocs, deviceFrees, hits, deviceUsed, syncs] = Array.from(out(r, 'stats'));
  return {
    classes: Array.from(out(r, 'classes')),
    addresses: Array.from(out(r, 'addresses')),
    stats: { inUse, cached, deviceAllocs, deviceFrees, hits, deviceUsed, syncs },
  };
}

describe('caching pool policy (fake device)', () => {
  it('rounds requests to the stated size classes, wasting at most 12.5% above 1 MiB', async () => {
    const sizes = [
      0,
      1,
      511,
      512,
      513,
      4096,
      2 ** 20 - 1,
      2 ** 20,
      2 ** 20 + 1,
      1572865,
      3 * 2 ** 20,
      7777777,
      2 ** 27 + 5,
    ];
    const script = sizes.flatMap((b, i) => [
      [ALLOC, b, 0],
      [FREE, i, 0],
    ]);
    const { classes } = await replay(2 ** 30, script);
    expect(classes).toEqual(sizes.map(expectedClass));
    for (let i = 0; i < sizes.length; i++) {
      const b = Math.max(sizes[i] as number, 1);
      const c = classes[i] as number;
      expect(c).toBeGreaterThanOrEqual(b);
      if (b > 2 ** 20) expect(c / b).toBeLessThanOrEqual(1.125);
    }
  });

  it('reuses a freed block on its own stream without a device call, never across streams', async () => {
    const { addresses, stats } = await replay(2 ** 20, [
      [ALLOC, 1000, 0], // h0: class 1024, device call 1
      [FREE, 0, 0],
      [ALLOC, 900, 1], // h1: same class, other stream: device call 2
      [ALLOC, 900, 0], // h2: takes h0's block
      [ALLOC, 1025, 0], // h3: class 1536, device call 3
      [FREE, 1, 0],
      [FREE, 2, 0],
      [FREE, 3, 0],
    ]);
    expect(addresses[2]).toBe(addresses[0]);
    expect(addresses[1]).not.toBe(addresses[0]);
    expect(stats).toEqual({
      inUse: 0,
      cached: 1024 + 1024 + 1536,
      deviceAllocs: 3,
      deviceFrees: 0,
      hits: 1,
      deviceUsed: 1024 + 1024 + 1536,
      syncs: 0,
    });
    const after = await replay(2 ** 20, [
      [ALLOC, 1000, 0],
      [ALLOC, 900, 1],
      [FREE, 0, 0],
      [FREE, 1, 0],
      [RELEASE, 0, 0],
    ]);
    expect(after.stats).toMatchObject({ cached: 0, deviceFrees: 2, deviceUsed: 0, syncs: 1 });
  });

  it('gives the cache back and retries when a miss runs out of memory', async () => {
    const { stats } = await replay(4096, [
      [ALLOC, 2048, 0],
      [FREE, 0, 0], // 2048 cached
      [ALLOC, 3000, 0], // class 3072: 2048 + 3072 > 4096, so the cache is freed and the retry fits
    ]);
    expect(stats).toEqual({
      inUse: 3072,
      cached: 0,
      deviceAllocs: 2,
      deviceFrees: 1,
      hits: 0,
      deviceUsed: 3072,
      syncs: 1,
    });
  });

  it('reports out of memory with the sizes, as ERR_PFGM_OUT_OF_MEMORY', async () => {
    await expect(
      replay(4096, [
        [ALLOC, 1024, 0],
        [ALLOC, 5000, 0],
      ]),
    ).rejects.toMatchObject({
      code: 'ERR_PFGM_OUT_OF_MEMORY',
      message: expect.stringMatching(
        /could not allocate 4\.88 KiB \(5000 bytes\) \(size class 5\.00 KiB \(5120 bytes\)\).*1\.00 KiB \(1024 bytes\) in use.*3\.00 KiB \(3072 bytes\) free of 4\.00 KiB \(4096 bytes\)/,
      ),
    });
    await expect(replay(4096, [[ALLOC, 2 ** 50, 0]])).rejects.toMatchObject({
      code: 'ERR_PFGM_OUT_OF_MEMORY',
      message: expect.stringContaining('no device holds that much'),
    });
  });

  it('without caching (PFGM_CUDA_NO_CACHING=1) allocates exact sizes and gives each block back at once', async () => {
    const sizes = [0, 1, 1000, 3 * 2 ** 20 + 7];
    const { classes, stats } = await replay(
      2 ** 23,
      [...sizes.map((b) => [ALLOC, b, 0]), [FREE, 0, 0], [FREE, 1, 0], [ALLOC, 1000, 0]],
      0,
    );
    // `classes` reports the cached rule's class; the device saw the exact sizes.
    expect(classes).toEqual([...sizes, 1000].map(expectedClass));
    expect(stats).toEqual({
      inUse: 1000 + 3 * 2 ** 20 + 7 + 1000,
      cached: 0,
      deviceAllocs: 5,
      deviceFrees: 2,
      hits: 0,
      deviceUsed: 1000 + 3 * 2 ** 20 + 7 + 1000,
      syncs: 0,
    });
    await expect(
      replay(
        4096,
        [
          [ALLOC, 1024, 0],
          [ALLOC, 3073, 0],
        ],
        0,
      ),
    ).rejects.toMatchObject({
      code: 'ERR_PFGM_OUT_OF_MEMORY',
      message: expect.stringMatching(/could not allocate 3\.00 KiB \(3073 bytes\) \(PFGM_CUDA_NO_CACHING=1\)/),
    });
  });
});
