// Datasets close with `await using` (Symbol.asyncDispose), as other Node resources do: reading
// after the scope is the same error as after close().
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeNpy } from '../../src/codecs/npy.js';
import type { Dataset } from '../../src/data/dataset.js';
import { openDataset } from '../../src/data/open.js';

const work = mkdtempSync(join(tmpdir(), 'pfgm-data-dispose-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function scoped(source: string): Promise<Dataset> {
  await using data = await openDataset(source);
  expect((await data.read([0])).data.length).toBeGreaterThan(0);
  return data;
}

describe('Dataset[Symbol.asyncDispose]', () => {
  const npy = join(work, 'v.npy');
  writeFileSync(
    npy,
    encodeNpy(
      Float32Array.from({ length: 12 }, (_, i) => i),
      [6, 2],
    ),
  );
  for (const source of ['toy:moons', npy]) {
    it(`closes ${source} at the end of the scope`, async () => {
      const data = await scoped(source);
      await expect(data.read([0])).rejects.toMatchObject({ code: 'ERR_PFGM_DISPOSED' });
    });
  }
});
