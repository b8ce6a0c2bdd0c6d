/**
 * Random class labels for sampling a class-conditional model without a chosen class: one class
 * per sample, uniform, read from the sample's own Philox stream (purpose 14, `kPurposeClass` in
 * `philox.h`), so a sample's class depends on its seed and index only, never on the batch.
 * EDM's generate.py draws a random class per image the same way (from the image's own seed).
 *
 * @module
 */
import { native } from '../addon/load.js';
import { PfgmError } from '../errors.js';
import { checkInteger } from '../validate.js';
import { nativeStreams, type StreamOptions } from './streams.js';

/** The Philox purpose of class draws (`kPurposeClass` in src/native/rng/philox.h). @internal */
export const PURPOSE_CLASS = 14;

const TWO_32 = 4294967296;

/**
 * One class in [0, classes) per sample, uniform (bias below classes / 2^32), from lane 0 of
 * block 0 of the stream (seed, sample index, step, purpose 14). With one seed, sample i reads
 * stream `sampleOffset + i`; with one seed per sample, stream 0 of its own seed: the classes of
 * samples [k, k + n) drawn with `sampleOffset: k` equal those of the same samples in any batch.
 *
 * @example
 * ```ts
 * randomClasses(8, 10, { seed: 0 }); // Int32Array of 8 classes in 0..9
 * ```
 * @throws PfgmError `ERR_PFGM_ARGUMENT` for a bad count, number of classes or seed.
 */
export function randomClasses(count: number, classes: number, options: StreamOptions = {}): Int32Array {
  checkInteger('count', count, 0);
  checkInteger('classes', classes, 1, 2 ** 20);
  const { seeds, offset = 0, step = 0 } = nativeStreams(options, count);
  const philox = native().philox;
  const counter = new Uint32Array(4);
  const key = new Uint32Array(2);
  const out = new Int32Array(count);
  const perSample = Array.isArray(options.seed);
  for (let i = 0; i < count; i++) {
    const seed = (perSample ? seeds[i] : seeds[0]) as bigint;
    const sample = perSample ? 0n : BigInt(offset + i);
    // draw_block of philox.h: the counter is (block, low word of the sample index, step,
    // purpose); the key is the seed, its high word xor the sample index's high word.
    counter[0] = 0;
    counter[1] = Number(BigInt.asUintN(32, sample));
    counter[2] = step;
    counter[3] = PURPOSE_CLASS;
    key[0] = Number(BigInt.asUintN(32, seed));
    key[1] = Number(BigInt.asUintN(32, (seed >> 32n) ^ (sample >> 32n)));
    const bits = philox(counter, key)[0] as number;
    out[i] = Math.floor((bits * classes) / TWO_32);
  }
  return out;
}

/**
 * One-hot rows [n, labelDim] for class indices, the `labels` that {@link sample} and
 * {@link Network.denoise} take. A class of -1 gives an all-zero row: the unconditional input that
 * label dropout trains.
 *
 * @throws PfgmError `ERR_PFGM_ARGUMENT` for a class outside [-1, labelDim).
 */
export function oneHotLabels(classes: ArrayLike<number>, labelDim: number): Float32Array {
  checkInteger('labelDim', labelDim, 1);
  const out = new Float32Array(classes.length * labelDim);
  for (let i = 0; i < classes.length; i++) {
    const c = classes[i] as number;
    if (!Number.isInteger(c) || c < -1 || c >= labelDim) {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `class ${c} at position ${i} is outside 0..${labelDim - 1} (or -1 for no class)`,
      );
    }
    if (c >= 0) out[i * labelDim + c] = 1;
  }
  return out;
}
