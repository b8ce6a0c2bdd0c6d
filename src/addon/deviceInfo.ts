/**
 * What the loaded addon reports about the machine: the types of `getDeviceInfo()`'s answer,
 * in a file of their own so that the addon's native declarations and the loader can both use
 * them without importing each other.
 *
 * @module
 */

/** A device a tensor can live on. */
export type DeviceName = 'cpu' | 'cuda';

/** The CPU engine as the addon reports it. */
export interface CpuInfo {
  /** OpenMP threads the engine uses (set with OMP_NUM_THREADS). */
  threads: number;
  /** The oneDNN version linked in. */
  onednn: string;
  /** The instruction set oneDNN dispatches to (avx2, avx512_core, avx512_core_amx, ...). */
  isa: string;
}

/** The CUDA backend as the addon reports it. */
export interface CudaInfo {
  /** Whether a CUDA build of the addon exists and was loaded. */
  compiled: boolean;
  /** Whether a usable GPU was found. */
  available: boolean;
  /** Why the GPU is (not) used, in words a user can act on. */
  reason: string;
  /** Number of CUDA devices visible. */
  deviceCount: number;
  /** Name of device 0, when available. */
  name?: string;
  /** Compute capability of device 0, e.g. "9.0". */
  computeCapability?: string;
  /** Memory of device 0 in bytes. */
  memoryBytes?: number;
  /** CUDA driver version as an integer (e.g. 13000), 0 without a driver. */
  driverVersion: number;
  /** CUDA runtime version the addon was built with. */
  runtimeVersion: number;
  /** Whether the CUDA build found cuDNN (convolutions) when it was built. */
  cudnn: boolean;
  /** Whether the CUDA build found cuBLAS (matrix products) when it was built. */
  cublas: boolean;
}

/** A collective library for data-parallel training (docs/distributed.md). */
export interface CollectiveInfo {
  /** Whether this build can form a group with it. */
  available: boolean;
  /** The library found, or what is missing and how to get it. */
  detail: string;
}

/** The collective libraries of data-parallel training. */
export interface CollectiveLibraries {
  /** Gloo, between CPU processes. */
  gloo: CollectiveInfo;
  /** NCCL, between GPUs. */
  nccl: CollectiveInfo;
}

/** Where one of NVIDIA's libraries that the prebuilt CUDA addon needs was found, or what to install. */
export interface NvidiaLibraryInfo {
  /** The soname the addon asks for, e.g. `libcudnn.so.9`. */
  soname: string;
  /** The file that was opened, when found. */
  path?: string;
  /** When not found: the exact fix (a pip or apt line). */
  fix?: string;
}

/** What was loaded, and why. */
export interface DeviceInfo {
  /** The backend in use: `cuda` when a GPU is used, else `cpu`. */
  backend: DeviceName;
  /** Where tensors go when no device is named. */
  defaultDevice: DeviceName;
  /** One line on why this backend was chosen. */
  reason: string;
  /** What `PFGM_DEVICE` asked for (`auto` when unset). */
  requested: 'auto' | DeviceName;
  /** The addon file that was loaded. */
  addonPath: string;
  /**
   * Where that addon comes from: a platform package (`@pfgm/linux-x64 0.1.0`), `local build`
   * (`npx pfgm build`, or a checkout's `npm ci`) or `PFGM_ADDON_DIR`.
   */
  addonOrigin: string;
  /** Where the CUDA build that was loaded came from (as `addonOrigin`), when one was. */
  cudaAddonOrigin?: string;
  /**
   * NVIDIA's libraries the prebuilt CUDA addon (`@pfgm/linux-x64-cuda`) needs, where each was
   * found or what to install; absent when that package was not tried.
   */
  nvidiaLibraries?: NvidiaLibraryInfo[];
  /** The CPU engine: OpenMP threads, oneDNN version and the instruction set oneDNN uses. */
  cpu: CpuInfo;
  /** The CUDA backend: whether it was compiled, whether a device is usable, and which. */
  cuda: CudaInfo;
  /** The collective libraries of data-parallel training: Gloo (CPU) and NCCL (GPUs). */
  collectives: CollectiveLibraries;
}

/**
 * How often sampling's network evaluations were recorded as CUDA graphs and replayed, in this
 * process (docs/cuda.md, "CUDA graphs"). All zeros on the CPU and with `PFGM_CUDA_GRAPHS=0`.
 */
export interface CudaGraphStats {
  /** Evaluations recorded as graphs. */
  captures: number;
  /** Evaluations served by one graph launch. */
  replays: number;
  /** Evaluations run op by op where graphs are on: warm-ups, changed arguments, refusals. */
  eager: number;
  /** Recordings discarded because an evaluation's ops or arguments differed. */
  dropped: number;
  /** Why the last sequence could not be recorded; empty while none was refused. */
  refusal: string;
}
