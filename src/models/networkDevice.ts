/**
 * Which device a network lives on: `auto`, `cpu`, `cuda` or `cuda:N` resolved against what the
 * loaded addon found (docs/cuda.md, "Choosing a GPU").
 *
 * @internal
 * @module
 */
import { cudaOrdinal, selectCudaDevice } from '../addon/devices.js';
import { type DeviceName, getDeviceInfo } from '../addon/load.js';
import { PfgmError } from '../errors.js';
import type { DeviceOption } from '../tensor.js';

/**
 * The device `auto` (or a named device) means for a network: CUDA needs the CUDA build, a usable
 * GPU, and cuDNN and cuBLAS linked in. @internal
 */
export function resolveNetworkDevice(device: DeviceOption | undefined): DeviceName {
  const info = getDeviceInfo();
  const gpuReady = info.backend === 'cuda' && info.cuda.available && info.cuda.cudnn && info.cuda.cublas;
  if (device === undefined || device === 'auto') return gpuReady ? 'cuda' : 'cpu';
  if (device === 'cpu') return 'cpu';
  const ordinal = cudaOrdinal(device);
  if (ordinal === undefined && device !== 'cuda') {
    throw new PfgmError('ERR_PFGM_DEVICE', `unknown device '${String(device)}': use cpu, cuda, cuda:N or auto`);
  }
  if (info.backend !== 'cuda' || !info.cuda.available) {
    throw new PfgmError(
      'ERR_PFGM_DEVICE',
      `device '${device}' is not available (${info.cuda.reason}); use device 'cpu' or 'auto'`,
    );
  }
  const missing = [info.cuda.cudnn ? '' : 'cuDNN', info.cuda.cublas ? '' : 'cuBLAS'].filter(Boolean);
  if (missing.length > 0) {
    throw new PfgmError(
      'ERR_PFGM_DEVICE',
      `device '${device}': this CUDA build was made without ${missing.join(' and ')}, which networks need; ` +
        'install them (pip install nvidia-cudnn-cu13 nvidia-cublas, or set CUDNN_ROOT / CUBLAS_ROOT) and rebuild from source (npx pfgm build), or use device cpu',
    );
  }
  if (ordinal !== undefined) selectCudaDevice(ordinal);
  return 'cuda';
}
