/**
 * How much memory a training batch needs, estimated before anything is allocated, so that a
 * batch far too large for the machine is refused at once with the largest one that fits instead
 * of reading data for minutes and then failing (or being killed) for lack of memory.
 *
 * The estimate is deliberately simple: per sample, the activations a step keeps for its backward
 * pass (from the network's configuration: every layer's output and the tensors of its backward
 * pass, at float32) plus the sample itself (the batch being trained, the one read ahead, and the
 * step's perturbed input, target and output); once, the parameters with their gradient, EMA and
 * Adam moments.
 *
 * @module
 */
import { freemem } from 'node:os';
import { getDeviceInfo } from '../addon/load.js';
import { PfgmError } from '../errors.js';
import type { NetworkConfig } from '../models/config.js';
import type { Network } from '../models/network.js';

/**
 * Environment variable that sets the memory a batch may use, in bytes (default: the system's
 * free memory, `os.freemem()`); `0` turns the check off.
 */
export const MEMORY_ENV = 'PFGM_MEMORY_BYTES';

const F32 = 4;
// A value kept for the backward pass, and its gradient.
const KEPT_PER_VALUE = 2;

/**
 * Estimated bytes of activations one sample needs in a training step of a network with this
 * configuration (forward values kept for the backward pass, and their gradients).
 */
export function activationBytesPerSample(config: NetworkConfig): number {
  if (config.kind === 'mlp') {
    const perBlock = 4 * config.hidden;
    const values =
      3 * config.features +
      config.numBlocks * perBlock +
      2 * config.hidden +
      3 * config.embChannels +
      config.noiseChannels;
    return values * F32 * KEPT_PER_VALUE;
  }
  let values = config.inChannels * config.imgResolution ** 2 * 4;
  config.channelMult.forEach((mult, level) => {
    const r = config.imgResolution >> level;
    const c = config.modelChannels * mult;
    // Encoder blocks, decoder blocks (one more, on concatenated skips) and the resampling block.
    const blocks = 2 * config.numBlocks + 2;
    values += blocks * 4 * c * r * r;
    if (config.attnResolutions.includes(r)) {
      const heads = Math.max(1, Math.floor(c / 64));
      values += blocks * (heads * r ** 4 + 4 * c * r * r);
    }
  });
  values += 4 * config.modelChannels * config.channelMultEmb;
  return values * F32 * KEPT_PER_VALUE;
}

/** What one training step holds in memory, by {@link trainingMemory}. */
export interface TrainingMemory {
  /** Estimated bytes in total. */
  bytes: number;
  /**
   * Of which on the network's device when that is a GPU (activations, parameters and the step's
   * tensors); 0 on the CPU, where everything counts as host memory.
   */
  deviceBytes: number;
  /** The network's activations per sample of a (micro-)batch. */
  activationsPerSample: number;
  /** The bytes of one sample of data (with its labels) as read and trained. */
  dataPerSample: number;
  /** The parameters with their gradient, EMA and Adam moments. */
  parameters: number;
}

/** The shape of a training step that {@link trainingMemory} sizes. */
export interface TrainingShape {
  /** Samples per step. */
  batch: number;
  /** Gradient accumulation chunk (0: the whole batch at once). */
  microBatch: number;
  /** Samples read per step (the pfgm objective reads its large reference batch). */
  readCount: number;
}

/** Estimated memory of one training step of `net` (see the module notes). */
export function trainingMemory(net: Network, shape: TrainingShape): TrainingMemory {
  const activationsPerSample = activationBytesPerSample(net.config);
  const dataPerSample = (net.sampleSize + net.labelDim) * F32;
  const parameters = net.paramCount * F32 * 5;
  const chunk = shape.microBatch > 0 ? Math.min(shape.microBatch, shape.batch) : shape.batch;
  // Two batches of data as read (the one trained and the one read ahead) on the host; the step's
  // perturbed input, target and output of the whole batch, the activations of a chunk and the
  // parameters where the network lives.
  const read = 2 * shape.readCount * dataPerSample;
  const step = 3 * shape.batch * dataPerSample + chunk * activationsPerSample + parameters;
  const gpu = net.device === 'cuda';
  return {
    bytes: read + step,
    deviceBytes: gpu ? step : 0,
    activationsPerSample,
    dataPerSample,
    parameters,
  };
}

/** The memory a batch may use: `PFGM_MEMORY_BYTES`, else the system's free memory. */
export function availableMemory(): number {
  const text = process.env[MEMORY_ENV];
  if (text !== undefined && text.trim() !== '') {
    const v = Number(text);
    if (!Number.isFinite(v) || v < 0)
      throw new PfgmError('ERR_PFGM_ARGUMENT', `${MEMORY_ENV} must be a number of bytes >= 0, got '${text}'`);
    return v === 0 ? Number.POSITIVE_INFINITY : v;
  }
  return freemem();
}

/** Bytes as text: `1.5 GB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = bytes;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v >= 100 || u === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[u]}`;
}

/**
 * Refuses a training step whose estimated memory ({@link trainingMemory}) exceeds the available
 * memory ({@link availableMemory}; on a GPU, the step's tensors are checked against the GPU's
 * memory), naming the largest batch that fits.
 *
 * @param net - the network to train
 * @param shape - the batch, the micro-batch, and the samples read per step for a batch of a given
 *   size (the pfgm objective reads its reference batch whole)
 * @param options - the memory available and how options are named
 * @throws PfgmError `ERR_PFGM_OUT_OF_MEMORY` when it does not fit.
 */
export function checkTrainingMemory(
  net: Network,
  shape: { batch: number; microBatch: number; readCount: (batch: number) => number },
  options: {
    /** The memory available (default {@link availableMemory}). */
    available?: number;
    /** How the message names an option (default: its name, `batch` or `microBatch`). */
    label?: (option: string) => string;
  } = {},
): void {
  const available = options.available ?? availableMemory();
  const name = options.label ?? ((option: string) => option);
  const need = (batch: number) =>
    trainingMemory(net, { batch, microBatch: shape.microBatch, readCount: shape.readCount(batch) });
  // On a GPU the step's tensors are checked against the GPU's memory, the data against the host's.
  // A device that reports no memory size (0 or absent: a test device, an old driver) is not checked.
  const reported = net.device === 'cuda' ? getDeviceInfo().cuda.memoryBytes : undefined;
  const gpuMemory = reported !== undefined && reported > 0 ? reported : undefined;
  const fits = (m: TrainingMemory) =>
    m.bytes - m.deviceBytes <= available && (gpuMemory === undefined || m.deviceBytes <= gpuMemory);
  const m = need(shape.batch);
  if (fits(m)) return;
  let lo = 0;
  let hi = shape.batch;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (fits(need(mid))) lo = mid;
    else hi = mid;
  }
  const onGpu = gpuMemory !== undefined && m.deviceBytes > gpuMemory;
  const have = onGpu ? `the GPU has ${formatBytes(gpuMemory)}` : `${formatBytes(available)} is available`;
  const what = `a batch of ${shape.batch} needs about ${formatBytes(onGpu ? m.deviceBytes : m.bytes)} of ${onGpu ? 'GPU ' : ''}memory to train (activations about ${formatBytes(m.activationsPerSample)} per sample${shape.microBatch > 0 ? ' of a micro-batch' : ''}, data ${formatBytes(m.dataPerSample)} per sample, parameters ${formatBytes(m.parameters)}) but ${have}`;
  const fix =
    lo >= 1
      ? `the largest batch that fits is ${lo}: lower ${name('batch')} to ${lo} or less${shape.microBatch > 0 ? '' : `, or set ${name('microBatch')} to accumulate gradients over smaller chunks`}`
      : 'not even a batch of 1 fits: use a smaller network or free memory';
  throw new PfgmError('ERR_PFGM_OUT_OF_MEMORY', `${what}; ${fix} (${MEMORY_ENV} sets the limit)`);
}
