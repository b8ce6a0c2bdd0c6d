#!/usr/bin/env node
// The install script (`npm install pfgm`, `npm ci`) and `npx pfgm build` (docs/dev/release.md).
// In an installed package it first looks for the prebuilt platform package for this machine
// (@pfgm/linux-x64, an optional dependency): when it loads, nothing is built. Otherwise, and always
// in a checkout of the repository (which has test/native) or with --from-source or
// PFGM_BUILD_FROM_SOURCE=1, it builds the native addon with cmake-js, using the local Node headers
// when they exist so the build needs no network, and says plainly what to install when a tool is
// missing.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const fromSource =
  process.argv.includes('--from-source') ||
  process.env.PFGM_BUILD_FROM_SOURCE === '1' ||
  existsSync(join(root, 'test', 'native'));

const TOOLS = 'apt-get install -y cmake g++ libdnnl-dev (libgloo-dev for multi-process CPU training)';

// The prebuilt CPU package decides: the CUDA one may lack cuDNN at install time and is optional.
async function prebuilt() {
  const platform = join(root, 'dist', 'addon', 'platform.js');
  if (!existsSync(platform)) return { ok: false, reason: 'dist/ is missing' };
  const { platformPackage, loadFailure } = await import(pathToFileURL(platform).href);
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const pkg = platformPackage('cpu', version);
  if ('missing' in pkg) return { ok: false, reason: pkg.missing };
  try {
    require(pkg.path);
    return { ok: true, reason: `${pkg.origin} (${pkg.path})` };
  } catch (error) {
    return { ok: false, reason: loadFailure(pkg, String(error?.message ?? error).split('\n')[0]) };
  }
}

let why = '';
if (!fromSource) {
  const found = await prebuilt();
  if (found.ok) {
    console.log(`pfgm: using the prebuilt addon ${found.reason}; nothing to build (npx pfgm build builds from source)`);
    process.exit(0);
  }
  why = `no prebuilt addon for ${process.platform}-${process.arch} loads here (${found.reason}), so it is built from source. `;
}

function need(tool, args, hint) {
  try {
    execFileSync(tool, args, { stdio: 'ignore' });
  } catch {
    console.error(`pfgm: ${why}Cannot build the native addon: '${tool}' is missing. ${hint}`);
    process.exit(1);
  }
}
need('cmake', ['--version'], `Install it: ${TOOLS}`);
need('g++', ['--version'], `Install it: ${TOOLS}`);

// cmake-js and node-addon-api are optional peer dependencies: only a source build needs them.
function resolvePackage(name) {
  try {
    return dirname(require.resolve(`${name}/package.json`));
  } catch {
    console.error(
      `pfgm: ${why}The source build needs the npm packages cmake-js and node-addon-api: ` +
        'npm install pfgm cmake-js node-addon-api (in one command, so that pfgm stays installed), ' +
        `then npx pfgm build. It also needs: ${TOOLS}. On Linux x64 with glibc, ` +
        '`npm install --include=optional pfgm` gets the prebuilt addon instead.',
    );
    process.exit(1);
  }
}
const cmakeJsDir = resolvePackage('cmake-js');
const addonApiDir = resolvePackage('node-addon-api');
if (why) console.log(`pfgm: ${why}`);

const env = { ...process.env };
// CMakeLists.txt looks in the package's own node_modules; an optional peer may sit higher up.
env.NODE_ADDON_API_DIR ??= addonApiDir;
// Node's own headers (Debian and official tarballs ship them beside the binary): no download.
const prefix = resolve(dirname(process.execPath), '..');
if (!env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h'))) {
  env.npm_config_nodedir = prefix;
}

const cmakeJs = join(cmakeJsDir, 'bin', 'cmake-js');
const jobs = String(Math.max(1, availableParallelism()));
const result = spawnSync(process.execPath, [cmakeJs, 'build', '--out', 'build', '--parallel', jobs], {
  cwd: root,
  env,
  stdio: 'inherit',
});
if (result.status !== 0) {
  console.error(
    'pfgm: the native build failed (see the messages above). On Debian the build needs:\n' +
      '  apt-get install -y cmake g++ libdnnl-dev\n' +
      'Set PFGM_CUDA=OFF to skip the CUDA backend.',
  );
  process.exit(result.status ?? 1);
}
