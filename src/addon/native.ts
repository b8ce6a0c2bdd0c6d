/**
 * The shape of the native addon as TypeScript sees it (src/native/addon.cc). Internal: the public
 * API wraps every call, validates arguments first and converts errors.
 *
 * @internal
 * @module
 */

import type { CpuInfo, CudaGraphStats, CudaInfo } from './deviceInfo.js';

/** A native tensor handle (src/native/binding/tensor_handle.cc). */
export interface NativeTensor {
  dispose(): void;
  isDisposed(): boolean;
  shape(): number[];
  dtype(): string;
  device(): string;
  read(): Promise<Float32Array | Float64Array | Int32Array | Uint8Array>;
}

/** Arguments shared by every draw that reads per-sample Philox streams. */
export interface NativeStreams {
  seeds: BigUint64Array;
  offset?: number;
  step?: number;
}

export interface NativeStudentTArgs extends NativeStreams {
  y?: NativeTensor;
  shape?: number[];
  dtype?: string;
  device?: string;
  D: number;
  sigma: number | Float64Array;
  purpose: 'perturb' | 'prior';
  clipMin?: number;
  clipMax?: number;
}

export interface NativePfgmPerturbArgs extends NativeStreams {
  y: NativeTensor;
  M: number;
  tau: number;
  s: number;
  restrictM: boolean;
}

export interface NativeTrainingSigmaArgs extends NativeStreams {
  count: number;
  pMean: number;
  pStd: number;
  dtype: string;
  device: string;
}

export interface NativeBuildInfo {
  flavor: 'cpu' | 'cuda';
  cpu: CpuInfo;
  cuda: CudaInfo;
}

/** A host tensor crossing the op-case door (test/fixtures golden checks). */
export interface NativeHostTensor {
  shape: number[];
  data: Float32Array;
}

/** One tensor of a network's flat parameter buffer. */
export interface NativeParamInfo {
  name: string;
  shape: number[];
  offset: number;
  numel: number;
}

export interface NativeNetworkInfo {
  params: NativeParamInfo[];
  buffers: NativeParamInfo[];
  paramCount: number;
  bufferCount: number;
  sampleShape: [number, number, number];
  labelDim: number;
  augmentDim: number;
  /** The device it was created on: `cpu`, `cuda`, or the test build's device `cpu-guarded`. */
  device: string;
}

export type NativeBufferName = 'params' | 'ema' | 'grads' | 'buffers' | 'adam_m' | 'adam_v';

export interface NativeBatch {
  batch: number;
  labels?: Float32Array;
  augment?: Float32Array;
}

/**
 * The training options of one native step, every field required: src/physics/trainOptions.ts resolves
 * them (and owns their defaults) and maps them here in one place (toNativeTrainOptions);
 * src/native/binding/network_binding.cc reads each one (read_train_options).
 */
export interface NativeTrainOptions {
  D: number;
  seed: number;
  pMean: number;
  pStd: number;
  microBatch: number;
  stf: boolean;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  lrRampupKimg: number;
  gradClip: number;
  emaHalflifeKimg: number;
  emaRampupRatio: number;
}

export interface NativeStepResult {
  loss: number;
  gradNorm: number;
  skipped: boolean;
  lr: number;
  stop: boolean;
}

export interface NativeCounters {
  steps: number;
  adamSteps: number;
  images: number;
  skipped: number;
}

/** A network and its training state (src/native/binding/network_binding.cc). */
export interface NativeNetwork {
  dispose(): void;
  /** A sampling run on this network's device (src/native/binding/sample_run_binding.cc). */
  sampleRun(config: {
    batch: number;
    ema: boolean;
    /** Guidance weight of every row. */
    guidance?: number;
    /** Guided row ranges, ascending and disjoint, each with its weight (instead of `guidance`). */
    guided?: readonly { start: number; count: number; weight: number }[];
    labels?: Float32Array;
    augment?: Float32Array;
  }): NativeSampleRun;
  paramInfo(): NativeNetworkInfo;
  getBuffer(name: NativeBufferName): Float32Array;
  setBuffer(name: NativeBufferName, data: Float32Array): void;
  denoise(args: NativeBatch & { x: Float32Array; sigma: Float32Array; ema?: boolean; raw?: boolean }): Promise<{
    out: Float32Array;
    raw?: Float32Array;
  }>;
  field(args: NativeBatch & { x: Float32Array; z: Float32Array; ema?: boolean }): Promise<Float32Array>;
  field(args: NativeBatch & { x: Float32Array; z: Float32Array; target: Float32Array }): Promise<number>;
  lossAndGrad(args: NativeBatch & { y: Float32Array; noise: Float32Array; sigma: Float32Array }): Promise<number>;
  trainStep(
    args: NativeBatch & {
      y: Float32Array;
      noise?: Float32Array;
      sigma?: Float32Array;
      options: NativeTrainOptions;
      /** Data-parallel: the global index of this rank's first sample (keys every draw). */
      sampleOffset?: number;
      /** Data-parallel: this rank asks the group to stop after the step. */
      stopVote?: boolean;
      pfgm?: {
        refs: Float32Array;
        refsCount: number;
        M: number;
        tau: number;
        s: number;
        gamma: number;
        restrictM: boolean;
      };
    },
  ): Promise<NativeStepResult>;
  counters(): NativeCounters;
  setCounters(c: NativeCounters): void;
  inputVjp(
    args: NativeBatch & { x: Float32Array; sigma: Float32Array; v: Float32Array; ema?: boolean },
  ): Promise<NativeVjp>;
  /** Joins (or with null leaves) a data-parallel group for the training steps. */
  attachDistributed(group: NativeDistributed | null): void;
  /** The root rank's weights, EMA, Adam moments and counters on every rank of the group. */
  syncFromRoot(root: number): Promise<void>;
}

/** A data-parallel group (src/native/binding/dist_binding.cc). */
export interface NativeDistributed {
  close(): void;
  info(): { rank: number; worldSize: number; backend: 'gloo' | 'nccl' };
  allReduce(values: Float64Array, op: 'sum' | 'mean'): Promise<Float64Array>;
  allGather(values: Float64Array): Promise<Float64Array>;
  broadcast(values: Float64Array, root: number): Promise<Float64Array>;
  barrier(): Promise<void>;
}

/** Whether a collective library is available, and which or why not. */
export interface NativeCollectiveBackend {
  available: boolean;
  detail: string;
}

/** A denoised batch and the input VJP v^T dD/dx (src/native/binding/sampler_binding.cc). */
export interface NativeVjp {
  denoised: Float32Array;
  vjp: Float32Array;
}

/** The arguments of one ideal-denoiser call: x [queries, n], sigma [queries]. */
export interface NativeIdealCall {
  x: Float32Array;
  sigma: Float64Array;
  classes?: Int32Array;
}

/** The ideal denoiser of docs/method.md §2.4 over a fixed reference set (sampler_binding.cc). */
export interface NativeIdealDenoiser {
  dispose(): void;
  info(): { count: number; n: number; D: number; labelDim: number };
  denoise(args: NativeIdealCall): Promise<Float32Array>;
  inputVjp(args: NativeIdealCall & { v: Float32Array }): Promise<NativeVjp>;
}

/** Arguments of the per-sample draws of the sampler (churn noise, Rademacher probes). */
export interface NativeSamplerDraw extends NativeStreams {
  count: number;
}

/** One tensor the FID Inception reads (src/native/nn/inception.h). */
export interface NativeInceptionTensor {
  name: string;
  shape: number[];
}

/** The FID Inception-v3 (src/native/binding/inception_binding.cc). */
export interface NativeInception {
  /** `device`: 'cpu' (default), 'cuda', or a device the build registered. */
  load(weights: Record<string, Float32Array>, device?: string): Promise<void>;
  features(args: {
    images: Float32Array;
    count: number;
    channels: number;
    height: number;
    width: number;
    batch: number;
    taps?: string[];
  }): Promise<{ features: Float32Array; taps?: Record<string, Float32Array> }>;
  isLoaded(): boolean;
  /** The device load() was given; undefined before it settles. */
  device(): string | undefined;
  dispose(): void;
}

/** The Fréchet distance's terms as the engine reports them (src/native/linalg/frechet.h). */
export interface NativeFrechet {
  distance: number;
  meanTerm: number;
  trace1: number;
  trace2: number;
  traceSqrt: number;
  clamped1: number;
  clamped2: number;
  mostNegative1: number;
  mostNegative2: number;
  rank1: number;
}

/** k-NN manifold coverage (src/native/linalg/knn.h). */
export interface NativeCoverage {
  precisionHits: number;
  recallHits: number;
  fakeInReal: Uint8Array;
  realInFake: Uint8Array;
}

/** The feature classifier and its Adam state (src/native/binding/classifier_binding.cc). */
export interface NativeClassifier {
  dispose(): void;
  paramInfo(): { params: NativeParamInfo[]; paramCount: number };
  getBuffer(name: 'params' | 'grads' | 'adam_m' | 'adam_v'): Float32Array;
  setBuffer(name: 'params' | 'grads' | 'adam_m' | 'adam_v', data: Float32Array): void;
  adamSteps(): number;
  setAdamSteps(count: number): void;
  forward(args: { batch: number; x: Float32Array; features?: boolean }): Promise<{
    logits: Float32Array;
    features?: Float32Array;
  }>;
  lossAndGrad(args: { batch: number; x: Float32Array; labels: Int32Array }): Promise<{ loss: number; correct: number }>;
  trainStep(args: {
    batch: number;
    x: Float32Array;
    labels: Int32Array;
    lr: number;
    beta1?: number;
    beta2?: number;
    eps?: number;
  }): Promise<{ loss: number; correct: number }>;
}

/**
 * A sampling run whose arrays stay in the network's device memory, named by id
 * (src/native/binding/sample_run_binding.cc); every method but `transfers` and `dispose` runs on a
 * worker.
 */
export interface NativeSampleRun {
  upload(id: number, x: Float32Array): Promise<void>;
  download(id: number): Promise<Float32Array>;
  release(id: number): Promise<void>;
  prior(
    id: number,
    D: number,
    sigmaMax: number,
    streams: NativeStreams & { clipMin?: number; clipMax?: number; firstRow?: number; rows?: number },
  ): Promise<void>;
  drift(input: number, z: number, gamma: number, out: number): Promise<void>;
  denoise(input: number, sigma: number, out: number): Promise<void>;
  combine(out: number, coefs: Float64Array, ids: number[]): Promise<void>;
  slopeUpdate(
    x: number,
    den: number,
    sigma: number,
    coefs: Float64Array,
    slopes: number[],
    dOut: number,
    xOut: number,
  ): Promise<void>;
  churn(input: number, out: number, scale: number, streams: NativeStreams): Promise<void>;
  check(id: number): Promise<{ index: number; value: number }>;
  scaledSumsq(e: number, a: number, b: number, rtol: number, atol: number): Promise<number>;
  transfers(): { uploads: number; downloads: number };
  dispose(): void;
}

export interface NativeAddon {
  Inception: (new () => NativeInception) & {
    /** Every tensor load() needs, in pytorch-fid's state-dict order. */
    tensors(): NativeInceptionTensor[];
    /** The stage names features() can tap. */
    stages(): string[];
  };
  Network: (new (
    config: Record<string, unknown>,
  ) => NativeNetwork) & {
    /** Stage timings (ms) since the last call when PFGM_PROFILE=1, then reset. */
    profile(): Record<string, number>;
  };
  createTensor(
    data: Float32Array | Float64Array | Int32Array | Uint8Array,
    shape: number[],
    dtype: string,
    device: string,
  ): NativeTensor;
  studentTNoise(args: NativeStudentTArgs): Promise<NativeTensor>;
  pfgmPerturb(args: NativePfgmPerturbArgs): Promise<[NativeTensor, NativeTensor]>;
  trainingSigma(args: NativeTrainingSigmaArgs): Promise<NativeTensor>;
  philox(counter: Uint32Array, key: Uint32Array): Uint32Array;
  buildInfo(): NativeBuildInfo;
  /** The process's CUDA graph counts (docs/cuda.md, "CUDA graphs"); zeros on the CPU. */
  graphStats(): CudaGraphStats;
  /** Makes GPU `ordinal` the process's GPU (src/native/device.h). */
  selectCudaDevice(ordinal: number): void;
  initDistributed(args: {
    rank: number;
    worldSize: number;
    masterAddr: string;
    masterPort: number;
    host?: string;
    timeoutSeconds: number;
    backend: 'gloo' | 'nccl';
    cudaDevice?: number;
  }): Promise<NativeDistributed>;
  collectiveBackends(): { gloo: NativeCollectiveBackend; nccl: NativeCollectiveBackend };
  /** One op case on host tensors. Test build only (build/Release/testing): the shipped addons lack it. */
  runOp(
    name: string,
    attrs: Record<string, number | boolean | number[]>,
    inputs: Record<string, NativeHostTensor>,
    device?: 'cpu' | 'cuda' | 'cpu-guarded',
  ): Promise<Record<string, NativeHostTensor>>;
  /** The op cases' names. Test build only, like {@link NativeAddon.runOp}. */
  opCases(device?: 'cpu' | 'cuda' | 'cpu-guarded'): string[];
  linearCombination(out: Float32Array, coefs: Float64Array, terms: Float32Array[]): void;
  linearCombinationAsync(out: Float32Array, coefs: Float64Array, terms: Float32Array[]): Promise<void>;
  churnNoise(args: NativeSamplerDraw & { x: Float32Array; out: Float32Array; scale: number }): Promise<void>;
  rademacher(args: NativeSamplerDraw & { out: Float32Array }): void;
  IdealDenoiser: new (args: {
    y: Float32Array;
    n: number;
    D: number;
    classes?: Int32Array;
    labelDim?: number;
  }) => NativeIdealDenoiser;
  // Metrics (src/native/binding/linalg_binding.cc, classifier_binding.cc).
  Classifier: new (
    config: Record<string, unknown>,
  ) => NativeClassifier;
  symmetricEigen(
    a: Float64Array,
    n: number,
    vectors: boolean,
  ): Promise<{ values: Float64Array; vectors?: Float64Array }>;
  featureStats(
    x: Float32Array | Float64Array,
    rows: number,
    dim: number,
  ): Promise<{ mean: Float64Array; cov: Float64Array }>;
  frechetDistance(
    mean1: Float64Array,
    cov1: Float64Array,
    mean2: Float64Array,
    cov2: Float64Array,
    n: number,
    tolerance: number,
  ): Promise<NativeFrechet>;
  knnRadii(x: Float32Array | Float64Array, rows: number, dim: number, k: number): Promise<Float64Array>;
  manifoldCoverage(
    real: Float32Array | Float64Array,
    nReal: number,
    fake: Float32Array | Float64Array,
    nFake: number,
    dim: number,
    realRadius: Float64Array,
    fakeRadius: Float64Array,
  ): Promise<NativeCoverage>;
}
