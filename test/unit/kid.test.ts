// KID (src/eval/kid.ts) against NumPy's computation of the same unbiased MMD^2 estimate
// (test/fixtures/gen/kid.py), and its behaviour: near 0 between two samples of one law (the
// estimate is unbiased), clearly positive between different laws, deterministic for a seed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kid } from '../../src/eval/kid.js';

const fixture = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'fixtures', 'metrics', 'kid.json'), 'utf8'),
) as {
  d: number;
  x: number[];
  y: number[];
  mmd2: number;
};

/** Deterministic Gaussian-ish rows (sum of uniforms), shifted by `mu`. */
function rows(n: number, d: number, seed: number, mu: number): Float32Array {
  let s = seed >>> 0;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  return Float32Array.from({ length: n * d }, () => u() + u() + u() - 1.5 + mu);
}

describe('kid', () => {
  it('equals the unbiased MMD^2 NumPy computes on whole sets (one subset of all rows)', () => {
    const r = kid(Float64Array.from(fixture.x), Float64Array.from(fixture.y), fixture.d, {
      subsets: 1,
      subsetSize: 40,
    });
    expect(Math.abs(r.kid - fixture.mmd2) / Math.abs(fixture.mmd2)).toBeLessThan(1e-10);
  });

  it('is near 0 for one law and positive for two, and repeatable for a seed', () => {
    const d = 32;
    const a = rows(300, d, 1, 0);
    const b = rows(300, d, 2, 0);
    const c = rows(300, d, 3, 0.5);
    const same = kid(a, b, d, { subsets: 20, subsetSize: 100, seed: 5 });
    const diff = kid(a, c, d, { subsets: 20, subsetSize: 100, seed: 5 });
    expect(Math.abs(same.kid)).toBeLessThan(3 * same.std + 1e-3);
    expect(diff.kid).toBeGreaterThan(10 * Math.max(same.std, Math.abs(same.kid)));
    expect(kid(a, c, d, { subsets: 20, subsetSize: 100, seed: 5 })).toEqual(diff);
  });
});
