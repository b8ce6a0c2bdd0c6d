// A model with a NaN weight, or a denoiser that returns NaN or Infinity, makes sample() and every
// solver reject with ERR_PFGM_NUMERIC naming the solver step and sigma where the first non-finite
// value appeared; with allowNonFinite the samples are kept and sample() counts them.
import { describe, expect, it } from 'vitest';
import {
  createNetwork,
  type DenoiseFn,
  karras,
  PfgmError,
  pfgmSample,
  preset,
  sample,
  solverNames,
  solvers,
} from '../../src/index.js';

async function rejection(p: Promise<unknown>): Promise<PfgmError> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PfgmError);
  return error as PfgmError;
}

function nanNetwork() {
  const net = createNetwork(preset('mlp', { features: 2, hidden: 16, numBlocks: 1 }), { D: 8, sigmaData: 1, seed: 1 });
  const w = net.stateDict('raw');
  const first = [...w.values()][0] as Float32Array;
  first[0] = Number.NaN;
  net.loadStateDict(w, 'both');
  return net;
}

describe('non-finite samples', () => {
  it('a model with one NaN weight: every solver rejects at step 0, naming sigma', async () => {
    using net = nanNetwork();
    for (const solver of solverNames) {
      const e = await rejection(sample(net, { count: 3, solver, steps: 4, sigmaMax: 10 }));
      expect(e.code, solver).toBe('ERR_PFGM_NUMERIC');
      expect(e.message, solver).toMatch(
        /the denoiser output holds non-finite values \(NaN at index \d+\) at solver step 0, sigma 10/,
      );
    }
  });

  it('allowNonFinite keeps the samples and counts them', async () => {
    using net = nanNetwork();
    for (const solver of solverNames.filter((s) => s !== 'rk45')) {
      const r = await sample(net, { count: 3, solver, steps: 4, sigmaMax: 10, allowNonFinite: true });
      expect(r.nonFinite, solver).toBe(3);
      expect(
        r.x.every((v) => Number.isNaN(v)),
        solver,
      ).toBe(true);
    }
    // RK45 cannot choose steps from NaN: it says so instead of looping until maxSteps
    const e = await rejection(sample(net, { count: 3, solver: 'rk45', steps: 4, sigmaMax: 10, allowNonFinite: true }));
    expect(e.code, e.message).toBe('ERR_PFGM_NUMERIC');
    expect(e.message).toMatch(/RK45's error estimate is not finite/);
    // a finite model reports 0
    using ok = createNetwork(preset('mlp', { features: 2, hidden: 16, numBlocks: 1 }), { D: 8, sigmaData: 1, seed: 1 });
    expect((await sample(ok, { count: 3, steps: 4, sigmaMax: 10, allowNonFinite: true })).nonFinite).toBe(0);
    expect((await sample(ok, { count: 3, steps: 4, sigmaMax: 10 })).nonFinite).toBeUndefined();
  });

  it('names the step where the first non-finite value appears, in the output or in the state', async () => {
    const sigmas = karras({ steps: 6, sigmaMax: 10 });
    const x0 = Float32Array.from({ length: 8 }, (_, i) => i - 4);
    // D is NaN in one sample below sigma 1
    const late: DenoiseFn = async (x, s) => x.map((v, k) => (s < 1 && k === 5 ? Number.NaN : v * 0.5));
    const step = sigmas.findIndex((s) => s < 1);
    for (const name of ['euler', 'dpm2m', 'dpm3m', 'ipndm'] as const) {
      const e = await rejection(solvers[name](late, x0, sigmas));
      expect(e.code, name).toBe('ERR_PFGM_NUMERIC');
      expect(e.message, name).toContain(
        `the denoiser output holds non-finite values (NaN at index 5) at solver step ${step}, sigma ${sigmas[step]}`,
      );
    }
    // a finite D that overflows the state: caught as the state
    const huge: DenoiseFn = async (x, s) => x.map(() => (s < 1 ? 3e38 : 0));
    const e = await rejection(solvers.heun(huge, x0, [10, 0.001, 0]));
    expect(e.message).toMatch(
      /the solver state holds non-finite values \(-?Infinity at index 0\) at solver step 1, sigma 0.001/,
    );
    const kept = await solvers.euler(late, x0, sigmas, { allowNonFinite: true });
    expect(Number.isNaN(kept.x[5])).toBe(true);
    expect(kept.x.filter((v) => Number.isNaN(v)).length).toBe(1);
  });

  it("a PFGM network's z-ODE: a NaN weight is an error naming the step and z, unless allowNonFinite", async () => {
    using net = createNetwork(preset('mlp', { features: 2, hidden: 16, numBlocks: 1 }), { objective: 'pfgm', seed: 1 });
    const w = net.stateDict('raw');
    ([...w.values()][0] as Float32Array)[0] = Number.NaN;
    net.loadStateDict(w, 'both');
    for (const solver of ['euler', 'heun', 'rk45'] as const) {
      const e = await rejection(pfgmSample(net, { count: 2, solver, steps: 3, zMax: 40 }));
      expect(e.code, solver).toBe('ERR_PFGM_NUMERIC');
      if (solver !== 'rk45')
        expect(e.message).toMatch(/the network's field holds non-finite values .* at solver step 0, z 40/);
    }
    const kept = await pfgmSample(net, { count: 2, solver: 'euler', steps: 3, zMax: 40, allowNonFinite: true });
    expect(kept.x.every((v) => Number.isNaN(v))).toBe(true);
  });
});
