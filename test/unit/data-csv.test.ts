import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csv } from '../../src/data/index.js';
import { PfgmError } from '../../src/errors.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pfgm-data-csv-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

describe('csv', () => {
  it("reads RFC 4180 as Python's csv module writes it: quoted fields, CRLF, commas, quotes and line breaks in quotes", async () => {
    // test/fixtures/gen/csv_fixture.py
    const path = join(import.meta.dirname, '..', 'fixtures', 'csv', 'rfc4180.csv');
    const ds = await csv(path, { labelColumn: 'label' });
    expect(ds.info).toMatchObject({ shape: [3], count: 3, labelDim: 2, classNames: ['3', '7'] });
    const b = await ds.read([0, 1, 2]);
    expect([...b.data]).toEqual([1.5, -2, Math.fround(3e-3), 0.25, 4, -100, 8, 0.5, 6]);
    expect([...(b.classes ?? [])]).toEqual([1, 0, 1]);
    await ds.close();
    // Errors still name the row as a spreadsheet shows it (the file's line where the record starts).
    const bad = await file('bad.csv', '"a, b",c\r\n1,2\r\n"3",x\r\n');
    await expect(csv(bad)).rejects.toThrow(/row 3, column 2 \('c'\) 'x' is not a number/);
    const unclosed = await file('unclosed.csv', 'a,b\n1,"2\n');
    await expect(csv(unclosed)).rejects.toThrow(/csv file '.*unclosed\.csv', row \d+: .*quote a field/);
  });

  it('reads rows without a header, ignoring trailing blank lines', async () => {
    const ds = await csv(await file('plain.csv', '1,2,3\n4.5,-5e-1, 6\r\n.25,+7,8E2\n\n\n'));
    expect(ds.info).toEqual({ name: 'plain.csv', kind: 'vector', shape: [3], count: 3, labelDim: 0 });
    const b = await ds.read([2, 0, 2]);
    expect([...b.data]).toEqual([0.25, 7, 800, 1, 2, 3, 0.25, 7, 800]);
    expect(b.labels).toBeUndefined();
    expect(b.classes).toBeUndefined();
    await ds.close();
  });

  it('detects a header and reads labels by name or index', async () => {
    const path = await file('labelled.csv', 'x,y,cls\n0,1,3\n2,3,1\n4,5,3\n6,7,1\n');
    const ds = await csv(path, { labelColumn: 'cls' });
    expect(ds.info.shape).toEqual([2]);
    expect(ds.info.count).toBe(4);
    expect(ds.info.labelDim).toBe(2);
    expect(ds.info.classNames).toEqual(['1', '3']);
    const b = await ds.read([0, 1]);
    expect([...b.data]).toEqual([0, 1, 2, 3]);
    expect([...(b.classes ?? [])]).toEqual([1, 0]);
    expect([...(b.labels ?? [])]).toEqual([0, 1, 1, 0]);
    const byIndex = await csv(path, { labelColumn: -1 });
    expect([...(await byIndex.read([3])).data]).toEqual([6, 7]);
    const first = await csv(path, { labelColumn: 0 });
    expect(first.info.labelDim).toBe(4);
    expect([...(await first.read([1])).data]).toEqual([3, 1]);
    await expect(csv(path, { labelColumn: 'z' })).rejects.toThrow(/no column named 'z'.*'x', 'y', 'cls'/);
    await expect(csv(path, { labelColumn: 3 })).rejects.toThrow(/labelColumn 3 is not a column/);
  });

  it('names the row and column of a bad cell', async () => {
    const nan = await file('nan.csv', 'a,b\n1,2\n3,NaN\n');
    await expect(csv(nan)).rejects.toThrow(/nan\.csv', row 3, column 2 \('b'\) is NaN/);
    const inf = await file('inf.csv', '1,2\n-Infinity,2\n');
    await expect(csv(inf)).rejects.toThrow(/row 2, column 1 is -Infinity: only finite numbers/);
    const text = await file('text.csv', '1,2,3\n4,five,6\n');
    await expect(csv(text)).rejects.toThrow(/row 2, column 2 'five' is not a number/);
    const empty = await file('emptycell.csv', '1,2\n3,\n');
    await expect(csv(empty)).rejects.toThrow(/row 2, column 2 is empty/);
    const huge = await file('huge.csv', '1,1e39\n');
    await expect(csv(huge)).rejects.toThrow(/row 1, column 2.*float32 range/);
    const label = await file('label.csv', '1,0.5\n');
    await expect(csv(label, { labelColumn: 1 })).rejects.toThrow(/row 1, column 2: the label 0.5 is not an integer/);
  });

  it('rejects ragged rows, blank inner lines, empty files and header-only files', async () => {
    const ragged = await file('ragged.csv', 'a,b,c\n1,2,3\n4,5\n');
    const error = await csv(ragged).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PfgmError);
    expect((error as PfgmError).code).toBe('ERR_PFGM_SHAPE');
    expect((error as PfgmError).message).toMatch(/row 3 has 2 columns but the header has 3/);
    await expect(csv(await file('blank.csv', '1,2\n\n3,4\n'))).rejects.toThrow(/row 2 is blank/);
    await expect(csv(await file('empty.csv', ''))).rejects.toThrow(/empty\.csv' is empty/);
    await expect(csv(await file('ws.csv', '\n \n'))).rejects.toThrow(/is empty/);
    await expect(csv(await file('header.csv', 'a,b\n'))).rejects.toThrow(/header row but no data rows/);
    await expect(csv(join(dir, 'missing.csv'))).rejects.toThrow(/missing\.csv' does not exist/);
  });

  it('checks indices and refuses reads after close', async () => {
    const ds = await csv(await file('idx.csv', '1\n2\n'));
    await expect(ds.read([2])).rejects.toThrow(/index 2 .* outside \[0, 2\)/);
    await expect(ds.read([-1])).rejects.toMatchObject({ code: 'ERR_PFGM_ARGUMENT' });
    await expect(ds.read([0.5])).rejects.toMatchObject({ code: 'ERR_PFGM_ARGUMENT' });
    expect((await ds.read([])).data).toHaveLength(0);
    await ds.close();
    await expect(ds.read([0])).rejects.toMatchObject({ code: 'ERR_PFGM_DISPOSED' });
  });
});
