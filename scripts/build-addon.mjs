#!/usr/bin/env node
// Builds the native addon with cmake-js (run by `npm ci` / `npm install`). Uses the local Node
// headers when they exist so the build needs no network, and says plainly what to install when a
// tool is missing.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function need(tool, args, hint) {
  try {
    execFileSync(tool, args, { stdio: 'ignore' });
  } catch {
    console.error(`pfgm: cannot build the native addon: '${tool}' is missing. ${hint}`);
    process.exit(1);
  }
}
need('cmake', ['--version'], 'Install it: apt-get install cmake');
need('g++', ['--version'], 'Install it: apt-get install g++');

const env = { ...process.env };
// Node's own headers (Debian and official tarballs ship them beside the binary): no download.
const prefix = resolve(dirname(process.execPath), '..');
if (!env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h'))) {
  env.npm_config_nodedir = prefix;
}

const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
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
