// Whether the loaded addon can run test/gpu's whole networks: a usable CUDA device (or the CUDA
// emulator offered as one) with cuDNN and cuBLAS. The files skip themselves otherwise.
import { getDeviceInfo } from '../../src/index.js';

export const gpuReady: boolean = (() => {
  try {
    const info = getDeviceInfo();
    return info.backend === 'cuda' && info.cuda.available && info.cuda.cudnn && info.cuda.cublas;
  } catch {
    return false;
  }
})();
