// The device kit (scripts/device-kit.mjs, scripts/device-check.sh; docs/benchmarks-gpu.md, "On
// the project's GPU machine"): the node_modules closure the kit packs against Node's own lookup
// paths (Module._nodeModulePaths through require.resolve.paths, not the script's walk), the native
// files it names, and device-check.sh's syntax and refusals. Fast: nothing is compressed or built.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const hasDpkg = spawnSync('dpkg', ['--version'], { stdio: 'ignore' }).status === 0;

interface Listed {
  name: string;
  version: string;
  dir: string;
}
interface KitList {
  node: { binary: string; version: string };
  packages: Listed[];
  archives: Record<string, string[] | { members: number }>;
  cmake: Record<string, string>;
}

/** Where Node would find `dep` required from the package in `dir`, or undefined. */
function nodeLookup(dir: string, dep: string): string | undefined {
  const paths = createRequire(join(dir, 'package.json')).resolve.paths(dep) ?? [];
  for (const base of paths) {
    const candidate = join(base, dep);
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
  }
  return undefined;
}

describe.skipIf(!hasDpkg)('device-kit.mjs --list', () => {
  const run = spawnSync(process.execPath, ['scripts/device-kit.mjs', '--list'], { cwd: root, encoding: 'utf8' });
  const list = (run.status === 0 ? JSON.parse(run.stdout) : undefined) as KitList | undefined;

  it('runs and prints JSON', () => {
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(list).toBeDefined();
  });

  it('names the installed closure of vitest and node-addon-api, each package where it says', () => {
    const packages = list?.packages ?? [];
    const dirs = new Set(packages.map((p) => p.dir));
    for (const p of packages) {
      const pkg = JSON.parse(readFileSync(join(p.dir, 'package.json'), 'utf8'));
      expect(pkg.name, p.dir).toBe(p.name);
      expect(pkg.version, p.dir).toBe(p.version);
    }
    const names = packages.map((p) => p.name);
    for (const name of ['vitest', 'node-addon-api', 'vite', 'rolldown', '@vitest/runner', 'chai', 'tinyglobby']) {
      expect(names).toContain(name);
    }
    // Closed under Node's resolution: every dependency, optional dependency and peer that is
    // installed where Node would look for it is in the list too (rolldown's and lightningcss's
    // native linux-x64 packages are optional dependencies).
    let edges = 0;
    for (const p of packages) {
      const pkg = JSON.parse(readFileSync(join(p.dir, 'package.json'), 'utf8'));
      const deps = [pkg.dependencies, pkg.optionalDependencies, pkg.peerDependencies].flatMap((d) =>
        Object.keys(d ?? {}),
      );
      for (const dep of deps) {
        const found = nodeLookup(p.dir, dep);
        if (found === undefined) continue;
        edges++;
        expect(dirs.has(found), `${dep} (needed by ${p.name}, installed at ${found}) is missing`).toBe(true);
      }
    }
    expect(edges).toBeGreaterThan(packages.length);
    expect(names.some((n) => /^@rolldown\/binding-linux-x64/.test(n))).toBe(true);
    // ...and no more than that: the development tools nothing on the device runs stay out.
    for (const name of ['typescript', 'typedoc', '@biomejs/biome', 'cmake-js', 'node-gyp']) {
      expect(names).not.toContain(name);
    }
  });

  it('names the Node-API headers, oneDNN and the values cmake-js would pass', () => {
    const headers = list?.archives['native-headers.tar.xz'] as string[];
    const libs = list?.archives['native-libs.tar.xz'] as string[];
    for (const h of ['node_api.h', 'node_api_types.h', 'js_native_api.h', 'js_native_api_types.h']) {
      expect(headers).toContain(`node/include/node/${h}`);
    }
    expect(headers).toContain('usr/include/oneapi/dnnl/dnnl.hpp');
    expect(headers.some((h) => h.endsWith('/cmake/dnnl/dnnl-config.cmake'))).toBe(true);
    expect(headers.some((h) => h.endsWith('include/CL/cl.h'))).toBe(true);
    expect(libs.some((l) => l.endsWith('/libdnnl.so.2'))).toBe(true);
    expect(list?.cmake.NODE_RUNTIMEVERSION).toBe(process.versions.node);
    expect(list?.node.version).toBe(process.version);
    const modules = list?.archives['node_modules.tar.xz'] as { members: number } | undefined;
    expect(modules?.members).toBeGreaterThan(100);
  });
});

describe('device-check.sh', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'pfgm-device-check-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  const check = (args: string[], env: Record<string, string> = {}) =>
    spawnSync('bash', ['scripts/device-check.sh', ...args], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, OUT: join(scratch, 'out'), PFGM_DEVICE_BUILD: join(scratch, 'build'), ...env },
    });

  it('parses (bash -n)', () => {
    const r = spawnSync('bash', ['-n', 'scripts/device-check.sh'], { cwd: root, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('refuses an unknown stage, a bench without a mode and an unknown test file with exit 2', () => {
    const unknown = check(['frobnicate']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain("unknown stage 'frobnicate'");
    expect(check([]).status).toBe(2);
    expect(check(['bench', 'fp16']).status).toBe(2);
    const test = check(['test', 'no-such-file']);
    expect(test.status).toBe(2);
    expect(test.stderr).toContain('ops-parity');
    expect(check(['build', 'extra']).status).toBe(2);
    // Nothing was started for a usage error: no output folder.
    expect(existsSync(join(scratch, 'out'))).toBe(false);
  });

  it('stops with exit 1 and says what to do when the kit is missing', () => {
    const r = check(['info'], { PFGM_KIT: join(scratch, 'no-kit') });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('no kit at');
    expect(r.stderr).toContain('device-kit.mjs');
  });

  it('prints its usage on help', () => {
    const r = check(['help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('bash scripts/device-check.sh bench MODE');
    expect(r.stdout).toContain('bash scripts/device-check.sh sanitize');
    expect(check(['sanitize', 'extra']).status).toBe(2);
  });

  it("the sanitizer's script makes every call right (run here on the CPU)", () => {
    const r = spawnSync(process.execPath, ['scripts/gpu-sanitize-ops.mjs', '--device', 'cpu'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    for (const op of [
      'network',
      'attention',
      'group_norm',
      'fir_up',
      'fir_down',
      'weighted_mse',
      'grad_stats',
      'conv2d',
      'linear',
    ]) {
      expect(r.stdout).toContain(`${op}: ok`);
    }
  });
});
