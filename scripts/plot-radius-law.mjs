#!/usr/bin/env node
// Draws docs/img/radius-law.svg: histograms of pfgm's perturbation radii for several D beside the
// closed-form law of docs/method.md §2.1, so the picture in docs/physics.md is measured, not drawn by hand.
//   node scripts/plot-radius-law.mjs   (after `npm ci`)
import { writeFileSync } from 'node:fs';
import { perturb, tensor } from '../dist/index.js';

const N = 784;
const COUNT = 20000;
const SIGMA = 1;
const DS = [1, 8, 128, 2048, Number.POSITIVE_INFINITY];
const COLORS = ['#d62728', '#ff7f0e', '#2ca02c', '#1f77b4', '#111111'];
const [X0, X1] = [-0.4, 2.4]; // log10(R / (sigma sqrt(N)))
const BINS = 200;

function logGamma(x) {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  const z = x - 1;
  let a = c[0];
  for (let i = 1; i < 9; i++) a += c[i] / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

// Density of v = log10(R / (sigma sqrt(N))): R^2/r^2 ~ BetaPrime(N/2, D/2), or chi^2_N / D at D = inf.
function density(v, D) {
  const R2 = N * SIGMA * SIGMA * 100 ** v; // R^2 at this v
  const jac = 2 * Math.log(10) * R2; // dR^2/dv
  if (D === Number.POSITIVE_INFINITY) {
    const q = R2 / (SIGMA * SIGMA);
    return (
      Math.exp((N / 2 - 1) * Math.log(q) - q / 2 - (N / 2) * Math.log(2) - logGamma(N / 2)) * (jac / (SIGMA * SIGMA))
    );
  }
  const r2 = SIGMA * SIGMA * D;
  const t = R2 / r2;
  const a = N / 2;
  const b = D / 2;
  const logf = (a - 1) * Math.log(t) - (a + b) * Math.log1p(t) - (logGamma(a) + logGamma(b) - logGamma(a + b));
  return Math.exp(logf) * (jac / r2);
}

const W = 760;
const H = 420;
const M = { l: 70, r: 20, t: 30, b: 50 };
const [LY0, LY1] = [-3, 2]; // log10 density axis
const px = (v) => M.l + ((v - X0) / (X1 - X0)) * (W - M.l - M.r);
const py = (d) => {
  const l = Math.min(LY1, Math.max(LY0, Math.log10(Math.max(d, 1e-300))));
  return H - M.b - ((l - LY0) / (LY1 - LY0)) * (H - M.t - M.b);
};
const parts = [];
parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
parts.push(`<line x1="${M.l}" y1="${H - M.b}" x2="${W - M.r}" y2="${H - M.b}" stroke="#444"/>`);
parts.push(`<line x1="${M.l}" y1="${M.t}" x2="${M.l}" y2="${H - M.b}" stroke="#444"/>`);
for (let v = 0; v <= 2; v += 0.5) {
  parts.push(`<line x1="${px(v)}" y1="${H - M.b}" x2="${px(v)}" y2="${H - M.b + 5}" stroke="#444"/>`);
  parts.push(
    `<text x="${px(v)}" y="${H - M.b + 20}" font-size="13" text-anchor="middle">${Number((10 ** v).toPrecision(3))}</text>`,
  );
}
for (let l = LY0; l <= LY1; l++) {
  parts.push(`<line x1="${M.l - 5}" y1="${py(10 ** l)}" x2="${M.l}" y2="${py(10 ** l)}" stroke="#444"/>`);
  parts.push(`<text x="${M.l - 8}" y="${py(10 ** l) + 4}" font-size="12" text-anchor="end">1e${l}</text>`);
}
parts.push(
  `<text x="${(M.l + W - M.r) / 2}" y="${H - 10}" font-size="14" text-anchor="middle">noise radius R / (σ√N), log scale (N = ${N})</text>`,
);
parts.push(
  `<text x="16" y="${(M.t + H - M.b) / 2}" font-size="14" text-anchor="middle" transform="rotate(-90 16 ${(M.t + H - M.b) / 2})">density of log10 R (log scale)</text>`,
);

for (const [k, D] of DS.entries()) {
  const y = tensor(new Float64Array(COUNT * N), [COUNT, N]);
  const x = await (await perturb(y, { sigma: SIGMA, D, seed: 100 + k })).data();
  const hist = new Float64Array(BINS);
  const width = (X1 - X0) / BINS;
  for (let i = 0; i < COUNT; i++) {
    let r2 = 0;
    for (let j = 0; j < N; j++) r2 += x[i * N + j] ** 2;
    const v = 0.5 * Math.log10(r2 / N) - Math.log10(SIGMA);
    const bin = Math.floor((v - X0) / width);
    if (bin >= 0 && bin < BINS) hist[bin] += 1 / (COUNT * width);
  }
  for (let b = 0; b < BINS; b++) {
    if (hist[b] === 0) continue;
    const x0 = px(X0 + b * width);
    parts.push(
      `<rect x="${x0}" y="${py(hist[b])}" width="${px(X0 + (b + 1) * width) - x0}" height="${H - M.b - py(hist[b])}" fill="${COLORS[k]}" fill-opacity="0.22"/>`,
    );
  }
  const pts = [];
  for (let s = 0; s <= 600; s++) {
    const v = X0 + ((X1 - X0) * s) / 600;
    pts.push(`${px(v).toFixed(1)},${py(density(v, D)).toFixed(1)}`);
  }
  parts.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${COLORS[k]}" stroke-width="2"/>`);
  const label = D === Number.POSITIVE_INFINITY ? 'D = ∞ (EDM, Gaussian)' : `D = ${D}`;
  parts.push(
    `<line x1="${W - 330}" y1="${M.t + 12 + 20 * k}" x2="${W - 305}" y2="${M.t + 12 + 20 * k}" stroke="${COLORS[k]}" stroke-width="3"/>`,
  );
  parts.push(`<text x="${W - 298}" y="${M.t + 17 + 20 * k}" font-size="13">${label}</text>`);
  y.dispose();
}
parts.push(
  `<text x="${W - 330}" y="${M.t + 17 + 20 * DS.length}" font-size="12" fill="#555">bars: ${COUNT} pfgm draws; lines: docs/method.md §2.1</text>`,
);
const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif">\n${parts.join('\n')}\n</svg>\n`;
writeFileSync(new URL('../docs/img/radius-law.svg', import.meta.url), svg);
console.log('wrote docs/img/radius-law.svg');
