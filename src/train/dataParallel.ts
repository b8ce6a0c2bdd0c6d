/**
 * The checks a {@link Trainer} makes when it trains in a data-parallel group (docs/distributed.md):
 * the global batch splits evenly over the ranks, and every rank runs the same network, options
 * and data before the first step.
 *
 * @module
 */
import type { DatasetInfo } from '../data/dataset.js';
import type { DistributedGroup } from '../distributed/group.js';
import { PfgmError } from '../errors.js';
import type { Network } from '../models/network.js';
import type { ResolvedTrainOptions } from '../physics/trainOptions.js';
import type { TrainerState } from './trainer.js';

/**
 * Each rank's share of the global batch.
 *
 * @throws PfgmError `ERR_PFGM_ARGUMENT` when the batch does not split evenly, or a micro-batch is
 *   larger than a rank's share.
 */
export function localBatch(o: Pick<ResolvedTrainOptions, 'batch' | 'microBatch'>, worldSize: number): number {
  if (o.batch % worldSize !== 0) {
    const down = Math.max(worldSize, o.batch - (o.batch % worldSize));
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `the batch of ${o.batch} does not split evenly over ${worldSize} ranks: use a multiple of ${worldSize} (e.g. --batch ${down})`,
    );
  }
  const local = o.batch / worldSize;
  if (o.microBatch > local) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `--micro-batch ${o.microBatch} is larger than each rank's share of the batch (${o.batch} / ${worldSize} = ${local}): the micro-batch is per rank`,
    );
  }
  return local;
}

/** 32-bit FNV-1a of a string: exact in a double, enough to tell two settings apart. */
function fingerprint(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * Compares the network, the training options and the data of every rank with rank 0's (one
 * all-gather of three fingerprints).
 *
 * @throws PfgmError `ERR_PFGM_DISTRIBUTED` naming the ranks that differ and in what.
 */
export async function checkGroup(
  group: DistributedGroup,
  net: Network,
  state: TrainerState,
  data: DatasetInfo,
): Promise<void> {
  const mine = Float64Array.of(
    fingerprint(JSON.stringify({ config: net.config, D: net.D, objective: net.objective, shape: net.sampleShape })),
    fingerprint(JSON.stringify({ options: state.options, seed: state.seed })),
    fingerprint(JSON.stringify({ count: data.count, shape: data.shape, labelDim: data.labelDim, kind: data.kind })),
  );
  const all = await group.allGather(mine);
  const what = ['network', 'training options', 'dataset (size, shape or labels)'];
  const problems: string[] = [];
  for (let r = 1; r < group.worldSize; r++) {
    const differs = what.filter((_, k) => all[r * mine.length + k] !== all[k]);
    if (differs.length > 0) problems.push(`rank ${r}'s ${differs.join(' and ')}`);
  }
  if (problems.length > 0) {
    throw new PfgmError(
      'ERR_PFGM_DISTRIBUTED',
      `the ranks were started with different settings: ${problems.join('; ')} differ from rank 0's; start every rank with the same flags and data`,
    );
  }
}
