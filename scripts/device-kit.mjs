#!/usr/bin/env node
// Packs what the project's GPU machine (the "device": nvcc, CMake, g++, Python + PyTorch, but no
// Node, no oneDNN, no network) lacks to build pfgm and run its GPU checks, into .carry/kit/
// (git-ignored), to be carried with the working tree and unpacked there by
// scripts/device-check.sh. See docs/benchmarks-gpu.md, "On the project's GPU machine".
//
//   node scripts/device-kit.mjs            write .carry/kit/ and print a JSON summary
//   node scripts/device-kit.mjs --list     print what would go in (packages, files); write nothing
//   options: --out DIR (default .carry/kit), --limit-mib N (default 60), --no-tsc (pack dist/ as
//            it is instead of running tsc first), --with PATH (repeatable: another ignored path
//            that will be carried too, e.g. build-device/Release, counted in the total)
//
// Contents (all xz-compressed; the layout is the one device-check.sh expects):
//   node.xz                this machine's node binary
//   native-headers.tar.xz  node/include/node/: the Node-API headers (what CMAKE_JS_INC points at);
//                          usr/...: oneDNN's headers and CMake package files, OpenCL's C headers
//                          (Debian's oneDNN is built with the OpenCL GPU runtime, so its CMake
//                          config runs find_package(OpenCL))
//   native-libs.tar.xz     usr/lib/<triplet>/: libdnnl and libOpenCL (with their soname links);
//                          fallback/: other libraries libdnnl needs (ldd) that a minimal image may
//                          lack (libgomp), used there only when the system has none
//   node_modules.tar.xz    the installed dependency closure of vitest and node-addon-api
//   dist.tar.xz            the compiled TypeScript (bin/pfgm.js and bench/gpu.mjs import dist/)
//   manifest.json          versions, each archive's members count, size, sha256 and input hash
//
// Deterministic: sorted member lists, fixed mtimes and owners, single-threaded xz; an archive
// whose inputs did not change since the last run is kept as it is (no recompression).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MiB = 2 ** 20;
/** Packages whose installed closure the device needs: to build (node-addon-api) and to test. */
const ROOT_PACKAGES = ['vitest', 'node-addon-api'];
/** Debian packages whose files (without /usr/share) the CMake build needs, and why. */
const DEBIAN_PACKAGES = {
  'libdnnl-dev': "oneDNN's headers, its CMake config (find_package(dnnl)) and libdnnl.so",
  libdnnl2: 'libdnnl.so.2.6, the library itself',
  'opencl-c-headers': "CL/cl.h: Debian's dnnl-config.cmake runs find_package(OpenCL)",
  'ocl-icd-opencl-dev': 'libOpenCL.so, which that find_package(OpenCL) links',
  'ocl-icd-libopencl1': 'libOpenCL.so.1, which libdnnl.so.2 needs at run time',
};
/** Libraries every image with g++ has; ldd results among them are not packed. */
const BASE_LIBRARIES = /^(linux-vdso|ld-linux|libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s)\.so/;
const FIXED_MTIME = '@946684800'; // 2000-01-01: any fixed time makes the tar bytes repeatable

function fail(message) {
  console.error(`device-kit: ${message}`);
  process.exit(1);
}

function run(command, args, options = {}) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...options });
  } catch (error) {
    const stderr = error.stderr ? String(error.stderr).trim() : '';
    fail(`${command} ${args.join(' ')} failed: ${stderr || error.message}`);
  }
}

// --- the node_modules closure -------------------------------------------------------------------

/**
 * The installed packages reachable from `roots` through `dependencies`, `optionalDependencies`
 * and `peerDependencies`, resolved as Node resolves them (the requiring package's own
 * node_modules, then each enclosing node_modules). What is installed goes in, optional or not, so
 * the device sees what the tests see here (vite looks for its optional peers, such as yaml, at run
 * time); an optional dependency that is not installed (another platform's binary, fsevents) is
 * skipped, a missing required one is reported.
 */
export function dependencyClosure(nodeModules, roots) {
  const nmReal = realpathSync(nodeModules);
  const top = dirname(nmReal);
  const found = new Map(); // real dir -> { name, version, dir }
  const missing = [];
  const resolveFrom = (fromDir, name) => {
    for (let dir = fromDir; ; dir = dirname(dir)) {
      const candidate = join(dir, 'node_modules', name);
      if (existsSync(join(candidate, 'package.json'))) return candidate;
      if (dir === top || dir === dirname(dir)) return undefined;
    }
  };
  const queue = roots.map((name) => ({ from: top, name, optional: false, by: '(root)' }));
  while (queue.length > 0) {
    const { from, name, optional, by } = queue.shift();
    const dir = resolveFrom(from, name);
    if (!dir) {
      if (!optional) missing.push(`${name} (needed by ${by})`);
      continue;
    }
    if (found.has(dir)) continue;
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    found.set(dir, { name, version: pkg.version, dir });
    const peerMeta = pkg.peerDependenciesMeta ?? {};
    const deps = [
      ...Object.keys(pkg.dependencies ?? {}).map((d) => [d, false]),
      ...Object.keys(pkg.optionalDependencies ?? {}).map((d) => [d, true]),
      ...Object.keys(pkg.peerDependencies ?? {}).map((d) => [d, peerMeta[d]?.optional === true]),
    ];
    for (const [dep, isOptional] of deps) queue.push({ from: dir, name: dep, optional: isOptional, by: name });
  }
  const packages = [...found.values()].sort((a, b) => (a.dir < b.dir ? -1 : a.dir > b.dir ? 1 : 0));
  return { nodeModules: nmReal, packages, missing: [...new Set(missing)].sort() };
}

/** Every file and symlink under `dir`, sorted, leaving out `skip(path)` subtrees. */
function walk(dir, skip = () => false) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const path = join(dir, entry.name);
    if (skip(path)) continue;
    if (entry.isDirectory()) out.push(...walk(path, skip));
    else if (entry.isFile() || entry.isSymbolicLink()) out.push(path);
  }
  return out;
}

// --- native files -------------------------------------------------------------------------------

/** The headers `start` pulls in through `#include "..."` within its own folder. */
function includeClosure(start) {
  const dir = dirname(start);
  const seen = new Set();
  const visit = (file) => {
    if (seen.has(file) || !existsSync(file)) return;
    seen.add(file);
    for (const match of readFileSync(file, 'utf8').matchAll(/^\s*#\s*include\s+"([^"]+)"/gm)) {
      visit(join(dir, match[1]));
    }
  };
  visit(start);
  return [...seen].sort();
}

function debianFiles(pkg) {
  const listed = run('dpkg', ['-L', pkg])
    .split('\n')
    .filter((p) => p.startsWith('/usr/') && !p.startsWith('/usr/share/'));
  return listed.filter((p) => {
    const st = lstatSync(p, { throwIfNoEntry: false });
    return st && (st.isFile() || st.isSymbolicLink());
  });
}

/** Shared libraries `library` needs (ldd) outside the base set: soname -> resolved path. */
function extraLibraries(library) {
  const libs = new Map();
  for (const line of run('ldd', [library]).split('\n')) {
    const m = line.match(/^\s*(\S+)\s+=>\s+(\S+)/);
    if (m && !BASE_LIBRARIES.test(m[1])) libs.set(m[1], m[2]);
  }
  return libs;
}

/** The highest GLIBC_ / GLIBCXX_ symbol versions a binary needs (objdump -T), for the manifest. */
function symbolVersions(binary) {
  let text = '';
  try {
    text = execFileSync('objdump', ['-T', binary], { encoding: 'utf8', maxBuffer: 256 * MiB });
  } catch {
    return {};
  }
  const newer = (a, b) => {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
    }
    return false;
  };
  const best = {};
  for (const m of text.matchAll(/\b(GLIBC|GLIBCXX|CXXABI|GOMP)_(\d+(?:\.\d+)*)\b/g)) {
    const v = m[2].split('.').map(Number);
    if (!best[m[1]] || newer(v, best[m[1]])) best[m[1]] = v;
  }
  return Object.fromEntries(Object.entries(best).map(([k, v]) => [k, v.join('.')]));
}

/**
 * What goes in the kit: for each archive, its members as [name inside the archive, source path].
 */
function plan() {
  const nodeBinary = realpathSync(process.execPath);
  const nodeInclude = join(dirname(process.execPath), '..', 'include', 'node');
  if (!existsSync(join(nodeInclude, 'node_api.h'))) {
    fail(`Node's headers are not at ${nodeInclude} (Debian: apt-get install libnode-dev / nodejs)`);
  }
  const headers = includeClosure(join(nodeInclude, 'node_api.h')).map((p) => [
    `node/include/node/${relative(nodeInclude, p)}`,
    p,
  ]);
  const libs = [];
  for (const pkg of Object.keys(DEBIAN_PACKAGES)) {
    const status = (() => {
      try {
        return execFileSync('dpkg', ['-s', pkg], { encoding: 'utf8', stdio: 'pipe' });
      } catch {
        return '';
      }
    })();
    if (!/^Status: install ok installed$/m.test(status)) {
      fail(`the Debian package ${pkg} is not installed here (${DEBIAN_PACKAGES[pkg]}): apt-get install ${pkg}`);
    }
    for (const p of debianFiles(pkg)) {
      const member = p.slice(1); // usr/...
      (/\.so(\.\d+)*$/.test(p) ? libs : headers).push([member, p]);
    }
  }
  const dnnl = libs.find(([m]) => /libdnnl\.so\.\d+\.\d+$/.test(m));
  if (!dnnl) fail('libdnnl.so.2.x is not among the files of libdnnl2');
  const packed = new Set(libs.map(([m]) => m.split('/').pop()));
  const fallback = [];
  for (const [soname, path] of extraLibraries(dnnl[1])) {
    if (packed.has(soname)) continue;
    const real = realpathSync(path);
    fallback.push([`fallback/${soname}`, path], [`fallback/${real.split('/').pop()}`, real]);
  }
  libs.push(...fallback);

  const closure = dependencyClosure(join(root, 'node_modules'), ROOT_PACKAGES);
  if (closure.missing.length > 0)
    fail(`required packages are not installed: ${closure.missing.join(', ')} (run npm ci)`);
  const modules = [];
  for (const pkg of closure.packages) {
    const nested = join(pkg.dir, 'node_modules');
    for (const file of walk(pkg.dir, (p) => p === nested)) {
      modules.push([`node_modules/${relative(closure.nodeModules, file)}`, file]);
    }
  }
  const dist = join(root, 'dist');
  const distFiles = existsSync(dist) ? walk(dist).map((p) => [`dist/${relative(dist, p)}`, p]) : [];

  const sortMembers = (list) => [...new Map(list).entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const cmakeJs = JSON.parse(readFileSync(join(closure.nodeModules, 'cmake-js', 'package.json'), 'utf8'));
  return {
    node: { binary: nodeBinary, version: process.version },
    archives: {
      'native-headers.tar.xz': sortMembers(headers),
      'native-libs.tar.xz': sortMembers(libs),
      'node_modules.tar.xz': sortMembers(modules),
      'dist.tar.xz': sortMembers(distFiles),
    },
    closure,
    fallbackLibraries: fallback.filter((_, i) => i % 2 === 0).map(([m]) => m.split('/').pop()),
    needs: { node: symbolVersions(nodeBinary), libdnnl: symbolVersions(dnnl[1]) },
    // The -D values cmake-js passes for a Node-API build (cmake-js/lib/cMake.js, as recorded in a
    // cmake-js build's CMakeCache.txt); device-check.sh passes the same to plain cmake.
    cmake: {
      CMAKE_JS_VERSION: cmakeJs.version,
      NODE_RUNTIME: 'node',
      NODE_RUNTIMEVERSION: process.version.slice(1),
      NODE_ARCH: process.arch,
    },
  };
}

// --- packing ------------------------------------------------------------------------------------

function sha256File(path) {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** A hash of the members' names, modes, link targets and contents: the archive's identity. */
function inputHash(members, extra) {
  const hash = createHash('sha256').update(extra);
  for (const [name, source] of members) {
    const st = lstatSync(source);
    hash.update(`${name}\0${st.mode & 0o777}\0`);
    hash.update(st.isSymbolicLink() ? `link:${readlinkSync(source)}` : readFileSync(source));
    hash.update('\0');
  }
  return hash.digest('hex');
}

function xz(input, output) {
  run('sh', ['-c', 'xz -6 -T1 -c "$1" > "$2"', 'sh', input, output]);
}

/** Writes `members` into a tar.xz at `output` through a staging folder with the final layout. */
function packTar(members, output) {
  const stage = mkdtempSync(join(tmpdir(), 'pfgm-kit-'));
  try {
    for (const [name, source] of members) {
      const target = join(stage, name);
      mkdirSync(dirname(target), { recursive: true });
      if (lstatSync(source).isSymbolicLink()) symlinkSync(readlinkSync(source), target);
      else copyFileSync(source, target);
    }
    const list = join(stage, '.members');
    writeFileSync(list, `${members.map(([n]) => n).join('\n')}\n`);
    const tar = `${output}.tar`;
    run('tar', [
      '--create',
      '--file',
      tar,
      '--directory',
      stage,
      '--sort=name',
      '--format=gnu',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      `--mtime=${FIXED_MTIME}`,
      '--mode=u+rw,go-w',
      '--no-recursion',
      '--files-from',
      list,
    ]);
    xz(tar, output);
    rmSync(tar);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

function treeBytes() {
  const names = run('git', ['-C', root, 'ls-files', '-z', '--cached', '--others', '--exclude-standard'])
    .split('\0')
    .filter(Boolean);
  let bytes = 0;
  for (const name of new Set(names)) {
    const st = lstatSync(join(root, name), { throwIfNoEntry: false });
    if (st && !st.isDirectory()) bytes += st.size;
  }
  return bytes;
}

function main() {
  const { values } = parseArgs({
    options: {
      list: { type: 'boolean' },
      out: { type: 'string' },
      'limit-mib': { type: 'string' },
      'no-tsc': { type: 'boolean' },
      with: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    // The usage is this file's header comment.
    const header = readFileSync(fileURLToPath(import.meta.url), 'utf8')
      .split('\n')
      .slice(1, 12);
    process.stdout.write(`${header.join('\n').replace(/^\/\/ ?/gm, '')}\n`);
    return;
  }
  const outDir = resolve(root, values.out ?? join('.carry', 'kit'));
  const limitMiB = Number(values['limit-mib'] ?? 60);
  if (!(limitMiB > 0)) fail(`--limit-mib ${values['limit-mib']} is not a positive number`);

  if (values.list) {
    const p = plan();
    const out = {
      node: p.node,
      packages: p.closure.packages.map((x) => ({ name: x.name, version: x.version, dir: x.dir })),
      fallbackLibraries: p.fallbackLibraries,
      needs: p.needs,
      cmake: p.cmake,
      archives: Object.fromEntries(
        Object.entries(p.archives).map(([k, m]) => [
          k,
          k.startsWith('node_modules') ? { members: m.length } : m.map(([n]) => n),
        ]),
      ),
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return;
  }

  if (!values['no-tsc']) {
    // bin/pfgm.js (the info stage) and bench/gpu.mjs import dist/: build it from the sources now.
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    run(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { cwd: root });
  }
  if (!existsSync(join(root, 'dist', 'cli', 'main.js')))
    fail('dist/ is not built: run npm run build:ts (or drop --no-tsc)');

  const p = plan();
  mkdirSync(outDir, { recursive: true });
  const oldManifestPath = join(outDir, 'manifest.json');
  const old = existsSync(oldManifestPath) ? JSON.parse(readFileSync(oldManifestPath, 'utf8')) : { files: {} };
  const files = {};
  const reuse = (name, input) => {
    const prev = old.files?.[name];
    const path = join(outDir, name);
    return prev && prev.input === input && existsSync(path) && sha256File(path) === prev.sha256;
  };
  const record = (name, input, members) => {
    const path = join(outDir, name);
    files[name] = { bytes: statSync(path).size, sha256: sha256File(path), input, members };
  };

  const nodeInput = inputHash([['node', p.node.binary]], 'xz -6');
  if (!reuse('node.xz', nodeInput)) {
    xz(p.node.binary, join(outDir, 'node.xz.tmp'));
    renameSync(join(outDir, 'node.xz.tmp'), join(outDir, 'node.xz'));
  }
  record('node.xz', nodeInput, 1);
  for (const [name, members] of Object.entries(p.archives)) {
    const input = inputHash(members, `tar ${FIXED_MTIME} xz -6`);
    if (!reuse(name, input)) {
      packTar(members, join(outDir, `${name}.tmp`));
      renameSync(join(outDir, `${name}.tmp`), join(outDir, name));
    }
    record(name, input, members.length);
  }
  // Anything else in the folder (an old layout, a stray file) would travel too: remove it.
  for (const entry of readdirSync(outDir)) {
    if (!(entry in files) && entry !== 'manifest.json') rmSync(join(outDir, entry), { recursive: true, force: true });
  }
  const manifest = {
    kit: 1,
    node: p.node.version,
    cmake: p.cmake,
    needs: p.needs,
    fallbackLibraries: p.fallbackLibraries,
    packages: p.closure.packages.map((x) => `${relative(p.closure.nodeModules, x.dir)}@${x.version}`),
    files,
  };
  writeFileSync(oldManifestPath, `${JSON.stringify(manifest, null, 2)}\n`);

  const kitBytes = Object.values(files).reduce((s, f) => s + f.bytes, 0) + statSync(oldManifestPath).size;
  const tree = treeBytes();
  const extra = (values.with ?? []).map((path) => {
    const full = resolve(root, path);
    if (!existsSync(full)) fail(`--with ${path}: no such file or folder`);
    const st = statSync(full);
    const bytes = st.isDirectory() ? walk(full).reduce((s, f) => s + lstatSync(f).size, 0) : st.size;
    return { path: relative(root, full), bytes };
  });
  const extraBytes = extra.reduce((s, e) => s + e.bytes, 0);
  const total = kitBytes + tree + extraBytes;
  const mib = (b) => Math.round((b / MiB) * 100) / 100;
  const summary = {
    kit: relative(root, outDir),
    files: Object.entries(files).map(([file, f]) => ({ file, bytes: f.bytes, mib: mib(f.bytes), members: f.members })),
    kitMiB: mib(kitBytes),
    treeMiB: mib(tree),
    with: extra.map((e) => ({ path: e.path, mib: mib(e.bytes) })),
    totalMiB: mib(total),
    limitMiB,
    carry: [relative(root, outDir), ...extra.map((e) => e.path)],
    node: p.node.version,
    packages: p.closure.packages.length,
  };
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  if (total > limitMiB * MiB) {
    const biggest = summary.files.sort((a, b) => b.bytes - a.bytes).map((f) => `${f.file} ${f.mib} MiB`);
    fail(
      `the working tree (${mib(tree)} MiB) plus the kit (${mib(kitBytes)} MiB)` +
        `${extra.map((e) => ` plus ${e.path} (${mib(e.bytes)} MiB)`).join('')} is ${mib(total)} MiB, over ` +
        `${limitMiB} MiB (the device carries at most 64 MiB in all). Largest kit files: ${biggest.join(', ')}. ` +
        'Drop a --with path, or from the tree what need not travel (untracked files that git does not ignore: ' +
        '`git status --short`), or shrink the largest archive (e.g. node_modules: an unneeded root package).',
    );
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
