/**
 * The data-parallel fields of a training step's options (docs/distributed.md), checked before they
 * reach the native step.
 *
 * @module
 */
import { PfgmError } from '../errors.js';
import type { DataParallelStepOptions } from './networkTypes.js';

/** The data-parallel fields of a step's options, checked. */
export function dataParallel(o: DataParallelStepOptions): DataParallelStepOptions {
  if (o.sampleOffset !== undefined && !(Number.isSafeInteger(o.sampleOffset) && o.sampleOffset >= 0))
    throw new PfgmError('ERR_PFGM_ARGUMENT', `sampleOffset must be a non-negative integer, got ${o.sampleOffset}`);
  return { sampleOffset: o.sampleOffset, stopVote: o.stopVote === true };
}
