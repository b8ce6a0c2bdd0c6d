// The device glue of every network path, checked without a GPU (issue 6). A network on CUDA keeps
// its weights, optimizer state and activations in device memory, and the modules and the training
// session stage host arrays in and out through the backend (nn/backend.h). On the CPU backend that
// staging is a no-op, so the CPU tests cannot see a missing upload or a host loop reading device
// memory; on a GPU such a bug is a crash or wrong numbers.
//
// The guarded device (src/native/nn/backend_guarded.cc, native device 'cpu-guarded') runs the CPU
// ops on memory the host cannot touch (PROT_NONE outside its own methods: a host access ends the
// process with status 86) and checks every pointer an op receives (device arrays live and large
// enough, host arrays outside the device). Its arithmetic is the CPU backend's, so every output
// below must equal the CPU network's bit for bit: equality shows the staging moves the right
// data, and the guard shows nothing reached around it. The first block shows each check firing.
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { native } from '../../src/addon/load.js';
import type { NativeAddon } from '../../src/addon/native.js';
import { type NetworkConfig, preset } from '../../src/models/config.js';
import { type CreateNetworkOptions, createNetwork, type Network } from '../../src/models/network.js';
import { pfgmHyperparameters } from '../../src/physics/pfgm.js';
import { pfgmSample } from '../../src/sample/pfgmOde.js';
import { sample } from '../../src/sample/sample.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const addonDir = process.env.PFGM_ADDON_DIR ?? join(root, 'build', 'Release');

// createNetwork with the native constructor redirected to the guarded device: the TypeScript side
// (options, checks, the Network wrapper) is exactly what users run.
function guardedNetwork(config: NetworkConfig, options: CreateNetworkOptions): Network {
  const addon = native() as NativeAddon & { Network: NativeAddon['Network'] };
  const original = addon.Network;
  let made: InstanceType<typeof original> | undefined;
  const redirected = function (this: unknown, c: Record<string, unknown>) {
    made = new original({ ...c, device: 'cpu-guarded' } as ConstructorParameters<typeof original>[0]);
    return made;
  } as unknown as typeof original;
  addon.Network = redirected;
  try {
    const net = createNetwork(config, { ...options, device: 'cpu' });
    // The redirection took: the native network really lives on the guarded device.
    expect(made?.paramInfo().device).toBe('cpu-guarded');
    return net;
  } finally {
    addon.Network = original;
  }
}

function data(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.sin(i * 0.731 + seed * 1.37) * 0.9;
  return a;
}

function oneHot(batch: number, dim: number): Float32Array {
  const l = new Float32Array(batch * dim);
  for (let i = 0; i < batch; i++) l[i * dim + ((i * 7) % dim)] = 1;
  return l;
}

type Outputs = [string, Float32Array | number][];

function expectSame(guarded: Outputs, cpu: Outputs): void {
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

interface Case {
  name: string;
  config: NetworkConfig;
  options: CreateNetworkOptions;
  batch: number;
}

// Every call a denoiser serves, in an order that makes each depend on the state the last left.
async function denoiserScript(net: Network, c: Case): Promise<Outputs> {
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
async function resumeScript(net: Network, from: Network, c: Case): Promise<Outputs> {
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

async function fieldScript(net: Network, c: Case): Promise<Outputs> {
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

const unet = preset('ddpmpp-small', {
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
const ncsn = preset('ncsnpp-cifar10', {
  imgResolution: 8,
  modelChannels: 16,
  channelMult: [1, 2],
  numBlocks: 1,
  attnResolutions: [4],
});
const mlp = preset('mlp', { hidden: 32, numBlocks: 2, labelDim: 3, labelDropout: 0.2, dropout: 0.1 });

const denoisers: Case[] = [
  {
    name: 'SongUNet: attention, FIR, residual encoder, skip decoder, labels, dropout; D = 128',
    config: unet,
    options: { seed: 5, D: 128 },
    batch: 4,
  },
  { name: 'NCSN++: Fourier embedding, augment labels; EDM (D = inf)', config: ncsn, options: { seed: 6 }, batch: 3 },
  { name: 'MLP: labels, dropout; D = 1 with adaptive scaling', config: mlp, options: { seed: 7, D: 1 }, batch: 6 },
  { name: 'MLP: D = 64 with the D-aware c_in', config: mlp, options: { seed: 8, D: 64, dAwareCIn: true }, batch: 5 },
];

describe('the guarded device catches what it is for', () => {
  const probe = (fault: number) =>
    native().runOp('guarded_probe', { fault: [fault] }, { x: { shape: [3], data: Float32Array.of(1, -2, 3) } });

  it('runs a correct program and gives the CPU result', async () => {
    const r = await probe(0);
    expect(Array.from(r.y?.data ?? [])).toEqual([2, -4, 6]);
    expect(r.sumsq?.data[0]).toBe(56);
  });

  it('refuses a host pointer, an overrun, released memory and device memory as host input', async () => {
    const internal = (m: RegExp) =>
      expect.objectContaining({ code: 'ERR_PFGM_INTERNAL', message: expect.stringMatching(m) });
    await expect(probe(1)).rejects.toThrow(internal(/scale's a .* is not device memory/));
    await expect(probe(2)).rejects.toThrow(internal(/runs past the end of its device array/));
    await expect(probe(3)).rejects.toThrow(internal(/released memory/));
    await expect(probe(4)).rejects.toThrow(internal(/must be host memory/));
    // The device still works after each refusal (the arena is closed again, the lock released).
    expect(Array.from((await probe(0)).y?.data ?? [])).toEqual([2, -4, 6]);
  });

  it('ends the process with status 86 when host code reads device memory', () => {
    const script = `
      const addon = require(${JSON.stringify(join(addonDir, 'pfgm_cpu.node'))});
      addon.runOp('guarded_probe', { fault: [5] }, { x: { shape: [2], data: Float32Array.of(1, 2) } })
        .then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(86);
    expect(r.stderr).toMatch(/host code touched device memory/);
  });
});

describe('every network path stages its data through the device, bit for bit like the CPU', () => {
  for (const c of denoisers) {
    it(c.name, async () => {
      const cpu = createNetwork(c.config, { ...c.options, device: 'cpu' });
      const dev = guardedNetwork(c.config, c.options);
      expectSame(await denoiserScript(dev, c), await denoiserScript(cpu, c));
      const cpu2 = createNetwork(c.config, { ...c.options, seed: 99, device: 'cpu' });
      const dev2 = guardedNetwork(c.config, { ...c.options, seed: 99 });
      expectSame(await resumeScript(dev2, cpu, c), await resumeScript(cpu2, cpu, c));
      for (const n of [cpu, dev, cpu2, dev2]) n.dispose();
    }, 120_000);
  }

  for (const [name, config] of [
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
  ] as const) {
    it(name, async () => {
      const c: Case = { name, config, options: { seed: 3, objective: 'pfgm' }, batch: 4 };
      const cpu = createNetwork(config, { ...c.options, device: 'cpu' });
      const dev = guardedNetwork(config, c.options);
      expectSame(await fieldScript(dev, c), await fieldScript(cpu, c));
      cpu.dispose();
      dev.dispose();
    }, 120_000);
  }
});
