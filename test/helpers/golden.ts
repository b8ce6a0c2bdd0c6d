// Golden-tensor checks against fixtures written by test/fixtures/gen/*.py (PyTorch).
// A fixture file holds cases; each names a registered op case (src/native/ops/*_cases.cc), its
// attributes, its input tensors and the outputs PyTorch computed, stored as '<case>/<tensor>'.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { native } from '../../src/addon/load.js';
import type { NativeHostTensor } from '../../src/addon/native.js';
import { decodeSafetensors, type SafetensorsFile } from '../../src/codecs/safetensors.js';

export interface GoldenCase {
  name: string;
  op: string;
  attrs: Record<string, number | boolean | number[]>;
  inputs: string[];
  outputs: string[];
  tol: { rtol: number; atol: number };
}

export interface Fixture {
  file: SafetensorsFile;
  cases: GoldenCase[];
  tensor(name: string): NativeHostTensor;
}

export function fixturePath(rel: string): string {
  return fileURLToPath(new URL(`../fixtures/${rel}`, import.meta.url));
}

export function loadFixture(rel: string): Fixture {
  const file = decodeSafetensors(new Uint8Array(readFileSync(fixturePath(rel))));
  const cases = JSON.parse(file.metadata.cases ?? '[]') as GoldenCase[];
  return {
    file,
    cases,
    tensor(name: string) {
      const t = file.tensors.get(name);
      if (!t) throw new Error(`fixture ${rel} lacks tensor ${name}`);
      return {
        shape: t.shape,
        data: t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as Float64Array),
      };
    },
  };
}

export interface Comparison {
  maxAbs: number;
  scale: number;
  ok: boolean;
}

/** |a - e| <= atol + rtol * max|e| elementwise; NaN anywhere fails. */
export function compare(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: { rtol: number; atol: number },
): Comparison {
  if (actual.length !== expected.length) return { maxAbs: Number.POSITIVE_INFINITY, scale: 0, ok: false };
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i] as number));
  let maxAbs = 0;
  let ok = true;
  const bound = tol.atol + tol.rtol * scale;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs((actual[i] as number) - (expected[i] as number));
    if (!(d <= bound)) ok = false;
    if (!(d <= maxAbs)) maxAbs = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
  }
  return { maxAbs, scale, ok };
}

/** Runs every case of a fixture and returns, per case and output, the comparison. */
export async function runGoldenCase(fx: Fixture, c: GoldenCase): Promise<Record<string, Comparison>> {
  const inputs: Record<string, NativeHostTensor> = {};
  for (const name of c.inputs) inputs[name] = fx.tensor(`${c.name}/${name}`);
  const out = await native().runOp(c.op, c.attrs, inputs);
  const result: Record<string, Comparison> = {};
  for (const name of c.outputs) {
    const got = out[name];
    const want = fx.tensor(`${c.name}/${name}`);
    if (!got) throw new Error(`op case ${c.op} produced no output '${name}'`);
    if (got.shape.join(',') !== want.shape.join(',')) {
      throw new Error(`${c.name}/${name}: shape [${got.shape}] != PyTorch's [${want.shape}]`);
    }
    result[name] = compare(got.data, want.data, c.tol);
  }
  return result;
}
