/**
 * Device names with a GPU ordinal: `cuda:N` is GPU N among those CUDA makes visible (docs/cuda.md,
 * "Choosing a GPU"). A process works on one GPU: the first `cuda:N` it uses (or `cuda`, which is
 * `cuda:0` unless another was chosen) is its GPU from then on.
 *
 * @module
 */
import { callNative, PfgmError } from '../errors.js';
import { getDeviceInfo, native } from './load.js';

/** `cuda:N`: GPU N (0, 1, ...) among those `CUDA_VISIBLE_DEVICES` leaves visible. */
export type CudaOrdinalName = `cuda:${number}`;

/**
 * The ordinal of a `cuda:N` name, or undefined for any other string. A name that starts with
 * `cuda:` but has no plain decimal ordinal after it is an `ERR_PFGM_DEVICE` error.
 */
export function cudaOrdinal(device: unknown): number | undefined {
  if (typeof device !== 'string' || !device.startsWith('cuda:')) return undefined;
  const digits = device.slice(5);
  if (!/^(0|[1-9][0-9]{0,5})$/.test(digits)) {
    throw new PfgmError(
      'ERR_PFGM_DEVICE',
      `unknown device '${device}': name a GPU as cuda:0, cuda:1, ... (or cuda for the process's GPU)`,
    );
  }
  return Number(digits);
}

/**
 * Makes GPU `ordinal` the process's GPU. `ERR_PFGM_DEVICE` when the CUDA build or a GPU is missing,
 * when the machine has no GPU of that ordinal (the message says how many there are), or when the
 * process already works on another GPU.
 */
export function selectCudaDevice(ordinal: number): void {
  const info = getDeviceInfo();
  const name = `cuda:${ordinal}`;
  if (info.backend !== 'cuda' || !info.cuda.available) {
    throw new PfgmError(
      'ERR_PFGM_DEVICE',
      `device '${name}' is not available (${info.cuda.reason}); use device 'cpu' or 'auto'`,
    );
  }
  const n = info.cuda.deviceCount;
  if (ordinal >= n) {
    const which = n === 1 ? 'cuda:0' : `cuda:0 to cuda:${n - 1}`;
    throw new PfgmError(
      'ERR_PFGM_DEVICE',
      `device '${name}' does not exist: this machine has ${n} CUDA device${n === 1 ? '' : 's'} (${which}) ` +
        'among those CUDA_VISIBLE_DEVICES leaves visible (docs/cuda.md)',
    );
  }
  callNative(() => native().selectCudaDevice(ordinal));
}
