/**
 * Inception-v3 features for the Fréchet Inception Distance (FID): the network of pytorch-fid
 * (mseitzer/pytorch-fid, TensorFlow's 2015-12-05 weights), built from the engine's own ops and run
 * on the device a network would use: CUDA where the CUDA build has a usable GPU (in fp32), else the
 * CPU (`PFGM_DEVICE=cpu` or `{ device: 'cpu' }` forces it). Images of any size are resized to
 * 299×299 (bilinear, align_corners=False) inside the network, and each gives the 2048 "pool3"
 * features of the final average pool. The weights are not shipped: convert pytorch-fid's
 * `pt_inception-2015-12-05-6726825d.pth` once with `scripts/convert-inception.py` (docs/fid.md).
 *
 * @example
 * ```ts
 * using inception = await loadInception('inception-fid.safetensors');
 * const real = await inceptionFeatures(inception, images, { count: 64, channels: 1, height: 28, width: 28 });
 * // real: Float32Array [64, 2048]
 * ```
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import type { DeviceName } from '../addon/deviceInfo.js';
import { native } from '../addon/load.js';
import type { NativeInception } from '../addon/native.js';
import { decodeSafetensors, type SafetensorsFile } from '../codecs/safetensors.js';
import { awaitNative, callNative, PfgmError, type PfgmErrorCode } from '../errors.js';
import { resolveNetworkDevice } from '../models/networkDevice.js';
import type { DeviceOption } from '../tensor.js';
import { checkInteger } from '../validate.js';

/** Features per image: the width of Inception-v3's final average pool ("pool3"). */
export const INCEPTION_FEATURES = 2048;

/** The side the network resizes every image to. */
export const INCEPTION_RESOLUTION = 299;

/** One tensor the network reads: pytorch-fid's state-dict name and PyTorch shape. */
export interface InceptionTensorInfo {
  /** e.g. `Mixed_6b.branch7x7_2.conv.weight` or `Conv2d_1a_3x3.bn.running_var`. */
  readonly name: string;
  /** PyTorch shape: `[out, in, kh, kw]` for convolutions, `[channels]` for batch norms. */
  readonly shape: readonly number[];
}

/** How an array of images is laid out: `[count, channels, height, width]`, PyTorch's NCHW. */
export interface InceptionImageShape {
  /** Number of images. */
  count: number;
  /** 1 (grayscale, repeated to RGB as pytorch-fid's users do) or 3 (RGB). */
  channels: number;
  /** Height in pixels (any; resized to 299 inside the network). */
  height: number;
  /** Width in pixels (any; resized to 299 inside the network). */
  width: number;
}

/** Options of {@link loadInception} and {@link createInception}. */
export interface InceptionLoadOptions {
  /**
   * Where the network runs: `'auto'` (default) picks CUDA when a network would (the CUDA build, a
   * usable GPU, cuDNN and cuBLAS linked in; `PFGM_DEVICE=cpu` forces the CPU), `'cpu'` or `'cuda'`
   * name one. On CUDA the convolutions run in fp32 (docs/cuda.md, "FID's Inception").
   */
  device?: DeviceOption;
}

/** Options of {@link inceptionFeatures} and {@link InceptionNetwork.features}. */
export interface InceptionFeaturesOptions extends InceptionImageShape {
  /**
   * Images per native call (default 8 on the CPU, 64 on CUDA); each image of a batch needs about
   * 18 MB of activations, in the GPU's memory on CUDA.
   */
  batchSize?: number;
  /** Stops between batches; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Called after each batch with the number of images done and the total. */
  onProgress?: (done: number, total: number) => void;
}

const HOW_TO_CONVERT =
  "convert pytorch-fid's FID weights (pt_inception-2015-12-05-6726825d.pth, from " +
  'https://github.com/mseitzer/pytorch-fid/releases/tag/fid_weights) with ' +
  '`python3 scripts/convert-inception.py pt_inception-2015-12-05-6726825d.pth inception-fid.safetensors` ' +
  '(docs/fid.md)';

let tensorList: InceptionTensorInfo[] | undefined;

/**
 * Every tensor the network reads, in pytorch-fid's state-dict order: 94 convolutions, each with
 * `conv.weight` and the batch norm's `bn.weight`, `bn.bias`, `bn.running_mean`, `bn.running_var`
 * (470 tensors; the classifier `fc.*` is not needed).
 */
export function inceptionTensors(): InceptionTensorInfo[] {
  tensorList ??= callNative(() => native().Inception.tensors());
  return tensorList.map((t) => ({ name: t.name, shape: [...t.shape] }));
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Checks names, sizes and element types, and returns exactly the tensors the network reads. */
function pickWeights(
  lookup: (name: string) => { shape?: readonly number[]; data: unknown } | undefined,
  code: PfgmErrorCode,
  where: string,
): Record<string, Float32Array> {
  const picked: Record<string, Float32Array> = {};
  const missing: string[] = [];
  for (const t of inceptionTensors()) {
    const found = lookup(t.name);
    if (found === undefined) {
      missing.push(t.name);
      continue;
    }
    const data = found.data;
    let values: Float32Array;
    if (data instanceof Float32Array) values = data;
    else if (data instanceof Float64Array) values = Float32Array.from(data);
    else {
      throw new PfgmError(code, `${where}: tensor '${t.name}' is not float32 or float64; ${HOW_TO_CONVERT}`);
    }
    const numel = t.shape.reduce((a, b) => a * b, 1);
    const shapeOk = found.shape === undefined || shapeText(found.shape) === shapeText(t.shape);
    if (!shapeOk || values.length !== numel) {
      const got = found.shape !== undefined ? `shape ${shapeText(found.shape)}` : `${values.length} values`;
      throw new PfgmError(
        code,
        `${where}: tensor '${t.name}' has ${got}, expected ${shapeText(t.shape)}: these are not the FID ` +
          `Inception-v3 weights; ${HOW_TO_CONVERT}`,
      );
    }
    picked[t.name] = values;
  }
  if (missing.length > 0) {
    const total = inceptionTensors().length;
    throw new PfgmError(
      code,
      `${where}: ${missing.length} of the ${total} Inception tensors are missing (e.g. ` +
        `${missing
          .slice(0, 3)
          .map((m) => `'${m}'`)
          .join(', ')}); ${HOW_TO_CONVERT}`,
    );
  }
  return picked;
}

/**
 * The FID Inception-v3 with its weights, on the CPU engine or on CUDA ({@link InceptionNetwork.device}).
 * Make one with {@link loadInception} or {@link createInception}; free it with
 * {@link InceptionNetwork.dispose} (or `using`).
 */
export class InceptionNetwork {
  /** Features per image (2048). */
  readonly featureDim: number = INCEPTION_FEATURES;
  /** Where the network runs: `'cpu'` (oneDNN) or `'cuda'` (fp32). */
  readonly device: DeviceName;
  #native: NativeInception | undefined;

  /** @internal */
  constructor(handle: NativeInception, device: DeviceName) {
    this.#native = handle;
    this.device = device;
  }

  /** Whether {@link InceptionNetwork.dispose} was called. */
  get disposed(): boolean {
    return this.#native === undefined;
  }

  /**
   * The 2048 features of each image, `[count, 2048]` row-major; see {@link inceptionFeatures}.
   *
   * @throws PfgmError `ERR_PFGM_ARGUMENT`, `ERR_PFGM_SHAPE` or `ERR_PFGM_DTYPE` naming the bad
   *   argument; `ERR_PFGM_DISPOSED` after {@link InceptionNetwork.dispose}.
   */
  async features(images: Float32Array, options: InceptionFeaturesOptions): Promise<Float32Array> {
    if (!(images instanceof Float32Array)) {
      throw new PfgmError('ERR_PFGM_DTYPE', 'inceptionFeatures: images must be a Float32Array [count, C, H, W]');
    }
    const count = checkInteger('inceptionFeatures: count', options.count, 0);
    const channels = checkInteger('inceptionFeatures: channels', options.channels, 1, 3);
    if (channels === 2) {
      throw new PfgmError('ERR_PFGM_ARGUMENT', 'inceptionFeatures: channels must be 1 (grayscale) or 3 (RGB), got 2');
    }
    const height = checkInteger('inceptionFeatures: height', options.height, 1, 65536);
    const width = checkInteger('inceptionFeatures: width', options.width, 1, 65536);
    const batchSize = checkInteger(
      'inceptionFeatures: batchSize',
      options.batchSize ?? (this.device === 'cuda' ? 64 : 8),
      1,
      4096,
    );
    const per = channels * height * width;
    if (images.length !== count * per) {
      throw new PfgmError(
        'ERR_PFGM_SHAPE',
        `inceptionFeatures: images has ${images.length} values, expected count * channels * height * width = ` +
          `${count} * ${channels} * ${height} * ${width} = ${count * per}`,
      );
    }
    for (let i = 0; i < images.length; i++) {
      if (!Number.isFinite(images[i])) {
        throw new PfgmError(
          'ERR_PFGM_ARGUMENT',
          `inceptionFeatures: image ${Math.floor(i / per)} holds ${images[i]} (value ${i}); images must be finite, in [-1, 1]`,
        );
      }
    }
    const handle = this.#handle();
    const out = new Float32Array(count * INCEPTION_FEATURES);
    for (let start = 0; start < count; start += batchSize) {
      options.signal?.throwIfAborted();
      const n = Math.min(batchSize, count - start);
      const r = await awaitNative(() =>
        handle.features({
          images: images.subarray(start * per, (start + n) * per),
          count: n,
          channels,
          height,
          width,
          batch: n,
        }),
      );
      out.set(r.features, start * INCEPTION_FEATURES);
      options.onProgress?.(start + n, count);
    }
    return out;
  }

  #handle(): NativeInception {
    if (this.#native === undefined) {
      throw new PfgmError('ERR_PFGM_DISPOSED', 'inceptionFeatures: the Inception network was disposed');
    }
    return this.#native;
  }

  /** Frees the weights now (87 MB of folded weights plus the activations of the last batch; otherwise the garbage collector frees them). */
  dispose(): void {
    this.#native?.dispose();
    this.#native = undefined;
  }

  /** `using inception = await loadInception(...)` disposes it at the end of the scope. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** A native network on the resolved device, its weights loaded. */
async function built(picked: Record<string, Float32Array>, options: InceptionLoadOptions): Promise<InceptionNetwork> {
  const device = resolveNetworkDevice(options.device);
  const handle = callNative(() => new (native().Inception)());
  await awaitNative(() => handle.load(picked, device));
  return new InceptionNetwork(handle, device);
}

/**
 * Builds the network from tensors named as pytorch-fid's state dict (see {@link inceptionTensors});
 * extra tensors (e.g. `fc.weight`) are ignored. Batch norms (eps 0.001) are folded into the
 * convolutions off the JS thread.
 *
 * @throws PfgmError `ERR_PFGM_ARGUMENT` naming a missing or mis-sized tensor; `ERR_PFGM_DEVICE`
 *   when `device: 'cuda'` is asked for where CUDA cannot run it.
 */
export async function createInception(
  weights: ReadonlyMap<string, Float32Array | Float64Array>,
  options: InceptionLoadOptions = {},
): Promise<InceptionNetwork> {
  const picked = pickWeights(
    (name) => {
      const data = weights.get(name);
      return data === undefined ? undefined : { data };
    },
    'ERR_PFGM_ARGUMENT',
    'createInception',
  );
  return built(picked, options);
}

/**
 * Loads the FID Inception-v3 from a safetensors file with pytorch-fid's parameter names, as
 * `scripts/convert-inception.py` writes it.
 *
 * @throws PfgmError `ERR_PFGM_CHECKPOINT` when the file is missing, not safetensors, or lacks a
 *   tensor or has one of the wrong shape; the message says how to convert the official weights.
 *   `ERR_PFGM_DEVICE` when `device: 'cuda'` is asked for where CUDA cannot run it.
 */
export async function loadInception(path: string, options: InceptionLoadOptions = {}): Promise<InceptionNetwork> {
  if (typeof path !== 'string' || path.length === 0) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `loadInception: path must be a non-empty string; ${HOW_TO_CONVERT}`);
  }
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a directory' : `cannot be read (${String(e)})`;
    throw new PfgmError('ERR_PFGM_CHECKPOINT', `Inception weights file '${path}' ${why}: ${HOW_TO_CONVERT}`, {
      cause: e,
    });
  }
  let file: SafetensorsFile;
  try {
    file = decodeSafetensors(bytes);
  } catch (e) {
    throw new PfgmError(
      'ERR_PFGM_CHECKPOINT',
      `Inception weights file '${path}': ${(e as Error).message}; ${HOW_TO_CONVERT}`,
      { cause: e },
    );
  }
  const picked = pickWeights(
    (name) => file.tensors.get(name),
    'ERR_PFGM_CHECKPOINT',
    `Inception weights file '${path}'`,
  );
  return built(picked, options);
}

/**
 * The 2048 Inception-v3 "pool3" features of each image, as pytorch-fid computes them: images
 * `[count, channels, height, width]` (NCHW) with values in [-1, 1] (the project's convention;
 * pytorch-fid's [0, 1] input mapped by 2x - 1), grayscale repeated to RGB, resized bilinearly to
 * 299×299 inside the network. Runs `batchSize` images per native call, on the network's device
 * (all CPU threads, or the GPU: each batch uploaded once and its features downloaded once).
 *
 * @returns `Float32Array` of `[count, 2048]` features, row-major.
 * @throws PfgmError `ERR_PFGM_SHAPE` when the array does not hold `count` images of the given shape,
 *   `ERR_PFGM_ARGUMENT` for a bad count, channel number, size or non-finite value.
 */
export function inceptionFeatures(
  model: InceptionNetwork,
  images: Float32Array,
  options: InceptionFeaturesOptions,
): Promise<Float32Array> {
  return model.features(images, options);
}
