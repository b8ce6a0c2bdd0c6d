/**
 * The solvers by the names the CLI and {@link sample} use.
 *
 * @module
 */
import { dpmSolver2M } from './dpmSolver2M.js';
import { dpmSolver3M } from './dpmSolver3M.js';
import { euler } from './euler.js';
import { heun } from './heun.js';
import { ipndm } from './ipndm.js';
import { rk45 } from './rk45.js';
import type { Solver } from './types.js';

/** The name of a solver: `euler | heun | dpm2m | dpm3m | ipndm | rk45`. */
export type SolverName = 'euler' | 'heun' | 'dpm2m' | 'dpm3m' | 'ipndm' | 'rk45';

/** Every solver name, in the order of {@link solvers}. */
export const solverNames: readonly SolverName[] = ['euler', 'heun', 'dpm2m', 'dpm3m', 'ipndm', 'rk45'];

/**
 * The solvers by name: {@link euler}, {@link heun}, {@link dpmSolver2M} (`dpm2m`),
 * {@link dpmSolver3M} (`dpm3m`), {@link ipndm} and {@link rk45}. Each called with only the common
 * options ({@link SolverOptions}) uses its defaults.
 *
 * @example
 * ```ts
 * const { x, nfe } = await solvers.dpm2m(denoise, x0, karras({ steps: 15 }));
 * ```
 */
export const solvers: Readonly<Record<SolverName, Solver>> = {
  euler,
  heun,
  dpm2m: dpmSolver2M,
  dpm3m: dpmSolver3M,
  ipndm,
  rk45,
};

/**
 * The number of denoiser evaluations a fixed-step solver spends on `steps` steps (the length of
 * `sigmas` minus one): Heun 2 steps - 1, the others `steps`. RK45 is adaptive: undefined.
 */
export function solverNfe(solver: SolverName, steps: number): number | undefined {
  if (solver === 'rk45') return undefined;
  return solver === 'heun' ? 2 * steps - 1 : steps;
}
