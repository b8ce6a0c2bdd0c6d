/**
 * Which rank this process is, read from the environment its launcher set (docs/distributed.md,
 * "Launchers"): `pfgm train --nproc-per-node`'s and torchrun's variables (`RANK`, `WORLD_SIZE`,
 * `LOCAL_RANK`, `LOCAL_WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT`), SLURM's (`SLURM_PROCID`,
 * `SLURM_NTASKS`, `SLURM_LOCALID`, ...) and Open MPI's (`OMPI_COMM_WORLD_RANK`, ...).
 *
 * @module
 */
import { PfgmError } from '../errors.js';

/** The launchers whose environment is recognised. */
export type Launcher = 'pfgm' | 'torchrun' | 'slurm' | 'openmpi';

/** Where this process sits in a data-parallel run. */
export interface RankEnvironment {
  /** This process's rank, 0 .. worldSize - 1. */
  rank: number;
  /** Processes in the run. */
  worldSize: number;
  /** This process's rank among those on its machine (picks its GPU). */
  localRank: number;
  /** Processes on this machine. */
  localWorldSize: number;
  /** Where rank 0 hosts the rendezvous. */
  masterAddr: string;
  /** Its port. */
  masterPort: number;
  /** Which launcher's variables these came from. */
  launcher: Launcher;
}

/** torchrun's default rendezvous port, used when only the address is given. */
export const DEFAULT_MASTER_PORT = 29500;

/** Environment variables, as `process.env` holds them. */
export type Env = Readonly<Record<string, string | undefined>>;

function integer(env: Env, name: string, min: number): number {
  const text = env[name];
  const v = Number(text);
  if (text === undefined || text.trim() === '' || !Number.isInteger(v) || v < min) {
    throw new PfgmError(
      'ERR_PFGM_DISTRIBUTED',
      `the environment variable ${name}=${text ?? ''} must be an integer >= ${min}: check how the ranks were launched`,
    );
  }
  return v;
}

function optionalInteger(env: Env, name: string, min: number): number | undefined {
  return env[name] === undefined ? undefined : integer(env, name, min);
}

/**
 * The master's address when the launcher's variables do not give it: `MASTER_ADDR`, else
 * loopback when every rank is on this machine; otherwise the user must say.
 */
function masterAddress(env: Env, worldSize: number, localWorldSize: number, launcher: Launcher): string {
  const given = env.MASTER_ADDR;
  if (given !== undefined && given.trim() !== '') return given.trim();
  if (launcher === 'slurm' && env.SLURM_LAUNCH_NODE_IPADDR) return env.SLURM_LAUNCH_NODE_IPADDR;
  if (worldSize === localWorldSize) return '127.0.0.1';
  throw new PfgmError(
    'ERR_PFGM_DISTRIBUTED',
    `the ranks span several machines but MASTER_ADDR is not set: export MASTER_ADDR=<rank 0's host> (and MASTER_PORT) for every rank`,
  );
}

/**
 * This process's place in a data-parallel run, from its launcher's environment; `undefined` when
 * it is not one of several ranks (no launcher variables, or a world of 1).
 *
 * @param env - the environment to read (default `process.env`)
 * @throws PfgmError `ERR_PFGM_DISTRIBUTED` for malformed or inconsistent variables (a rank
 *   outside the world, a non-numeric size), naming the variable.
 */
export function rankEnvironment(env: Env = process.env): RankEnvironment | undefined {
  let r: Omit<RankEnvironment, 'masterAddr' | 'masterPort'> | undefined;
  if (env.WORLD_SIZE !== undefined || env.RANK !== undefined) {
    const worldSize = integer(env, 'WORLD_SIZE', 1);
    const rank = integer(env, 'RANK', 0);
    r = {
      rank,
      worldSize,
      localRank: optionalInteger(env, 'LOCAL_RANK', 0) ?? rank,
      localWorldSize: optionalInteger(env, 'LOCAL_WORLD_SIZE', 1) ?? worldSize,
      launcher: env.PFGM_LAUNCHER === '1' ? 'pfgm' : 'torchrun',
    };
  } else if (env.OMPI_COMM_WORLD_SIZE !== undefined) {
    const worldSize = integer(env, 'OMPI_COMM_WORLD_SIZE', 1);
    r = {
      rank: integer(env, 'OMPI_COMM_WORLD_RANK', 0),
      worldSize,
      localRank: optionalInteger(env, 'OMPI_COMM_WORLD_LOCAL_RANK', 0) ?? 0,
      localWorldSize: optionalInteger(env, 'OMPI_COMM_WORLD_LOCAL_SIZE', 1) ?? worldSize,
      launcher: 'openmpi',
    };
  } else if (env.SLURM_NTASKS !== undefined && env.SLURM_PROCID !== undefined) {
    const worldSize = integer(env, 'SLURM_NTASKS', 1);
    // SLURM_NTASKS_PER_NODE may read "4(x2)"; its leading number is this node's count.
    const perNode = Number.parseInt(env.SLURM_NTASKS_PER_NODE ?? '', 10);
    r = {
      rank: integer(env, 'SLURM_PROCID', 0),
      worldSize,
      localRank: optionalInteger(env, 'SLURM_LOCALID', 0) ?? 0,
      localWorldSize: Number.isInteger(perNode) && perNode > 0 ? perNode : worldSize,
      launcher: 'slurm',
    };
  }
  if (r === undefined || r.worldSize === 1) return undefined;
  if (r.rank >= r.worldSize) {
    throw new PfgmError(
      'ERR_PFGM_DISTRIBUTED',
      `rank ${r.rank} is outside a world of ${r.worldSize} ranks (0..${r.worldSize - 1}): check the launcher's ${r.launcher === 'slurm' ? 'SLURM_PROCID/SLURM_NTASKS' : r.launcher === 'openmpi' ? 'OMPI_COMM_WORLD_RANK/SIZE' : 'RANK/WORLD_SIZE'}`,
    );
  }
  const masterPort = optionalInteger(env, 'MASTER_PORT', 1) ?? DEFAULT_MASTER_PORT;
  if (masterPort > 65535) {
    throw new PfgmError('ERR_PFGM_DISTRIBUTED', `MASTER_PORT=${masterPort} is not a port (1..65535)`);
  }
  return { ...r, masterAddr: masterAddress(env, r.worldSize, r.localWorldSize, r.launcher), masterPort };
}
