// sample(model, ...) and the solvers' contract: per-sample seeds give the same sample in any batch
// (with churn too), the callback sees every step with a consistent (x, denoised) pair, an
// AbortSignal stops a run between evaluations, classifier-free guidance combines the conditional
// and the unconditional denoiser, a Network and an ideal denoiser are sampled alike, EDM's churn
// adds the noise it promises and still samples the right distribution at D = Infinity, and bad
// arguments are refused with clear errors.
import { describe, expect, it } from 'vitest';
import {
  createNetwork,
  type DenoiseFn,
  dpmSolver2M,
  euler,
  heun,
  idealDenoiser,
  karras,
  PfgmError,
  rk45,
  type StepInfo,
  sample,
  samplePrior,
  solverNames,
  solvers,
} from '../../src/index.js';
import { nearestRef, RING_REFS, worstLanding } from '../helpers/ideal.js';
import { ksTest, normalCdf } from '../helpers/stats.js';

const rows = (x: Float32Array, n: number, from: number, to: number) => x.subarray(from * n, to * n);

describe('seeds', () => {
  it('one seed per sample gives the same sample in any batch, for every fixed-step solver and with churn', async () => {
    using ideal = await idealDenoiser(RING_REFS, { D: 64, shape: [2] });
    const seeds = [40, 41, 42, 43, 44];
    for (const solver of solverNames.filter((s) => s !== 'rk45')) {
      const all = await sample(ideal, { count: 5, solver, steps: 12, seed: seeds, sigmaMax: 20 });
      const some = await sample(ideal, { count: 2, solver, steps: 12, seed: [42, 43], sigmaMax: 20 });
      expect(some.x, solver).toEqual(rows(all.x, 2, 2, 4));
    }
    const churn = { sChurn: 10 };
    const all = await sample(ideal, { count: 5, steps: 12, seed: seeds, sigmaMax: 20, churn });
    const one = await sample(ideal, { count: 1, steps: 12, seed: [43], sigmaMax: 20, churn });
    expect(one.x).toEqual(rows(all.x, 2, 3, 4));
    // One seed: sample i reads stream sampleOffset + i.
    const batch = await sample(ideal, { count: 4, steps: 12, seed: 9, sigmaMax: 20, churn });
    const tail = await sample(ideal, { count: 2, steps: 12, seed: 9, sampleOffset: 2, sigmaMax: 20, churn });
    expect(tail.x).toEqual(rows(batch.x, 2, 2, 4));
  });

  it('rk45 shares its steps across the batch, so a sample depends on its batch only within the tolerance', async () => {
    using ideal = await idealDenoiser(RING_REFS, { D: Number.POSITIVE_INFINITY, shape: [2] });
    const all = await sample(ideal, { count: 8, solver: 'rk45', seed: [1, 2, 3, 4, 5, 6, 7, 8], sigmaMax: 20 });
    const one = await sample(ideal, { count: 1, solver: 'rk45', seed: [4], sigmaMax: 20 });
    const a = rows(all.x, 2, 3, 4);
    expect(Math.hypot((a[0] as number) - (one.x[0] as number), (a[1] as number) - (one.x[1] as number))).toBeLessThan(
      1e-3,
    );
  });
});

describe('callback and AbortSignal', () => {
  it('the callback sees every step: its index, sigma, x and D(x, sigma)', async () => {
    using ideal = await idealDenoiser(RING_REFS, { D: Number.POSITIVE_INFINITY, shape: [2] });
    const sigmas = karras({ steps: 7, sigmaMax: 20 });
    const prior = await samplePrior({
      shape: [2],
      count: 3,
      D: Number.POSITIVE_INFINITY,
      sigmaMax: 20,
      seed: 0,
      device: 'cpu',
    });
    const x0 = (await prior.data()) as Float32Array;
    for (const name of solverNames.filter((s) => s !== 'rk45')) {
      const seen: StepInfo[] = [];
      const r = await solvers[name]((x, s) => ideal.denoise(x, s), x0, sigmas, { callback: (s) => seen.push(s) });
      expect(
        seen.map((s) => s.i),
        name,
      ).toEqual([0, 1, 2, 3, 4, 5, 6]);
      expect(seen.map((s) => s.sigma)).toEqual(sigmas.slice(0, -1));
      expect(seen[0]?.x).toEqual(x0);
      for (const s of seen) expect(s.denoised).toEqual(await ideal.denoise(s.x, s.sigma));
      // The last step to 0 returns the denoised batch of the last step (Heun's Euler step to 0 too).
      expect(r.x).toEqual(seen[6]?.denoised);
    }
    const seen: StepInfo[] = [];
    const r = await rk45((x, s) => ideal.denoise(x, s), x0, [20, 0.002, 0], { callback: (s) => seen.push(s) });
    expect(seen.map((s) => s.i)).toEqual(seen.map((_, k) => k));
    expect(seen[0]?.sigma).toBe(20);
    expect(seen.at(-1)?.sigma).toBe(0.002);
    expect(r.x).toEqual(seen.at(-1)?.denoised);
    // 6 evaluations per accepted or rejected step, 1 at the start, 1 for the starting step size.
    expect((r.nfe - 2) % 6).toBe(0);
    expect(r.nfe).toBeGreaterThanOrEqual(6 * (seen.length - 1) + 2);
  });

  it('an AbortSignal stops every solver between evaluations', async () => {
    using ideal = await idealDenoiser(RING_REFS, { D: 128, shape: [2] });
    const x0 = new Float32Array(4).fill(5);
    for (const name of solverNames) {
      const controller = new AbortController();
      let evaluations = 0;
      let evaluationsAtAbort = 0;
      const denoise: DenoiseFn = (x, s) => {
        evaluations++;
        return ideal.denoise(x, s);
      };
      const run = solvers[name](denoise, x0, karras({ steps: 10, sigmaMax: 20 }), {
        signal: controller.signal,
        callback: (s) => {
          if (s.i === 2) {
            evaluationsAtAbort = evaluations;
            controller.abort();
          }
        },
      });
      await expect(run, name).rejects.toMatchObject({ name: 'AbortError' });
      expect(evaluations, name).toBe(evaluationsAtAbort);
    }
    const done = new AbortController();
    done.abort(new Error('stop'));
    await expect(sample(ideal, { count: 2, signal: done.signal })).rejects.toThrow('stop');
  });
});

describe('guidance', () => {
  // Ring points are class 0, the three inner points class 1.
  const classes = [0, 0, 0, 0, 0, 0, 0, 1, 1, 1];
  const oneHot = (count: number, c: number) => {
    const l = new Float32Array(count * 2);
    for (let i = 0; i < count; i++) l[i * 2 + c] = 1;
    return l;
  };

  it('w = 1 is conditional sampling, w = 0 unconditional, and any w is D_u + w (D_c - D_u)', async () => {
    using ideal = await idealDenoiser(RING_REFS, { D: Number.POSITIVE_INFINITY, shape: [2], classes });
    const count = 32;
    const base = { count, steps: 16, seed: 3, sigmaMax: 20 };
    const labels = oneHot(count, 1);
    const cond = await sample(ideal, { ...base, labels });
    // Zero labels: the unconditional model (left out, each sample would get a random class).
    const uncond = await sample(ideal, { ...base, labels: new Float32Array(count * 2) });
    expect((await sample(ideal, { ...base, labels, guidance: 1 })).x).toEqual(cond.x);
    expect((await sample(ideal, { ...base, labels, guidance: 0 })).x).toEqual(uncond.x);
    // Conditional samples land on class-1 points only; unconditional ones mostly on the ring.
    for (let i = 0; i < count; i++) expect(classes[nearestRef(cond.x, i, RING_REFS, 2).j]).toBe(1);
    let ring = 0;
    for (let i = 0; i < count; i++) if (classes[nearestRef(uncond.x, i, RING_REFS, 2).j] === 0) ring++;
    expect(ring).toBeGreaterThan(count / 2);
    // w = 3: the solver sees D_u + 3 (D_c - D_u).
    const steps: StepInfo[] = [];
    const guided = await sample(ideal, { ...base, labels, guidance: 3, callback: (s) => steps.push(s) });
    expect(guided.nfe).toBe(31);
    for (const s of steps.slice(0, 6)) {
      const c = await ideal.denoise(s.x, s.sigma, { labels });
      const u = await ideal.denoise(s.x, s.sigma);
      let worst = 0;
      for (let k = 0; k < c.length; k++) {
        const want = (u[k] as number) + 3 * ((c[k] as number) - (u[k] as number));
        worst = Math.max(worst, Math.abs((s.denoised[k] as number) - want));
      }
      expect(worst).toBeLessThan(1e-6);
    }
  });

  it('a conditional Network gets labels and zero labels in one batch', async () => {
    using net = createNetwork(
      {
        kind: 'mlp',
        features: 2,
        hidden: 32,
        numBlocks: 2,
        embChannels: 32,
        noiseChannels: 16,
        labelDim: 3,
        dropout: 0,
        labelDropout: 0.1,
      },
      { seed: 1 },
    );
    // Random weights, so the network depends on its labels (EDM initialises the output to ~0).
    const w = net.flatWeights();
    let s = 7;
    const raw = w.raw.map(() => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return (s / 2 ** 32 - 0.5) * 0.8;
    });
    net.loadFlatWeights({ raw, ema: raw });
    const count = 6;
    const labels = new Float32Array(count * 3);
    for (let i = 0; i < count; i++) labels[i * 3 + (i % 3)] = 1;
    const steps: StepInfo[] = [];
    const r = await sample(net, {
      count,
      steps: 6,
      seed: 0,
      sigmaMax: 20,
      labels,
      guidance: 2,
      callback: (st) => steps.push(st),
    });
    expect(r.nfe).toBe(11);
    let largestSpread = 0;
    for (const st of steps) {
      const c = await net.denoise(st.x, st.sigma, { labels, weights: 'ema' });
      const u = await net.denoise(st.x, st.sigma, { labels: new Float32Array(count * 3), weights: 'ema' });
      let worst = 0;
      let spread = 0;
      let size = 1;
      for (let k = 0; k < c.length; k++) {
        size = Math.max(size, Math.abs(c[k] as number), Math.abs(u[k] as number));
        worst = Math.max(
          worst,
          Math.abs((st.denoised[k] as number) - ((u[k] as number) + 2 * ((c[k] as number) - (u[k] as number)))),
        );
        spread = Math.max(spread, Math.abs((c[k] as number) - (u[k] as number)));
      }
      largestSpread = Math.max(largestSpread, spread);
      // One batch of 2n against two of n: oneDNN may round differently, a few fp32 ulps (measured
      // at most 3.0e-8 against values of size 1 to 4).
      expect(worst).toBeLessThan(1e-6 * size);
    }
    // The labels matter: D_c and D_u differ by up to 0.27 (measured).
    expect(largestSpread).toBeGreaterThan(0.1);
  });
});

describe('networks and the solvers', () => {
  it('sample(net) is the solver on the prior with the EMA weights', async () => {
    using net = createNetwork('mlp', { seed: 2 });
    const x = await samplePrior({
      shape: [2],
      count: 16,
      D: Number.POSITIVE_INFINITY,
      sigmaMax: 80,
      seed: 5,
      device: 'cpu',
    });
    const x0 = (await x.data()) as Float32Array;
    x.dispose();
    const sigmas = karras({ steps: 10 });
    const direct = await dpmSolver2M((v, s) => net.denoise(v, s, { weights: 'ema' }), x0, sigmas);
    const viaSample = await sample(net, { count: 16, solver: 'dpm2m', steps: 10, seed: 5 });
    expect(viaSample.x).toEqual(direct.x);
    expect(viaSample.nfe).toBe(10);
  });
});

describe('churn (EDM Algorithm 2)', () => {
  const identity: DenoiseFn = async (x) => x.slice();

  it('sChurn = 0 is the deterministic sampler; churn keeps NFE = 2n - 1', async () => {
    using ideal = await idealDenoiser(RING_REFS, { D: Number.POSITIVE_INFINITY, shape: [2] });
    const plain = await sample(ideal, { count: 8, steps: 10, seed: 1, sigmaMax: 20 });
    expect((await sample(ideal, { count: 8, steps: 10, seed: 1, sigmaMax: 20, churn: { sChurn: 0 } })).x).toEqual(
      plain.x,
    );
    const churned = await sample(ideal, { count: 8, steps: 10, seed: 1, sigmaMax: 20, churn: { sChurn: 20 } });
    expect(churned.nfe).toBe(19);
    expect(churned.x).not.toEqual(plain.x);
  });

  it('adds N(0, sNoise^2 (s_hat^2 - s^2)) per step inside [sTmin, sTmax] (a drift-free denoiser isolates it)', async () => {
    // With D(x, s) = x the ODE has no drift: x_end - x_0 is the sum of the churn noise alone.
    const count = 400;
    const n = 10;
    const x0 = new Float32Array(count * n);
    const sigmas = karras({ steps: 10, sigmaMax: 10 });
    const churn = { sChurn: 5, sTmin: 0.05, sTmax: 2, sNoise: 1.007, seed: 3, count };
    const r = await heun(identity, x0, sigmas, { churn });
    let variance = 0;
    const steps = sigmas.length - 1;
    for (const s of sigmas.slice(0, -1)) {
      if (s < churn.sTmin || s > churn.sTmax) continue;
      const sHat = s * (1 + Math.min(churn.sChurn / steps, Math.SQRT2 - 1));
      variance += churn.sNoise ** 2 * (sHat * sHat - s * s);
    }
    const sd = Math.sqrt(variance);
    const { p } = ksTest(r.x, (v) => normalCdf(v / sd));
    expect(p, `KS p ${p}`).toBeGreaterThan(1e-3);
    // Churn on every step (no sTmax) adds much more: the same test rejects it.
    const all = await heun(identity, x0, sigmas, { churn: { ...churn, sTmin: 0, sTmax: Number.POSITIVE_INFINITY } });
    expect(ksTest(all.x, (v) => normalCdf(v / sd)).p).toBeLessThan(1e-6);
  });

  it('still samples the reference set in proportion at D = Infinity (three points at -1, one at +1)', async () => {
    using ideal = await idealDenoiser(Float32Array.of(-1, -1, -1, 1), { D: Number.POSITIVE_INFINITY, shape: [1] });
    const count = 2000;
    for (const churn of [undefined, { sChurn: 30, sTmin: 0.01, sTmax: 10 }]) {
      const r = await sample(ideal, { count, steps: 24, seed: 11, sigmaMax: 20, churn });
      expect(worstLanding(r.x, Float32Array.of(-1, 1), 1)).toBeLessThan(1e-5);
      const minus = r.x.filter((v) => v < 0).length / count;
      // Binomial(2000, 3/4): standard deviation 0.0097; four of them.
      expect(Math.abs(minus - 0.75), `fraction at -1: ${minus}`).toBeLessThan(4 * Math.sqrt((0.75 * 0.25) / count));
    }
  });
});

describe('bad arguments', () => {
  it('are refused with clear errors', async () => {
    using ideal = await idealDenoiser(RING_REFS, { D: 2, shape: [2] });
    const denoise: DenoiseFn = (x, s) => ideal.denoise(x, s);
    const x = new Float32Array(4);
    await expect(euler(denoise, x, [1, 0.5])).rejects.toThrow(/end in 0/);
    await expect(euler(denoise, x, [1, 2, 0])).rejects.toThrow(/decreasing/);
    await expect(euler(denoise, x, [Number.NaN, 0])).rejects.toThrow(/finite/);
    await expect(euler(denoise, x, [0])).rejects.toThrow(/at least two/);
    await expect(euler(denoise, [1, 2] as never, [1, 0])).rejects.toMatchObject({ code: 'ERR_PFGM_DTYPE' });
    await expect(euler(async () => new Float32Array(3), x, [1, 0])).rejects.toMatchObject({ code: 'ERR_PFGM_SHAPE' });
    await expect(rk45(denoise, x, [20, 0.002, 0], { maxSteps: 3 })).rejects.toThrow(/3 steps/);
    await expect(rk45(denoise, x, [20, 0.002, 0], { rtol: 0 })).rejects.toThrow(/rtol/);
    await expect(solvers.ipndm(denoise, x, [1, 0], { maxOrder: 5 } as never)).rejects.toThrow(/maxOrder/);
    await expect(heun(denoise, new Float32Array(6), [1, 0], { churn: { sChurn: 1, count: 4 } })).rejects.toThrow(
      /divide/,
    );
    await expect(heun(denoise, x, [1, 0], { churn: { sChurn: -1 } })).rejects.toThrow(/sChurn/);
    const base = { count: 2, sigmaMax: 20 };
    await expect(sample(ideal, { ...base, solver: 'ddim' as never })).rejects.toThrow(/solver must be one of/);
    await expect(sample(ideal, { ...base, solver: 'dpm2m', churn: { sChurn: 1 } })).rejects.toThrow(/heun/);
    await expect(sample(ideal, { ...base, rtol: 1e-3 })).rejects.toThrow(/rk45/);
    await expect(sample(ideal, { ...base, labels: new Float32Array(2) })).rejects.toThrow(/unconditional/);
    await expect(sample(ideal, { ...base, guidance: 2 })).rejects.toThrow(/conditional/);
    await expect(sample(ideal, { ...base, sigmas: [10, 1, 0] })).rejects.toThrow(/sigmaMax/);
    await expect(sample(ideal, { count: 0 })).rejects.toBeInstanceOf(PfgmError);
    using cond = await idealDenoiser(RING_REFS, { D: 2, shape: [2], classes: [0, 0, 0, 0, 0, 1, 1, 1, 1, 1] });
    await expect(sample(cond, { ...base, guidance: 2 })).rejects.toThrow(/needs labels/);
    await expect(sample(cond, { ...base, labels: new Float32Array(3) })).rejects.toMatchObject({
      code: 'ERR_PFGM_SHAPE',
    });
  });
});
