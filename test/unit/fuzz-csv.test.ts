// Fuzzing the CSV reader: random text and bytes, mutations of valid files and cell edits, with and
// without a label column, either load as a dataset whose rows read back or are refused with a
// coded PfgmError; never a raw exception.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { csv } from '../../src/data/csv.js';
import { fuzzRuns, mutationsOf, parsed, randomBytes, readFirstSamples, scratch } from '../helpers/fuzz.js';

const tmp = scratch('csv');
afterAll(() => tmp.remove());

const validText = ['x,y,label\n0.5,-1,0\n2e3,4,1\n1,1,0\n', '1,2,3\r\n4,5,6\r\n', '"a","b"\n1,2\n\n'];
const valid = validText.map((t) => new TextEncoder().encode(t));
const labelColumns = [undefined, -1, 0, 'label', 2, 7, 'nope'] as const;

async function load(bytes: Uint8Array | string, what: string): Promise<void> {
  const path = tmp.file(bytes, '.csv');
  for (const labelColumn of labelColumns) {
    const ds = await parsed(what, () => csv(path, labelColumn === undefined ? {} : { labelColumn }));
    if (ds === undefined) continue;
    const batch = await readFirstSamples(ds, what);
    if (batch !== undefined) expect(batch.data.every((v) => Number.isFinite(v))).toBe(true);
  }
}

describe('fuzz: csv', () => {
  it('the valid files load', async () => {
    const ds = await csv(tmp.file(validText[0] as string, '.csv'), { labelColumn: 'label' });
    expect(ds.info).toMatchObject({ count: 3, shape: [2], labelDim: 2 });
    await ds.close();
  });

  it('random text and bytes', async () => {
    const cell = fc.oneof(
      fc.double().map(String),
      fc.integer().map(String),
      fc.constantFrom('', ' ', 'NaN', 'inf', '-Infinity', '1e999', '"', '""', '"1"', '0x10', '1_000', '\uFEFF1'),
      fc.string({ maxLength: 4 }),
    );
    const table = fc
      .tuple(
        fc.array(fc.array(cell, { minLength: 1, maxLength: 4 }), { maxLength: 5 }),
        fc.constantFrom('\n', '\r\n', '\r'),
      )
      .map(([rows, eol]) => rows.map((r) => r.join(',')).join(eol));
    await fc.assert(
      fc.asyncProperty(fc.oneof(table, fc.string({ maxLength: 60, unit: 'binary' }), randomBytes(100)), (t) =>
        load(t, 'random text'),
      ),
      fuzzRuns(150),
    );
  });

  it('mutations of valid files', async () => {
    await fc.assert(
      fc.asyncProperty(mutationsOf(valid), (b) => load(b, 'mutated file')),
      fuzzRuns(150),
    );
  });
});
