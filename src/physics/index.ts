/**
 * The physics of PFGM and PFGM++ (METHOD §1-3).
 *
 * @module
 */
export { alignRadius, alignSigma } from './align.js';
export { perturb, type PerturbOptions, type RadiusClip, type SigmaInput } from './perturb.js';
export {
  pfgmHyperparameters,
  pfgmPerturb,
  samplePfgmPrior,
  type PfgmHyperparameterOptions,
  type PfgmHyperparameters,
  type PfgmPerturbed,
  type PfgmPerturbOptions,
  type PfgmPriorOptions,
} from './pfgm.js';
export { samplePrior, type PriorOptions } from './prior.js';
export { karras, type KarrasOptions } from './schedule.js';
export type { Seed, StreamOptions } from './streams.js';
export { sampleTrainingSigma, type TrainingSigmaOptions } from './trainingSigma.js';
