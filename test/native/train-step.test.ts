// The native training step's contracts: deterministic for a seed, gradient accumulation equal to
// the whole batch, dropout keyed by the step, a non-finite gradient skipped and counted (never
// applied), clipping, and classes reaching a conditional network.
import { describe, expect, it } from 'vitest';
import { native } from '../../src/addon/load.js';
import { preset } from '../../src/models/config.js';
import { createNetwork, type TrainStepOptions } from '../../src/models/network.js';
import { resolveTrainOptions, TRAIN_DEFAULTS, toNativeTrainOptions } from '../../src/physics/trainOptions.js';
import { redirectedNetwork } from '../helpers/network-scripts.js';

const tiny = () =>
  preset('ddpmpp-small', {
    modelChannels: 8,
    channelMult: [1, 2],
    imgResolution: 8,
    attnResolutions: [4],
    numBlocks: 1,
    dropout: 0,
  });

function batch(n: number, per: number): Float32Array {
  const y = new Float32Array(n * per);
  for (let i = 0; i < y.length; i++) y[i] = Math.sin(i * 0.37) * 0.8;
  return y;
}

describe('native training step', () => {
  it('is deterministic for a seed and differs across seeds', async () => {
    const run = async (seed: number) => {
      using net = createNetwork(tiny(), { seed: 1 });
      const y = batch(4, net.sampleSize);
      const a = await net.trainStep(y, { D: 128, seed });
      const b = await net.trainStep(y, { D: 128, seed });
      return [a.loss, b.loss, net.stateDict('raw').get('enc.8x8_conv.weight')?.[0]];
    };
    expect(await run(5)).toEqual(await run(5));
    expect((await run(6))[0]).not.toBe((await run(5))[0]);
  });

  it('accumulates micro-batches to the whole batch (loss and update)', async () => {
    const results = [];
    for (const microBatch of [undefined, 3, 2]) {
      using net = createNetwork(tiny(), { seed: 2 });
      const y = batch(6, net.sampleSize);
      const r = await net.trainStep(y, { D: Number.POSITIVE_INFINITY, seed: 3, microBatch, lr: 1e-3 });
      results.push({
        loss: r.loss,
        norm: r.gradNorm,
        w: net.stateDict('raw').get('dec.8x8_aux_conv.bias') as Float32Array,
      });
    }
    const [full, ...parts] = results;
    for (const p of parts) {
      expect(Math.abs(p.loss - (full?.loss as number)) / (full?.loss as number)).toBeLessThan(1e-5);
      expect(Math.abs(p.norm - (full?.norm as number)) / (full?.norm as number)).toBeLessThan(1e-4);
      for (let i = 0; i < p.w.length; i++) expect(p.w[i]).toBeCloseTo(full?.w[i] as number, 6);
    }
  });

  it("keys dropout by the step's index, which the step reads from the network's own memory", async () => {
    // Same weights, same explicit perturbation (no sigma or noise draws): only dropout's streams,
    // keyed by the step's index, can tell two steps apart (the loss is taken before the update).
    const loss = async (steps: number) => {
      using net = createNetwork({ ...tiny(), dropout: 0.3 }, { seed: 1 });
      net.loadOptimizerState({ ...net.optimizerState(), counters: { steps, adamSteps: 0, images: 0, skipped: 0 } });
      const y = batch(2, net.sampleSize);
      const noise = y.map((_v, i) => Math.cos(i * 0.11) * 0.5);
      return (await net.trainStep(y, { D: 64, seed: 3, noise, sigma: new Float32Array([0.7, 1.3]) })).loss;
    };
    const [a, b, again] = [await loss(0), await loss(5), await loss(5)];
    expect(b).not.toBe(a);
    expect(again).toBe(b);
  });

  it('skips and counts a non-finite step, leaving weights, moments and EMA untouched', async () => {
    using net = createNetwork('mlp', { seed: 0 });
    const good = batch(8, 2);
    await net.trainStep(good, { D: 128, seed: 0 });
    const before = net.flatWeights();
    const m = net.optimizerState().adamM;
    const bad = good.slice();
    bad[3] = Number.NaN;
    const r = await net.trainStep(bad, { D: 128, seed: 0 });
    expect(r.skipped).toBe(true);
    expect(net.counters()).toMatchObject({ steps: 2, adamSteps: 1, skipped: 1, images: 16 });
    const after = net.flatWeights();
    expect(after.raw).toEqual(before.raw);
    expect(after.ema).toEqual(before.ema);
    expect(net.optimizerState().adamM).toEqual(m);
  });

  it('clips the gradient norm before Adam (seen in its first moment)', async () => {
    const firstMoment = async (gradClip?: number) => {
      using net = createNetwork('mlp', { seed: 0 });
      const r = await net.trainStep(batch(8, 2), { D: 128, seed: 0, gradClip });
      return { norm: r.gradNorm, m: net.optimizerState().adamM };
    };
    const free = await firstMoment();
    const clipped = await firstMoment(free.norm / 4);
    const loose = await firstMoment(free.norm * 4);
    // m = (1 - beta1) * g * min(1, clip / ||g||) after one step.
    for (let i = 0; i < free.m.length; i += 997) {
      expect(clipped.m[i]).toBeCloseTo((free.m[i] as number) / 4, 9);
      expect(loose.m[i]).toBe(free.m[i]);
    }
  });

  it('feeds class labels to a conditional network and refuses them for an unconditional one', async () => {
    using cond = createNetwork({ ...tiny(), labelDim: 3 }, { seed: 0 });
    const y = batch(2, cond.sampleSize);
    const labels = new Float32Array([1, 0, 0, 0, 0, 1]);
    const a = await cond.denoise(y, 1, { labels, weights: 'raw' });
    const b = await cond.denoise(y, 1, { labels: new Float32Array([0, 1, 0, 1, 0, 0]), weights: 'raw' });
    expect(a).not.toEqual(b);
    await expect(cond.trainStep(y, { D: 128, labels })).resolves.toMatchObject({ skipped: false });
    using plain = createNetwork(tiny());
    await expect(plain.trainStep(y, { D: 128, labels })).rejects.toThrow(/unconditional/);
  });

  it('refuses NaN, infinite and out-of-range options before anything runs', async () => {
    using net = createNetwork('mlp', { seed: 0 });
    const y = batch(8, 2);
    const bad: [Partial<TrainStepOptions>, RegExp][] = [
      [{ lr: Number.NaN }, /lr must be a finite number > 0, got NaN/],
      [{ lr: Number.POSITIVE_INFINITY }, /lr must be a finite number > 0, got Infinity/],
      [{ lr: -1 }, /lr must be a finite number > 0, got -1/],
      [{ emaHalflifeKimg: Number.NaN }, /emaHalflifeKimg must be a finite number >= 0, got NaN/],
      [{ beta1: 2 }, /beta1 must be a number in \[0, 1\), got 2/],
      [{ eps: -1 }, /eps must be a finite number > 0, got -1/],
      [{ gradClip: -1 }, /gradClip must be a finite number >= 0, got -1/],
      [{ seed: -1 }, /seed must be a non-negative integer/],
      [{ seed: Number.NaN }, /seed must be a non-negative integer/],
      [{ pStd: -1 }, /pStd must be a finite number >= 0/],
      [{ lrRampupKimg: -1 }, /lrRampupKimg must be a finite number >= 0, got -1/],
    ];
    for (const [options, message] of bad) {
      const step = net.trainStep(y, { D: 128, ...options });
      await expect(step, JSON.stringify(options)).rejects.toMatchObject({ code: 'ERR_PFGM_ARGUMENT' });
      await expect(step).rejects.toThrow(message);
    }
    await expect(net.pfgmStep(y, y, { M: 10, tau: 0.03, s: 0.01, gamma: 5, lr: Number.NaN })).rejects.toMatchObject({
      code: 'ERR_PFGM_ARGUMENT',
    });
    expect(net.counters()).toMatchObject({ steps: 0, adamSteps: 0 });
  });

  it('uses TRAIN_DEFAULTS.step for what it is not given, bit for bit', async () => {
    const run = async (options: TrainStepOptions) => {
      using net = createNetwork('mlp', { seed: 4 });
      const r = await net.trainStep(batch(8, 2), options);
      return { r, w: net.flatWeights() };
    };
    const plain = await run({ D: 64 });
    const explicit = await run({ D: 64, ...TRAIN_DEFAULTS.step });
    expect(explicit).toEqual(plain);
    expect(plain.r.lr).toBe(TRAIN_DEFAULTS.step.lr); // no ramp-up by default
  });

  it('has no native defaults: the addon refuses a step without every option', async () => {
    const Ctor = native().Network; // the real one, before the redirection
    const { net, handle } = redirectedNetwork(preset('mlp'), { seed: 0 }, (c) => new Ctor(c));
    using _ = net;
    const y = batch(8, 2);
    const full = toNativeTrainOptions(resolveTrainOptions({ D: 128 }, { defaults: 'step' }));
    // Argument errors are thrown at the call (before a promise exists).
    const refusal = async (args: unknown) => {
      try {
        await handle.trainStep(args as never);
      } catch (error) {
        return error;
      }
      return undefined;
    };
    expect(await refusal({ batch: 8, y })).toMatchObject({
      code: 'ERR_PFGM_ARGUMENT',
      message: expect.stringMatching(/'options'/),
    });
    for (const key of Object.keys(full)) {
      const partial: Record<string, unknown> = { ...full };
      delete partial[key];
      expect(await refusal({ batch: 8, y, options: partial }), key).toMatchObject({
        code: 'ERR_PFGM_ARGUMENT',
        message: expect.stringContaining(`'${key}'`),
      });
    }
    await expect(handle.trainStep({ batch: 8, y, options: full })).resolves.toMatchObject({ skipped: false });
  });
});
