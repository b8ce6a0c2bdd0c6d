/**
 * One merged run of a {@link Sampler}: several requests integrated as one batch, one network pass
 * per ODE step, each request keeping its seeds, labels and guidance weight. This file holds the
 * run's description and its host path (Float32Arrays); mergedOnDevice.ts keeps the same run's
 * state in the network's device memory.
 *
 * @internal
 * @module
 */
import type { WeightSet } from '../models/network.js';
import { samplePrior } from '../physics/prior.js';
import type { Seed } from '../physics/streams.js';
import { sampleSizeOf } from './sample.js';
import { type SolverName, solvers } from './solvers.js';
import type { DenoiseFn, Sampleable, SampleResult } from './types.js';
import { combine } from './update.js';

/** One request's rows in a merged run, and the streams of their prior. */
export interface MergedPiece {
  /** First row in the batch. */
  firstRow: number;
  /** Rows. */
  rows: number;
  /** One seed (row i reads stream `sampleOffset + i`) or one per row. */
  seed: Seed;
  /** First stream of a single seed. */
  sampleOffset: number | undefined;
  /** Classifier-free guidance weight of these rows, or none. */
  guidance: number | undefined;
}

/** A merged run, in batch order. */
export interface MergedRun {
  /** Rows of the batch. */
  rows: number;
  /** The requests' rows, ascending. */
  pieces: readonly MergedPiece[];
  /** [rows, labelDim] labels, or none for an unconditional run. */
  labels: Float32Array | undefined;
  /** A fixed-step solver (RK45, whose steps depend on the batch, runs alone). */
  solver: Exclude<SolverName, 'rk45'>;
  /** The schedule, descending to 0. */
  sigmas: readonly number[];
  /** Weights to sample with. */
  weights: WeightSet;
  /** The PFGM++ D of the prior (checked). */
  D: number;
  /** Aborts the run (every request in it has gone). */
  signal: AbortSignal;
}

/** Integrates a merged run on the host; the caller checks finiteness per request. */
export async function runMergedOnHost(model: Sampleable, run: MergedRun): Promise<SampleResult> {
  const per = sampleSizeOf(model);
  const x0 = new Float32Array(run.rows * per);
  for (const p of run.pieces) {
    const prior = await samplePrior({
      shape: [...model.sampleShape],
      count: p.rows,
      D: run.D,
      sigmaMax: run.sigmas[0] as number,
      seed: p.seed,
      sampleOffset: p.sampleOffset,
      device: 'cpu',
    });
    x0.set((await prior.data()) as Float32Array, p.firstRow * per);
    prior.dispose();
  }
  return await solvers[run.solver](mergedDenoiser(model, run), x0, run.sigmas, {
    allowNonFinite: true,
    signal: run.signal,
  });
}

/**
 * The denoiser of a merged run: one network pass over every row with its labels, plus a copy
 * with zero labels of the guided rows; each guided request's rows are then `D_u + w (D_c - D_u)`,
 * computed as {@link sample} computes them.
 */
function mergedDenoiser(model: Sampleable, run: MergedRun): DenoiseFn {
  const per = sampleSizeOf(model);
  const L = model.labelDim;
  const { rows, pieces, weights } = run;
  const guided = pieces.filter((p) => p.guidance !== undefined);
  const guidedRows = guided.reduce((a, p) => a + p.rows, 0);
  let labels: Float32Array | undefined;
  if (run.labels !== undefined) {
    labels = new Float32Array((rows + guidedRows) * L);
    labels.set(run.labels);
  }
  if (guidedRows === 0) return (x, sigma) => model.denoise(x, sigma, { labels, weights });
  return async (x, sigma) => {
    const both = new Float32Array((rows + guidedRows) * per);
    both.set(x);
    let extra = rows;
    for (const p of guided) {
      both.set(x.subarray(p.firstRow * per, (p.firstRow + p.rows) * per), extra * per);
      extra += p.rows;
    }
    const out = await model.denoise(both, sigma, { labels, weights });
    const result = out.slice(0, rows * per);
    extra = rows;
    for (const p of guided) {
      const w = p.guidance as number;
      const at = p.firstRow;
      await combine(
        [
          [w, out.subarray(at * per, (at + p.rows) * per)],
          [1 - w, out.subarray(extra * per, (extra + p.rows) * per)],
        ],
        result.subarray(at * per, (at + p.rows) * per),
      );
      extra += p.rows;
    }
    return result;
  };
}
