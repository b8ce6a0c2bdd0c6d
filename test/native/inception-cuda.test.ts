// The FID Inception's device path (src/native/nn/inception.cc over nn::Backend: the folded weights
// uploaded once, every step a backend op, one upload and one download per batch) without a GPU:
//   - on the guarded CPU device ('cpu-guarded' of the test addon), whose every op checks that its
//     pointers are device memory of the size it touches and every copy its direction;
//   - on cuda/backend.cu itself, in the fake-CUDA test addon (backend.cu compiled as C++ over a
//     stand-in runtime on guarded memory, the ops computed by the CPU engine's code).
// Both run the network's whole graph through the backend ops, so they check the staging, the
// layer graph and the OHWI weights against PyTorch's golden run and the CPU network (oneDNN layers
// with the weights in oneDNN's own layout) within the CPU test's tolerance. The kernels' own
// arithmetic is checked per op on the emulator (test/native/backend-ops.test.ts) and the whole
// network on the emulator and a GPU by test/gpu/inception-parity.test.ts.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { native } from '../../src/addon/load.js';
import type { NativeAddon, NativeInception } from '../../src/addon/native.js';
import { compare } from '../helpers/golden.js';
import { C, expectPytorchParity, H, images, N, testInception, W } from '../helpers/inception-parity.js';
import { builtAddons } from '../helpers/toolkit.js';

// The CPU test's bound (test/native/inception.test.ts): the CPU network is 4.9e-7 from the float64
// reference. The backend path sums its convolutions in other orders (oneDNN on OHWI weights here).
const RTOL = 1e-5;

const fakeFile = join(builtAddons, 'pfgm_fakecuda.node');
const fake = existsSync(fakeFile) ? (createRequire(import.meta.url)(fakeFile) as NativeAddon) : undefined;

const handles: NativeInception[] = [];
afterAll(() => {
  for (const h of handles) h.dispose();
});
async function make(addon: NativeAddon, device: string): Promise<NativeInception> {
  const h = await testInception(addon, device);
  handles.push(h);
  return h;
}

let cpuFeatures: Float32Array | undefined;
async function cpuReference(): Promise<Float32Array> {
  if (cpuFeatures === undefined) {
    const h = await make(native(), 'cpu');
    const r = await h.features({ images, count: N, channels: C, height: H, width: W, batch: N });
    cpuFeatures = r.features;
  }
  return cpuFeatures;
}

async function expectLikeCpu(handle: NativeInception): Promise<void> {
  const got = await expectPytorchParity(handle, N, RTOL);
  const c = compare(got, await cpuReference(), { rtol: RTOL, atol: 0 });
  expect(c.ok, `against the CPU network: max |diff| ${c.maxAbs} at scale ${c.scale}`).toBe(true);
  // grayscale: the channel repeated on the device gives the features of the repeated RGB image
  const gray = images.slice(0, H * W);
  const rgb = new Float32Array(3 * H * W);
  for (let c3 = 0; c3 < 3; c3++) rgb.set(gray, c3 * H * W);
  const a = await handle.features({ images: gray, count: 1, channels: 1, height: H, width: W, batch: 1 });
  const b = await handle.features({ images: rgb, count: 1, channels: 3, height: H, width: W, batch: 1 });
  expect(Buffer.from(a.features.buffer).equals(Buffer.from(b.features.buffer))).toBe(true);
}

describe('the FID Inception through the backend ops, without a GPU', () => {
  it('on the guarded CPU device: PyTorch and the CPU network within 1e-5', { timeout: 120_000 }, async () => {
    await expectLikeCpu(await make(native(), 'cpu-guarded'));
  });

  it('refuses an unknown device and CUDA where the build has none', async () => {
    const h = new (native().Inception)();
    const weights = {} as Record<string, Float32Array>;
    await expect(Promise.resolve().then(() => h.load(weights, 'gpu'))).rejects.toMatchObject({
      code: 'ERR_PFGM_ARGUMENT',
      message: expect.stringMatching(/unknown device 'gpu'/),
    });
    if (native().buildInfo().flavor === 'cpu') {
      await expect(Promise.resolve().then(() => h.load(weights, 'cuda'))).rejects.toMatchObject({
        code: 'ERR_PFGM_DEVICE',
      });
    }
  });
});

describe.skipIf(!fake)('the FID Inception on cuda/backend.cu over the fake CUDA runtime', () => {
  it("on the fake addon's 'cuda': PyTorch and the CPU network within 1e-5", { timeout: 180_000 }, async () => {
    await expectLikeCpu(await make(fake as NativeAddon, 'cuda'));
  });
});
