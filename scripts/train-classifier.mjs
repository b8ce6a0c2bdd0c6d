#!/usr/bin/env node
// Trains the feature classifier of the image metrics (docs/metrics.md) with pfgm's own engine on
// the 60k training images of Fashion-MNIST or MNIST, measures its accuracy on the 10k test images
// and writes its weights (fp32 safetensors) with the configuration and the measured accuracy in
// `__metadata__`. The shipped assets/classifiers/fashion-mnist.safetensors was made by
//   node scripts/train-classifier.mjs --data fashion-mnist --out assets/classifiers/fashion-mnist.safetensors
// and MNIST users make theirs with
//   node scripts/train-classifier.mjs --data mnist:/path/to/mnist --out mnist-classifier.safetensors
// (the folder holds train-images-idx3-ubyte[.gz] and the three other standard files).
// Needs the TypeScript build (`npm run build:ts`) and the addon.
import { parseArgs } from 'node:util';
import { evaluateClassifier, fashionMnist, mnist, trainClassifier, VERSION } from '../dist/index.js';

const USAGE = `usage: node scripts/train-classifier.mjs --data <fashion-mnist | mnist:DIR | DIR> --out FILE
  [--epochs 6] [--batch 128] [--lr 0.002] [--seed 0] [--flip]
  [--channels 24,48,96] [--blocks 1] [--feature-dim 128]
  [--train-images N] [--test-images N]   (the first N images only: quick trials)`;

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    out: { type: 'string' },
    epochs: { type: 'string', default: '6' },
    batch: { type: 'string', default: '128' },
    lr: { type: 'string', default: '0.002' },
    seed: { type: 'string', default: '0' },
    flip: { type: 'boolean', default: false },
    channels: { type: 'string', default: '24,48,96' },
    blocks: { type: 'string', default: '1' },
    'feature-dim': { type: 'string', default: '128' },
    'train-images': { type: 'string' },
    'test-images': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help || values.data === undefined || values.out === undefined) {
  console.log(USAGE);
  process.exit(values.help ? 0 : 2);
}

function number(name) {
  const v = Number(values[name]);
  if (!Number.isFinite(v)) {
    console.error(`--${name} must be a number, got '${values[name]}'\n${USAGE}`);
    process.exit(2);
  }
  return v;
}

// --data fashion-mnist (Debian's files), or an MNIST folder as mnist:DIR or plain DIR; --train-images
// and --test-images keep the first N images of a split.
async function open(split, limit) {
  let data;
  if (values.data === 'fashion-mnist') {
    data = await fashionMnist({ split });
  } else {
    data = await mnist(values.data.startsWith('mnist:') ? values.data.slice(6) : values.data, { split });
  }
  if (limit === undefined) return data;
  const count = Math.min(data.info.count, number(`${split}-images`));
  return { info: { ...data.info, count }, read: (indices) => data.read(indices), close: () => data.close() };
}
const name = values.data === 'fashion-mnist' ? 'fashion-mnist' : 'mnist';

let train;
let test;
try {
  train = await open('train', values['train-images']);
  test = await open('test', values['test-images']);
} catch (error) {
  console.error(`error: ${error.message}`);
  process.exit(1);
}
const options = {
  epochs: number('epochs'),
  batch: number('batch'),
  lr: number('lr'),
  seed: number('seed'),
  flip: values.flip,
  config: {
    channels: values.channels.split(',').map(Number),
    blocks: number('blocks'),
    featureDim: number('feature-dim'),
  },
};
try {
  console.log(`training on ${train.info.count} ${name} images: ${JSON.stringify(options)}`);
  const t0 = performance.now();
  const classifier = await trainClassifier(train, {
    ...options,
    onProgress: (p) => {
      const tag = p.endOfEpoch ? `epoch ${p.epoch + 1} done` : `epoch ${p.epoch + 1}`;
      console.log(
        `${tag}: step ${p.step}/${p.steps} loss ${p.loss.toFixed(4)} train acc ${(100 * p.accuracy).toFixed(2)}% ` +
          `lr ${p.lr.toExponential(2)} ${p.imagesPerSecond.toFixed(0)} img/s`,
      );
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  const evaluation = await evaluateClassifier(classifier, test);
  console.log(
    `test accuracy ${(100 * evaluation.accuracy).toFixed(2)}% (${evaluation.correct}/${evaluation.count}), ` +
      `test loss ${evaluation.loss.toFixed(4)}, ${classifier.paramCount} parameters, trained in ${seconds.toFixed(0)} s`,
  );
  await classifier.save(values.out, {
    dataset: name,
    test_accuracy: String(evaluation.accuracy),
    test_loss: String(evaluation.loss),
    test_images: String(evaluation.count),
    train_images: String(train.info.count),
    training: JSON.stringify(options),
    train_seconds: seconds.toFixed(0),
    trained_with: `pfgm ${VERSION}, scripts/train-classifier.mjs`,
  });
  console.log(`wrote ${values.out}`);
  classifier.dispose();
} catch (error) {
  console.error(`error: ${error.message}`);
  process.exit(1);
}
