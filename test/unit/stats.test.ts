// The statistical tests are only as good as their laws: check the helpers against closed forms.
import { describe, expect, it } from 'vitest';
import { betaCdf, gammaCdf, ksPValue, ksTest, logGamma, normalCdf } from '../helpers/stats.js';

describe('test helpers: closed forms', () => {
  it('logGamma matches factorials and Gamma(1/2)', () => {
    expect(logGamma(5)).toBeCloseTo(Math.log(24), 12);
    expect(logGamma(0.5)).toBeCloseTo(0.5 * Math.log(Math.PI), 12);
    expect(logGamma(1536)).toBeCloseTo(9730.785623784723, 8); // ln(1535!)
  });

  it('betaCdf matches the uniform, power and arcsine laws', () => {
    for (const x of [0.01, 0.3, 0.77, 0.999]) {
      expect(betaCdf(x, 1, 1)).toBeCloseTo(x, 12);
      expect(betaCdf(x, 3.5, 1)).toBeCloseTo(x ** 3.5, 12);
      expect(betaCdf(x, 0.5, 0.5)).toBeCloseTo((2 / Math.PI) * Math.asin(Math.sqrt(x)), 10);
      expect(betaCdf(x, 1, 0.5)).toBeCloseTo(1 - Math.sqrt(1 - x), 10);
    }
    // The complementary branch keeps precision when 1 - x is tiny.
    expect(betaCdf(1 - 1e-12, 1, 0.5, 1e-12)).toBeCloseTo(1 - 1e-6, 12);
  });

  it('gammaCdf matches the exponential law and the normal CDF', () => {
    for (const x of [0.1, 1, 4, 30]) expect(gammaCdf(x, 1)).toBeCloseTo(1 - Math.exp(-x), 12);
    expect(normalCdf(1.959963984540054)).toBeCloseTo(0.975, 10);
    expect(normalCdf(-1)).toBeCloseTo(0.15865525393145707, 10);
    // chi^2_3072 median is about N (1 - 2/(9N))^3
    const n = 3072;
    expect(gammaCdf((n * (1 - 2 / (9 * n)) ** 3) / 2, n / 2)).toBeCloseTo(0.5, 3);
  });

  it('ksPValue matches the Kolmogorov distribution', () => {
    // P(sqrt(n) D > 1.358) = 0.05 asymptotically
    expect(ksPValue(1.358 / Math.sqrt(1e6), 1e6)).toBeCloseTo(0.05, 3);
    // and the test rejects a wrong law
    const u = Array.from({ length: 2000 }, (_, i) => (i + 0.5) / 2000);
    expect(ksTest(u, (x) => x).p).toBeGreaterThan(0.99);
    expect(ksTest(u, (x) => x * x).p).toBeLessThan(1e-6);
  });
});
