// The FID Inception on CUDA (src/native/nn/inception.cc over cuda/backend.cu: the convolutions are
// cuda/kernels/conv_inference.cu's patch matrix and the linear layer's cuBLAS GEMM in fp32, the
// pools, resize and concatenation their own kernels) against PyTorch's golden run and the CPU
// network, on the fixture's 64x64 images (resized to 299x299 inside the network).
//
// Tolerance 1e-5 of the features' scale, the CPU test's (test/native/inception.test.ts): FID runs
// the GPU in fp32 (no TF32), so each convolution is fp32 FMAs in another order than oneDNN's, an
// error of ~sqrt(K) 2^-24 per layer (docs/cuda.md, "FID's Inception"), as the CPU's own against
// the float64 reference (4.9e-7 measured there). The pools, resize and concatenations are the
// CPU's bit for bit (test/native/backend-ops.test.ts), so a grayscale image must give its RGB
// repetition's features exactly. The emulated CUDA device runs the first test
// (test/native/cuda-emulated.test.ts); skipped where no CUDA device is usable.
import { describe, expect, it } from 'vitest';
import { native } from '../../src/addon/load.js';
import { createInception, inceptionTensors } from '../../src/index.js';
import { compare } from '../helpers/golden.js';
import { gpuReady } from '../helpers/gpu.js';
import { inceptionTestWeights } from '../helpers/inception.js';
import { C, expectPytorchParity, FEATURES, H, images, N, testInception, W } from '../helpers/inception-parity.js';

const RTOL = 1e-5;

describe.skipIf(!gpuReady)('the FID Inception on CUDA', () => {
  it('one image: features and every stage within 1e-5 of PyTorch float64 and of the CPU network', {
    timeout: 600_000,
  }, async () => {
    const gpu = await testInception(native(), 'cuda');
    const cpu = await testInception(native(), 'cpu');
    try {
      const got = await expectPytorchParity(gpu, 1, RTOL);
      const one = images.subarray(0, C * H * W);
      const want = await cpu.features({ images: one, count: 1, channels: C, height: H, width: W, batch: 1 });
      const c = compare(got, want.features, { rtol: RTOL, atol: 0 });
      expect(c.ok, `against the CPU network: max |diff| ${c.maxAbs} at scale ${c.scale}`).toBe(true);
    } finally {
      gpu.dispose();
      cpu.dispose();
    }
  });

  it("three images through the API on device 'auto': parity, grayscale exactly RGB, any batch size", {
    timeout: 600_000,
  }, async () => {
    using net = await createInception(inceptionTestWeights(inceptionTensors()));
    expect(net.device).toBe('cuda');
    const handle = await testInception(native(), 'cuda');
    try {
      await expectPytorchParity(handle, N, RTOL);
    } finally {
      handle.dispose();
    }
    const shape = { count: N, channels: C, height: H, width: W };
    const whole = await net.features(images, { ...shape, batchSize: N });
    const single = await net.features(images, { ...shape, batchSize: 1 });
    const c = compare(single, whole, { rtol: RTOL, atol: 0 });
    expect(c.ok, `batch 1 against batch 3: max |diff| ${c.maxAbs} at scale ${c.scale}`).toBe(true);
    const gray = images.slice(0, N * H * W);
    const rgb = new Float32Array(N * 3 * H * W);
    for (let n = 0; n < N; n++) {
      for (let k = 0; k < 3; k++) rgb.set(gray.subarray(n * H * W, (n + 1) * H * W), (n * 3 + k) * H * W);
    }
    const a = await net.features(gray, { ...shape, channels: 1 });
    const b = await net.features(rgb, shape);
    expect(a.length).toBe(N * FEATURES);
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
  });
});
