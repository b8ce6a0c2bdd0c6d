/**
 * iPNDM, the improved pseudo-numerical method (Zhang & Chen 2023, "DEIS", Sec. 4 and App. B; the
 * strongest training-free solver at 5-10 NFE in Zhou et al. 2024, "Fast ODE-based sampling for
 * diffusion models in around 5 steps"): linear multistep (Adams-Bashforth) on the
 * probability-flow ODE in sigma.
 *
 * @module
 */
import { PfgmError } from '../errors.js';
import { HostOps, type SolverOps } from './solverOps.js';
import type { DenoiseFn, SampleResult, SolverOptions } from './types.js';
import { checkSigmas, checkStart } from './update.js';

/** Options of {@link ipndm}. */
export interface IpndmOptions extends SolverOptions {
  /** Highest Adams-Bashforth order, 1 to 4 (default 4). */
  maxOrder?: number;
  /**
   * Use the Adams-Bashforth weights of the actual (non-uniform) sigma steps instead of iPNDM's
   * fixed uniform-step weights (default false, iPNDM as published).
   */
  variableStep?: boolean;
}

// Adams-Bashforth weights for uniform steps, newest slope first (iPNDM's).
const UNIFORM: readonly (readonly number[])[] = [
  [1],
  [3 / 2, -1 / 2],
  [23 / 12, -16 / 12, 5 / 12],
  [55 / 24, -59 / 24, 37 / 24, -9 / 24],
];

// Three-point Gauss-Legendre nodes and weights on [0, 1]: exact for polynomials of degree <= 5,
// so for the cubic Lagrange basis of fourth-order Adams-Bashforth.
const GAUSS_T = [0.5 - Math.sqrt(15) / 10, 0.5, 0.5 + Math.sqrt(15) / 10];
const GAUSS_W = [5 / 18, 8 / 18, 5 / 18];

/**
 * Adams-Bashforth weights for the step from `nodes[0]` to `target` over slopes known at `nodes`
 * (newest first): `b_j = (1/h) integral L_j`, L_j the Lagrange basis on the nodes.
 *
 * @internal
 */
export function adamsBashforthWeights(nodes: readonly number[], target: number): number[] {
  const t0 = nodes[0] as number;
  const h = target - t0;
  return nodes.map((tj, j) => {
    let acc = 0;
    for (let q = 0; q < 3; q++) {
      const t = t0 + (GAUSS_T[q] as number) * h;
      let l = 1;
      for (let k = 0; k < nodes.length; k++) {
        if (k !== j) l *= (t - (nodes[k] as number)) / (tj - (nodes[k] as number));
      }
      acc += (GAUSS_W[q] as number) * l;
    }
    return acc;
  });
}

/**
 * iPNDM: `x_{i+1} = x_i + (s_{i+1} - s_i) sum_j b_j d_{i-j}` with the slopes
 * `d = (x - D(x, s)) / s` of the last (up to four) steps and the Adams-Bashforth weights b of
 * uniform steps (`variableStep: true` uses the exact weights of the actual sigma spacing). The
 * order grows from 1 on the first step to `maxOrder`; the step to sigma = 0 returns D_i. One
 * denoiser evaluation per step: NFE = n for n = sigmas.length - 1 steps.
 *
 * @param denoise - D(x, sigma).
 * @param x - The start at `sigmas[0]` (not modified).
 * @param sigmas - Descending noise levels ending in 0, e.g. `karras({ steps: 10 })`.
 *
 * @example
 * ```ts
 * const { x, nfe } = await ipndm((x, s) => net.denoise(x, s), x0, karras({ steps: 10 })); // nfe 10
 * ```
 */
export async function ipndm(
  denoise: DenoiseFn,
  x: Float32Array,
  sigmas: readonly number[],
  options: IpndmOptions = {},
): Promise<SampleResult> {
  checkStart(x);
  checkSigmas(sigmas);
  const maxOrder = checkMaxOrder(options.maxOrder);
  return ipndmWith(new HostOps(denoise, options), x, sigmas, maxOrder, options.variableStep === true);
}

/** Checks iPNDM's `maxOrder` (default 4). @internal */
export function checkMaxOrder(maxOrder = 4): number {
  if (!Number.isInteger(maxOrder) || maxOrder < 1 || maxOrder > 4) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `maxOrder must be an integer in [1, 4], got ${maxOrder}`);
  }
  return maxOrder;
}

/** {@link ipndm} over arrays on the host or the device (solverOps.ts); arguments checked. @internal */
export async function ipndmWith<A>(
  ops: SolverOps<A>,
  x: A,
  sigmas: readonly number[],
  maxOrder: number,
  variableStep: boolean,
): Promise<SampleResult> {
  let cur = x;
  const slopes: { d: A; sigma: number }[] = []; // newest first
  for (let i = 0; i + 1 < sigmas.length; i++) {
    const s = sigmas[i] as number;
    const next = sigmas[i + 1] as number;
    const den = await ops.denoise(cur, s, i);
    await ops.step(i, s, cur, den);
    if (next === 0) {
      ops.drop(cur);
      cur = den;
      continue;
    }
    // The slopes (x - D) / s of docs/method.md (1.1), newest first: this step's and the older
    // ones the order allows.
    const nodes = [s, ...slopes.map((e) => e.sigma)].slice(0, maxOrder);
    const b = variableStep ? adamsBashforthWeights(nodes, next) : (UNIFORM[nodes.length - 1] as readonly number[]);
    const h = next - s;
    const coefs = nodes.map((_, j) => h * (b[j] as number));
    const older = slopes.slice(0, nodes.length - 1).map((e) => e.d);
    const [d, updated] = await ops.slopeUpdate(cur, den, s, coefs, older);
    ops.drop(den, cur);
    slopes.unshift({ d, sigma: s });
    if (slopes.length > maxOrder) ops.drop(slopes.pop()?.d);
    cur = updated;
  }
  return ops.finish(cur, sigmas.length - 2, 0);
}
