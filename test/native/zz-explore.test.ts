import { it } from 'vitest';
import { dpmSolver2M, dpmSolver3M, euler, heun, ipndm, karras, rk45, idealDenoiser, samplePrior } from '../../src/index.js';
import type { DenoiseFn, Solver } from '../../src/index.js';

function fit(ns: number[], es: number[]) {
  const lx = ns.map(Math.log), ly = es.map(Math.log);
  const mx = lx.reduce((a, b) => a + b) / lx.length, my = ly.reduce((a, b) => a + b) / ly.length;
  let num = 0, den = 0;
  for (let i = 0; i < lx.length; i++) { num += (lx[i]! - mx) * (ly[i]! - my); den += (lx[i]! - mx) ** 2; }
  return -num / den;
}
// 10 points: a ring of 7 (radius 1) and 3 inside
const REFS = new Float32Array([...Array.from({ length: 7 }, (_, k) => [Math.cos(2 * Math.PI * k / 7), Math.sin(2 * Math.PI * k / 7)]).flat(), 0.3, 0.1, -0.25, 0.2, 0.0, -0.35]);
const M = REFS.length / 2;
const nearest = (x: Float32Array, i: number) => { let b = 0, bd = Infinity; for (let j = 0; j < M; j++) { const d = (x[2*i]! - REFS[2*j]!) ** 2 + (x[2*i+1]! - REFS[2*j+1]!) ** 2; if (d < bd) { bd = d; b = j; } } return b; };
function stats(a: Float32Array, b: Float32Array, xa: Float32Array, xb: Float32Array) {
  const n = a.length / 2; const errs: number[] = []; let flips = 0;
  for (let i = 0; i < n; i++) {
    if (nearest(xa, i) !== nearest(xb, i)) { flips++; continue; }
    errs.push(Math.hypot(a[2*i]! - b[2*i]!, a[2*i+1]! - b[2*i+1]!));
  }
  errs.sort((p, q) => p - q);
  return { flips: flips / n, median: errs[Math.floor(errs.length / 2)]!, mean: errs.reduce((p, q) => p + q, 0) / errs.length };
}

it('ideal orders', async () => {
  for (const D of [Infinity, 128, 2]) {
    const ideal = await idealDenoiser(REFS, { D, shape: [2] });
    const den: DenoiseFn = (x, s) => ideal.denoise(x, s);
    const smax = 20, smin = 0.002;
    const prior = await samplePrior({ shape: [2], count: 512, D, sigmaMax: smax, seed: 5, device: 'cpu' });
    const x0 = (await prior.data()) as Float32Array;
    const atMin = async (solve: Solver<any>, sig: number[], opts: object = {}) => {
      let at: Float32Array | undefined;
      const r = await solve(den, x0, sig, { ...opts, callback: (s: any) => { if (s.sigma === sig[sig.length - 2]) at = s.x; } });
      return { at: at!, x: r.x, nfe: r.nfe };
    };
    const t0 = performance.now();
    const ref = await atMin(rk45, [smax, smin, 0], { rtol: 1e-6, atol: 1e-6 });
    console.log('D', D, 'rk45 ref nfe', ref.nfe, (performance.now() - t0).toFixed(0), 'ms');
    for (const [name, solve] of [['euler', euler], ['heun', heun], ['dpm2m', dpmSolver2M], ['ipndm', ipndm], ['dpm3m', dpmSolver3M]] as const) {
      const ns = [8, 16, 32, 64, 128];
      const ms: number[] = [], fl: number[] = [], mn: number[] = [];
      for (const n of ns) {
        const r = await atMin(solve as Solver<any>, karras({ steps: n, sigmaMax: smax, sigmaMin: smin }));
        const s = stats(r.at, ref.at, r.x, ref.x); ms.push(s.median); fl.push(s.flips); mn.push(s.mean);
      }
      console.log(D, name, 'median', ms.map((e) => e.toExponential(2)).join(' '), 'slope', fit(ns.slice(1), ms.slice(1)).toFixed(2), 'mean', mn.map((e) => e.toExponential(2)).join(' '), 'slope', fit(ns.slice(1), mn.slice(1)).toFixed(2), ' flips', fl.join(' '));
    }
    for (const nfe of [7, 9, 11, 13, 15, 17, 19]) {
      const hn = (nfe + 1) / 2;
      const out = [];
      for (const [name, solve, n] of [['heun', heun, hn], ['dpm2m', dpmSolver2M, nfe], ['ipndm', ipndm, nfe], ['dpm3m', dpmSolver3M, nfe]] as const) {
        const r = await atMin(solve as Solver<any>, karras({ steps: n, sigmaMax: smax, sigmaMin: smin }));
        const s = stats(r.at, ref.at, r.x, ref.x);
        out.push(`${name} fl ${s.flips.toFixed(3)} med ${s.median.toExponential(1)} mean ${s.mean.toExponential(1)}`);
      }
      console.log(D, 'NFE', nfe, out.join(' | '));
    }
  }
});
