// The deterministic test weights of the FID Inception-v3, made exactly as
// test/fixtures/gen/inception.py makes them (see its docstring): tensor t of the state-dict order
// takes u_i = (lowbias32((key_t + i) mod 2^32) >> 8) / 2^24, key_t = lowbias32((t + 1) * 0x9E3779B9),
// mapped in float64 and rounded once to float32. Both languages agree bit for bit.

export const GAIN = 2;

function lowbias32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Test tensor `name` of `shape`, the `t`-th of the state dict. */
export function testTensor(name: string, shape: readonly number[], t: number): Float32Array {
  const count = shape.reduce((a, b) => a * b, 1);
  const key = lowbias32(Math.imul(t + 1, 0x9e3779b9));
  const out = new Float32Array(count);
  const u = (i: number) => (lowbias32(key + i) >>> 8) / 16777216;
  if (name.endsWith('conv.weight')) {
    const fanIn = (shape[1] as number) * (shape[2] as number) * (shape[3] as number);
    const bound = Math.sqrt((3 * GAIN) / fanIn);
    for (let i = 0; i < count; i++) out[i] = (2 * u(i) - 1) * bound;
  } else if (name.endsWith('bn.weight') || name.endsWith('bn.running_var')) {
    for (let i = 0; i < count; i++) out[i] = 0.8 + 0.4 * u(i);
  } else if (name.endsWith('bn.bias') || name.endsWith('bn.running_mean')) {
    for (let i = 0; i < count; i++) out[i] = 0.1 * (2 * u(i) - 1);
  } else {
    throw new Error(`no test rule for tensor ${name}`);
  }
  return out;
}

/** Every tensor of `list` (in its order), by name. */
export function inceptionTestWeights(
  list: readonly { name: string; shape: readonly number[] }[],
): Map<string, Float32Array> {
  return new Map(list.map((t, i) => [t.name, testTensor(t.name, t.shape, i)]));
}
