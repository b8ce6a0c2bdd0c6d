// Shared pieces of the parser fuzz tests (test/unit/fuzz-*.test.ts): a fixed seed and run count,
// the one assertion (an input parses, or the parser throws a PfgmError with a code), and
// arbitraries for random bytes and for mutations of valid files.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { expect } from 'vitest';
import type { Batch, Dataset } from '../../src/data/dataset.js';
import { PfgmError } from '../../src/errors.js';

/**
 * fast-check parameters: a fixed seed, so every run tries the same inputs. A deeper search, by
 * hand: PFGM_FUZZ_SCALE=20 PFGM_FUZZ_SEED=7 npx vitest run test/unit/fuzz-*.test.ts
 */
export function fuzzRuns(numRuns: number): fc.Parameters<unknown> {
  const scale = Number(process.env.PFGM_FUZZ_SCALE ?? 1);
  const seed = Number(process.env.PFGM_FUZZ_SEED ?? 0x5eed);
  return { seed, numRuns: Math.max(1, Math.round(numRuns * scale)), endOnFailure: true };
}

/** Asserts that `error` is what a parser may throw: a PfgmError with an ERR_PFGM_ code. */
export function expectCoded(error: unknown, what: string): void {
  if (!(error instanceof PfgmError) || !/^ERR_PFGM_[A-Z_]+$/.test(error.code)) {
    throw new Error(`${what}: threw ${String(error)} instead of a coded PfgmError`, { cause: error });
  }
  expect(error.message.length).toBeGreaterThan(0);
}

/**
 * Runs a parser on one input: resolves to its result, or to undefined when it threw a coded
 * PfgmError; any other exception fails the property.
 */
export async function parsed<T>(what: string, parse: () => T | Promise<T>): Promise<T | undefined> {
  try {
    return await parse();
  } catch (error) {
    expectCoded(error, what);
    return undefined;
  }
}

/**
 * Reads the first (up to 4) samples of a dataset the parser accepted, checks that the batch holds
 * that many samples of the declared shape, and closes the dataset. Resolves to the batch, or to
 * undefined when the read was refused with a coded PfgmError.
 */
export async function readFirstSamples(ds: Dataset, what: string): Promise<Batch | undefined> {
  try {
    const n = Math.min(ds.info.count, 4);
    const batch = await parsed(`${what} (read)`, () => ds.read(Array.from({ length: n }, (_, i) => i)));
    if (batch !== undefined) expect(batch.data.length).toBe(n * ds.info.shape.reduce((a, b) => a * b, 1));
    return batch;
  } finally {
    await ds.close();
  }
}

/** Random bytes, short and long. */
export function randomBytes(maxLength = 512): fc.Arbitrary<Uint8Array> {
  return fc.uint8Array({ maxLength });
}

/** One edit of a byte string. */
type Edit = (b: Uint8Array) => Uint8Array;

/** Edits that keep most of a valid file: bit flips, truncation, overwrites, insertions, cuts. */
function edits(): fc.Arbitrary<Edit> {
  return fc.oneof(
    fc.array(fc.nat(), { minLength: 1, maxLength: 8 }).map(
      (bits): Edit =>
        (b) => {
          const out = Uint8Array.from(b);
          if (out.length === 0) return out;
          for (const bit of bits) {
            const at = bit % (out.length * 8);
            out[at >> 3] = (out[at >> 3] as number) ^ (1 << (at & 7));
          }
          return out;
        },
    ),
    fc.nat().map(
      (n): Edit =>
        (b) =>
          b.slice(0, b.length === 0 ? 0 : n % b.length),
    ),
    fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 })).map(
      ([at, bytes]): Edit =>
        (b) => {
          const out = Uint8Array.from(b);
          if (out.length > 0) out.set(bytes.subarray(0, out.length - (at % out.length)), at % out.length);
          return out;
        },
    ),
    fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 16 })).map(
      ([at, bytes]): Edit =>
        (b) => {
          const i = b.length === 0 ? 0 : at % b.length;
          const out = new Uint8Array(b.length + bytes.length);
          out.set(b.subarray(0, i));
          out.set(bytes, i);
          out.set(b.subarray(i), i + bytes.length);
          return out;
        },
    ),
    fc.tuple(fc.nat(), fc.integer({ min: 1, max: 64 })).map(
      ([at, n]): Edit =>
        (b) => {
          const i = b.length === 0 ? 0 : at % b.length;
          const out = new Uint8Array(Math.max(0, b.length - n));
          out.set(b.subarray(0, i).subarray(0, out.length));
          if (i < out.length) out.set(b.subarray(i + n), i);
          return out;
        },
    ),
    // a 16- or 32-bit field set to an extreme value (sizes, counts, offsets)
    fc
      .tuple(fc.nat(), fc.constantFrom(0, 1, 0x7f, 0xff, 0xffff, 0x7fffffff, 0xffffffff), fc.boolean(), fc.boolean())
      .map(
        ([at, v, wide, little]): Edit =>
          (b) => {
            const out = Uint8Array.from(b);
            const width = wide ? 4 : 2;
            if (out.length < width) return out;
            const view = new DataView(out.buffer);
            const i = at % (out.length - width + 1);
            if (wide) view.setUint32(i, v >>> 0, little);
            else view.setUint16(i, v & 0xffff, little);
            return out;
          },
      ),
  );
}

/** One of `valid`, with one to three edits applied. */
export function mutationsOf(valid: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(fc.constantFrom(...valid), fc.array(edits(), { minLength: 1, maxLength: 3 }))
    .map(([b, list]) => list.reduce((acc, edit) => edit(acc), b));
}

/** A temporary folder removed by the returned function; `file(bytes)` writes a fresh file in it. */
export function scratch(prefix: string): {
  file: (bytes: Uint8Array | string, ext?: string) => string;
  remove: () => void;
} {
  const dir = mkdtempSync(join(tmpdir(), `pfgm-fuzz-${prefix}-`));
  let n = 0;
  return {
    file: (bytes, ext = '') => {
      const path = join(dir, `${n++}${ext}`);
      writeFileSync(path, bytes);
      return path;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
