// The PNG codec: reference files from an independent encoder (test/fixtures/gen/png_fixtures.py,
// and librsvg/libpng via rsvg-convert), round trips, libpng reading our output where its tools
// exist, and corrupt or truncated files failing with clear errors.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync, inflateSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { crc32 } from '../../src/codecs/crc32.js';
import { decodePng, encodePng, type PngImage, readPngHeader } from '../../src/codecs/png.js';
import { PfgmError } from '../../src/errors.js';

const dir = fileURLToPath(new URL('../fixtures/png/', import.meta.url));
const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Record<
  string,
  { width: number; height: number; channels: number; pixels: string }
>;
const tmp = mkdtempSync(join(tmpdir(), 'pfgm-png-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(dir, name)));
}

function has(tool: string): boolean {
  return spawnSync(tool, ['--help'], { stdio: 'ignore' }).error === undefined;
}

/** Deterministic pseudo-random bytes (xorshift), smooth in places so every filter gets picked. */
function image(width: number, height: number, channels: 1 | 2 | 3 | 4, seed: number): PngImage {
  const data = new Uint8Array(width * height * channels);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < data.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const y = Math.floor(i / (width * channels));
    data[i] = y % 3 === 0 ? (s >>> 0) & 0xff : (i * 7 + y * 3) & 0xff;
  }
  return { width, height, channels, data };
}

/** Rewrites the CRC of the chunk starting at `at` (its length field) after an edit. */
function fixCrc(bytes: Uint8Array, at: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(at);
  view.setUint32(at + 8 + length, crc32(bytes.subarray(at + 4, at + 8 + length)));
}

function chunkAt(bytes: Uint8Array, type: string): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 8; at < bytes.length; at += 12 + view.getUint32(at)) {
    if (String.fromCharCode(...bytes.subarray(at + 4, at + 8)) === type) return at;
  }
  throw new Error(`no ${type} chunk`);
}

describe('crc32', () => {
  it('matches the standard check value and chains', () => {
    const text = new TextEncoder().encode('123456789');
    expect(crc32(text)).toBe(0xcbf43926);
    expect(crc32(text.subarray(4), crc32(text.subarray(0, 4)))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });
});

describe('decodePng on reference files from another encoder', () => {
  const names = Object.keys(expected).sort();
  it('has the fixtures', () => {
    expect(names.length).toBeGreaterThanOrEqual(24);
    for (const kind of ['gray1', 'gray16', 'rgba16', 'pal4-trns', 'pal1', 'rgb8-adam7', 'gray1-adam7', 'graya8']) {
      expect(names.some((n) => n.startsWith(kind))).toBe(true);
    }
  });
  for (const name of names) {
    it(name, () => {
      const want = expected[name] as { width: number; height: number; channels: number; pixels: string };
      const got = decodePng(fixture(name), name);
      expect([got.width, got.height, got.channels]).toEqual([want.width, want.height, want.channels]);
      expect(Buffer.from(got.data).toString('base64')).toBe(want.pixels);
      const header = readPngHeader(fixture(name).subarray(0, 33));
      expect([header.width, header.height]).toEqual([want.width, want.height]);
    });
  }

  it('reports header facts', () => {
    expect(readPngHeader(fixture('pal4-adam7.png'))).toEqual({
      width: 13,
      height: 7,
      bitDepth: 4,
      colorType: 3,
      interlaced: true,
      channels: 3,
    });
    expect(readPngHeader(fixture('graya16.png')).channels).toBe(2);
  });

  it('rounds 16-bit samples to 8 bits', () => {
    // one gray 16-bit row: 0, 128, 129, 257 * 200, 65535
    const values = [0, 128, 129, 257 * 200, 65535];
    const row = new Uint8Array(1 + values.length * 2);
    values.forEach((v, i) => {
      row[1 + 2 * i] = v >> 8;
      row[2 + 2 * i] = v & 0xff;
    });
    const png = handMade(values.length, 1, 16, 0, deflateSync(row));
    expect([...decodePng(png).data]).toEqual([0, 0, 1, 200, 255]);
  });
});

/** A PNG from raw parts (IHDR fields and a compressed IDAT), plus optional extra chunks. */
function handMade(
  width: number,
  height: number,
  depth: number,
  colorType: number,
  idat: Uint8Array,
  extra: [string, Uint8Array][] = [],
): Uint8Array {
  const chunk = (type: string, data: Uint8Array): Buffer => {
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    out.write(type, 4, 'latin1');
    out.set(data, 8);
    out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = depth;
  ihdr[9] = colorType;
  return new Uint8Array(
    Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('IHDR', ihdr),
      ...extra.map(([t, d]) => chunk(t, d)),
      chunk('IDAT', idat),
      chunk('IEND', new Uint8Array(0)),
    ]),
  );
}

describe('encodePng', () => {
  it('round-trips every channel count, filter mode and level', () => {
    for (const channels of [1, 2, 3, 4] as const) {
      for (const [w, h] of [
        [1, 1],
        [7, 5],
        [33, 17],
      ] as const) {
        const img = image(w, h, channels, w * 31 + channels);
        for (const options of [{}, { filter: 'none' as const }, { level: 0 }, { level: 9 }]) {
          const back = decodePng(encodePng(img, options));
          expect(back).toEqual(img);
        }
      }
    }
  });

  it('uses more than one filter type when adaptive', () => {
    const png = encodePng(image(64, 48, 3, 7));
    const view = new DataView(png.buffer, png.byteOffset);
    const at = chunkAt(png, 'IDAT');
    const raw = inflateSync(png.subarray(at + 8, at + 8 + view.getUint32(at)));
    const types = new Set<number>();
    for (let y = 0; y < 48; y++) types.add(raw[y * (64 * 3 + 1)] as number);
    expect(types.size).toBeGreaterThan(1);
  });

  it('rejects bad images', () => {
    const ok = image(2, 2, 3, 1);
    expect(() => encodePng({ ...ok, width: 0 })).toThrow(PfgmError);
    expect(() => encodePng({ ...ok, width: 2.5 })).toThrow(/width and height/);
    expect(() => encodePng({ ...ok, channels: 5 as 4 })).toThrow(/channels/);
    expect(() => encodePng({ ...ok, data: new Uint8Array(11) })).toThrow(/12 samples/);
    expect(() => encodePng(ok, { level: 10 })).toThrow(/level/);
  });

  it.skipIf(!has('gdk-pixbuf-pixdata'))('is read back identically by libpng (gdk-pixbuf)', () => {
    for (const channels of [1, 2, 3, 4] as const) {
      const img = image(19, 11, channels, 99 + channels);
      const file = join(tmp, `libpng-${channels}.png`);
      writeFileSync(file, encodePng(img));
      execFileSync('gdk-pixbuf-pixdata', [file, `${file}.pixdata`]);
      const pix = readFileSync(`${file}.pixdata`);
      expect(pix.subarray(0, 4).toString('latin1')).toBe('GdkP');
      const rowstride = pix.readUInt32BE(12);
      expect([pix.readUInt32BE(16), pix.readUInt32BE(20)]).toEqual([19, 11]);
      const outChannels = channels === 2 || channels === 4 ? 4 : 3; // gdk-pixbuf expands gray to RGB
      for (let y = 0; y < 11; y++) {
        for (let x = 0; x < 19; x++) {
          const p = 24 + y * rowstride + x * outChannels;
          const o = (y * 19 + x) * channels;
          const rgb = channels <= 2 ? [img.data[o], img.data[o], img.data[o]] : [...img.data.subarray(o, o + 3)];
          const alpha = channels === 2 ? [img.data[o + 1]] : channels === 4 ? [img.data[o + 3]] : [];
          expect([...pix.subarray(p, p + outChannels)]).toEqual([...rgb, ...alpha]);
        }
      }
    }
  });

  it.skipIf(!has('pngfix'))('passes libpng pngfix', () => {
    const file = join(tmp, 'pngfix.png');
    writeFileSync(file, encodePng(image(40, 30, 4, 5), { level: 9 }));
    const r = spawnSync('pngfix', [file], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(0);
  });
});

describe('decodePng on damaged files', () => {
  const good = fixture('rgb8-adam7.png');

  it('names the chunk whose CRC does not match', () => {
    const bad = good.slice();
    const at = chunkAt(bad, 'IDAT');
    bad[at + 10] = (bad[at + 10] as number) ^ 0x40;
    expect(() => decodePng(bad, 'cat.png')).toThrow(/^cat\.png: CRC mismatch in chunk IDAT/);
    const badHeader = good.slice();
    badHeader[17] = (badHeader[17] as number) ^ 1;
    expect(() => decodePng(badHeader, 'x.png')).toThrow(/CRC mismatch in chunk IHDR/);
    expect(() => readPngHeader(badHeader, 'x.png')).toThrow(/CRC mismatch in chunk IHDR/);
    try {
      decodePng(bad, 'cat.png');
    } catch (e) {
      expect(e).toBeInstanceOf(PfgmError);
      expect((e as PfgmError).code).toBe('ERR_PFGM_ARGUMENT');
      expect((e as Error).message).toMatch(/re-export or re-download/);
    }
  });

  it('fails cleanly at every truncation point', () => {
    for (const name of ['rgb8-adam7.png', 'pal4-trns.png', 'rgb8.png', 'gray16.png']) {
      const bytes = fixture(name);
      for (let n = 0; n < bytes.length; n++) {
        let error: unknown;
        try {
          decodePng(bytes.subarray(0, n), name);
        } catch (e) {
          error = e;
        }
        expect(error, `${name} cut to ${n} bytes`).toBeInstanceOf(PfgmError);
        expect((error as Error).message.startsWith(`${name}: `)).toBe(true);
      }
    }
    const cut = fixture('rgb8.png');
    expect(() => decodePng(cut.subarray(0, cut.length - 12), 'cut.png')).toThrow(/no IEND chunk.*cut short/);
    expect(() => decodePng(cut.subarray(0, 60), 'cut.png')).toThrow(/claims \d+ bytes but only \d+ remain/);
  });

  it('never crashes on corrupt data (random edits with CRCs repaired)', () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const sources = Object.keys(expected).map(fixture);
    let decoded = 0;
    for (let trial = 0; trial < 600; trial++) {
      const bytes = (sources[trial % sources.length] as Uint8Array).slice();
      const chunk = chunkAt(bytes, rand(3) === 0 ? 'IHDR' : 'IDAT');
      const length = new DataView(bytes.buffer).getUint32(chunk);
      for (let k = 0; k <= rand(3); k++) bytes[chunk + 8 + rand(Math.max(1, length))] = rand(256);
      fixCrc(bytes, chunk);
      try {
        decodePng(bytes, 'fuzz.png');
        decoded++;
      } catch (e) {
        expect(e).toBeInstanceOf(PfgmError);
        expect((e as Error).message).toMatch(/^fuzz\.png: /);
      }
    }
    expect(decoded).toBeLessThan(600);
  });

  it('explains other problems', () => {
    expect(() => decodePng(new TextEncoder().encode('GIF89a and more bytes'), 'a.gif')).toThrow(
      /a\.gif: not a PNG file.*convert the image to PNG/,
    );
    expect(() => decodePng(new Uint8Array(3), 'tiny.png')).toThrow(/too short/);
    const row = new Uint8Array([7, 1, 2]); // filter type 7
    expect(() => decodePng(handMade(2, 1, 8, 0, deflateSync(row)), 'f.png')).toThrow(/unknown row filter type 7/);
    expect(() => decodePng(handMade(2, 1, 8, 0, deflateSync(new Uint8Array(2))), 's.png')).toThrow(
      /fewer than the 3 bytes/,
    );
    expect(() => decodePng(handMade(2, 1, 8, 0, deflateSync(new Uint8Array(9))), 'l.png')).toThrow(/more than the 3/);
    expect(() => decodePng(handMade(2, 1, 8, 0, new Uint8Array([1, 2, 3, 4])), 'z.png')).toThrow(/corrupt/);
    expect(() => decodePng(handMade(2, 1, 3, 0, deflateSync(new Uint8Array(2))), 'd.png')).toThrow(
      /bit depth 3 is not allowed for grayscale/,
    );
    expect(() => decodePng(handMade(2, 1, 8, 3, deflateSync(new Uint8Array(3))), 'p.png')).toThrow(/without a PLTE/);
    const palette: [string, Uint8Array][] = [['PLTE', new Uint8Array([1, 2, 3, 4, 5, 6])]];
    expect(() => decodePng(handMade(2, 1, 8, 3, deflateSync(new Uint8Array([0, 1, 2])), palette), 'i.png')).toThrow(
      /palette index 2 is outside the palette of 2 entries/,
    );
    const critical: [string, Uint8Array][] = [['ABCD', new Uint8Array(1)]];
    expect(() => decodePng(handMade(2, 1, 8, 0, deflateSync(new Uint8Array(3)), critical), 'c.png')).toThrow(
      /unknown critical chunk ABCD/,
    );
    const ancillary: [string, Uint8Array][] = [['abCD', new Uint8Array(1)]];
    expect(decodePng(handMade(2, 1, 8, 0, deflateSync(new Uint8Array([0, 9, 8])), ancillary)).data).toEqual(
      new Uint8Array([9, 8]),
    );
  });
});
