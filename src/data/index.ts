/**
 * Data sources: every one is a {@link Dataset}.
 *
 * @module
 */
export { CIFAR10_CLASSES, type Cifar10Options, cifar10 } from './cifar10.js';
export { type CsvOptions, csv } from './csv.js';
export { type Batch, type Dataset, type DatasetInfo, sampleSize } from './dataset.js';
export {
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_DIR,
  type FashionMnistOptions,
  fashionMnist,
  type IdxOptions,
  idx,
  MNIST_CLASSES,
  type MnistOptions,
  mnist,
  type Split,
} from './idx.js';
export { type ImageDatasetOptions, imageFolder } from './imageFolder.js';
export { type NpyOptions, npy } from './npy.js';
export { type OpenDatasetOptions, openDataset, xflip } from './open.js';
export { type ToyName, type ToyOptions, type ToySampler, toy, toyNames, toySampler } from './toy.js';
export { zipDataset } from './zip.js';
