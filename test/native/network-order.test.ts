// Calls on one Network run in the order they were made: Promise.all of interleaved trainStep and
// denoise calls (native async workers on libuv's pool) gives exactly the results of the same
// calls awaited one by one, and a call that fails does not break the order of the rest.
import { describe, expect, it } from 'vitest';
import { createNetwork, type Network, PfgmError, preset } from '../../src/index.js';

const make = () =>
  createNetwork(preset('mlp', { features: 6, hidden: 64, numBlocks: 2 }), { D: 16, sigmaData: 1, seed: 5 });
const y = Float32Array.from({ length: 32 * 6 }, (_, i) => Math.sin(i * 0.37));
const x = Float32Array.from({ length: 8 * 6 }, (_, i) => Math.cos(i * 0.11) * 3);

/** Call i of the sequence: even ones train, odd ones denoise (raw weights, which training moves). */
function call(net: Network, i: number): Promise<unknown> {
  if (i === 9) return net.denoise(x, new Float32Array(3)); // fails in the native call: 3 sigmas for 8 samples
  return i % 2 === 0 ? net.trainStep(y, { D: 16, seed: i, lr: 1e-2 }) : net.denoise(x, 0.5 + i, { weights: 'raw' });
}

const settle = (p: Promise<unknown>) =>
  p.then(
    (value) => ({ value }),
    (error: unknown) => ({ error: error instanceof PfgmError ? error.code : String(error) }),
  );

describe('Network call order', () => {
  it('Promise.all of 20 interleaved trainStep/denoise calls equals the same calls awaited one by one', async () => {
    using serial = make();
    const one: unknown[] = [];
    for (let i = 0; i < 20; i++) one.push(await settle(call(serial, i)));
    using concurrent = make();
    const all = await Promise.all(Array.from({ length: 20 }, (_, i) => settle(call(concurrent, i))));
    expect((one[9] as { error?: string }).error).toMatch(/^ERR_PFGM_/);
    expect(all).toEqual(one);
    expect(concurrent.stateDict('raw')).toEqual(serial.stateDict('raw'));
    expect(concurrent.counters()).toEqual(serial.counters());
  });

  it('a call queued behind others on a network disposed meanwhile rejects as disposed', async () => {
    const net = make();
    const first = net.trainStep(y, { D: 16, seed: 0 });
    const second = net.denoise(x, 1);
    net.dispose();
    await settle(first);
    await expect(second).rejects.toMatchObject({ code: 'ERR_PFGM_DISPOSED' });
  });

  it('a queued call copies its inputs when called, so the caller may reuse its arrays at once', async () => {
    using serial = make();
    await serial.trainStep(y, { D: 16, seed: 1 });
    const expected = await serial.denoise(x, 2, { weights: 'raw' });
    using queued = make();
    const buffer = Float32Array.from(y);
    const step = queued.trainStep(buffer, { D: 16, seed: 1 });
    buffer.set(x);
    const out = queued.denoise(buffer.subarray(0, x.length), 2, { weights: 'raw' });
    buffer.fill(Number.NaN);
    await step;
    expect(await out).toEqual(expected);
  });
});
