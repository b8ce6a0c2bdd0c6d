#!/usr/bin/env node
// Draws docs/img/example-lines.png, the example of docs/plots.md: a measured miniature of the
// PFGM++ NFE experiment (Sec. 6, docs/method.md §4 (b)) on 2-D data, with no training. Each run samples
// with EDM's Heun solver driven by the ideal denoiser of docs/method.md (2.4) over 1000 points of the
// 'moons' toy set (the exact optimum of the training objective for that set), from the prior of
// its D, and measures the sliced Wasserstein distance of 2000 samples to the 1000 points.
//   npm run build:ts && node scripts/example-plot.mjs   (needs the native addon for the prior)
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { heun, karras, samplePrior, slicedWasserstein, toySampler } from '../dist/index.js';
import { linePlot } from '../dist/viz/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const N = 2;
const REFERENCE = 1000;
const COUNT = 2000;
const STEPS = [3, 4, 5, 7, 9, 13, 18, 27]; // Heun: NFE = 2 steps - 1, from 5 to 53
const DS = [8, 128, 2048, Number.POSITIVE_INFINITY];

const reference = toySampler('moons')(REFERENCE, 1);

// docs/method.md (2.4): E[y | x] = sum_i w_i y_i with log w_i = -(N + D) / 2 log(|x - y_i|^2 + r^2),
// r = sigma sqrt(D); for D = inf, log w_i = -|x - y_i|^2 / (2 sigma^2). Softmax in log space.
function idealDenoiser(D) {
  return async (x, sigma) => {
    const out = new Float32Array(x.length);
    const logw = new Float64Array(REFERENCE);
    const r2 = Number.isFinite(D) ? sigma * sigma * D : 0;
    for (let s = 0; s < x.length / N; s++) {
      const x0 = x[s * N];
      const x1 = x[s * N + 1];
      let max = Number.NEGATIVE_INFINITY;
      for (let i = 0; i < REFERENCE; i++) {
        const d2 = (x0 - reference[i * N]) ** 2 + (x1 - reference[i * N + 1]) ** 2;
        logw[i] = Number.isFinite(D) ? (-(N + D) / 2) * Math.log(d2 + r2) : -d2 / (2 * sigma * sigma);
        if (logw[i] > max) max = logw[i];
      }
      let total = 0;
      let m0 = 0;
      let m1 = 0;
      for (let i = 0; i < REFERENCE; i++) {
        const w = Math.exp(logw[i] - max);
        total += w;
        m0 += w * reference[i * N];
        m1 += w * reference[i * N + 1];
      }
      out[s * N] = m0 / total;
      out[s * N + 1] = m1 / total;
    }
    return out;
  };
}

const series = [];
for (const D of DS) {
  const prior = await samplePrior({ shape: [N], count: COUNT, D, seed: 7 });
  const xT = await prior.data();
  prior.dispose();
  const x = [];
  const y = [];
  for (const steps of STEPS) {
    const { x: samples, nfe } = await heun(idealDenoiser(D), xT, karras({ steps }));
    const sw = slicedWasserstein(samples, reference, N, { projections: 128 });
    x.push(nfe);
    y.push(sw);
    console.log(`D = ${D}: NFE ${nfe}, sliced W1 ${sw.toFixed(4)}`);
  }
  series.push({ name: Number.isFinite(D) ? `D = ${D}` : 'D = ∞ (EDM)', x, y });
}

const png = linePlot(series, {
  title: 'Ideal denoiser on moons: quality against NFE',
  xLabel: 'NFE (Heun, EDM schedule)',
  yLabel: 'sliced Wasserstein-1 to the data',
  logX: true,
  logY: true,
});
const out = join(root, 'docs', 'img', 'example-lines.png');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, png);
console.log(`wrote ${out} (${png.length} bytes)`);
