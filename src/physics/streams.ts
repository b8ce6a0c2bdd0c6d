/**
 * How draws are addressed (docs/dev/architecture.md, "Randomness"): every random number is keyed by
 * (seed, sample index, purpose, step) in a Philox4x32-10 stream, so a sample's draws do not depend
 * on the batch it is drawn in, nor on the device.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import type { NativeStreams } from '../addon/native.js';
import { PfgmError } from '../errors.js';
import { checkInteger } from '../validate.js';

/**
 * A seed: one non-negative integer below 2^64 for the whole batch (sample i reads stream
 * `sampleOffset + i`), or one seed per sample (EDM's convention: sample i reads stream 0 of
 * `seed[i]`, so `--seeds 0-63` images are the same in any batch).
 */
export type Seed = number | bigint | readonly (number | bigint)[];

/** Options shared by every random draw. */
export interface StreamOptions {
  /** The seed (default: a fresh random seed per call). */
  seed?: Seed;
  /**
   * Index of the first sample's stream when `seed` is one number (default 0). Drawing samples
   * `[k, k + n)` as a batch of n with `sampleOffset: k` gives the same numbers as drawing them
   * in any other batching.
   */
  sampleOffset?: number;
  /** A step counter, part of the stream key (default 0): a training loop passes its step. */
  step?: number;
}

const MAX_SEED = (1n << 64n) - 1n;

function toSeed(value: number | bigint, what: string): bigint {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `${what} must be a non-negative integer (a bigint for seeds above 2^53), got ${value}`,
      );
    }
    return BigInt(value);
  }
  if (typeof value === 'bigint' && value >= 0n && value <= MAX_SEED) return value;
  throw new PfgmError('ERR_PFGM_ARGUMENT', `${what} must be an integer in [0, 2^64), got ${String(value)}`);
}

/** Converts stream options for `count` samples into the addon's form. @internal */
export function nativeStreams(options: StreamOptions, count: number): NativeStreams {
  const { seed, sampleOffset = 0, step = 0 } = options;
  checkInteger('sampleOffset', sampleOffset, 0);
  checkInteger('step', step, 0, 2 ** 32 - 1);
  let seeds: BigUint64Array;
  if (seed === undefined) {
    seeds = new BigUint64Array(randomBytes(8).buffer);
  } else if (Array.isArray(seed)) {
    if (seed.length !== count) {
      throw new PfgmError(
        'ERR_PFGM_SHAPE',
        `seed has ${seed.length} entries but there are ${count} samples: give one seed per sample, or one number`,
      );
    }
    if (options.sampleOffset !== undefined && options.sampleOffset !== 0) {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        'sampleOffset applies to a single seed; with one seed per sample, choose the seeds instead',
      );
    }
    seeds = BigUint64Array.from(seed.map((s: number | bigint, i: number) => toSeed(s, `seed[${i}]`)));
  } else {
    seeds = BigUint64Array.of(toSeed(seed as number | bigint, 'seed'));
  }
  return { seeds, offset: sampleOffset, step };
}
