// pfgm train's progress when stderr is not a terminal (a pipe here, as a log file or CI would be):
// one readable line per tick, no carriage returns; --quiet leaves only the start and end lines.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/toolkit.js';

const work = mkdtempSync(join(tmpdir(), 'pfgm-train-logs-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const run = (out: string, extra: string[] = []) =>
  spawnSync(
    process.execPath,
    [
      join(repoRoot, 'bin', 'pfgm.js'),
      'train',
      '--data',
      'toy:moons',
      '--network',
      'mlp',
      '--steps',
      '10',
      '--batch',
      '32',
      '--sample-every',
      '0',
      '--out',
      join(work, out),
      ...extra,
    ],
    { encoding: 'utf8' },
  );

describe('pfgm train logs', () => {
  it('writes one plain line per tick to a pipe', () => {
    const r = run('plain');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('\r');
    const ticks = r.stderr.split('\n').filter((l) => l.startsWith('pfgm train: step '));
    expect(ticks).toHaveLength(10);
    expect(ticks[9]).toMatch(/^pfgm train: step 10 {2}0\.3\/0\.3 kimg {2}loss \d+\.\d{4} {2}\d+ img\/s {2}eta 0 s$/);
    expect(r.stderr).toMatch(/pfgm train: done\./);
  });

  it('--quiet writes no progress', () => {
    const r = run('quiet', ['--quiet']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/step \d+/);
    expect(r.stderr).toMatch(/pfgm train: done\./);
  });
});
