/**
 * The alignment r = sigma sqrt(D) (docs/method.md §1) that lets every EDM hyperparameter serve any D.
 *
 * @module
 */
import { PfgmError } from '../errors.js';
import { checkD, checkNonNegative } from '../validate.js';

/**
 * The augmented radius `r = sigma * sqrt(D)` aligned with EDM noise level `sigma` (docs/method.md §1).
 * For `D = Infinity` the radius is infinite for every `sigma > 0` (and 0 at `sigma = 0`).
 *
 * @param sigma - EDM noise level, >= 0
 * @param D - augmented dimensions, > 0 or Infinity
 */
export function alignRadius(sigma: number, D: number): number {
  checkNonNegative('sigma', sigma);
  checkD(D);
  if (sigma === 0) return 0;
  return sigma * Math.sqrt(D);
}

/**
 * The EDM noise level `sigma = r / sqrt(D)` of augmented radius `r` (docs/method.md §1).
 *
 * @param r - augmented radius, >= 0
 * @param D - augmented dimensions, > 0 and finite: at `D = Infinity` a finite radius has no
 *   aligned sigma, so this throws; work in sigma directly.
 */
export function alignSigma(r: number, D: number): number {
  checkNonNegative('r', r);
  checkD(D);
  if (D === Number.POSITIVE_INFINITY) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      'alignSigma(r, Infinity) is undefined: at D = Infinity the model is EDM and is parametrised by sigma, not r',
    );
  }
  return r / Math.sqrt(D);
}
