// `npm install pfgm` as a user without a compiler gets it: the release script packs the platform
// packages from the addons already built here (nothing is compiled), the main package is packed
// beside them, and the tarballs are installed offline into an empty project with a PATH that holds
// only node, npm and sh. The install script must take the prebuilt addon (no build/ appears), and
// `pfgm info` and a short training run must work with oneDNN and OpenMP loaded from the package's
// folder, not from the system's libdnnl that is installed here, even with LD_LIBRARY_PATH pointing
// at it (docs/dev/release.md). Skipped, with the reason, where the addon or dist/ is not built.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const shipped = join(root, 'build', 'Release', 'pfgm_cpu.node');
const missing = [shipped, join(root, 'dist', 'index.js')].filter((f) => !existsSync(f));
if (missing.length > 0) {
  console.warn(
    `prebuilt-install.test.ts skipped: ${missing.join(' and ')} not built (npm ci builds the addon, npm run build:ts dist/)`,
  );
}

const work = mkdtempSync(join(tmpdir(), 'pfgm-prebuilt-'));
const release = join(work, 'release');
const project = join(work, 'project');
const bin = join(work, 'bin');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const cpuName = `@pfgm/${process.platform}-${process.arch}`;
const cudaName = `${cpuName}-cuda`;
const cpuDir = join(project, 'node_modules', cpuName);
const cudaDir = join(project, 'node_modules', cudaName);

/** npm's own script (npm-cli.js), found through the PATH this test was started with. */
function npmCli(): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const npm = join(dir, 'npm');
    if (existsSync(npm)) return realpathSync(npm);
  }
  throw new Error('npm is not on the PATH');
}

// Only node, npm and sh (npm runs lifecycle scripts with it): no cmake, no g++, no nvcc.
const env = {
  HOME: process.env.HOME ?? homedir(),
  PATH: bin,
  npm_config_cache: process.env.npm_config_cache ?? join(process.env.HOME ?? homedir(), '.npm'),
  npm_config_update_notifier: 'false',
  // Debian's oneDNN and libgomp are installed here; LD_LIBRARY_PATH would put them first for a
  // library that found its dependencies through RUNPATH instead of the addon's RPATH.
  LD_LIBRARY_PATH: ['/usr/lib', '/lib']
    .map((d) => `${d}/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`)
    .join(':'),
};

function run(cmd: string, args: string[], cwd: string) {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { code: r.status, out: `${r.stdout}${r.stderr}`, stdout: r.stdout };
}

interface Packed {
  name: string;
  file?: string;
  size?: number;
  unpackedSize?: number;
  glibc?: string;
  bundled?: Record<string, string>;
  partial?: string[];
}
let packed: Packed[] = [];
let installLog = '';

describe.skipIf(missing.length > 0)('npm install of the packed prebuilt packages, with no compiler', () => {
  beforeAll(() => {
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, 'node'));
    symlinkSync(npmCli(), join(bin, 'npm'));
    symlinkSync('/bin/sh', join(bin, 'sh'));
    // The release script itself runs with the ordinary PATH: it reads the built files with ldd,
    // objdump and readelf. A machine without nvcc has no CUDA addon: only the CPU package then.
    execFileSync(
      process.execPath,
      [
        join(root, 'scripts', 'release', 'build-platform-packages.mjs'),
        '--out',
        release,
        '--allow-partial-cuda',
        '--repository',
        'https://example.org/pfgm-project/pfgm.git',
      ],
      { cwd: root, stdio: 'pipe', env: { ...process.env, PFGM_REPOSITORY_URL: '' } },
    );
    packed = JSON.parse(readFileSync(join(release, 'summary.json'), 'utf8')) as Packed[];
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    const tarballs = packed.map((p) => p.file as string);
    const r = run(
      join(bin, 'npm'),
      ['install', '--offline', '--no-audit', '--no-fund', '--foreground-scripts', ...tarballs],
      project,
    );
    installLog = r.out;
    expect(r.code, r.out).toBe(0);
  }, 240_000);

  it('packs the CPU package with oneDNN and libgomp, and declares the platform and the glibc floor', () => {
    const cpu = packed.find((p) => p.name === cpuName);
    expect(cpu?.bundled).toHaveProperty(['libdnnl.so.2']);
    expect(cpu?.bundled).toHaveProperty(['libgomp.so.1']);
    expect(cpu?.glibc).toMatch(/^2\.\d+$/);
    const manifest = JSON.parse(readFileSync(join(cpuDir, 'package.json'), 'utf8'));
    expect(manifest).toMatchObject({ os: ['linux'], cpu: ['x64'], libc: ['glibc'], pfgm: { glibc: cpu?.glibc } });
  });

  it('the published package.json points to the repository given to the release, and none is guessed', () => {
    const manifest = JSON.parse(readFileSync(join(project, 'node_modules', 'pfgm', 'package.json'), 'utf8'));
    expect(manifest).toMatchObject({
      repository: { type: 'git', url: 'git+https://example.org/pfgm-project/pfgm.git' },
      homepage: 'https://example.org/pfgm-project/pfgm#readme',
      bugs: { url: 'https://example.org/pfgm-project/pfgm/issues' },
    });
    const r = spawnSync(
      process.execPath,
      [join(root, 'scripts', 'release', 'build-platform-packages.mjs'), '--out', join(release, 'refused')],
      {
        cwd: root,
        encoding: 'utf8',
        env: { ...process.env, PFGM_REPOSITORY_URL: '' },
      },
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('--repository URL is required');
    expect(existsSync(join(release, 'refused'))).toBe(false);
  });

  it('the install script takes the prebuilt addon and builds nothing', () => {
    expect(installLog).toContain(`using the prebuilt addon ${cpuName} 0.1.0`);
    const pfgm = join(project, 'node_modules', 'pfgm');
    expect(existsSync(join(pfgm, 'package.json'))).toBe(true);
    expect(existsSync(join(pfgm, 'build'))).toBe(false);
    expect(existsSync(join(project, 'node_modules', 'cmake-js'))).toBe(false);
  });

  it('pfgm info names the package it loaded', () => {
    const r = run(
      process.execPath,
      [join(project, 'node_modules', 'pfgm', 'bin', 'pfgm.js'), 'info', '--json'],
      project,
    );
    expect(r.code, r.out).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.addonOrigin).toBe(`${cpuName} 0.1.0`);
    expect(info.addonPath).toBe(join(cpuDir, 'pfgm_cpu.node'));
    expect(info.backend).toBe('cpu');
    const cuda = packed.find((p) => p.name === cudaName);
    if (cuda) {
      // The CUDA package loaded (its oneDNN from the CPU package beside it) and found no GPU here.
      expect(info.cuda.compiled).toBe(true);
      expect(info.cuda.reason).toMatch(/no NVIDIA driver|no CUDA-capable|GPU/);
      expect(info.nvidiaLibraries).toEqual([]);
    }
  });

  it('loads oneDNN, libgomp and their own dependencies from the package folder, not the system', () => {
    const script = [
      "import { getDeviceInfo } from 'pfgm';",
      'getDeviceInfo();',
      "const maps = (await import('node:fs')).readFileSync('/proc/self/maps', 'utf8');",
      'const libs = [...new Set(maps.split("\\n").map((l) => l.split(/\\s+/)[5]).filter((p) => /lib(dnnl|gomp|OpenCL|ibverbs)\\.so/.test(p ?? "")))];',
      'console.log(JSON.stringify(libs));',
    ].join('\n');
    const r = run(process.execPath, ['--input-type=module', '-e', script], project);
    expect(r.code, r.out).toBe(0);
    const libs = JSON.parse(r.stdout) as string[];
    const folder = cpuDir;
    // libOpenCL (libdnnl's) and libibverbs (libgloo's, where Gloo was built in) are found through
    // the addon's RPATH, which also applies to its libraries' dependencies.
    const bundled = Object.keys(packed.find((p) => p.name === cpuName)?.bundled ?? {});
    const expected = bundled.filter((l) => /^lib(dnnl|gomp|OpenCL|ibverbs)\.so/.test(l));
    expect(expected).toEqual(expect.arrayContaining(['libdnnl.so.2', 'libgomp.so.1']));
    expect(libs.map((l) => l.replace(/.*\//, '')).sort()).toEqual(expected.sort());
    for (const lib of libs) expect(dirname(lib)).toBe(folder);
  });

  it('trains a few steps with the prebuilt addon', () => {
    const out = join(work, 'run');
    const r = run(
      process.execPath,
      [
        join(project, 'node_modules', 'pfgm', 'bin', 'pfgm.js'),
        'train',
        '--data',
        'toy:moons',
        '--network',
        'mlp',
        '--steps',
        '2',
        '--batch',
        '32',
        '--out',
        out,
        '--json',
      ],
      project,
    );
    expect(r.code, r.out).toBe(0);
    expect(existsSync(join(out, 'model.safetensors'))).toBe(true);
    expect(readdirSync(out)).toContain('stats.jsonl');
  });

  it('pfgm build says what a source build needs, and builds nothing without it', () => {
    const r = run(process.execPath, [join(project, 'node_modules', 'pfgm', 'bin', 'pfgm.js'), 'build'], project);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/needs cmake, g\+\+ and libdnnl-dev/);
    expect(r.out).toMatch(/'cmake' is missing\. Install it: apt-get install -y cmake g\+\+ libdnnl-dev/);
    expect(existsSync(join(project, 'node_modules', 'pfgm', 'build'))).toBe(false);
  });

  // A release's CUDA addon names cuDNN (this machine's was built without it): the installed
  // package's manifest is made to say so, as the release script writes it from the addon's
  // DT_NEEDED, and the real preloader of the package looks for it.
  function needCudnn(ctx: { skip: () => void }): string {
    if (!packed.some((p) => p.name === cudaName)) ctx.skip();
    const manifestPath = join(cudaDir, 'package.json');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    manifest.pfgm.needs = ['libcudnn.so.9'];
    writeFileSync(manifestPath, JSON.stringify(manifest));
    return join(project, 'node_modules', 'pfgm', 'bin', 'pfgm.js');
  }

  it('without cuDNN the CUDA package says what to install, and the CPU package serves', (ctx) => {
    const pfgm = needCudnn(ctx);
    const r = run(process.execPath, [pfgm, 'info', '--json'], project);
    expect(r.code, r.out).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.backend).toBe('cpu');
    expect(info.addonOrigin).toBe(`${cpuName} 0.1.0`);
    expect(info.nvidiaLibraries).toHaveLength(1);
    expect(info.nvidiaLibraries[0].soname).toBe('libcudnn.so.9');
    expect(info.nvidiaLibraries[0].path).toBeUndefined();
    expect(info.nvidiaLibraries[0].fix).toMatch(/pip install nvidia-cudnn-cu13/);
    expect(info.cuda.reason).toMatch(
      /-cuda 0\.1\.0 needs libcudnn\.so\.9 \(not found: .*pip install nvidia-cudnn-cu13/,
    );
    const text = run(process.execPath, [pfgm, 'info'], project);
    expect(text.stdout).toMatch(/libcudnn\.so\.9: not found — install cuDNN 9/);
  });

  it("finds cuDNN in a Python environment's NVIDIA wheel and opens it before the CUDA addon", (ctx) => {
    const pfgm = needCudnn(ctx);
    // A stand-in for cuDNN: a real shared object without constructors (the preloader itself; a
    // second copy of a library the process has, such as libgomp, would be loaded twice).
    const venv = join(work, 'venv');
    const lib = join(venv, 'lib', 'python3.12', 'site-packages', 'nvidia', 'cudnn', 'lib');
    mkdirSync(lib, { recursive: true });
    copyFileSync(join(cudaDir, 'pfgm_preload.node'), join(lib, 'libcudnn.so.9'));
    const r = spawnSync(process.execPath, [pfgm, 'info', '--json'], {
      cwd: project,
      env: { ...env, VIRTUAL_ENV: venv },
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.nvidiaLibraries).toEqual([{ soname: 'libcudnn.so.9', path: join(lib, 'libcudnn.so.9') }]);
    // The CUDA addon then loaded (from the package) and found no GPU here.
    expect(info.cudaAddonOrigin).toBe(`${cudaName} 0.1.0`);
    expect(info.cuda.compiled).toBe(true);
    expect(info.backend).toBe('cpu');
  });
});
