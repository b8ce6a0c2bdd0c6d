/**
 * `pfgm train --nproc-per-node N`: starts N worker processes of the same command on this machine
 * with torchrun's environment variables, splits the CPU threads between them (or gives each its
 * GPU), forwards Ctrl-C and SIGTERM once, and when a worker fails stops the others and names it
 * (docs/distributed.md, "Launchers").
 *
 * @internal
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';
import { PfgmError } from '../errors.js';

/** Where this machine's workers sit in the run. */
export interface LaunchPlan {
  /** Workers on this machine. */
  nprocPerNode: number;
  /** Machines in the run. */
  nnodes: number;
  /** This machine's index, 0 .. nnodes - 1. */
  nodeRank: number;
  /** Where rank 0 hosts the rendezvous. */
  masterAddr: string;
  /** Its port; left out on one machine, a free one is picked. */
  masterPort?: number;
  /** Seconds before a silent or lost rank fails the others. */
  timeoutSeconds: number;
  /** Seconds the launcher waits, after the first failure, before killing the workers left. */
  graceSeconds?: number;
}

/** A free TCP port on `host` (the OS's pick). */
async function freePort(host: string): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

interface Worker {
  rank: number;
  child: ChildProcess;
  /** The last lines it wrote on stderr, for the summary of a failure. */
  tail: string[];
  /** It was still running when the grace period ended, and was killed. */
  hung?: boolean;
  exit?: { code: number | null; signal: NodeJS.Signals | null };
}

function describeExit(w: Worker): string {
  const e = w.exit;
  if (e === undefined) return 'still running';
  if (w.hung) return 'did not stop when asked (hung?), killed';
  return e.signal !== null ? `killed by ${e.signal}` : `exit code ${e.code}`;
}

/**
 * Runs `args` (a `pfgm` command line without the launcher's flags) as this machine's workers and
 * resolves to the launcher's exit code: 0 when every worker succeeded, 130/143 after Ctrl-C or
 * SIGTERM, 1 when a worker failed (named on stderr with its last error line).
 */
export async function launchWorkers(args: readonly string[], plan: LaunchPlan): Promise<number> {
  const { nprocPerNode: n, nnodes, nodeRank } = plan;
  if (nodeRank >= nnodes) {
    throw new PfgmError(
      'ERR_PFGM_DISTRIBUTED',
      `--node-rank ${nodeRank} is outside --nnodes ${nnodes} (0..${nnodes - 1})`,
    );
  }
  if (nnodes > 1 && plan.masterPort === undefined) {
    throw new PfgmError(
      'ERR_PFGM_DISTRIBUTED',
      "--nnodes > 1 needs --master-port (the same on every machine) and --master-addr (rank 0's machine)",
    );
  }
  const masterPort = plan.masterPort ?? (await freePort(plan.masterAddr));
  const worldSize = n * nnodes;
  const threads = process.env.OMP_NUM_THREADS ?? String(Math.max(1, Math.floor(availableParallelism() / n)));
  const visible = process.env.CUDA_VISIBLE_DEVICES?.split(',').filter((d) => d.trim() !== '');
  const script = process.argv[1];
  if (script === undefined) throw new PfgmError('ERR_PFGM_INTERNAL', 'the launcher cannot find its own script');
  process.stderr.write(
    `pfgm train: starting ${n} worker${n > 1 ? 's' : ''} (ranks ${nodeRank * n}..${nodeRank * n + n - 1} of ${worldSize}), ${threads} CPU thread${threads === '1' ? '' : 's'} each, rendezvous ${plan.masterAddr}:${masterPort}\n`,
  );

  const workers: Worker[] = [];
  let failed: Worker | undefined;
  let signalled: NodeJS.Signals | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  const stopAll = (signal: NodeJS.Signals) => {
    for (const w of workers) if (w.exit === undefined) w.child.kill(signal);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled === undefined) signalled = signal;
    // Workers run in process groups of their own, so a terminal's Ctrl-C reaches them only
    // through this one forward (each then stops after its step, and rank 0 saves).
    stopAll(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const exits: Promise<void>[] = [];
  for (let local = 0; local < n; local++) {
    const rank = nodeRank * n + local;
    const child = spawn(process.execPath, [...process.execArgv, script, ...args], {
      detached: true,
      stdio: ['ignore', rank === 0 ? 'inherit' : 'ignore', 'pipe'],
      env: {
        ...process.env,
        RANK: String(rank),
        WORLD_SIZE: String(worldSize),
        LOCAL_RANK: String(local),
        LOCAL_WORLD_SIZE: String(n),
        MASTER_ADDR: plan.masterAddr,
        MASTER_PORT: String(masterPort),
        OMP_NUM_THREADS: threads,
        CUDA_VISIBLE_DEVICES: visible?.[local] ?? String(local),
        PFGM_LAUNCHER: '1',
        PFGM_DIST_TIMEOUT: String(plan.timeoutSeconds),
      },
    });
    const w: Worker = { rank, child, tail: [] };
    workers.push(w);
    if (child.stderr !== null) {
      const lines = createInterface({ input: child.stderr, crlfDelay: Number.POSITIVE_INFINITY });
      lines.on('line', (line) => {
        w.tail.push(line);
        if (w.tail.length > 20) w.tail.shift();
        process.stderr.write(rank === 0 ? `${line}\n` : `[rank ${rank}] ${line}\n`);
      });
    }
    exits.push(
      new Promise((done) => {
        child.on('exit', (code, signal) => {
          w.exit = { code, signal };
          if ((code !== 0 || signal !== null) && failed === undefined && signalled === undefined) {
            failed = w;
            // The others fail on their own once their collectives lose this rank; a rank that
            // hangs is stopped here, then killed after the grace period.
            stopAll('SIGTERM');
            killTimer = setTimeout(
              () => {
                for (const x of workers) if (x.exit === undefined) x.hung = true;
                stopAll('SIGKILL');
              },
              (plan.graceSeconds ?? 10) * 1000,
            );
            killTimer.unref();
          }
          done();
        });
        child.on('error', (error) => {
          w.tail.push(error.message);
          w.exit = { code: 1, signal: null };
          done();
        });
      }),
    );
  }
  await Promise.all(exits);
  if (killTimer !== undefined) clearTimeout(killTimer);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  if (signalled !== undefined) return signalled === 'SIGTERM' ? 143 : 130;
  if (failed !== undefined) {
    const last = [...failed.tail].reverse().find((l) => l.trim() !== '') ?? '(no message)';
    const others = workers
      .filter((w) => w !== failed)
      .map((w) => `rank ${w.rank}: ${describeExit(w)}`)
      .join(', ');
    process.stderr.write(
      `pfgm train: rank ${failed.rank} failed first (${describeExit(failed)}): ${last.replace(/^\[rank \d+\] /, '')}\n` +
        (others ? `pfgm train: the other workers were stopped (${others})\n` : ''),
    );
    return 1;
  }
  return workers.every((w) => w.exit?.code === 0) ? 0 : 1;
}
