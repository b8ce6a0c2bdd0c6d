// A whole network on CUDA against the same network on the CPU engine: the module tree is
// shared (nn/backend.h), so what differs is only each op's arithmetic. Same seed, same weights
// (initialised on the host), same Philox streams for sigma, noise and dropout, so outputs,
// gradients and a few training steps must agree within float tolerance:
//
// - fp32: each op's GPU result is within ~1e-5 relative of the CPU's (docs/cuda.md); through a
//   SongUNet of ~20 layers the errors add up to ~1e-4 of the output's scale. Adam's first steps
//   move a weight by ~lr * g / (|g| + eps) whatever the gradient's size, so a weight whose
//   gradient is near zero (|g| below the rounding noise, above eps) can step the other way on the
//   other device: a few weights differ by up to ~2 lr per step, the rest by far less. Measured on
//   the CPU alone, with the data perturbed by 1e-7 / 1e-5 / 1e-4 relative (a stand-in for the
//   GPU's rounding) and the same 3 steps of this test: max |dw| 1.3e-3 / 1.5e-3 / 1.7e-3, and
//   15 / 73 / 1263 of the 1 216 105 weights differ by more than 1e-4. So the test bounds the
//   fraction of weights off by more than 1e-4 (5e-4, i.e. ~600 weights) and the largest
//   difference by Adam's own bound (step t moves a weight by <= 1, 1.0014, 1.0036 lr for t = 1, 2, 3
//   by Cauchy-Schwarz over m / sqrt(v), so two runs differ by <= 6.01 lr);
//   different draws (seed 10 against 9) move 943 029 of them apart by more than 1e-4.
// - bf16 autocast: operands keep 8 bits, ~4e-3 relative per product; measured here against the
//   fp32 GPU network, the output error must stay below 3e-2 of its scale, and the bf16 loss within
//   2% of fp32's. The measured values are printed for docs/cuda.md.
//
// Skipped where the loaded addon has no usable GPU with cuDNN and cuBLAS.
import { describe, expect, it } from 'vitest';
import { createNetwork, type Network, type NetworkConfig, preset } from '../../src/index.js';
import { gpuReady } from '../helpers/gpu.js';
import { scaledError } from '../helpers/ops.js';

// Every module path of the U-Net: attention, FIR up/down with [1, 3, 3, 1], the residual
// encoder's fused conv-then-downsample (its bias after the resampling), the skip decoder, class
// labels with label dropout, and dropout.
const unet = preset('ddpmpp-small', {
  imgResolution: 16,
  inChannels: 3,
  outChannels: 3,
  channelMult: [1, 2, 2],
  channelMultEmb: 2,
  numBlocks: 1,
  attnResolutions: [8],
  labelDim: 4,
  labelDropout: 0.1,
  encoderType: 'residual',
  decoderType: 'skip',
  resampleFilter: [1, 3, 3, 1],
} as Partial<NetworkConfig>);

// EDM's ADM network: adaptive scale (cuda/kernels/modulate.cu), attention at 4x4 (64 channels, one
// head; none at 8x8, where 32 channels have no head), kernel-0 skips of the up/down blocks, class
// and augment labels.
const adm = preset('adm-imagenet64', {
  imgResolution: 8,
  inChannels: 3,
  outChannels: 3,
  labelDim: 4,
  augmentDim: 9,
  modelChannels: 32,
  channelMult: [1, 2],
  channelMultEmb: 2,
  numBlocks: 1,
  attnResolutions: [8, 4],
} as Partial<NetworkConfig>);

function data(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.sin(i * 0.731 + seed * 1.37) * 0.9;
  return a;
}

function labels(batch: number, dim: number): Float32Array {
  const l = new Float32Array(batch * dim);
  for (let i = 0; i < batch; i++) l[i * dim + (i % dim)] = 1;
  return l;
}

function pair(config: NetworkConfig | 'ddpmpp-small', precision: 'fp32' | 'bf16' = 'fp32'): [Network, Network] {
  const opts = { seed: 5, D: 128 };
  return [
    createNetwork(config, { ...opts, device: 'cpu' }),
    createNetwork(config, { ...opts, device: 'cuda', precision }),
  ];
}

describe.skipIf(!gpuReady)('a network on CUDA against the CPU engine', () => {
  it('starts from the same weights', () => {
    const [cpu, gpu] = pair(unet);
    expect(gpu.device).toBe('cuda');
    expect(scaledError(gpu.flatWeights().raw, cpu.flatWeights().raw)).toBe(0);
    cpu.dispose();
    gpu.dispose();
  });

  it('denoises like the CPU (fp32)', async () => {
    const [cpu, gpu] = pair(unet);
    const batch = 6;
    const x = data(batch * cpu.sampleSize, 1);
    const sigma = new Float32Array([0.002, 0.05, 0.5, 2, 20, 80]);
    const l = labels(batch, 4);
    const a = await cpu.denoise(x, sigma, { labels: l });
    const b = await gpu.denoise(x, sigma, { labels: l });
    const e = scaledError(b, a);
    console.log(`denoise fp32 scaled error ${e.toExponential(2)}`);
    expect(e).toBeLessThan(1e-4);
    cpu.dispose();
    gpu.dispose();
  });

  it('computes the loss and every gradient like the CPU (fp32)', async () => {
    const [cpu, gpu] = pair(unet);
    const batch = 4;
    const y = data(batch * cpu.sampleSize, 2);
    const noise = data(batch * cpu.sampleSize, 3);
    const sigma = new Float32Array([0.1, 0.7, 3, 30]);
    const l = labels(batch, 4);
    const la = await cpu.lossAndGrad(y, noise, sigma, { labels: l });
    const lb = await gpu.lossAndGrad(y, noise, sigma, { labels: l });
    expect(Math.abs(lb - la) / la).toBeLessThan(1e-4);
    const ga = cpu.stateDict('grads');
    const gb = gpu.stateDict('grads');
    let worst = 0;
    for (const [name, g] of ga) {
      const e = scaledError(gb.get(name) as Float32Array, g);
      worst = Math.max(worst, e);
      expect(e, name).toBeLessThan(2e-3);
    }
    console.log(`gradients fp32 worst scaled error ${worst.toExponential(2)}`);
    cpu.dispose();
    gpu.dispose();
  });

  it('runs the ADM network (DhariwalUNet) like the CPU: output, loss and every gradient (fp32)', async () => {
    const [cpu, gpu] = pair(adm);
    const batch = 3;
    const x = data(batch * cpu.sampleSize, 4);
    const sigma = new Float32Array([0.05, 1, 40]);
    const cond = { labels: labels(batch, 4), augment: data(batch * 9, 5) };
    const e = scaledError(await gpu.denoise(x, sigma, cond), await cpu.denoise(x, sigma, cond));
    expect(e).toBeLessThan(1e-4);
    const noise = data(batch * cpu.sampleSize, 6);
    const la = await cpu.lossAndGrad(x, noise, sigma, cond);
    const lb = await gpu.lossAndGrad(x, noise, sigma, cond);
    expect(Math.abs(lb - la) / la).toBeLessThan(1e-4);
    const ga = cpu.stateDict('grads');
    const gb = gpu.stateDict('grads');
    let worst = 0;
    for (const [name, g] of ga) {
      const err = scaledError(gb.get(name) as Float32Array, g);
      worst = Math.max(worst, err);
      expect(err, name).toBeLessThan(2e-3);
    }
    console.log(
      `DhariwalUNet denoise fp32 scaled error ${e.toExponential(2)}, gradients worst ${worst.toExponential(2)}`,
    );
    cpu.dispose();
    gpu.dispose();
  });

  it('takes the same training steps: same draws, same Adam and EMA (fp32)', async () => {
    const [cpu, gpu] = pair(unet);
    const batch = 8;
    const y = data(batch * cpu.sampleSize, 4);
    const l = labels(batch, 4);
    for (let s = 0; s < 3; s++) {
      const a = await cpu.trainStep(y, { D: 128, seed: 9, labels: l, lr: 1e-3 });
      const b = await gpu.trainStep(y, { D: 128, seed: 9, labels: l, lr: 1e-3 });
      // Different draws would change the loss by tens of percent; float differences by ~1e-4.
      expect(Math.abs(b.loss - a.loss) / a.loss).toBeLessThan(1e-3);
      expect(Math.abs(b.gradNorm - a.gradNorm) / a.gradNorm).toBeLessThan(1e-3);
    }
    const wa = cpu.flatWeights();
    const wb = gpu.flatWeights();
    // [largest |difference|, how many differ by more than 1e-4] (see the file's header)
    const compare = (a: Float32Array, b: Float32Array): [number, number] => {
      let worst = 0;
      let off = 0;
      for (let i = 0; i < a.length; i++) {
        const d = Math.abs((a[i] as number) - (b[i] as number));
        worst = Math.max(worst, d);
        if (!(d <= 1e-4)) off++;
      }
      return [worst, off];
    };
    const [raw, rawOff] = compare(wb.raw, wa.raw);
    const [ema, emaOff] = compare(wb.ema, wa.ema);
    const count = wa.raw.length;
    console.log(
      `after 3 steps (${count} weights): max |w_gpu - w_cpu| raw ${raw.toExponential(2)} (${rawOff} > 1e-4), ` +
        `ema ${ema.toExponential(2)} (${emaOff} > 1e-4)`,
    );
    expect(rawOff / count).toBeLessThan(5e-4);
    expect(emaOff / count).toBeLessThan(5e-4);
    expect(raw).toBeLessThan(6.1e-3);
    expect(ema).toBeLessThan(6.1e-3);
    cpu.dispose();
    gpu.dispose();
  });

  it('trains ddpmpp-small one step like the CPU (fp32)', async () => {
    const [cpu, gpu] = pair('ddpmpp-small');
    const batch = 4;
    const y = data(batch * cpu.sampleSize, 6);
    const a = await cpu.trainStep(y, { D: 128, seed: 1 });
    const b = await gpu.trainStep(y, { D: 128, seed: 1 });
    expect(Math.abs(b.loss - a.loss) / a.loss).toBeLessThan(1e-3);
    expect(Math.abs(b.gradNorm - a.gradNorm) / a.gradNorm).toBeLessThan(1e-3);
    cpu.dispose();
    gpu.dispose();
  });

  it('bf16 autocast stays within its stated accuracy of fp32', async () => {
    const [, fp32] = pair(unet);
    const bf16 = createNetwork(unet, { seed: 5, D: 128, device: 'cuda', precision: 'bf16' });
    expect(bf16.precision).toBe('bf16');
    const batch = 6;
    const x = data(batch * fp32.sampleSize, 7);
    const sigma = new Float32Array([0.01, 0.1, 0.5, 2, 10, 80]);
    const l = labels(batch, 4);
    const a = await fp32.denoise(x, sigma, { labels: l });
    const b = await bf16.denoise(x, sigma, { labels: l });
    const e = scaledError(b, a);
    const y = data(batch * fp32.sampleSize, 8);
    const noise = data(batch * fp32.sampleSize, 9);
    const la = await fp32.lossAndGrad(y, noise, sigma, { labels: l });
    const lb = await bf16.lossAndGrad(y, noise, sigma, { labels: l });
    console.log(`bf16 vs fp32: denoise scaled error ${e.toExponential(2)}, loss ${la} vs ${lb}`);
    expect(e).toBeLessThan(3e-2);
    expect(Math.abs(lb - la) / la).toBeLessThan(2e-2);
    fp32.dispose();
    bf16.dispose();
  });
});

describe('device selection', () => {
  it('auto picks the GPU only when it can run networks', () => {
    const net = createNetwork('mlp');
    expect(net.device).toBe(gpuReady ? 'cuda' : 'cpu');
    net.dispose();
  });
});
