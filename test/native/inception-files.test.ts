// Loading the FID Inception from files: loadInception on safetensors files (good, missing, not
// safetensors, wrong names, wrong shapes) and scripts/convert-inception.py on .pth state dicts in
// pytorch-fid's layout (torchvision names with fc and num_batches_tracked, or the InceptionV3
// wrapper's blocks.* names), made by test/fixtures/gen/inception.py --pth from the same
// deterministic weights as the golden test: a converted file must give the features of the
// weights it came from, bit for bit.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeSafetensors, type SafetensorsEntry } from '../../src/codecs/safetensors.js';
import { createInception, type InceptionNetwork, inceptionTensors, loadInception } from '../../src/eval/inception.js';
import { inceptionTestWeights } from '../helpers/inception.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pfgm-inception-'));
const weights = inceptionTestWeights(inceptionTensors());
const shape = { count: 2, channels: 3, height: 16, width: 16 };
const images = Float32Array.from({ length: 2 * 3 * 16 * 16 }, (_, i) => Math.sin(i * 0.731));

let reference: Float32Array;
let fromMemory: InceptionNetwork;
beforeAll(async () => {
  fromMemory = await createInception(weights);
  reference = await fromMemory.features(images, shape);
});
afterAll(() => {
  fromMemory.dispose();
  rmSync(dir, { recursive: true, force: true }); // the converted files are 87 MB each
});

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function writeTensors(name: string, tensors: Map<string, Float32Array>, shapes?: Map<string, number[]>): string {
  const shapeOf = new Map(inceptionTensors().map((t) => [t.name, [...t.shape]]));
  const entries: [string, SafetensorsEntry][] = [...tensors].map(([k, data]) => [
    k,
    { dtype: 'F32', shape: shapes?.get(k) ?? shapeOf.get(k) ?? [data.length], data },
  ]);
  const path = join(dir, name);
  writeFileSync(path, encodeSafetensors(entries));
  return path;
}

const rejects = (p: Promise<unknown>, ...patterns: (string | RegExp)[]) =>
  Promise.all(
    patterns.map((m) =>
      expect(p).rejects.toMatchObject({
        code: 'ERR_PFGM_CHECKPOINT',
        message: typeof m === 'string' ? expect.stringContaining(m) : expect.stringMatching(m),
      }),
    ),
  );

describe('loadInception', () => {
  it('a safetensors file with the tensors (and extras such as fc) gives the same features', async () => {
    const withFc = new Map(weights);
    withFc.set('fc.weight', new Float32Array(1008 * 2048));
    const path = writeTensors('good.safetensors', withFc, new Map([['fc.weight', [1008, 2048]]]));
    using net = await loadInception(path);
    expect(sameBits(await net.features(images, shape), reference)).toBe(true);
  });

  it('a missing file, a directory and a file that is not safetensors say how to convert', async () => {
    const missing = join(dir, 'nope.safetensors');
    await rejects(loadInception(missing), missing, 'does not exist', 'scripts/convert-inception.py');
    const folder = join(dir, 'folder.safetensors');
    mkdirSync(folder, { recursive: true });
    await rejects(loadInception(folder), 'is a directory', 'convert-inception.py');
    const junk = join(dir, 'junk.safetensors');
    writeFileSync(junk, 'not a safetensors file at all');
    await rejects(loadInception(junk), 'not a valid safetensors file', 'pt_inception-2015-12-05-6726825d.pth');
  });

  it('a file with other names (e.g. torchvision names under a prefix) lists what is missing', async () => {
    const prefixed = new Map([...weights].map(([k, v]) => [`inception.${k}`, v]));
    const path = writeTensors(
      'prefixed.safetensors',
      prefixed,
      new Map([...prefixed].map(([k, v]) => [k, [v.length]])),
    );
    await rejects(
      loadInception(path),
      /470 of the 470 Inception tensors are missing \(e\.g\. 'Conv2d_1a_3x3\.conv\.weight'/,
    );
  });

  it('a tensor of the wrong shape is named with the shape expected', async () => {
    const path = writeTensors(
      'shape.safetensors',
      weights,
      new Map([['Mixed_7b.branch3x3_2a.conv.weight', [384, 384, 3, 1]]]),
    );
    await rejects(
      loadInception(path),
      "'Mixed_7b.branch3x3_2a.conv.weight' has shape [384, 384, 3, 1], expected [384, 384, 1, 3]",
      'not the FID Inception-v3 weights',
    );
  });
});

const torch = spawnSync('python3', ['-c', 'import torch, numpy'], { stdio: 'ignore' }).status === 0;
describe.skipIf(!torch)('scripts/convert-inception.py', () => {
  const gen = join(ROOT, 'test/fixtures/gen/inception.py');
  const convert = join(ROOT, 'scripts/convert-inception.py');

  it.each([
    ["pytorch-fid's file layout (torchvision names, fc, num_batches_tracked)", []],
    ["the InceptionV3 wrapper's blocks.* names", ['--wrapper']],
  ])('converts %s into a file that gives the same features', async (_what, flags) => {
    const pth = join(dir, `fake${flags.length}.pth`);
    const out = join(dir, `converted${flags.length}.safetensors`);
    execFileSync('python3', [gen, '--pth', pth, ...flags], { stdio: 'pipe' });
    const log = execFileSync('python3', [convert, pth, out], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(log).toMatch(/470 tensors, 21820000 numbers/);
    expect(log).toMatch(/not pytorch-fid's file/); // its SHA-256 is not the official one's
    using net = await loadInception(out);
    expect(sameBits(await net.features(images, shape), reference)).toBe(true);
  });

  it('refuses a state dict that is not the FID Inception, naming what is wrong', () => {
    const script = [
      'import sys, torch',
      "torch.save({'Conv2d_1a_3x3.conv.weight': torch.zeros(32, 3, 5, 5)}, sys.argv[1])",
    ].join('\n');
    const pth = join(dir, 'wrong.pth');
    execFileSync('python3', ['-c', script, pth]);
    const r = spawnSync('python3', [convert, pth, join(dir, 'wrong.safetensors')], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("'Conv2d_1a_3x3.conv.weight' has shape [32, 3, 5, 5], expected [32, 3, 3, 3]");
    expect(r.stderr).toContain("missing 'Conv2d_1a_3x3.bn.weight'");
  });
});
