/**
 * Weights of the exponential integrator behind the DPM-Solver++ multistep family: in
 * lambda = -ln sigma the probability-flow ODE is `dx/dlambda = D - x`, so over a step of length h
 *
 *     x(lambda + h) = e^{-h} x(lambda) + integral_0^h e^{-(h - tau)} D(lambda + tau) dtau,
 *
 * and a multistep method replaces D by the polynomial through the last evaluations. The weights
 * here integrate that polynomial exactly.
 *
 * @internal
 * @module
 */

/**
 * `I_m = integral_0^h e^{-(h - tau)} tau^m dtau` for m = 0, 1, 2. The closed forms
 * (I_0 = 1 - e^{-h}, I_1 = h - I_0, I_2 = h^2 - 2 I_1) cancel catastrophically for small h, so
 * below h = 1 the series `I_m = m! sum_k (-1)^k h^{m+1+k} / (m+1+k)!` is summed instead.
 */
export function expMoments(h: number): [number, number, number] {
  if (h >= 1) {
    const i0 = -Math.expm1(-h);
    const i1 = h - i0;
    return [i0, i1, h * h - 2 * i1];
  }
  const out: [number, number, number] = [0, 0, 0];
  for (let m = 0; m < 3; m++) {
    // term_k = (-1)^k h^{m+1+k} / (m+1+k)!, times m!
    let term = h ** (m + 1);
    for (let j = 2; j <= m + 1; j++) term /= j;
    let sum = 0;
    for (let k = 0; k < 40 && Math.abs(term) > 1e-300; k++) {
      sum += term;
      term *= -h / (m + 2 + k);
    }
    out[m] = sum * (m === 2 ? 2 : 1);
  }
  return out;
}

/**
 * The weights c_k with `integral_0^h e^{-(h - tau)} P(tau) dtau = sum_k c_k D_k`, where P is the
 * polynomial through (tau_k, D_k) for the given nodes (1 to 3; tau_0 = 0 is the current point and
 * the others are negative: the earlier evaluations).
 */
export function expIntegratorWeights(h: number, nodes: readonly number[]): number[] {
  const [i0, i1, i2] = expMoments(h);
  if (nodes.length === 1) return [i0];
  if (nodes.length === 2) {
    const t1 = nodes[1] as number;
    // L_0 = 1 - tau / t1, L_1 = tau / t1.
    return [i0 - i1 / t1, i1 / t1];
  }
  const t1 = nodes[1] as number;
  const t2 = nodes[2] as number;
  // Lagrange basis on {0, t1, t2}, each as a tau^2 + b tau + c.
  const l0 = [1 / (t1 * t2), -(t1 + t2) / (t1 * t2), 1];
  const l1 = [1 / (t1 * (t1 - t2)), -t2 / (t1 * (t1 - t2)), 0];
  const l2 = [1 / (t2 * (t2 - t1)), -t1 / (t2 * (t2 - t1)), 0];
  return [l0, l1, l2].map(([a, b, c]) => (a as number) * i2 + (b as number) * i1 + (c as number) * i0);
}
