// Whether the loaded addon can run test/gpu's whole networks: a usable CUDA device (or the CUDA
// emulator offered as one) with cuDNN and cuBLAS. The files skip themselves otherwise.
import { getDeviceInfo, type NetworkConfig, preset } from '../../src/index.js';

export const gpuReady: boolean = (() => {
  try {
    const info = getDeviceInfo();
    return info.backend === 'cuda' && info.cuda.available && info.cuda.cudnn && info.cuda.cublas;
  } catch {
    return false;
  }
})();

/**
 * The graph tests' U-Net: ddpmpp-small's blocks at 8x8 with two channels, attention at 4x4 and
 * three classes, small enough for the CUDA emulator; `overrides` as preset() takes them.
 */
export function tinyUnet(overrides: Parameters<typeof preset>[1] = {}): NetworkConfig {
  return preset('ddpmpp-small', {
    imgResolution: 8,
    inChannels: 2,
    outChannels: 2,
    modelChannels: 8,
    channelMult: [1, 2],
    numBlocks: 1,
    attnResolutions: [4],
    labelDim: 3,
    ...overrides,
  });
}
