// The solvers against the ideal denoiser (docs/method.md §2.4), the exact optimum of the training
// objective for a finite reference set, so the exact probability-flow ODE is known up to the
// integration error and every exact sample sits on a reference point. The tests:
// Heun's error against a tight RK45 solution falls at second order in the step count and Euler's
// at first; the samples land on reference points; DPM-Solver++(2M) and iPNDM beat Heun at equal
// NFE below 20; D = Infinity reproduces EDM's Gaussian path (a float64 JavaScript EDM sampler).
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type DenoiseFn,
  dpmSolver2M,
  euler,
  heun,
  type IdealDenoiser,
  idealDenoiser,
  ipndm,
  karras,
  rk45,
  type SampleResult,
  type SolverOptions,
  sample,
  samplePrior,
  solverNames,
} from '../../src/index.js';
import { convergenceOrder, nearestRef, posteriorMean64, RING_REFS, worstLanding } from '../helpers/ideal.js';

const SIGMA_MAX = 20;
const SIGMA_MIN = 0.002;
const COUNT = 512;

type Run = (denoise: DenoiseFn, x: Float32Array, sigmas: readonly number[], o: SolverOptions) => Promise<SampleResult>;

interface Path {
  /** The state at sigma_min (the last step's start). */
  atMin: Float32Array;
  /** The samples. */
  x: Float32Array;
  nfe: number;
}

async function solve(run: Run, denoise: DenoiseFn, x0: Float32Array, sigmas: readonly number[]): Promise<Path> {
  let atMin: Float32Array | undefined;
  const last = sigmas[sigmas.length - 2];
  const r = await run(denoise, x0, sigmas, {
    callback: (s) => {
      if (s.sigma === last) atMin = s.x;
    },
  });
  return { atMin: atMin as Float32Array, x: r.x, nfe: r.nfe };
}

/**
 * Against a reference path: the fraction of samples that end on another reference point than the
 * reference's ("flips", the integration error that survives to the samples), and the median
 * distance at sigma_min over the others (robust to the few near a basin boundary).
 */
function compare(p: Path, ref: Path): { flips: number; median: number } {
  const errs: number[] = [];
  let flips = 0;
  for (let i = 0; i < COUNT; i++) {
    if (nearestRef(p.x, i, RING_REFS, 2).j !== nearestRef(ref.x, i, RING_REFS, 2).j) {
      flips++;
      continue;
    }
    errs.push(
      Math.hypot(
        (p.atMin[2 * i] as number) - (ref.atMin[2 * i] as number),
        (p.atMin[2 * i + 1] as number) - (ref.atMin[2 * i + 1] as number),
      ),
    );
  }
  errs.sort((a, b) => a - b);
  return { flips: flips / COUNT, median: errs[Math.floor(errs.length / 2)] as number };
}

describe.each([Number.POSITIVE_INFINITY, 128])('D = %s, ten points in 2-D', (D) => {
  let ideal: IdealDenoiser;
  let denoise: DenoiseFn;
  let x0: Float32Array;
  let ref: Path;
  const schedule = (n: number) => karras({ steps: n, sigmaMax: SIGMA_MAX, sigmaMin: SIGMA_MIN });

  beforeAll(async () => {
    ideal = await idealDenoiser(RING_REFS, { D, shape: [2] });
    denoise = (x, s) => ideal.denoise(x, s);
    const prior = await samplePrior({ shape: [2], count: COUNT, D, sigmaMax: SIGMA_MAX, seed: 5, device: 'cpu' });
    x0 = (await prior.data()) as Float32Array;
    prior.dispose();
    ref = await solve((d, x, s, o) => rk45(d, x, s, { ...o, rtol: 1e-6, atol: 1e-6 }), denoise, x0, [
      SIGMA_MAX,
      SIGMA_MIN,
      0,
    ]);
  });

  it('the tight RK45 reference lands every sample on a reference point', () => {
    expect(worstLanding(ref.x, RING_REFS, 2)).toBeLessThan(1e-6);
  });

  it.each([
    // Measured medians at n = 16, 32, 64, 128 (D = inf; D = 128 within 3%): Heun 4.2e-4, 8.0e-5,
    // 1.7e-5, 3.9e-6, slope 2.25 (2.24), flips 1.4% -> 0; Euler 1.4e-3, 5.9e-4, 2.7e-4, 1.3e-4,
    // slope 1.12 (1.11), flips 11.7% -> 1.4%.
    ['heun', heun, 2],
    ['euler', euler, 1],
  ] as const)('%s: the error against RK45 falls at order %i in the step count', async (_name, run, order) => {
    const steps = [16, 32, 64, 128];
    const medians: number[] = [];
    const flips: number[] = [];
    for (const n of steps) {
      const c = compare(await solve(run, denoise, x0, schedule(n)), ref);
      medians.push(c.median);
      flips.push(c.flips);
    }
    const slope = convergenceOrder(steps, medians);
    expect(slope, `medians ${medians.map((m) => m.toExponential(2))}`).toBeGreaterThan(order - 0.25);
    expect(slope).toBeLessThan(order + 0.5);
    // Fewer samples change their final point as the steps grow.
    expect(flips[3] as number).toBeLessThan(flips[0] as number);
  });

  it('every solver lands the samples on reference points (measured: exactly, distance 0)', async () => {
    for (const name of solverNames) {
      const r = await sample(ideal, {
        count: 64,
        solver: name,
        steps: name === 'rk45' ? undefined : 40,
        sigmaMax: SIGMA_MAX,
        seed: 1,
      });
      const worst = worstLanding(r.x, RING_REFS, 2);
      expect(worst, name).toBeLessThan(1e-5);
    }
  });

  // Measured flip rates (D = inf) at NFE 9, 11, 13, 15, 17, 19: Heun 35.9, 28.1, 4.7, 5.5, 2.9,
  // 2.3%; DPM-Solver++(2M) 2.1, 0.8, 0.2, 0.2, 0.2, 0.2%; iPNDM 7.0, 3.9, 2.9, 1.4, 1.0, 0.6%.
  // D = 128: Heun 35.2 .. 2.1%, DPM-Solver++(2M) 2.9 .. 0.8%, iPNDM 5.3 .. 1.0%.
  it('DPM-Solver++(2M) and iPNDM beat Heun at equal NFE below 20', async () => {
    for (const nfe of [9, 11, 13, 15, 17, 19]) {
      const h = compare(await solve(heun, denoise, x0, schedule((nfe + 1) / 2)), ref);
      const d = compare(await solve(dpmSolver2M, denoise, x0, schedule(nfe)), ref);
      const p = compare(await solve(ipndm, denoise, x0, schedule(nfe)), ref);
      expect(d.flips, `NFE ${nfe}`).toBeLessThan(h.flips);
      expect(p.flips, `NFE ${nfe}`).toBeLessThan(h.flips);
    }
  });
});

describe('D = Infinity is EDM', () => {
  /** EDM's Heun sampler (Karras et al. 2022, Algorithm 1) in float64 on the Gaussian posterior. */
  function edmHeun64(
    x: Float32Array,
    refs: Float32Array,
    n: number,
    sigmas: number[],
    onStep: (i: number, x: Float64Array) => void,
  ) {
    let cur = Float64Array.from(x);
    for (let i = 0; i + 1 < sigmas.length; i++) {
      onStep(i, cur);
      const s = sigmas[i] as number;
      const next = sigmas[i + 1] as number;
      const den = posteriorMean64(cur, refs, n, Number.POSITIVE_INFINITY, s);
      const d = cur.map((v, k) => (v - (den[k] as number)) / s);
      const xe = cur.map((v, k) => v + (next - s) * (d[k] as number));
      if (next === 0) {
        cur = xe;
        continue;
      }
      const den2 = posteriorMean64(xe, refs, n, Number.POSITIVE_INFINITY, next);
      cur = cur.map(
        (v, k) => v + (next - s) * 0.5 * ((d[k] as number) + ((xe[k] as number) - (den2[k] as number)) / next),
      );
    }
    return cur;
  }

  it.each([
    ['ten points in 2-D', RING_REFS, [2]],
    [
      'eight 1x6x6 images',
      Float32Array.from({ length: 8 * 36 }, (_, k) => Math.sign(Math.sin(1.3 * k * k + k))),
      [1, 6, 6],
    ],
  ] as const)(
    '%s: Heun with the D = Infinity ideal denoiser follows the float64 EDM path',
    async (_name, refs, shape) => {
      const n = (shape as readonly number[]).reduce((a, b) => a * b, 1);
      using ideal = await idealDenoiser(refs, { D: Number.POSITIVE_INFINITY, shape });
      const sigmas = karras({ steps: 18 }); // EDM's CIFAR-10 schedule, sigma_max = 80
      const prior = await samplePrior({
        shape: [...shape],
        count: 32,
        D: Number.POSITIVE_INFINITY,
        sigmaMax: 80,
        seed: 3,
        device: 'cpu',
      });
      const x0 = (await prior.data()) as Float32Array;
      prior.dispose();
      const ours: Float32Array[] = [];
      const r = await heun((x, s) => ideal.denoise(x, s), x0, sigmas, { callback: (s) => ours.push(s.x) });
      let worst = 0;
      const final = edmHeun64(x0, refs, n, sigmas, (i, x) => {
        const o = ours[i] as Float32Array;
        // Relative to the state's scale (80 at the start, ~1 at the end).
        let scale = 1;
        for (const v of x) scale = Math.max(scale, Math.abs(v));
        for (let k = 0; k < x.length; k++)
          worst = Math.max(worst, Math.abs((o[k] as number) - (x[k] as number)) / scale);
      });
      let end = 0;
      for (let k = 0; k < final.length; k++) end = Math.max(end, Math.abs((r.x[k] as number) - (final[k] as number)));
      // Measured: 2.7e-7 (2-D) and 1.2e-7 (images) of the state's scale, i.e. fp32 rounding; the
      // samples are identical (both land on the same reference points).
      expect(worst).toBeLessThan(1e-5);
      expect(end).toBeLessThan(1e-5);
    },
  );

  it('large finite D follows the same path, closer as D grows (docs/method.md §1: D -> inf is EDM)', async () => {
    const pathOf = async (D: number) => {
      using ideal = await idealDenoiser(RING_REFS, { D, shape: [2] });
      const states: Float32Array[] = [];
      // The same Gaussian start for every D, so only the denoiser differs.
      await sample(ideal, {
        count: 64,
        steps: 18,
        seed: 2,
        D: Number.POSITIVE_INFINITY,
        callback: (st) => states.push(st.x),
      });
      return states;
    };
    const gauss = await pathOf(Number.POSITIVE_INFINITY);
    const gaps: number[] = [];
    for (const D of [1e3, 1e5, 1e7]) {
      const states = await pathOf(D);
      let worst = 0;
      states.forEach((x, i) => {
        const g = gauss[i] as Float32Array;
        for (let k = 0; k < x.length; k++) worst = Math.max(worst, Math.abs((x[k] as number) - (g[k] as number)));
      });
      gaps.push(worst);
    }
    // Measured largest gaps along the path: 1.4e-3 (D = 1e3), 1.4e-5 (1e5), 4.8e-7 (1e7): O(1/D).
    expect(gaps[1] as number).toBeLessThan((gaps[0] as number) / 30);
    expect(gaps[2] as number).toBeLessThan((gaps[1] as number) / 10);
  });
});

describe('a small image-shaped set', () => {
  it('every solver lands 1x8x8 samples on the reference images (D = 2048)', async () => {
    const refs = Float32Array.from({ length: 12 * 64 }, (_, k) => Math.tanh(3 * Math.sin(0.7 * k * k + 0.1 * k)));
    using ideal = await idealDenoiser(refs, { D: 2048, shape: [1, 8, 8] });
    for (const name of solverNames) {
      const r = await sample(ideal, { count: 16, solver: name, steps: name === 'rk45' ? undefined : 32, seed: 4 });
      expect(worstLanding(r.x, refs, 64), name).toBeLessThan(1e-5);
    }
  });
});
