/**
 * A ZIP archive of PNG images as a {@link Dataset}, in the layout EDM's `dataset_tool.py` writes
 * (`00000/img00000000.png`, ..., and an optional `dataset.json` with
 * `{"labels": [["00000/img00000000.png", 6], ...]}` or `{"labels": null}`). Read lazily: opening
 * reads the central directory and the 33-byte header of each image; pixels are inflated and
 * decoded when {@link Dataset.read} asks for them.
 *
 * @module
 */

import { basename } from 'node:path';
import { openZip, type ZipEntry } from '../codecs/zip.js';
import { PfgmError } from '../errors.js';
import type { Dataset } from './dataset.js';
import {
  checkImageOptions,
  classesFromMap,
  createPngDataset,
  type ImageDatasetOptions,
  type PngDatasetSpec,
  parseDatasetJson,
  scanPngHeaders,
} from './imageFolder.js';
import { headBytes, IMAGE_NAME } from './imageFormats.js';

function hidden(name: string): boolean {
  return name.startsWith('__MACOSX/') || name.split('/').some((part) => part.startsWith('.'));
}

/**
 * Opens a ZIP archive of PNG images (every `.png` entry, sorted by name in plain code-unit order,
 * skipping `__MACOSX/` and names starting with `.`) as a lazily read image dataset of [C, H, W]
 * samples scaled to [-1, 1].
 *
 * Labels: from the archive's top-level `dataset.json` when it has labels (integer classes,
 * `labelDim` = largest class + 1; vector labels are not supported); `"labels": null` or no
 * `dataset.json` means no labels. Size, channel and alpha handling follow
 * {@link ImageDatasetOptions}, as for `imageFolder`.
 *
 * @param path - the `.zip` file
 * @param options - output resolution, channels and labels
 * @returns the dataset; {@link Dataset.close} it to close the archive
 * @throws PfgmError `ERR_PFGM_ARGUMENT` naming the archive when it cannot be read as a ZIP, holds
 *   no PNG entries, or has a malformed `dataset.json` or one missing an image's label;
 *   `ERR_PFGM_SHAPE` naming both entries when an image differs in size or channels from the first.
 *   Reading a corrupt entry later fails with an error naming the archive and the entry.
 */
export async function zipDataset(path: string, options: ImageDatasetOptions = {}): Promise<Dataset> {
  checkImageOptions('zipDataset', options);
  const zip = await openZip(path);
  try {
    const files = zip.entries.filter((e) => !e.isDirectory && !hidden(e.name));
    const pngs = files
      .filter((e) => IMAGE_NAME.test(e.name))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    if (pngs.length === 0) {
      const others = files.filter((e) => /\.(webp|bmp|gif|tiff?)$/i.test(e.name)).length;
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `zipDataset: no .png or .jpg entries in ${path}` +
          (others > 0
            ? ` (it has ${others} images in other formats: convert them to PNG)`
            : '; is this an image dataset archive (e.g. one written by EDM dataset_tool.py)?'),
      );
    }
    const names = pngs.map((e) => `${path} (entry ${e.name})`);
    const shape = await scanPngHeaders(
      `zipDataset ${path}`,
      names,
      (i) => zip.readHead(pngs[i] as ZipEntry, headBytes((pngs[i] as ZipEntry).name)),
      options,
    );

    let classes: Int32Array | undefined;
    let labelDim = 0;
    const json = zip.entry('dataset.json');
    if (options.labels !== false && json !== undefined) {
      const where = `${path} (entry dataset.json)`;
      const map = parseDatasetJson(where, new TextDecoder().decode(await zip.read(json)));
      if (map !== null) {
        classes = classesFromMap(
          where,
          pngs.map((e) => e.name),
          map,
        );
        labelDim = classes.reduce((m, c) => Math.max(m, c), -1) + 1;
      }
    }
    if (options.labels === true && classes === undefined) {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `zipDataset: labels were asked for but ${path} has no dataset.json with labels; add one or pass labels: false`,
      );
    }
    const spec: PngDatasetSpec = {
      name: basename(path).replace(/\.zip$/i, '') || path,
      sources: pngs.map((e, i) => ({ name: names[i] as string, readAll: () => zip.read(e) })),
      shape,
      resize: options.resolution !== undefined,
      labelDim,
      firstName: names[0] as string,
      maxPixels: options.maxPixels,
      release: () => zip.close(),
    };
    if (classes !== undefined) spec.classes = classes;
    return createPngDataset(spec);
  } catch (e) {
    await zip.close();
    throw e;
  }
}
