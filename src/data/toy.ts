/**
 * Two-dimensional toy distributions for tests and demos, with an exact sampler of each so that
 * generated samples can be compared with the truth.
 *
 * Randomness comes from xoshiro128** (Blackman and Vigna, 2018), its 128-bit state filled by a
 * splitmix32-style hash of the seed's two 32-bit halves and a stream number (0 for {@link toy}, 1
 * for {@link toySampler}); uniforms are (u32 + 0.5) / 2^32 and normals come from the Box-Muller
 * transform. The same seed gives the same samples on every platform.
 *
 * @module
 */
import { PfgmError } from '../errors.js';
import { MemoryDataset } from './common.js';
import type { Dataset } from './dataset.js';

/** Names of the toy distributions. */
export type ToyName = 'gaussians' | 'moons' | 'rings' | 'checkerboard' | 'spirals';

/** Every {@link ToyName}. */
export const toyNames: readonly ToyName[] = ['gaussians', 'moons', 'rings', 'checkerboard', 'spirals'];

/** Options of {@link toy}. */
export interface ToyOptions {
  /** Number of samples (default 10000). */
  count?: number;
  /** Seed of the samples, an integer in [0, 2^53) (default 0). */
  seed?: number;
  /**
   * Label each sample with the mixture component it was drawn from (`labelDim` = number of
   * components, see {@link toy}); default false.
   */
  labels?: boolean;
}

/**
 * Draws fresh samples: `count` points [count, 2] (x0, y0, x1, y1, ...), from `component` only
 * when given.
 */
export type ToySampler = (count: number, seed?: number, component?: number) => Float32Array;

/** A seeded xoshiro128** generator. Internal. */
class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;
  #spare: number | undefined;

  constructor(seed: number, stream: number) {
    // splitmix32 over the seed's two 32-bit halves and the stream number
    let x = 0;
    const mix = (v: number): number => {
      x = (x + 0x9e3779b9 + v) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    mix(seed >>> 0);
    mix(Math.floor(seed / 2 ** 32) >>> 0);
    mix(stream >>> 0);
    this.#a = mix(0);
    this.#b = mix(0);
    this.#c = mix(0);
    this.#d = mix(0);
    if ((this.#a | this.#b | this.#c | this.#d) === 0) this.#a = 1;
  }

  /** The next 32-bit output. */
  u32(): number {
    const result = Math.imul(rotl(Math.imul(this.#b, 5), 7), 9) >>> 0;
    const t = this.#b << 9;
    this.#c ^= this.#a;
    this.#d ^= this.#b;
    this.#b ^= this.#c;
    this.#a ^= this.#d;
    this.#c ^= t;
    this.#d = rotl(this.#d, 11);
    return result;
  }

  /** Uniform in (0, 1). */
  uniform(): number {
    return (this.u32() + 0.5) / 4294967296;
  }

  /** Integer in [0, n) for small n. */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal. */
  normal(): number {
    if (this.#spare !== undefined) {
      const s = this.#spare;
      this.#spare = undefined;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(this.uniform()));
    const t = 2 * Math.PI * this.uniform();
    this.#spare = r * Math.sin(t);
    return r * Math.cos(t);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A distribution: components, a raw draw, and the population mean and std of each coordinate. */
interface ToyLaw {
  components: number;
  /** Draws a raw point of component k into xy. */
  draw(rng: Rng, k: number, xy: [number, number]): void;
  mean: [number, number];
  std: [number, number];
}

const SPIRAL_B = 6 * Math.PI; // 2 x the 1.5 turns of 2 pi
const SPIRAL_NOISE = 0.03;

const LAWS: Record<ToyName, ToyLaw> = {
  gaussians: {
    components: 8,
    draw(rng, k, xy) {
      const a = (2 * Math.PI * k) / 8;
      xy[0] = 2 * Math.cos(a) + 0.1 * rng.normal();
      xy[1] = 2 * Math.sin(a) + 0.1 * rng.normal();
    },
    mean: [0, 0],
    std: [Math.sqrt(2.01), Math.sqrt(2.01)],
  },
  moons: {
    components: 2,
    draw(rng, k, xy) {
      const t = Math.PI * rng.uniform();
      xy[0] = (k === 0 ? Math.cos(t) : 1 - Math.cos(t)) + 0.1 * rng.normal();
      xy[1] = (k === 0 ? Math.sin(t) : 0.5 - Math.sin(t)) + 0.1 * rng.normal();
    },
    mean: [0.5, 0.25],
    std: [Math.sqrt(0.76), Math.sqrt(0.5725 - 1 / Math.PI)],
  },
  rings: {
    components: 4,
    draw(rng, k, xy) {
      const a = 2 * Math.PI * rng.uniform();
      xy[0] = (k + 1) * Math.cos(a) + 0.08 * rng.normal();
      xy[1] = (k + 1) * Math.sin(a) + 0.08 * rng.normal();
    },
    mean: [0, 0],
    std: [Math.sqrt(3.75 + 0.0064), Math.sqrt(3.75 + 0.0064)],
  },
  checkerboard: {
    components: 8,
    draw(rng, k, xy) {
      const col = k >> 1;
      const row = 2 * (k & 1) + (col & 1);
      xy[0] = col - 2 + rng.uniform();
      xy[1] = row - 2 + rng.uniform();
    },
    mean: [0, 0],
    std: [Math.sqrt(4 / 3), Math.sqrt(4 / 3)],
  },
  spirals: {
    components: 2,
    draw(rng, k, xy) {
      const t = Math.sqrt(rng.uniform());
      const a = (SPIRAL_B / 2) * t;
      const sign = k === 0 ? 1 : -1;
      xy[0] = sign * t * Math.cos(a) + SPIRAL_NOISE * rng.normal();
      xy[1] = sign * t * Math.sin(a) + SPIRAL_NOISE * rng.normal();
    },
    mean: [0, 0],
    // E[t^2 cos^2(3 pi t)] with density 2t on [0, 1] = 1/4 + 3 / (6 pi)^2; sin^2: 1/4 - 3 / (6 pi)^2
    std: [
      Math.sqrt(0.25 + 3 / SPIRAL_B ** 2 + SPIRAL_NOISE ** 2),
      Math.sqrt(0.25 - 3 / SPIRAL_B ** 2 + SPIRAL_NOISE ** 2),
    ],
  },
};

function lawOf(name: unknown): ToyLaw {
  const law =
    typeof name === 'string' && (toyNames as readonly string[]).includes(name) ? LAWS[name as ToyName] : undefined;
  if (law === undefined) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `unknown toy dataset ${JSON.stringify(name)}: use one of ${toyNames.join(', ')}`,
    );
  }
  return law;
}

function checkSeed(fn: string, seed: unknown): number {
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `${fn}: seed must be an integer in [0, 2^53), got ${JSON.stringify(seed)}`,
    );
  }
  return seed;
}

function checkCount(fn: string, count: unknown): number {
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 1 || count > 2 ** 28) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `${fn}: count must be an integer in [1, 2^28], got ${JSON.stringify(count)}`,
    );
  }
  return count;
}

/** Fills `out` with `count` normalized points; returns their components. */
function generate(
  law: ToyLaw,
  rng: Rng,
  count: number,
  component?: number,
): { data: Float32Array; classes: Int32Array } {
  const data = new Float32Array(2 * count);
  const classes = new Int32Array(count);
  const xy: [number, number] = [0, 0];
  const [mx, my] = law.mean;
  const [sx, sy] = law.std;
  for (let i = 0; i < count; i++) {
    const k = component ?? rng.int(law.components);
    law.draw(rng, k, xy);
    data[2 * i] = (xy[0] - mx) / sx;
    data[2 * i + 1] = (xy[1] - my) / sy;
    classes[i] = k;
  }
  return { data, classes };
}

/**
 * A toy `vector` dataset of 2-D points, shape [2], named `toy:<name>`, the same for the same seed.
 * Each distribution is a mixture of equally likely components, and is shifted and scaled by
 * constants computed exactly from its law so that each coordinate has mean 0 and standard
 * deviation 1 in the population:
 *
 * - `gaussians`: 8 Gaussians of std 0.1 centred on a circle of radius 2 at angles 2 pi k / 8,
 *   then divided by sqrt(2.01) ~ 1.418 (so radius ~ 1.411, std of each Gaussian ~ 0.0705);
 *   8 components.
 * - `moons`: scikit-learn's two moons, (cos t, sin t) and (1 - cos t, 1/2 - sin t) for t uniform
 *   in [0, pi], plus Gaussian noise of std 0.1; 2 components.
 * - `rings`: 4 concentric circles of radii 1, 2, 3, 4 (angle uniform) plus Gaussian noise of std
 *   0.08; 4 components.
 * - `checkerboard`: uniform on the 8 dark squares of a 4 x 4 board on [-2, 2]^2; 8 components.
 * - `spirals`: two interleaved spirals of 1.5 turns, t (cos 3 pi t, sin 3 pi t) and its negative,
 *   with t = sqrt(u) (about uniform along the curve), plus Gaussian noise of std 0.03;
 *   2 components.
 *
 * @param name - which distribution
 * @param options - see {@link ToyOptions}; with `labels: true` each sample is labelled by its
 *   component
 * @throws PfgmError `ERR_PFGM_ARGUMENT` for an unknown name, a bad count or seed.
 */
export function toy(name: ToyName, options: ToyOptions = {}): Dataset {
  const law = lawOf(name);
  const count = checkCount('toy()', options.count ?? 10000);
  const seed = checkSeed('toy()', options.seed ?? 0);
  const { data, classes } = generate(law, new Rng(seed, 0), count);
  const labels = options.labels === true;
  return new MemoryDataset(
    { name: `toy:${name}`, kind: 'vector', shape: [2], count, labelDim: labels ? law.components : 0 },
    (i, out, offset) => {
      out[offset] = data[2 * i] as number;
      out[offset + 1] = data[2 * i + 1] as number;
    },
    labels ? classes : undefined,
  );
}

/**
 * An exact sampler of a toy distribution (the law of {@link toy}): `sampler(count, seed = 0,
 * component?)` returns `count` fresh points [count, 2], the same for the same arguments, from a
 * random stream separate from the one {@link toy} uses, so they are independent of every toy
 * dataset (even one with the same seed). `component` restricts the draw to one mixture component
 * (0-based, as in the labels of `toy(name, { labels: true })`).
 *
 * @param name - which distribution
 * @throws PfgmError `ERR_PFGM_ARGUMENT` for an unknown name (and, from the sampler, a bad count,
 *   seed or component).
 */
export function toySampler(name: ToyName): ToySampler {
  const law = lawOf(name);
  return (count: number, seed = 0, component?: number): Float32Array => {
    checkCount('toySampler()', count);
    checkSeed('toySampler()', seed);
    if (
      component !== undefined &&
      (typeof component !== 'number' || !Number.isInteger(component) || component < 0 || component >= law.components)
    ) {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `toySampler('${name}'): component must be an integer in [0, ${law.components - 1}], got ${JSON.stringify(component)}`,
      );
    }
    return generate(law, new Rng(seed, 1), count, component).data;
  };
}
