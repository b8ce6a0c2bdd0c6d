// The network scripts that the device-glue tests run on a CPU network and on a network whose
// native side lives elsewhere (the guarded device, the fake-CUDA addon), compared bit for bit:
// every call a denoiser or a PFGM field serves, in an order where each depends on the state the
// last one left. See test/native/network-guarded.test.ts and network-fakecuda.test.ts.
import { expect } from 'vitest';
import { native } from '../../src/addon/load.js';
import type { NativeAddon } from '../../src/addon/native.js';
import { type NetworkConfig, preset } from '../../src/models/config.js';
import { type CreateNetworkOptions, createNetwork, type Network } from '../../src/models/network.js';
import { pfgmHyperparameters } from '../../src/physics/pfgm.js';
import { pfgmSample } from '../../src/sample/pfgmOde.js';
import { sample } from '../../src/sample/sample.js';

type NetworkCtor = NativeAddon['Network'];

/**
 * createNetwork with the native constructor replaced by `make` (which gets the native config the
 * TypeScript side built): the options, checks and the Network wrapper are exactly what users run.
 * Returns the network and the native handle `make` returned, for the caller to check.
 */
export function redirectedNetwork(
  config: NetworkConfig,
  options: CreateNetworkOptions,
  make: (c: Record<string, unknown>) => InstanceType<NetworkCtor>,
): { net: Network; handle: InstanceType<NetworkCtor> } {
  const addon = native() as NativeAddon & { Network: NetworkCtor };
  const original = addon.Network;
  let handle: InstanceType<NetworkCtor> | undefined;
  addon.Network = function (this: unknown, c: Record<string, unknown>) {
    handle = make(c);
    return handle;
  } as unknown as NetworkCtor;
  try {
    const net = createNetwork(config, { ...options, device: 'cpu' });
    return { net, handle: handle as InstanceType<NetworkCtor> };
  } finally {
    addon.Network = original;
  }
}

/** The PFGM field networks of the scripts. */
export const fields: [string, NetworkConfig][] = [
  ['PFGM field: MLP', preset('mlp', { hidden: 32, numBlocks: 1 })],
  [
    'PFGM field: SongUNet',
    preset('ddpmpp-small', {
      imgResolution: 8,
      modelChannels: 16,
      channelMult: [1, 2],
      numBlocks: 1,
      attnResolutions: [],
    }),
  ],
];

/** Runs the denoiser (or field) scripts on `device` and on a CPU network; expects equal bits. */
export async function expectSameAsCpu(
  c: Case,
  device: (config: NetworkConfig, o: CreateNetworkOptions) => Network,
): Promise<void> {
  const cpu = createNetwork(c.config, { ...c.options, device: 'cpu' });
  const dev = device(c.config, c.options);
  if (c.options.objective === 'pfgm') {
    expectSame(await fieldScript(dev, c), await fieldScript(cpu, c));
  } else {
    expectSame(await denoiserScript(dev, c), await denoiserScript(cpu, c));
    const cpu2 = createNetwork(c.config, { ...c.options, seed: 99, device: 'cpu' });
    const dev2 = device(c.config, { ...c.options, seed: 99 });
    expectSame(await resumeScript(dev2, cpu, c), await resumeScript(cpu2, cpu, c));
    cpu2.dispose();
    dev2.dispose();
  }
  cpu.dispose();
  dev.dispose();
}

export function data(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.sin(i * 0.731 + seed * 1.37) * 0.9;
  return a;
}

export function oneHot(batch: number, dim: number): Float32Array {
  const l = new Float32Array(batch * dim);
  for (let i = 0; i < batch; i++) l[i * dim + ((i * 7) % dim)] = 1;
  return l;
}

export type Outputs = [string, Float32Array | number][];

export function expectSame(guarded: Outputs, cpu: Outputs): void {
  expect(guarded.map(([k]) => k)).toEqual(cpu.map(([k]) => k));
  for (let j = 0; j < cpu.length; j++) {
    const [name, a] = cpu[j] as [string, Float32Array | number];
    const b = (guarded[j] as [string, Float32Array | number])[1];
    if (typeof a === 'number') {
      expect(Object.is(b, a), `${name}: ${b} vs ${a}`).toBe(true);
      continue;
    }
    expect(b, name).toBeInstanceOf(Float32Array);
    const g = b as Float32Array;
    expect(g.length, name).toBe(a.length);
    let first = -1;
    for (let i = 0; i < a.length && first < 0; i++) if (!Object.is(g[i], a[i])) first = i;
    expect(first, `${name}: first difference at ${first}: ${g[first]} vs ${a[first]}`).toBe(-1);
  }
}

export interface Case {
  name: string;
  config: NetworkConfig;
  options: CreateNetworkOptions;
  batch: number;
}

// Every call a denoiser serves, in an order that makes each depend on the state the last left.
export async function denoiserScript(net: Network, c: Case): Promise<Outputs> {
  const out: Outputs = [];
  const b = c.batch;
  const ss = net.sampleSize;
  const cond = {
    labels: net.labelDim > 0 ? oneHot(b, net.labelDim) : undefined,
    augment: (c.config.kind !== 'mlp' && (c.config.augmentDim ?? 0) > 0 ? data(b * 9, 11) : undefined) as
      | Float32Array
      | undefined,
  };
  const sigma = Float32Array.from({ length: b }, (_, i) => 0.02 * 60 ** (i / Math.max(1, b - 1)));
  const w0 = net.flatWeights();
  out.push(['raw0', w0.raw], ['ema0', w0.ema], ['buffers0', w0.buffers]);
  const x = data(b * ss, 1);
  out.push(['denoise raw', await net.denoise(x, sigma, cond)]);
  out.push(['denoise ema', await net.denoise(x, sigma, { ...cond, weights: 'ema' })]);
  const vjp = await net.inputVjp(x, sigma, data(b * ss, 2), cond);
  out.push(['vjp denoised', vjp.denoised], ['vjp', vjp.vjp]);
  out.push(['lossAndGrad', await net.lossAndGrad(data(b * ss, 3), data(b * ss, 4), sigma, cond)]);
  for (const [name, g] of net.stateDict('grads')) out.push([`grad ${name}`, g]);
  const y = data(b * ss, 5);
  const steps = [
    { seed: 9 },
    { seed: 10, microBatch: Math.max(1, Math.floor(b / 2)) },
    { seed: 11, stf: true },
    { seed: 12, noise: data(b * ss, 6), sigma },
    { seed: 13, pMean: 0.5, pStd: 0.3, lr: 3e-3 },
  ];
  for (const [k, s] of steps.entries()) {
    const r = await net.trainStep(y, { D: net.D, lr: 1e-3, ...cond, ...s });
    out.push([`step ${k} loss`, r.loss], [`step ${k} gradNorm`, r.gradNorm]);
  }
  const opt = net.optimizerState();
  out.push(['adam m', opt.adamM], ['adam v', opt.adamV]);
  const w1 = net.flatWeights();
  out.push(['raw', w1.raw], ['ema', w1.ema]);
  const s = await sample(net, {
    count: 3,
    steps: 3,
    seed: 4,
    labels: net.labelDim > 0 ? oneHot(3, net.labelDim) : undefined,
  });
  out.push(['sample', s.x]);
  return out;
}

// The training state moved into a fresh network (what resuming a checkpoint does), then one step.
export async function resumeScript(net: Network, from: Network, c: Case): Promise<Outputs> {
  net.loadFlatWeights(from.flatWeights());
  net.loadOptimizerState(from.optimizerState());
  const y = data(c.batch * net.sampleSize, 7);
  const labels = net.labelDim > 0 ? oneHot(c.batch, net.labelDim) : undefined;
  const r = await net.trainStep(y, { D: net.D, seed: 21, labels });
  const w = net.flatWeights();
  return [
    ['resumed loss', r.loss],
    ['resumed raw', w.raw],
    ['resumed ema', w.ema],
    ['steps', net.counters().steps],
  ];
}

export async function fieldScript(net: Network, c: Case): Promise<Outputs> {
  const out: Outputs = [];
  const b = c.batch;
  const ss = net.sampleSize;
  const z = Float32Array.from({ length: b }, (_, i) => 0.05 + i * 3);
  const x = data(b * ss, 1);
  out.push(['field', await net.field(x, z)]);
  const target = data(b * (ss + 1), 2);
  out.push(['fieldLossAndGrad', await net.fieldLossAndGrad(x, z, target)]);
  for (const [name, g] of net.stateDict('grads')) out.push([`grad ${name}`, g]);
  const refs = data(4 * b * ss, 3);
  for (const [k, s] of [{ seed: 1 }, { seed: 2, microBatch: Math.max(1, Math.floor(b / 2)) }].entries()) {
    const r = await net.pfgmStep(data(b * ss, 4 + k), refs, { M: 60, tau: 0.03, s: 1, gamma: 5, lr: 1e-3, ...s });
    out.push([`pfgm step ${k} loss`, r.loss], [`pfgm step ${k} gradNorm`, r.gradNorm]);
  }
  const w = net.flatWeights();
  out.push(['raw', w.raw], ['ema', w.ema]);
  net.pfgm = { ...pfgmHyperparameters({ dataNorm: 1, N: ss, M: 60 }), gamma: 5, restrictM: true };
  const s = await pfgmSample(net, { count: 2, seed: 3, solver: 'euler', steps: 4 });
  out.push(['pfgm sample', s.x]);
  return out;
}

export const unet = preset('ddpmpp-small', {
  imgResolution: 16,
  inChannels: 3,
  outChannels: 3,
  modelChannels: 16,
  channelMult: [1, 2, 2],
  channelMultEmb: 2,
  numBlocks: 1,
  attnResolutions: [8],
  labelDim: 4,
  labelDropout: 0.2,
  encoderType: 'residual',
  decoderType: 'skip',
  resampleFilter: [1, 3, 3, 1],
});
export const ncsn = preset('ncsnpp-cifar10', {
  imgResolution: 8,
  modelChannels: 16,
  channelMult: [1, 2],
  numBlocks: 1,
  attnResolutions: [4],
});
// Two levels, the lower one of 64 channels: one attention head there (one per 64 channels, as in
// EDM), none at the 32-channel level although it is listed.
export const adm = preset('adm-imagenet64', {
  imgResolution: 8,
  inChannels: 2,
  outChannels: 2,
  labelDim: 3,
  augmentDim: 9,
  labelDropout: 0.2,
  modelChannels: 32,
  channelMult: [1, 2],
  channelMultEmb: 2,
  numBlocks: 1,
  attnResolutions: [8, 4],
  dropout: 0.1,
});
export const mlp = preset('mlp', { hidden: 32, numBlocks: 2, labelDim: 3, labelDropout: 0.2, dropout: 0.1 });

export const denoisers: Case[] = [
  {
    name: 'SongUNet: attention, FIR, residual encoder, skip decoder, labels, dropout; D = 128',
    config: unet,
    options: { seed: 5, D: 128 },
    batch: 4,
  },
  { name: 'NCSN++: Fourier embedding, augment labels; EDM (D = inf)', config: ncsn, options: { seed: 6 }, batch: 3 },
  {
    name: 'DhariwalUNet: adaptive scale, attention, labels, augment labels, dropout; D = 256',
    config: adm,
    options: { seed: 9, D: 256 },
    batch: 3,
  },
  { name: 'MLP: labels, dropout; D = 1 with adaptive scaling', config: mlp, options: { seed: 7, D: 1 }, batch: 6 },
  { name: 'MLP: D = 64 with the D-aware c_in', config: mlp, options: { seed: 8, D: 64, dAwareCIn: true }, batch: 5 },
];
