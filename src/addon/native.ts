/**
 * The shape of the native addon as TypeScript sees it (src/native/addon.cc). Internal: the public
 * API wraps every call, validates arguments first and converts errors.
 *
 * @internal
 * @module
 */

import type { CpuInfo, CudaInfo } from './load.js';

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

export interface NativeAddon {
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
  runOp(
    name: string,
    attrs: Record<string, number | boolean | number[]>,
    inputs: Record<string, NativeHostTensor>,
  ): Promise<Record<string, NativeHostTensor>>;
  opCases(): string[];
}
