// The FID Inception on any device of any test addon against PyTorch's golden run
// (test/fixtures/inception/random-weights.safetensors: three 64x64 RGB images, the float64 and
// float32 features, samples and channel means of every tapped stage) and against the CPU engine.
// Used by the fake-CUDA test (test/native/inception-cuda.test.ts), the emulator and a GPU
// (test/gpu/inception-parity.test.ts), so the device paths are held to one description.
import { expect } from 'vitest';
import type { NativeAddon, NativeInception } from '../../src/addon/native.js';
import { compare, loadFixture } from './golden.js';
import { inceptionTestWeights } from './inception.js';

export const FEATURES = 2048;
export const fx = loadFixture('inception/random-weights.safetensors');
const images01 = fx.tensor('images'); // [3, 3, 64, 64] in [0, 1]
export const images = images01.data.map((v) => 2 * v - 1); // the project's [-1, 1]
export const [N, C, H, W] = images01.shape as [number, number, number, number];

/** A native Inception of `addon` with the deterministic test weights, on `device`. */
export async function testInception(addon: NativeAddon, device: string): Promise<NativeInception> {
  const handle = new addon.Inception();
  await handle.load(Object.fromEntries(inceptionTestWeights(addon.Inception.tensors())), device);
  expect(handle.device()).toBe(device);
  return handle;
}

/**
 * The first `count` fixture images through `handle` in one call with every stage tapped: features,
 * differences between images (what tells them apart: a few percent of the features) and the stages'
 * samples and channel means against PyTorch's float64 run within `rtol` (10 rtol for the
 * differences). Returns the features.
 */
export async function expectPytorchParity(handle: NativeInception, count: number, rtol: number): Promise<Float32Array> {
  const shapes = JSON.parse(fx.file.metadata.taps ?? '{}') as Record<string, number[]>;
  const stages = Object.keys(shapes);
  const r = await handle.features({
    images: images.subarray(0, count * C * H * W),
    count,
    channels: C,
    height: H,
    width: W,
    batch: count,
    taps: stages,
  });
  const want = fx.tensor('features').data.subarray(0, count * FEATURES);
  const f = compare(r.features, want, { rtol, atol: 0 });
  expect(f.ok, `features: max |diff| ${f.maxAbs} at scale ${f.scale}`).toBe(true);
  const diff = (a: ArrayLike<number>, i: number) =>
    Float32Array.from({ length: FEATURES }, (_, k) => (a[k] as number) - (a[i * FEATURES + k] as number));
  for (let i = 1; i < count; i++) {
    const d = compare(diff(r.features, i), diff(want, i), { rtol: 10 * rtol, atol: 0 });
    expect(d.ok, `image 0 - image ${i}: max |diff| ${d.maxAbs} at scale ${d.scale}`).toBe(true);
  }
  for (const stage of stages) {
    const act = r.taps?.[stage] as Float32Array;
    const [n, c, h, w] = shapes[stage] as [number, number, number, number];
    expect(act.length, stage).toBe(count * c * h * w);
    const index = fx.file.tensors.get(`taps/${stage}/index`)?.data as Int32Array;
    const values = fx.tensor(`taps/${stage}/values`).data;
    // the fixture samples all N images; keep the samples that fall in the first `count`
    const keep = Array.from(index.keys()).filter((k) => (index[k] as number) < act.length);
    const s = compare(
      keep.map((k) => act[index[k] as number] as number),
      keep.map((k) => values[k] as number),
      { rtol, atol: 0 },
    );
    expect(s.ok, `${stage} samples: max |diff| ${s.maxAbs} at scale ${s.scale}`).toBe(true);
    const means = new Float32Array(count * c);
    for (let p = 0; p < count * c; p++) {
      let sum = 0;
      for (let k = 0; k < h * w; k++) sum += act[p * h * w + k] as number;
      means[p] = sum / (h * w);
    }
    const wantMeans = fx.tensor(`taps/${stage}/channel_mean`).data.subarray(0, count * c);
    expect(n).toBe(N);
    const m = compare(means, wantMeans, { rtol, atol: 0 });
    expect(m.ok, `${stage} channel means: max |diff| ${m.maxAbs} at scale ${m.scale}`).toBe(true);
  }
  return r.features;
}
