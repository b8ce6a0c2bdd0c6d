// Fuzzing the IDX (MNIST) reader: random bytes, mutations of valid image and label files (plain and
// gzip), and edits of the header's magic, count, rows and cols either load as a dataset whose
// images and labels read back, or are refused with a coded PfgmError; never a raw exception.
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { idx } from '../../src/data/idx.js';
import { fuzzRuns, mutationsOf, parsed, randomBytes, readFirstSamples, scratch } from '../helpers/fuzz.js';

const tmp = scratch('idx');
afterAll(() => tmp.remove());

function imagesFile(count: number, rows: number, cols: number, pixels = count * rows * cols): Uint8Array {
  const out = new Uint8Array(16 + pixels);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0x803);
  view.setUint32(4, count);
  view.setUint32(8, rows);
  view.setUint32(12, cols);
  for (let i = 16; i < out.length; i++) out[i] = (i * 37) & 0xff;
  return out;
}

function labelsFile(labels: number[]): Uint8Array {
  const out = new Uint8Array(8 + labels.length);
  new DataView(out.buffer).setUint32(0, 0x801);
  new DataView(out.buffer).setUint32(4, labels.length);
  out.set(labels, 8);
  return out;
}

const images = imagesFile(3, 4, 5);
const labels = labelsFile([0, 9, 3]);

async function load(imageBytes: Uint8Array, labelBytes: Uint8Array | undefined, what: string): Promise<void> {
  const imagesPath = tmp.file(imageBytes);
  const options = labelBytes === undefined ? {} : { labels: tmp.file(labelBytes) };
  const ds = await parsed(what, () => idx(imagesPath, options));
  if (ds === undefined) return;
  await readFirstSamples(ds, what);
}

describe('fuzz: idx', () => {
  it('the valid files load', async () => {
    const ds = await idx(tmp.file(images), { labels: tmp.file(labels) });
    expect(ds.info).toMatchObject({ count: 3, shape: [1, 4, 5], labelDim: 10 });
    await ds.close();
  });

  it('random bytes, as images and as labels', async () => {
    await fc.assert(
      fc.asyncProperty(randomBytes(200), fc.boolean(), async (b, asLabels) => {
        await load(asLabels ? images : b, asLabels ? b : undefined, 'random bytes');
      }),
      fuzzRuns(150),
    );
  });

  it('mutations of valid files, plain and gzip-compressed', async () => {
    const gz = [gzipSync(images), gzipSync(labels)].map((b) => new Uint8Array(b));
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(mutationsOf([images]), mutationsOf([gz[0] as Uint8Array])),
        fc.oneof(fc.constant(labels), mutationsOf([labels, gz[1] as Uint8Array])),
        (i, l) => load(i, l, 'mutated files'),
      ),
      fuzzRuns(300),
    );
  });

  it('header edits: magic, count, rows and cols', async () => {
    const value = fc.constantFrom(0, 1, 2, 3, 4, 5, 255, 0x801, 0x803, 0x10000, 0x7fffffff, 0xffffffff);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), value), { minLength: 1, maxLength: 3 }),
        (edits) => {
          const b = Uint8Array.from(images);
          for (const [field, v] of edits) new DataView(b.buffer).setUint32(field * 4, v);
          return load(b, labels, 'edited header');
        },
      ),
      fuzzRuns(200),
    );
  });
});
