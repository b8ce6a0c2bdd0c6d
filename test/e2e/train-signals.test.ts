// Stopping `pfgm train` with signals: the first SIGINT or SIGTERM stops after the current step and
// saves the checkpoint; a second one during the save waits for it (it used to kill the save, the
// handler being installed with process.once); a third forces the exit. SIGINT exits 130,
// SIGTERM 143. Each case spawns the CLI, waits for its first tick, sends the first signal, and
// sends the next ones once the "saving" line is on stderr.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyCheckpoint } from '../../src/train/checkpoint.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const work = mkdtempSync(join(tmpdir(), 'pfgm-train-signals-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// Large enough that a checkpoint takes a moment to write (about 2M parameters), small enough that
// a step is quick.
const network = join(work, 'net.json');
writeFileSync(
  network,
  JSON.stringify({ kind: 'mlp', features: 2, hidden: 512, numBlocks: 4, embChannels: 128, noiseChannels: 32 }),
);

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/**
 * Trains until the first tick, sends `first`, then `more` SIGINTs once the save has begun (the
 * "saving" line), or 30 ms after the first signal if that comes first.
 */
function interrupt(out: string, first: NodeJS.Signals, more: number): Promise<Outcome> {
  const args = ['train', '--data', 'toy:moons', '--network', network, '--out', out];
  args.push('--steps', '400', '--batch', '16', '--json', '--sample-every', '0', '--checkpoint-every', '0');
  const child = spawn(process.execPath, [join(root, 'bin', 'pfgm.js'), ...args]);
  let stdout = '';
  let stderr = '';
  let stage = 0;
  const next = () => {
    if (stage !== 1) return;
    stage = 2;
    for (let i = 0; i < more; i++) child.kill('SIGINT');
  };
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (stage === 0 && stdout.includes('\n')) {
      stage = 1;
      child.kill(first);
      // A build that never says "saving" gets the next signals anyway, while it saves.
      if (more > 0) setTimeout(next, 30);
    }
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (/saving the checkpoint to/.test(stderr)) next();
  });
  return new Promise((done) => child.on('exit', (code, signal) => done({ code, signal, stderr })));
}

describe('pfgm train and signals', () => {
  it('a second SIGINT during the save waits for it: exit 130 with a complete checkpoint', async () => {
    const out = join(work, 'twice');
    const r = await interrupt(out, 'SIGINT', 1);
    expect(r.signal, r.stderr).toBeNull();
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/SIGINT: stopping after this step and saving the checkpoint/);
    expect(r.stderr).toMatch(/saving the checkpoint to .*\n/);
    expect(r.stderr).toMatch(/interrupted; checkpoint written to .*--resume/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    const marker = await verifyCheckpoint(out);
    expect(marker.counters.steps).toBeGreaterThan(0);
  }, 120_000);

  it('SIGTERM saves and exits 143', async () => {
    const out = join(work, 'term');
    const r = await interrupt(out, 'SIGTERM', 0);
    expect(r.signal, r.stderr).toBeNull();
    expect(r.code, r.stderr).toBe(143);
    expect(r.stderr).toMatch(/SIGTERM: stopping after this step/);
    expect((await verifyCheckpoint(out)).counters.steps).toBeGreaterThan(0);
  }, 120_000);

  it('a third signal forces the exit, with the first signal’s code', async () => {
    const r = await interrupt(join(work, 'thrice'), 'SIGINT', 2);
    expect(r.signal, r.stderr).toBeNull();
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  }, 120_000);
});
