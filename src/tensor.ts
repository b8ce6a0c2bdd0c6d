/**
 * Device-resident tensors. A {@link Tensor} is a handle to memory on the CPU or a GPU; reading it
 * back is asynchronous (`await t.data()`), and `dispose()` (or `using`) frees it at once. A
 * finalizer frees tensors nobody disposed, but only when the garbage collector gets to them.
 *
 * @module
 */
import { type CudaOrdinalName, cudaOrdinal, selectCudaDevice } from './addon/devices.js';
import { type DeviceName, getDeviceInfo, native } from './addon/load.js';
import type { NativeTensor } from './addon/native.js';
import { awaitNative, callNative, PfgmError } from './errors.js';

/** Element types: 32- and 64-bit floats, 32-bit ints, bytes. */
export type DType = 'f32' | 'f64' | 'i32' | 'u8';

/** The typed array that holds each {@link DType}. */
export interface TypedArrayFor {
  /** 32-bit floats. */
  f32: Float32Array;
  /** 64-bit floats. */
  f64: Float64Array;
  /** 32-bit signed integers. */
  i32: Int32Array;
  /** Bytes (images). */
  u8: Uint8Array;
}

/** Any typed array a tensor can be made from. */
export type TensorData = TypedArrayFor[DType];

/** The {@link DType} of a typed array type. */
export type DTypeOf<A extends TensorData> = A extends Float32Array
  ? 'f32'
  : A extends Float64Array
    ? 'f64'
    : A extends Int32Array
      ? 'i32'
      : 'u8';

/**
 * Where a tensor or a network lives: `auto` is the default device of the loaded backend; `cuda:N`
 * picks GPU N (docs/cuda.md, "Choosing a GPU": one GPU per process), and `cuda` is the process's GPU
 * (`cuda:0` unless another was chosen).
 */
export type DeviceOption = DeviceName | 'auto' | CudaOrdinalName;

/** Options of {@link tensor}. */
export interface TensorOptions {
  /** Where the tensor lives (default `auto`: the GPU when pfgm uses one, else the CPU). */
  device?: DeviceOption;
}

/** Resolves `auto` and checks that a named device is available. @internal */
export function resolveDevice(device: DeviceOption | undefined): DeviceName {
  const info = getDeviceInfo();
  const ordinal = cudaOrdinal(device);
  if (ordinal !== undefined) {
    selectCudaDevice(ordinal);
    return 'cuda';
  }
  const chosen = device === undefined || device === 'auto' ? info.defaultDevice : device;
  if (chosen !== 'cpu' && chosen !== 'cuda') {
    throw new PfgmError('ERR_PFGM_DEVICE', `unknown device '${String(device)}': use cpu, cuda, cuda:N or auto`);
  }
  if (chosen === 'cuda' && info.backend !== 'cuda') {
    throw new PfgmError(
      'ERR_PFGM_DEVICE',
      `device 'cuda' is not available (${info.cuda.reason}); use device 'cpu' or 'auto'`,
    );
  }
  return chosen;
}

/** A tensor on a device. Create one with {@link tensor}. */
export class Tensor<T extends DType = DType> implements Disposable {
  /** The dimensions, outermost first. */
  readonly shape: readonly number[];
  /** The element type. */
  readonly dtype: T;
  /** Where the data live. */
  readonly device: DeviceName;
  #handle: NativeTensor | undefined;

  /** @internal Wraps a native handle; use {@link tensor} to create tensors. */
  constructor(handle: NativeTensor) {
    this.#handle = handle;
    this.shape = Object.freeze(handle.shape());
    this.dtype = handle.dtype() as T;
    this.device = handle.device() as DeviceName;
  }

  /** The number of elements. */
  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** Whether {@link dispose} was called. */
  get disposed(): boolean {
    return this.#handle === undefined;
  }

  /** @internal The live native handle, or a coded error if the tensor was disposed. */
  handle(): NativeTensor {
    if (this.#handle === undefined) {
      throw new PfgmError(
        'ERR_PFGM_DISPOSED',
        `this ${this.dtype} tensor of shape [${this.shape.join(', ')}] was disposed and can no longer be used`,
      );
    }
    return this.#handle;
  }

  /** Copies the elements, row-major, into a new typed array (from the GPU when on `cuda`). */
  async data(): Promise<TypedArrayFor[T]> {
    const handle = this.handle();
    return (await awaitNative(() => handle.read())) as TypedArrayFor[T];
  }

  /** Frees the memory now. Safe to call twice; operations already running finish first. */
  dispose(): void {
    this.#handle?.dispose();
    this.#handle = undefined;
  }

  /** Same as {@link dispose}, for `using t = ...`. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** A short description, e.g. `Tensor<f32>[64, 1, 28, 28] on cpu`. */
  toString(): string {
    return `Tensor<${this.dtype}>[${this.shape.join(', ')}] on ${this.device}${this.disposed ? ' (disposed)' : ''}`;
  }
}

function dtypeOf(data: unknown): DType | undefined {
  if (data instanceof Float32Array) return 'f32';
  if (data instanceof Float64Array) return 'f64';
  if (data instanceof Int32Array) return 'i32';
  if (data instanceof Uint8Array) return 'u8';
  return undefined;
}

/** Checks a shape: non-negative integer dimensions. @internal */
export function checkShape(shape: readonly number[], what: string): number[] {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new PfgmError(
      'ERR_PFGM_SHAPE',
      `${what} must be an array of non-negative integers, got ${JSON.stringify(shape)}`,
    );
  }
  return [...shape];
}

/**
 * Creates a tensor from a typed array. The element type follows the array (Float32Array -> f32,
 * Float64Array -> f64, Int32Array -> i32, Uint8Array -> u8).
 *
 * @param data - the elements, row-major
 * @param shape - the dimensions (default: one dimension of `data.length`)
 * @param options - where the tensor lives
 * @throws {@link PfgmError} `ERR_PFGM_SHAPE` if the shape does not hold `data.length` elements,
 *   `ERR_PFGM_DTYPE` for other arrays, `ERR_PFGM_DEVICE` for a device that is not available.
 *
 * @example
 * ```ts
 * const y = tensor(new Float32Array(64 * 784), [64, 1, 28, 28]);
 * ```
 */
export function tensor<A extends TensorData>(
  data: A,
  shape?: readonly number[],
  options: TensorOptions = {},
): Tensor<DTypeOf<A>> {
  const dtype = dtypeOf(data);
  if (dtype === undefined) {
    throw new PfgmError(
      'ERR_PFGM_DTYPE',
      'tensor() takes a Float32Array, Float64Array, Int32Array or Uint8Array; convert plain arrays first, e.g. Float32Array.from(values)',
    );
  }
  const dims = checkShape(shape ?? [data.length], 'shape');
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== data.length) {
    throw new PfgmError(
      'ERR_PFGM_SHAPE',
      `shape [${dims.join(', ')}] holds ${count} elements but the array has ${data.length}`,
    );
  }
  const device = resolveDevice(options.device);
  return new Tensor(callNative(() => native().createTensor(data, dims, dtype, device)));
}
