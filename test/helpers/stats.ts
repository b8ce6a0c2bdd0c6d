// Closed-form laws for the statistical tests: log-gamma, the regularized incomplete beta and
// gamma functions, and the one-sample Kolmogorov-Smirnov test. Checked against known values in
// test/unit/stats.test.ts before they judge anything else.

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Gamma(x) for x > 0 (Lanczos, g = 7). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = LANCZOS[0] as number;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += (LANCZOS[i] as number) / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

// Continued fraction of the incomplete beta (modified Lentz).
function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 100000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) return h;
  }
  throw new Error(`incomplete beta did not converge (x=${x}, a=${a}, b=${b})`);
}

/**
 * The regularized incomplete beta I_x(a, b) = P(B <= x), B ~ Beta(a, b). `oneMinusX` may be
 * given exactly when x is close to 1 (it is the value used in the complementary branch).
 */
export function betaCdf(x: number, a: number, b: number, oneMinusX = 1 - x): number {
  if (x <= 0) return 0;
  if (oneMinusX <= 0) return 1;
  const logFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(oneMinusX);
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(logFront) * betaContinuedFraction(x, a, b)) / a;
  return 1 - (Math.exp(logFront) * betaContinuedFraction(oneMinusX, b, a)) / b;
}

/** The regularized lower incomplete gamma P(a, x) = P(G <= x), G ~ Gamma(a, 1). */
export function gammaCdf(x: number, a: number): number {
  if (x <= 0) return 0;
  const logFront = a * Math.log(x) - x - logGamma(a);
  if (x < a + 1) {
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < 100000; n++) {
      term *= x / (a + n);
      sum += term;
      if (term < sum * 1e-16) return Math.exp(logFront) * sum;
    }
    throw new Error('incomplete gamma series did not converge');
  }
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 100000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) return 1 - Math.exp(logFront) * h;
  }
  throw new Error('incomplete gamma fraction did not converge');
}

/** Standard normal CDF through P(1/2, z^2/2). */
export function normalCdf(z: number): number {
  const half = 0.5 * gammaCdf(0.5 * z * z, 0.5);
  return z >= 0 ? 0.5 + half : 0.5 - half;
}

/** Kolmogorov-Smirnov statistic of values already mapped through the hypothesised CDF. */
export function ksStatistic(cdfValues: ArrayLike<number>): number {
  const u = Float64Array.from(cdfValues).sort();
  const n = u.length;
  let d = 0;
  for (let i = 0; i < n; i++) {
    const v = u[i] as number;
    d = Math.max(d, (i + 1) / n - v, v - i / n);
  }
  return d;
}

/** Asymptotic p-value of the KS statistic (Kolmogorov's series, Stephens' small-n correction). */
export function ksPValue(d: number, n: number): number {
  const sn = Math.sqrt(n);
  const lambda = (sn + 0.12 + 0.11 / sn) * d;
  let sum = 0;
  for (let k = 1; k <= 200; k++) {
    const term = 2 * (k % 2 === 1 ? 1 : -1) * Math.exp(-2 * k * k * lambda * lambda);
    sum += term;
    if (Math.abs(term) < 1e-16) break;
  }
  return Math.min(1, Math.max(0, sum));
}

/** KS test of samples against a CDF: returns { d, p }. */
export function ksTest(samples: ArrayLike<number>, cdf: (x: number) => number): { d: number; p: number } {
  const u = Array.from(samples, cdf);
  const d = ksStatistic(u);
  return { d, p: ksPValue(d, u.length) };
}

/** Per-sample squared norms of a [count, n] batch (f64 accumulation). */
export function rowNorms2(data: ArrayLike<number>, count: number): Float64Array {
  const n = data.length / count;
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    let acc = 0;
    for (let j = 0; j < n; j++) {
      const v = data[i * n + j] as number;
      acc += v * v;
    }
    out[i] = acc;
  }
  return out;
}
