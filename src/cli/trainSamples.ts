/**
 * The sample pictures `pfgm train` writes at each tick: an image grid (one row per class for a
 * conditional network) or, for 2-D vectors, a scatter plot over the data.
 *
 * @internal
 * @module
 */
import { writeFile } from 'node:fs/promises';
import type { Dataset } from '../data/dataset.js';
import type { Network } from '../models/network.js';
import { oneHotLabels, randomClasses } from '../physics/classes.js';
import { pfgmSample } from '../sample/pfgmOde.js';
import { sample } from '../sample/sample.js';
import { imageGrid } from '../viz/grid.js';
import { scatterPlot } from '../viz/scatter.js';

/** The sample picture of a training tick: an image grid, or a scatter plot of 2-D vectors. */
export async function writeSamples(net: Network, data: Dataset, file: string, seed: number): Promise<void> {
  const vector = data.info.kind === 'vector';
  // A conditional network's image grid: one row of 8 per class (up to 16); other samples of a
  // conditional network get one random class each, as `pfgm sample` gives them.
  const rows = !vector && net.labelDim > 0 && net.labelDim <= 16 ? net.labelDim : 0;
  const count = vector ? 1000 : rows > 0 ? rows * 8 : 64;
  const classes =
    rows > 0
      ? Array.from({ length: count }, (_, i) => Math.floor(i / 8))
      : net.labelDim > 0
        ? randomClasses(count, net.labelDim, { seed })
        : undefined;
  const labels = classes === undefined ? undefined : oneHotLabels(classes, net.labelDim);
  // PFGM's z-ODE starts from the reference's clipped prior (see pfgmSample's radiusClip).
  const { x } =
    net.objective === 'pfgm'
      ? await pfgmSample(net, { count, seed, radiusClip: 'reference', labels })
      : await sample(net, { count, steps: 18, seed, D: net.D, sigmaMax: vector ? 20 : 80, labels });
  let png: Uint8Array;
  if (vector && data.info.shape[0] === 2) {
    const ref = await data.read(Array.from({ length: Math.min(1000, data.info.count) }, (_, i) => i));
    png = scatterPlot(x, { reference: ref.data });
  } else if (!vector) {
    png = imageGrid(x, data.info.shape as [number, number, number], { columns: 8 });
  } else {
    return; // no picture for vectors of more than two dimensions
  }
  await writeFile(file, png);
}
