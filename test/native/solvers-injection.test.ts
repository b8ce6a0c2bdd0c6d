// Noise injection for the robustness experiments (docs/method.md §4(a)): x <- x + alpha sigma_i eps before
// every Heun step. With the identity denoiser the ODE leaves x alone, so what remains is exactly
// the injected noise, whose variance is alpha^2 sum_i sigma_i^2; and sample() hands PFGM models
// to the z-ODE.
import { describe, expect, it } from 'vitest';
import { preset } from '../../src/models/config.js';
import { createNetwork } from '../../src/models/network.js';
import { heun } from '../../src/sample/heun.js';
import { sample } from '../../src/sample/sample.js';

describe('Heun noise injection', () => {
  it('adds N(0, alpha^2 sigma_i^2) before each step, per sample and step', async () => {
    const count = 4000;
    const x0 = new Float32Array(count);
    const identity = async (x: Float32Array) => x.slice();
    const sigmas = [2, 1, 0.5, 0];
    const alpha = 0.2;
    const { x } = await heun(identity, x0, sigmas, { noiseInjection: { alpha, seed: 5, count } });
    let m = 0;
    let v = 0;
    for (const t of x) m += t;
    m /= count;
    for (const t of x) v += (t - m) ** 2;
    v /= count - 1;
    const expected = alpha ** 2 * (4 + 1 + 0.25);
    // The sample variance of 4000 normals has a relative standard deviation of sqrt(2/3999) = 2.2%.
    expect(Math.abs(v / expected - 1)).toBeLessThan(0.09);
    expect(Math.abs(m)).toBeLessThan(4 * Math.sqrt(expected / count));
    const none = await heun(identity, x0, sigmas, { noiseInjection: { alpha: 0, seed: 5, count } });
    expect(none.x).toEqual(x0);
    // Sample i's noise depends on its seed and index only, not on the batch.
    const half = await heun(identity, x0.subarray(0, 2000), sigmas, {
      noiseInjection: { alpha, seed: 5, count: 2000 },
    });
    expect(half.x).toEqual(x.subarray(0, 2000));
  });

  it('is refused by solvers other than heun, and PFGM models sample through the z-ODE', async () => {
    using denoiser = createNetwork(preset('mlp', { features: 2, hidden: 16, numBlocks: 1 }), { D: 64 });
    await expect(sample(denoiser, { count: 2, solver: 'euler', noiseInjection: { alpha: 0.1 } })).rejects.toThrow(
      /noiseInjection is an option of the heun solver/,
    );
    using field = createNetwork(preset('mlp', { features: 2, hidden: 16, numBlocks: 1 }), {
      objective: 'pfgm',
      pfgm: { M: 100, tau: 0.03, s: 0.01, zMax: 0.15, upperNorm: 0.27, gamma: 5, restrictM: true },
    });
    const r = await sample(field, { count: 3, solver: 'euler', steps: 4, seed: 0 });
    expect(r.nfe).toBe(4);
    expect(r.x.length).toBe(6);
    await expect(sample(field, { count: 3, solver: 'dpm2m' })).rejects.toThrow(/z-ODE/);
  });
});
