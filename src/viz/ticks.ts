/**
 * Axis ticks for plots: "nice" tick values ({@link niceTicks}: 1-2-5 steps, decades on log axes)
 * and their labels ({@link formatTicks}), as exact decimals.
 *
 * @module
 */

import { PfgmError } from '../errors.js';

/** Options of {@link niceTicks}. */
export interface NiceTicksOptions {
  /** Logarithmic axis: decades, or 1-2-5 within decades when few (min must be > 0). */
  log?: boolean;
  /** Most ticks wanted, about (default 5; at least 2). */
  count?: number;
}

/** A decimal number without binary noise: 0.30000000000000004 -> 0.3, -0 -> 0. */
function clean(v: number): number {
  const r = Number(v.toPrecision(12));
  return r === 0 ? 0 : r;
}

/** The smallest 1, 2 or 5 times a power of ten that is >= raw (> 0), as an exact decimal. */
function niceStep(raw: number): number {
  const e = Math.floor(Math.log10(raw));
  // log10 may be off by one near powers of ten: try the decade below and above too.
  for (let k = e - 1; k <= e + 1; k++) {
    for (const m of [1, 2, 5]) {
      const step = Number(`${m}e${k}`);
      if (step >= raw * (1 - 1e-12)) return step;
    }
  }
  return Number(`1e${e + 2}`);
}

function linearTicks(min: number, max: number, count: number): number[] {
  const step = niceStep((max - min) / count);
  const first = Math.ceil(min / step - 1e-9);
  const last = Math.floor(max / step + 1e-9);
  const ticks: number[] = [];
  for (let k = first; k <= last; k++) ticks.push(clean(k * step));
  return ticks;
}

/**
 * "Nice" tick values inside [min, max]. On a linear axis: the multiples of the smallest step of
 * the form 1, 2 or 5 x 10^k that is at least (max - min) / count (so at most count + 1 ticks). On
 * a log axis, the sparsest of these that gives at least three ticks: the decades 10^k when three
 * or more fall inside (every 1st, 2nd, 5th, 10th, ... decade so that at most `count` remain);
 * else 1, 2 and 5 x 10^k when two to `count` of them fall inside; else the decades when two fall
 * inside; else (a range within a decade) the linear ticks. Values are exact decimals (0.3, not
 * 0.30000000000000004).
 *
 * @param min - the axis minimum (> 0 on a log axis)
 * @param max - the axis maximum (> min)
 * @param options - log axis and tick count
 * @returns the ticks, ascending
 * @throws PfgmError `ERR_PFGM_ARGUMENT` for a non-finite or empty range, min <= 0 on a log axis,
 *   or a count below 2
 */
export function niceTicks(min: number, max: number, options: NiceTicksOptions = {}): number[] {
  const count = options.count ?? 5;
  if (!Number.isFinite(count) || count < 2) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `niceTicks: count must be a number >= 2, got ${count}`);
  }
  if (!Number.isFinite(min) || !Number.isFinite(max) || !(min < max)) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `niceTicks: need finite min < max, got [${min}, ${max}]`);
  }
  if (!options.log) return linearTicks(min, max, count);
  if (!(min > 0)) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `niceTicks: a log axis needs min > 0, got ${min}`);
  }
  const lo = Math.log10(min);
  const hi = Math.log10(max);
  // Prefer the sparsest ticks that still give at least three: decades, then 1-2-5 per decade.
  const kMin = Math.ceil(lo - 1e-12);
  const kMax = Math.floor(hi + 1e-12);
  const decades = kMax - kMin + 1;
  const decadeTicks = (): number[] => {
    const every = decades <= count ? 1 : niceStep(decades / count);
    const ticks: number[] = [];
    for (let k = Math.ceil(kMin / every) * every; k <= kMax; k += every) ticks.push(Number(`1e${k}`));
    return ticks;
  };
  if (decades >= 3) return decadeTicks();
  const inside = (v: number): boolean => v >= min * (1 - 1e-12) && v <= max * (1 + 1e-12);
  const oneTwoFive: number[] = [];
  for (let k = Math.floor(lo); k <= Math.ceil(hi); k++) {
    for (const m of [1, 2, 5]) {
      const v = Number(`${m}e${k}`);
      if (inside(v)) oneTwoFive.push(v);
    }
  }
  if (oneTwoFive.length >= 2 && oneTwoFive.length <= count) return oneTwoFive;
  if (decades === 2) return decadeTicks();
  return linearTicks(min, max, count);
}

function exponential(v: number, digits: number): string {
  const [mantissa, exp] = v.toExponential(digits).split('e') as [string, string];
  return `${mantissa}e${exp.startsWith('+') ? exp.slice(1) : exp}`;
}

/**
 * Labels for tick values: on a linear axis all with the decimals their step needs (`0.0 0.5 1.0`),
 * switching to exponent notation (`2e-5`, `1.5e6`) when the largest magnitude is >= 1e5 or the step
 * is < 1e-3; on a log axis each value in its shortest form, exponent notation outside [1e-3, 1e5).
 *
 * @param ticks - ascending tick values (from {@link niceTicks})
 * @param log - whether the axis is logarithmic
 */
export function formatTicks(ticks: readonly number[], log = false): string[] {
  if (log) {
    return ticks.map((v) => {
      const a = Math.abs(v);
      return v === 0 || (a >= 1e-3 && a < 1e5) ? String(clean(v)) : exponential(clean(v), 0).replace(/\.?0+e/, 'e');
    });
  }
  if (ticks.length === 0) return [];
  let step = Number.POSITIVE_INFINITY;
  for (let i = 1; i < ticks.length; i++) step = Math.min(step, (ticks[i] as number) - (ticks[i - 1] as number));
  const largest = Math.max(...ticks.map(Math.abs));
  if (!Number.isFinite(step)) step = largest === 0 ? 1 : largest;
  const stepExp = Math.floor(Math.log10(step) + 1e-9);
  if (largest >= 1e5 || step < 1e-3) {
    return ticks.map((v) => {
      if (v === 0) return '0';
      const digits = Math.max(0, Math.floor(Math.log10(Math.abs(v)) + 1e-9) - stepExp);
      return exponential(v, digits);
    });
  }
  const decimals = Math.max(0, -stepExp);
  return ticks.map((v) => (v === 0 ? (0).toFixed(decimals) : v.toFixed(decimals)));
}
