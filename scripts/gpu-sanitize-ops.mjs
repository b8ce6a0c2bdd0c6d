#!/usr/bin/env node
// Runs a few of every kind of CUDA kernel once (attention, group norm, FIR, the loss, gradient
// statistics, a convolution and a linear layer when cuDNN / cuBLAS are in, and one training step
// of a small U-Net), for compute-sanitizer's memcheck and racecheck on the GPU machine
// (scripts/device-check.sh sanitize). Not a parity check: the parity tests are test/gpu/. With
// `--device cpu` it runs the same calls on the CPU, which shows that the inputs and attributes are
// right on a machine without a GPU.
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const device = process.argv.includes('--device') ? process.argv[process.argv.indexOf('--device') + 1] : 'cuda';
// The test build of the addon: the op cases (runOp) are not in the shipped one.
const dir = process.env.PFGM_ADDON_DIR ?? join(root, 'build', 'Release', 'testing');
const require = createRequire(import.meta.url);
const addon = require(join(dir, device === 'cuda' ? 'pfgm_cuda.node' : 'pfgm_cpu.node'));
const t = (shape) => ({
  shape,
  data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i * 0.37)),
});

const calls = [
  ['attention', { heads: [2] }, { qkv: t([4, 16, 16, 1536]), dout: t([4, 16, 16, 512]) }],
  [
    'group_norm',
    { groups: [32], silu: [1] },
    { x: t([8, 32, 32, 128]), gamma: t([128]), beta: t([128]), shift: t([8, 128]), dy: t([8, 32, 32, 128]) },
  ],
  ['fir_up', { filter: [1, 3, 3, 1], pad: [1] }, { x: t([8, 16, 16, 64]), dy: t([8, 32, 32, 64]) }],
  ['fir_down', { filter: [1, 3, 3, 1], pad: [1] }, { x: t([8, 16, 16, 64]), dy: t([8, 8, 8, 64]) }],
  ['weighted_mse', {}, { pred: t([8, 3, 32, 32]), target: t([8, 3, 32, 32]), weight: t([8]) }],
  ['grad_stats', {}, { g: t([3000005]) }],
];
const info = addon.buildInfo?.() ?? {};
if (device === 'cpu' || info.cuda?.cudnn) {
  calls.push([
    'conv2d',
    { k: [3], stride: [1], pad: [1] },
    { x: t([4, 16, 16, 32]), weight: t([64, 32, 3, 3]), bias: t([64]), dy: t([4, 16, 16, 64]) },
  ]);
}
if (device === 'cpu' || info.cuda?.cublas) {
  calls.push(['linear', {}, { x: t([300, 128]), weight: t([512, 128]), bias: t([512]), dy: t([300, 512]) }]);
}

let failed = 0;
// One training step and one denoise of a small U-Net (attention, FIR resampling, labels) through
// the whole module tree on the device.
if (device === 'cpu' || (info.cuda?.cudnn && info.cuda?.cublas)) {
  const { createNetwork, preset } = await import(join(root, 'dist', 'index.js'));
  const net = createNetwork(
    preset('ddpmpp-small', {
      imgResolution: 16,
      channelMult: [1, 2],
      numBlocks: 1,
      attnResolutions: [8],
      resampleFilter: [1, 3, 3, 1],
    }),
    { device, D: 128, seed: 1 },
  );
  try {
    const y = t([4, net.sampleSize]).data;
    const r = await net.trainStep(y, { D: 128, seed: 2 });
    const d = await net.denoise(y, 1.5);
    console.log(`network: ok (loss ${r.loss.toFixed(4)}, denoise ${d.length} values)`);
  } catch (e) {
    failed++;
    console.log(`network: ${e.code ?? ''} ${e.message}`);
  }
  net.dispose();
}
for (const [name, attrs, inputs] of calls) {
  try {
    const out = await addon.runOp(name, attrs, inputs, device);
    console.log(`${name}: ok (${Object.keys(out).join(', ')})`);
  } catch (e) {
    failed++;
    console.log(`${name}: ${e.code ?? ''} ${e.message}`);
  }
}
process.exit(failed === 0 ? 0 : 1);
