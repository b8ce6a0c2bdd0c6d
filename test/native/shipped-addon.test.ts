// The addons users load (build/Release/pfgm_cpu.node, and pfgm_cuda.node where CUDA was built)
// carry the engine only: the test-only native code (the op cases and their runOp / opCases
// exports, the guarded device 'cpu-guarded') is linked into the test build in
// build/Release/testing, which the other tests load. Checked on the files themselves: their
// exports, the Network devices they accept, and their symbol tables.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { NativeAddon } from '../../src/addon/native.js';
import { repoRoot } from '../helpers/toolkit.js';

const shipped = join(repoRoot, 'build', 'Release');
const testing = join(repoRoot, 'build', 'Release', 'testing');
const requireNative = createRequire(import.meta.url);
const mlpConfig = { kind: 'mlp', in_features: 2, hidden: 8, num_blocks: 1, emb_channels: 8, noise_channels: 4 };
// Names that only the test code defines (demangled): its namespaces, files and entry points.
const testSymbol = /pfgm::opcases::|_cases\.cc|guarded_backend|pfgm::binding::RunOp|pfgm::binding::OpCases/;

const hasNm = (() => {
  try {
    execFileSync('nm', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** The lines of `nm -C` (all symbols) and `nm -D -C` (dynamic ones) of `file` that name test code. */
function testSymbols(file: string): string[] {
  const lines = (args: string[]) =>
    execFileSync('nm', [...args, file], { encoding: 'utf8', maxBuffer: 256 << 20 }).split('\n');
  return [...lines(['-C']), ...lines(['-D', '-C'])].filter((l) => testSymbol.test(l));
}

const files = ['pfgm_cpu.node', 'pfgm_cuda.node'].filter((f) => existsSync(join(shipped, f)));

describe('the shipped addons hold no test code', () => {
  it('the CPU addon is built', () => {
    expect(files).toContain('pfgm_cpu.node');
  });

  it.each(files)('%s has no runOp / opCases export', (file) => {
    const addon = requireNative(join(shipped, file)) as Partial<NativeAddon>;
    expect(typeof addon.buildInfo).toBe('function');
    expect(addon.runOp).toBeUndefined();
    expect(addon.opCases).toBeUndefined();
  });

  it.each(files)("%s refuses device 'cpu-guarded' as it refuses any unknown device", (file) => {
    const addon = requireNative(join(shipped, file)) as NativeAddon;
    for (const device of ['cpu-guarded', 'gpu0']) {
      expect(() => new addon.Network({ ...mlpConfig, device })).toThrow(
        expect.objectContaining({
          code: 'ERR_PFGM_ARGUMENT',
          message: `unknown device '${device}' (use 'cpu' or 'cuda')`,
        }),
      );
    }
    const net = new addon.Network({ ...mlpConfig, device: 'cpu' });
    expect(net.paramInfo().device).toBe('cpu');
    net.dispose();
  });

  it.skipIf(!hasNm).each(files)('%s has no op-case or guarded-device symbols (nm)', (file) => {
    expect(testSymbols(join(shipped, file))).toEqual([]);
  });

  it.skipIf(!hasNm || !existsSync(join(testing, 'pfgm_cpu.node')))(
    'the test build has them: runOp, the guarded device and their symbols',
    () => {
      const addon = requireNative(join(testing, 'pfgm_cpu.node')) as NativeAddon;
      expect(addon.opCases()).toContain('axpby');
      const net = new addon.Network({ ...mlpConfig, device: 'cpu-guarded' });
      expect(net.paramInfo().device).toBe('cpu-guarded');
      net.dispose();
      expect(testSymbols(join(testing, 'pfgm_cpu.node')).length).toBeGreaterThan(0);
    },
  );
});
