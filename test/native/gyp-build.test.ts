// binding.gyp builds the same CPU sources with node-gyp (docs/dev/architecture.md, "Build"); building it here keeps
// it from rotting. The gyp-built addon must load and draw exactly what the CMake build draws.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);
const work = mkdtempSync(join(tmpdir(), 'pfgm-gyp-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function drawWith(addonDir: string): string {
  const script =
    'const m = await import(process.argv[1]); const x = await m.samplePrior({ shape: [5], count: 3, D: 2, seed: 9 });' +
    ' console.log(JSON.stringify({ info: m.getDeviceInfo().addonPath, x: Array.from(await x.data()) }));';
  return execFileSync(process.execPath, ['--input-type=module', '-e', script, join(root, 'dist', 'index.js')], {
    env: { ...process.env, PFGM_ADDON_DIR: addonDir, PFGM_DEVICE: 'cpu' },
    encoding: 'utf8',
  });
}

describe('binding.gyp', () => {
  it('builds the CPU addon with node-gyp, which loads and matches the CMake build', { timeout: 600_000 }, () => {
    for (const path of ['binding.gyp', 'scripts/native-sources.cjs', 'src/native']) {
      cpSync(join(root, path), join(work, path), { recursive: true });
    }
    symlinkSync(join(root, 'node_modules'), join(work, 'node_modules'));
    const gyp = join(dirname(require.resolve('node-gyp/package.json')), 'bin', 'node-gyp.js');
    const args = [gyp, 'rebuild', `--jobs=${availableParallelism()}`];
    const prefix = resolve(dirname(process.execPath), '..');
    if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
    execFileSync(process.execPath, args, { cwd: work, stdio: 'pipe' });
    const gypDir = join(work, 'build', 'Release');
    expect(existsSync(join(gypDir, 'pfgm_cpu.node'))).toBe(true);

    const fromGyp = JSON.parse(drawWith(gypDir)) as { info: string; x: number[] };
    const fromCmake = JSON.parse(drawWith(join(root, 'build', 'Release'))) as { info: string; x: number[] };
    expect(fromGyp.info).toBe(join(gypDir, 'pfgm_cpu.node'));
    expect(fromGyp.x).toHaveLength(15);
    expect(fromGyp.x).toEqual(fromCmake.x);
  });
});
