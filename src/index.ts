/**
 * pfgm: Poisson Flow generative models for Node.js — PFGM (D = 1), PFGM++ (any D > 0) and
 * EDM-style diffusion (D = Infinity) over a native C++/CUDA engine.
 *
 * @packageDocumentation
 */
export { type CpuInfo, type CudaInfo, type DeviceInfo, type DeviceName, getDeviceInfo } from './addon/load.js';
export { type Batch, type Dataset, type DatasetInfo, sampleSize } from './data/dataset.js';
export { PfgmError, type PfgmErrorCode } from './errors.js';
export {
  decodeSafetensors,
  encodeSafetensors,
  type SafetensorsDtype,
  type SafetensorsEntry,
  type SafetensorsFile,
} from './io/safetensors.js';
export {
  fromNativeConfig,
  type MlpConfig,
  type NetworkConfig,
  type PresetName,
  preset,
  presetNames,
  type SongUNetConfig,
  toNativeConfig,
  validateNetworkConfig,
} from './models/config.js';
export {
  type BatchLabels,
  type CreateNetworkOptions,
  createNetwork,
  Network,
  type OptimizerOptions,
  type OptimizerState,
  type ParameterInfo,
  type TrainCounters,
  type TrainStepOptions,
  type TrainStepResult,
  type WeightSet,
} from './models/network.js';
export * from './physics/index.js';
export {
  type DeviceOption,
  type DType,
  type DTypeOf,
  Tensor,
  type TensorData,
  type TensorOptions,
  type TypedArrayFor,
  tensor,
} from './tensor.js';
export { VERSION } from './version.js';
