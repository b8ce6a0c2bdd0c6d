/**
 * `pfgm train`'s data-parallel flags (docs/distributed.md): read them, decide whether this process
 * launches workers or is one, and join the group a worker belongs to.
 *
 * @internal
 * @module
 */
import type { DeviceName } from '../addon/load.js';
import { type RankEnvironment, rankEnvironment } from '../distributed/env.js';
import { DEFAULT_DISTRIBUTED_TIMEOUT_S, type DistributedGroup, initDistributed } from '../distributed/group.js';
import { PfgmError } from '../errors.js';
import type { LaunchPlan } from './launch.js';

/** The help text of the flags. */
export const DISTRIBUTED_HELP = `Data-parallel training (docs/distributed.md); --batch is then the global batch:
  --nproc-per-node n   start n worker processes here (CPU: Gloo, the threads split between them;
                       CUDA: NCCL, one GPU each); rank 0 writes the results
  --nnodes m           machines in the run (default 1): run the same command on each
  --node-rank k        this machine's index, 0 .. m-1 (default 0)
  --master-addr A      the machine of rank 0 (default 127.0.0.1)
  --master-port P      its rendezvous port (default: a free one; required with --nnodes > 1)
  --dist-timeout s     seconds before a rank that died or hangs fails the run (default 300)
  Workers started by torchrun, srun (SLURM) or mpirun (Open MPI) are recognised from their
  environment; MASTER_ADDR and MASTER_PORT say where rank 0 is.
`;

/** The flags, for parseArgs. */
export const DISTRIBUTED_OPTIONS = {
  'nproc-per-node': { type: 'string' },
  nnodes: { type: 'string' },
  'node-rank': { type: 'string' },
  'master-addr': { type: 'string' },
  'master-port': { type: 'string' },
  'dist-timeout': { type: 'string' },
} as const;

type Values = { [K in keyof typeof DISTRIBUTED_OPTIONS]?: string };

function integerFlag(name: string, v: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER) {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === '' || !Number.isInteger(x) || x < min || x > max)
    throw new PfgmError('ERR_PFGM_ARGUMENT', `--${name} must be an integer in ${min}..${max}, got '${v}'`);
  return x;
}

/** What the flags ask for: a launch on this machine, or nothing (a single process or a worker). */
export function launchPlan(values: Values): LaunchPlan | undefined {
  const nproc = integerFlag('nproc-per-node', values['nproc-per-node'], 1, 1024);
  const nnodes = integerFlag('nnodes', values.nnodes, 1, 1 << 16) ?? 1;
  const nodeRank = integerFlag('node-rank', values['node-rank'], 0, 1 << 16) ?? 0;
  const masterPort = integerFlag('master-port', values['master-port'], 1, 65535);
  const timeout = values['dist-timeout'] === undefined ? undefined : Number(values['dist-timeout']);
  if (timeout !== undefined && !(timeout > 0 && Number.isFinite(timeout)))
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `--dist-timeout must be a positive number of seconds, got '${values['dist-timeout']}'`,
    );
  const anyLaunchFlag = nnodes > 1 || values['node-rank'] !== undefined || values['master-addr'] !== undefined;
  if (nproc === undefined) {
    if (anyLaunchFlag)
      throw new PfgmError('ERR_PFGM_ARGUMENT', '--nnodes, --node-rank and --master-addr go with --nproc-per-node n');
    return undefined;
  }
  // A worker started by this launcher sees the flags again (it runs the same command line
  // without them), and one started by another launcher must not launch more.
  if (process.env.PFGM_LAUNCHER === '1' || rankEnvironment() !== undefined) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      '--nproc-per-node in a process that already is a rank (RANK/WORLD_SIZE are set): leave the flag to one launcher',
    );
  }
  if (nproc === 1 && nnodes === 1) return undefined;
  return {
    nprocPerNode: nproc,
    nnodes,
    nodeRank,
    masterAddr: values['master-addr'] ?? '127.0.0.1',
    masterPort,
    timeoutSeconds: timeout ?? DEFAULT_DISTRIBUTED_TIMEOUT_S,
  };
}

/** The command line a worker runs: the launcher's, without the launcher's flags. */
export function workerArgs(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    const name = a.startsWith('--') ? a.slice(2).split('=')[0] : undefined;
    if (name !== undefined && name in DISTRIBUTED_OPTIONS) {
      if (!a.includes('=')) i++; // its value
      continue;
    }
    out.push(a);
  }
  return out;
}

/**
 * Joins the group this process is a rank of, when its environment says so: Gloo for a CPU
 * network, NCCL for a CUDA one.
 */
export async function joinGroup(
  device: DeviceName,
  values: Values,
): Promise<{ group: DistributedGroup; env: RankEnvironment } | undefined> {
  const env = rankEnvironment();
  if (env === undefined) return undefined;
  const timeout =
    values['dist-timeout'] !== undefined
      ? Number(values['dist-timeout'])
      : process.env.PFGM_DIST_TIMEOUT !== undefined
        ? Number(process.env.PFGM_DIST_TIMEOUT)
        : DEFAULT_DISTRIBUTED_TIMEOUT_S;
  const group = await initDistributed({
    ...env,
    backend: device === 'cuda' ? 'nccl' : 'gloo',
    timeoutSeconds: timeout,
  });
  return { group, env };
}

/**
 * A worker of `pfgm train --nproc-per-node` stops as on SIGTERM when its launcher is gone (killed
 * outright), instead of training on alone.
 */
export function watchLauncher(): void {
  if (process.env.PFGM_LAUNCHER !== '1') return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(timer);
      process.kill(process.pid, 'SIGTERM');
    }
  }, 1000);
  timer.unref();
}

/**
 * Gives a rank started by torchrun, srun or mpirun on a machine of several ranks its own GPU,
 * `CUDA_VISIBLE_DEVICES` = the `LOCAL_RANK`-th visible device, as `pfgm train --nproc-per-node`
 * does for its workers. Must run before the addon is loaded (the CUDA runtime reads it once).
 */
export function pinLocalGpu(): void {
  const env = rankEnvironment();
  if (env === undefined || env.launcher === 'pfgm' || env.localWorldSize <= 1) return;
  const visible = process.env.CUDA_VISIBLE_DEVICES?.split(',').filter((d) => d.trim() !== '');
  if (visible !== undefined && visible.length === 1) return; // the launcher pinned it already
  process.env.CUDA_VISIBLE_DEVICES = visible?.[env.localRank] ?? String(env.localRank);
}
