/**
 * Chooses and loads the native addon (docs/dev/architecture.md, "The addon boundary"): the CUDA build when it loads and
 * finds a GPU, else the CPU build, unless `PFGM_DEVICE=cpu|cuda` says otherwise. Each build is
 * looked for in `PFGM_ADDON_DIR` when set, else in the prebuilt platform package for this machine
 * and then in a local source build (src/addon/platform.ts, docs/dev/release.md). The choice, where
 * the addon came from and why are reported by {@link getDeviceInfo} and `pfgm info`.
 *
 * @module
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { PfgmError } from '../errors.js';
import { VERSION } from '../version.js';
import type {
  CollectiveInfo,
  CollectiveLibraries,
  CpuInfo,
  CudaGraphStats,
  CudaInfo,
  DeviceInfo,
  DeviceName,
  NvidiaLibraryInfo,
} from './deviceInfo.js';
import type { NativeAddon } from './native.js';
import { ncclSearchPath, type OpenLibrary, preloadNvidiaLibraries } from './nvidiaLibraries.js';
import { type AddonCandidate, addonCandidates, loadFailure, platformPackageName, present } from './platform.js';

export type {
  CollectiveInfo,
  CollectiveLibraries,
  CpuInfo,
  CudaGraphStats,
  CudaInfo,
  DeviceInfo,
  DeviceName,
  NvidiaLibraryInfo,
};

interface Loaded {
  addon: NativeAddon;
  /** Everything but the collectives, which are asked for when reported. */
  info: Omit<DeviceInfo, 'collectives'>;
}

const requireNative = createRequire(import.meta.url);
let loaded: Loaded | undefined;

function requestedDevice(): 'auto' | DeviceName {
  const value = (process.env.PFGM_DEVICE ?? 'auto').trim().toLowerCase();
  if (value === '' || value === 'auto') return 'auto';
  if (value === 'cpu' || value === 'cuda') return value;
  throw new PfgmError(
    'ERR_PFGM_DEVICE',
    `PFGM_DEVICE='${process.env.PFGM_DEVICE}' is not a device: use cpu, cuda or auto (or unset it)`,
  );
}

function firstLine(error: unknown): string {
  return String(error instanceof Error ? error.message : error).split('\n')[0] ?? '';
}

interface CudaAttempt {
  loaded?: Loaded;
  reason: string;
  /** What the CUDA build reported, when it loaded. */
  cuda?: CudaInfo;
  /** Where the CUDA package's libraries were found, when it was tried. */
  nvidia?: NvidiaLibraryInfo[];
  /** Where the CUDA build that loaded came from. */
  origin?: string;
}

/**
 * Opens NVIDIA's libraries that a prebuilt CUDA addon names, with the package's preloader;
 * undefined when all were found, else why not (with the fix).
 */
function preparePackage(candidate: AddonCandidate, report: (libs: NvidiaLibraryInfo[]) => void): string | undefined {
  if (candidate.packageDir === undefined) return undefined;
  if (process.env.PFGM_NCCL_SEARCH_PATH === undefined) {
    const nccl = ncclSearchPath();
    if (nccl !== '') process.env.PFGM_NCCL_SEARCH_PATH = nccl;
  }
  const needs = candidate.needs ?? [];
  if (needs.length === 0) {
    report([]);
    return undefined;
  }
  let open: OpenLibrary;
  try {
    open = (requireNative(join(candidate.packageDir, 'pfgm_preload.node')) as { open: OpenLibrary }).open;
  } catch (error) {
    return loadFailure(candidate, `its library preloader failed (${firstLine(error)})`);
  }
  const libs = preloadNvidiaLibraries(needs, open);
  report(libs);
  const missing = libs.filter((l) => l.path === undefined);
  if (missing.length === 0) return undefined;
  return `${candidate.origin} needs ${missing.map((l) => `${l.soname} (not found: ${l.fix})`).join('; ')}`;
}

function tryCuda(): CudaAttempt {
  const { list } = addonCandidates('cuda', VERSION);
  const existing = list.filter(present);
  if (existing.length === 0) {
    const path = list[0]?.path ?? 'pfgm_cuda.node';
    return {
      reason:
        list[0]?.origin === 'PFGM_ADDON_DIR'
          ? `no CUDA build: ${path} is missing (PFGM_ADDON_DIR)`
          : `no CUDA build: neither ${platformPackageName('cuda')} nor a local one (no CUDA toolkit was ` +
            'found when the addon was built)',
    };
  }
  const failures: string[] = [];
  let nvidia: NvidiaLibraryInfo[] | undefined;
  for (const candidate of existing) {
    const unprepared = preparePackage(candidate, (libs) => {
      nvidia = libs;
    });
    if (unprepared !== undefined) {
      failures.push(unprepared);
      continue;
    }
    let addon: NativeAddon;
    try {
      addon = requireNative(candidate.path) as NativeAddon;
    } catch (error) {
      failures.push(loadFailure(candidate, firstLine(error)));
      continue;
    }
    const build = addon.buildInfo();
    // No GPU (no driver, no device) is the machine's, not the build's: another build would not do better.
    if (!build.cuda.available) {
      return { reason: build.cuda.reason, cuda: build.cuda, origin: candidate.origin, ...(nvidia ? { nvidia } : {}) };
    }
    return {
      loaded: {
        addon,
        info: {
          backend: 'cuda',
          defaultDevice: 'cuda',
          reason: build.cuda.reason,
          requested: 'auto',
          addonPath: candidate.path,
          addonOrigin: candidate.origin,
          cudaAddonOrigin: candidate.origin,
          ...(nvidia ? { nvidiaLibraries: nvidia } : {}),
          cpu: build.cpu,
          cuda: build.cuda,
        },
      },
      reason: build.cuda.reason,
    };
  }
  return { reason: `the CUDA build could not be loaded: ${failures.join('; ')}`, ...(nvidia ? { nvidia } : {}) };
}

const SOURCE_BUILD =
  'build it from source with `npx pfgm build` (it needs cmake, g++ and oneDNN: apt-get install -y cmake g++ libdnnl-dev)';

function loadCpu(): { addon: NativeAddon; candidate: AddonCandidate } {
  const { list, packageNote } = addonCandidates('cpu', VERSION);
  const existing = list.filter(present);
  if (existing.length === 0) {
    const where = list.map((c) => c.path).join(', ');
    throw new PfgmError(
      'ERR_PFGM_LOAD',
      list[0]?.origin === 'PFGM_ADDON_DIR'
        ? `the native addon is not built: ${where} is missing (PFGM_ADDON_DIR names its folder)`
        : `the native addon is not installed: ${packageNote ?? 'no platform package'}, and there is no ` +
            `local build (${where}): ${SOURCE_BUILD}`,
    );
  }
  const failures: string[] = [];
  let cause: unknown;
  for (const candidate of existing) {
    try {
      return { addon: requireNative(candidate.path) as NativeAddon, candidate };
    } catch (error) {
      cause = error;
      failures.push(loadFailure(candidate, firstLine(error)));
    }
  }
  throw new PfgmError(
    'ERR_PFGM_LOAD',
    `the native addon could not be loaded: ${failures.join('; ')}. Reinstall pfgm (npm install pfgm), ` +
      `or ${SOURCE_BUILD}`,
    { cause },
  );
}

function load(): Loaded {
  const requested = requestedDevice();
  let cudaReason = 'PFGM_DEVICE=cpu';
  let cudaBuild: CudaInfo | undefined;
  let nvidia: NvidiaLibraryInfo[] | undefined;
  let cudaOrigin: string | undefined;
  if (requested !== 'cpu') {
    const cuda = tryCuda();
    cudaBuild = cuda.cuda;
    nvidia = cuda.nvidia;
    cudaOrigin = cuda.origin;
    if (cuda.loaded) {
      cuda.loaded.info.requested = requested;
      return cuda.loaded;
    }
    if (requested === 'cuda') {
      throw new PfgmError('ERR_PFGM_DEVICE', `PFGM_DEVICE=cuda, but ${cuda.reason}`);
    }
    cudaReason = cuda.reason;
  }
  const { addon, candidate } = loadCpu();
  const build = addon.buildInfo();
  return {
    addon,
    info: {
      backend: 'cpu',
      defaultDevice: 'cpu',
      reason: requested === 'cpu' ? 'PFGM_DEVICE=cpu' : `CPU backend; CUDA not used: ${cudaReason}`,
      requested,
      addonPath: candidate.path,
      addonOrigin: candidate.origin,
      ...(cudaOrigin ? { cudaAddonOrigin: cudaOrigin } : {}),
      ...(nvidia ? { nvidiaLibraries: nvidia } : {}),
      cpu: build.cpu,
      cuda: { ...(cudaBuild ?? build.cuda), reason: cudaReason, available: false },
    },
  };
}

/** The loaded addon, loading it on first use. @internal */
export function native(): NativeAddon {
  loaded ??= load();
  return loaded.addon;
}

/**
 * Which backend pfgm uses and why: the CUDA build when a GPU is usable, else the CPU build.
 * `PFGM_DEVICE=cpu` forces the CPU; `PFGM_DEVICE=cuda` makes a missing GPU an error.
 *
 * @throws {@link PfgmError} `ERR_PFGM_LOAD` when the addon is not built.
 */
export function getDeviceInfo(): DeviceInfo {
  loaded ??= load();
  return { ...structuredClone(loaded.info), collectives: loaded.addon.collectiveBackends() };
}

/**
 * The process's CUDA graph counts ({@link CudaGraphStats}): whether sampling's evaluations were
 * replayed, and if not, why. Loads the addon on first use.
 */
export function getGraphStats(): CudaGraphStats {
  loaded ??= load();
  return loaded.addon.graphStats();
}
