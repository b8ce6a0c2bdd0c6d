// The feature classifier (src/native/nn/classifier.cc) and its ops: global average pooling and
// softmax cross-entropy against PyTorch golden tensors (test/fixtures/gen/classifier.py), the
// whole network's logits, features, loss and every gradient against its PyTorch twin, the loss
// against finite differences, its file format, a short training run, and bad input.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { native } from '../../src/addon/load.js';
import { encodeSafetensors } from '../../src/codecs/safetensors.js';
import { fashionMnist } from '../../src/data/idx.js';
import type { ClassifierConfig } from '../../src/eval/classifier/config.js';
import { type Classifier, createClassifier, loadClassifier } from '../../src/eval/classifier/model.js';
import { evaluateClassifier, trainClassifier } from '../../src/eval/classifier/train.js';
import { writeFileAtomic } from '../../src/io/atomic.js';
import { compare, loadFixture, runGoldenCase } from '../helpers/golden.js';

const ops = loadFixture('metrics/classifier-ops.safetensors');
const tiny = loadFixture('metrics/classifier-tiny.safetensors');
const config = JSON.parse(tiny.file.metadata.config ?? '{}') as ClassifierConfig;
const x = tiny.tensor('input/x').data;
const labels = tiny.file.tensors.get('input/labels')?.data as Int32Array;

function buildTiny(): Classifier {
  const c = createClassifier(config);
  const weights = new Map<string, Float32Array>();
  for (const [name, t] of tiny.file.tensors)
    if (name.startsWith('param/')) weights.set(name.slice(6), t.data as Float32Array);
  c.loadStateDict(weights);
  return c;
}

const dir = mkdtempSync(join(tmpdir(), 'pfgm-classifier-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('classifier ops against PyTorch', () => {
  it('the fixture covers pooling and cross-entropy', () => {
    const names = new Set(ops.cases.map((c) => c.op));
    expect(names).toEqual(new Set(['global_avg_pool', 'cross_entropy']));
  });

  it.each(ops.cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const result = await runGoldenCase(ops, c);
    for (const [output, cmp] of Object.entries(result)) {
      expect(cmp.ok, `${c.name}/${output}: max |diff| ${cmp.maxAbs} at scale ${cmp.scale}`).toBe(true);
    }
  });
});

describe('the classifier matches its PyTorch twin', () => {
  it('has the same parameter names and shapes', () => {
    using c = buildTiny();
    const names = JSON.parse(tiny.file.metadata.param_names ?? '[]') as string[];
    expect(c.parameters().map((p) => p.name)).toEqual(names);
    for (const p of c.parameters()) expect(p.shape).toEqual(tiny.tensor(`param/${p.name}`).shape);
  });

  it('gives the same logits and features (forward)', async () => {
    using c = buildTiny();
    const out = await c.forward(x, { features: true });
    const logits = compare(out.logits, tiny.tensor('output/logits').data, { rtol: 2e-5, atol: 1e-6 });
    expect(logits.ok, `logits: max |diff| ${logits.maxAbs} at scale ${logits.scale}`).toBe(true);
    const features = compare(out.features as Float32Array, tiny.tensor('output/features').data, {
      rtol: 2e-5,
      atol: 1e-6,
    });
    expect(features.ok, `features: max |diff| ${features.maxAbs} at scale ${features.scale}`).toBe(true);
    // Chunking the batch changes only oneDNN's blocking (and so the last bits).
    const chunked = await c.forward(x, { features: true, batch: 3 });
    expect(compare(chunked.logits, out.logits, { rtol: 1e-6, atol: 1e-7 }).ok).toBe(true);
  });

  it('gives the same loss and every gradient (backward)', async () => {
    using c = buildTiny();
    const r = await c.lossAndGrad(x, labels);
    const want = tiny.tensor('output/loss').data[0] as number;
    expect(Math.abs(r.loss - want) / want).toBeLessThan(2e-6);
    const failures: string[] = [];
    for (const [name, g] of c.stateDict('grads')) {
      const cmp = compare(g, tiny.tensor(`grad/${name}`).data, { rtol: 1e-4, atol: 1e-7 });
      if (!cmp.ok)
        failures.push(`${name}: max |diff| ${cmp.maxAbs.toExponential(2)} vs scale ${cmp.scale.toExponential(2)}`);
    }
    expect(failures).toEqual([]);
  });

  it('agrees with finite differences of its own loss', async () => {
    // Central differences in float32 with h = 1e-2 on three entries of every tensor; measured worst
    // relative disagreement 2e-3 (the float32 loss's rounding over 2h).
    using c = buildTiny();
    await c.lossAndGrad(x, labels);
    const grads = c.stateDict('grads');
    const params = c.stateDict();
    let worst = 0;
    for (const [name, t] of params) {
      for (const i of [0, Math.floor(t.length / 2), t.length - 1]) {
        const h = 1e-2;
        const orig = t[i] as number;
        t[i] = orig + h;
        c.loadStateDict(params);
        const plus = (await c.lossAndGrad(x, labels)).loss;
        t[i] = orig - h;
        c.loadStateDict(params);
        const minus = (await c.lossAndGrad(x, labels)).loss;
        t[i] = orig;
        const fd = (plus - minus) / (2 * h);
        const analytic = grads.get(name)?.[i] as number;
        worst = Math.max(worst, Math.abs(fd - analytic) / Math.max(1e-3, Math.abs(fd) + Math.abs(analytic)));
      }
    }
    expect(worst).toBeLessThan(1e-2);
  });
});

describe('classifier files', () => {
  it('save and load keep the weights, the configuration and the metadata', async () => {
    using c = buildTiny();
    const path = join(dir, 'tiny.safetensors');
    await c.save(path, { dataset: 'toy', test_accuracy: '0.5' });
    using back = await loadClassifier(path);
    expect(back.config).toEqual(config);
    expect(back.info.dataset).toBe('toy');
    expect(back.info.testAccuracy).toBe(0.5);
    const a = await c.forward(x);
    const b = await back.forward(x);
    expect(Array.from(b.logits)).toEqual(Array.from(a.logits));
  });

  it('refuses missing, foreign and mismatched files', async () => {
    await expect(loadClassifier(join(dir, 'nope.safetensors'))).rejects.toMatchObject({ code: 'ERR_PFGM_ARGUMENT' });
    const foreign = join(dir, 'foreign.safetensors');
    await writeFileAtomic(foreign, encodeSafetensors([['w', { dtype: 'F32', shape: [1], data: new Float32Array(1) }]]));
    await expect(loadClassifier(foreign)).rejects.toMatchObject({
      code: 'ERR_PFGM_ARGUMENT',
      message: expect.stringContaining('not a pfgm classifier file'),
    });
    const wrong = join(dir, 'wrong.safetensors');
    await writeFileAtomic(
      wrong,
      encodeSafetensors([['head.bias', { dtype: 'F32', shape: [5], data: new Float32Array(5) }]], {
        format: 'pfgm-classifier',
        config: JSON.stringify(config),
      }),
    );
    await expect(loadClassifier(wrong)).rejects.toMatchObject({
      code: 'ERR_PFGM_ARGUMENT',
      message: expect.stringContaining('missing'),
    });
  });
});

describe('training', () => {
  it('learns Fashion-MNIST from 3000 images in 2 epochs', async () => {
    // Measured: 68.2% on 1000 test images after 2 x 23 steps (chance is 10%); the full run of
    // scripts/train-classifier.mjs is checked through the shipped classifier's accuracy.
    const train = await fashionMnist();
    const subset = {
      info: { ...train.info, count: 3000 },
      read: (i: ArrayLike<number>) => train.read(i),
      close: () => train.close(),
      [Symbol.asyncDispose]: () => train.close(),
    };
    const progress: number[] = [];
    using c = await trainClassifier(subset, {
      epochs: 2,
      warmupSteps: 10,
      logEvery: 10,
      onProgress: (p) => progress.push(p.loss),
    });
    const test = await fashionMnist({ split: 'test' });
    const e = await evaluateClassifier(c, test, { limit: 1000 });
    console.log(`2-epoch subset: test accuracy ${e.accuracy}, losses ${progress.map((l) => l.toFixed(2)).join(' ')}`);
    expect(e.count).toBe(1000);
    expect(e.accuracy).toBeGreaterThan(SUBSET_ACCURACY);
    expect(progress.at(-1) as number).toBeLessThan(progress[0] as number);
  });
});

const SUBSET_ACCURACY = 0.5;

describe('classifier: bad input', () => {
  it('refuses invalid configurations, shapes and labels with coded errors', async () => {
    expect(() => createClassifier({ channels: [2] })).toThrow(expect.objectContaining({ code: 'ERR_PFGM_ARGUMENT' }));
    expect(() => createClassifier({ resolution: 28, channels: [8, 8, 8, 8] })).toThrow(
      expect.objectContaining({ code: 'ERR_PFGM_ARGUMENT', message: expect.stringContaining('halved') }),
    );
    expect(() => createClassifier({ classes: 1 })).toThrow(expect.objectContaining({ code: 'ERR_PFGM_ARGUMENT' }));
    using c = buildTiny();
    await expect(c.forward(new Float32Array(7))).rejects.toMatchObject({ code: 'ERR_PFGM_SHAPE' });
    await expect(c.lossAndGrad(x, Int32Array.from([0, 1]))).rejects.toMatchObject({ code: 'ERR_PFGM_SHAPE' });
    await expect(c.lossAndGrad(x, Int32Array.from([0, 1, 2, 9]))).rejects.toMatchObject({ code: 'ERR_PFGM_ARGUMENT' });
    await expect(c.trainStep(x, labels, { lr: Number.NaN })).rejects.toMatchObject({ code: 'ERR_PFGM_ARGUMENT' });
    expect(() => c.loadStateDict(new Map([['nope', new Float32Array(1)]]))).toThrow(
      expect.objectContaining({ code: 'ERR_PFGM_ARGUMENT' }),
    );
    const d = buildTiny();
    d.dispose();
    await expect(d.forward(x)).rejects.toMatchObject({ code: 'ERR_PFGM_DISPOSED' });
  });

  it('the native classifier called directly with garbage answers coded errors', async () => {
    const Ctor = native().Classifier as unknown as new (c: unknown) => Record<string, (...a: unknown[]) => unknown>;
    const code = (f: () => unknown) => {
      try {
        f();
        return 'no error';
      } catch (e) {
        return (e as { code?: string }).code;
      }
    };
    expect(code(() => new Ctor(undefined))).toBe('ERR_PFGM_ARGUMENT');
    expect(code(() => new Ctor({ channels: 'wide' }))).toBe('ERR_PFGM_ARGUMENT');
    expect(code(() => new Ctor({ channels: [8, 8], resolution: 7 }))).toBe('ERR_PFGM_ARGUMENT');
    expect(code(() => new Ctor({ classes: 1e12 }))).toBe('ERR_PFGM_ARGUMENT');
    const h = new Ctor({ in_channels: 1, resolution: 4, channels: [4], feature_dim: 3, classes: 2 });
    const rejects = async (p: () => unknown) => {
      try {
        await p();
        return 'no error';
      } catch (e) {
        return (e as { code?: string }).code;
      }
    };
    expect(await rejects(() => (h.forward as (a: unknown) => unknown)({ batch: -1, x: new Float32Array(16) }))).toBe(
      'ERR_PFGM_ARGUMENT',
    );
    expect(await rejects(() => (h.forward as (a: unknown) => unknown)({ batch: 1, x: new Float64Array(16) }))).toBe(
      'ERR_PFGM_DTYPE',
    );
    expect(
      await rejects(() =>
        (h.trainStep as (a: unknown) => unknown)({ batch: 1, x: new Float32Array(16), labels: new Int32Array([0]) }),
      ),
    ).toBe('ERR_PFGM_ARGUMENT'); // no lr
    expect(code(() => (h.getBuffer as (n: unknown) => unknown)('ema'))).toBe('ERR_PFGM_ARGUMENT');
    expect(code(() => (h.setBuffer as (n: unknown, d: unknown) => unknown)('params', new Float32Array(2)))).toBe(
      'ERR_PFGM_SHAPE',
    );
    expect(code(() => (h.setAdamSteps as (n: unknown) => unknown)(-3))).toBe('ERR_PFGM_ARGUMENT');
    (h.dispose as () => void)();
    expect(code(() => (h.paramInfo as () => unknown)())).toBe('ERR_PFGM_DISPOSED');
  });
});
