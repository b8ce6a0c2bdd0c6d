// PTX checks of the kernels beside the cuDNN / cuBLAS ops (cuda/kernels/bias.cu, cuda/kernels/bf16.cu) for what
// docs/cuda.md claims about them, run wherever nvcc is on PATH (no GPU needed):
// - the bias gradient is deterministic: no atomic instruction in its kernels, and the per-block
//   sums are added in double;
// - the bf16 conversion is the shared integer rounding of ops/bf16_math.h (tested bit for bit on
//   the CPU by gpu-conv-linear.test.ts), not a hardware cvt whose NaN handling could differ.
// A small kernel with atomicAdd shows that the atomic check sees atomics.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hasNvcc as nvcc, repoRoot as root } from '../helpers/toolkit.js';

const work = mkdtempSync(join(tmpdir(), 'pfgm-ptx-dense-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The PTX body of each named kernel of a .cu file (found by its mangled <length><name>). */
function kernels(source: string, names: readonly string[]): Map<string, string> {
  const out = join(work, `${source.replace(/\W/g, '_')}.ptx`);
  execFileSync('nvcc', [
    '-std=c++17',
    '-O3',
    '--expt-relaxed-constexpr',
    '-arch=sm_90',
    '-ptx',
    source,
    '-o',
    out,
    '-I',
    join(root, 'src', 'native'),
    '-I',
    join(root, 'cuda'),
  ]);
  const result = new Map<string, string>();
  for (const part of readFileSync(out, 'utf8')
    .split(/^\.(?:visible |weak )?\.?entry /m)
    .slice(1)) {
    const mangled = part.slice(0, part.indexOf('('));
    // templates: every instantiation's body, concatenated
    for (const name of names) {
      if (mangled.includes(`${name.length}${name}`)) result.set(name, (result.get(name) ?? '') + part);
    }
  }
  return result;
}

const atomic = /^\s*(?:@%p\d+\s+)?(?:atom|red)\./m;

describe.skipIf(!nvcc)('PTX of the bias and bf16 kernels', () => {
  it('the bias gradient has no atomics and adds the block sums in double', () => {
    const names = ['column_partials_kernel', 'column_finish_kernel', 'add_bias_rows_kernel'];
    const bodies = kernels(join(root, 'cuda', 'kernels', 'bias.cu'), names);
    for (const name of names) {
      const body = bodies.get(name);
      expect(body, `${name} in the PTX`).toBeDefined();
      expect(body, name).not.toMatch(atomic);
    }
    expect(bodies.get('column_finish_kernel')).toMatch(/add\.(?:rn\.)?f64/);
    expect(bodies.get('column_partials_kernel')).toMatch(/add\.(?:rn\.)?f32/);
  });

  it('the bf16 conversions use the shared integer rounding, no hardware bf16 cvt', () => {
    const names = ['f32_to_bf16_kernel', 'bf16_to_f32_bias_kernel', 'oihw_to_ohwi_kernel', 'ohwi_to_oihw_kernel'];
    const bodies = kernels(join(root, 'cuda', 'kernels', 'bf16.cu'), names);
    for (const name of names) {
      expect(bodies.get(name), `${name} in the PTX`).toBeDefined();
      expect(bodies.get(name), name).not.toMatch(/cvt\.[a-z.]*bf16/);
    }
    // round to nearest even: + 0x7fff (32767) + the kept bit, then a shift by 16
    expect(bodies.get('f32_to_bf16_kernel')).toMatch(/32767/);
  });

  it('the atomic check sees an atomic when there is one', () => {
    const src = join(work, 'atomic_probe.cu');
    writeFileSync(src, '__global__ void probe_kernel(float* s, const float* x) { atomicAdd(s, x[threadIdx.x]); }\n');
    expect(kernels(src, ['probe_kernel']).get('probe_kernel')).toMatch(atomic);
  });
});
