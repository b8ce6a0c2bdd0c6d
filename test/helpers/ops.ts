// Small helpers shared by the op tests: run an op case, pick an output, make a deterministic input.
import { expect } from 'vitest';
import { native } from '../../src/addon/load.js';
import type { NativeHostTensor } from '../../src/addon/native.js';

export type Inputs = Record<string, NativeHostTensor>;
export type Attrs = Record<string, number | boolean | number[]>;

export async function run(op: string, attrs: Attrs, inputs: Inputs): Promise<Record<string, NativeHostTensor>> {
  return native().runOp(op, attrs, inputs);
}

export function out(result: Record<string, NativeHostTensor>, name: string): Float32Array {
  const t = result[name];
  if (!t) throw new Error(`no output '${name}'`);
  return t.data;
}

/** A tensor of `shape` with values from a fixed sequence in [lo, hi). */
export function filled(shape: number[], seed: number, lo = -1, hi = 1): NativeHostTensor {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  let state = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    data[i] = lo + (hi - lo) * (state / 2 ** 32);
  }
  return { shape, data };
}

/**
 * max |a - ref| / max |ref|: an error relative to the array's scale, not per element (0 when both
 * are zero; a NaN difference counts as infinite). The parity tests' measure of agreement.
 */
export function scaledError(a: Float32Array, ref: Float32Array): number {
  expect(a.length).toBe(ref.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs((a[i] as number) - (ref[i] as number));
    diff = Number.isNaN(d) ? Number.POSITIVE_INFINITY : Math.max(diff, d);
    scale = Math.max(scale, Math.abs(ref[i] as number));
  }
  return diff === 0 ? 0 : diff / Math.max(scale, 1e-30);
}
