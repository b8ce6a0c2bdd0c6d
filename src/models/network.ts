/**
 * A denoiser network in the native engine: EDM's preconditioning (docs/method.md §2.2) around a SongUNet,
 * EDM's ADM network (DhariwalUNet) or an MLP, with its parameters, EMA copy and optimizer state in flat native buffers, and one
 * native call per training step.
 *
 * @module
 */
import { type DeviceName, native } from '../addon/load.js';
import type { NativeBufferName, NativeNetwork, NativeNetworkInfo } from '../addon/native.js';
import type { DistributedGroup } from '../distributed/group.js';
import { awaitNative, callNative, PfgmError } from '../errors.js';
import { resolveTrainOptions, TRAIN_DEFAULTS, toNativeTrainOptions } from '../physics/trainOptions.js';
import { checkD, checkNonNegative, checkPositive } from '../validate.js';
import { CallQueue } from './callQueue.js';
import { type NetworkConfig, type PresetName, preset, toNativeConfig, validateNetworkConfig } from './config.js';
import { dataParallel } from './dataParallelStep.js';
import { resolveNetworkDevice } from './networkDevice.js';
import type {
  BatchLabels,
  CreateNetworkOptions,
  FlatWeights,
  Objective,
  OptimizerState,
  ParameterInfo,
  PfgmSettings,
  PfgmStepOptions,
  Precision,
  TrainCounters,
  TrainStepOptions,
  TrainStepResult,
  VjpResult,
  WeightSet,
} from './networkTypes.js';

export type {
  BatchLabels,
  CreateNetworkOptions,
  DataParallelStepOptions,
  FlatWeights,
  Objective,
  OptimizerOptions,
  OptimizerState,
  ParameterInfo,
  PfgmSettings,
  PfgmStepOptions,
  Precision,
  TrainCounters,
  TrainStepOptions,
  TrainStepResult,
  VjpResult,
  WeightSet,
} from './networkTypes.js';

/**
 * A denoiser D(x, sigma) with its weights and training state; see {@link createNetwork}.
 *
 * The asynchronous calls on one network ({@link Network.denoise}, {@link Network.trainStep},
 * {@link Network.field}, {@link Network.pfgmStep}, {@link Network.inputVjp},
 * {@link Network.lossAndGrad}, {@link Network.fieldLossAndGrad}) run one at a time in the order
 * they were made, even when they are not awaited one by one: `Promise.all` of interleaved
 * `trainStep` and `denoise` calls gives the results of the same calls awaited in turn. A call
 * that fails does not stop the ones queued after it. Each copies its input arrays when it is
 * called, so they may be reused at once. The synchronous methods (`stateDict`, `loadStateDict`,
 * `flatWeights`, ...) are not queued: await the pending calls before using them.
 */
export class Network {
  /** The network's configuration. */
  readonly config: NetworkConfig;
  /** sigma_data of the preconditioning. */
  readonly sigmaData: number;
  /** Shape of one sample: [C, H, W] for images, [N, 1, 1] for vectors. */
  readonly sampleShape: readonly [number, number, number];
  /** Number of trainable parameters. */
  readonly paramCount: number;
  /** Augmented dimensions D the network is trained for (Infinity = EDM). */
  readonly D: number;
  /** Number of class labels it is conditioned on (0: unconditional). */
  readonly labelDim: number;
  /** The objective it serves: a denoiser (`pfgmpp`) or PFGM's field (`pfgm`). */
  readonly objective: Objective;
  /** Whether it uses docs/method.md §2.2's D-aware c_in. */
  readonly dAwareCIn: boolean;
  /** Whether it scales each sample by its own norm (see {@link CreateNetworkOptions.adaptiveScale}). */
  readonly adaptiveScale: boolean;
  /**
   * PFGM's hyperparameters (only for the `pfgm` objective): set by the Trainer from the data on
   * its first run and saved with the model; the z-ODE sampler needs `zMax`.
   */
  pfgm: PfgmSettings | undefined;
  /** Where its weights and training state live. */
  readonly device: DeviceName;
  /** Arithmetic of its convolutions and matrix products (`fp32` on the CPU). */
  readonly precision: Precision;
  #native: NativeNetwork | undefined;
  readonly #info: NativeNetworkInfo;
  /** Its asynchronous native calls, run in the order they were made (see {@link Network}). */
  readonly #calls = new CallQueue();

  /** @internal */
  constructor(
    config: NetworkConfig,
    handle: NativeNetwork,
    sigmaData: number,
    D = Number.POSITIVE_INFINITY,
    precond: {
      objective?: Objective;
      dAwareCIn?: boolean;
      adaptiveScale?: boolean;
      pfgm?: PfgmSettings;
      device?: DeviceName;
      precision?: Precision;
    } = {},
  ) {
    this.config = config;
    this.D = D;
    this.objective = precond.objective ?? 'pfgmpp';
    this.dAwareCIn = precond.dAwareCIn ?? false;
    this.adaptiveScale = precond.adaptiveScale ?? false;
    this.pfgm = precond.pfgm;
    this.device = precond.device ?? 'cpu';
    this.precision = precond.precision ?? 'fp32';
    this.sigmaData = sigmaData;
    this.#native = handle;
    this.#info = callNative(() => handle.paramInfo());
    this.sampleShape = this.#info.sampleShape;
    this.paramCount = this.#info.paramCount;
    this.labelDim = this.#info.labelDim;
  }

  /** Elements of one sample. */
  get sampleSize(): number {
    return this.sampleShape[0] * this.sampleShape[1] * this.sampleShape[2];
  }

  /** The trainable tensors in EDM's state-dict order. */
  parameters(): ParameterInfo[] {
    return this.#info.params.map((p) => ({ ...p, shape: [...p.shape] }));
  }

  /** The non-trainable tensors (e.g. NCSN++'s `map_noise.freqs`). */
  buffers(): ParameterInfo[] {
    return this.#info.buffers.map((p) => ({ ...p, shape: [...p.shape] }));
  }

  /** Runs a native call after every call queued before it has settled (calls run in call order). */
  #queued<A extends object, T>(
    what: string,
    call: (handle: NativeNetwork, args: A) => Promise<T>,
    args: A,
  ): Promise<T> {
    // A network disposed while the call waited: the handle check rejects it.
    return this.#calls.run(args, (a) => awaitNative(() => call(this.#handle(what), a)));
  }

  #handle(what: string): NativeNetwork {
    if (this.#native === undefined) throw new PfgmError('ERR_PFGM_DISPOSED', `${what}: the network was disposed`);
    return this.#native;
  }

  /** The native handle, for a sampling run on its device (src/sample/deviceOps.ts). @internal */
  nativeHandle(what: string): NativeNetwork {
    return this.#handle(what);
  }

  /**
   * The named tensors of one weight set as copies: `raw`/`ema` weights plus the buffers, or the
   * last gradients (`grads`), with EDM's state-dict names.
   */
  stateDict(which: WeightSet | 'grads' = 'ema'): Map<string, Float32Array> {
    const h = this.#handle('stateDict');
    const name: NativeBufferName = which === 'raw' ? 'params' : which;
    const flat = callNative(() => h.getBuffer(name));
    const out = new Map<string, Float32Array>();
    for (const p of this.#info.params) out.set(p.name, flat.slice(p.offset, p.offset + p.numel));
    if (which !== 'grads') {
      const buf = callNative(() => h.getBuffer('buffers'));
      for (const b of this.#info.buffers) out.set(b.name, buf.slice(b.offset, b.offset + b.numel));
    }
    return out;
  }

  /**
   * Loads named tensors (EDM state-dict names) into the raw weights, the EMA weights, or both.
   * Every parameter must be present with its exact size; unknown names are an error.
   *
   * @throws PfgmError `ERR_PFGM_ARGUMENT` naming the missing, unknown or mis-sized tensor.
   */
  loadStateDict(tensors: Map<string, Float32Array>, into: WeightSet | 'both' = 'both'): void {
    const h = this.#handle('loadStateDict');
    const known = new Set([...this.#info.params, ...this.#info.buffers].map((p) => p.name));
    for (const name of tensors.keys()) {
      if (!known.has(name))
        throw new PfgmError('ERR_PFGM_ARGUMENT', `loadStateDict: this network has no tensor '${name}'`);
    }
    const fill = (list: NativeNetworkInfo['params'], size: number): Float32Array => {
      const flat = new Float32Array(size);
      for (const p of list) {
        const t = tensors.get(p.name);
        if (t === undefined) throw new PfgmError('ERR_PFGM_ARGUMENT', `loadStateDict: tensor '${p.name}' is missing`);
        if (t.length !== p.numel) {
          throw new PfgmError(
            'ERR_PFGM_ARGUMENT',
            `loadStateDict: '${p.name}' has ${t.length} values, expected ${p.numel} (shape [${p.shape}])`,
          );
        }
        flat.set(t, p.offset);
      }
      return flat;
    };
    const params = fill(this.#info.params, this.#info.paramCount);
    if (into !== 'ema') callNative(() => h.setBuffer('params', params));
    if (into !== 'raw') callNative(() => h.setBuffer('ema', params));
    if (this.#info.buffers.length > 0)
      callNative(() => h.setBuffer('buffers', fill(this.#info.buffers, this.#info.bufferCount)));
  }

  #checkBatch(what: string, data: Float32Array, batch: number, labels: BatchLabels): void {
    if (!(data instanceof Float32Array)) throw new PfgmError('ERR_PFGM_DTYPE', `${what}: data must be a Float32Array`);
    if (batch < 1 || data.length !== batch * this.sampleSize) {
      throw new PfgmError(
        'ERR_PFGM_SHAPE',
        `${what}: got ${data.length} values, expected a whole batch of samples of shape [${this.sampleShape}] (${this.sampleSize} each)`,
      );
    }
    if (labels.labels !== undefined && this.#info.labelDim === 0) {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `${what}: this network is unconditional (labelDim 0) but labels were given`,
      );
    }
  }

  /**
   * D(x, sigma): the denoised batch (PyTorch layout, NCHW or [n, N]) for per-sample sigma.
   *
   * @param x - The noisy batch.
   * @param sigma - One sigma per sample (> 0), or one for all.
   */
  async denoise(
    x: Float32Array,
    sigma: Float32Array | number,
    options: BatchLabels & { weights?: WeightSet } = {},
  ): Promise<Float32Array> {
    this.#handle('denoise');
    this.#needObjective('denoise', 'pfgmpp');
    const batch = Math.floor(x.length / this.sampleSize);
    this.#checkBatch('denoise', x, batch, options);
    const s = typeof sigma === 'number' ? new Float32Array(batch).fill(sigma) : sigma;
    const r = await this.#queued('denoise', (n, a) => n.denoise(a), {
      batch,
      x,
      sigma: s,
      labels: options.labels,
      augment: options.augment,
      ema: options.weights === 'ema',
    });
    return r.out;
  }

  #needObjective(what: string, objective: Objective): void {
    if (this.objective === objective) return;
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      objective === 'pfgmpp'
        ? `${what}: this network predicts PFGM's field (objective 'pfgm'); use field()/pfgmStep(), and sample it with pfgmSample()`
        : `${what}: this network is a denoiser (objective 'pfgmpp'); create it with { objective: 'pfgm' } for PFGM's field`,
    );
  }

  /**
   * PFGM's predicted field (docs/method.md §3) at augmented points (x, z): `[n, N + 1]`, the N data
   * components then the z component, for a network created with `{ objective: 'pfgm' }`.
   *
   * @param x - The data part of the points, a whole batch (PyTorch layout).
   * @param z - The augmented coordinate, one per sample (> 0) or one for all.
   */
  async field(
    x: Float32Array,
    z: Float32Array | number,
    options: BatchLabels & { weights?: WeightSet } = {},
  ): Promise<Float32Array> {
    this.#handle('field');
    this.#needObjective('field', 'pfgm');
    const batch = Math.floor(x.length / this.sampleSize);
    this.#checkBatch('field', x, batch, options);
    const zs = typeof z === 'number' ? new Float32Array(batch).fill(z) : z;
    return this.#queued('field', (n, a) => n.field(a), {
      batch,
      x,
      z: zs,
      labels: options.labels,
      augment: options.augment,
      ema: options.weights === 'ema',
    });
  }

  /**
   * PFGM's loss (docs/method.md §3: the squared error against the field `target` [n, N + 1], summed over
   * the N + 1 components and averaged over the batch) and the gradients of every parameter (read
   * them with `stateDict('grads')`); nothing is updated.
   */
  async fieldLossAndGrad(
    x: Float32Array,
    z: Float32Array,
    target: Float32Array,
    labels: BatchLabels = {},
  ): Promise<number> {
    this.#handle('fieldLossAndGrad');
    this.#needObjective('fieldLossAndGrad', 'pfgm');
    const batch = Math.floor(x.length / this.sampleSize);
    this.#checkBatch('fieldLossAndGrad', x, batch, labels);
    return this.#queued('fieldLossAndGrad', (n, a) => n.field(a), {
      batch,
      x,
      z,
      target,
      labels: labels.labels,
      augment: labels.augment,
    });
  }

  /**
   * One native PFGM training step (docs/method.md §3): perturbs the small batch `y` to augmented points,
   * computes the normalised field target (3.1) over the large batch `refs` (which should contain
   * `y`), then forward, loss, backward, Adam and EMA as {@link Network.trainStep}.
   */
  async pfgmStep(y: Float32Array, refs: Float32Array, options: PfgmStepOptions): Promise<TrainStepResult> {
    this.#handle('pfgmStep');
    this.#needObjective('pfgmStep', 'pfgm');
    const batch = Math.floor(y.length / this.sampleSize);
    this.#checkBatch('pfgmStep', y, batch, options);
    const refsCount = Math.floor(refs.length / this.sampleSize);
    this.#checkBatch('pfgmStep (refs)', refs, refsCount, {});
    const o = resolveTrainOptions({ ...options, objective: 'pfgm', D: 1, stf: false }, { defaults: 'step' });
    checkNonNegative('M', options.M);
    checkPositive('tau', options.tau);
    checkPositive('s', options.s);
    checkNonNegative('gamma', options.gamma);
    return this.#queued('pfgmStep', (n, a) => n.trainStep(a), {
      batch,
      y,
      labels: options.labels,
      augment: options.augment,
      options: toNativeTrainOptions(o),
      ...dataParallel(options),
      pfgm: {
        refs,
        refsCount,
        M: options.M,
        tau: options.tau,
        s: options.s,
        gamma: options.gamma,
        restrictM: options.restrictM ?? TRAIN_DEFAULTS.trainer.pfgm.restrictM,
      },
    });
  }

  /**
   * The input vector-Jacobian product `v^T dD(x, sigma)/dx` of each sample, with D(x, sigma) itself
   * (one forward and one backward pass). With EDM's preconditioning `D = c_skip x + c_out F(c_in x)`
   * this is `c_skip v + c_in [backward of F at c_out v]`. The likelihood ({@link nll}) uses it for
   * the Hutchinson trace of the probability-flow ODE. Training gradients and optimizer state are
   * left untouched.
   *
   * @param x - The noisy batch (PyTorch layout).
   * @param sigma - One sigma per sample (> 0), or one for all.
   * @param v - The cotangent, shaped like x.
   */
  async inputVjp(
    x: Float32Array,
    sigma: Float32Array | number,
    v: Float32Array,
    options: BatchLabels & { weights?: WeightSet } = {},
  ): Promise<VjpResult> {
    this.#handle('inputVjp');
    const batch = Math.floor(x.length / this.sampleSize);
    this.#checkBatch('inputVjp', x, batch, options);
    if (!(v instanceof Float32Array) || v.length !== x.length) {
      throw new PfgmError('ERR_PFGM_SHAPE', `inputVjp: v must be a Float32Array of the length of x (${x.length})`);
    }
    const s = typeof sigma === 'number' ? new Float32Array(batch).fill(sigma) : sigma;
    return this.#queued('inputVjp', (n, a) => n.inputVjp(a), {
      batch,
      x,
      sigma: s,
      v,
      labels: options.labels,
      augment: options.augment,
      ema: options.weights === 'ema',
    });
  }

  /**
   * The loss of docs/method.md §2.2 for an explicit perturbation x = y + noise and the gradients of
   * every parameter (read them with `stateDict('grads')`); nothing is updated.
   */
  async lossAndGrad(
    y: Float32Array,
    noise: Float32Array,
    sigma: Float32Array,
    labels: BatchLabels = {},
  ): Promise<number> {
    this.#handle('lossAndGrad');
    const batch = Math.floor(y.length / this.sampleSize);
    this.#checkBatch('lossAndGrad', y, batch, labels);
    return this.#queued('lossAndGrad', (n, a) => n.lossAndGrad(a), { batch, y, noise, sigma, ...labels });
  }

  /**
   * One native training step on a clean batch y: sigma draw, Student-t perturbation at D,
   * forward, loss, backward, non-finite check, optional clipping, Adam with EDM's ramp-up, EMA.
   */
  async trainStep(y: Float32Array, options: TrainStepOptions): Promise<TrainStepResult> {
    this.#handle('trainStep');
    this.#needObjective('trainStep', 'pfgmpp');
    checkD(options.D);
    const o = resolveTrainOptions({ ...options, objective: 'pfgmpp' }, { defaults: 'step' });
    const batch = Math.floor(y.length / this.sampleSize);
    this.#checkBatch('trainStep', y, batch, options);
    return this.#queued('trainStep', (n, a) => n.trainStep(a), {
      batch,
      y,
      labels: options.labels,
      augment: options.augment,
      noise: options.noise,
      sigma: options.sigma,
      options: toNativeTrainOptions(o),
      ...dataParallel(options),
    });
  }

  /**
   * Joins a data-parallel group (a `Trainer` given `distributed` does this): each training step
   * then averages gradients and loss over the group (docs/distributed.md). `undefined` leaves it.
   *
   * @throws PfgmError `ERR_PFGM_DISTRIBUTED` when the group's library does not serve this network's
   *   device (Gloo needs a CPU network, NCCL a CUDA one).
   */
  attachDistributed(group: DistributedGroup | undefined): void {
    const h = this.#handle('attachDistributed');
    callNative(() => h.attachDistributed(group === undefined ? null : group.handle));
  }

  /**
   * Copies rank `root`'s weights, EMA, Adam moments and counters to every rank of the attached
   * group (a `Trainer` does this before its first step). Call it on every rank.
   */
  async syncFromRoot(root = 0): Promise<void> {
    this.#handle('syncFromRoot');
    await this.#queued('syncFromRoot', (n, a) => n.syncFromRoot(a.root), { root });
  }

  /**
   * Everything a resumed run needs besides the weights: Adam's moments (flat, in parameter order)
   * and the counters. The random streams are keyed by step, so the counters are the RNG state.
   */
  optimizerState(): OptimizerState {
    const h = this.#handle('optimizerState');
    return {
      adamM: callNative(() => h.getBuffer('adam_m')),
      adamV: callNative(() => h.getBuffer('adam_v')),
      counters: callNative(() => h.counters()),
    };
  }

  /** Restores what {@link Network.optimizerState} returned (sizes are checked). */
  loadOptimizerState(state: OptimizerState): void {
    const h = this.#handle('loadOptimizerState');
    callNative(() => h.setBuffer('adam_m', state.adamM));
    callNative(() => h.setBuffer('adam_v', state.adamV));
    callNative(() => h.setCounters(state.counters));
  }

  /** The flat raw weights, EMA weights and buffers (parameter order), for fast checkpoints. */
  flatWeights(): FlatWeights {
    const h = this.#handle('flatWeights');
    return {
      raw: callNative(() => h.getBuffer('params')),
      ema: callNative(() => h.getBuffer('ema')),
      buffers: callNative(() => h.getBuffer('buffers')),
    };
  }

  /** Restores flat raw and EMA weights (and buffers) from {@link Network.flatWeights}. */
  loadFlatWeights(w: Omit<FlatWeights, 'buffers'> & Partial<Pick<FlatWeights, 'buffers'>>): void {
    const h = this.#handle('loadFlatWeights');
    callNative(() => h.setBuffer('params', w.raw));
    callNative(() => h.setBuffer('ema', w.ema));
    if (w.buffers !== undefined && w.buffers.length > 0)
      callNative(() => h.setBuffer('buffers', w.buffers as Float32Array));
  }

  /** Steps, Adam updates, images seen and skipped steps so far. */
  counters(): TrainCounters {
    return callNative(() => this.#handle('counters').counters());
  }

  /** Frees the native network now (its memory is otherwise freed by the garbage collector). */
  dispose(): void {
    this.#native?.dispose();
    this.#native = undefined;
  }

  /** `using net = await createNetwork(...)` disposes it at the end of the scope. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * Builds a network from a preset name or a configuration, initialised as EDM initialises it.
 *
 * @example
 * ```ts
 * const net = createNetwork('ddpmpp-small');
 * console.log(net.paramCount); // 1752993
 * ```
 * @throws PfgmError `ERR_PFGM_ARGUMENT` for an invalid configuration.
 */
export function createNetwork(network: PresetName | NetworkConfig, options: CreateNetworkOptions = {}): Network {
  const config = typeof network === 'string' ? preset(network) : validateNetworkConfig(network);
  const sigmaData = options.sigmaData ?? TRAIN_DEFAULTS.network.sigmaData;
  const objective = options.objective ?? 'pfgmpp';
  if (objective !== 'pfgmpp' && objective !== 'pfgm') {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `objective must be 'pfgmpp' or 'pfgm', got '${String(objective)}'`);
  }
  if (objective === 'pfgm' && options.D !== undefined && options.D !== 1) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `the pfgm objective is PFGM's D = 1; got D = ${options.D} (leave D out, or use objective 'pfgmpp' for other D)`,
    );
  }
  const D = objective === 'pfgm' ? 1 : options.D === undefined ? Number.POSITIVE_INFINITY : checkD(options.D);
  const dAwareCIn = options.dAwareCIn ?? false;
  const adaptiveScale = options.adaptiveScale ?? (objective === 'pfgm' || D <= 2);
  const device = resolveNetworkDevice(options.device);
  const precision = options.precision ?? 'fp32';
  if (precision !== 'fp32' && precision !== 'tf32' && precision !== 'bf16') {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `precision must be 'fp32', 'tf32' or 'bf16', got '${String(precision)}'`);
  }
  if (device === 'cpu' && precision !== 'fp32' && options.device === 'cpu') {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `precision '${precision}' needs device 'cuda': the CPU engine computes in fp32`,
    );
  }
  // With device 'auto' on a machine without a usable GPU, a GPU precision falls back to fp32.
  const nativePrecision = device === 'cpu' ? 'fp32' : precision;
  const handle = callNative(
    () =>
      new (native().Network)({
        ...toNativeConfig(config),
        sigma_data: sigmaData,
        D,
        d_aware_c_in: dAwareCIn,
        adaptive_scale: adaptiveScale,
        objective,
        init_seed: options.seed ?? 0,
        device,
        precision: nativePrecision,
      }),
  );
  return new Network(config, handle, sigmaData, D, {
    objective,
    dAwareCIn,
    adaptiveScale,
    pfgm: options.pfgm,
    device,
    precision: nativePrecision,
  });
}
