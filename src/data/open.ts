/**
 * One entry point for every data source, chosen from a source string, and horizontal flips for
 * image augmentation.
 *
 * @module
 */
import { readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { PfgmError } from '../errors.js';
import { cifar10, findCifar10Dir } from './cifar10.js';
import { isDirectory, isFile } from './common.js';
import { csv } from './csv.js';
import type { Batch, Dataset, DatasetInfo } from './dataset.js';
import { sampleSize } from './dataset.js';
import { fashionMnist, findMnistFiles, idx, MNIST_CLASSES, type Split } from './idx.js';
import { npy } from './npy.js';
import { type ToyName, toy, toyNames } from './toy.js';

/** Options of {@link openDataset}; each source uses the ones that concern it. */
export interface OpenDatasetOptions {
  /**
   * `train` (default) or `test`, for an MNIST or CIFAR-10 folder (`fashion-mnist:test` says it in
   * the source).
   */
  split?: Split;
  /**
   * A labels file for a .npy (a .npy of class indices) or an IDX images file (an IDX labels file).
   * For an IDX images file named `...images-idx3-ubyte[.gz]`, the `...labels-idx1-ubyte[.gz]`
   * beside it is used when this is not given; `false` turns that off. For `toy:<name>`, `true`
   * labels each point with its mixture component. For image folders and .zip files, `true`
   * requires labels and `false` drops them (left out: labels when the source has them).
   */
  labels?: string | boolean;
  /** .csv: the label column, as `labelColumn` of {@link csv}. */
  labelColumn?: number | string;
  /** .npy: `vector` or `image`, as `kind` of {@link npy}. */
  kind?: 'vector' | 'image';
  /** .npy: axis order of 4-D images, as `layout` of {@link npy}. */
  layout?: 'nchw' | 'nhwc';
  /** .npy: range of the stored pixel values, as `range` of {@link npy}. */
  range?: [number, number];
  /**
   * Image folders and .zip files: the side of the square images to produce (images are
   * center-cropped and resampled); left out, all images must have one size.
   */
  resolution?: number;
  /** Image folders and .zip files: 1 (grayscale) or 3 (RGB) channels; left out, the first image decides. */
  channels?: 1 | 3;
  /** `toy:<name>`: number of samples (default 10000). */
  count?: number;
  /** `toy:<name>`: seed (default 0). */
  seed?: number;
}

const ACCEPTED =
  "'fashion-mnist' or 'fashion-mnist:test' (Debian's dataset-fashion-mnist), " +
  `'toy:<name>' (${toyNames.join(', ')}), a .csv file, a .npy file, an IDX file (*-ubyte, plain or .gz), ` +
  'a folder of MNIST files, a CIFAR-10 binary folder (data_batch_1.bin ...), a folder of PNG images, or a .zip of images';

function unknown(source: string, why: string): never {
  throw new PfgmError('ERR_PFGM_ARGUMENT', `openDataset('${source}'): ${why}. Accepted sources: ${ACCEPTED}`);
}

/** Imports a module written beside this one, which may not be built in. */
async function delegate(
  module: string,
  exportName: string,
  path: string,
  what: string,
  options: OpenDatasetOptions,
): Promise<Dataset> {
  if (typeof options.labels === 'string') {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `openDataset('${path}'): ${what} take labels: true or false (from their folders or dataset.json), not a labels file`,
    );
  }
  const forwarded = {
    ...(options.resolution !== undefined ? { resolution: options.resolution } : {}),
    ...(options.channels !== undefined ? { channels: options.channels } : {}),
    ...(options.labels !== undefined ? { labels: options.labels } : {}),
  };
  const specifier = `./${module}.js`;
  let loaded: Record<string, unknown>;
  try {
    loaded = (await import(specifier)) as Record<string, unknown>;
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    const message = error instanceof Error ? error.message : String(error);
    if (code === 'ERR_MODULE_NOT_FOUND' || message.includes(module)) {
      throw new PfgmError(
        'ERR_PFGM_LOAD',
        `openDataset('${path}'): ${what} need the module data/${module}.js, which this build of pfgm lacks`,
        { cause: error },
      );
    }
    throw error;
  }
  const open = loaded[exportName];
  if (typeof open !== 'function') {
    throw new PfgmError('ERR_PFGM_INTERNAL', `data/${module}.js does not export ${exportName}(): please report this`);
  }
  return (await (open as (path: string, options: object) => Promise<Dataset> | Dataset)(path, forwarded)) as Dataset;
}

const IDX_NAME = /(ubyte|\.idx\d?)(\.gz)?$/i;

/** The labels file beside an IDX images file, if there is one. */
async function siblingLabels(path: string): Promise<string | undefined> {
  const name = basename(path);
  const swapped = name.replace(/images([-.])idx3/i, 'labels$1idx1');
  if (swapped === name) return undefined;
  const plain = swapped.replace(/\.gz$/i, '');
  for (const candidate of [plain, `${plain}.gz`]) {
    const p = join(dirname(path), candidate);
    if (await isFile(p)) return p;
  }
  return undefined;
}

function labelsPath(options: OpenDatasetOptions, source: string): string | undefined {
  const { labels } = options;
  if (labels === undefined || labels === false) return undefined;
  if (typeof labels !== 'string') {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `openDataset('${source}'): labels must be the path of a labels file here, got ${JSON.stringify(labels)}`,
    );
  }
  return labels;
}

/**
 * Opens a dataset from a source string:
 *
 * - `fashion-mnist`, `fashion-mnist:train`, `fashion-mnist:test`: {@link fashionMnist}
 *   (Debian's `dataset-fashion-mnist` package);
 * - `toy:<name>` (`toy:moons`, ...): {@link toy} with `count`, `seed`, `labels`;
 * - a path ending in `.csv`: {@link csv} with `labelColumn`;
 * - a path ending in `.npy`: {@link npy} with `labels`, `kind`, `layout`, `range`;
 * - an IDX images file (name ending in `ubyte` or `.idx3`, optionally `.gz`, or any other `.gz`):
 *   {@link idx}, with the labels file beside it (see {@link OpenDatasetOptions.labels});
 * - a folder holding MNIST-style files (`train-images-idx3-ubyte[.gz]`, ...: MNIST,
 *   Fashion-MNIST, KMNIST) or CIFAR-10 binary batches ({@link cifar10}), with `split`;
 * - any other folder: a folder of PNG images, by `imageFolder(path, options)` of
 *   data/imageFolder.js, with `resolution`, `channels`, `labels`;
 * - a path ending in `.zip`: a zip of images, by `zipDataset(path, options)` of data/zip.js, with
 *   `resolution`, `channels`, `labels`.
 *
 * @param source - what to open
 * @param options - see {@link OpenDatasetOptions}
 * @throws PfgmError `ERR_PFGM_ARGUMENT` for a source that is none of these (the message lists
 *   them) or a path that does not exist, `ERR_PFGM_LOAD` when the image-folder or zip reader is
 *   not part of this build, and the errors of the source's reader.
 */
export async function openDataset(source: string, options: OpenDatasetOptions = {}): Promise<Dataset> {
  if (typeof source !== 'string' || source.trim().length === 0) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `openDataset(): source must be a non-empty string, got ${JSON.stringify(source)}. Accepted sources: ${ACCEPTED}`,
    );
  }
  const split = options.split;
  const fm = /^fashion-mnist(?::(train|test))?$/i.exec(source);
  if (fm !== null) {
    return fashionMnist({ split: (fm[1]?.toLowerCase() as Split | undefined) ?? split ?? 'train' });
  }
  if (source.startsWith('toy:')) {
    const name = source.slice(4);
    if (!(toyNames as readonly string[]).includes(name)) {
      unknown(source, `there is no toy dataset '${name}' (toy datasets: ${toyNames.join(', ')})`);
    }
    return toy(name as ToyName, {
      ...(options.count !== undefined ? { count: options.count } : {}),
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
      labels: options.labels === true,
    });
  }
  const lower = source.toLowerCase();
  if (lower.endsWith('.csv')) {
    return csv(source, options.labelColumn !== undefined ? { labelColumn: options.labelColumn } : {});
  }
  if (lower.endsWith('.npy')) {
    const labels = labelsPath(options, source);
    return npy(source, {
      ...(labels !== undefined ? { labels } : {}),
      ...(options.kind !== undefined ? { kind: options.kind } : {}),
      ...(options.layout !== undefined ? { layout: options.layout } : {}),
      ...(options.range !== undefined ? { range: options.range } : {}),
    });
  }
  if (lower.endsWith('.zip')) return delegate('zip', 'zipDataset', source, 'zip files of images', options);
  if (IDX_NAME.test(source) || lower.endsWith('.gz')) {
    const labels =
      options.labels === false ? undefined : (labelsPath(options, source) ?? (await siblingLabels(source)));
    return idx(source, {
      ...(labels !== undefined ? { labels } : {}),
      ...(/mnist/i.test(source) && !/fashion/i.test(source) ? { classNames: MNIST_CLASSES } : {}),
    });
  }
  if (await isDirectory(source)) {
    let entries: string[];
    try {
      entries = await readdir(source);
    } catch (error) {
      throw new PfgmError('ERR_PFGM_ARGUMENT', `openDataset('${source}'): the folder cannot be read`, {
        cause: error,
      });
    }
    if (entries.length === 0) unknown(source, 'the folder is empty');
    const s = split ?? 'train';
    const cifarDir = await findCifar10Dir(source);
    if (cifarDir !== undefined) return cifar10(cifarDir, { split: s });
    const mnistFiles = await findMnistFiles(source, s);
    if (mnistFiles !== undefined) {
      return idx(mnistFiles.images, {
        ...(mnistFiles.labels !== undefined ? { labels: mnistFiles.labels } : {}),
        name: `${basename(source)}${s === 'test' ? ':test' : ''}`,
      });
    }
    const other = s === 'train' ? 'test' : 'train';
    if ((await findMnistFiles(source, other)) !== undefined) {
      const name = s === 'train' ? 'train-images-idx3-ubyte' : 't10k-images-idx3-ubyte';
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `openDataset('${source}'): the folder holds MNIST-style ${other} files but not the ${s} split ` +
          `(${name} or ${name}.gz): add them, or ask for split: '${other}'`,
      );
    }
    return delegate('imageFolder', 'imageFolder', source, 'folders of images', options);
  }
  if (await isFile(source)) unknown(source, 'the file type is not recognized from its name');
  return unknown(source, 'no such file or folder, and not a named dataset');
}

/**
 * Mirrors images left-right in place (reverses each row of every channel) for the samples whose
 * flag is 1, leaving those whose flag is 0; the trainer draws the flags (EDM's xflip augmentation
 * flips each image with probability 1/2).
 *
 * @param batch - the batch (or its `data`) of `flags.length` samples
 * @param info - the dataset's info; it must be an `image` dataset
 * @param flags - one 0 or 1 per sample
 * @returns the flipped data (the same array)
 * @throws PfgmError `ERR_PFGM_ARGUMENT` for a vector dataset or flags other than 0 and 1,
 *   `ERR_PFGM_SHAPE` when the data does not hold `flags.length` samples.
 */
export function xflip(batch: Batch | Float32Array, info: DatasetInfo, flags: Uint8Array): Float32Array {
  const data = batch instanceof Float32Array ? batch : batch.data;
  if (info.kind !== 'image' || info.shape.length !== 3) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `xflip(): '${info.name}' holds ${info.kind}s of shape [${info.shape}]; only images [C, H, W] can be flipped`,
    );
  }
  if (!(flags instanceof Uint8Array)) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', 'xflip(): flags must be a Uint8Array of 0 or 1 per sample');
  }
  const size = sampleSize(info);
  if (!(data instanceof Float32Array) || data.length !== flags.length * size) {
    throw new PfgmError(
      'ERR_PFGM_SHAPE',
      `xflip(): got ${data?.length} values for ${flags.length} flags, expected ${flags.length} samples of ` +
        `[${info.shape}] (${flags.length * size} values)`,
    );
  }
  for (let n = 0; n < flags.length; n++) {
    const f = flags[n] as number;
    if (f !== 0 && f !== 1) {
      throw new PfgmError('ERR_PFGM_ARGUMENT', `xflip(): flags[${n}] is ${f}; flags must be 0 (keep) or 1 (flip)`);
    }
  }
  const W = info.shape[2] as number;
  const rows = size / W;
  for (let n = 0; n < flags.length; n++) {
    if (flags[n] === 0) continue;
    for (let r = 0; r < rows; r++) {
      const start = n * size + r * W;
      data.subarray(start, start + W).reverse();
    }
  }
  return data;
}
