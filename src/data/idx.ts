/**
 * MNIST-style IDX files (plain or gzip-compressed): uint8 images [n, rows, cols] and uint8 labels
 * [n], and the MNIST / Fashion-MNIST file sets built on them.
 *
 * @module
 */
import { join } from 'node:path';
import { PfgmError } from '../errors.js';
import { baseName, isDirectory, isFile, MemoryDataset, readMaybeGzip, scaleByte } from './common.js';
import type { Dataset } from './dataset.js';

/** Where Debian's `dataset-fashion-mnist` package installs Fashion-MNIST. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** Fashion-MNIST's class names, by label 0..9. */
export const FASHION_MNIST_CLASSES: readonly string[] = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

/** MNIST's class names, by label 0..9. */
export const MNIST_CLASSES: readonly string[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

/** Options of {@link idx}. */
export interface IdxOptions {
  /** The matching IDX labels file (magic 0x00000801), plain or .gz. */
  labels?: string;
  /** Number of classes of the labels (default 10); every label must be below it. */
  labelDim?: number;
  /** Class names by label, e.g. {@link FASHION_MNIST_CLASSES}. */
  classNames?: readonly string[];
  /** The dataset's name in logs (default: the images file's name). */
  name?: string;
}

/** Which half of a dataset to read. */
export type Split = 'train' | 'test';

/** Options of {@link mnist}. */
export interface MnistOptions {
  /** `train` (60000 images, the default) or `test` (10000). */
  split?: Split;
}

/** Options of {@link fashionMnist}. */
export interface FashionMnistOptions {
  /** `train` (60000 images, the default) or `test` (10000). */
  split?: Split;
  /** The folder holding the four .gz files (default {@link FASHION_MNIST_DIR}). */
  dir?: string;
}

const IMAGES_MAGIC = 0x00000803;
const LABELS_MAGIC = 0x00000801;

const BYTE_TO_UNIT = new Float32Array(256).map((_, v) => scaleByte(v));

function hex(v: number): string {
  return `0x${v.toString(16).padStart(8, '0')}`;
}

function checkMagic(path: string, what: string, bytes: Uint8Array, expected: number): void {
  if (bytes.length < 4) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `IDX ${what} file '${path}' is ${bytes.length === 0 ? 'empty' : `only ${bytes.length} bytes long`}: ` +
        'it is not an IDX file; download it again',
    );
  }
  const magic = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, false);
  if (magic === expected) return;
  let hint = 'this is not an MNIST-style IDX file';
  if (magic === LABELS_MAGIC) hint = 'this is a labels file; pass the images file first and the labels as { labels }';
  if (magic === IMAGES_MAGIC) hint = 'this is an images file, not a labels file';
  throw new PfgmError(
    'ERR_PFGM_ARGUMENT',
    `IDX ${what} file '${path}' has magic number ${hex(magic)}, expected ${hex(expected)} (uint8 ${what}): ${hint}`,
  );
}

function checkSize(path: string, what: string, bytes: Uint8Array, expected: number, shape: string): void {
  if (bytes.length === expected) return;
  const gz = path.endsWith('.gz') ? ' (after decompression)' : '';
  if (bytes.length < expected) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `IDX ${what} file '${path}' is truncated: its header says ${shape}, which needs ${expected} bytes, but ` +
        `${bytes.length} are present${gz} (${expected - bytes.length} missing); download it again`,
    );
  }
  throw new PfgmError(
    'ERR_PFGM_ARGUMENT',
    `IDX ${what} file '${path}' has ${bytes.length - expected} bytes more than its header's ${shape} needs ` +
      `(${expected} expected, ${bytes.length} present${gz}): it is damaged; download it again`,
  );
}

/**
 * Opens an IDX images file (magic 0x00000803: uint8 [n, rows, cols], as in MNIST and
 * Fashion-MNIST), plain or gzip-compressed (detected from the content), as an `image` dataset of
 * shape [1, rows, cols] scaled from [0, 255] to [-1, 1] (x / 127.5 - 1). With `labels`, an IDX
 * labels file (magic 0x00000801), samples carry one-hot labels (`labelDim` 10 unless given).
 * The files are read into memory (60000 MNIST images take 47 MB).
 *
 * @param imagesPath - the images file
 * @param options - see {@link IdxOptions}
 * @throws PfgmError `ERR_PFGM_ARGUMENT` for a missing, empty, damaged or truncated file, a wrong
 *   magic number or a label >= labelDim; `ERR_PFGM_SHAPE` when the two files count differently.
 */
export async function idx(imagesPath: string, options: IdxOptions = {}): Promise<Dataset> {
  const images = await readMaybeGzip(imagesPath, 'IDX images file');
  checkMagic(imagesPath, 'images', images, IMAGES_MAGIC);
  if (images.length < 16) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `IDX images file '${imagesPath}' is truncated inside its 16-byte header (${images.length} bytes present)`,
    );
  }
  const head = new DataView(images.buffer, images.byteOffset, 16);
  const count = head.getUint32(4, false);
  const rows = head.getUint32(8, false);
  const cols = head.getUint32(12, false);
  const pixels = rows * cols;
  checkSize(imagesPath, 'images', images, 16 + count * pixels, `${count} images of ${rows} x ${cols}`);
  if (count === 0 || pixels === 0) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `IDX images file '${imagesPath}' holds no images (${count} of ${rows} x ${cols})`,
    );
  }

  const labelDim = options.labelDim ?? 10;
  if (!Number.isInteger(labelDim) || labelDim < 1 || labelDim > 256) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `idx(): labelDim must be an integer in [1, 256], got ${JSON.stringify(labelDim)}`,
    );
  }
  let classes: Int32Array | undefined;
  if (options.labels !== undefined) {
    const labelsPath = options.labels;
    const labels = await readMaybeGzip(labelsPath, 'IDX labels file');
    checkMagic(labelsPath, 'labels', labels, LABELS_MAGIC);
    if (labels.length < 8) {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `IDX labels file '${labelsPath}' is truncated inside its 8-byte header (${labels.length} bytes present)`,
      );
    }
    const n = new DataView(labels.buffer, labels.byteOffset, 8).getUint32(4, false);
    checkSize(labelsPath, 'labels', labels, 8 + n, `${n} labels`);
    if (n !== count) {
      throw new PfgmError(
        'ERR_PFGM_SHAPE',
        `IDX labels file '${labelsPath}' has ${n} labels but images file '${imagesPath}' has ${count} images: ` +
          'they must come from the same split (train with train, t10k with t10k)',
      );
    }
    classes = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const c = labels[8 + i] as number;
      if (c >= labelDim) {
        throw new PfgmError(
          'ERR_PFGM_ARGUMENT',
          `IDX labels file '${labelsPath}' has label ${c} at position ${i}, but labelDim is ${labelDim}: ` +
            `pass { labelDim: ${c + 1} } (or more) for this dataset`,
        );
      }
      classes[i] = c;
    }
  }
  const classNames = options.classNames !== undefined && classes !== undefined ? [...options.classNames] : undefined;
  if (classNames !== undefined && classNames.length !== labelDim) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `idx(): classNames has ${classNames.length} names but labelDim is ${labelDim}: give one name per class`,
    );
  }
  const data = images.subarray(16);
  return new MemoryDataset(
    {
      name: options.name ?? baseName(imagesPath),
      kind: 'image',
      shape: [1, rows, cols],
      count,
      labelDim: classes === undefined ? 0 : labelDim,
      ...(classNames !== undefined ? { classNames } : {}),
    },
    (i, out, offset) => {
      const start = i * pixels;
      for (let k = 0; k < pixels; k++) out[offset + k] = BYTE_TO_UNIT[data[start + k] as number] as number;
    },
    classes,
  );
}

/** The first of `names` (each tried plain and .gz) that is a file in `dir`, else undefined. */
async function findFile(dir: string, names: string[]): Promise<string | undefined> {
  for (const name of names) {
    for (const candidate of [name, `${name}.gz`]) {
      const path = join(dir, candidate);
      if (await isFile(path)) return path;
    }
  }
  return undefined;
}

function splitOf(fn: string, split: unknown): Split {
  const s = split ?? 'train';
  if (s !== 'train' && s !== 'test') {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `${fn}: split must be 'train' or 'test', got ${JSON.stringify(split)}`);
  }
  return s;
}

/** The standard file names of one split, in the two spellings found in the wild. */
function mnistNames(split: Split): { images: string[]; labels: string[] } {
  const p = split === 'train' ? 'train' : 't10k';
  return {
    images: [`${p}-images-idx3-ubyte`, `${p}-images.idx3-ubyte`],
    labels: [`${p}-labels-idx1-ubyte`, `${p}-labels.idx1-ubyte`],
  };
}

/**
 * Finds the MNIST-style image and label files of a split in a folder (names such as
 * `train-images-idx3-ubyte[.gz]`), or undefined when the images are missing. Internal.
 *
 * @internal
 */
export async function findMnistFiles(
  dir: string,
  split: Split,
): Promise<{ images: string; labels: string | undefined } | undefined> {
  const names = mnistNames(split);
  const images = await findFile(dir, names.images);
  if (images === undefined) return undefined;
  return { images, labels: await findFile(dir, names.labels) };
}

/**
 * Opens MNIST from a folder holding its standard files (`train-images-idx3-ubyte`,
 * `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each plain or
 * .gz; `train-images.idx3-ubyte` spellings are accepted too): images [1, 28, 28] in [-1, 1] and,
 * when the labels file is there, one-hot labels of 10 classes named '0'..'9'.
 *
 * @param dir - the folder
 * @param options - see {@link MnistOptions}
 * @throws PfgmError `ERR_PFGM_ARGUMENT` when the folder or the images file is missing, and as
 *   {@link idx}.
 */
export async function mnist(dir: string, options: MnistOptions = {}): Promise<Dataset> {
  const split = splitOf('mnist()', options.split);
  if (!(await isDirectory(dir))) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `mnist(): '${dir}' is not a folder: give the folder of the MNIST files`);
  }
  const files = await findMnistFiles(dir, split);
  if (files === undefined) {
    const names = mnistNames(split).images;
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `mnist(): folder '${dir}' has no ${split} images: expected one of ${names.flatMap((n) => [n, `${n}.gz`]).join(', ')}`,
    );
  }
  return idx(files.images, {
    ...(files.labels !== undefined ? { labels: files.labels } : {}),
    classNames: MNIST_CLASSES,
    name: split === 'train' ? 'mnist' : 'mnist:test',
  });
}

/**
 * Opens Fashion-MNIST as installed by Debian's `dataset-fashion-mnist` package
 * (`apt-get install dataset-fashion-mnist`, files in {@link FASHION_MNIST_DIR}): 60000 train or
 * 10000 test images [1, 28, 28] in [-1, 1] with one-hot labels of 10 classes named as in
 * {@link FASHION_MNIST_CLASSES} (the first training image is an 'Ankle boot', label 9).
 *
 * @param options - see {@link FashionMnistOptions}
 * @throws PfgmError `ERR_PFGM_ARGUMENT` when the files are not installed, and as {@link idx}.
 */
export async function fashionMnist(options: FashionMnistOptions = {}): Promise<Dataset> {
  const split = splitOf('fashionMnist()', options.split);
  const dir = options.dir ?? FASHION_MNIST_DIR;
  const files = (await isDirectory(dir)) ? await findMnistFiles(dir, split) : undefined;
  if (files === undefined || files.labels === undefined) {
    const names = mnistNames(split);
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `Fashion-MNIST is not installed: '${dir}' has no ${names.images[0]}.gz and ${names.labels[0]}.gz. ` +
        `Install it with 'apt-get install dataset-fashion-mnist' (Debian/Ubuntu), or download the four files ` +
        'into a folder and pass it as { dir }',
    );
  }
  return idx(files.images, {
    labels: files.labels,
    classNames: FASHION_MNIST_CLASSES,
    name: split === 'train' ? 'fashion-mnist' : 'fashion-mnist:test',
  });
}
