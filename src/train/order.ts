/**
 * The order in which a trainer visits its data: a fresh permutation per epoch from a seeded
 * generator, so a run is reproducible and a resumed run continues the same order.
 *
 * @internal
 * @module
 */

/** splitmix64 (Steele et al. 2014) on BigInt: a small, well-mixed seeded generator. */
export class SplitMix64 {
  #state: bigint;
  constructor(seed: bigint) {
    this.#state = BigInt.asUintN(64, seed);
  }
  /** The next 64-bit value. */
  next(): bigint {
    this.#state = BigInt.asUintN(64, this.#state + 0x9e3779b97f4a7c15n);
    let z = this.#state;
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
    return z ^ (z >> 31n);
  }
  /** A uniform integer in [0, n) (n < 2^32; the modulo bias is below 2^-32). */
  below(n: number): number {
    return Number(this.next() % BigInt(n));
  }
}

/** Permutation of [0, count) for one epoch: Fisher-Yates driven by (seed, epoch). */
export function epochOrder(count: number, seed: number, epoch: number): Uint32Array {
  const rng = new SplitMix64((BigInt(seed) << 20n) ^ BigInt(epoch) ^ 0x5eedn);
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  for (let i = count - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    const t = order[i] as number;
    order[i] = order[j] as number;
    order[j] = t;
  }
  return order;
}

/** Whether sample `index` of step `step` is mirrored (EDM's x-flip augmentation, p = 1/2). */
export function flipFlag(seed: number, step: number, index: number): boolean {
  const rng = new SplitMix64((BigInt(seed) << 32n) ^ (BigInt(step) << 12n) ^ BigInt(index) ^ 0xf11bn);
  return (rng.next() & 1n) === 1n;
}
