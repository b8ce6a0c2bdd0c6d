// `pfgm train` as a user runs it: a short run on a toy set writes the model, stats and a sample
// plot; --resume continues it; bad data and bad options end with a clear message, not a crash.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { decodePng } from '../../src/codecs/png.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const work = mkdtempSync(join(tmpdir(), 'pfgm-train-e2e-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function pfgm(args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'pfgm.js'), ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('pfgm train', () => {
  it('trains on a toy set and writes model, stats and a scatter plot; --resume continues', () => {
    const out = join(work, 'moons');
    const r = pfgm([
      'train',
      '--data',
      'toy:moons',
      '--out',
      out,
      '--steps',
      '30',
      '--batch',
      '128',
      '--D',
      '64',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const ticks = readFileSync(join(out, 'stats.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(ticks.at(-1)).toMatchObject({ step: 30 });
    expect(r.stdout.trim().split('\n').length).toBe(ticks.length);
    expect(existsSync(join(out, 'model.safetensors'))).toBe(true);
    const pngs = readdirSync(out).filter((f) => f.endsWith('.png'));
    expect(pngs.length).toBeGreaterThanOrEqual(1);
    const png = decodePng(new Uint8Array(readFileSync(join(out, pngs.at(-1) as string))));
    expect(png.width).toBeGreaterThan(100);

    const again = pfgm([
      'train',
      '--data',
      'toy:moons',
      '--out',
      out,
      '--resume',
      out,
      '--steps',
      '40',
      '--batch',
      '128',
      '--json',
    ]);
    expect(again.code, again.stderr).toBe(0);
    const all = readFileSync(join(out, 'stats.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(all.at(-1)).toMatchObject({ step: 40 });
  }, 120_000);

  it('trains the original PFGM objective (--objective pfgm) and records it in the model', async () => {
    const out = join(work, 'pfgm');
    const r = pfgm([
      'train',
      '--data',
      'toy:gaussians',
      '--objective',
      'pfgm',
      '--ref-batch',
      '512',
      '--out',
      out,
      '--steps',
      '20',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const { loadModel } = await import('../../src/models/modelFile.js');
    const { net, meta } = await loadModel(join(out, 'model.safetensors'));
    expect(meta.objective).toBe('pfgm');
    expect(net.objective).toBe('pfgm');
    expect(net.pfgm?.zMax).toBeGreaterThan(0);
    net.dispose();
    expect(readdirSync(out).some((f) => f.endsWith('.png'))).toBe(true);
  }, 120_000);

  it('explains bad data and bad options', () => {
    const empty = join(work, 'empty');
    rmSync(empty, { recursive: true, force: true });
    spawnSync('mkdir', ['-p', empty]);
    const bad = join(work, 'bad.csv');
    writeFileSync(bad, '1,2\n3,oops\n');
    const cases: [string[], RegExp][] = [
      [['train', '--data', bad, '--out', join(work, 'x'), '--steps', '1'], /row 2.*column 2|column 2.*row 2/i],
      [['train', '--data', empty, '--out', join(work, 'x'), '--steps', '1'], /empty/i],
      [['train', '--data', join(work, 'missing.csv'), '--out', join(work, 'x'), '--steps', '1'], /missing\.csv/],
      [
        ['train', '--data', 'toy:moons', '--out', join(work, 'x'), '--batch', '0'],
        /--batch must be a positive integer/,
      ],
      [['train', '--data', 'toy:nope', '--out', join(work, 'x')], /nope/],
      [['train', '--data', 'toy:moons'], /needs --out DIR/],
      [['train', '--data', 'toy:moons', '--out', join(work, 'x'), '--objective', 'pfgm', '--D', '64'], /D = 1/],
      [['train', '--data', 'toy:moons', '--out', join(work, 'x'), '--objective', 'nope'], /pfgmpp.*pfgm/],
    ];
    for (const [args, message] of cases) {
      const r = pfgm(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/at .*\.js:\d+/); // a message, not a stack trace
    }
    // Training options are checked (by resolveTrainOptions) before anything is written: one line.
    const options: [string[], RegExp][] = [
      [['--lr-rampup-kimg', 'abc'], /^pfgm: --lr-rampup-kimg must be a number, got 'abc' \[ERR_PFGM_ARGUMENT\]$/],
      [
        ['--lr-rampup-kimg', '-1'],
        /^pfgm: --lr-rampup-kimg must be a finite number >= 0, got -1 \[ERR_PFGM_ARGUMENT\]$/,
      ],
      [['--lr-rampup-kimg=Infinity'], /^pfgm: --lr-rampup-kimg must be a finite number >= 0, got Infinity/],
      [['--seed', '-1'], /^pfgm: --seed must be an integer >= 0, got '-1'/],
      [['--lr', 'NaN'], /^pfgm: --lr must be a positive number, got 'NaN'/],
    ];
    for (const [flags, message] of options) {
      const out = join(work, 'never');
      const r = pfgm(['train', '--data', 'toy:moons', '--out', out, ...flags, '--steps', '1']);
      expect(r.code, `${flags.join(' ')}: ${r.stderr}`).toBe(1);
      expect(r.stderr.trim()).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(existsSync(out)).toBe(false);
    }
  }, 120_000);
});
