// Sampling with the solver state on the GPU (src/sample/resident.ts, docs/cuda.md "What stays on
// the GPU") against the same network sampled on the CPU engine. The solvers' coefficients and
// control flow are shared and the fused update is the same double-precision sum on both devices
// (bit for bit, docs/cuda.md), so what differs is the network's arithmetic (~1e-6 relative per
// op in fp32), carried through the ODE. Over these short schedules the samples agree to 1e-4 of
// their scale; RK45's steps are chosen from a norm reduced on the device (same terms, another
// summation order) and agree within the same bound here, except on PFGM's z-ODE, where the
// rounding moves RK45's steps and the samples agree within the solver's tolerance.
//
// On the CUDA emulator (test/native/cuda-emulated.test.ts runs this file there on every CI
// machine) the runtime's copy log also shows that no batch crosses to the host per evaluation:
// the prior is drawn on the device and one download brings back the finished samples, whatever
// the number of steps. Skipped where the loaded addon has no usable GPU with cuDNN and cuBLAS.
import { describe, expect, it } from 'vitest';
import { native } from '../../src/addon/load.js';
import {
  createNetwork,
  type Network,
  pfgmHyperparameters,
  pfgmSample,
  type SampleOptions,
  Sampler,
  sample,
} from '../../src/index.js';
import { gpuReady } from '../helpers/gpu.js';
import { scaledError } from '../helpers/ops.js';

interface EmuCopies {
  toDevice: number[];
  toHost: number[];
}
/** The emulator's copy log (test/native/emucuda/emu_exports.cc); undefined on a real GPU. */
const emuCopies = (): EmuCopies | undefined =>
  gpuReady ? (native() as unknown as { emuCopies?: () => EmuCopies }).emuCopies?.() : undefined;

/** An MLP with weights that make its output depend on x, sigma and the labels. */
function pair(features: number, labelDim: number, objective: 'pfgmpp' | 'pfgm' = 'pfgmpp'): [Network, Network] {
  const config = {
    kind: 'mlp' as const,
    features,
    hidden: 32,
    numBlocks: 2,
    embChannels: 32,
    noiseChannels: 16,
    labelDim,
    dropout: 0,
    labelDropout: 0,
  };
  const cpu = createNetwork(config, { seed: 1, device: 'cpu', objective });
  const gpu = createNetwork(config, { seed: 1, device: 'cuda', objective });
  let s = 7;
  const raw = cpu.flatWeights().raw.map(() => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32 - 0.5) * 0.8;
  });
  cpu.loadFlatWeights({ raw, ema: raw });
  gpu.loadFlatWeights({ raw, ema: raw });
  return [cpu, gpu];
}

const oneHot = (count: number, dim: number) => {
  const l = new Float32Array(count * dim);
  for (let i = 0; i < count; i++) l[i * dim + (i % dim)] = 1;
  return l;
};

describe.skipIf(!gpuReady)('sampling with the state on the GPU', () => {
  it('every solver gives the CPU engine samples within 1e-4 of their scale', { timeout: 300_000 }, async () => {
    const [cpu, gpu] = pair(4, 3);
    const labels = oneHot(6, 3);
    const runs: [string, SampleOptions][] = [
      ['euler', { count: 6, solver: 'euler', steps: 5 }],
      ['heun', { count: 6, solver: 'heun', steps: 4, labels }],
      ['heun, churn, injected noise', { count: 6, steps: 4, churn: { sChurn: 10 }, noiseInjection: { alpha: 0.1 } }],
      ['dpm2m, guidance', { count: 6, solver: 'dpm2m', steps: 5, labels, guidance: 2 }],
      ['dpm3m, per-sample seeds', { count: 6, solver: 'dpm3m', steps: 5, seed: [5, 4, 3, 2, 1, 0] }],
      ['ipndm', { count: 6, solver: 'ipndm', steps: 6, sampleOffset: 3 }],
      ['rk45', { count: 6, solver: 'rk45', steps: 2, rtol: 1e-3, atol: 1e-3 }],
    ];
    for (const [name, options] of runs) {
      const common: SampleOptions = { seed: 2, sigmaMax: 20, ...options };
      const want = await sample(cpu, common);
      const got = await sample(gpu, common);
      expect(scaledError(got.x, want.x), name).toBeLessThan(1e-4);
      expect(got.nfe, name).toBe(want.nfe);
    }
    cpu.dispose();
    gpu.dispose();
  });

  it("PFGM's z-ODE (prior, drift and steps on the device) gives the CPU engine's samples", async () => {
    const [cpu, gpu] = pair(4, 0, 'pfgm');
    for (const net of [cpu, gpu])
      net.pfgm = { ...pfgmHyperparameters({ dataNorm: 2, N: 4, M: 60 }), gamma: 5, restrictM: true };
    for (const solver of ['euler', 'heun', 'rk45'] as const) {
      const options = { count: 5, seed: 3, solver, steps: 5, radiusClip: 'reference' as const, rtol: 1e-3, atol: 1e-3 };
      const want = await pfgmSample(cpu, options);
      emuCopies();
      const got = await pfgmSample(gpu, options);
      const copies = emuCopies();
      // RK45 chooses its steps from the state: the GPU's rounding moves them, and the samples agree
      // within the tolerance asked for (measured on the emulator: 6e-4 at rtol = atol = 1e-3,
      // 4e-5 at 1e-4), not to rounding.
      expect(scaledError(got.x, want.x), solver).toBeLessThan(solver === 'rk45' ? 1e-3 : 1e-4);
      if (solver !== 'rk45') expect(got.nfe, solver).toBe(want.nfe);
      if (copies !== undefined) expect(copies.toHost.filter((b) => b >= 5 * 4 * 4).length, solver).toBe(1);
    }
    cpu.dispose();
    gpu.dispose();
  });

  it("the run's kernels over many blocks: finiteness index, error norm, combination, iPNDM step", async () => {
    // 600 samples of 16 values: 9600 elements, 38 blocks of 256 threads (the reductions' partials
    // are summed on the host in block order).
    const [cpu, gpu] = pair(16, 0);
    const batch = 600;
    const n = batch * 16;
    const value = (seed: number) =>
      Float32Array.from({ length: n }, (_, k) => Math.sin(k * 0.37 + seed) * (1 + (k % 7)));
    const runs = [cpu, gpu].map((net) => net.nativeHandle('test').sampleRun({ batch, ema: false }));
    const [a, b, c] = [value(1), value(2), value(3)];
    const results = [];
    for (const run of runs) {
      await run.upload(0, a);
      await run.upload(1, b);
      await run.upload(2, c);
      const clean = await run.check(0);
      const withNan = a.slice();
      withNan[7777] = Number.NaN;
      withNan[9000] = Number.POSITIVE_INFINITY;
      await run.upload(3, withNan);
      const found = await run.check(3);
      const sumsq = await run.scaledSumsq(0, 1, 2, 1e-3, 1e-4);
      await run.combine(4, Float64Array.of(0.5, -1.25, 3), [0, 1, 2]);
      await run.slopeUpdate(0, 1, 0.7, Float64Array.of(-0.3, 0.2), [9, 2], 5, 6);
      results.push({
        clean,
        found,
        sumsq,
        combined: await run.download(4),
        slope: await run.download(5),
        stepped: await run.download(6),
      });
      run.dispose();
    }
    const [want, got] = results as [(typeof results)[0], (typeof results)[0]];
    expect(got.clean).toEqual({ index: -1, value: 0 });
    expect(got.found.index).toBe(7777);
    expect(Number.isNaN(got.found.value)).toBe(true);
    expect(want.found.index).toBe(7777);
    expect(Math.abs(got.sumsq - want.sumsq)).toBeLessThanOrEqual(1e-12 * want.sumsq);
    // The fused update and the iPNDM step: the same double sum rounded once (<= 1 ulp with FMA).
    expect(scaledError(got.combined, want.combined)).toBeLessThan(2 ** -23);
    expect(scaledError(got.slope, want.slope)).toBeLessThan(2 ** -23);
    expect(scaledError(got.stepped, want.stepped)).toBeLessThan(2 ** -22);
    cpu.dispose();
    gpu.dispose();
  });

  it('reports steps to a callback and stops on an AbortSignal between steps', { timeout: 120_000 }, async () => {
    const [cpu, gpu] = pair(4, 0);
    const seen: { i: number; sigma: number; x: Float32Array; denoised: Float32Array }[] = [];
    const want: typeof seen = [];
    const options: SampleOptions = { count: 3, solver: 'dpm2m', steps: 4, seed: 1, sigmaMax: 20 };
    await sample(cpu, { ...options, callback: (s) => want.push(s) });
    await sample(gpu, { ...options, callback: (s) => seen.push(s) });
    expect(seen.map((s) => [s.i, s.sigma])).toEqual(want.map((s) => [s.i, s.sigma]));
    for (const [k, s] of seen.entries()) {
      expect(scaledError(s.denoised, (want[k] as (typeof want)[0]).denoised)).toBeLessThan(1e-4);
    }
    const controller = new AbortController();
    const run = sample(gpu, {
      ...options,
      signal: controller.signal,
      callback: (s) => {
        if (s.i === 1) controller.abort(new Error('enough'));
      },
    });
    await expect(run).rejects.toThrow('enough');
    cpu.dispose();
    gpu.dispose();
  });

  it.skipIf(emuCopies() === undefined)(
    'no batch crosses to the host per evaluation: the prior is drawn on the device, one download returns the samples',
    { timeout: 120_000 },
    async () => {
      const [cpu, gpu] = pair(16, 0);
      cpu.dispose();
      const count = 5;
      const batchBytes = count * 16 * 4;
      const batchCopies = (c: EmuCopies | undefined) => ({
        toDevice: (c?.toDevice ?? []).filter((b) => b >= batchBytes).length,
        toHost: (c?.toHost ?? []).filter((b) => b >= batchBytes).length,
      });
      for (const [solver, steps] of [
        ['euler', 3],
        ['euler', 9],
        ['heun', 6],
        ['ipndm', 8],
      ] as const) {
        emuCopies();
        const r = await sample(gpu, { count, solver, steps, seed: 0, sigmaMax: 20 });
        expect(batchCopies(emuCopies()), `${solver}, ${steps} steps (nfe ${r.nfe})`).toEqual({
          toDevice: 0,
          toHost: 1,
        });
      }
      // The host path on the same network moves the batch both ways at every evaluation: the log
      // sees those copies.
      emuCopies();
      const host = await sample(gpu, { count, solver: 'euler', steps: 3, seed: 0, sigmaMax: 20, stateOnDevice: false });
      const moved = batchCopies(emuCopies());
      expect(moved.toDevice).toBeGreaterThanOrEqual(host.nfe);
      expect(moved.toHost).toBeGreaterThanOrEqual(host.nfe);
      gpu.dispose();
    },
  );

  it("a Sampler's merged runs stay on the GPU and give the CPU Sampler's samples", { timeout: 120_000 }, async () => {
    const [cpu, gpu] = pair(4, 3);
    const requests = () => [
      { count: 2, seed: [0, 1], steps: 5, sigmaMax: 20, class: 1 },
      { count: 3, seed: 9, sampleOffset: 4, steps: 5, sigmaMax: 20, class: 2, guidance: 3 },
      { count: 4, seed: 2, steps: 5, sigmaMax: 20, class: 0, guidance: 0.5 },
    ];
    const onCpu = new Sampler(cpu);
    const onGpu = new Sampler(gpu);
    const want = await Promise.all(requests().map((r) => onCpu.sample(r)));
    emuCopies();
    const got = await Promise.all(requests().map((r) => onGpu.sample(r)));
    const copies = emuCopies();
    expect(onGpu.stats().runs).toBe(1);
    for (const [k, r] of want.entries()) {
      expect(scaledError((got[k] as typeof r).x, r.x), `request ${k}`).toBeLessThan(1e-4);
      expect(got[k]?.nfe).toBe(r.nfe);
    }
    // One merged batch of 9 samples crosses to the host once, whatever the number of steps.
    if (copies !== undefined) expect(copies.toHost.filter((b) => b >= 9 * 4 * 4).length).toBe(1);
    await Promise.all([onCpu.dispose(), onGpu.dispose()]);
    cpu.dispose();
    gpu.dispose();
  });
});
