// `pfgm train --nproc-per-node N` on Gloo (docs/distributed.md): N ranks at batch B/N train as one
// process at batch B. Two ranks equal one process with --micro-batch B/2 bit for bit (the mean of
// two half-batch means, scaled by the exact 1/2, is the same arithmetic); three ranks, a resume
// from two ranks into three and one process at the whole batch agree within the round-off bound
// derived in docs/distributed.md ("What is deterministic"). A killed or hung rank ends the run with
// the rank named and the last checkpoint intact; bad launches fail before training, saying why.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import type { TrainerState } from '../../src/train/trainer.js';
import { savedWeights } from '../helpers/modelWeights.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = join(root, 'bin', 'pfgm.js');
const work = mkdtempSync(join(tmpdir(), 'pfgm-train-dist-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// One thread everywhere: the single-process references and every worker then sum in the same
// order inside each kernel, whatever the machine's core count.
const ENV: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: '1', PFGM_DEVICE: 'cpu' };
delete ENV.RANK;
delete ENV.WORLD_SIZE;

function pfgm(args: string[], env: NodeJS.ProcessEnv = ENV) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const LR = 1e-3;
// Dropout on, so its per-sample draws are part of what must match (a resumed run keeps the
// network's, and takes no --dropout).
const recipe = (steps: number, resume = false) => [
  'train',
  '--data',
  'toy:moons',
  '--network',
  'mlp',
  '--D',
  '64',
  ...(resume ? [] : ['--dropout', '0.1']),
  '--json',
  '--sample-every',
  '0',
  '--lr',
  String(LR),
  '--lr-rampup-kimg',
  '0',
  '--batch',
  '12',
  '--steps',
  String(steps),
];

function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/**
 * docs/distributed.md: K Adam steps whose gradients differ only in summation order differ by at
 * most K * lr * 1e-3 in any weight.
 */
const bound = (steps: number) => steps * LR * 1e-3;

const trained = (dir: string, args: string[]) => {
  const r = pfgm([...args, '--out', dir]);
  expect(r.code, r.stderr).toBe(0);
  return dir;
};

describe('pfgm train --nproc-per-node', () => {
  const steps = 24;
  const one = (name: string, extra: string[] = []) => trained(join(work, name), [...recipe(steps), ...extra]);

  it('2 ranks equal one process with --micro-batch 6 bit for bit, and report the global loss', async () => {
    const single = one('micro6', ['--micro-batch', '6']);
    const dist = one('ranks2', ['--nproc-per-node', '2']);
    const [a, b] = [await savedWeights(single), await savedWeights(dist)];
    expect(maxDiff(a.raw, b.raw)).toBe(0);
    expect(maxDiff(a.ema, b.ema)).toBe(0);
    const stats = (dir: string) =>
      readFileSync(join(dir, 'stats.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { loss: number; kimg: number; step: number });
    expect(stats(dist).map((t) => t.loss)).toEqual(stats(single).map((t) => t.loss));
    expect(stats(dist).at(-1)).toMatchObject({ step: steps, kimg: (steps * 12) / 1000 });
    // Rank 0 alone writes: one stats line per tick, not two.
    expect(stats(dist).length).toBe(stats(single).length);
  });

  it('3 ranks (each with --micro-batch 2) agree with one process at the whole batch within the bound', async () => {
    const whole = await savedWeights(one('whole'));
    const three = await savedWeights(one('ranks3', ['--nproc-per-node', '3', '--micro-batch', '2']));
    const d = maxDiff(whole.raw, three.raw);
    expect(d).toBeLessThanOrEqual(bound(steps));
    // Not vacuous: another seed is far outside the bound.
    const other = await savedWeights(one('seed1', ['--seed', '1']));
    expect(maxDiff(whole.raw, other.raw)).toBeGreaterThan(100 * bound(steps));
  });

  it('resumes a 2-rank checkpoint with 3 ranks at the same global position', async () => {
    const dir = join(work, 'resume23');
    trained(dir, [...recipe(10), '--nproc-per-node', '2']);
    const r = pfgm([...recipe(steps, true), '--out', dir, '--resume', dir, '--nproc-per-node', '3']);
    expect(r.code, r.stderr).toBe(0);
    const ckpt = await loadCheckpoint<{ trainer: TrainerState }>(dir);
    const straight = await loadCheckpoint<{ trainer: TrainerState }>(join(work, 'whole'));
    try {
      expect(ckpt.net.counters()).toEqual(straight.net.counters());
      expect(ckpt.extra.trainer.epoch).toBe(straight.extra.trainer.epoch);
      expect(ckpt.extra.trainer.position).toBe(straight.extra.trainer.position);
    } finally {
      ckpt.net.dispose();
      straight.net.dispose();
    }
    const d = maxDiff((await savedWeights(dir)).raw, (await savedWeights(join(work, 'whole'))).raw);
    expect(d).toBeLessThanOrEqual(bound(steps));
  });
});

/** The pid of the worker with RANK=rank among a launcher's children. */
function workerPid(launcher: number, rank: number): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== launcher) continue;
      const env = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (env.includes(`RANK=${rank}`)) return Number(entry);
    } catch {
      // a process that ended meanwhile
    }
  }
  return undefined;
}

/**
 * Starts a long 2-rank run, waits for its first checkpoint, then does `act` to rank 1 (given its
 * pid and the launcher's).
 */
async function failRank(name: string, act: (pid: number, launcher: number) => void, extra: string[] = []) {
  const out = join(work, name);
  const child = spawn(
    process.execPath,
    [
      bin,
      ...recipe(2000),
      '--batch',
      '1200',
      '--checkpoint-every',
      '1',
      '--out',
      out,
      '--nproc-per-node',
      '2',
      ...extra,
    ],
    { env: ENV, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += String(d);
  });
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  const deadline = Date.now() + 60_000;
  while (!existsSync(join(out, 'checkpoint.json')) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 100));
  const pid = workerPid(child.pid as number, 1);
  expect(pid, stderr).toBeDefined();
  const t0 = Date.now();
  act(pid as number, child.pid as number);
  const code = await exited;
  return { code, stderr, seconds: (Date.now() - t0) / 1000, out };
}

describe('pfgm train --nproc-per-node: failures', () => {
  it('a killed rank ends the run at once, named, and the last checkpoint stays loadable', async () => {
    const r = await failRank('killed', (pid) => process.kill(pid, 'SIGKILL'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/rank 1 failed first \(killed by SIGKILL\)/);
    expect(r.seconds).toBeLessThan(20);
    const ckpt = await loadCheckpoint(r.out);
    expect(ckpt.net.counters().steps).toBeGreaterThan(0);
    ckpt.net.dispose();
  }, 90_000);

  it('a hung rank ends the run within --dist-timeout plus the grace period', async () => {
    const r = await failRank('hung', (pid) => process.kill(pid, 'SIGSTOP'), ['--dist-timeout', '2']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Timed out|did not answer within 2 s/);
    expect(r.stderr).toMatch(/rank 1: did not stop when asked \(hung\?\), killed/);
    expect(r.seconds).toBeLessThan(2 + 10 + 5);
    const ckpt = await loadCheckpoint(r.out);
    ckpt.net.dispose();
  }, 90_000);

  it('Ctrl-C stops every rank after the same step; rank 0 saves, and the run resumes', async () => {
    const r = await failRank('interrupted', (_, launcher) => process.kill(launcher, 'SIGINT'));
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/interrupted; checkpoint written/);
    const ckpt = await loadCheckpoint<{ trainer: TrainerState }>(r.out);
    const steps = ckpt.net.counters().steps;
    ckpt.net.dispose();
    expect(steps).toBeGreaterThan(0);
    const again = pfgm([
      ...recipe(steps + 2, true),
      '--batch',
      '1200',
      '--out',
      r.out,
      '--resume',
      r.out,
      '--nproc-per-node',
      '2',
    ]);
    expect(again.code, again.stderr).toBe(0);
  }, 90_000);

  it('refuses bad launches before training, saying why', async () => {
    const run = recipe(5);
    // A rank outside the world.
    let r = pfgm([...run, '--out', join(work, 'bad1')], { ...ENV, RANK: '2', WORLD_SIZE: '2' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/rank 2 is outside a world of 2 ranks/);
    // A master that never answers.
    const port = await new Promise<number>((done) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => done(p));
      });
    });
    r = pfgm([...run, '--out', join(work, 'bad2'), '--dist-timeout', '1'], {
      ...ENV,
      RANK: '1',
      WORLD_SIZE: '2',
      MASTER_PORT: String(port),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/could not reach the rendezvous of rank 0 at 127\.0\.0\.1:\d+ within 1 s/);
    // A busy master port.
    const busy = createServer();
    await new Promise<void>((done) => busy.listen(0, '127.0.0.1', () => done()));
    try {
      const p = (busy.address() as { port: number }).port;
      r = pfgm([...run, '--out', join(work, 'bad3'), '--nproc-per-node', '2', '--master-port', String(p)]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/rank 0 failed first.*the port is in use/);
    } finally {
      busy.close();
    }
    // A batch that does not split.
    r = pfgm([...run, '--out', join(work, 'bad4'), '--nproc-per-node', '5']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the batch of 12 does not split evenly over 5 ranks/);
  }, 90_000);

  it('refuses ranks started with different settings', async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const start = (rank: number, batch: string) =>
      new Promise<{ code: number | null; stderr: string }>((done) => {
        const c = spawn(
          process.execPath,
          [bin, ...recipe(5), '--batch', batch, '--out', join(work, `mismatch${rank}`), '--dist-timeout', '20'],
          {
            env: { ...ENV, RANK: String(rank), WORLD_SIZE: '2', MASTER_PORT: String(port) },
            stdio: ['ignore', 'ignore', 'pipe'],
          },
        );
        let stderr = '';
        c.stderr.on('data', (d) => {
          stderr += String(d);
        });
        c.on('exit', (code) => done({ code, stderr }));
      });
    const [a, b] = await Promise.all([start(0, '12'), start(1, '24')]);
    expect(a.code).toBe(1);
    expect(b.code).toBe(1);
    expect(a.stderr).toMatch(/rank 1's training options differ from rank 0's/);
  }, 60_000);
});
