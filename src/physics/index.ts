/**
 * The physics of PFGM and PFGM++ (docs/method.md §1-3).
 *
 * @module
 */
export { alignRadius, alignSigma } from './align.js';
export { oneHotLabels, randomClasses } from './classes.js';
export { type PerturbOptions, perturb, type RadiusClip, type SigmaInput } from './perturb.js';
export {
  type PfgmHyperparameterOptions,
  type PfgmHyperparameters,
  type PfgmPerturbed,
  type PfgmPerturbOptions,
  type PfgmPriorOptions,
  pfgmHyperparameters,
  pfgmPerturb,
  samplePfgmPrior,
} from './pfgm.js';
export { type PriorOptions, samplePrior } from './prior.js';
export { type KarrasOptions, karras } from './schedule.js';
export type { Seed, StreamOptions } from './streams.js';
export { sampleTrainingSigma, type TrainingSigmaOptions } from './trainingSigma.js';
