// cuda/backend.cu itself, checked without a GPU. The guarded-device test
// (network-guarded.test.ts) shows that the modules and the training session stage their data
// right; this one runs the real CUDA backend's code (its forwarding to each pfgm::cuda:: op, its
// uploads of per-sample coefficients, loss weights and sigma into device scratch, its
// synchronizing downloads, one backend per precision) in the fake-CUDA test addon: backend.cu
// compiled as C++ over test/native/fakecuda/fake_runtime.cc, a stand-in for the CUDA runtime and
// kernels on the guarded device's memory. Every op checks that its pointers are device memory of
// the size it touches, every copy that it goes the way it claims, and the ops compute with the
// CPU engine's code, so each script of test/helpers/network-scripts.ts must equal the CPU
// network's bit for bit. The kernels' own arithmetic is for test/gpu/ on a GPU.
//
// Built with the CUDA addon wherever the CUDA toolkit is found (CI has it); skipped otherwise.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { NativeAddon } from '../../src/addon/native.js';
import type { NetworkConfig } from '../../src/models/config.js';
import type { CreateNetworkOptions, Network } from '../../src/models/network.js';
import { type Case, denoisers, expectSameAsCpu, fields, redirectedNetwork } from '../helpers/network-scripts.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const file = join(process.env.PFGM_ADDON_DIR ?? join(root, 'build', 'Release', 'testing'), 'pfgm_fakecuda.node');
const present = existsSync(file);
const fake = present ? (createRequire(import.meta.url)(file) as NativeAddon) : undefined;

function fakeCudaNetwork(precision: 'fp32' | 'tf32' | 'bf16') {
  return (config: NetworkConfig, options: CreateNetworkOptions): Network => {
    const addon = fake as NativeAddon;
    const { net, handle } = redirectedNetwork(
      config,
      options,
      (c) => new addon.Network({ ...c, device: 'cuda', precision } as never),
    );
    // The network is the fake addon's, on its CUDA backend.
    expect(handle).toBeInstanceOf(addon.Network);
    expect(handle.paramInfo().device).toBe('cuda');
    return net;
  };
}

describe.skipIf(!present)('cuda/backend.cu over the fake CUDA runtime, bit for bit like the CPU', () => {
  it('is the CUDA backend on a usable fake device', () => {
    const info = (fake as NativeAddon).buildInfo();
    expect(info.flavor).toBe('fakecuda');
    expect(info.cuda).toMatchObject({ available: true, cudnn: true, cublas: true });
  });

  for (const c of denoisers) {
    it(c.name, () => expectSameAsCpu(c, fakeCudaNetwork('fp32')), 120_000);
  }
  for (const [name, config] of fields) {
    const c: Case = { name, config, options: { seed: 3, objective: 'pfgm' }, batch: 4 };
    it(name, () => expectSameAsCpu(c, fakeCudaNetwork('fp32')), 120_000);
  }
  // The tf32 / bf16 backends are separate instances; the fake ops ignore the math mode, so the
  // values still match, and what is checked is their staging.
  for (const precision of ['tf32', 'bf16'] as const) {
    const c = denoisers[0] as Case;
    it(`${c.name} (${precision} backend)`, () => expectSameAsCpu(c, fakeCudaNetwork(precision)), 120_000);
  }
});
