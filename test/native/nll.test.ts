// The likelihood stack: the network's input VJP (nn::Denoiser::input_vjp) against finite
// differences, and nll() against closed forms. With the ideal denoiser the probability-flow ODE is
// exact, so ln p(x) must equal the density of the reference set perturbed at sigma_min (one
// kernel (2.1) per reference, Gaussian for D = Infinity) up to the integration tolerance and the
// prior's mismatch at sigma_max; Hutchinson's estimate must be unbiased for the exact trace with
// a spread that falls as 1/sqrt(probes).
import { describe, expect, it } from 'vitest';
import { priorLogDensity } from '../../src/eval/nll.js';
import { createNetwork, fromNativeConfig, idealDenoiser, nll, PfgmError } from '../../src/index.js';
import { loadFixture } from '../helpers/golden.js';
import { RING_REFS } from '../helpers/ideal.js';
import { filled } from '../helpers/ops.js';

const SIGMA_MIN = 0.002;
const SMALL_MLP = {
  kind: 'mlp',
  features: 2,
  hidden: 64,
  numBlocks: 2,
  embChannels: 64,
  noiseChannels: 32,
  labelDim: 0,
  dropout: 0,
  labelDropout: 0,
} as const;

/** ln (1/M) sum_j p_kernel(x - y_j; sigma) for one point x (docs/method.md (2.1), any D). */
function mixtureLogDensity(x: ArrayLike<number>, refs: ArrayLike<number>, n: number, D: number, sigma: number): number {
  const m = refs.length / n;
  const logs: number[] = [];
  for (let j = 0; j < m; j++) {
    let d2 = 0;
    for (let k = 0; k < n; k++) d2 += ((x[k] as number) - (refs[j * n + k] as number)) ** 2;
    logs.push(priorLogDensity(d2, n, D, sigma));
  }
  const best = Math.max(...logs);
  return best + Math.log(logs.reduce((a, l) => a + Math.exp(l - best), 0) / m);
}

describe('Network.inputVjp', () => {
  it.each([
    ['mlp-tiny', false],
    ['ncsnpp-tiny', false],
    ['mlp-tiny', true],
    ['ncsnpp-tiny', true],
  ])('%s (adaptiveScale %s): v^T dD/dx matches central differences of D', async (name, adaptiveScale) => {
    const fx = loadFixture(`networks/${name}.safetensors`);
    using net = createNetwork(fromNativeConfig(JSON.parse(fx.file.metadata.config ?? '{}')), { adaptiveScale });
    const weights = new Map<string, Float32Array>();
    for (const [k, t] of fx.file.tensors) if (k.startsWith('param/')) weights.set(k.slice(6), t.data as Float32Array);
    net.loadStateDict(weights, 'both');
    const size = net.sampleSize;
    const batch = 2;
    // Far samples (||x||^2 / N well above sigma^2 + sigma_data^2) put the adaptive scaling's
    // x-dependent branch to the test.
    const spread = adaptiveScale ? 4 : 1.5;
    const x = filled([batch * size], 1, -spread, spread).data;
    const v = filled([batch * size], 2).data;
    const sigma = Float32Array.of(0.4, 2.5);
    const { denoised, vjp } = await net.inputVjp(x, sigma, v);
    expect(denoised).toEqual(await net.denoise(x, sigma));
    // (v^T J) u against v . (D(x + h u) - D(x - h u)) / 2h for a few random directions u.
    for (let d = 0; d < 3; d++) {
      const u = filled([batch * size], 10 + d).data;
      const h = 1e-2;
      const plus = await net.denoise(
        x.map((t, k) => t + h * (u[k] as number)),
        sigma,
      );
      const minus = await net.denoise(
        x.map((t, k) => t - h * (u[k] as number)),
        sigma,
      );
      for (let i = 0; i < batch; i++) {
        let fd = 0;
        let analytic = 0;
        for (let k = i * size; k < (i + 1) * size; k++) {
          fd += ((v[k] as number) * ((plus[k] as number) - (minus[k] as number))) / (2 * h);
          analytic += (vjp[k] as number) * (u[k] as number);
        }
        // Measured: 2e-6 relative (MLP), up to 5e-4 (NCSN++, fp32 differences over a conv net).
        expect(Math.abs(fd - analytic), `${name} sample ${i} direction ${d}: fd ${fd} vs ${analytic}`).toBeLessThan(
          2e-3 * Math.max(1, Math.abs(analytic)),
        );
      }
    }
  });

  it('leaves the training gradients alone', async () => {
    using net = createNetwork(SMALL_MLP, { seed: 3 });
    const y = filled([8], 1).data;
    await net.lossAndGrad(y, filled([8], 2).data, Float32Array.of(0.5, 1, 2, 3));
    const before = net.flatWeights();
    const grads = net.stateDict('grads');
    await net.inputVjp(y, 0.7, filled([8], 3).data);
    const after = net.stateDict('grads');
    let changed = 0;
    for (const [k, g] of grads) {
      const a = after.get(k) as Float32Array;
      for (let i = 0; i < g.length; i++) if (a[i] !== g[i]) changed++;
    }
    expect(changed).toBe(0);
    expect(net.flatWeights().raw.every((v, i) => v === before.raw[i])).toBe(true);
    await expect(net.inputVjp(y, 0.7, new Float32Array(3))).rejects.toMatchObject({ code: 'ERR_PFGM_SHAPE' });
  });
});

describe('nll with the ideal denoiser: closed forms', () => {
  it.each([Number.POSITIVE_INFINITY, 128, 4])(
    'D = %s, one point at the origin: ln p is the kernel at sigma_min exactly',
    async (D) => {
      // One reference: D(x) = y, no Jacobian; the prior is the same kernel at sigma_max, so the
      // flow x - y proportional to sigma carries one exactly onto the other.
      using ideal = await idealDenoiser(Float32Array.of(0, 0, 0), { D, shape: [3] });
      const x = Float32Array.from([0.001, -0.002, 0.0005, 0.004, 0.001, -0.003, -0.01, 0.0, 0.002]);
      const r = await nll(ideal, x, { bits: false, hutchinson: 1, seed: 0 });
      for (let i = 0; i < 3; i++) {
        const want = mixtureLogDensity(x.subarray(3 * i, 3 * i + 3), [0, 0, 0], 3, D, SIGMA_MIN);
        // Measured 2.2e-4 nats for every D and point: the RK45 tolerance (1e-5) on ln p ~ 15.
        expect(Math.abs((r.logp[i] as number) - want)).toBeLessThan(1e-3);
      }
    },
  );

  it.each([Number.POSITIVE_INFINITY, 128, 4])('D = %s, ten points in 2-D: ln p is the perturbed mixture', async (D) => {
    using ideal = await idealDenoiser(RING_REFS, { D, shape: [2] });
    // Data points: references moved by up to 3 sigma_min, and one 10 sigma_min away from the
    // nearest (density ~e^-50 for D = Infinity). (A point halfway between two references sits on
    // the flow's saddle at sigma_min, where no fp32 trajectory can follow the exact one.)
    const offsets = filled([7, 2], 4, -3 * SIGMA_MIN, 3 * SIGMA_MIN).data;
    const x = new Float32Array(14);
    for (let i = 0; i < 7; i++) {
      x[2 * i] = (RING_REFS[2 * i] as number) + (offsets[2 * i] as number);
      x[2 * i + 1] = (RING_REFS[2 * i + 1] as number) + (offsets[2 * i + 1] as number);
    }
    x[12] = (RING_REFS[12] as number) + 10 * SIGMA_MIN;
    const r = await nll(ideal, x, { bits: false, hutchinson: 'exact', rtol: 1e-7, atol: 1e-7 });
    for (let i = 0; i < 7; i++) {
      const want = mixtureLogDensity(x.subarray(2 * i, 2 * i + 2), RING_REFS, 2, D, SIGMA_MIN);
      // Measured: at most 1.2e-4 nats near the references (the prior's O(|y|^2 / sigma_max^2)
      // mismatch and fp32), 2.7e-3 (D = inf) and 1.3e-3 (D = 128) for the point at ln p ~ -42.
      expect(Math.abs((r.logp[i] as number) - want), `point ${i}`).toBeLessThan(5e-3);
    }
  });

  it("Hutchinson's estimate is unbiased for the exact trace, its spread falling as 1/sqrt(probes)", async () => {
    using ideal = await idealDenoiser(RING_REFS, { D: Number.POSITIVE_INFINITY, shape: [2] });
    const count = 64;
    const x = filled([count, 2], 8, -1.2, 1.2).data;
    const exact = await nll(ideal, x, { bits: false, hutchinson: 'exact', sigmaMin: 0.05 });
    const stats = async (probes: number) => {
      const r = await nll(ideal, x, { bits: false, hutchinson: probes, seed: 1, sigmaMin: 0.05 });
      const dev = Array.from(r.logp, (l, i) => l - (exact.logp[i] as number));
      const mean = dev.reduce((a, b) => a + b, 0) / count;
      const sd = Math.sqrt(dev.reduce((a, b) => a + (b - mean) ** 2, 0) / (count - 1));
      return { mean, sd };
    };
    const one = await stats(1);
    const many = await stats(16);
    // Measured: one probe mean -0.22, sd 10.6 nats; 16 probes mean 0.11, sd 2.4 (ratio 4.4).
    expect(one.sd).toBeGreaterThan(0.05); // the estimate is noisy with one probe...
    expect(Math.abs(one.mean)).toBeLessThan((4 * one.sd) / Math.sqrt(count)); // ...but unbiased
    expect(Math.abs(many.mean)).toBeLessThan((4 * many.sd) / Math.sqrt(count));
    // 16 probes: 4x less spread (within sampling error of the standard deviations).
    expect(many.sd).toBeLessThan(one.sd / 2.5);
    expect(many.sd).toBeGreaterThan(one.sd / 6);
  });

  it('fixed Heun steps approach the adaptive result; bits add the dequantization offset', async () => {
    using ideal = await idealDenoiser(RING_REFS, { D: 128, shape: [2] });
    const x = RING_REFS.slice(0, 8).map((v, k) => v + 0.003 * Math.sin(k));
    const adaptive = await nll(ideal, x, { bits: false, hutchinson: 'exact' });
    const coarse = await nll(ideal, x, { bits: false, hutchinson: 'exact', steps: 20 });
    const fine = await nll(ideal, x, { bits: false, hutchinson: 'exact', steps: 200 });
    expect(fine.nfe).toBe(400);
    let eCoarse = 0;
    let eFine = 0;
    for (let i = 0; i < 4; i++) {
      eCoarse = Math.max(eCoarse, Math.abs((coarse.logp[i] as number) - (adaptive.logp[i] as number)));
      eFine = Math.max(eFine, Math.abs((fine.logp[i] as number) - (adaptive.logp[i] as number)));
    }
    // Measured: 1.03 nats at 20 steps, 0.010 at 200 (second order), against RK45's 182 evaluations.
    expect(eFine).toBeLessThan(eCoarse / 10);
    const eight = await nll(ideal, x, { hutchinson: 'exact' });
    for (let i = 0; i < 4; i++) {
      expect((eight.bpdPerSample[i] as number) - (adaptive.bpdPerSample[i] as number)).toBeCloseTo(7, 9);
      expect(adaptive.bpdPerSample[i]).toBeCloseTo(-(adaptive.logp[i] as number) / (2 * Math.LN2), 12);
    }
    expect(eight.bpd).toBeCloseTo(eight.bpdPerSample.reduce((a, b) => a + b, 0) / 4, 12);
  });
});

describe('nll with a network', () => {
  it('Hutchinson agrees with the exact trace on average, and bad input is refused', async () => {
    using net = createNetwork(SMALL_MLP, { seed: 4 });
    const w = net.flatWeights();
    let s = 3;
    const raw = w.raw.map(() => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return (s / 2 ** 32 - 0.5) * 0.1;
    });
    net.loadFlatWeights({ raw, ema: raw });
    const count = 32;
    const x = filled([count, 2], 6, -1, 1).data;
    const exact = await nll(net, x, { bits: false, hutchinson: 'exact', D: 64, steps: 24 });
    const hutch = await nll(net, x, { bits: false, hutchinson: 4, seed: 2, D: 64, steps: 24 });
    const dev = Array.from(hutch.logp, (l, i) => l - (exact.logp[i] as number));
    const mean = dev.reduce((a, b) => a + b, 0) / count;
    const sd = Math.sqrt(dev.reduce((a, b) => a + (b - mean) ** 2, 0) / (count - 1));
    // Measured: mean -8.0e-4, sd 6.2e-3 nats.
    expect(Math.abs(mean)).toBeLessThan((4 * sd) / Math.sqrt(count) + 1e-6);
    await expect(nll(net, new Float32Array(3))).rejects.toMatchObject({ code: 'ERR_PFGM_SHAPE' });
    await expect(nll(net, x, { hutchinson: 0 })).rejects.toBeInstanceOf(PfgmError);
    await expect(nll(net, x, { sigmaMin: 100 })).rejects.toThrow(/below sigmaMax/);
    const noVjp = { D: 1, sampleShape: [2], labelDim: 0, denoise: async (v: Float32Array) => v };
    await expect(nll(noVjp, x)).rejects.toThrow(/inputVjp/);
  });
});
