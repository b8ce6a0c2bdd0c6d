// Fuzzing the .npy reader: random bytes, mutations of valid files and header dicts with edited
// fields either load as a dataset whose rows can be read, or are refused with a coded PfgmError;
// never a raw TypeError or RangeError.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeNpy, npyHeaderLength, parseNpyHeader } from '../../src/codecs/npy.js';
import { npy } from '../../src/data/npy.js';
import { fuzzRuns, mutationsOf, parsed, randomBytes, readFirstSamples, scratch } from '../helpers/fuzz.js';

const tmp = scratch('npy');
afterAll(() => tmp.remove());

/** A .npy file of format 1.0 with the given header dict text and data bytes. */
function withDict(dict: string, data: Uint8Array, major = 1): Uint8Array {
  const head = new TextEncoder().encode(`${dict}\n`);
  const pre = major === 1 ? 10 : 12;
  const out = new Uint8Array(pre + head.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, head.length, true);
  else view.setUint32(8, head.length, true);
  out.set(head, pre);
  out.set(data, pre + head.length);
  return out;
}

const valid = [
  encodeNpy(
    Float32Array.from({ length: 12 }, (_, i) => i / 3),
    [4, 3],
  ),
  encodeNpy(Float32Array.of(1, 2, 3), [3]),
  withDict(
    "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2, 2), }",
    Uint8Array.from({ length: 8 }, (_, i) => i),
  ),
  withDict("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", new Uint8Array(16), 2),
  withDict("{'descr': '<f2', 'fortran_order': False, 'shape': (1, 3), }", Uint8Array.of(0, 60, 0, 188, 1, 0), 3),
];

/** Loads a file as a dataset and reads its first rows; undefined when refused with a coded error. */
async function load(bytes: Uint8Array, what: string): Promise<void> {
  const path = tmp.file(bytes, '.npy');
  for (const options of [
    {},
    { kind: 'vector' as const },
    { kind: 'image' as const, range: [0, 1] as [number, number] },
  ]) {
    const ds = await parsed(what, () => npy(path, options));
    if (ds === undefined) continue;
    await readFirstSamples(ds, what);
  }
}

describe('fuzz: npy', () => {
  it('the valid files load', async () => {
    for (const b of valid) {
      const ds = await npy(tmp.file(b, '.npy'), { kind: 'vector' });
      expect((await ds.read([0])).data.length).toBeGreaterThan(0);
      await ds.close();
    }
  });

  it('random bytes, with and without the magic', async () => {
    const magic = randomBytes(200).map((b) => Uint8Array.of(0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, ...b));
    await fc.assert(
      fc.asyncProperty(fc.oneof(randomBytes(300), magic), (b) => load(b, 'random bytes')),
      fuzzRuns(150),
    );
  });

  it('mutations of valid files', async () => {
    await fc.assert(
      fc.asyncProperty(mutationsOf(valid), (b) => load(b, 'mutated file')),
      fuzzRuns(300),
    );
  });

  it('header dicts with edited fields', async () => {
    const descr = fc.oneof(
      fc.constantFrom('<f4', '|u1', '<f8', '>f4', '|b1', '<i2', '<u8', 'O', '<c8', '<f', '', "'", '<f4\\'),
      fc.string({ maxLength: 6 }),
    );
    const dim = fc.oneof(
      fc.integer({ min: -3, max: 6 }).map(String),
      fc.constantFrom('', 'L', '1L', '1e3', '2.5', 'x', '99999999999999999999'),
    );
    const shape = fc.array(dim, { maxLength: 4 }).map((d) => `(${d.join(', ')}${d.length === 1 ? ',' : ''})`);
    const dict = fc
      .record({
        descr,
        fortran: fc.constantFrom('False', 'True', 'false', '0'),
        shape: fc.oneof(shape, fc.string({ maxLength: 8 })),
        quote: fc.constantFrom("'", '"'),
        drop: fc.constantFrom('', 'descr', 'shape', 'fortran_order'),
      })
      .map(({ descr, fortran, shape, quote, drop }) => {
        const parts = [
          ['descr', `${quote}${descr}${quote}`],
          ['fortran_order', fortran],
          ['shape', shape],
        ].filter(([k]) => k !== drop);
        return `{${parts.map(([k, v]) => `${quote}${k}${quote}: ${v}`).join(', ')}, }`;
      });
    await fc.assert(
      fc.asyncProperty(dict, fc.integer({ min: 0, max: 48 }), fc.constantFrom(1, 2, 3), async (d, n, major) => {
        const bytes = withDict(d, new Uint8Array(n), major);
        // the header parser alone, then the whole reader
        const header = await parsed('edited dict', () => {
          const { length, version } = npyHeaderLength('x.npy', bytes.subarray(0, 12));
          return parseNpyHeader('x.npy', bytes, length, version);
        });
        if (header !== undefined) expect(header.shape.every((s) => Number.isSafeInteger(s) && s >= 0)).toBe(true);
        await load(bytes, 'edited dict');
      }),
      fuzzRuns(300),
    );
  });
});
