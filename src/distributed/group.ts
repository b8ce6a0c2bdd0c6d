/**
 * A data-parallel group of processes (docs/distributed.md): {@link initDistributed} joins one
 * through rank 0's rendezvous, on Gloo between CPU processes or NCCL between GPUs, and a
 * `Trainer` given the group trains as one process at the global batch would.
 *
 * @module
 */
import { type CollectiveLibraries, getDeviceInfo, native } from '../addon/load.js';
import type { NativeDistributed } from '../addon/native.js';
import { awaitNative, callNative, PfgmError } from '../errors.js';
import { DEFAULT_MASTER_PORT, type RankEnvironment, rankEnvironment } from './env.js';

/** The collective library of a group. */
export type CollectiveBackend = 'gloo' | 'nccl';

/** Options of {@link initDistributed}; unset fields come from the launcher's environment. */
export interface DistributedOptions {
  /** This process's rank (default: the environment's, see {@link rankEnvironment}). */
  rank?: number;
  /** Processes in the run. */
  worldSize?: number;
  /** This process's rank on its machine (picks its GPU with NCCL). */
  localRank?: number;
  /** Where rank 0 hosts the rendezvous (default `127.0.0.1`: every rank on this machine). */
  masterAddr?: string;
  /** Its port (default 29500). */
  masterPort?: number;
  /**
   * The address this rank's transport listens on (default: the local address that reaches the
   * master, loopback when the master is local).
   */
  host?: string;
  /**
   * `gloo` between CPU processes (the default with the CPU backend), `nccl` between GPUs (the
   * default when pfgm uses CUDA, see `getDeviceInfo()`).
   */
  backend?: CollectiveBackend;
  /**
   * Seconds to wait for the rendezvous and for any collective before failing with
   * `ERR_PFGM_DISTRIBUTED` (default 300): a rank that died or hangs ends the others in this time.
   */
  timeoutSeconds?: number;
}

/** Whether each collective library can be used in this build, and which or why not. */
export type CollectiveBackends = CollectiveLibraries;

/** What `pfgm info` reports about the collective libraries. */
export function collectiveBackends(): CollectiveBackends {
  return callNative(() => native().collectiveBackends());
}

/** The default timeout of the rendezvous and of every collective, in seconds. */
export const DEFAULT_DISTRIBUTED_TIMEOUT_S = 300;

/**
 * One process's membership of a data-parallel group. Collectives must be called in the same
 * order on every rank. `close()` (or `await using`) leaves the group.
 */
export class DistributedGroup {
  /** This process's rank. */
  readonly rank: number;
  /** Processes in the group. */
  readonly worldSize: number;
  /** This process's rank on its machine. */
  readonly localRank: number;
  /** The collective library. */
  readonly backend: CollectiveBackend;
  #native: NativeDistributed | undefined;

  /** @internal Use {@link initDistributed}. */
  constructor(handle: NativeDistributed, localRank: number) {
    const info = callNative(() => handle.info());
    this.#native = handle;
    this.rank = info.rank;
    this.worldSize = info.worldSize;
    this.backend = info.backend;
    this.localRank = localRank;
  }

  /** @internal The native group (networks attach to it). */
  get handle(): NativeDistributed {
    if (this.#native === undefined)
      throw new PfgmError(
        'ERR_PFGM_DISPOSED',
        'the distributed group was closed; join a new one with initDistributed()',
      );
    return this.#native;
  }

  /** Whether this is rank 0, the one that writes checkpoints, samples and statistics. */
  get isRoot(): boolean {
    return this.rank === 0;
  }

  /** Element-wise sum (or mean) of `values` over the ranks; every rank gets the result. */
  allReduce(values: Float64Array, op: 'sum' | 'mean' = 'sum'): Promise<Float64Array> {
    const h = this.handle;
    return awaitNative(() => h.allReduce(values, op));
  }

  /** Every rank's `values`, rank by rank (`worldSize * values.length` numbers). */
  allGather(values: Float64Array): Promise<Float64Array> {
    const h = this.handle;
    return awaitNative(() => h.allGather(values));
  }

  /** `root`'s `values` on every rank. */
  broadcast(values: Float64Array, root = 0): Promise<Float64Array> {
    const h = this.handle;
    return awaitNative(() => h.broadcast(values, root));
  }

  /** Resolves once every rank has called it. */
  barrier(): Promise<void> {
    const h = this.handle;
    return awaitNative(() => h.barrier());
  }

  /** Leaves the group (rank 0 stops hosting the rendezvous). Idempotent. */
  close(): void {
    this.#native?.close();
    this.#native = undefined;
  }

  /** `await using group = await initDistributed()` closes it at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}

function resolved(options: DistributedOptions, env: RankEnvironment | undefined) {
  const rank = options.rank ?? env?.rank;
  const worldSize = options.worldSize ?? env?.worldSize;
  if (rank === undefined || worldSize === undefined) {
    throw new PfgmError(
      'ERR_PFGM_DISTRIBUTED',
      'initDistributed: no rank and world size: pass { rank, worldSize } or start the processes with a launcher (pfgm train --nproc-per-node, torchrun, srun, mpirun)',
    );
  }
  for (const [name, v, min] of [
    ['rank', rank, 0],
    ['worldSize', worldSize, 1],
  ] as const) {
    if (!Number.isInteger(v) || v < min)
      throw new PfgmError('ERR_PFGM_DISTRIBUTED', `initDistributed: ${name} must be an integer >= ${min}, got ${v}`);
  }
  if (rank >= worldSize) {
    throw new PfgmError(
      'ERR_PFGM_DISTRIBUTED',
      `initDistributed: rank ${rank} is outside a world of ${worldSize} ranks (0..${worldSize - 1})`,
    );
  }
  const masterPort = options.masterPort ?? env?.masterPort ?? DEFAULT_MASTER_PORT;
  if (!Number.isInteger(masterPort) || masterPort < 1 || masterPort > 65535)
    throw new PfgmError(
      'ERR_PFGM_DISTRIBUTED',
      `initDistributed: masterPort must be a port (1..65535), got ${masterPort}`,
    );
  const timeoutSeconds = options.timeoutSeconds ?? DEFAULT_DISTRIBUTED_TIMEOUT_S;
  if (!(timeoutSeconds > 0) || !Number.isFinite(timeoutSeconds))
    throw new PfgmError(
      'ERR_PFGM_DISTRIBUTED',
      `initDistributed: timeoutSeconds must be positive, got ${timeoutSeconds}`,
    );
  return {
    rank,
    worldSize,
    localRank: options.localRank ?? env?.localRank ?? rank,
    masterAddr: options.masterAddr ?? env?.masterAddr ?? '127.0.0.1',
    masterPort,
    timeoutSeconds,
  };
}

/**
 * Joins a data-parallel group: rank 0 hosts the rendezvous at `masterAddr:masterPort`, every rank
 * checks in, then Gloo or NCCL connects them all. Fields not given come from the launcher's
 * environment ({@link rankEnvironment}).
 *
 * @example
 * ```ts
 * // started by `pfgm train --nproc-per-node 2`, torchrun, srun or mpirun:
 * await using group = await initDistributed();
 * const trainer = new Trainer(net, data, { batch: 64, distributed: group });
 * ```
 *
 * @throws PfgmError `ERR_PFGM_DISTRIBUTED` when the group cannot form: a rank outside the world,
 *   a busy master port (rank 0), a master that never answers (the others, after the timeout), a
 *   rank started twice or with another world size, a backend this build lacks.
 */
export async function initDistributed(options: DistributedOptions = {}): Promise<DistributedGroup> {
  const env = options.rank === undefined || options.worldSize === undefined ? rankEnvironment() : undefined;
  const o = resolved(options, env);
  const backend = options.backend ?? (getDeviceInfo().backend === 'cuda' ? 'nccl' : 'gloo');
  if (backend !== 'gloo' && backend !== 'nccl')
    throw new PfgmError('ERR_PFGM_DISTRIBUTED', `initDistributed: backend must be 'gloo' or 'nccl', got '${backend}'`);
  const available = collectiveBackends()[backend];
  if (!available.available)
    throw new PfgmError(
      'ERR_PFGM_DISTRIBUTED',
      `${backend === 'gloo' ? 'Gloo' : 'NCCL'} is not available: ${available.detail}`,
    );
  const handle = await awaitNative(() =>
    native().initDistributed({
      rank: o.rank,
      worldSize: o.worldSize,
      masterAddr: o.masterAddr,
      masterPort: o.masterPort,
      host: options.host,
      timeoutSeconds: o.timeoutSeconds,
      backend,
      cudaDevice: backend === 'nccl' ? o.localRank : undefined,
    }),
  );
  return new DistributedGroup(handle, o.localRank);
}
