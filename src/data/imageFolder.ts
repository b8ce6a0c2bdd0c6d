/**
 * A folder of PNG images as a {@link Dataset}, read lazily: opening lists the files and reads
 * only each file's 33-byte header (to check sizes and formats up front); pixels are decoded when
 * {@link Dataset.read} asks for them, so a folder larger than memory trains by streaming.
 *
 * Labels come, in this order, from a `dataset.json` at the top of the folder in EDM's format
 * (`{"labels": [["00000/img00000000.png", 6], ...]}`, or `null` for none) or, when there is none,
 * from the names of the top-level subfolders (see {@link ImageDatasetOptions.labels}).
 *
 * @module
 */

import { open, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import { decodeJpeg, isJpeg, readJpegHeader } from '../codecs/jpeg.js';
import {
  decodePng,
  type PNG_MAX_PIXELS,
  type PngHeader,
  type PngImage,
  pngPixelLimit,
  readPngHeader,
} from '../codecs/png.js';
import { PfgmError } from '../errors.js';
import { checkInteger } from '../validate.js';
import type { Batch, Dataset, DatasetInfo } from './dataset.js';
import { headBytes, IMAGE_NAME, isPng } from './imageFormats.js';

/** Options of {@link imageFolder} and `zipDataset`. */
export interface ImageDatasetOptions {
  /**
   * Side of the square images to produce. When given, every image is center-cropped to a square
   * and resampled to `resolution` x `resolution` with a box (area-averaging) filter, so images of
   * different sizes may be mixed. When left out, all images must have the size of the first.
   */
  resolution?: number;
  /**
   * Channels to produce: 1 (grayscale) or 3 (RGB). When given, grayscale images are repeated to
   * RGB and RGB images reduced to luma (`L = (299 R + 587 G + 114 B) / 1000`, as PIL does), so
   * both may be mixed. When left out, the first image decides and all must match it. Alpha is
   * always dropped (gray+alpha counts as grayscale, RGBA and palette images as RGB).
   */
  channels?: 1 | 3;
  /**
   * Whether to return class labels. Left out: labels when the source has them (a `dataset.json`
   * with labels, or, for a folder, every image inside one of two or more top-level subfolders).
   * `false`: never. `true`: labels are required and their absence is an error (a folder with a
   * single subfolder then gets one class).
   */
  labels?: boolean;
  /**
   * The largest image accepted, in pixels; larger ones are refused from their header, before
   * they are decoded (default: `PFGM_PNG_MAX_PIXELS`, else 64 Mpx; see {@link PNG_MAX_PIXELS}).
   */
  maxPixels?: number;
}

/**
 * A PNG file that a lazily read image dataset holds, and how to read it.
 *
 * @internal
 */
export interface PngSource {
  /** Names the image in error messages. */
  name: string;
  /** Reads the whole file. */
  readAll(): Promise<Uint8Array>;
}

/**
 * Everything {@link createPngDataset} needs to serve reads.
 *
 * @internal
 */
export interface PngDatasetSpec {
  name: string;
  sources: readonly PngSource[];
  shape: readonly [number, number, number];
  /** When true, images are cropped and resampled to the shape; else their size must match it. */
  resize: boolean;
  classes?: Int32Array;
  labelDim: number;
  classNames?: string[];
  /** Error text naming the file that set the shape, for mismatch messages. */
  firstName: string;
  /** Releases the source's resources. */
  release(): Promise<void>;
  /** The pixel limit of decoding (default: the decoder's, {@link pngPixelLimit}). */
  maxPixels?: number;
}

/** Grayscale (1) or colour (3) channel count of a PNG, ignoring alpha. */
function colourChannels(header: Pick<PngHeader, 'colorType'> | PngImage): 1 | 3 {
  if ('colorType' in header) return header.colorType === 0 || header.colorType === 4 ? 1 : 3;
  return header.channels <= 2 ? 1 : 3;
}

/** Box-filter weights of a resampling from `n` to `m` samples along one axis, after a crop. */
function boxWeights(n: number, start: number, length: number, m: number): { index: number[]; weight: number[] }[] {
  const scale = length / m;
  const out: { index: number[]; weight: number[] }[] = [];
  for (let j = 0; j < m; j++) {
    const lo = start + j * scale;
    const hi = lo + scale;
    const index: number[] = [];
    const weight: number[] = [];
    for (let i = Math.floor(lo); i < Math.min(n, Math.ceil(hi)); i++) {
      const w = Math.min(hi, i + 1) - Math.max(lo, i);
      if (w > 1e-12) {
        index.push(i);
        weight.push(w / scale);
      }
    }
    out.push({ index, weight });
  }
  return out;
}

/**
 * Converts a decoded PNG into one [C, H, W] sample scaled to [-1, 1] (`v / 127.5 - 1`), written
 * into `out` at `offset`: alpha dropped, channels converted to `shape[0]` (1 or 3) as
 * {@link ImageDatasetOptions.channels} describes, and, when the image is not already H x W,
 * center-cropped to the aspect ratio of H x W and box-resampled.
 *
 * @param image - a decoded PNG
 * @param shape - [C, H, W] of the sample, C 1 or 3
 * @param out - destination
 * @param offset - index in `out` of the sample's first value
 * @throws PfgmError `ERR_PFGM_SHAPE` when `shape` is not [1 or 3, H, W] or `out` is too short
 */
export function pngToSample(
  image: PngImage,
  shape: readonly [number, number, number],
  out: Float32Array,
  offset = 0,
): void {
  const [C, H, W] = shape;
  if ((C !== 1 && C !== 3) || !(H > 0) || !(W > 0) || offset + C * H * W > out.length) {
    throw new PfgmError(
      'ERR_PFGM_SHAPE',
      `pngToSample: shape must be [1 or 3, H, W] with room in out for C*H*W values, got [${shape.join(', ')}] at offset ${offset} of ${out.length}`,
    );
  }
  const { width, height, channels: s, data } = image;
  // Planes of the image at its own size, in 0..255, with the target channel count.
  const plane = width * height;
  const planes = new Float32Array(C * plane);
  for (let p = 0; p < plane; p++) {
    const at = p * s;
    if (s <= 2) {
      const g = data[at] as number;
      for (let c = 0; c < C; c++) planes[c * plane + p] = g;
    } else {
      const r = data[at] as number;
      const g = data[at + 1] as number;
      const b = data[at + 2] as number;
      if (C === 3) {
        planes[p] = r;
        planes[plane + p] = g;
        planes[2 * plane + p] = b;
      } else {
        planes[p] = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16; // PIL's L conversion
      }
    }
  }
  if (width === W && height === H) {
    for (let i = 0; i < C * plane; i++) out[offset + i] = (planes[i] as number) / 127.5 - 1;
    return;
  }
  // Center crop to the target aspect ratio, then box-resample each axis.
  let cropW = width;
  let cropH = height;
  if (width * H > height * W) cropW = (height * W) / H;
  else cropH = (width * H) / W;
  const xs = boxWeights(width, (width - cropW) / 2, cropW, W);
  const ys = boxWeights(height, (height - cropH) / 2, cropH, H);
  const rows = new Float32Array(height * W);
  for (let c = 0; c < C; c++) {
    const base = c * plane;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < W; x++) {
        const { index, weight } = xs[x] as { index: number[]; weight: number[] };
        let v = 0;
        for (let k = 0; k < index.length; k++)
          v += (planes[base + y * width + (index[k] as number)] as number) * (weight[k] as number);
        rows[y * W + x] = v;
      }
    }
    for (let y = 0; y < H; y++) {
      const { index, weight } = ys[y] as { index: number[]; weight: number[] };
      for (let x = 0; x < W; x++) {
        let v = 0;
        for (let k = 0; k < index.length; k++)
          v += (rows[(index[k] as number) * W + x] as number) * (weight[k] as number);
        out[offset + c * H * W + y * W + x] = v / 127.5 - 1;
      }
    }
  }
}

/** Runs `work(i)` for i in [0, n) with at most `limit` in flight. */
async function pool(n: number, limit: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      await work(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
}

/**
 * Checks the headers of all images against the first one and works out the sample shape.
 *
 * @internal
 */
export async function scanPngHeaders(
  what: string,
  names: readonly string[],
  readHead: (i: number) => Promise<Uint8Array>,
  options: ImageDatasetOptions,
): Promise<[number, number, number]> {
  const headers: PngHeader[] = new Array(names.length);
  const maxPixels = options.maxPixels;
  await pool(names.length, 16, async (i) => {
    let head: Uint8Array;
    try {
      head = await readHead(i);
    } catch (e) {
      if (e instanceof PfgmError) throw e;
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `${names[i]}: cannot read the file (${(e as Error).message}); check that it exists and is readable`,
        { cause: e },
      );
    }
    const name = names[i] as string;
    // By content; a file named .jpg that is neither format gets the JPEG reader's message.
    const jpegLike = isJpeg(head) || (!isPng(head) && /\.jpe?g\)?$/i.test(name));
    headers[i] = (
      jpegLike ? readJpegHeader(head, name, { maxPixels }) : readPngHeader(head, name, { maxPixels })
    ) as PngHeader;
  });
  const first = headers[0] as PngHeader;
  const firstName = names[0] as string;
  const C = options.channels ?? colourChannels(first);
  for (let i = 1; i < headers.length; i++) {
    const h = headers[i] as PngHeader;
    if (options.resolution === undefined && (h.width !== first.width || h.height !== first.height)) {
      throw new PfgmError(
        'ERR_PFGM_SHAPE',
        `${what}: ${names[i]} is ${h.width}x${h.height} but ${firstName} (the first image) is ${first.width}x${first.height}; ` +
          'all images must have the same size: resize them, or pass resolution to crop and resample every image',
      );
    }
    if (options.channels === undefined && colourChannels(h) !== C) {
      const kind = (c: number): string => (c === 1 ? 'grayscale' : 'RGB');
      throw new PfgmError(
        'ERR_PFGM_SHAPE',
        `${what}: ${names[i]} is ${kind(colourChannels(h))} but ${firstName} (the first image) is ${kind(C)}; ` +
          'all images must have the same channels: convert them, or pass channels: 1 or 3 to convert on load',
      );
    }
  }
  if (options.resolution !== undefined) return [C, options.resolution, options.resolution];
  return [C, first.height, first.width];
}

/**
 * Checks `imageFolder` / `zipDataset` options.
 *
 * @internal
 */
export function checkImageOptions(what: string, options: ImageDatasetOptions): void {
  if (options.resolution !== undefined) checkInteger(`${what}: resolution`, options.resolution, 1, 65536);
  if (options.channels !== undefined && options.channels !== 1 && options.channels !== 3) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `${what}: channels must be 1 or 3, got ${String(options.channels)}`);
  }
  if (options.maxPixels !== undefined) pngPixelLimit({ maxPixels: options.maxPixels });
  if (options.labels !== undefined && typeof options.labels !== 'boolean') {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `${what}: labels must be true or false, got ${String(options.labels)}`);
  }
}

/**
 * Parses EDM's `dataset.json` and returns each image's class, by image name, or `null` when the
 * file says `"labels": null` (or has no `labels`).
 *
 * @internal
 */
export function parseDatasetJson(where: string, text: string): Map<string, number> | null {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `${where}: not valid JSON (${(e as Error).message}); fix or delete the file`,
      { cause: e },
    );
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `${where}: expected an object like {"labels": [["00000/img00000000.png", 6], ...]}; fix or delete the file`,
    );
  }
  const labels = (json as { labels?: unknown }).labels;
  if (labels === null || labels === undefined) return null;
  if (!Array.isArray(labels)) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `${where}: "labels" must be a list of [file name, class] pairs or null`);
  }
  const map = new Map<string, number>();
  for (const [i, pair] of labels.entries()) {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string') {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `${where}: labels[${i}] must be a [file name, class] pair, got ${JSON.stringify(pair)}`,
      );
    }
    const label: unknown = pair[1];
    if (typeof label !== 'number' || !Number.isInteger(label) || label < 0 || label > 0x7fffffff) {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `${where}: the label of ${pair[0]} is ${JSON.stringify(label)}; only integer class labels >= 0 are supported ` +
          '(not vector labels): rewrite the labels as class indices',
      );
    }
    map.set(pair[0].replaceAll('\\', '/'), label);
  }
  return map;
}

/**
 * Looks up the class of every image in a `dataset.json` label map.
 *
 * @internal
 */
export function classesFromMap(where: string, names: readonly string[], map: Map<string, number>): Int32Array {
  const classes = new Int32Array(names.length);
  for (const [i, name] of names.entries()) {
    const label = map.get(name);
    if (label === undefined) {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `${where}: no label for ${name}; add it to "labels", or set "labels": null to train without labels`,
      );
    }
    classes[i] = label;
  }
  return classes;
}

/**
 * Builds the lazily read {@link Dataset} shared by {@link imageFolder} and `zipDataset`.
 *
 * @internal
 */
export function createPngDataset(spec: PngDatasetSpec): Dataset {
  const { sources, shape, classes, labelDim } = spec;
  const [C, H, W] = shape;
  const size = C * H * W;
  const count = sources.length;
  const info: DatasetInfo = { name: spec.name, kind: 'image', shape: [C, H, W], count, labelDim };
  if (spec.classNames !== undefined) info.classNames = spec.classNames;
  let closed = false;
  return {
    info,
    async read(indices: ArrayLike<number>): Promise<Batch> {
      if (closed) {
        throw new PfgmError('ERR_PFGM_DISPOSED', `${spec.name}: the dataset was closed; open it again to read`);
      }
      const n = indices.length;
      for (let k = 0; k < n; k++) {
        const i = indices[k];
        if (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i >= count) {
          throw new PfgmError(
            'ERR_PFGM_ARGUMENT',
            `${spec.name}: index ${String(i)} (at position ${k}) is outside [0, ${count}); the dataset has ${count} images`,
          );
        }
      }
      const data = new Float32Array(n * size);
      await pool(n, 8, async (k) => {
        const source = sources[indices[k] as number] as PngSource;
        let bytes: Uint8Array;
        try {
          bytes = await source.readAll();
        } catch (e) {
          if (e instanceof PfgmError) throw e;
          throw new PfgmError(
            'ERR_PFGM_ARGUMENT',
            `${source.name}: cannot read the image (${(e as Error).message}); was it moved or deleted after the dataset was opened?`,
            { cause: e },
          );
        }
        const image = isJpeg(bytes)
          ? decodeJpeg(bytes, source.name, { maxPixels: spec.maxPixels })
          : decodePng(bytes, source.name, { maxPixels: spec.maxPixels });
        if (!spec.resize && (image.width !== W || image.height !== H)) {
          throw new PfgmError(
            'ERR_PFGM_SHAPE',
            `${source.name} is ${image.width}x${image.height} but ${spec.firstName} (the first image) is ${W}x${H}; ` +
              'all images must have the same size: resize them, or pass resolution to crop and resample every image',
          );
        }
        pngToSample(image, shape, data, k * size);
      });
      const batch: Batch = { data };
      if (classes !== undefined) {
        const picked = new Int32Array(n);
        const labels = new Float32Array(n * labelDim);
        for (let k = 0; k < n; k++) {
          const c = classes[indices[k] as number] as number;
          picked[k] = c;
          labels[k * labelDim + c] = 1;
        }
        batch.classes = picked;
        batch.labels = labels;
      }
      return batch;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await spec.release();
    },
    async [Symbol.asyncDispose](): Promise<void> {
      await this.close();
    },
  };
}

function isHidden(name: string): boolean {
  return name.startsWith('.') || name === '__MACOSX';
}

/** Lists files under `root` recursively, as `/`-separated paths relative to it. */
async function listFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const seen = new Set<string>();
  const walk = async (dir: string): Promise<void> => {
    const real = await realpath(dir);
    if (seen.has(real)) return; // a symbolic link loop
    seen.add(real);
    const entries = await readdir(dir, { withFileTypes: true });
    for (const entry of entries) {
      if (isHidden(entry.name)) continue;
      const full = join(dir, entry.name);
      let isDir = entry.isDirectory();
      let isFile = entry.isFile();
      if (entry.isSymbolicLink()) {
        const target = await stat(full).catch(() => undefined);
        isDir = target?.isDirectory() ?? false;
        isFile = target?.isFile() ?? false;
      }
      if (isDir) await walk(full);
      else if (isFile) out.push(relative(root, full).split(sep).join('/'));
    }
  };
  await walk(root);
  return out;
}

async function readHead(path: string, bytes: number): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const buffer = new Uint8Array(bytes);
    const { bytesRead } = await handle.read(buffer, 0, bytes, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * Opens a folder of PNG images as a lazily read image dataset: every `.png` file under `path`
 * (recursively, skipping names that start with `.`), sorted by relative path (plain code-unit
 * order, as Python's `sorted` orders them). Samples are [C, H, W] scaled to [-1, 1].
 *
 * Labels (see {@link ImageDatasetOptions.labels}): from `path/dataset.json` when it exists (EDM's
 * format, keys relative to `path`); otherwise, when every image sits in one of two or more
 * top-level subfolders, the class of an image is the index of its subfolder among the sorted
 * subfolder names, `labelDim` is the number of subfolders and `classNames` their names.
 *
 * @param path - the folder
 * @param options - output resolution, channels and labels
 * @returns the dataset; {@link Dataset.close} it when done
 * @throws PfgmError `ERR_PFGM_ARGUMENT` naming the folder when it does not exist or holds no PNG
 *   files, or naming the file when one is not a valid PNG; `ERR_PFGM_SHAPE` naming both files
 *   when an image's size or channels differ from the first image's (and the option that would
 *   reconcile them is not given). Reading a truncated or corrupt image later fails with an error
 *   naming the file.
 */
export async function imageFolder(path: string, options: ImageDatasetOptions = {}): Promise<Dataset> {
  checkImageOptions('imageFolder', options);
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (e) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `imageFolder: ${path} does not exist; check the path`, { cause: e });
  }
  if (!info.isDirectory()) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `imageFolder: ${path} is not a folder; pass the folder that holds the .png images (use zipDataset for a .zip)`,
    );
  }
  const files = await listFiles(path);
  const pngs = files.filter((f) => IMAGE_NAME.test(f)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (pngs.length === 0) {
    const others = files.filter((f) => /\.(webp|bmp|gif|tiff?)$/i.test(f)).length;
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `imageFolder: no .png or .jpg files in ${path}` +
        (others > 0
          ? ` (it has ${others} images in other formats: convert them to PNG)`
          : '; put the images there as .png or .jpg files'),
    );
  }
  const full = pngs.map((f) => join(path, ...f.split('/')));
  const shape = await scanPngHeaders(
    `imageFolder ${path}`,
    full,
    (i) => readHead(full[i] as string, headBytes(pngs[i] as string)),
    options,
  );

  // Labels.
  let classes: Int32Array | undefined;
  let labelDim = 0;
  let classNames: string[] | undefined;
  if (options.labels !== false) {
    const jsonPath = join(path, 'dataset.json');
    let jsonText: string | undefined;
    try {
      jsonText = await readFile(jsonPath, 'utf8');
    } catch {
      jsonText = undefined;
    }
    if (jsonText !== undefined) {
      const map = parseDatasetJson(jsonPath, jsonText);
      if (map !== null) {
        classes = classesFromMap(jsonPath, pngs, map);
        labelDim = classes.reduce((m, c) => Math.max(m, c), -1) + 1;
      }
    } else {
      const top = pngs.map((f) => (f.includes('/') ? f.slice(0, f.indexOf('/')) : undefined));
      const folders = [...new Set(top.filter((t): t is string => t !== undefined))].sort((a, b) =>
        a < b ? -1 : a > b ? 1 : 0,
      );
      const allInFolders = top.every((t) => t !== undefined);
      if (options.labels === true && !allInFolders) {
        const loose = pngs[top.indexOf(undefined)];
        throw new PfgmError(
          'ERR_PFGM_ARGUMENT',
          `imageFolder ${path}: labels were asked for but ${loose} is not inside a class subfolder; ` +
            'put every image in a subfolder named after its class, or add a dataset.json',
        );
      }
      if (allInFolders && (folders.length >= 2 || options.labels === true)) {
        const index = new Map(folders.map((f, i) => [f, i]));
        classes = Int32Array.from(top, (t) => index.get(t as string) as number);
        labelDim = folders.length;
        classNames = folders;
      }
    }
    if (options.labels === true && classes === undefined) {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `imageFolder ${path}: labels were asked for but ${jsonPath} says "labels": null; add labels there or pass labels: false`,
      );
    }
  }

  const spec: PngDatasetSpec = {
    name: basename(path) || path,
    sources: full.map((file) => ({ name: file, readAll: () => readFile(file) })),
    shape,
    resize: options.resolution !== undefined,
    labelDim,
    firstName: full[0] as string,
    maxPixels: options.maxPixels,
    release: async () => {},
  };
  if (classes !== undefined) spec.classes = classes;
  if (classNames !== undefined) spec.classNames = classNames;
  return createPngDataset(spec);
}
