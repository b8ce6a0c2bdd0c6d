// Fuzzing the ZIP reader and the EDM-style image archive dataset over it: random bytes, mutations
// of the fixture archives and edits of the central directory and end record either list entries
// whose reads succeed or fail with a coded PfgmError, or are refused with one at once; never a
// raw TypeError or RangeError.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { openZip } from '../../src/codecs/zip.js';
import { zipDataset } from '../../src/data/zip.js';
import { fuzzRuns, mutationsOf, parsed, randomBytes, readFirstSamples, scratch } from '../helpers/fuzz.js';

const tmp = scratch('zip');
afterAll(() => tmp.remove());
const fixture = (name: string) =>
  new Uint8Array(readFileSync(fileURLToPath(new URL(`../fixtures/zip/${name}`, import.meta.url))));
const archives = ['basic.zip', 'streamed.zip'].map(fixture);
const datasets = ['edm.zip', 'edm-gray-nolabels.zip'].map(fixture);

/** Opens the bytes as an archive and reads every entry (and the head of each). */
async function readAll(bytes: Uint8Array, what: string): Promise<void> {
  const path = tmp.file(bytes, '.zip');
  const zip = await parsed(what, () => openZip(path));
  if (zip === undefined) return;
  try {
    for (const e of zip.entries.slice(0, 8)) {
      const data = await parsed(`${what}: ${e.name}`, () => zip.read(e));
      if (data !== undefined) expect(data.length).toBe(e.size);
      await parsed(`${what}: head of ${e.name}`, () => zip.readHead(e, 7));
    }
  } finally {
    await zip.close();
  }
}

/** Opens the bytes as an image dataset and reads its samples. */
async function readDataset(bytes: Uint8Array, what: string): Promise<void> {
  const path = tmp.file(bytes, '.zip');
  const ds = await parsed(what, () => zipDataset(path));
  if (ds === undefined) return;
  await readFirstSamples(ds, what);
}

/** An edit of the archive's tail (central directory and end record) to an extreme field value. */
const tailEdit = fc
  .tuple(
    fc.constantFrom(...archives, ...datasets),
    fc.integer({ min: 1, max: 200 }),
    fc.constantFrom(0, 1, 0xffff, 0xffffffff, 0x7fffffff, 30, 46),
    fc.boolean(),
  )
  .map(([b, back, v, wide]) => {
    const out = Uint8Array.from(b);
    const view = new DataView(out.buffer);
    const at = Math.max(0, out.length - back - (wide ? 4 : 2));
    if (wide) view.setUint32(at, v >>> 0, true);
    else view.setUint16(at, v & 0xffff, true);
    return out;
  });

describe('fuzz: ZIP', () => {
  it('random bytes, with and without an end record', async () => {
    const withEnd = randomBytes(100).map((b) => Uint8Array.of(...b, 0x50, 0x4b, 0x05, 0x06, ...new Uint8Array(18)));
    await fc.assert(
      fc.asyncProperty(fc.oneof(randomBytes(300), withEnd), (b) => readAll(b, 'random bytes')),
      fuzzRuns(150),
    );
  });

  it('mutations of valid archives', async () => {
    await fc.assert(
      fc.asyncProperty(mutationsOf(archives), (b) => readAll(b, 'mutated archive')),
      fuzzRuns(300),
    );
  });

  it('edits of the central directory and end record', async () => {
    await fc.assert(
      fc.asyncProperty(tailEdit, (b) => readAll(b, 'edited directory')),
      fuzzRuns(200),
    );
  });

  it('image dataset archives: mutations and directory edits', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutationsOf(datasets), tailEdit), (b) => readDataset(b, 'mutated dataset archive')),
      fuzzRuns(200),
    );
  });
});
