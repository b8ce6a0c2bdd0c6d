/**
 * CIFAR-10, binary version (`cifar-10-binary.tar.gz`, folder `cifar-10-batches-bin`).
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PfgmError } from '../errors.js';
import { isDirectory, isFile, MemoryDataset, readWhole, scaleByte } from './common.js';
import type { Dataset } from './dataset.js';
import type { Split } from './idx.js';

/** CIFAR-10's class names, by label 0..9 (as in its batches.meta.txt). */
export const CIFAR10_CLASSES: readonly string[] = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
];

/** Options of {@link cifar10}. */
export interface Cifar10Options {
  /** `train` (data_batch_1..5.bin, 50000 images, the default) or `test` (test_batch.bin, 10000). */
  split?: Split;
}

const RECORD = 1 + 3 * 32 * 32;
const PIXELS = 3 * 32 * 32;
const TRAIN_FILES = [
  'data_batch_1.bin',
  'data_batch_2.bin',
  'data_batch_3.bin',
  'data_batch_4.bin',
  'data_batch_5.bin',
];
const TEST_FILES = ['test_batch.bin'];
const BYTE_TO_UNIT = new Float32Array(256).map((_, v) => scaleByte(v));

/**
 * The folder of the CIFAR-10 binary batches given that folder or its parent (the folder the
 * archive was unpacked into), or undefined. Internal.
 *
 * @internal
 */
export async function findCifar10Dir(dir: string): Promise<string | undefined> {
  for (const d of [dir, join(dir, 'cifar-10-batches-bin')]) {
    if ((await isFile(join(d, 'data_batch_1.bin'))) || (await isFile(join(d, 'test_batch.bin')))) return d;
  }
  return undefined;
}

async function classNamesIn(dir: string): Promise<string[] | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, 'batches.meta.txt'), 'utf8');
  } catch {
    return undefined;
  }
  const names = text
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  return names.length === 10 ? names : undefined;
}

/**
 * Opens CIFAR-10's binary batches: each file is a run of 3073-byte records, 1 label byte (0..9)
 * then 3072 pixel bytes in [C, H, W] order (1024 red, 1024 green, 1024 blue). Samples are images
 * [3, 32, 32] scaled from [0, 255] to [-1, 1] (x / 127.5 - 1) with one-hot labels, `labelDim` 10,
 * class names from `batches.meta.txt` when it is there (else {@link CIFAR10_CLASSES}). The files
 * are read into memory (the training set takes 154 MB).
 *
 * @param dirOrFiles - the `cifar-10-batches-bin` folder (or the folder holding it), or an explicit
 *   list of batch files (then `split` is not used)
 * @param options - see {@link Cifar10Options}
 * @throws PfgmError `ERR_PFGM_ARGUMENT` for a missing folder or batch file, a file whose size is
 *   not a whole number of 3073-byte records, or a label above 9.
 */
export async function cifar10(dirOrFiles: string | readonly string[], options: Cifar10Options = {}): Promise<Dataset> {
  const split = options.split ?? 'train';
  if (split !== 'train' && split !== 'test') {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `cifar10(): split must be 'train' or 'test', got ${JSON.stringify(split)}`,
    );
  }
  let files: string[];
  let metaDir: string;
  if (typeof dirOrFiles === 'string') {
    if (!(await isDirectory(dirOrFiles))) {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `cifar10(): '${dirOrFiles}' is not a folder: give the cifar-10-batches-bin folder of the binary version ` +
          '(cifar-10-binary.tar.gz), or a list of its .bin files',
      );
    }
    const dir = (await findCifar10Dir(dirOrFiles)) ?? dirOrFiles;
    const names = split === 'train' ? TRAIN_FILES : TEST_FILES;
    files = names.map((n) => join(dir, n));
    const missing: string[] = [];
    for (const [i, f] of files.entries()) if (!(await isFile(f))) missing.push(names[i] as string);
    if (missing.length > 0) {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `cifar10(): folder '${dir}' lacks ${missing.join(', ')} of the ${split} split: it needs ${names.join(', ')} ` +
          'from the binary version of CIFAR-10 (cifar-10-binary.tar.gz, not the Python pickles)',
      );
    }
    metaDir = dir;
  } else if (Array.isArray(dirOrFiles) && dirOrFiles.length > 0 && dirOrFiles.every((f) => typeof f === 'string')) {
    files = [...dirOrFiles];
    metaDir = dirname(files[0] as string);
  } else {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `cifar10(): expected a folder or a non-empty list of .bin files, got ${JSON.stringify(dirOrFiles)}`,
    );
  }

  const buffers: Buffer[] = [];
  let count = 0;
  for (const f of files) {
    const b = await readWhole(f, 'CIFAR-10 batch file');
    if (b.length === 0 || b.length % RECORD !== 0) {
      const whole = Math.floor(b.length / RECORD);
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `CIFAR-10 batch file '${f}' has ${b.length} bytes, which is not a whole number of 3073-byte records ` +
          `(1 label + 3072 pixels; a full batch is 10000 records = 30730000 bytes)` +
          (b.length === 0 ? ': it is empty' : `: ${whole} records and ${b.length - whole * RECORD} bytes over`) +
          '; it is truncated or not the binary version, download it again',
      );
    }
    const n = b.length / RECORD;
    for (let r = 0; r < n; r++) {
      const label = b[r * RECORD] as number;
      if (label > 9) {
        throw new PfgmError(
          'ERR_PFGM_ARGUMENT',
          `CIFAR-10 batch file '${f}', record ${r}, has label ${label} (expected 0..9): the file is damaged or ` +
            'not CIFAR-10 (CIFAR-100 records have 2 label bytes)',
        );
      }
    }
    buffers.push(b);
    count += n;
  }

  const fileOf = new Uint16Array(count);
  const recordOf = new Int32Array(count);
  const classes = new Int32Array(count);
  let k = 0;
  for (const [fi, b] of buffers.entries()) {
    const n = b.length / RECORD;
    for (let r = 0; r < n; r++, k++) {
      fileOf[k] = fi;
      recordOf[k] = r;
      classes[k] = b[r * RECORD] as number;
    }
  }
  const classNames = (await classNamesIn(metaDir)) ?? [...CIFAR10_CLASSES];
  return new MemoryDataset(
    {
      name: split === 'train' || typeof dirOrFiles !== 'string' ? 'cifar10' : 'cifar10:test',
      kind: 'image',
      shape: [3, 32, 32],
      count,
      labelDim: 10,
      classNames,
    },
    (i, out, offset) => {
      const b = buffers[fileOf[i] as number] as Buffer;
      const start = (recordOf[i] as number) * RECORD + 1;
      for (let q = 0; q < PIXELS; q++) out[offset + q] = BYTE_TO_UNIT[b[start + q] as number] as number;
    },
    classes,
  );
}
