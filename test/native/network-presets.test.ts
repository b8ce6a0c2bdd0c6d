// The presets have EDM's published parameter counts (PFGM++ / EDM papers; docs/method.md §4), and bad
// configurations are refused with errors that name the field.
import { describe, expect, it } from 'vitest';
import { preset } from '../../src/models/config.js';
import { createNetwork } from '../../src/models/network.js';

describe('network presets', () => {
  // EDM's published counts include map_augment (augment_dim 9); the exact integers are those of
  // EDM's own training/networks.py (checked by bench/torch_ref/edm_nets.py against EDM's code).
  it.each([
    ['ddpmpp-cifar10', 55.73, 55_733_891],
    ['ncsnpp-cifar10', 56.4, 56_397_827],
    ['ddpmpp-ffhq64', 61.81, 61_805_571],
  ] as const)('%s has %s M parameters, as EDM reports', (name, millions, exact) => {
    using net = createNetwork(name);
    expect(Math.round(net.paramCount / 1e4) / 100).toBe(millions);
    expect(net.paramCount).toBe(exact);
  });

  it('ddpmpp-small has exactly 1,752,993 parameters', () => {
    using net = createNetwork('ddpmpp-small');
    expect(net.paramCount).toBe(1_752_993);
    expect(net.sampleShape).toEqual([1, 28, 28]);
    expect(net.parameters()[0]?.name).toBe('map_layer0.weight');
    expect(net.parameters().some((p) => p.name === 'enc.7x7_block0.qkv.weight')).toBe(true);
  });

  it('uses EDM initialisation: zero-scaled output conv, unit group-norm gains', () => {
    using net = createNetwork('ddpmpp-small', { seed: 3 });
    const w = net.stateDict('raw');
    const out = w.get('dec.28x28_aux_conv.weight') as Float32Array;
    const conv0 = w.get('enc.28x28_conv.weight') as Float32Array;
    const maxAbs = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    // xavier_uniform bound sqrt(6 / (fan_in + fan_out)) times EDM's gain (1e-5 for init_zero).
    expect(maxAbs(out)).toBeLessThanOrEqual(1e-5 * Math.sqrt(6 / (32 * 9 + 1 * 9)));
    expect(maxAbs(out)).toBeGreaterThan(0.5e-5 * Math.sqrt(6 / (32 * 9 + 1 * 9)));
    expect(maxAbs(conv0)).toBeLessThanOrEqual(Math.sqrt(6 / (1 * 9 + 32 * 9)));
    expect(Array.from(w.get('enc.28x28_block0.norm0.weight') as Float32Array).every((v) => v === 1)).toBe(true);
  });

  it('refuses bad configurations with a message naming the field', () => {
    expect(() => preset('ddpmpp-small', { imgResolution: 30 })).toThrow(
      /imgResolution 30 must be divisible by 2\^\(levels - 1\) = 4/,
    );
    expect(() => preset('ddpmpp-small', { dropout: 1.5 })).toThrow(/dropout must be a probability/);
    expect(() => preset('nope' as never)).toThrow(/unknown network preset 'nope'/);
    expect(() => createNetwork({ ...preset('mlp'), noiseChannels: 3 } as never)).toThrow(/noiseChannels must be even/);
  });

  it('refuses a batch of the wrong size and a disposed network', async () => {
    const net = createNetwork('mlp');
    await expect(net.denoise(new Float32Array(5), 1)).rejects.toThrow(
      /expected a whole batch of samples of shape \[2,1,1\]/,
    );
    net.dispose();
    await expect(net.denoise(new Float32Array(4), 1)).rejects.toMatchObject({ code: 'ERR_PFGM_DISPOSED' });
  });
});
