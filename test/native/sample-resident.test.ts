// The device path of the solvers (src/sample/resident.ts: the state in the network's backend
// memory, one native call per step) run on the CPU backend with `stateOnDevice: true`. It shares
// the host path's solvers and coefficients (src/sample/solverOps.ts) and the CPU kernels, so every
// sample, every callback and every error must be the host path's, bit for bit; its copy counter
// shows that the batch crosses to the host only for a callback and the result. The same path on a
// GPU (and on the CUDA emulator, on every CI run) is test/gpu/sample-resident-parity.test.ts.
import { describe, expect, it } from 'vitest';
import {
  createNetwork,
  idealDenoiser,
  karras,
  type Network,
  PfgmError,
  pfgmHyperparameters,
  pfgmSample,
  preset,
  type SampleOptions,
  Sampler,
  type StepInfo,
  sample,
  sampleStream,
  solverNames,
} from '../../src/index.js';
import { nativeStreams } from '../../src/physics/streams.js';
import { DeviceOps } from '../../src/sample/deviceOps.js';
import { eulerWith } from '../../src/sample/euler.js';

/** A conditional MLP with random weights, so that its output depends on x, sigma and the labels. */
function randomNet(labelDim = 3): Network {
  const net = createNetwork(
    {
      kind: 'mlp',
      features: 3,
      hidden: 32,
      numBlocks: 2,
      embChannels: 32,
      noiseChannels: 16,
      labelDim,
      dropout: 0,
      labelDropout: 0.1,
    },
    { seed: 1, D: 16 },
  );
  let s = 7;
  const raw = net.flatWeights().raw.map(() => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32 - 0.5) * 0.8;
  });
  net.loadFlatWeights({ raw, ema: raw });
  return net;
}

const oneHot = (count: number, dim: number) => {
  const l = new Float32Array(count * dim);
  for (let i = 0; i < count; i++) l[i * dim + ((i * 7) % dim)] = 1;
  return l;
};
const bytes = (x: Float32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength);

async function rejection(p: Promise<unknown>): Promise<PfgmError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(PfgmError);
  return e as PfgmError;
}

describe('stateOnDevice on the CPU backend', () => {
  it('every solver and option gives the host path bit for bit, with the same NFE and callbacks', async () => {
    using net = randomNet();
    const labels = oneHot(7, 3);
    const runs: SampleOptions[] = [
      { count: 7, steps: 5, labels },
      { count: 7, steps: 4, labels, guidance: 2.5, churn: { sChurn: 20, sTmin: 0.1, sTmax: 10 } },
      { count: 7, steps: 4, labels, noiseInjection: { alpha: 0.2, seed: 3 }, sampleOffset: 11 },
      { count: 7, solver: 'euler', steps: 6, seed: [6, 5, 4, 3, 2, 1, 0], labels },
      { count: 7, solver: 'dpm2m', steps: 6, labels, guidance: 1.5, weights: 'raw' },
      { count: 7, solver: 'dpm3m', steps: 7, labels, D: Number.POSITIVE_INFINITY },
      { count: 7, solver: 'ipndm', steps: 7, labels, sigmas: [30, 12, 5, 2, 0.7, 0.1, 0] },
      { count: 7, solver: 'rk45', steps: 3, labels, rtol: 1e-5, atol: 1e-5 },
      { count: 7, solver: 'rk45', labels },
    ];
    for (const options of runs) {
      const name = JSON.stringify({ ...options, labels: undefined });
      const hostSteps: StepInfo[] = [];
      const deviceSteps: StepInfo[] = [];
      const host = await sample(net, { seed: 9, ...options, callback: (s) => hostSteps.push(s) });
      const device = await sample(net, {
        seed: 9,
        ...options,
        stateOnDevice: true,
        callback: (s) => deviceSteps.push(s),
      });
      expect(bytes(device.x).equals(bytes(host.x)), name).toBe(true);
      expect(device.nfe, name).toBe(host.nfe);
      expect(deviceSteps.length, name).toBe(hostSteps.length);
      deviceSteps.forEach((s, k) => {
        const h = hostSteps[k] as StepInfo;
        expect([s.i, s.sigma], name).toEqual([h.i, h.sigma]);
        expect(bytes(s.x).equals(bytes(h.x)) && bytes(s.denoised).equals(bytes(h.denoised)), name).toBe(true);
      });
    }
  });

  it('keeps batch invariance: sampleStream in batches of 3 gives the whole run', async () => {
    using net = randomNet();
    const options: SampleOptions = { count: 8, steps: 5, seed: 4, labels: oneHot(8, 3), guidance: 2, solver: 'dpm3m' };
    const whole = await sample(net, { ...options, stateOnDevice: true });
    const parts: Float32Array[] = [];
    for await (const b of sampleStream(net, { ...options, batch: 3, stateOnDevice: true })) parts.push(b.x);
    expect(Buffer.concat(parts.map(bytes)).equals(bytes(whole.x))).toBe(true);
    expect(bytes(whole.x).equals(bytes((await sample(net, options)).x))).toBe(true);
  });

  it('moves the batch to the host once for the result, and twice per step for a callback', async () => {
    using net = randomNet(0);
    const count = 4;
    const sigmas = karras({ steps: 6, sigmaMax: 20 });
    for (const callback of [undefined, () => undefined]) {
      const ops = new DeviceOps(net, { batch: count, ema: true }, { callback });
      const x0 = await ops.prior(16, 20, nativeStreams({ seed: 0 }, count));
      const r = await eulerWith(ops, x0, sigmas);
      expect(r.x.length).toBe(count * 3);
      expect(ops.transfers()).toEqual({ uploads: 0, downloads: callback ? 1 + 2 * 6 : 1 });
      ops.dispose();
    }
  });

  it('raises the host path’s errors: non-finite values named by step and sigma, an abort between steps', async () => {
    using nan = createNetwork(preset('mlp', { features: 2, hidden: 16, numBlocks: 1 }), {
      D: 8,
      sigmaData: 1,
      seed: 1,
    });
    const w = nan.stateDict('raw');
    ([...w.values()][0] as Float32Array)[0] = Number.NaN;
    nan.loadStateDict(w, 'both');
    for (const solver of solverNames) {
      const options: SampleOptions = { count: 3, solver, steps: 4, sigmaMax: 10 };
      const host = await rejection(sample(nan, options));
      const device = await rejection(sample(nan, { ...options, stateOnDevice: true }));
      expect([device.code, device.message], solver).toEqual([host.code, host.message]);
      if (solver === 'rk45') continue;
      const kept = await sample(nan, { ...options, stateOnDevice: true, allowNonFinite: true });
      expect(kept.nonFinite, solver).toBe(3);
    }
    using net = randomNet(0);
    const controller = new AbortController();
    const run = sample(net, {
      count: 2,
      steps: 8,
      stateOnDevice: true,
      signal: controller.signal,
      callback: (s) => {
        if (s.i === 2) controller.abort(new Error('stop here'));
      },
    });
    await expect(run).rejects.toThrow('stop here');
  });

  it('refuses stateOnDevice for a model that is not a Network, or a value that is not a boolean', async () => {
    using ideal = await idealDenoiser(new Float32Array([0, 1, 2, 3]), { D: 4, shape: [2] });
    const e = await rejection(sample(ideal, { count: 2, steps: 3, stateOnDevice: true }));
    expect(e.code).toBe('ERR_PFGM_ARGUMENT');
    expect(e.message).toMatch(/stateOnDevice needs a Network/);
    using net = randomNet(0);
    const bad = await rejection(sample(net, { count: 2, steps: 3, stateOnDevice: 'yes' as unknown as boolean }));
    expect(bad.message).toMatch(/stateOnDevice must be a boolean/);
  });
});

describe("stateOnDevice for PFGM's z-ODE on the CPU backend", () => {
  it('draws the clipped prior and the drift on the device: euler and rk45 bit for bit, heun within rounding', async () => {
    using net = createNetwork(
      {
        kind: 'mlp',
        features: 3,
        hidden: 32,
        numBlocks: 2,
        embChannels: 32,
        noiseChannels: 16,
        labelDim: 0,
        dropout: 0,
        labelDropout: 0,
      },
      { objective: 'pfgm', seed: 2 },
    );
    net.pfgm = { ...pfgmHyperparameters({ dataNorm: 1.5, N: 3, M: 60 }), gamma: 5, restrictM: true };
    for (const solver of ['euler', 'rk45', 'heun'] as const) {
      const options = {
        count: 5,
        seed: [4, 3, 2, 1, 0],
        solver,
        steps: 6,
        radiusClip: 'reference' as const,
        rtol: 1e-3,
        atol: 1e-3,
      };
      const hostZ: number[] = [];
      const deviceZ: number[] = [];
      const host = await pfgmSample(net, { ...options, callback: (s) => hostZ.push(s.z) });
      const device = await pfgmSample(net, { ...options, stateOnDevice: true, callback: (s) => deviceZ.push(s.z) });
      expect(device.nfe, solver).toBe(host.nfe);
      expect(deviceZ, solver).toEqual(hostZ);
      if (solver === 'heun') {
        let worst = 0;
        for (const [k, v] of device.x.entries()) worst = Math.max(worst, Math.abs(v - (host.x[k] as number)));
        expect(worst, solver).toBeLessThanOrEqual(1e-6 * Math.max(1, ...Array.from(host.x, Math.abs)));
      } else {
        expect(bytes(device.x).equals(bytes(host.x)), solver).toBe(true);
      }
    }
    // sample() passes stateOnDevice through
    const viaSample = await sample(net, { count: 2, solver: 'euler', steps: 4, seed: 1, stateOnDevice: true });
    const onHost = await sample(net, { count: 2, solver: 'euler', steps: 4, seed: 1 });
    expect(bytes(viaSample.x).equals(bytes(onHost.x))).toBe(true);
  });
});

describe('a Sampler with stateOnDevice on the CPU backend', () => {
  const requests = () => [
    { count: 2, seed: [0, 1], steps: 5, sigmaMax: 20, class: 1 },
    { count: 3, seed: 9, sampleOffset: 4, steps: 5, sigmaMax: 20, class: 2, guidance: 3 },
    { count: 4, seed: 2, steps: 5, sigmaMax: 20, labels: oneHot(4, 3), guidance: 0.5 },
    { count: 1, seed: [8], steps: 5, sigmaMax: 20, class: 0 },
    { count: 9, seed: 11, steps: 5, sigmaMax: 20, class: 0, solver: 'dpm2m' as const },
    { count: 3, seed: 4, steps: 6, sigmaMax: 20, class: 2, solver: 'ipndm' as const, guidance: 2 },
    { count: 2, seed: 3, steps: 3, sigmaMax: 20, class: 2, solver: 'rk45' as const },
  ];

  it("merged runs (guided and unguided requests, each with its seeds) give the host Sampler's bits", async () => {
    using net = randomNet();
    const onHost = new Sampler(net, { maxBatch: 7 });
    const onDevice = new Sampler(net, { maxBatch: 7, stateOnDevice: true });
    const want = await Promise.all(requests().map((r) => onHost.sample(r)));
    const got = await Promise.all(requests().map((r) => onDevice.sample(r)));
    // Requests of one schedule ran together, and a request larger than maxBatch in pieces.
    expect(onDevice.stats().runs).toBe(onHost.stats().runs);
    expect(onDevice.stats().runs).toBeLessThan(requests().length + 1);
    for (const [k, r] of want.entries()) {
      expect(bytes((got[k] as typeof r).x).equals(bytes(r.x)), `request ${k}`).toBe(true);
      expect(got[k]?.nfe).toBe(r.nfe);
    }
    await Promise.all([onHost.dispose(), onDevice.dispose()]);
  });

  it('an aborted request rejects; the run goes on for the others and gives them their bits', async () => {
    using net = randomNet();
    await using sampler = new Sampler(net, { stateOnDevice: true });
    const controller = new AbortController();
    const kept = sampler.sample({ count: 2, seed: 5, steps: 6, sigmaMax: 20, class: 1 });
    const gone = sampler.sample({ count: 3, seed: 6, steps: 6, sigmaMax: 20, class: 2, signal: controller.signal });
    setImmediate(() => setImmediate(() => controller.abort(new Error('caller left'))));
    await expect(gone).rejects.toThrow('caller left');
    const labels = Float32Array.of(0, 1, 0, 0, 1, 0);
    const alone = await sample(net, { count: 2, seed: 5, steps: 6, sigmaMax: 20, labels });
    expect(bytes((await kept).x).equals(bytes(alone.x))).toBe(true);
    using ideal = await idealDenoiser(new Float32Array([0, 1, 2, 3]), { D: 4, shape: [2] });
    expect(() => new Sampler(ideal, { stateOnDevice: true })).toThrow(/stateOnDevice needs a Network/);
  });
});
