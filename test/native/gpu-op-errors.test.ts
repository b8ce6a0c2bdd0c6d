// The GPU op entry point (runOp(name, attrs, inputs, 'cuda'), opCases('cuda')) where no GPU can
// run it: the CPU-only addon and the CUDA addon on a machine without a driver or device both give
// a coded ERR_PFGM_DEVICE that says why, never a crash. Runs on every machine: on one with a GPU,
// the CUDA addon runs the op instead and must match the CPU.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { NativeAddon } from '../../src/addon/native.js';
import { filled } from '../helpers/ops.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = process.env.PFGM_ADDON_DIR ?? join(root, 'build', 'Release');
const requireNative = createRequire(import.meta.url);
const load = (name: string) => requireNative(join(dir, name)) as NativeAddon;
const cudaPath = join(dir, 'pfgm_cuda.node');

// Synchronous refusals and rejected promises alike become a rejection.
const attempt = (f: () => Promise<unknown>) => Promise.resolve().then(f);
const inputs = { a: filled([5], 1), b: filled([5], 2) };

describe('runOp on device cuda without a usable GPU', () => {
  it('the CPU-only build refuses with ERR_PFGM_DEVICE and lists no CUDA cases', async () => {
    const cpu = load('pfgm_cpu.node');
    expect(cpu.opCases('cuda')).toEqual([]);
    await expect(attempt(() => cpu.runOp('axpby', { alpha: 1, beta: 2 }, inputs, 'cuda'))).rejects.toMatchObject({
      code: 'ERR_PFGM_DEVICE',
      message: expect.stringMatching(/no CUDA in this build.*use device 'cpu'/),
    });
    // the CPU path is untouched, and a device that is not one is an argument error
    const y = await cpu.runOp('axpby', { alpha: 1, beta: 2 }, inputs, 'cpu');
    expect(y.y?.data[0]).toBe(Math.fround((inputs.a.data[0] as number) + 2 * (inputs.b.data[0] as number)));
    await expect(
      attempt(() => cpu.runOp('axpby', { alpha: 1, beta: 2 }, inputs, 'gpu' as 'cuda')),
    ).rejects.toMatchObject({
      code: 'ERR_PFGM_ARGUMENT',
    });
  });

  it.skipIf(!existsSync(cudaPath))('the CUDA build has a twin for its cases and refuses or runs them', async () => {
    const cuda = load('pfgm_cuda.node');
    const gpuCases = cuda.opCases('cuda');
    const cpuCases = new Set(cuda.opCases('cpu'));
    expect(gpuCases.length).toBeGreaterThanOrEqual(18);
    // every CUDA case but the fault injector has a CPU reference of the same name
    for (const name of gpuCases.filter((n) => n !== 'cuda_fault')) expect(cpuCases.has(name), name).toBe(true);
    const info = cuda.buildInfo().cuda;
    expect(info.compiled).toBe(true);
    const run = () => cuda.runOp('axpby', { alpha: 1, beta: 2 }, inputs, 'cuda');
    if (!info.available) {
      await expect(attempt(run)).rejects.toMatchObject({
        code: 'ERR_PFGM_DEVICE',
        message: expect.stringContaining(info.reason),
      });
    } else {
      const [g, c] = await Promise.all([run(), cuda.runOp('axpby', { alpha: 1, beta: 2 }, inputs, 'cpu')]);
      expect(Array.from(g.y?.data ?? [])).toEqual(Array.from(c.y?.data ?? []));
    }
  });
});
