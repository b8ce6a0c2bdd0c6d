/**
 * The places a native addon may come from (docs/dev/release.md): `PFGM_ADDON_DIR` when set, else
 * the prebuilt platform package for this machine (`@pfgm/linux-x64`, `@pfgm/linux-x64-cuda`,
 * installed by npm as optional dependencies), then a source build in the package's
 * `build/Release` (`npx pfgm build`).
 *
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's root folder (where package.json, build/ and scripts/ are). @internal */
export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const requireHere = createRequire(import.meta.url);

/** Which addon: the CPU build or the CUDA build. */
export type AddonKind = 'cpu' | 'cuda';

/** What a platform package's package.json says about its files (field `pfgm`). */
interface PackageManifest {
  name: string;
  version: string;
  pfgm?: { addon?: string; glibc?: string; glibcxx?: string; needs?: string[] };
}

/** One place to load an addon from. */
export interface AddonCandidate {
  /** The addon file. */
  path: string;
  /** Where it comes from, in words: `@pfgm/linux-x64 0.1.0`, `local build`, `PFGM_ADDON_DIR`. */
  origin: string;
  /** For a platform package: the sonames of NVIDIA's libraries to find first (CUDA package). */
  needs?: string[];
  /** For a platform package: its folder (the CUDA package's preloader is there). */
  packageDir?: string;
  /** For a platform package: the oldest glibc it runs on. */
  glibc?: string;
}

/** The platform package's name for this machine: `@pfgm/<os>-<arch>`, plus `-cuda`. */
export function platformPackageName(kind: AddonKind): string {
  return `@pfgm/${process.platform}-${process.arch}${kind === 'cuda' ? '-cuda' : ''}`;
}

function addonFile(kind: AddonKind): string {
  return kind === 'cuda' ? 'pfgm_cuda.node' : 'pfgm_cpu.node';
}

/** Platforms with prebuilt packages: `@pfgm/<os>-<arch>` exists for these (with glibc). */
const PREBUILT_PLATFORMS = ['linux-x64'];

/** Why npm did not install the platform package here, in words a user can act on. */
function notInstalled(name: string): string {
  const platform = `${process.platform}-${process.arch}`;
  if (!PREBUILT_PLATFORMS.includes(platform)) return `there is no prebuilt package for ${platform}`;
  // musl's dynamic loader (Alpine); process.report would say it too, but takes tens of milliseconds.
  if (existsSync(`/lib/ld-musl-${process.arch === 'x64' ? 'x86_64' : 'aarch64'}.so.1`)) {
    return `the prebuilt ${name} needs glibc, and this system has musl`;
  }
  return (
    `${name} is not installed (npm leaves it out with --omit=optional or --no-optional; ` +
    '`npm install --include=optional pfgm` installs it)'
  );
}

/** The platform package of `kind` when it is installed and of this package's version. */
export function platformPackage(kind: AddonKind, version: string): AddonCandidate | { missing: string } {
  const name = platformPackageName(kind);
  let manifestPath: string;
  try {
    manifestPath = requireHere.resolve(`${name}/package.json`);
  } catch {
    return { missing: notInstalled(name) };
  }
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as PackageManifest;
  if (manifest.version !== version) {
    return { missing: `${name} is ${manifest.version}, not ${version}: reinstall pfgm so that they match` };
  }
  const dir = dirname(manifestPath);
  return {
    path: join(dir, manifest.pfgm?.addon ?? addonFile(kind)),
    origin: `${name} ${manifest.version}`,
    needs: manifest.pfgm?.needs ?? [],
    packageDir: dir,
    ...(manifest.pfgm?.glibc === undefined ? {} : { glibc: manifest.pfgm.glibc }),
  };
}

/**
 * Where the addon of `kind` may be loaded from, in order, and why the platform package is not
 * among them when it is not. `PFGM_ADDON_DIR` replaces the whole list.
 */
export function addonCandidates(kind: AddonKind, version: string): { list: AddonCandidate[]; packageNote?: string } {
  const file = addonFile(kind);
  const override = process.env.PFGM_ADDON_DIR;
  if (override !== undefined && override !== '') {
    return { list: [{ path: join(override, file), origin: 'PFGM_ADDON_DIR' }] };
  }
  const local: AddonCandidate = { path: join(packageRoot, 'build', 'Release', file), origin: 'local build' };
  const pkg = platformPackage(kind, version);
  if ('missing' in pkg) return { list: [local], packageNote: pkg.missing };
  return { list: [pkg, local] };
}

/** Whether the file of a candidate exists. */
export function present(candidate: AddonCandidate): boolean {
  return existsSync(candidate.path);
}

/**
 * A load failure in words a user can act on: a too-old glibc or libstdc++ for a prebuilt names the
 * floor and the way out (a source build).
 */
export function loadFailure(candidate: AddonCandidate, message: string): string {
  const version = /version `((?:GLIBC|GLIBCXX|CXXABI)_[0-9.]+)' not found/.exec(message)?.[1];
  if (version !== undefined && candidate.packageDir !== undefined) {
    return (
      `${candidate.origin} needs ${version}, which this system's C/C++ runtime lacks ` +
      `(it needs glibc ${candidate.glibc ?? '(see its package.json)'} or newer and GCC 12's ` +
      'libstdc++): update the system, or build from source with `npx pfgm build`'
    );
  }
  return `${candidate.origin} (${candidate.path}) could not be loaded: ${message}`;
}
