/**
 * Chooses and loads the native addon (docs/dev/architecture.md, "The addon boundary"): the CUDA build when it loads and
 * finds a GPU, else the CPU build, unless `PFGM_DEVICE=cpu|cuda` says otherwise. The choice and
 * its reason are reported by {@link getDeviceInfo} and `pfgm info`.
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PfgmError } from '../errors.js';
import type { CollectiveInfo, CollectiveLibraries, CpuInfo, CudaInfo, DeviceInfo, DeviceName } from './deviceInfo.js';
import type { NativeAddon } from './native.js';

export type { CollectiveInfo, CollectiveLibraries, CpuInfo, CudaInfo, DeviceInfo, DeviceName };

interface Loaded {
  addon: NativeAddon;
  /** Everything but the collectives, which are asked for when reported. */
  info: Omit<DeviceInfo, 'collectives'>;
}

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const requireNative = createRequire(import.meta.url);
let loaded: Loaded | undefined;

function addonDir(): string {
  return process.env.PFGM_ADDON_DIR ?? join(packageRoot, 'build', 'Release');
}

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
}

function tryCuda(): CudaAttempt {
  const path = join(addonDir(), 'pfgm_cuda.node');
  if (!existsSync(path)) {
    return { reason: 'no CUDA build: no CUDA toolkit was found when the addon was built' };
  }
  let addon: NativeAddon;
  try {
    addon = requireNative(path) as NativeAddon;
  } catch (error) {
    return { reason: `the CUDA build could not be loaded (${firstLine(error)})` };
  }
  const build = addon.buildInfo();
  if (!build.cuda.available) return { reason: build.cuda.reason, cuda: build.cuda };
  return {
    loaded: {
      addon,
      info: {
        backend: 'cuda',
        defaultDevice: 'cuda',
        reason: build.cuda.reason,
        requested: 'auto',
        addonPath: path,
        cpu: build.cpu,
        cuda: build.cuda,
      },
    },
    reason: build.cuda.reason,
  };
}

function load(): Loaded {
  const requested = requestedDevice();
  let cudaReason = 'PFGM_DEVICE=cpu';
  let cudaBuild: CudaInfo | undefined;
  if (requested !== 'cpu') {
    const cuda = tryCuda();
    cudaBuild = cuda.cuda;
    if (cuda.loaded) {
      cuda.loaded.info.requested = requested;
      return cuda.loaded;
    }
    if (requested === 'cuda') {
      throw new PfgmError('ERR_PFGM_DEVICE', `PFGM_DEVICE=cuda, but ${cuda.reason}`);
    }
    cudaReason = cuda.reason;
  }
  const path = join(addonDir(), 'pfgm_cpu.node');
  if (!existsSync(path)) {
    throw new PfgmError(
      'ERR_PFGM_LOAD',
      `the native addon is not built (${path} is missing): run \`npm rebuild pfgm\` ` +
        '(it needs cmake, g++ and libdnnl-dev: apt-get install -y cmake g++ libdnnl-dev)',
    );
  }
  let addon: NativeAddon;
  try {
    addon = requireNative(path) as NativeAddon;
  } catch (error) {
    throw new PfgmError(
      'ERR_PFGM_LOAD',
      `the native addon ${path} could not be loaded (${firstLine(error)}): ` +
        'reinstall its libraries (apt-get install -y libdnnl-dev) and run `npm rebuild pfgm`',
      { cause: error },
    );
  }
  const build = addon.buildInfo();
  return {
    addon,
    info: {
      backend: 'cpu',
      defaultDevice: 'cpu',
      reason: requested === 'cpu' ? 'PFGM_DEVICE=cpu' : `CPU backend; CUDA not used: ${cudaReason}`,
      requested,
      addonPath: path,
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
