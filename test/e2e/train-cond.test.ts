// Class labels in `pfgm train` and `pfgm sample`, as EDM's train.py and generate.py treat them:
// labelled data train an unconditional network unless --cond (said once on stderr); --cond
// trains a conditional one with label dropout 0.1 by default; its sample grid has one row per
// class; `pfgm sample --class none` needs a model trained with label dropout.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePng } from '../../src/codecs/png.js';
import { preset } from '../../src/models/config.js';
import { loadModel, saveModel } from '../../src/models/modelFile.js';
import { createNetwork } from '../../src/models/network.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const work = mkdtempSync(join(tmpdir(), 'pfgm-train-cond-e2e-'));
// 8 x 8 images in 10 classes; the labels file beside the images file is found by its name.
const images = join(work, 'tiny-images-idx3-ubyte');
afterAll(() => rmSync(work, { recursive: true, force: true }));
beforeAll(() => {
  const count = 100;
  const b = Buffer.alloc(16 + count * 64);
  b.writeUInt32BE(0x803, 0);
  b.writeUInt32BE(count, 4);
  b.writeUInt32BE(8, 8);
  b.writeUInt32BE(8, 12);
  for (let n = 0; n < count; n++) for (let k = 0; k < 64; k++) b[16 + n * 64 + k] = ((n % 10) * 25 + k) % 256;
  writeFileSync(images, b);
  const l = Buffer.alloc(8 + count);
  l.writeUInt32BE(0x801, 0);
  l.writeUInt32BE(count, 4);
  for (let n = 0; n < count; n++) l[8 + n] = n % 10;
  writeFileSync(join(work, 'tiny-labels-idx1-ubyte'), l);
});

function pfgm(args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'pfgm.js'), ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function train(out: string, flags: string[] = []) {
  return pfgm(['train', '--data', images, '--out', out, '--steps', '2', '--batch', '16', '--json', ...flags]);
}

function gridHeight(out: string): number {
  const png = readdirSync(out).filter((f) => f.endsWith('.png'));
  expect(png).toHaveLength(1);
  return decodePng(new Uint8Array(readFileSync(join(out, png[0] as string)))).height;
}

const message = /the data have 10 classes; training an unconditional network \(--cond/g;

describe('pfgm train --cond', () => {
  it('ignores the labels without --cond, saying so once; the model has label_dim 0', async () => {
    const out = join(work, 'uncond');
    const r = train(out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.match(message)).toHaveLength(1);
    const { net } = await loadModel(join(out, 'model.safetensors'));
    expect(net.labelDim).toBe(0);
    expect(net.config).toMatchObject({ labelDim: 0, labelDropout: 0, dropout: 0.1 });
    net.dispose();
    const model = join(out, 'model.safetensors');
    const none = pfgm(['sample', '--ckpt', model, '--out', join(work, 'u.npy'), '--count', '2', '--steps', '2']);
    expect(none.code, none.stderr).toBe(0);
    const cls = pfgm(['sample', '--ckpt', model, '--out', join(work, 'u.npy'), '--class', '1']);
    expect(cls.code).toBe(1);
    expect(cls.stderr).toMatch(/unconditional/);
  }, 120_000);

  it('trains a conditional network with label dropout 0.1; its grid has one row per class', async () => {
    const out = join(work, 'cond');
    const r = train(out, ['--cond', '--dropout', '0.05']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(message);
    const { net } = await loadModel(join(out, 'model.safetensors'));
    expect(net.labelDim).toBe(10);
    expect(net.config).toMatchObject({ labelDim: 10, labelDropout: 0.1, dropout: 0.05 });
    net.dispose();
    // 10 rows of 8 against the unconditional run's 8 rows of 8.
    expect(gridHeight(out) / gridHeight(join(work, 'uncond'))).toBeCloseTo(10 / 8, 1);
    const model = join(out, 'model.safetensors');
    for (const flags of [[], ['--class', 'none'], ['--class', '3', '--guidance', '2']]) {
      const s = pfgm([
        'sample',
        '--ckpt',
        model,
        '--out',
        join(work, 'c.npy'),
        '--count',
        '3',
        '--steps',
        '2',
        ...flags,
      ]);
      expect(s.code, `${flags.join(' ')}: ${s.stderr}`).toBe(0);
    }
    const p = train(join(work, 'cond2'), ['--cond', '--label-dropout', '0.25']);
    expect(p.code, p.stderr).toBe(0);
    const again = await loadModel(join(work, 'cond2', 'model.safetensors'));
    expect(again.net.config.labelDropout).toBe(0.25);
    again.net.dispose();
  }, 120_000);

  it('refuses --class none for a conditional model trained without label dropout', async () => {
    const model = join(work, 'no-dropout.safetensors');
    {
      using net = createNetwork(preset('mlp', { features: 2, hidden: 16, numBlocks: 1, labelDim: 3 }), { D: 64 });
      await saveModel(model, net, { objective: 'pfgmpp' });
    }
    const out = join(work, 'n.csv');
    const none = pfgm(['sample', '--ckpt', model, '--out', out, '--count', '2', '--steps', '2', '--class', 'none']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/--class none: this model was trained without label dropout/);
    expect(none.stderr.trim().split('\n')).toHaveLength(1);
    const cases: [string[], RegExp][] = [
      [['--class', '3'], /--class must be an integer in 0\.\.2 or none, got '3'/],
      [['--class', 'none', '--guidance', '2'], /--guidance needs a number and --class k/],
      [['--guidance', 'x'], /--guidance needs a number/],
    ];
    for (const [flags, re] of cases) {
      const r = pfgm(['sample', '--ckpt', model, '--out', out, '--count', '2', ...flags]);
      expect(r.code, flags.join(' ')).toBe(1);
      expect(r.stderr).toMatch(re);
    }
    // Without --class: a random class per sample.
    const random = pfgm(['sample', '--ckpt', model, '--out', out, '--count', '2', '--steps', '2']);
    expect(random.code, random.stderr).toBe(0);
  }, 60_000);

  it('explains bad label and dropout options in one line', () => {
    const cases: [string[], RegExp][] = [
      [['--label-dropout', '0.1'], /--label-dropout is an option of --cond/],
      [['--cond', '--label-dropout', '1'], /--label-dropout must be a probability in \[0, 1\), got '1'/],
      [['--dropout', '-0.1'], /--dropout must be a probability in \[0, 1\), got '-0.1'/],
      [['--dropout', 'abc'], /--dropout must be a probability/],
      [['--cond', '--resume', work], /--resume continues the saved network/],
    ];
    for (const [flags, re] of cases) {
      const r = train(join(work, 'never'), flags);
      expect(r.code, `${flags.join(' ')}: ${r.stderr}`).toBe(1);
      expect(r.stderr.trim()).toMatch(re);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    const toy = pfgm(['train', '--data', 'toy:moons', '--out', join(work, 'toy'), '--steps', '1', '--cond']);
    expect(toy.code).toBe(1);
    expect(toy.stderr).toMatch(/--cond: the data \(toy:moons\) have no class labels/);
  }, 60_000);
});
