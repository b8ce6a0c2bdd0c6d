// Where a network lives: `device` and `precision` of createNetwork, checked before anything is
// allocated, with coded errors that say what to do. Runs on every machine; the GPU side of the same
// API is test/gpu/network-parity.test.ts.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { NativeAddon } from '../../src/addon/native.js';
import { createNetwork, getDeviceInfo, type Precision } from '../../src/index.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = process.env.PFGM_ADDON_DIR ?? join(root, 'build', 'Release');
const requireNative = createRequire(import.meta.url);
const info = getDeviceInfo();
const gpuReady = info.backend === 'cuda' && info.cuda.available && info.cuda.cudnn && info.cuda.cublas;
const mlpConfig = { kind: 'mlp', in_features: 2, hidden: 8, num_blocks: 1, emb_channels: 8, noise_channels: 4 };

describe('createNetwork device and precision', () => {
  it('auto is the CPU here unless a GPU can run networks, and a GPU precision falls back to fp32', () => {
    const net = createNetwork('mlp', { precision: 'bf16' });
    expect(net.device).toBe(gpuReady ? 'cuda' : 'cpu');
    expect(net.precision).toBe(gpuReady ? 'bf16' : 'fp32');
    net.dispose();
  });

  it('an explicit cpu network is fp32 and refuses a GPU precision', () => {
    const net = createNetwork('mlp', { device: 'cpu' });
    expect([net.device, net.precision]).toEqual(['cpu', 'fp32']);
    net.dispose();
    expect(() => createNetwork('mlp', { device: 'cpu', precision: 'tf32' })).toThrow(
      expect.objectContaining({ code: 'ERR_PFGM_ARGUMENT', message: expect.stringMatching(/needs device 'cuda'/) }),
    );
  });

  it('refuses unknown devices and precisions', () => {
    expect(() => createNetwork('mlp', { device: 'tpu' as 'cpu' })).toThrow(
      expect.objectContaining({
        code: 'ERR_PFGM_DEVICE',
        message: expect.stringMatching(/use cpu, cuda, cuda:N or auto/),
      }),
    );
    expect(() => createNetwork('mlp', { precision: 'fp16' as Precision })).toThrow(
      expect.objectContaining({
        code: 'ERR_PFGM_ARGUMENT',
        message: expect.stringMatching(/'fp32', 'tf32' or 'bf16'/),
      }),
    );
  });

  it.skipIf(gpuReady)('device cuda without a GPU that can run networks is ERR_PFGM_DEVICE saying why', () => {
    expect(() => createNetwork('mlp', { device: 'cuda' })).toThrow(
      expect.objectContaining({ code: 'ERR_PFGM_DEVICE', message: expect.stringMatching(/device 'cuda'/) }),
    );
  });
});

describe('the native Network constructor', () => {
  it('the CPU-only build refuses device cuda with ERR_PFGM_DEVICE', () => {
    const cpu = requireNative(join(dir, 'pfgm_cpu.node')) as NativeAddon;
    expect(() => new cpu.Network({ ...mlpConfig, device: 'cuda' })).toThrow(
      expect.objectContaining({
        code: 'ERR_PFGM_DEVICE',
        message: expect.stringMatching(/CPU-only build.*device 'cpu'/),
      }),
    );
    expect(() => new cpu.Network({ ...mlpConfig, device: 'cpu', precision: 'bf16' })).toThrow(
      expect.objectContaining({ code: 'ERR_PFGM_ARGUMENT' }),
    );
    expect(() => new cpu.Network({ ...mlpConfig, device: 'gpu0' })).toThrow(
      expect.objectContaining({ code: 'ERR_PFGM_ARGUMENT', message: expect.stringMatching(/unknown device 'gpu0'/) }),
    );
  });

  it.skipIf(gpuReady || !existsSync(join(dir, 'pfgm_cuda.node')))(
    'the CUDA build without a usable GPU refuses device cuda with ERR_PFGM_DEVICE',
    () => {
      const cuda = requireNative(join(dir, 'pfgm_cuda.node')) as NativeAddon;
      expect(() => new cuda.Network({ ...mlpConfig, device: 'cuda' })).toThrow(
        expect.objectContaining({ code: 'ERR_PFGM_DEVICE', message: expect.stringMatching(/not usable here/) }),
      );
      // The same build still runs networks on the CPU.
      const net = new cuda.Network({ ...mlpConfig, device: 'cpu' });
      expect(net.paramInfo().paramCount).toBeGreaterThan(0);
      net.dispose();
    },
  );
});
