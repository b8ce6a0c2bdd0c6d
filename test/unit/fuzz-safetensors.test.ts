// Fuzzing the safetensors reader: random bytes, mutations of valid files, and headers whose fields
// are replaced by arbitrary JSON either decode to tensors that match their shapes or are refused
// with a coded PfgmError; never a raw TypeError or RangeError.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors, type SafetensorsFile } from '../../src/codecs/safetensors.js';
import { fuzzRuns, mutationsOf, parsed, randomBytes } from '../helpers/fuzz.js';

const valid = [
  encodeSafetensors([
    ['w', { dtype: 'F32', shape: [2, 3], data: Float32Array.from({ length: 6 }, (_, i) => i) }],
    ['b', { dtype: 'U8', shape: [3], data: Uint8Array.of(1, 2, 3) }],
  ]),
  encodeSafetensors(
    [
      ['x', { dtype: 'F64', shape: [1], data: Float64Array.of(0.5) }],
      ['n', { dtype: 'I64', shape: [2], data: BigInt64Array.of(1n, -1n) }],
      ['e', { dtype: 'I32', shape: [0], data: new Int32Array(0) }],
    ],
    { note: 'metadata' },
  ),
];

const SIZES: Record<string, number> = { F32: 4, F64: 8, I32: 4, U8: 1, I64: 8 };

/** What a decoded file must satisfy: every tensor holds exactly its shape's elements. */
function consistent(f: SafetensorsFile): void {
  for (const [name, t] of f.tensors) {
    expect(SIZES[t.dtype], name).toBeDefined();
    expect(
      t.shape.every((d) => Number.isSafeInteger(d) && d >= 0),
      name,
    ).toBe(true);
    expect(t.data.length, name).toBe(t.shape.reduce((a, b) => a * b, 1));
  }
  for (const v of Object.values(f.metadata)) expect(typeof v).toBe('string');
}

function withHeader(header: unknown, dataLength: number): Uint8Array {
  const head = new TextEncoder().encode(JSON.stringify(header) ?? 'undefined');
  const out = new Uint8Array(8 + head.length + dataLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  return out;
}

const field = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.integer({ min: -4, max: 40 }),
  fc.array(fc.integer({ min: -2, max: 12 }), { maxLength: 3 }),
  fc.array(fc.oneof(fc.double(), fc.string(), fc.constant(null)), { maxLength: 3 }),
  fc.constantFrom('F32', 'U8', 'I64', 'F16', 'constructor', '__proto__'),
);

describe('fuzz: decodeSafetensors', () => {
  it('random bytes', async () => {
    await fc.assert(
      fc.asyncProperty(randomBytes(), async (b) => {
        const f = await parsed('random bytes', () => decodeSafetensors(b));
        if (f !== undefined) consistent(f);
      }),
      fuzzRuns(400),
    );
  });

  it('mutations of valid files (bit flips, truncations, overwrites, insertions)', async () => {
    await fc.assert(
      fc.asyncProperty(mutationsOf(valid), async (b) => {
        const f = await parsed('mutated file', () => decodeSafetensors(b));
        if (f !== undefined) consistent(f);
      }),
      fuzzRuns(800),
    );
  });

  it('header field edits: entries, dtypes, shapes, offsets and metadata replaced by arbitrary JSON', async () => {
    const header = fc.record({
      name: fc.constantFrom('w', '__metadata__', 'b'),
      key: fc.constantFrom('dtype', 'shape', 'data_offsets', 'whole'),
      value: field,
      dataLength: fc.integer({ min: 0, max: 40 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(header, { minLength: 1, maxLength: 3 }), async (editList) => {
        const h: Record<string, unknown> = {
          w: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] },
          b: { dtype: 'U8', shape: [3], data_offsets: [24, 27] },
        };
        for (const e of editList) {
          if (e.key === 'whole' || e.name === '__metadata__') h[e.name] = e.value;
          else {
            const entry = h[e.name];
            if (entry !== null && typeof entry === 'object') (entry as Record<string, unknown>)[e.key] = e.value;
          }
        }
        const f = await parsed('edited header', () => decodeSafetensors(withHeader(h, editList[0]?.dataLength ?? 27)));
        if (f !== undefined) consistent(f);
      }),
      fuzzRuns(800),
    );
  });

  it('whole headers of arbitrary JSON', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), fc.integer({ min: 0, max: 16 }), async (h, n) => {
        const f = await parsed('JSON header', () => decodeSafetensors(withHeader(h, n)));
        if (f !== undefined) consistent(f);
      }),
      fuzzRuns(300),
    );
  });
});
