/**
 * Feature statistics of image sets that are never held whole (docs/fid.md, "At scale"): generated
 * samples from {@link sampleStream} and real images read batch by batch go through a feature
 * network into {@link RunningStats}, one batch at a time, so a 50,000-image FID needs the memory of
 * one batch.
 *
 * @module
 */
import type { Dataset } from '../data/dataset.js';
import { type SampleStreamOptions, sampleStream } from '../sample/stream.js';
import type { Sampleable } from '../sample/types.js';
import { epochOrder } from '../train/order.js';
import { RunningStats } from './fidStats.js';
import type { FeatureStats } from './frechet.js';
import { INCEPTION_FEATURES, type InceptionNetwork } from './inception.js';

/** A feature network as the streaming helpers use it: images of one shape in, rows out. */
export interface FeatureExtractor {
  /** Features per image. */
  readonly dim: number;
  /** The features of `count` images (NCHW in [-1, 1]), `count * dim` values. */
  features(images: Float32Array, count: number): Promise<Float32Array>;
}

/** FID's Inception-v3 (pool features, 2048) for images of `shape` [C, H, W]. */
export function inceptionExtractor(inception: InceptionNetwork, shape: readonly number[]): FeatureExtractor {
  const [channels, height, width] = shape as [number, number, number];
  return {
    dim: INCEPTION_FEATURES,
    features: (images, count) => inception.features(images, { count, channels, height, width }),
  };
}

/** What one pass over a stream of images computes for each extractor. */
export interface StreamedStats {
  /** Statistics per extractor, in the order given. */
  stats: FeatureStats[];
  /** Images seen. */
  count: number;
  /** Denoiser evaluations per sampled batch (0 for real data). */
  nfe: number;
}

async function accumulate(
  batches: AsyncIterable<{ x: Float32Array; count: number; nfe?: number }>,
  extractors: readonly FeatureExtractor[],
  onBatch?: (x: Float32Array, count: number) => void,
): Promise<StreamedStats> {
  const running = extractors.map((e) => new RunningStats(e.dim));
  let count = 0;
  let nfe = 0;
  for await (const b of batches) {
    nfe = b.nfe ?? 0;
    for (const [k, e] of extractors.entries()) await running[k]?.add(await e.features(b.x, b.count));
    onBatch?.(b.x, b.count);
    count += b.count;
  }
  return { stats: running.map((r) => r.stats()), count, nfe };
}

/**
 * Samples `options.count` images batch by batch and returns the feature statistics of each
 * extractor over all of them; `onBatch` sees each batch (to keep what another metric needs).
 */
export async function sampledStats(
  model: Sampleable,
  options: SampleStreamOptions,
  extractors: readonly FeatureExtractor[],
  onBatch?: (x: Float32Array, count: number) => void,
): Promise<StreamedStats> {
  async function* batches() {
    for await (const b of sampleStream(model, options)) yield { x: b.x, count: b.indices.length, nfe: b.nfe };
  }
  return accumulate(batches(), extractors, onBatch);
}

/**
 * The feature statistics of `count` real images of `data` (all of it when `count` is undefined),
 * read `batch` at a time in the seeded order pfgm eval uses.
 */
export async function datasetStats(
  data: Dataset,
  extractors: readonly FeatureExtractor[],
  options: { count?: number; batch: number; seed: number },
): Promise<StreamedStats> {
  const n = Math.min(options.count ?? data.info.count, data.info.count);
  const order = epochOrder(data.info.count, options.seed, 0).subarray(0, n);
  async function* batches() {
    for (let at = 0; at < n; at += options.batch) {
      const idx = order.subarray(at, Math.min(n, at + options.batch));
      yield { x: (await data.read(idx)).data, count: idx.length };
    }
  }
  return accumulate(batches(), extractors);
}

/** A {@link FeatureExtractor} that also keeps the first `cap` rows it computed (for KID). */
export interface KeepingExtractor extends FeatureExtractor {
  /** The rows kept so far, `kept().length / dim` of them. */
  kept(): Float32Array;
}

/** Wraps `e` so that the first `cap` feature rows it computes are kept. */
export function keeping(e: FeatureExtractor, cap: number): KeepingExtractor {
  const parts: Float32Array[] = [];
  let rows = 0;
  return {
    dim: e.dim,
    async features(images, count) {
      const f = await e.features(images, count);
      if (rows < cap) {
        const take = Math.min(count, cap - rows);
        parts.push(f.slice(0, take * e.dim));
        rows += take;
      }
      return f;
    },
    kept() {
      const out = new Float32Array(rows * e.dim);
      let at = 0;
      for (const p of parts) {
        out.set(p, at);
        at += p.length;
      }
      return out;
    },
  };
}
