/**
 * pfgm: Poisson Flow generative models for Node.js — PFGM (D = 1), PFGM++ (any D > 0) and
 * EDM-style diffusion (D = Infinity) over a native C++/CUDA engine.
 *
 * @packageDocumentation
 */

export type { CudaOrdinalName } from './addon/devices.js';
export {
  type CollectiveInfo,
  type CollectiveLibraries,
  type CpuInfo,
  type CudaGraphStats,
  type CudaInfo,
  type DeviceInfo,
  type DeviceName,
  getDeviceInfo,
  getGraphStats,
  type NvidiaLibraryInfo,
} from './addon/load.js';
export type { NpyKind } from './codecs/npy.js';
export { encodeNpz, type NpzArray, readNpz } from './codecs/npz.js';
export {
  decodePng,
  type EncodePngOptions,
  encodePng,
  PNG_MAX_PIXELS,
  PNG_MAX_PIXELS_ENV,
  type PngDecodeOptions,
  type PngImage,
  pngPixelLimit,
} from './codecs/png.js';
export {
  decodeSafetensors,
  encodeSafetensors,
  floatValues,
  isFloatDtype,
  type SafetensorsDtype,
  type SafetensorsEntry,
  type SafetensorsFile,
} from './codecs/safetensors.js';
export * from './data/index.js';
export {
  DEFAULT_MASTER_PORT,
  type Env,
  type Launcher,
  type RankEnvironment,
  rankEnvironment,
} from './distributed/env.js';
export {
  type CollectiveBackend,
  type CollectiveBackends,
  collectiveBackends,
  DEFAULT_DISTRIBUTED_TIMEOUT_S,
  DistributedGroup,
  type DistributedOptions,
  initDistributed,
} from './distributed/group.js';
export { PfgmError, type PfgmErrorCode } from './errors.js';
export {
  type ClassifierConfig,
  classifierConfig,
  DEFAULT_CLASSIFIER_CONFIG,
} from './eval/classifier/config.js';
export {
  type ClassifierFeaturesOptions,
  type ClassifierSource,
  classifierExtractor,
  classifierFeatures,
  type ImageMetrics,
  type ImageMetricsOptions,
  imageMetrics,
} from './eval/classifier/metrics.js';
export {
  CLASSIFIER_FORMAT,
  Classifier,
  type ClassifierForwardOptions,
  type ClassifierInfo,
  type ClassifierLoss,
  type ClassifierOutput,
  type ClassifierStepOptions,
  type CreateClassifierOptions,
  createClassifier,
  loadClassifier,
  type ShippedClassifier,
  shippedClassifierPath,
} from './eval/classifier/model.js';
export {
  type ClassifierEvaluation,
  type ClassifierProgress,
  type EvaluateClassifierOptions,
  evaluateClassifier,
  type TrainClassifierOptions,
  trainClassifier,
} from './eval/classifier/train.js';
export { energyDistance, type SlicedOptions, slicedWasserstein } from './eval/distances.js';
export { type FidImages, fid } from './eval/fid.js';
export { RunningStats, readFidStats, writeFidStats } from './eval/fidStats.js';
export {
  type FeatureSet,
  type FeatureStats,
  type FrechetOptions,
  type FrechetTerms,
  featureStats,
  frechetDistance,
  frechetTerms,
  type StatsLike,
  type SymmetricEigen,
  type SymmetricEigenOptions,
  symmetricEigen,
} from './eval/frechet.js';
export {
  createInception,
  INCEPTION_FEATURES,
  INCEPTION_RESOLUTION,
  type InceptionFeaturesOptions,
  type InceptionImageShape,
  type InceptionLoadOptions,
  InceptionNetwork,
  type InceptionTensorInfo,
  inceptionFeatures,
  inceptionTensors,
  loadInception,
} from './eval/inception.js';
export { type KidOptions, type KidResult, kid } from './eval/kid.js';
export { type NllOptions, type NllResult, nll } from './eval/nll.js';
export {
  knnRadii,
  type PrecisionRecall,
  type PrecisionRecallOptions,
  precisionRecall,
} from './eval/precisionRecall.js';
export {
  datasetStats,
  type FeatureExtractor,
  inceptionExtractor,
  type KeepingExtractor,
  keeping,
  type StreamedStats,
  sampledStats,
} from './eval/streamed.js';
export { writeFileAtomic } from './io/atomic.js';
export {
  CHECKPOINT_FORMAT,
  CHECKPOINT_MARKER,
  type CheckpointFileEntry,
  type CheckpointMarker,
} from './models/checkpointMarker.js';
export {
  type DhariwalUNetConfig,
  fromNativeConfig,
  type MlpConfig,
  type NetworkConfig,
  type PresetName,
  parseNetworkConfig,
  preset,
  presetNames,
  type SongUNetConfig,
  toNativeConfig,
  type UNetConfigBase,
  validateNetworkConfig,
} from './models/config.js';
export {
  type LoadedModel,
  type LoadModelOptions,
  loadModel,
  type ModelMeta,
  type SaveModelOptions,
  saveModel,
} from './models/modelFile.js';
export {
  type BatchLabels,
  type CreateNetworkOptions,
  createNetwork,
  type DataParallelStepOptions,
  type FlatWeights,
  Network,
  type Objective,
  type OptimizerOptions,
  type OptimizerState,
  type ParameterInfo,
  type PfgmSettings,
  type PfgmStepOptions,
  type Precision,
  type TrainCounters,
  type TrainStepOptions,
  type TrainStepResult,
  type VjpResult,
  type WeightSet,
} from './models/network.js';
export { MODEL_FORMAT, type SavedFile, TRAINING_STATE_FORMAT } from './models/pfgmFiles.js';
export {
  type QuantizedTensor,
  type QuantizedTensorReport,
  type QuantizeWeightsOptions,
  quantizeTensor,
  quantizeTensorWithStats,
  quantizeWeights,
  type TensorQuantization,
} from './models/quantize.js';
export { type ShippedModel, shippedModelNames, shippedModelPath } from './models/shippedModels.js';
export * from './physics/index.js';
export {
  type CliTrainDefaults,
  checkRunLength,
  MAX_RUN_LENGTH,
  type NetworkDefaults,
  type PerDataKind,
  type PfgmDefaults,
  type ResolvedPfgmTrainOptions,
  type ResolvedTrainOptions,
  type ResolveTrainContext,
  resolveTrainOptions,
  type StepDefaults,
  TRAIN_DEFAULTS,
  type TrainDefaults,
  type TrainerDefaults,
  type TrainOptions,
} from './physics/trainOptions.js';
export { dpmSolver2M } from './sample/dpmSolver2M.js';
export { dpmSolver3M } from './sample/dpmSolver3M.js';
export { euler } from './sample/euler.js';
export { type ChurnOptions, type HeunOptions, heun, type NoiseInjectionOptions } from './sample/heun.js';
export { IdealDenoiser, type IdealDenoiserOptions, idealDenoiser } from './sample/ideal.js';
export { type IpndmOptions, ipndm } from './sample/ipndm.js';
export { type PfgmSampleOptions, type PfgmSampleResult, pfgmSample, zDrift } from './sample/pfgmOde.js';
export { type Rk45Options, rk45 } from './sample/rk45.js';
export { type SampleOptions, sample } from './sample/sample.js';
export {
  type SampleRequest,
  Sampler,
  type SamplerOptions,
  type SamplerStats,
} from './sample/sampler.js';
export { type SolverName, solverNames, solverNfe, solvers } from './sample/solvers.js';
export {
  bytesPerSample,
  defaultBatch,
  type SampleBatch,
  type SampleStreamOptions,
  sampleStream,
} from './sample/stream.js';
export type {
  DenoiseFn,
  DenoiseOptions,
  Sampleable,
  SampleResult,
  Solver,
  SolverOptions,
  StepInfo,
} from './sample/types.js';
export {
  type EncodedSamples,
  encodeSamples,
  HttpError,
  type HttpErrorBody,
  isImageShape,
  parseSamplesBody,
  type RequestLimits,
  type SamplesFormat,
  type SamplesRequest,
  samplesFormats,
  servedShape,
} from './serve/request.js';
export { isLoopback, SampleServer, type SampleServerOptions, type ServerAddress } from './serve/server.js';
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
export {
  type CheckpointStage,
  LATEST_MODEL,
  type LoadCheckpointOptions,
  type LoadedCheckpoint,
  loadCheckpoint,
  type SaveCheckpointOptions,
  saveCheckpoint,
  verifyCheckpoint,
} from './train/checkpoint.js';
export {
  activationBytesPerSample,
  availableMemory,
  checkTrainingMemory,
  MEMORY_ENV,
  type TrainingMemory,
  type TrainingShape,
  trainingMemory,
} from './train/memory.js';
export {
  type OverriddenOption,
  type PfgmTrainOptions,
  type ResumedTrainOptions,
  type RunOptions,
  resumedTrainOptions,
  type TickStats,
  Trainer,
  type TrainerOptions,
  type TrainerState,
} from './train/trainer.js';
export { loadTrainingState, saveTrainingState } from './train/trainingState.js';
export { VERSION } from './version.js';
