// The bitmap font: every printable ASCII glyph is defined, inside its cell, on the right lines
// (capitals and digits on rows 0-6, x-height letters on rows 2-6, descenders below), distinct from
// every other glyph, and mirror-symmetric where the letter is (A, H, O, ...) or mirrored where a
// pair is ((), [], b/d, p/q, ...); and drawText puts the glyph's pixels exactly where it is asked,
// at every scale and in both directions, clipping at the edges.
import { describe, expect, it } from 'vitest';
import type { PngImage } from '../../src/codecs/png.js';
import { PfgmError } from '../../src/errors.js';
import {
  drawText,
  GLYPH_ADVANCE,
  GLYPH_HEIGHT,
  GLYPH_WIDTH,
  glyphRows,
  hasGlyph,
  LINE_HEIGHT,
  textHeight,
  textWidth,
} from '../../src/viz/font.js';

const PRINTABLE = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i));

/** Rows that have ink, as [first, last], or undefined for a blank glyph. */
function inkRows(ch: string): [number, number] | undefined {
  const rows = glyphRows(ch);
  let first = -1;
  let last = -1;
  rows.forEach((bits, r) => {
    if (bits !== 0) {
      if (first < 0) first = r;
      last = r;
    }
  });
  return first < 0 ? undefined : [first, last];
}

function mirror(rows: Uint8Array): number[] {
  return [...rows].map((bits) => {
    let m = 0;
    for (let c = 0; c < GLYPH_WIDTH; c++) if (bits & (1 << c)) m |= 16 >> c;
    return m;
  });
}

function blank(width: number, height: number, channels: 3 | 4 = 3): PngImage {
  return { width, height, channels, data: new Uint8Array(width * height * channels).fill(255) };
}

function inked(image: PngImage, x: number, y: number): boolean {
  const o = (y * image.width + x) * image.channels;
  return image.data[o] !== 255 || image.data[o + 1] !== 255 || image.data[o + 2] !== 255;
}

describe('glyphs', () => {
  it('cover printable ASCII, inside the 5-pixel cell, all distinct, only the space blank', () => {
    const seen = new Map<string, string>();
    for (const ch of PRINTABLE) {
      expect(hasGlyph(ch), `glyph for '${ch}'`).toBe(true);
      const rows = glyphRows(ch);
      expect(rows.length).toBe(GLYPH_HEIGHT);
      for (const bits of rows) expect(bits).toBeLessThan(1 << GLYPH_WIDTH);
      if (ch !== ' ') expect(inkRows(ch), `'${ch}' has ink`).toBeDefined();
      const key = rows.join(',');
      expect(seen.get(key), `'${ch}' looks like '${seen.get(key)}'`).toBeUndefined();
      seen.set(key, ch);
    }
    expect(inkRows(' ')).toBeUndefined();
    // Characters easy to confuse in small fonts differ.
    for (const group of ['0Oo', '1lI|i!', '5S', '2Z', '8B', ',.;:', '-_~', '\'`"']) {
      const keys = new Set([...group].map((c) => glyphRows(c).join(',')));
      expect(keys.size, group).toBe(group.length);
    }
  });

  it('sit on the baseline: capitals and digits on rows 0-6, x-height letters on 2-6, descenders below', () => {
    for (const ch of 'ABCDEFGHIJKLMNOPRSTUVWXYZ0123456789bdhklt') expect(inkRows(ch), ch).toEqual([0, 6]);
    expect(inkRows('Q')).toEqual([0, 6]);
    for (const ch of 'acemnorsuvwxz') expect(inkRows(ch), ch).toEqual([2, 6]);
    for (const ch of 'gpqy') expect(inkRows(ch), ch).toEqual([2, 8]);
    expect(inkRows('j')).toEqual([0, 8]);
    expect(inkRows('_')?.[0]).toBeGreaterThan(6);
  });

  it('are mirror-symmetric where the character is, and mirror images where a pair is', () => {
    for (const ch of 'AHIMOTUVWXYovwx8!"#*+-=^_|') {
      expect(mirror(glyphRows(ch)), ch).toEqual([...glyphRows(ch)]);
    }
    for (const [a, b] of ['()', '[]', '{}', '<>', '/\\', 'bd', 'pq']) {
      expect(mirror(glyphRows(a as string)), `${a} mirrors ${b}`).toEqual([...glyphRows(b as string)]);
    }
    // Top-bottom symmetric over the 7 capital rows.
    for (const ch of 'BCDEHIKOX8=') {
      const rows = [...glyphRows(ch)].slice(0, 7);
      expect([...rows].reverse(), ch).toEqual(rows);
    }
  });

  it('has the plot symbols, aliases dashes to the hyphen and draws anything else as a box', () => {
    for (const ch of '∞σα×±') {
      expect(hasGlyph(ch)).toBe(true);
      expect(inkRows(ch)).toBeDefined();
    }
    expect([...glyphRows('−')]).toEqual([...glyphRows('-')]);
    expect(hasGlyph('€')).toBe(false);
    expect([...glyphRows('€')]).toEqual([...glyphRows('\u{1F600}')]);
    expect(inkRows('€')).toEqual([0, 6]);
  });
});

describe('textWidth and textHeight', () => {
  it('measure advance times characters less the trailing blank column, and lines', () => {
    expect(textWidth('')).toBe(0);
    expect(textWidth('A')).toBe(GLYPH_WIDTH);
    expect(textWidth('NFE = 35')).toBe(8 * GLYPH_ADVANCE - 1);
    expect(textWidth('NFE = 35', 3)).toBe(3 * (8 * GLYPH_ADVANCE - 1));
    expect(textWidth('ab\nlonger\nc')).toBe(6 * GLYPH_ADVANCE - 1);
    expect(textWidth('D = ∞')).toBe(5 * GLYPH_ADVANCE - 1); // one code point, one cell
    expect(textHeight('x')).toBe(GLYPH_HEIGHT);
    expect(textHeight('x\ny', 2)).toBe(2 * (LINE_HEIGHT + GLYPH_HEIGHT));
    expect(() => textWidth('x', 0)).toThrow(/scale must be an integer from 1 to 64/);
  });
});

describe('drawText', () => {
  it('puts each glyph pixel at (x + 6 * i * s + c * s, y + r * s), nothing else', () => {
    for (const scale of [1, 2, 3]) {
      const img = blank(80, 40);
      const text = 'Hg7';
      const color = [200, 30, 10] as const;
      drawText(img, 5, 4, text, { color, scale });
      let count = 0;
      for (let py = 0; py < img.height; py++) {
        for (let px = 0; px < img.width; px++) {
          const i = Math.floor((px - 5) / (GLYPH_ADVANCE * scale));
          const c = Math.floor((px - 5 - i * GLYPH_ADVANCE * scale) / scale);
          const r = Math.floor((py - 4) / scale);
          const ch = text[i];
          const expected =
            px >= 5 &&
            py >= 4 &&
            ch !== undefined &&
            c < GLYPH_WIDTH &&
            r < GLYPH_HEIGHT &&
            ((glyphRows(ch)[r] as number) & (16 >> c)) !== 0;
          expect(inked(img, px, py), `scale ${scale} pixel (${px}, ${py})`).toBe(expected);
          if (expected) {
            const o = (py * img.width + px) * 3;
            expect([img.data[o], img.data[o + 1], img.data[o + 2]]).toEqual(color);
            count++;
          }
        }
      }
      // H: 17 pixels, g: 18, 7: 11.
      expect(count).toBe((17 + 18 + 11) * scale * scale);
    }
  });

  it('stays inside the box textWidth x textHeight gives, and starts new lines LINE_HEIGHT lower', () => {
    const img = blank(100, 60);
    drawText(img, 10, 7, 'Tq\nMW', { scale: 2 });
    const w = textWidth('Tq\nMW', 2);
    const h = textHeight('Tq\nMW', 2);
    let minX = 1e9;
    let maxX = -1;
    let minY = 1e9;
    let maxY = -1;
    for (let y = 0; y < img.height; y++)
      for (let x = 0; x < img.width; x++)
        if (inked(img, x, y)) {
          minX = Math.min(minX, x);
          maxX = Math.max(maxX, x);
          minY = Math.min(minY, y);
          maxY = Math.max(maxY, y);
        }
    // T's top row is full; q descends to row 8; M and W fill the full cell width.
    expect([minX, minY, maxX, maxY]).toEqual([10, 7, 10 + w - 1, 7 + LINE_HEIGHT * 2 + 7 * 2 - 1]);
    expect(7 + h - 1).toBe(7 + LINE_HEIGHT * 2 + GLYPH_HEIGHT * 2 - 1);
    // second line's M: its left column is inked on every capital row.
    for (let r = 0; r < 7 * 2; r++) expect(inked(img, 10, 7 + LINE_HEIGHT * 2 + r)).toBe(true);
  });

  it("'up' turns the text a quarter counter-clockwise inside the same box", () => {
    const right = blank(40, 40);
    const up = blank(40, 40);
    drawText(right, 0, 0, 'Fb', { scale: 1 });
    drawText(up, 3, 2, 'Fb', { direction: 'up' });
    const w = textWidth('Fb');
    // unrotated (u, v) lands at (3 + v, 2 + w - 1 - u)
    for (let v = 0; v < 40; v++)
      for (let u = 0; u < 40; u++) {
        const x = 3 + v;
        const y = 2 + w - 1 - u;
        if (x < 40 && y >= 0 && y < 40) expect(inked(up, x, y), `(${u}, ${v})`).toBe(inked(right, u, v));
      }
    // 'F' (first character) is at the bottom: its stem (unrotated column 0) is the bottom row.
    for (let r = 0; r < 7; r++) expect(inked(up, 3 + r, 2 + w - 1)).toBe(true);
  });

  it('clips at the edges, writes alpha on RGBA images and rejects bad arguments', () => {
    const img = blank(12, 6, 4);
    drawText(img, -2, -3, 'WW', { color: [1, 2, 3] });
    expect([...img.data.subarray(0, 4)]).toEqual([1, 2, 3, 255]); // W's row 3, column 2 is inked
    expect(() => drawText(img, 0, 0, 'x', { scale: 1.5 })).toThrow(PfgmError);
    expect(() => drawText(img, Number.NaN, 0, 'x')).toThrow(/position must be finite/);
    expect(() => drawText(img, 0, 0, 'x', { color: [0, 0, 300] })).toThrow(/color must be/);
    expect(() => drawText({ width: 2, height: 2, channels: 1, data: new Uint8Array(4) }, 0, 0, 'x')).toThrow(
      /RGB or RGBA/,
    );
    expect(() => drawText(blank(2, 2), 0, 0, 'x', { direction: 'down' as 'up' })).toThrow(/direction/);
  });
});
