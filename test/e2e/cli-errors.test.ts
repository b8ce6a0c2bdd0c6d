// Every failure of every `pfgm` command is one line on stderr that names the problem (the flag)
// and the fix — never a Node stack trace — with exit code 1, or 2 for a usage error (a flag
// without its value, an unknown flag, a stray argument). Runs the built CLI (bin/pfgm.js over
// dist/: `npm run build:ts` first).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeNpy } from '../../src/codecs/npy.js';
import { verifyCheckpoint } from '../../src/train/checkpoint.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const work = mkdtempSync(join(tmpdir(), 'pfgm-cli-errors-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function pfgm(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'pfgm.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 120_000,
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

const file = join(work, 'a-file');
const model = join(work, 'model');
const out = (name: string) => join(work, 'out', name);

beforeAll(() => {
  writeFileSync(file, 'not a directory\n');
  mkdirSync(join(work, 'out'));
  const r = pfgm(['train', '--data', 'toy:moons', '--network', 'mlp', '--out', model, '--steps', '2', '--json']);
  expect(r.code, r.stderr).toBe(0);
}, 120_000);

// [args, exit code, what the line must say (the option it names)]
const table: [string[], number, RegExp][] = [
  // train
  [['train', '--data', 'toy:moons', '--D', '-1', '--out', out('d')], 1, /--D must be a positive number, got '-1'/],
  [['train', '--steps'], 2, /--steps needs a value/],
  [['train', '--out', out('s'), 'stray'], 2, /'stray'/],
  [['train', '--out', out('u'), '--bogus'], 2, /'--bogus'/],
  [
    ['train', '--data', 'toy:moons', '--out', out('b'), '--batch', '1e12', '--steps', '1'],
    1,
    /largest batch that fits is \d+: lower --batch .*\[ERR_PFGM_OUT_OF_MEMORY\]/,
  ],
  [
    ['train', '--data', 'toy:moons', '--out', out('b8'), '--batch', '100000000', '--steps', '1'],
    1,
    /a batch of 100000000 needs .* lower --batch .*\[ERR_PFGM_OUT_OF_MEMORY\]/,
  ],
  [['train', '--data', 'toy:moons', '--out', file], 1, /--out .*a-file: this is an existing file, not a directory/],
  [['train', '--data', 'toy:moons', '--out', join(file, 'sub')], 1, /--out .*cannot create this directory/],
  [['train', '--data', 'toy:moons', '--out', '/proc/pfgm-nope'], 1, /--out \/proc\/pfgm-nope: cannot create/],
  [['train', '--data', 'toy:moons', '--out', out('t'), '--steps', '1e300'], 1, /--steps must be an integer from 0 to/],
  [['train', '--data', 'toy:moons', '--out', out('k'), '--kimg', '1e300'], 1, /--kimg must be a number from 0 to/],
  [['train', '--data', 'toy:moons', '--out', out('r'), '--resume', join(work, 'none')], 1, /none/],
  // sample
  [['sample', '--steps'], 2, /--steps needs a value/],
  [['sample', '--ckpt', model, '--out', out('x.png'), 'extra'], 2, /'extra'/],
  [['sample', '--ckpt', model, '--out', out('x.png'), '--steps', '-1'], 1, /--steps must be a positive integer/],
  [['sample', '--ckpt', join(work, 'missing'), '--out', out('x.png')], 1, /missing/],
  [['sample', '--ckpt', model, '--out', join(file, 'x.png')], 1, /a-file/],
  // eval
  [['eval', '--count'], 2, /--count needs a value/],
  [['eval', '--ckpt', model, '--data', 'toy:moons', '--count', '-3'], 1, /--count must be a positive integer/],
  [['eval', '--ckpt', model, '--data', 'toy:moons', 'stray'], 2, /'stray'/],
  // experiment
  [['experiment', 'robustness', '--data', 'toy:moons', '--out', file], 1, /--out .*existing file/],
  [['experiment', 'robustness', '--steps'], 2, /--steps needs a value/],
  [['experiment', 'robustness', 'stray'], 2, /'stray'/],
  [['experiment', 'nope'], 1, /unknown experiment 'nope'/],
  // info
  [['info', 'extra'], 2, /'extra'/],
  [['info', '--bogus'], 2, /'--bogus'/],
];

describe('pfgm CLI errors', () => {
  it.each(table)('pfgm %j', (args, code, line) => {
    const r = pfgm(args);
    expect(r.signal).toBeNull();
    expect(r.code, r.stderr).toBe(code);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(lines[0]).toMatch(/^pfgm: /);
    expect(lines[0]).toMatch(line);
    if (code === 2) expect(lines[0]).toMatch(/Run 'pfgm \w+ --help'/);
  });

  it('a failed read of the next batch: one line, exit 1, the last good checkpoint kept', () => {
    const x = new Float32Array(2000);
    for (let i = 0; i < x.length; i++) x[i] = Math.sin(i);
    x[1000] = Number.NaN; // row 500
    const data = join(work, 'nan.npy');
    writeFileSync(data, encodeNpy(x, [1000, 2]));
    const dir = out('nan');
    const args = ['train', '--data', data, '--out', dir, '--steps', '200', '--batch', '16', '--network', 'mlp'];
    const r = pfgm([...args, '--json']);
    expect(r.code, r.stderr).toBe(1);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^pfgm: .*nan\.npy.* NaN at sample 500/);
    return verifyCheckpoint(dir).then((marker) => expect(marker.counters.steps).toBeGreaterThan(0));
  });
});
