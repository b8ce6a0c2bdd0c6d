/**
 * Sampling as a stream of batches: {@link sampleStream} integrates `count` samples `batch` at a
 * time and hands each batch over as soon as it is done, so a pipeline that writes or scores
 * samples holds one batch of solver state, not the whole run. {@link defaultBatch} chooses a batch
 * from the model's size and the free memory.
 *
 * @module
 */
import { freemem } from 'node:os';
import { checkInteger } from '../validate.js';
import { checkSliceable, type SampleOptions, sampleSizeOf, sampleSlice } from './sample.js';
import type { Sampleable } from './types.js';

/** Options of {@link sampleStream}: those of {@link sample}, with `batch` defaulting to {@link defaultBatch}. */
export type SampleStreamOptions = SampleOptions;

/** One batch of a {@link sampleStream}. */
export interface SampleBatch {
  /** The batch's samples, [indices.length, ...sample shape] row-major. */
  x: Float32Array;
  /**
   * The index in the whole run of each sample of the batch (consecutive: `start, start + 1, ...`):
   * sample i used seed `seed[i]`, or stream `sampleOffset + i` of one seed.
   */
  indices: number[];
  /** Denoiser evaluations of this batch (each over the batch). */
  nfe: number;
}

/**
 * The memory one sample in flight costs, in bytes, as {@link defaultBatch} estimates it: the
 * solver's arrays (the state, the denoised estimate, a Heun or multistep history, a guidance copy:
 * 12 copies of the sample) plus the network's activations. A U-Net keeps every encoder output for
 * its skip connections: `(numBlocks + 1) * C_l * (res / 2^l)^2` values at level l, times 16 for
 * the blocks' working buffers and oneDNN's scratch (measured peak RSS on the CPU: ddpmpp-small
 * costs 7860 KiB per sample, the estimate 7681 KiB); an MLP about `6 * hidden * numBlocks` values
 * (measured: 24.6 KiB per sample for the `mlp` preset, the estimate 24.1 KiB). An ideal denoiser (no network)
 * is charged 64 copies of the sample for its distances.
 */
export function bytesPerSample(model: Sampleable): number {
  const size = sampleSizeOf(model);
  const config = (model as { config?: unknown }).config as
    | {
        kind: 'songunet' | 'dhariwalunet';
        imgResolution: number;
        modelChannels: number;
        channelMult: number[];
        numBlocks: number;
      }
    | { kind: 'mlp'; hidden: number; numBlocks: number }
    | undefined;
  let activations = 64 * size;
  if (config?.kind === 'mlp') activations = 6 * config.hidden * config.numBlocks;
  else if (config?.kind === 'songunet' || config?.kind === 'dhariwalunet') {
    activations = 0;
    config.channelMult.forEach((mult, level) => {
      const res = config.imgResolution / 2 ** level;
      activations += 16 * (config.numBlocks + 1) * config.modelChannels * mult * res * res;
    });
  }
  return 4 * (12 * size + activations);
}

/**
 * A batch for sampling `model` on this machine: as many samples as a quarter of the free memory
 * holds at {@link bytesPerSample} each, at most 1024 (larger batches no longer speed a CPU up)
 * and at least 1, and no more than `count` when given.
 *
 * @example
 * ```ts
 * const batch = defaultBatch(net, 50_000); // e.g. 1024 for ddpmpp-small on a machine with 8 GB free
 * ```
 */
export function defaultBatch(model: Sampleable, count?: number, freeBytes: number = freemem()): number {
  const fit = Math.floor(freeBytes / 4 / bytesPerSample(model));
  const batch = Math.max(1, Math.min(1024, fit));
  return count === undefined ? batch : Math.max(1, Math.min(batch, count));
}

/**
 * Samples `count` points `batch` at a time (default {@link defaultBatch}) and yields each batch in
 * order as `{ x, indices, nfe }`. Only one batch of solver state exists at a time: the next batch
 * starts when the consumer asks for it. Sample i keeps its seed (`seed[i]`, or stream
 * `sampleOffset + i` of one seed), its labels and its noise streams, so for the fixed-step
 * solvers the samples are the same bit for bit on the CPU whatever `batch` (RK45 chooses its
 * steps per batch: equal within its tolerance).
 *
 * @example
 * ```ts
 * for await (const { x, indices } of sampleStream(net, { count: 50_000, batch: 256, seed: 0, steps: 18 })) {
 *   await writeRows(x, indices[0]);
 * }
 * ```
 * @throws PfgmError as {@link sample}; argument errors before the first batch.
 */
export async function* sampleStream(
  model: Sampleable,
  options: SampleStreamOptions,
): AsyncGenerator<SampleBatch, void, undefined> {
  const count = checkInteger('count', options.count, 1);
  const batch = options.batch === undefined ? defaultBatch(model, count) : checkInteger('batch', options.batch, 1);
  checkSliceable(model, options, count);
  for (let start = 0; start < count; start += batch) {
    const n = Math.min(batch, count - start);
    const r = await sampleSlice(model, options, start, n);
    yield { x: r.x, indices: Array.from({ length: n }, (_, i) => start + i), nfe: r.nfe };
  }
}
