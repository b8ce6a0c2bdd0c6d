/**
 * `pfgm build`: builds the native addon from source into the package's `build/Release`, for a
 * machine that no prebuilt platform package serves (docs/dev/release.md, "Building from source").
 * The build itself is scripts/build-addon.mjs, the one the install script runs.
 *
 * @module
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../addon/platform.js';

/** `pfgm build --help`. */
export const BUILD_HELP = `Usage: pfgm build

Builds the native addon from source into ${join('<pfgm>', 'build', 'Release')}, for a machine that no
prebuilt package (@pfgm/linux-x64, @pfgm/linux-x64-cuda) serves, or to use a CUDA toolkit or a
oneDNN of your own. It needs:

  cmake, g++ and oneDNN        apt-get install -y cmake g++ libdnnl-dev   (libgloo-dev: optional,
                               multi-process CPU training)
  cmake-js and node-addon-api  npm install cmake-js node-addon-api        (in your project)
  nvcc (optional)              the CUDA toolkit on the PATH builds the CUDA addon too

The prebuilt packages, when installed, are still loaded first: set
PFGM_ADDON_DIR=${join(packageRoot, 'build', 'Release')} to use this build instead.
`;

/** Runs the source build; resolves to its exit code. */
export function buildCommand(args: string[]): number {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(BUILD_HELP);
    return 0;
  }
  if (args.length > 0) {
    process.stderr.write(`pfgm build: unexpected argument '${args[0]}' (it takes none; see pfgm build --help)\n`);
    return 2;
  }
  process.stdout.write(
    `pfgm build: building the native addon from source into ${join(packageRoot, 'build', 'Release')}; ` +
      'it needs cmake, g++ and libdnnl-dev (apt-get install -y cmake g++ libdnnl-dev) and the npm ' +
      'packages cmake-js and node-addon-api (pfgm build --help)\n',
  );
  const result = spawnSync(process.execPath, [join(packageRoot, 'scripts', 'build-addon.mjs'), '--from-source'], {
    cwd: packageRoot,
    stdio: 'inherit',
  });
  return result.status ?? 1;
}
