#!/usr/bin/env node
// Packs a release of pfgm from the addons already built (docs/dev/release.md, "Building a
// release"): nothing is compiled here. A user without a compiler must get a working addon from
// `npm install pfgm`, so the native builds ship as platform packages that npm installs as optional
// dependencies on the one platform they fit:
//   <out>/linux-x64/       @pfgm/linux-x64: pfgm_cpu.node and the closure of its DT_NEEDED (oneDNN,
//                          libgomp, Gloo and what they need) copied beside it under their sonames,
//                          where the addon's $ORIGIN DT_RPATH finds them; glibc, libstdc++ and
//                          libgcc_s stay the system's (two copies of them in a process break). Each
//                          library's Debian copyright file goes under licenses/.
//   <out>/linux-x64-cuda/  @pfgm/linux-x64-cuda: pfgm_cuda.node and pfgm_preload.node, bundling
//                          nothing (oneDNN comes from the CPU package beside it; NVIDIA's libraries
//                          are the user's, listed in pfgm.needs for the loader to find and preload).
//   <out>/pfgm/            the repository's `npm pack` file set, its package.json given both
//                          platform packages as optionalDependencies at its own version (the
//                          repository cannot list them: `npm ci` would fail before they exist).
// then `npm pack` of the three into <out>, and <out>/summary.json with npm's packed and unpacked
// sizes, the glibc / libstdc++ floors (the newest versioned symbol any shipped file requires, since
// npm's `libc` field cannot say a version) and the bundled libraries. It refuses, before writing
// anything, an addon without the $ORIGIN DT_RPATH (built by an older CMakeLists.txt: the bundled
// libraries would not be found) and a CUDA addon built without cuDNN or cuBLAS (convolutions and
// linear layers would refuse on every GPU) unless --allow-partial-cuda, which the tests use.
// The published package.json gets `repository`, `homepage` and `bugs` from --repository URL (or
// PFGM_REPOSITORY_URL): the project's public address is known where it is published, not in the
// repository itself, and a release without it is refused rather than published with a guess.
//   node scripts/release/build-platform-packages.mjs --repository URL [--addons DIR] [--out DIR] [--allow-partial-cuda]
// Every external tool (readelf, ldd, objdump, dpkg-query, npm) is run with an argument array, no shell.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const USAGE =
  'usage: node scripts/release/build-platform-packages.mjs --repository URL [--addons DIR] [--out DIR] [--allow-partial-cuda]\n' +
  '  --repository URL      the public git repository (https://...; or PFGM_REPOSITORY_URL): the published\n' +
  '                        package.json gets repository, homepage (URL#readme) and bugs (URL/issues)\n' +
  '  --addons DIR          where pfgm_cpu.node, pfgm_cuda.node and pfgm_preload.node are (build/Release)\n' +
  '  --out DIR             where the packages, tarballs and summary.json go (release/)\n' +
  '  --allow-partial-cuda  pack a CUDA addon built without cuDNN or cuBLAS, or leave out a missing one';
const BUILD = 'build them with `npm ci` (or `npm run build:addon`) in this checkout';

function fail(message) {
  console.error(`build-platform-packages: ${message}`);
  process.exit(1);
}

let options;
try {
  options = parseArgs({
    options: {
      addons: { type: 'string', default: join(root, 'build', 'Release') },
      out: { type: 'string', default: join(root, 'release') },
      'allow-partial-cuda': { type: 'boolean', default: false },
      repository: { type: 'string', default: process.env.PFGM_REPOSITORY_URL },
      help: { type: 'boolean', default: false },
    },
  }).values;
} catch (error) {
  fail(`${error.message}\n${USAGE}`);
}
if (options.help) {
  console.log(USAGE);
  process.exit(0);
}
const addons = resolve(options.addons);
const out = resolve(options.out);
const allowPartial = options['allow-partial-cuda'];
const repository = (() => {
  const text = options.repository;
  if (text === undefined || text === '')
    fail(`--repository URL is required: the public git repository the published package points to\n${USAGE}`);
  let url;
  try {
    url = new URL(text);
  } catch {
    fail(`--repository ${text}: not a URL; give the repository's https address`);
  }
  if (url.protocol !== 'https:') fail(`--repository ${text}: give the repository's https address`);
  return url.href.replace(/\.git$/, '').replace(/\/$/, '');
})();

const INSTALL_TOOLS = { readelf: 'binutils', objdump: 'binutils', ldd: 'libc-bin', 'dpkg-query': 'dpkg' };

/** Runs a tool and returns its stdout; a failure ends the script with the tool's own message. */
function tool(cmd, args, { cwd = root, allowFailure = false } = {}) {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 << 20 });
  } catch (error) {
    if (error.code === 'ENOENT') {
      fail(`'${cmd}' is missing${INSTALL_TOOLS[cmd] ? `: apt-get install -y ${INSTALL_TOOLS[cmd]}` : ''}`);
    }
    if (allowFailure) return undefined;
    fail(`${cmd} ${args.join(' ')} failed: ${String(error.stderr || error.message).trim()}`);
  }
}

// ---- the platform --------------------------------------------------------------------------------

if (process.platform !== 'linux' || !process.report.getReport().header.glibcVersionRuntime) {
  fail('the platform packages are built on Linux with glibc (docs/dev/release.md: Debian 12 x86-64)');
}
const NPM_CPU = { x64: 'x64', arm64: 'arm64' }[process.arch] ?? fail(`no platform package for ${process.arch}`);
const platform = `linux-${NPM_CPU}`;
const cpuName = `@pfgm/${platform}`;
const cudaName = `${cpuName}-cuda`;
const mainManifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const version = mainManifest.version;

// glibc, the dynamic loader, GCC's C++ runtime and libgcc_s are the system's (the manylinux policy):
// a second copy of any of them in one process breaks it.
const SYSTEM =
  /^(linux-vdso|linux-gate|ld-linux[^/]*|libc|libm|libdl|librt|libpthread|libutil|libresolv|libanl|libmvec|libnsl|libBrokenLocale|libthread_db|libnss_[a-z]+|libstdc\+\+|libgcc_s)\.so(\.|$)/;
const isSystem = (soname) => SYSTEM.test(basename(soname));
// NVIDIA's libraries are the user's (their size, and they must match the driver).
const NVIDIA = /^lib(cudnn|cublas|cublasLt|nccl|cuda|cudart|nvrtc|nvJitLink|cufft|curand|cusparse|cusolver)[^/]*\.so/;

// ---- reading ELF files ---------------------------------------------------------------------------

/** DT_NEEDED and DT_RPATH / DT_RUNPATH of an ELF file (readelf -d). */
function dynamic(file) {
  const text = tool('readelf', ['-d', '-W', file]);
  const needed = [...text.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  const rpath = /\(RPATH\)\s+Library rpath: \[([^\]]*)\]/.exec(text)?.[1];
  const runpath = /\(RUNPATH\)\s+Library runpath: \[([^\]]*)\]/.exec(text)?.[1];
  return { needed, rpath: rpath?.split(':') ?? [], runpath };
}

/** The addon's DT_RPATH must hold `entries`: the bundled libraries are found through it. */
function checkRpath(file, entries) {
  const { rpath, runpath } = dynamic(file);
  const lacking = entries.filter((e) => !rpath.includes(e));
  if (lacking.length > 0) {
    const has =
      runpath !== undefined
        ? `DT_RUNPATH [${runpath}]`
        : rpath.length > 0
          ? `DT_RPATH [${rpath.join(':')}]`
          : 'no RPATH';
    fail(
      `${file} has ${has}, not a ` +
        `DT_RPATH with ${lacking.join(' and ')}: it was built with an older CMakeLists.txt; rebuild it ` +
        '(rm -rf build && npm run build:addon)',
    );
  }
}

/**
 * The libraries the dynamic loader would load for `file`, with where it finds them (ldd: the
 * whole DT_NEEDED closure, by the loader's own search).
 */
function closure(file) {
  const libs = [];
  for (const line of tool('ldd', [file]).split('\n')) {
    const m = /^\s*(\S+) => (not found|\S+)/.exec(line);
    if (!m) continue;
    if (m[2] === 'not found') fail(`${file} needs ${m[1]}, which this machine does not have: install it first`);
    libs.push({ soname: m[1], path: m[2] });
  }
  return libs;
}

const compare = (a, b) => {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++)
    if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
};

/** The symbol of `file` that requires `tag` (objdump -T), to say where a floor comes from. */
function symbolOf(file, tag) {
  const line = tool('objdump', ['-T', '-W', file])
    .split('\n')
    .find((l) => l.includes('*UND*') && l.includes(`(${tag})`));
  return line?.trim().split(/\s+/).pop();
}

/**
 * The newest GLIBC_x.y, GLIBCXX_3.4.z and CXXABI_1.3.z that any of `files` requires (objdump -p,
 * "Version References"), each with the file and a symbol that requires it.
 */
function floors(files) {
  const best = {};
  for (const { file, name } of files) {
    const refs = tool('objdump', ['-p', file]).split('Version References:')[1] ?? '';
    for (const m of refs.matchAll(/\s(GLIBC|GLIBCXX|CXXABI)_([0-9.]+)\s/g)) {
      const [, family, v] = m;
      if (best[family] === undefined || compare(v, best[family].version) > 0) best[family] = { version: v, file, name };
    }
  }
  const result = {};
  for (const [family, key] of [
    ['GLIBC', 'glibc'],
    ['GLIBCXX', 'glibcxx'],
    ['CXXABI', 'cxxabi'],
  ]) {
    const b = best[family];
    if (b === undefined) continue;
    const symbol = symbolOf(b.file, `${family}_${b.version}`);
    result[key] = { version: b.version, from: `${symbol ? `${symbol}@${family}_${b.version} in ` : ''}${b.name}` };
  }
  return result;
}

/** The newer of two floors of the same family. */
const newer = (a, b) => (a === undefined ? b : b === undefined ? a : compare(a.version, b.version) >= 0 ? a : b);

// ---- Debian packages and their licences ----------------------------------------------------------

/**
 * The Debian package that owns a library file, its version and its copyright file. dpkg records
 * the path the package installed, which may be the /lib or /usr/lib spelling (merged /usr) of the
 * file ldd names or of its real file, so each spelling is asked.
 */
function debianPackage(path) {
  const real = realpathSync(path);
  const spellings = new Set();
  for (const p of [path, real]) {
    spellings.add(p);
    spellings.add(p.startsWith('/usr/') ? p.slice(4) : `/usr${p}`);
  }
  for (const p of spellings) {
    const owner = tool('dpkg-query', ['-S', p], { allowFailure: true });
    const pkg = owner && /^([^\s,:]+)(?::[a-z0-9_-]+)?(?:, [^:]+)*: \//m.exec(owner)?.[1];
    if (!pkg) continue;
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own field syntax, not a template
    const pkgVersion = tool('dpkg-query', ['-W', '-f=${Version}', pkg]).trim().split('\n')[0];
    const copyright = `/usr/share/doc/${pkg}/copyright`;
    if (!existsSync(copyright)) fail(`${copyright} is missing: the licence of ${path} (${pkg}) cannot be shipped`);
    return { pkg, version: pkgVersion, copyright };
  }
  fail(
    `${path} belongs to no Debian package, so its licence is unknown: bundle only libraries installed ` +
      'with apt (docs/dev/release.md)',
  );
}

// ---- writing the packages ------------------------------------------------------------------------

function fresh(dir) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

const writeJson = (file, value) => writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);

function requireAddon(file, what) {
  if (!existsSync(file)) fail(`${file} is missing (${what}): ${BUILD}, or name their folder with --addons DIR`);
  return file;
}

function platformManifest(name, description, pfgm, extra = {}) {
  return {
    name,
    version,
    description,
    license: 'SEE LICENSE IN LICENSES.md',
    os: ['linux'],
    cpu: [NPM_CPU],
    libc: ['glibc'],
    ...extra,
    pfgm,
  };
}

const floorFields = (f) => ({
  glibc: f.glibc?.version,
  glibcxx: f.glibcxx?.version,
  ...(f.cxxabi ? { cxxabi: f.cxxabi.version } : {}),
});

function licensesMarkdown(title, rows) {
  const lines = [
    `# Licences of ${title}`,
    '',
    `pfgm's own code (${rows.length > 0 ? 'the addon' : 'the addons'}) is under the MIT licence (LICENSE).`,
  ];
  if (rows.length > 0) {
    lines.push(
      '',
      'The shared libraries beside it are copied unchanged from Debian packages; each one keeps its own',
      "licence, given in full by the package's copyright file under licenses/:",
      '',
      '| library | Debian package | version | licence file |',
      '| --- | --- | --- | --- |',
      ...rows.map((r) => `| ${r.soname} | ${r.pkg} | ${r.version} | licenses/${r.pkg}.copyright |`),
    );
  }
  return `${lines.join('\n')}\n`;
}

function readme(name, body, f) {
  return [
    `# ${name}`,
    '',
    body,
    '',
    `Runs on Linux ${NPM_CPU} with glibc ${f.glibc?.version ?? '(any)'} or newer and the libstdc++ of GCC with ` +
      `GLIBCXX_${f.glibcxx?.version ?? '3.4'}. Installed by \`npm install pfgm\` as an optional dependency; ` +
      "do not install it alone. See pfgm's docs/dev/release.md.",
    '',
  ].join('\n');
}

/**
 * What the CPU package will hold: the addon and every library of its closure beyond the system's,
 * each with its Debian package, and the floors of them all. Nothing is written yet.
 */
function planCpu() {
  const addon = requireAddon(join(addons, 'pfgm_cpu.node'), 'the CPU addon');
  checkRpath(addon, ['$ORIGIN']);
  const libs = [];
  for (const { soname, path } of closure(addon)) {
    if (!isSystem(soname)) libs.push({ soname, real: realpathSync(path), ...debianPackage(path) });
  }
  const f = floors([{ file: addon, name: 'pfgm_cpu.node' }, ...libs.map((l) => ({ file: l.real, name: l.soname }))]);
  const bundled = Object.fromEntries(libs.map((l) => [l.soname, `${l.pkg} ${l.version}`]));
  return { addon, libs, name: cpuName, floors: f, bundled, sonames: new Set(libs.map((l) => l.soname)) };
}

function writeCpu(plan) {
  const { addon, libs, floors: f } = plan;
  const dir = fresh(join(out, platform));
  copyFileSync(addon, join(dir, 'pfgm_cpu.node'));
  mkdirSync(join(dir, 'licenses'));
  for (const l of libs) {
    // The real file under the soname the loader asks for (npm packs no symbolic links).
    copyFileSync(l.real, join(dir, l.soname));
    copyFileSync(l.copyright, join(dir, 'licenses', `${l.pkg}.copyright`));
  }
  writeJson(
    join(dir, 'package.json'),
    platformManifest(cpuName, `pfgm's prebuilt CPU addon for Linux ${NPM_CPU}, with the libraries it needs`, {
      addon: 'pfgm_cpu.node',
      ...floorFields(f),
      bundled: plan.bundled,
      needs: [],
    }),
  );
  copyFileSync(join(root, 'LICENSE'), join(dir, 'LICENSE'));
  writeFileSync(join(dir, 'LICENSES.md'), licensesMarkdown(cpuName, libs));
  writeFileSync(
    join(dir, 'README.md'),
    readme(
      cpuName,
      `pfgm's native CPU addon (\`pfgm_cpu.node\`), with the shared libraries it needs beyond glibc and ` +
        `libstdc++ beside it, found through the addon's \`$ORIGIN\` RPATH: ${libs.map((l) => l.soname).join(', ')}.`,
      f,
    ),
  );
  return { ...plan, dir };
}

/**
 * What the CUDA package will hold: the CUDA addon and its preloader, bundling nothing; NVIDIA's
 * libraries that the addon's DT_NEEDED names are listed for the loader to find. Undefined when
 * there is no CUDA addon and --allow-partial-cuda allows that.
 */
function planCuda(cpu) {
  const addon = join(addons, 'pfgm_cuda.node');
  if (!existsSync(addon)) {
    if (allowPartial) {
      console.warn(`build-platform-packages: ${addon} is missing (no CUDA toolkit here): no ${cudaName}`);
      return undefined;
    }
    fail(
      `${addon} is missing: the build found no CUDA toolkit. Install nvcc 13 (and cuDNN 9, cuBLAS 13) and ` +
        `${BUILD}, or pass --allow-partial-cuda to release the CPU package alone`,
    );
  }
  const preload = requireAddon(join(addons, 'pfgm_preload.node'), "the CUDA package's library preloader");
  checkRpath(addon, ['$ORIGIN', `$ORIGIN/../${platform}`]);
  const needs = [];
  for (const soname of dynamic(addon).needed) {
    if (isSystem(soname) || cpu.sonames.has(soname)) continue;
    if (!NVIDIA.test(soname)) {
      fail(`${addon} needs ${soname}, which neither ${cpuName} bundles nor NVIDIA provides: it would not load`);
    }
    needs.push(soname);
  }
  const foreign = dynamic(preload).needed.filter((s) => !isSystem(s));
  if (foreign.length > 0) fail(`${preload} needs ${foreign.join(', ')}: the preloader must need glibc only`);
  const partial = [
    ...(needs.some((s) => s.startsWith('libcudnn')) ? [] : ['cuDNN']),
    ...(needs.some((s) => /^libcublas\.so/.test(s)) ? [] : ['cuBLAS']),
  ];
  if (partial.length > 0 && !allowPartial) {
    fail(
      `${addon} was built without ${partial.join(' and ')}, so convolutions and linear layers would refuse on ` +
        'every GPU: pip install nvidia-cudnn-cu13 nvidia-cublas, rebuild (rm -rf build && npm run build:addon), ' +
        'or pass --allow-partial-cuda (tests only)',
    );
  }
  // It loads the CPU package's libraries too, so its floor is the newer of the two.
  const own = floors([
    { file: addon, name: 'pfgm_cuda.node' },
    { file: preload, name: 'pfgm_preload.node' },
  ]);
  const f = {};
  for (const key of ['glibc', 'glibcxx', 'cxxabi']) {
    const theirs = cpu.floors[key] && { ...cpu.floors[key], from: `${cpu.floors[key].from} (${cpuName})` };
    f[key] = newer(own[key], theirs);
  }
  return { addon, preload, name: cudaName, floors: f, needs, partial };
}

function writeCuda(plan) {
  const { addon, preload, needs, partial, floors: f } = plan;
  const dir = fresh(join(out, `${platform}-cuda`));
  copyFileSync(addon, join(dir, 'pfgm_cuda.node'));
  copyFileSync(preload, join(dir, 'pfgm_preload.node'));
  writeJson(
    join(dir, 'package.json'),
    platformManifest(
      cudaName,
      `pfgm's prebuilt CUDA addon for Linux ${NPM_CPU} (NVIDIA's cuDNN and cuBLAS are found on the machine)`,
      {
        addon: 'pfgm_cuda.node',
        preload: 'pfgm_preload.node',
        ...floorFields(f),
        bundled: {},
        needs,
        ...(partial.length > 0 ? { partial } : {}),
      },
      { dependencies: { [cpuName]: version } },
    ),
  );
  copyFileSync(join(root, 'LICENSE'), join(dir, 'LICENSE'));
  writeFileSync(join(dir, 'LICENSES.md'), licensesMarkdown(cudaName, []));
  writeFileSync(
    join(dir, 'README.md'),
    readme(
      cudaName,
      "pfgm's native CUDA addon (`pfgm_cuda.node`, static CUDA runtime) and `pfgm_preload.node`, which opens " +
        `NVIDIA's libraries it needs (${needs.join(', ') || 'none in this build'}) from where this machine has them. ` +
        `oneDNN and the rest come from ${cpuName} beside it.`,
      f,
    ),
  );
  return { ...plan, dir };
}

/** The main package: the repository's own `npm pack` file set, plus the optional dependencies. */
function mainPackage(withCuda) {
  const [listing] = JSON.parse(tool('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root }));
  const dir = fresh(join(out, 'pfgm'));
  for (const { path } of listing.files) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    copyFileSync(join(root, path), join(dir, path));
  }
  const manifest = {
    ...mainManifest,
    repository: { type: 'git', url: `git+${repository}.git` },
    homepage: `${repository}#readme`,
    bugs: { url: `${repository}/issues` },
  };
  manifest.optionalDependencies = {
    ...(mainManifest.optionalDependencies ?? {}),
    [cpuName]: version,
    ...(withCuda ? { [cudaName]: version } : {}),
  };
  writeJson(join(dir, 'package.json'), manifest);
  return { dir, name: mainManifest.name };
}

/** `npm pack` into `out`; npm's own figures for the summary. */
function pack(dir) {
  const [r] = JSON.parse(tool('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', out], { cwd: dir }));
  return {
    file: join(out, r.filename),
    size: r.size,
    unpackedSize: r.unpackedSize,
    entryCount: r.entryCount,
    files: r.files,
  };
}

// ---- the release ---------------------------------------------------------------------------------

// Everything is checked before anything is written, so a refusal leaves no half-made release.
const cpuPlan = planCpu();
const cudaPlan = planCuda(cpuPlan);
if (!existsSync(join(root, 'dist', 'index.js'))) fail('dist/ is not built: npm run build:ts');
mkdirSync(out, { recursive: true });
rmSync(join(out, 'summary.json'), { force: true });
// A CUDA package left over from an earlier run must not be packed or installed with this one.
rmSync(join(out, `${platform}-cuda`), { recursive: true, force: true });
rmSync(join(out, `pfgm-${platform}-cuda-${version}.tgz`), { force: true });
const cpu = writeCpu(cpuPlan);
const cuda = cudaPlan && writeCuda(cudaPlan);
const main = mainPackage(cuda !== undefined);

const MIB = 1 << 20;
const summary = [];
for (const p of [cpu, cuda, main]) {
  if (!p) continue;
  const packed = pack(p.dir);
  const entry = { name: p.name, version, file: packed.file, size: packed.size, unpackedSize: packed.unpackedSize };
  if (p.floors) {
    Object.assign(entry, floorFields(p.floors), {
      floorsFrom: Object.fromEntries(Object.entries(p.floors).map(([k, v]) => [k, v?.from])),
    });
  }
  if (p.bundled) entry.bundled = p.bundled;
  if (p.needs) entry.needs = p.needs;
  if (p.partial?.length) entry.partial = p.partial;
  if (p !== main) entry.contents = Object.fromEntries(packed.files.map((f) => [f.path, f.size]));
  else entry.entryCount = packed.entryCount;
  summary.push(entry);
  console.log(
    `${basename(packed.file)}: ${packed.size} B packed (${(packed.size / MIB).toFixed(1)} MiB), ` +
      `${packed.unpackedSize} B unpacked (${(packed.unpackedSize / MIB).toFixed(1)} MiB)` +
      `${entry.glibc ? `, glibc ${entry.glibc}+, GLIBCXX_${entry.glibcxx}` : ''}` +
      `${entry.partial ? `, without ${entry.partial.join(' and ')} (--allow-partial-cuda)` : ''}`,
  );
}
writeJson(join(out, 'summary.json'), summary);
console.log(`${join(out, 'summary.json')}: publish the platform packages first (docs/dev/release.md)`);
