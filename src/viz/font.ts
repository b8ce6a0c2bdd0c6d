/**
 * A small bitmap font of our own for labelling plots without dependencies: 5 x 9 pixel glyphs
 * (capitals and digits 7 pixels high on rows 0-6, lowercase x-height on rows 2-6, descenders on
 * rows 7-8) in a 6-pixel advance, for printable ASCII (32-126) plus a few symbols that plot labels
 * need (`∞ σ α × ±`, and `− – —` drawn as `-`). Any other character is drawn as a hollow box.
 *
 * Text is drawn into an 8-bit RGB or RGBA {@link PngImage} with {@link drawText}, horizontally or
 * rotated a quarter turn counter-clockwise (for a y-axis label), at an integer scale; pixels
 * outside the image are clipped.
 *
 * @module
 */

import type { PngImage } from '../codecs/png.js';
import { PfgmError } from '../errors.js';
import type { Rgb } from './scatter.js';

/** Width of a glyph in font pixels. */
export const GLYPH_WIDTH = 5;
/** Height of a glyph cell in font pixels, descenders included (capitals use the top 7 rows). */
export const GLYPH_HEIGHT = 9;
/** Horizontal distance from one character to the next, in font pixels (one blank column). */
export const GLYPH_ADVANCE = 6;
/** Vertical distance from one line of text to the next, in font pixels. */
export const LINE_HEIGHT = 11;

// Each glyph is its rows from the top, one base-32 digit per row (0-9 then a-v = 10-31) whose 5
// bits are the pixels, most significant = leftmost; trailing blank rows are left out. E.g. 'T' is
// 'v444444': row 0 = 31 = #####, rows 1-6 = 4 = ..#.. ; the table starts at ' ' (32) and ends at '~'.
const ASCII = [
  '', // space
  '4444404',
  'aaa',
  'aavavaa',
  '4fke5u4',
  'op248j3',
  'cik8lid',
  '448',
  '2488842',
  '8422248',
  '04lel4',
  '044v44',
  '00000cc48',
  '000v',
  '00000cc',
  '11248gg',
  'ehjlphe', // 0
  '4c4444e',
  'eh1248v',
  'v2421he',
  '26aiv22',
  'vgu11he',
  '68guhhe',
  'v124888',
  'ehhehhe',
  'ehhf12c', // 9
  '0cc0cc',
  '0cc0cc48',
  '248g842',
  '00v0v',
  '8421248',
  'eh12404',
  'eh1dlle', // @
  'ehhvhhh', // A
  'uhhuhhu',
  'ehggghe',
  'sihhhis',
  'vgguggv',
  'vgguggg',
  'ehgnhhf',
  'hhhvhhh',
  'e44444e',
  '72222ic',
  'hikokih',
  'ggggggv',
  'hrllhhh',
  'hhpljhh',
  'ehhhhhe',
  'uhhuggg',
  'ehhhlid',
  'uhhukih',
  'fgge11u',
  'v444444',
  'hhhhhhe',
  'hhhhha4',
  'hhhllla',
  'hha4ahh',
  'hha4444',
  'v1248gv', // Z
  'e88888e',
  'gg84211',
  'e22222e',
  '4ah',
  '0000000v',
  '842',
  '00e1fhf', // a
  'ggmphhu',
  '00egghe',
  '11djhhf',
  '00ehvge',
  '698s888',
  '00fhhhf1e',
  'ggmphhh',
  '40c444e',
  '2062222ic',
  'ggikoki',
  'c44444e',
  '00qllll',
  '00mphhh',
  '00ehhhe',
  '00uhhhugg',
  '00fhhhf11',
  '00mpggg',
  '00fge1u',
  '88s8896',
  '00hhhjd',
  '00hhha4',
  '00hhlla',
  '00ha4ah',
  '00hhhhf1e',
  '00v248v', // z
  '3448443',
  '4444444',
  'o44244o',
  '008l2', // ~
];

/** Symbols beyond ASCII that plot labels need (D = ∞, σ, α, ×, ±). */
const EXTRA: Record<string, string> = {
  '∞': '000ala',
  σ: '00fihhe',
  α: '00diiid',
  '×': '0ha4ah',
  '±': '044v44v',
};
/** Dashes and the minus sign share the hyphen's glyph. */
const ALIASES: Record<string, string> = { '−': '-', '–': '-', '—': '-' };
/** What a character without a glyph looks like: a hollow box. */
const MISSING = 'vhhhhhv';

function decode(rows: string): Uint8Array {
  const out = new Uint8Array(GLYPH_HEIGHT);
  for (let r = 0; r < rows.length; r++) out[r] = Number.parseInt(rows[r] as string, 32);
  return out;
}

const GLYPHS: ReadonlyMap<string, Uint8Array> = (() => {
  const map = new Map<string, Uint8Array>();
  ASCII.forEach((rows, i) => {
    map.set(String.fromCharCode(32 + i), decode(rows));
  });
  for (const [ch, rows] of Object.entries(EXTRA)) map.set(ch, decode(rows));
  for (const [ch, target] of Object.entries(ALIASES)) map.set(ch, map.get(target) as Uint8Array);
  return map;
})();
const MISSING_GLYPH = decode(MISSING);

/** Whether the font has a glyph of its own for `ch` (one character); others draw as a box. */
export function hasGlyph(ch: string): boolean {
  return GLYPHS.has(ch);
}

/**
 * The bitmap of one character: {@link GLYPH_HEIGHT} rows from the top, each a 5-bit mask whose
 * bit 4 (value 16) is the leftmost pixel. A character without a glyph gets the hollow box.
 *
 * @param ch - one character (a code point)
 */
export function glyphRows(ch: string): Uint8Array {
  return (GLYPHS.get(ch) ?? MISSING_GLYPH).slice();
}

/** Options of {@link drawText}. */
export interface DrawTextOptions {
  /** Colour of the text; default black. */
  color?: Rgb;
  /** Integer magnification, 1 to 64 (each font pixel becomes scale x scale pixels); default 1. */
  scale?: number;
  /**
   * `right` (default): ordinary text. `up`: rotated a quarter turn counter-clockwise, reading
   * from bottom to top, as on a y-axis label.
   */
  direction?: 'right' | 'up';
}

function lines(text: string): string[][] {
  return text.split('\n').map((line) => [...line]);
}

function checkScale(what: string, scale: number): void {
  if (!Number.isInteger(scale) || scale < 1 || scale > 64) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `${what}: scale must be an integer from 1 to 64, got ${scale}`);
  }
}

/**
 * Width in pixels of `text` drawn left to right: the longest line's characters times
 * {@link GLYPH_ADVANCE}, less the blank column after the last one, times `scale`. 0 for empty text.
 *
 * @param text - the text (lines separated by `\n`)
 * @param scale - integer magnification (default 1)
 */
export function textWidth(text: string, scale = 1): number {
  checkScale('textWidth', scale);
  let longest = 0;
  for (const line of lines(text)) longest = Math.max(longest, line.length);
  return longest === 0 ? 0 : (longest * GLYPH_ADVANCE - 1) * scale;
}

/**
 * Height in pixels of `text` drawn left to right: {@link GLYPH_HEIGHT} for one line, plus
 * {@link LINE_HEIGHT} per further line, times `scale`.
 *
 * @param text - the text (lines separated by `\n`)
 * @param scale - integer magnification (default 1)
 */
export function textHeight(text: string, scale = 1): number {
  checkScale('textHeight', scale);
  return ((lines(text).length - 1) * LINE_HEIGHT + GLYPH_HEIGHT) * scale;
}

/**
 * Draws `text` into an RGB or RGBA image (alpha set to 255 where text is drawn). `(x, y)` is
 * the top-left corner of the text's box: for `direction: 'right'` the box is
 * {@link textWidth} x {@link textHeight}, the top row of the first glyph cell at row `y`; for
 * `'up'` the same box turned a quarter counter-clockwise (textHeight wide, textWidth high), the
 * first character at the bottom. Characters are whole code points; `\n` starts a new line.
 * Pixels outside the image are skipped.
 *
 * @param image - the image to draw into (modified in place)
 * @param x - left edge of the text box, pixels (rounded)
 * @param y - top edge of the text box, pixels (rounded)
 * @param text - the text
 * @param options - colour, scale and direction
 * @throws PfgmError `ERR_PFGM_ARGUMENT` for an image that is not 8-bit RGB/RGBA of consistent
 *   size, a non-finite position, a bad scale, colour or direction
 */
export function drawText(image: PngImage, x: number, y: number, text: string, options: DrawTextOptions = {}): void {
  const { width, height, channels, data } = image;
  if (
    (channels !== 3 && channels !== 4) ||
    !(data instanceof Uint8Array) ||
    !Number.isInteger(width) ||
    !Number.isInteger(height) ||
    data.length !== width * height * channels
  ) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `drawText: the image must be 8-bit RGB or RGBA (channels 3 or 4) with width * height * channels samples, ` +
        `got ${width}x${height}x${channels} with ${data instanceof Uint8Array ? data.length : typeof data} samples`,
    );
  }
  if (!Number.isFinite(x) || !Number.isFinite(y)) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `drawText: the position must be finite, got (${x}, ${y})`);
  }
  const scale = options.scale ?? 1;
  checkScale('drawText', scale);
  const color = options.color ?? [0, 0, 0];
  if (!Array.isArray(color) || color.length !== 3 || !color.every((v) => Number.isInteger(v) && v >= 0 && v <= 255)) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `drawText: color must be [r, g, b] integers 0..255, got ${String(color)}`);
  }
  const direction = options.direction ?? 'right';
  if (direction !== 'right' && direction !== 'up') {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `drawText: direction must be 'right' or 'up', got '${String(direction)}'`);
  }
  const x0 = Math.round(x);
  const y0 = Math.round(y);
  // In 'up' text, the unrotated coordinate u (along the text) runs up from the bottom of the box.
  const along = textWidth(text, scale);
  const put = (u: number, v: number): void => {
    const px = direction === 'right' ? x0 + u : x0 + v;
    const py = direction === 'right' ? y0 + v : y0 + along - 1 - u;
    if (px < 0 || py < 0 || px >= width || py >= height) return;
    const o = (py * width + px) * channels;
    data[o] = color[0];
    data[o + 1] = color[1];
    data[o + 2] = color[2];
    if (channels === 4) data[o + 3] = 255;
  };
  lines(text).forEach((line, li) => {
    const top = li * LINE_HEIGHT * scale;
    line.forEach((ch, ci) => {
      const rows = GLYPHS.get(ch) ?? MISSING_GLYPH;
      const left = ci * GLYPH_ADVANCE * scale;
      for (let r = 0; r < GLYPH_HEIGHT; r++) {
        const bits = rows[r] as number;
        if (bits === 0) continue;
        for (let c = 0; c < GLYPH_WIDTH; c++) {
          if ((bits & (16 >> c)) === 0) continue;
          for (let dy = 0; dy < scale; dy++)
            for (let dx = 0; dx < scale; dx++) put(left + c * scale + dx, top + r * scale + dy);
        }
      }
    });
  });
}
