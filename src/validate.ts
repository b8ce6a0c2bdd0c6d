/**
 * Argument checks shared by the API: each throws a {@link PfgmError} that names the argument,
 * the value it got and what it accepts. Internal.
 *
 * @internal
 * @module
 */
import { PfgmError } from './errors.js';

function show(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** D: any real number > 0, or Infinity (docs/method.md §1). */
export function checkD(D: unknown): number {
  if (typeof D !== 'number' || Number.isNaN(D) || D <= 0) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `D must be a number > 0 or Infinity, got ${show(D)}: D is the number of augmented ` +
        'dimensions (1 for PFGM, e.g. 128 for PFGM++, Infinity for EDM diffusion)',
    );
  }
  return D;
}

/** A finite number > 0. */
export function checkPositive(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `${name} must be a finite number > 0, got ${show(value)}`);
  }
  return value;
}

/** A finite number >= 0. */
export function checkNonNegative(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `${name} must be a finite number >= 0, got ${show(value)}`);
  }
  return value;
}

/** Any finite number. */
export function checkFinite(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `${name} must be a finite number, got ${show(value)}`);
  }
  return value;
}

/** An integer in [min, max]. */
export function checkInteger(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `${name} must be an integer in [${min}, ${max}], got ${show(value)}`);
  }
  return value;
}

/** One of a fixed set of strings. */
export function checkOneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `${name} must be one of ${allowed.join(', ')}, got ${show(value)}`);
  }
  return value as T;
}
