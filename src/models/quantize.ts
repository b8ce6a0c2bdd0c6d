/**
 * Post-training weight quantization, as in the robustness study of PFGM++ (Sec. 6; docs/method.md §4 (c)):
 * every parameter tensor is rounded, on its own, to one of 2^b evenly spaced levels from its
 * minimum to its maximum (uniform per-tensor min-max quantization), and the network then runs on
 * those values in float32. This simulates b-bit weight storage; it does not make the network
 * faster or smaller in memory.
 *
 * @module
 */

import { PfgmError } from '../errors.js';
import type { Network, WeightSet } from './network.js';

function checkBits(what: string, bits: number): void {
  if (!Number.isInteger(bits) || bits < 1 || bits > 16) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `${what}: bits must be an integer from 1 to 16 (2 to 65536 levels per tensor), got ${String(bits)}`,
    );
  }
}

/** What quantizing one tensor did (see {@link quantizeTensor}). */
export interface TensorQuantization {
  /** The tensor's smallest value (the lowest level). */
  min: number;
  /** The tensor's largest value (the highest level). */
  max: number;
  /** Distance between levels, (max - min) / (2^bits - 1); 0 for a constant tensor. */
  step: number;
  /** Largest |quantized - original| over the tensor (at most step / 2, up to float32 rounding). */
  maxError: number;
}

/** A quantized tensor and what quantizing did (see {@link quantizeTensorWithStats}). */
export interface QuantizedTensor extends TensorQuantization {
  /** The quantized values (a new array). */
  values: Float32Array;
}

/**
 * Quantizes a tensor and reports what it did: each value v becomes
 * `min + round((v - min) / step) * step` (computed in float64, stored as float32) with
 * `step = (max - min) / (2^bits - 1)`, so the result has at most 2^bits distinct values, min and
 * max among them, and quantizing it again changes nothing. A constant tensor (max = min) and an
 * empty one are returned as they are.
 *
 * @param data - the tensor's values
 * @param bits - bits per value, 1 to 16
 * @returns the quantized copy and its statistics
 * @throws PfgmError `ERR_PFGM_ARGUMENT` for bits outside 1..16 or a value that is NaN or
 *   infinite; `ERR_PFGM_DTYPE` when data is not a Float32Array
 */
export function quantizeTensorWithStats(data: Float32Array, bits: number): QuantizedTensor {
  checkBits('quantizeTensor', bits);
  if (!(data instanceof Float32Array)) {
    throw new PfgmError('ERR_PFGM_DTYPE', `quantizeTensor: data must be a Float32Array, got ${typeof data}`);
  }
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < data.length; i++) {
    const v = data[i] as number;
    if (!Number.isFinite(v)) {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `quantizeTensor: value ${i} is ${v}; min-max quantization needs finite weights (was training diverging?)`,
      );
    }
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const values = data.slice();
  if (data.length === 0 || min === max) {
    return { values, min: data.length === 0 ? 0 : min, max: data.length === 0 ? 0 : max, step: 0, maxError: 0 };
  }
  const levels = 2 ** bits - 1; // intervals between the 2^bits levels
  const step = (max - min) / levels;
  let maxError = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i] as number;
    const k = Math.round((v - min) / step);
    // k = levels gives max exactly after float32 rounding (the float64 sum is within 1e-16 of it).
    values[i] = min + k * step;
    const e = Math.abs((values[i] as number) - v);
    if (e > maxError) maxError = e;
  }
  return { values, min, max, step, maxError };
}

/**
 * Uniform per-tensor min-max quantization to `bits` bits (PFGM++ Sec. 6; docs/method.md §4 (c)): each
 * value is rounded to the nearest of 2^bits evenly spaced levels from the tensor's minimum to its
 * maximum. A constant tensor stays as it is. See {@link quantizeTensorWithStats} for the details.
 *
 * @example
 * ```ts
 * quantizeTensor(Float32Array.of(0, 0.2, 0.7, 1), 1); // Float32Array [0, 0, 1, 1]
 * ```
 * @param data - the tensor's values
 * @param bits - bits per value, 1 to 16
 * @returns a quantized copy
 * @throws PfgmError as {@link quantizeTensorWithStats} does
 */
export function quantizeTensor(data: Float32Array, bits: number): Float32Array {
  return quantizeTensorWithStats(data, bits).values;
}

/** Options of {@link quantizeWeights}. */
export interface QuantizeWeightsOptions {
  /**
   * Which weights to quantize: the EMA weights (what sampling uses by default), the raw trained
   * weights, or both, each set from its own minimum and maximum (default `both`).
   */
  weights?: WeightSet | 'both';
}

/** What {@link quantizeWeights} did to one parameter tensor of one weight set. */
export interface QuantizedTensorReport extends TensorQuantization {
  /** The tensor's state-dict name (e.g. `enc.28x28_conv.weight`). */
  name: string;
  /** The weight set it belongs to. */
  weights: WeightSet;
  /** Its number of values. */
  numel: number;
}

/**
 * Quantizes every parameter tensor of a network in place (uniform per-tensor min-max to `bits`
 * bits, {@link quantizeTensor}): weights, biases, normalisation scales and embeddings alike, as in
 * PFGM++ Sec. 6. Non-trainable buffers (the Fourier frequencies of NCSN++'s noise embedding) are
 * left as they are. Reads and writes the weights through {@link Network.stateDict} and
 * {@link Network.loadStateDict}; keep a copy (`net.flatWeights()`) to undo it.
 *
 * @example
 * ```ts
 * const saved = net.flatWeights();
 * const report = quantizeWeights(net, 8, { weights: 'ema' });
 * const worst = Math.max(...report.map((t) => t.maxError / t.step)); // <= 0.5
 * // ... sample with the 8-bit network ...
 * net.loadFlatWeights(saved);
 * ```
 * @param net - the network (modified in place)
 * @param bits - bits per value, 1 to 16
 * @param options - which weight set(s) to quantize
 * @returns one entry per parameter tensor and weight set, in parameter order (raw before EMA)
 * @throws PfgmError `ERR_PFGM_ARGUMENT` for bits outside 1..16, an unknown weight set or a
 *   non-finite weight (naming the tensor); `ERR_PFGM_DISPOSED` for a disposed network
 */
export function quantizeWeights(
  net: Network,
  bits: number,
  options: QuantizeWeightsOptions = {},
): QuantizedTensorReport[] {
  checkBits('quantizeWeights', bits);
  const which = options.weights ?? 'both';
  if (which !== 'raw' && which !== 'ema' && which !== 'both') {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `quantizeWeights: weights must be 'ema', 'raw' or 'both', got '${String(which)}'`,
    );
  }
  const sets: WeightSet[] = which === 'both' ? ['raw', 'ema'] : [which];
  const report: QuantizedTensorReport[] = [];
  for (const set of sets) {
    // stateDict holds the parameters and the buffers; loadStateDict needs both back, so the
    // buffers go back unchanged and only the parameter tensors are replaced.
    const tensors = net.stateDict(set);
    for (const p of net.parameters()) {
      const original = tensors.get(p.name) as Float32Array;
      let q: QuantizedTensor;
      try {
        q = quantizeTensorWithStats(original, bits);
      } catch (error) {
        if (error instanceof PfgmError) {
          throw new PfgmError(
            error.code,
            `quantizeWeights: ${set} tensor '${p.name}': ${error.message.replace(/^quantizeTensor: /, '')}`,
            { cause: error },
          );
        }
        throw error;
      }
      tensors.set(p.name, q.values);
      report.push({
        name: p.name,
        weights: set,
        numel: p.numel,
        min: q.min,
        max: q.max,
        step: q.step,
        maxError: q.maxError,
      });
    }
    net.loadStateDict(tensors, set);
  }
  return report;
}
