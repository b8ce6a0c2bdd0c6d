// Programmatic sampling in pipelines: sampleStream and sample({ batch }) give the same bytes
// whatever the batch (labels and guidance too), and a Sampler that merges concurrent requests into
// one batch per ODE step gives each request the result it gets alone; its queue is bounded
// (ERR_PFGM_BUSY), an AbortSignal removes a request, and dispose() rejects what waits.
import { describe, expect, it } from 'vitest';
import {
  createNetwork,
  defaultBatch,
  type Network,
  PfgmError,
  type SampleOptions,
  Sampler,
  sample,
  sampleStream,
} from '../../src/index.js';

/** A conditional MLP with random weights, so that its output depends on x, sigma and the labels. */
function randomNet(labelDim = 3): Network {
  const net = createNetwork(
    {
      kind: 'mlp',
      features: 2,
      hidden: 32,
      numBlocks: 2,
      embChannels: 32,
      noiseChannels: 16,
      labelDim,
      dropout: 0,
      labelDropout: 0.1,
    },
    { seed: 1 },
  );
  let s = 7;
  const raw = net.flatWeights().raw.map(() => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32 - 0.5) * 0.8;
  });
  net.loadFlatWeights({ raw, ema: raw });
  return net;
}

const oneHot = (count: number, labelDim: number, classOf: (i: number) => number) => {
  const l = new Float32Array(count * labelDim);
  for (let i = 0; i < count; i++) l[i * labelDim + classOf(i)] = 1;
  return l;
};

const bytes = (x: Float32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength);

describe('sampleStream and sample({ batch })', () => {
  it('count 10 in batches of 1, 3 and 10 gives the same bytes, with labels and guidance too', async () => {
    using net = randomNet();
    const labels = oneHot(10, 3, (i) => i % 3);
    const runs: SampleOptions[] = [
      { count: 10, steps: 6, seed: 4, sigmaMax: 20, labels },
      { count: 10, steps: 6, seed: 4, sampleOffset: 5, sigmaMax: 20, labels, guidance: 2.5 },
      {
        count: 10,
        steps: 5,
        seed: [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
        solver: 'dpm3m',
        sigmaMax: 20,
        labels,
        guidance: 0.5,
      },
      { count: 10, steps: 5, seed: 3, solver: 'heun', sigmaMax: 20, labels, churn: { sChurn: 5 } },
      { count: 10, steps: 5, seed: 3, solver: 'heun', sigmaMax: 20, labels, noiseInjection: { alpha: 0.1 } },
    ];
    for (const options of runs) {
      const whole = await sample(net, options);
      for (const batch of [1, 3, 10]) {
        expect(bytes((await sample(net, { ...options, batch })).x).equals(bytes(whole.x)), `batch ${batch}`).toBe(true);
        const parts: Float32Array[] = [];
        const indices: number[] = [];
        for await (const b of sampleStream(net, { ...options, batch })) {
          expect(b.x.length).toBe(b.indices.length * 2);
          expect(b.nfe).toBe(whole.nfe);
          parts.push(b.x);
          indices.push(...b.indices);
        }
        expect(parts.length).toBe(Math.ceil(10 / batch));
        expect(indices).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        expect(bytes(Float32Array.from(parts.flatMap((p) => [...p]))).equals(bytes(whole.x))).toBe(true);
      }
    }
  });

  it('holds one batch at a time: the next batch starts only when asked for', async () => {
    using net = randomNet(0);
    let evaluations = 0;
    const counting = new Proxy(net, {
      get(target, key) {
        if (key === 'denoise') {
          return (...args: Parameters<Network['denoise']>) => {
            evaluations++;
            return target.denoise(...args);
          };
        }
        const v = Reflect.get(target, key, target);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const it = sampleStream(counting, { count: 6, batch: 2, steps: 3, solver: 'euler', seed: 0, sigmaMax: 20 });
    await it.next();
    expect(evaluations).toBe(3);
    await it.next();
    expect(evaluations).toBe(6);
    await it.return(undefined);
  });

  it('checks its arguments before the first batch and chooses a default batch from memory', async () => {
    using net = randomNet();
    await expect(sampleStream(net, { count: 4, batch: 0 }).next()).rejects.toMatchObject({ code: 'ERR_PFGM_ARGUMENT' });
    await expect(sampleStream(net, { count: 4, seed: [1, 2, 3] }).next()).rejects.toMatchObject({
      code: 'ERR_PFGM_SHAPE',
    });
    await expect(sampleStream(net, { count: 4, labels: new Float32Array(3) }).next()).rejects.toMatchObject({
      code: 'ERR_PFGM_SHAPE',
    });
    expect(defaultBatch(net, 10)).toBe(10);
    expect(defaultBatch(net, undefined, 1e12)).toBe(1024);
    expect(defaultBatch(net, undefined, 1)).toBe(1);
  });
});

describe('Sampler', () => {
  it('merged requests each equal their run alone, bit for bit', async () => {
    using net = randomNet();
    const sampler = new Sampler(net, { maxBatch: 7 });
    const requests = [
      { count: 2, seed: [0, 1], steps: 5, sigmaMax: 20, class: 1 },
      { count: 3, seed: 9, sampleOffset: 4, steps: 5, sigmaMax: 20, class: 2, guidance: 3 },
      { count: 4, seed: 2, steps: 5, sigmaMax: 20, labels: oneHot(4, 3, (i) => i % 3), guidance: 0.5 },
      { count: 1, seed: 5, steps: 4, sigmaMax: 20, class: 0 }, // another schedule: its own run
      { count: 9, seed: 11, steps: 5, sigmaMax: 20, class: 0, solver: 'dpm2m' as const }, // split in pieces
      { count: 2, seed: 3, steps: 5, sigmaMax: 20, class: 2, solver: 'rk45' as const }, // runs alone
    ];
    const merged = await Promise.all(requests.map((r) => sampler.sample(r)));
    expect(sampler.stats().runs).toBeLessThan(requests.length + 1);
    for (const [k, r] of requests.entries()) {
      const { class: c, ...rest } = r;
      const labels = rest.labels ?? oneHot(r.count, 3, () => c as number);
      const alone = await sample(net, { ...rest, labels });
      expect(bytes(merged[k]?.x as Float32Array).equals(bytes(alone.x)), `request ${k}`).toBe(true);
      expect(merged[k]?.nfe).toBe(alone.nfe);
    }
    expect(sampler.stats()).toMatchObject({ pending: 0, queuedSamples: 0, samplesTotal: 21 });
    await sampler.dispose();
  });

  it('refuses a full queue with ERR_PFGM_BUSY, removes aborted requests, and dispose() rejects what waits', async () => {
    using net = randomNet(0);
    const sampler = new Sampler(net, { maxBatch: 2, maxQueue: 3 });
    const base = { count: 2, steps: 4, sigmaMax: 20 };
    const a = sampler.sample({ ...base, seed: 1 });
    const controller = new AbortController();
    const b = sampler.sample({ ...base, seed: 2, signal: controller.signal });
    const c = sampler.sample({ ...base, seed: 3 });
    const busy = sampler.sample({ ...base, seed: 4 });
    await expect(busy).rejects.toBeInstanceOf(PfgmError);
    await expect(busy).rejects.toMatchObject({ code: 'ERR_PFGM_BUSY' });
    const aborted = expect(b).rejects.toThrow('client went away');
    controller.abort(new Error('client went away'));
    await aborted;
    expect((await a).x).toEqual((await sample(net, { ...base, seed: 1 })).x);
    expect((await c).x).toEqual((await sample(net, { ...base, seed: 3 })).x);
    const d = sampler.sample({ ...base, seed: 5 });
    const e = expect(sampler.sample({ ...base, seed: 6 })).rejects.toMatchObject({ code: 'ERR_PFGM_DISPOSED' });
    await new Promise((r) => setImmediate(r)); // the run of d starts
    await sampler.dispose();
    await expect(d).resolves.toBeDefined(); // running when dispose() was called
    await e;
    await expect(sampler.sample(base)).rejects.toMatchObject({ code: 'ERR_PFGM_DISPOSED' });
  });

  it('an abort during a run rejects that request at once; the others in the run are unchanged', async () => {
    using net = randomNet(0);
    const controller = new AbortController();
    let calls = 0;
    const aborting = new Proxy(net, {
      get(target, key) {
        if (key === 'denoise') {
          return (...args: Parameters<Network['denoise']>) => {
            if (++calls === 2) controller.abort(new Error('gone'));
            return target.denoise(...args);
          };
        }
        const v = Reflect.get(target, key, target);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const sampler = new Sampler(aborting);
    const base = { count: 2, steps: 4, sigmaMax: 20 };
    const gone = expect(sampler.sample({ ...base, seed: 1, signal: controller.signal })).rejects.toThrow('gone');
    const kept = sampler.sample({ ...base, seed: 2 });
    await gone;
    expect((await kept).x).toEqual((await sample(net, { ...base, seed: 2 })).x);
    expect(sampler.stats().runs).toBe(1);
    // dispose({ drain: true }) runs what waits.
    const waiting = sampler.sample({ ...base, seed: 3 });
    await sampler.dispose({ drain: true });
    expect((await waiting).x).toEqual((await sample(net, { ...base, seed: 3 })).x);
  });

  it('argument errors reject the request alone', async () => {
    using net = randomNet();
    await using sampler = new Sampler(net);
    await expect(sampler.sample({ count: 0 })).rejects.toMatchObject({ code: 'ERR_PFGM_ARGUMENT' });
    await expect(sampler.sample({ solver: 'nope' as 'heun' })).rejects.toMatchObject({ code: 'ERR_PFGM_ARGUMENT' });
    await expect(sampler.sample({ class: 3 })).rejects.toMatchObject({ code: 'ERR_PFGM_ARGUMENT' });
    await expect(sampler.sample({ guidance: 2 })).rejects.toMatchObject({ code: 'ERR_PFGM_ARGUMENT' });
    await expect(sampler.sample({ count: 2, steps: 3, class: 1, sigmaMax: 20 })).resolves.toBeDefined();
  });
});
