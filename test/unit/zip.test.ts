// The ZIP reader against archives written by Python's zipfile (test/fixtures/gen/zip_fixtures.py),
// and its errors on damaged, truncated, ZIP64 and unsupported archives.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { crc32 } from '../../src/codecs/crc32.js';
import { openZip } from '../../src/codecs/zip.js';
import { PfgmError } from '../../src/errors.js';

const fixtures = fileURLToPath(new URL('../fixtures/zip/', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'pfgm-zip-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function numbers(): Uint8Array {
  const out = new Uint8Array(256 * 40);
  for (let i = 0; i < out.length; i++) out[i] = i & 0xff;
  return out;
}

/** A copy of a fixture, edited, in the temp folder. */
function edited(name: string, edit: (bytes: Buffer) => Buffer | undefined): string {
  const bytes = readFileSync(join(fixtures, name));
  const out = edit(bytes) ?? bytes;
  const path = join(tmp, `${Math.random().toString(36).slice(2)}-${name}`);
  writeFileSync(path, out);
  return path;
}

describe('ZipReader on archives written by python zipfile', () => {
  it('lists entries and reads stored, deflated, empty and UTF-8-named entries with CRC checks', async () => {
    const zip = await openZip(join(fixtures, 'basic.zip'));
    try {
      expect(zip.entries.map((e) => e.name)).toEqual([
        'hello.txt',
        'data/numbers.bin',
        'empty.txt',
        'folder/',
        'ünïcøde.txt',
      ]);
      expect(zip.entries.map((e) => e.method)).toEqual([0, 8, 0, 0, 8]);
      expect(zip.entry('folder/')?.isDirectory).toBe(true);
      expect(zip.entry('hello.txt')?.isDirectory).toBe(false);
      expect(new TextDecoder().decode(await zip.read('hello.txt'))).toBe('hello, zip\n');
      const bin = zip.entry('data/numbers.bin');
      expect(bin?.size).toBe(10240);
      expect(bin?.compressedSize).toBeLessThan(1000);
      expect(await zip.read('data/numbers.bin')).toEqual(numbers());
      expect(bin?.crc32).toBe(crc32(numbers()));
      expect((await zip.read('empty.txt')).length).toBe(0);
      expect(new TextDecoder().decode(await zip.read('ünïcøde.txt'))).toBe('grüße\n');
      // concurrent reads through one handle
      const all = await Promise.all(Array.from({ length: 8 }, () => zip.read('data/numbers.bin')));
      for (const a of all) expect(a).toEqual(numbers());
      // peeking at the start of an entry
      expect(await zip.readHead('data/numbers.bin', 5)).toEqual(new Uint8Array([0, 1, 2, 3, 4]));
      expect(new TextDecoder().decode(await zip.readHead('hello.txt', 5))).toBe('hello');
      expect((await zip.readHead('hello.txt', 100)).length).toBe(11);
      await expect(zip.read('nope.txt')).rejects.toThrow(/basic\.zip: no entry named 'nope\.txt'/);
    } finally {
      await zip.close();
    }
    await expect(zip.read('hello.txt')).rejects.toMatchObject({ code: 'ERR_PFGM_DISPOSED' });
    await zip.close(); // twice is fine
  });

  it('reads entries with data descriptors (written to an unseekable stream)', async () => {
    const zip = await openZip(join(fixtures, 'streamed.zip'));
    try {
      expect(zip.entries.every((e) => (e.flags & 8) !== 0)).toBe(true);
      expect(new TextDecoder().decode(await zip.read('a.txt'))).toBe('streamed '.repeat(50));
      expect(await zip.read('b.bin')).toEqual(Uint8Array.from({ length: 100 }, (_, i) => i));
      expect(new TextDecoder().decode(await zip.readHead('a.txt', 8))).toBe('streamed');
    } finally {
      await zip.close();
    }
  });
});

describe('ZipReader on ZIP64', () => {
  it("reads Python's ZIP64 end record and ZIP64 extra fields (test/fixtures/gen/zip64_fixture.py)", async () => {
    const zip = await openZip(join(fixtures, 'edm-zip64.zip'));
    try {
      expect(zip.entries.map((e) => e.name)).toEqual([
        '00000/img00000000.png',
        '00000/img00000001.png',
        '00000/img00000002.png',
        '00000/img00000003.png',
        'dataset.json',
      ]);
      // Offsets past the lowered limit came from the ZIP64 extra fields.
      expect(zip.entries.map((e) => e.localHeaderOffset)).toEqual([0, 124, 248, 372, 496]);
      const json = JSON.parse(new TextDecoder().decode(await zip.read('dataset.json')));
      expect(json.labels[3]).toEqual(['00000/img00000003.png', 1]);
    } finally {
      await zip.close();
    }
  });
});

describe('ZipReader errors', () => {
  it('detects a CRC mismatch in a stored entry, naming archive and entry', async () => {
    const path = edited('basic.zip', (b) => {
      const at = b.indexOf('hello, zip');
      b[at] = 'j'.charCodeAt(0);
      return b;
    });
    const zip = await openZip(path);
    try {
      await expect(zip.read('hello.txt')).rejects.toThrow(
        new RegExp(`${path.replaceAll('.', '\\.')} \\(entry hello\\.txt\\): CRC-32 mismatch`),
      );
      expect(new TextDecoder().decode(await zip.read('empty.txt'))).toBe(''); // others still read
    } finally {
      await zip.close();
    }
  });

  it('detects corrupt deflate data', async () => {
    const zip0 = await openZip(join(fixtures, 'basic.zip'));
    const entry = zip0.entry('data/numbers.bin');
    await zip0.close();
    if (entry === undefined) throw new Error('fixture');
    const path = edited('basic.zip', (b) => {
      const start = entry.localHeaderOffset + 30 + b.readUInt16LE(entry.localHeaderOffset + 26);
      for (let i = 0; i < 20; i++) b[start + 10 + i] = (b[start + 10 + i] as number) ^ 0x5a;
      return b;
    });
    const zip = await openZip(path);
    try {
      await expect(zip.read('data/numbers.bin')).rejects.toThrow(/entry data\/numbers\.bin\): (the compressed|CRC)/);
    } finally {
      await zip.close();
    }
  });

  it('fails cleanly on every truncation', async () => {
    const bytes = readFileSync(join(fixtures, 'basic.zip'));
    for (let n = 0; n < bytes.length; n += 7) {
      const path = join(tmp, `cut-${n}.zip`);
      writeFileSync(path, bytes.subarray(0, n));
      let error: unknown;
      try {
        const zip = await openZip(path);
        try {
          for (const e of zip.entries) if (!e.isDirectory) await zip.read(e);
        } finally {
          await zip.close();
        }
      } catch (e) {
        error = e;
      }
      expect(error, `cut to ${n} bytes`).toBeInstanceOf(PfgmError);
      expect((error as Error).message).toContain(path);
    }
  });

  it('rejects damaged ZIP64 records, non-ZIP files, missing files and unsupported methods', async () => {
    // A ZIP64 locator that points at no ZIP64 end record.
    const zip64 = edited('basic.zip', (b) => {
      const eocd = b.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
      const locator = Buffer.alloc(20);
      locator.writeUInt32LE(0x07064b50, 0);
      return Buffer.concat([b.subarray(0, eocd), locator, b.subarray(eocd)]);
    });
    await expect(openZip(zip64)).rejects.toThrow(/the ZIP64 end record is missing/);
    // Saturated counts without a ZIP64 end record.
    const count64 = edited('basic.zip', (b) => {
      const eocd = b.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
      b.writeUInt16LE(0xffff, eocd + 8);
      b.writeUInt16LE(0xffff, eocd + 10);
      return b;
    });
    await expect(openZip(count64)).rejects.toThrow(/says ZIP64 but there is no ZIP64 end record/);

    const text = join(tmp, 'not.zip');
    writeFileSync(text, 'just some text, certainly long enough to hold an end record');
    await expect(openZip(text)).rejects.toThrow(/not\.zip: not a ZIP archive/);
    await expect(openZip(join(tmp, 'missing.zip'))).rejects.toThrow(/missing\.zip: no such file/);
    await expect(openZip(tmp)).rejects.toThrow(/not a file \(a folder\?\)/);

    const bzip = edited('basic.zip', (b) => {
      // method field of hello.txt in the central directory
      const cd = b.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
      b.writeUInt16LE(12, cd + 10);
      return b;
    });
    const zip = await openZip(bzip);
    try {
      await expect(zip.read('hello.txt')).rejects.toThrow(/compression method 12 \(bzip2\) is not supported/);
    } finally {
      await zip.close();
    }
    const encrypted = edited('basic.zip', (b) => {
      const cd = b.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
      b.writeUInt16LE(1, cd + 8);
      return b;
    });
    const zipE = await openZip(encrypted);
    try {
      await expect(zipE.read('hello.txt')).rejects.toThrow(/encrypted/);
    } finally {
      await zipE.close();
    }
  });
});
