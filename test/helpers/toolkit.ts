// What the CUDA tests need to know about this machine's build and toolkit.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Whether `nvcc` runs here (the PTX checks need it, not a GPU). */
export const hasNvcc = (() => {
  try {
    execFileSync('nvcc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Where the built test addons are: PFGM_ADDON_DIR (vitest.config.ts), else build/Release/testing. */
export const builtAddons = process.env.PFGM_ADDON_DIR ?? join(repoRoot, 'build', 'Release', 'testing');

/**
 * A folder `work`/addons in which the loader (via PFGM_ADDON_DIR) finds the test addon `file` of the
 * build (the fake-CUDA or emulated-CUDA addon) under the CUDA build's name, beside the CPU build.
 * `present` is false, and nothing is made, where either addon was not built.
 */
export function offeredAsCuda(file: string, work: string): { present: boolean; addons: string } {
  const addons = join(work, 'addons');
  const present = existsSync(join(builtAddons, file)) && existsSync(join(builtAddons, 'pfgm_cpu.node'));
  if (present) {
    mkdirSync(addons);
    symlinkSync(join(builtAddons, file), join(addons, 'pfgm_cuda.node'));
    symlinkSync(join(builtAddons, 'pfgm_cpu.node'), join(addons, 'pfgm_cpu.node'));
  }
  return { present, addons };
}
