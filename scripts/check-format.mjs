#!/usr/bin/env node
// Checks (or, with --fix, applies) the C++ / CUDA style of .clang-format over every native source
// of the repository. `npm test` runs the check, as Biome does for TypeScript. The formatter is the
// `clang-format` npm package (a pinned clang-format 15 binary), not the system's, because each
// clang-format release formats a little differently and the check must give the same answer on
// every machine.
//   node scripts/check-format.mjs          list the files that differ; exit 1 if any
//   node scripts/check-format.mjs --fix    rewrite them in place (npm run format:cpp)
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const fix = process.argv.includes('--fix');
const extensions = /\.(cc|h|cu|cuh)$/;
const folders = ['src/native', 'cuda', 'test/native', 'bench/kernels'];

function binary() {
  const require = createRequire(import.meta.url);
  let dir;
  try {
    dir = dirname(require.resolve('clang-format/package.json'));
  } catch {
    fail("the 'clang-format' dev dependency is missing: run `npm ci`");
  }
  const platform = { linux: 'linux_x64', darwin: 'darwin_x64', win32: 'win32' }[process.platform];
  const exe = join(dir, 'bin', platform ?? '', process.platform === 'win32' ? 'clang-format.exe' : 'clang-format');
  if (!platform || (process.platform !== 'win32' && process.arch !== 'x64') || !existsSync(exe)) {
    fail(
      `the clang-format package has no binary for ${process.platform}-${process.arch}; ` +
        'run the check on linux-x64 (CI does), or skip it with PFGM_SKIP_FORMAT_CHECK=1',
    );
  }
  return exe;
}

function fail(message) {
  console.error(`check-format: ${message}`);
  process.exit(1);
}

/** Tracked sources when this is a git checkout (so build output never counts), else a walk. */
function sources() {
  try {
    const out = execFileSync('git', ['ls-files', '-z', '--', ...folders], { cwd: root, encoding: 'utf8' });
    const files = out.split('\0').filter((f) => extensions.test(f) && existsSync(join(root, f)));
    if (files.length > 0) return files;
  } catch {
    // not a git checkout: walk the folders instead
  }
  const found = [];
  const walk = (dir) => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (extensions.test(entry.name)) found.push(relative(root, path));
    }
  };
  for (const folder of folders) walk(join(root, folder));
  return found;
}

if (process.env.PFGM_SKIP_FORMAT_CHECK === '1') {
  console.log('check-format: skipped (PFGM_SKIP_FORMAT_CHECK=1)');
  process.exit(0);
}
const exe = binary();
const files = sources();
const args = fix ? ['-i', '--style=file'] : ['--dry-run', '--Werror', '--style=file'];
const bad = new Set();
// A few dozen files per call keeps the command line short on every platform.
for (let i = 0; i < files.length; i += 40) {
  const batch = files.slice(i, i + 40);
  const run = spawnSync(exe, [...args, ...batch], { cwd: root, encoding: 'utf8' });
  if (run.error) fail(`could not run ${exe}: ${run.error.message}`);
  for (const line of (run.stderr ?? '').split('\n')) {
    const m = /^(.+?):\d+:\d+: (?:error|warning): code should be clang-formatted/.exec(line);
    if (m) bad.add(relative(root, resolve(root, m[1])));
  }
  if (run.status !== 0 && bad.size === 0) fail(run.stderr.trim() || `clang-format exited ${run.status}`);
}
if (fix) {
  console.log(`check-format: formatted ${files.length} files`);
} else if (bad.size > 0) {
  console.error(`check-format: ${bad.size} of ${files.length} C++/CUDA files differ from .clang-format:`);
  for (const f of [...bad].sort()) console.error(`  ${f}`);
  console.error('Fix: npm run format:cpp');
  process.exit(1);
} else {
  console.log(`check-format: ${files.length} C++/CUDA files match .clang-format`);
}
