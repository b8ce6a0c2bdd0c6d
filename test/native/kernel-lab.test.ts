// The kernel lab (bench/kernels/) on the CUDA emulator, so it cannot rot: every family's variants,
// the production kernel among them, run at the small size and pass their checks against the CPU
// references, with exact device allocations (a read past a buffer faults) and in both thread
// orders (a result that depends on the order of a block's threads between barriers fails one).
// The emulator's lab executable is built with the addons where the CUDA toolkit is found on
// x86-64; elsewhere this file is skipped.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/toolkit.js';

const labDir = process.env.PFGM_LAB_DIR ?? join(repoRoot, 'build', 'Release');
const exe = join(labDir, 'pfgm_kernellab_emu');
const built = existsSync(exe);
if (!built) {
  console.warn(
    `kernel-lab.test.ts skipped: ${exe} was not built (it needs the CUDA toolkit's headers, ` +
      'nvcc found by CMake, and an x86-64 machine for the emulator)',
  );
}

interface Check {
  output: string;
  max_abs: number | string;
  max_rel: number | string;
  tol: number;
  pass: boolean;
}
interface Report {
  family: string;
  device: string;
  pass: boolean;
  rows: { case: string; variant: string; checks: Check[] }[];
}

function families(): string[] {
  const r = spawnSync(exe, ['--list'], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { families: { name: string }[] }).families.map((f) => f.name);
}

function runLab(args: string[], order = 'forward'): { status: number | null; report: Report; stderr: string } {
  const r = spawnSync(exe, [...args, '--iters', '1', '--warmup', '0'], {
    encoding: 'utf8',
    env: { ...process.env, PFGM_CUDA_NO_CACHING: '1', PFGM_EMU_ORDER: order },
  });
  return { status: r.status, report: JSON.parse(r.stdout || 'null') as Report, stderr: r.stderr };
}

describe.skipIf(!built)('the kernel lab on the CUDA emulator', () => {
  it('has the group_norm, group_norm_backward, softmax_rows and adam families', () => {
    expect(families()).toEqual(expect.arrayContaining(['group_norm', 'group_norm_backward', 'softmax_rows', 'adam']));
  });

  for (const order of ['forward', 'reverse']) {
    it(`passes every family's checks with the threads of a block in ${order} order`, () => {
      for (const family of families()) {
        const { status, report, stderr } = runLab([family], order);
        const failed = report.rows.flatMap((r) =>
          r.checks.filter((c) => !c.pass).map((c) => `${r.case} ${r.variant} ${c.output}: ${c.max_rel} > ${c.tol}`),
        );
        expect(failed, `${family}: ${stderr}`).toEqual([]);
        expect(status, stderr).toBe(0);
        expect(report.device).toBe('emu');
        const variants = new Set(report.rows.map((r) => r.variant));
        expect(variants.has('production'), family).toBe(true);
        expect(variants.size, `${family} has alternatives to the production kernel`).toBeGreaterThan(1);
      }
    });
  }

  it('selects one variant by name or index, and the runner prints its table', () => {
    const byIndex = runLab(['softmax_rows', '--variant', '1']);
    expect(byIndex.status).toBe(0);
    expect(new Set(byIndex.report.rows.map((r) => r.variant))).toEqual(new Set(['warp_loop']));
    const r = spawnSync(
      process.execPath,
      [
        join(repoRoot, 'bench', 'kernels', 'run.mjs'),
        'adam',
        '--device',
        'emu',
        '--variant',
        'production',
        '--iters',
        '1',
      ],
      { encoding: 'utf8', env: { ...process.env, PFGM_LAB_DIR: labDir } },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/not a performance number/);
    expect(r.stdout).toMatch(/production\s+\S+\s+0\s+0\s+exact\s+ok/);
  });

  it('refuses an unknown family or variant with a usage error', () => {
    expect(spawnSync(exe, ['no_such_family']).status).toBe(2);
    expect(spawnSync(exe, ['adam', '--variant', 'no_such_variant']).status).toBe(2);
  });
});
