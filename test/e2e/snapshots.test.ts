// pfgm train --snapshot-every keeps the model at ticks; pfgm eval --ckpt-dir measures every
// snapshot in kimg order and writes the table and the plots of the metrics against kimg. The last
// snapshot is the run's final model, so its line equals pfgm eval --ckpt of model.safetensors.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/toolkit.js';

const work = mkdtempSync(join(tmpdir(), 'pfgm-snapshots-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function pfgm(args: string[]) {
  const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'pfgm.js'), ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('snapshots and sweeps', () => {
  it('keeps snapshots every n ticks and evaluates them all, in kimg order', () => {
    const run = join(work, 'run');
    const t = pfgm([
      'train',
      '--data',
      'toy:moons',
      '--network',
      'mlp',
      '--D',
      '64',
      '--steps',
      '40',
      '--batch',
      '32',
      '--sample-every',
      '0',
      '--snapshot-every',
      '10',
      '--json',
      '--out',
      run,
    ]);
    expect(t.code, t.stderr).toBe(0);
    const snaps = readdirSync(run).filter((f) => f.startsWith('network-snapshot-'));
    // 40 steps of 32 make a tick per step: snapshots at steps 10, 20, 30 and 40.
    expect(snaps).toEqual([
      'network-snapshot-000000.320.safetensors',
      'network-snapshot-000000.640.safetensors',
      'network-snapshot-000000.960.safetensors',
      'network-snapshot-000001.280.safetensors',
    ]);

    const common = ['--data', 'toy:moons', '--count', '200', '--steps', '4'];
    const e = pfgm(['eval', '--ckpt-dir', run, ...common]);
    expect(e.code, e.stderr).toBe(0);
    const lines = e.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kimg: number; metrics: { sw: number; energy: number } });
    expect(lines.map((l) => l.kimg)).toEqual([0.32, 0.64, 0.96, 1.28]);
    const csv = readFileSync(join(run, 'snapshot-metrics.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('kimg,file,sw,energy');
    expect(csv).toHaveLength(5);
    expect(Number(csv[4]?.split(',')[2])).toBe(lines[3]?.metrics.sw);
    for (const m of ['sw', 'energy']) {
      const png = readFileSync(join(run, `snapshot-${m}.png`));
      expect([...png.subarray(0, 8)]).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
    }
    const final = pfgm(['eval', '--ckpt', join(run, 'model.safetensors'), ...common]);
    expect(final.code, final.stderr).toBe(0);
    expect(JSON.parse(final.stdout).metrics).toEqual(lines[3]?.metrics);
  }, 120_000);

  it('explains a run without snapshots and --ckpt with --ckpt-dir', () => {
    const none = pfgm(['eval', '--ckpt-dir', work, '--data', 'toy:moons']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no network-snapshot-\*\.safetensors files; train with pfgm train --snapshot-every/);
    const both = pfgm(['eval', '--ckpt', 'a', '--ckpt-dir', work, '--data', 'toy:moons']);
    expect(both.code).toBe(1);
    expect(both.stderr).toMatch(/--ckpt FILE .* or --ckpt-dir RUN/);
  });
});
