// Dropout's keep-mask as bits (src/native/ops/activation.h): the forward writes one bit per
// element, element j of sample i at bit j % 32 of word i * ceil(per_sample / 32) + j / 32, and the
// backward reads it instead of drawing the Philox stream again. The bits against the Philox
// specification computed here from the addon's draw_block (element by element, padding bits 0),
// the forward's values against the bits, and the backward reading the mask against the backward
// that regenerates it, bit for bit, in place too; then the same ops through the backend interface
// on cpu, cpu-guarded (pointer extents checked) and the fake-CUDA addon's forwarding.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { native } from '../../src/addon/load.js';
import type { NativeAddon, NativeHostTensor } from '../../src/addon/native.js';
import { filled, type Inputs, out, run } from '../helpers/ops.js';
import { builtAddons } from '../helpers/toolkit.js';

type Outputs = Record<string, NativeHostTensor>;

const words = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
const floatsOf = (w: Uint32Array) => new Float32Array(w.buffer, w.byteOffset, w.length);

/** Elements whose bits differ (NaNs and signed zeros compare by bits). */
function bitDiffs(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  const [x, y] = [words(a), words(b)];
  let n = 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) n++;
  return n;
}

const seed = 2 ** 32 * 5 + 11; // both key words matter
const spec = { seed, step: 4242, site: 7, sample_offset: 3 };

/** The keep-mask of activation.h from draw_block: per sample, ceil(per / 32) words. */
function referenceMask(samples: number, per: number, p: number): Uint32Array {
  const threshold = Math.ceil(Math.fround(p) * 2 ** 32);
  const perWords = Math.ceil(per / 32);
  const mask = new Uint32Array(samples * perWords);
  const key = Uint32Array.from([seed % 2 ** 32, Math.floor(seed / 2 ** 32)]);
  for (let i = 0; i < samples; i++) {
    for (let j = 0; j < per; j += 4) {
      const counter = Uint32Array.from([((spec.site << 24) | (j >>> 2)) >>> 0, spec.sample_offset + i, spec.step, 9]);
      const bits = native().philox(counter, key);
      for (let lane = 0; lane < 4 && j + lane < per; lane++) {
        if ((bits[lane] as number) >= threshold) {
          const e = j + lane;
          const w = i * perWords + (e >>> 5);
          mask[w] = ((mask[w] as number) | (1 << (e & 31))) >>> 0;
        }
      }
    }
  }
  return mask;
}

/** kept ? v * scale (one float rounding) : +0, element by element from the mask's bits. */
function applyMask(v: Float32Array, mask: Uint32Array, per: number, p: number): Float32Array {
  const scale = Math.fround(1 / (1 - Math.fround(p)));
  const perWords = Math.ceil(per / 32);
  return Float32Array.from(v, (x, k) => {
    const [i, j] = [Math.floor(k / per), k % per];
    const kept = (((mask[i * perWords + (j >>> 5)] as number) >>> (j & 31)) & 1) === 1;
    return kept ? Math.fround(x * scale) : 0;
  });
}

// Per-sample sizes: under one word, one word and a bit, a partial Philox block, more than one
// parallel task of the CPU (2048 elements) with a partial last word.
const sizes: [number, number][] = [
  [1, 5],
  [3, 33],
  [4, 100],
  [2, 1001],
  [5, 2048 + 45],
];

describe('dropout keeps its mask as bits', () => {
  for (const p of [0.1, 0.5]) {
    it.each(sizes)(
      `p = ${p}: %i samples of %i elements, forward bits and values, backward from the bits`,
      async (n, per) => {
        const x = filled([n, per], 21 + per, -2, 2);
        const dy = filled([n, per], 22 + per, -2, 2);
        const r = await run('dropout', { ...spec, p }, { x, dy });
        const want = referenceMask(n, per, p);
        const mask = out(r, 'mask');
        expect(r.mask?.shape).toEqual([n, Math.ceil(per / 32)]);
        expect(words(mask)).toEqual(want); // every bit, the padding's zeros included
        expect(bitDiffs(out(r, 'y'), applyMask(x.data, want, per, p))).toBe(0);
        expect(bitDiffs(out(r, 'dx'), applyMask(dy.data, want, per, p))).toBe(0);
        expect(bitDiffs(out(r, 'dx'), out(r, 'dx_regen'))).toBe(0);
        // In place (y over x, dx over dy): the same bits.
        const inPlace = await run('dropout', { ...spec, p, in_place: 1 }, { x, dy });
        for (const name of ['y', 'mask', 'dx', 'dx_regen']) {
          expect(bitDiffs(out(inPlace, name), out(r, name)), name).toBe(0);
        }
      },
    );
  }

  it('the kept fraction is 1 - p and the masks of p = 0.1 and 0.5 differ', async () => {
    const x = filled([2, 40_000], 5);
    const count = (m: Uint32Array) => m.reduce((s, w) => s + [...w.toString(2)].filter((c) => c === '1').length, 0);
    for (const p of [0.1, 0.5]) {
      const kept = count(words(out(await run('dropout', { ...spec, p }, { x }), 'mask'))) / 80_000;
      expect(Math.abs(kept - (1 - p))).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / 80_000));
    }
  });

  it('p = 0 is the identity both ways, and writes no mask', async () => {
    const x = filled([3, 77], 31);
    x.data[0] = -0;
    x.data[1] = Number.NaN;
    const dy = filled([3, 77], 32);
    for (const in_place of [0, 1]) {
      const r = await run('dropout', { ...spec, p: 0, in_place }, { x, dy });
      expect(bitDiffs(out(r, 'y'), x.data)).toBe(0);
      expect(bitDiffs(out(r, 'dx'), dy.data)).toBe(0);
      expect(bitDiffs(out(r, 'dx_regen'), dy.data)).toBe(0);
      expect(words(out(r, 'mask')).every((w) => w === 0)).toBe(true);
    }
  });
});

// The ops through nn::Backend (test/native/cases/backend_cases.cc): the mask an optional output of
// the forward and an optional input of the backward.
const fakeFile = join(builtAddons, 'pfgm_fakecuda.node');
const fake = existsSync(fakeFile) ? (createRequire(import.meta.url)(fakeFile) as NativeAddon) : undefined;
const devices: [string, NativeAddon | undefined, 'cpu' | 'cpu-guarded' | 'cuda'][] = [
  ['cpu', native(), 'cpu'],
  ['cpu-guarded', native(), 'cpu-guarded'],
  ['fake cuda', fake, 'cuda'],
];

describe.each(devices)('dropout through the backend on %s', (_name, addon, device) => {
  it.skipIf(!addon)('writes and reads the op case’s mask, and regenerates it without one', async () => {
    const a = addon as NativeAddon;
    const [n, per, p] = [3, 1001, 0.3];
    const attrs = { ...spec, samples: n, per_sample: per, p };
    const x = filled([n * per], 41);
    const dy = filled([n * per], 42);
    const ref = await run(
      'dropout',
      { ...spec, p },
      { x: { shape: [n, per], data: x.data }, dy: { shape: [n, per], data: dy.data } },
    );
    const fwd: Outputs = await a.runOp('backend.dropout_forward', attrs, { x }, device);
    expect(bitDiffs(out(fwd, 'y'), out(ref, 'y'))).toBe(0);
    expect(bitDiffs(out(fwd, 'mask'), out(ref, 'mask'))).toBe(0);
    const noMask: Outputs = await a.runOp('backend.dropout_forward', { ...attrs, mask: 0 }, { x }, device);
    expect(Object.keys(noMask)).toEqual(['y']);
    expect(bitDiffs(out(noMask, 'y'), out(ref, 'y'))).toBe(0);
    const mask: NativeHostTensor = {
      shape: [n * Math.ceil(per / 32)],
      data: floatsOf(words(out(fwd, 'mask')).slice()),
    };
    const withMask: Inputs = { mask, dy };
    const back = await a.runOp('backend.dropout_backward', attrs, withMask, device);
    expect(bitDiffs(out(back, 'dx'), out(ref, 'dx'))).toBe(0);
    const regen = await a.runOp('backend.dropout_backward', attrs, { dy }, device);
    expect(bitDiffs(out(regen, 'dx'), out(ref, 'dx'))).toBe(0);
    // A mask of the wrong size is refused by its contract.
    await expect(
      Promise.resolve().then(() =>
        a.runOp('backend.dropout_backward', attrs, { dy, mask: { shape: [5], data: new Float32Array(5) } }, device),
      ),
    ).rejects.toMatchObject({ code: 'ERR_PFGM_SHAPE', message: expect.stringMatching(/'mask' holds 5 values/) });
  });
});
