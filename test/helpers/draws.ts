// Shared helpers for tests that look at draws of the physics kernels.
import { perturb, tensor } from '../../src/index.js';
import { rowNorms2 } from './stats.js';

/** Squared noise radii R^2 = ||x - y||^2 of `count` perturbations of zeros (f64 for precision). */
export async function noiseRadii2(options: {
  count: number;
  n: number;
  D: number;
  sigma: number;
  seed: number;
}): Promise<Float64Array> {
  const { count, n } = options;
  const y = tensor(new Float64Array(count * n), [count, n]);
  const x = await perturb(y, { sigma: options.sigma, D: options.D, seed: options.seed });
  const data = await x.data();
  y.dispose();
  x.dispose();
  return rowNorms2(data, count);
}
