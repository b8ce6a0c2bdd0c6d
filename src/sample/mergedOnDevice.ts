/**
 * A {@link Sampler}'s merged run (merged.ts) with the solver state in the network's device memory
 * (docs/dev/architecture.md, "Where sampling state lives"): the requests' priors are drawn on the
 * device from each request's streams, the guided requests' rows go through the network a second
 * time in the same pass (each with its own weight), and only the finished batch comes back. On
 * the CPU backend the bits are the host path's.
 *
 * @internal
 * @module
 */
import type { Network } from '../models/network.js';
import { nativeStreams } from '../physics/streams.js';
import { DeviceOps } from './deviceOps.js';
import type { MergedRun } from './merged.js';
import { solveWith } from './resident.js';
import type { SampleResult } from './types.js';

/** Integrates a merged run on the network's device; the caller checks finiteness per request. */
export async function runMergedOnDevice(net: Network, run: MergedRun): Promise<SampleResult> {
  const guided = run.pieces.flatMap((p) =>
    p.guidance === undefined ? [] : [{ start: p.firstRow, count: p.rows, weight: p.guidance }],
  );
  const ops = new DeviceOps(
    net,
    {
      batch: run.rows,
      ema: run.weights === 'ema',
      labels: run.labels,
      guided: guided.length > 0 ? guided : undefined,
    },
    { allowNonFinite: true, signal: run.signal },
  );
  try {
    const priors = run.pieces.map((p) => ({
      streams: nativeStreams({ seed: p.seed, sampleOffset: p.sampleOffset }, p.rows),
      firstRow: p.firstRow,
      rows: p.rows,
    }));
    const x0 = await ops.priorRows(run.D, run.sigmas[0] as number, priors);
    return await solveWith(ops, x0, run.solver, run.sigmas, {}, undefined, run.signal);
  } finally {
    ops.dispose();
  }
}
