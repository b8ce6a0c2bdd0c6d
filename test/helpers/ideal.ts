// Float64 JavaScript references for the sampler tests: docs/method.md (2.4)'s posterior mean of a finite
// reference set (the ideal denoiser), EDM's Heun sampler, and small measures on sample sets.
// Written independently of the native kernels (straight sums over log-weights, no shared code).

/** E[y | x, sigma] in float64 for each row of x [count, n] over refs [m, n] (docs/method.md (2.4)). */
export function posteriorMean64(
  x: ArrayLike<number>,
  refs: ArrayLike<number>,
  n: number,
  D: number,
  sigma: number,
): Float64Array {
  const count = x.length / n;
  const m = refs.length / n;
  const out = new Float64Array(x.length);
  const logw = new Float64Array(m);
  for (let i = 0; i < count; i++) {
    let best = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < m; j++) {
      let d2 = 0;
      for (let k = 0; k < n; k++) d2 += ((x[i * n + k] as number) - (refs[j * n + k] as number)) ** 2;
      // finite D: -(n + D)/2 ln(d2 + r^2), r^2 = sigma^2 D; D = inf: -d2 / (2 sigma^2)
      logw[j] = Number.isFinite(D) ? -0.5 * (n + D) * Math.log1p(d2 / (sigma * sigma * D)) : -d2 / (2 * sigma * sigma);
      best = Math.max(best, logw[j] as number);
    }
    let z = 0;
    for (let j = 0; j < m; j++) z += Math.exp((logw[j] as number) - best);
    for (let j = 0; j < m; j++) {
      const w = Math.exp((logw[j] as number) - best) / z;
      for (let k = 0; k < n; k++) out[i * n + k] = (out[i * n + k] as number) + w * (refs[j * n + k] as number);
    }
  }
  return out;
}

/** Index of the reference nearest to row i of x, and its distance. */
export function nearestRef(
  x: ArrayLike<number>,
  i: number,
  refs: ArrayLike<number>,
  n: number,
): { j: number; d: number } {
  let best = 0;
  let bestD = Number.POSITIVE_INFINITY;
  for (let j = 0; j < refs.length / n; j++) {
    let d2 = 0;
    for (let k = 0; k < n; k++) d2 += ((x[i * n + k] as number) - (refs[j * n + k] as number)) ** 2;
    if (d2 < bestD) {
      bestD = d2;
      best = j;
    }
  }
  return { j: best, d: Math.sqrt(bestD) };
}

/** Largest distance from a sample to its nearest reference point. */
export function worstLanding(x: ArrayLike<number>, refs: ArrayLike<number>, n: number): number {
  let worst = 0;
  for (let i = 0; i < x.length / n; i++) worst = Math.max(worst, nearestRef(x, i, refs, n).d);
  return worst;
}

/** Least-squares slope of -log(error) against log(steps): the order of convergence. */
export function convergenceOrder(steps: readonly number[], errors: readonly number[]): number {
  const lx = steps.map(Math.log);
  const ly = errors.map(Math.log);
  const mx = lx.reduce((a, b) => a + b, 0) / lx.length;
  const my = ly.reduce((a, b) => a + b, 0) / ly.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < lx.length; i++) {
    num += ((lx[i] as number) - mx) * ((ly[i] as number) - my);
    den += ((lx[i] as number) - mx) ** 2;
  }
  return -num / den;
}

/** Ten well-separated points in 2-D: a ring of seven (radius 1) and three inside. */
export const RING_REFS = new Float32Array([
  ...Array.from({ length: 7 }, (_, k) => [Math.cos((2 * Math.PI * k) / 7), Math.sin((2 * Math.PI * k) / 7)]).flat(),
  0.3,
  0.1,
  -0.25,
  0.2,
  0.0,
  -0.35,
]);
