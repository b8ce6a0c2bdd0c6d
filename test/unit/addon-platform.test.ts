// Where the loader looks for the addons (src/addon/platform.ts): PFGM_ADDON_DIR alone when set,
// else the platform package (not installed in a checkout, and said why) then build/Release; and a
// prebuilt that the system's glibc is too old for is reported with the floor and the way out.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { addonCandidates, loadFailure, packageRoot, platformPackageName } from '../../src/addon/platform.js';

const saved = process.env.PFGM_ADDON_DIR;
afterEach(() => {
  if (saved === undefined) delete process.env.PFGM_ADDON_DIR;
  else process.env.PFGM_ADDON_DIR = saved;
});

describe('addon candidates', () => {
  it('names the platform packages after the os and architecture', () => {
    expect(platformPackageName('cpu')).toBe(`@pfgm/${process.platform}-${process.arch}`);
    expect(platformPackageName('cuda')).toBe(`@pfgm/${process.platform}-${process.arch}-cuda`);
  });

  it('PFGM_ADDON_DIR replaces the whole list', () => {
    process.env.PFGM_ADDON_DIR = '/somewhere';
    expect(addonCandidates('cuda', '0.1.0')).toEqual({
      list: [{ path: '/somewhere/pfgm_cuda.node', origin: 'PFGM_ADDON_DIR' }],
    });
  });

  it('in a checkout without the platform package: the local build, and why the package is not there', () => {
    delete process.env.PFGM_ADDON_DIR;
    const { list, packageNote } = addonCandidates('cpu', '0.1.0');
    expect(list).toEqual([{ path: join(packageRoot, 'build', 'Release', 'pfgm_cpu.node'), origin: 'local build' }]);
    if (process.platform === 'linux' && process.arch === 'x64') {
      expect(packageNote).toMatch(/@pfgm\/linux-x64 is not installed .*npm install --include=optional pfgm/);
    } else {
      expect(packageNote).toMatch(/no prebuilt package/);
    }
  });
});

describe('loadFailure', () => {
  const prebuilt = {
    path: '/p/node_modules/@pfgm/linux-x64/pfgm_cpu.node',
    origin: '@pfgm/linux-x64 0.1.0',
    packageDir: '/p/node_modules/@pfgm/linux-x64',
    glibc: '2.35',
  };

  it('names the glibc floor and the source build when the system is too old', () => {
    const message =
      "/lib/x86_64-linux-gnu/libm.so.6: version `GLIBC_2.35' not found (required by /p/node_modules/@pfgm/linux-x64/pfgm_cpu.node)";
    const text = loadFailure(prebuilt, message);
    expect(text).toMatch(/@pfgm\/linux-x64 0\.1\.0 needs GLIBC_2\.35/);
    expect(text).toMatch(/glibc 2\.35 or newer/);
    expect(text).toMatch(/npx pfgm build/);
  });

  it('keeps any other failure as it came, with the file', () => {
    const text = loadFailure(
      { path: '/b/pfgm_cpu.node', origin: 'local build' },
      'libdnnl.so.2: cannot open shared object file',
    );
    expect(text).toBe(
      'local build (/b/pfgm_cpu.node) could not be loaded: libdnnl.so.2: cannot open shared object file',
    );
  });
});
