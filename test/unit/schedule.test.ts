import { describe, expect, it } from 'vitest';
import { alignRadius, alignSigma, karras, PfgmError, pfgmHyperparameters } from '../../src/index.js';

describe('karras (docs/method.md §2.3)', () => {
  it('is EDM formula: descending, endpoints exact, trailing 0', () => {
    const s = karras({ steps: 18 });
    expect(s).toHaveLength(19);
    expect(s[0]).toBe(80);
    expect(s[17]).toBe(0.002);
    expect(s[18]).toBe(0);
    for (let i = 1; i < s.length; i++) expect(s[i] as number).toBeLessThan(s[i - 1] as number);
    // middle value by hand: (80^(1/7) + 0.5 (0.002^(1/7) - 80^(1/7)))^7 at n = 3, i = 1
    const mid = (80 ** (1 / 7) + 0.5 * (0.002 ** (1 / 7) - 80 ** (1 / 7))) ** 7;
    expect(karras({ steps: 3 })[1]).toBeCloseTo(mid, 12);
    expect(karras({ steps: 1, sigmaMax: 5 })).toEqual([5, 0]);
    expect(karras({ steps: 4, rho: 1, sigmaMin: 1, sigmaMax: 4 })).toEqual([4, 3, 2, 1, 0]);
  });

  it('rejects bad schedules', () => {
    expect(() => karras({ steps: 0 })).toThrow(PfgmError);
    expect(() => karras({ steps: 2.5 })).toThrow(/steps/);
    expect(() => karras({ steps: 10, sigmaMin: 5, sigmaMax: 1 })).toThrow(/sigmaMin/);
    expect(() => karras({ steps: 10, rho: Number.NaN })).toThrow(/rho/);
  });
});

describe('alignment r = sigma sqrt(D) (docs/method.md §1)', () => {
  it('round-trips and handles D = Infinity', () => {
    expect(alignRadius(2, 128)).toBeCloseTo(2 * Math.sqrt(128), 12);
    expect(alignSigma(alignRadius(0.3, 2048), 2048)).toBeCloseTo(0.3, 14);
    expect(alignRadius(1, Number.POSITIVE_INFINITY)).toBe(Number.POSITIVE_INFINITY);
    expect(alignRadius(0, Number.POSITIVE_INFINITY)).toBe(0);
    expect(() => alignSigma(1, Number.POSITIVE_INFINITY)).toThrow(/Infinity/);
    expect(() => alignRadius(1, 0)).toThrow(/D must be/);
    expect(() => alignRadius(-1, 1)).toThrow(/sigma/);
  });
});

describe('pfgmHyperparameters (docs/method.md §3)', () => {
  it('follows the rule of thumb', () => {
    const N = 3072;
    const dataNorm = 27.7;
    const h = pfgmHyperparameters({ dataNorm, N });
    const M = Math.floor((0.75 * Math.log(dataNorm ** 2 / (2 * Math.sqrt(N) * 1e-4))) / Math.log(1.03)) + 1;
    expect(h.M).toBe(M);
    expect(h.M).toBeGreaterThan(250); // CIFAR-10 scale: the paper uses M = 291
    expect(h.zMax).toBeCloseTo(Math.sqrt(2 / Math.PI) * 0.01 * 1.03 ** M, 10);
    expect(h.upperNorm).toBeCloseTo(Math.sqrt(N) * 0.01 * 1.03 ** M, 10);
    expect(h.upperNorm / h.zMax).toBeCloseTo(Math.sqrt(N) / Math.sqrt(2 / Math.PI), 10);
    expect(() => pfgmHyperparameters({ dataNorm: 0, N })).toThrow(/dataNorm/);
    expect(() => pfgmHyperparameters({ dataNorm: 1, N: 0 })).toThrow(/N must/);
  });
});
