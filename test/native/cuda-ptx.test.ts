// The CUDA kernels that claim bit-identical results with the CPU (docs/cuda.md) must round after
// every float operation, as the CPU's baseline x86-64 loops do: nvcc's default contraction of
// a * b + c into one fused multiply-add would change the last bit. This compiles those kernels to
// PTX with nvcc (skipped where nvcc is absent, so it runs on CPU-only machines with a toolkit)
// and checks that their bodies contain explicitly rounded operations (mul.rn / add.rn) and no f32
// FMA; SiLU, which is allowed to contract, shows that the check does see FMAs.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hasNvcc as nvcc, repoRoot as root } from '../helpers/toolkit.js';

const work = mkdtempSync(join(tmpdir(), 'pfgm-ptx-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Kernel name (as in the source) -> its PTX body, for every kernel of cuda/kernels/<file>.cu. */
function kernels(file: string): Map<string, string> {
  const out = join(work, `${file}.ptx`);
  execFileSync('nvcc', [
    '-std=c++17',
    '-O3',
    '--expt-relaxed-constexpr',
    '-arch=sm_90',
    '-ptx',
    join(root, 'cuda', 'kernels', `${file}.cu`),
    '-o',
    out,
    '-I',
    join(root, 'src', 'native'),
    '-I',
    join(root, 'cuda'),
  ]);
  const ptx = readFileSync(out, 'utf8');
  const result = new Map<string, string>();
  const parts = ptx.split(/^\.(?:visible |weak )?\.?entry /m).slice(1);
  for (const part of parts) {
    const mangled = part.slice(0, part.indexOf('('));
    const name = /\d+([a-z_]+_kernel)/.exec(mangled)?.[1];
    if (name) result.set(name, part);
  }
  return result;
}

describe.skipIf(!nvcc)('CUDA kernels that must match the CPU bit for bit', () => {
  it.each([
    ['elementwise', ['axpby_kernel', 'scale_kernel', 'add_channel_bias_kernel']],
    ['modulate', ['modulate_forward_kernel', 'modulate_dx_kernel']],
    ['activation', ['dropout_kernel', 'dropout_masked_kernel']],
    ['loss', ['mse_backward_kernel']],
    ['optim', ['adam_kernel', 'axpy_kernel', 'ema_kernel']],
    ['embedding', ['label_kernel', 'positional_kernel', 'fourier_kernel']],
  ] as const)('cuda/kernels/%s.cu: %s round every operation (no f32 FMA)', (file, names) => {
    const bodies = kernels(file);
    for (const name of names) {
      const body = bodies.get(name);
      expect(body, `${name} in the PTX`).toBeDefined();
      expect(body, name).toMatch(/(mul|add)\.rn\.f32/);
      expect(body, name).not.toMatch(/fma\.rn\.f32/);
    }
  });

  it('the check sees contracted FMAs where they are allowed (SiLU)', () => {
    expect(kernels('activation').get('silu_forward_kernel')).toMatch(/fma\.rn\.f32/);
  });
});
