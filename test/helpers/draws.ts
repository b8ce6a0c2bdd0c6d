// Shared helpers for tests that look at draws of the physics kernels.
import { perturb, tensor } from '../../src/index.js';

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
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    let acc = 0;
    for (let j = 0; j < n; j++) acc += (data[i * n + j] as number) ** 2;
    out[i] = acc;
  }
  return out;
}
