import { describe, expect, it } from 'vitest';
import { type ToyName, toy, toyNames, toySampler } from '../../src/data/index.js';

function moments(xy: Float32Array): { mean: [number, number]; std: [number, number] } {
  const n = xy.length / 2;
  const mean: [number, number] = [0, 0];
  const sq: [number, number] = [0, 0];
  for (let i = 0; i < n; i++) {
    for (const d of [0, 1] as const) {
      const v = xy[2 * i + d] as number;
      mean[d] += v / n;
      sq[d] += (v * v) / n;
    }
  }
  return { mean, std: [Math.sqrt(sq[0] - mean[0] ** 2), Math.sqrt(sq[1] - mean[1] ** 2)] };
}

async function all(name: ToyName, count: number, seed: number, labels = false) {
  const ds = toy(name, { count, seed, labels });
  return ds.read(Array.from({ length: count }, (_, i) => i));
}

describe('toy datasets', () => {
  it('are deterministic for a seed and differ between seeds', async () => {
    for (const name of toyNames) {
      const a = await all(name, 500, 7);
      const b = await all(name, 500, 7);
      const c = await all(name, 500, 8);
      expect(a.data).toEqual(b.data);
      expect(a.data).not.toEqual(c.data);
      expect(a.data.every(Number.isFinite)).toBe(true);
    }
    const ds = toy('moons');
    expect(ds.info).toEqual({ name: 'toy:moons', kind: 'vector', shape: [2], count: 10000, labelDim: 0 });
    expect((await all('moons', 3, 2 ** 40 + 5)).data).not.toEqual((await all('moons', 3, 5)).data);
  });

  it('have mean 0 and std 1 per coordinate, in the dataset and from the sampler', async () => {
    for (const name of toyNames) {
      for (const xy of [(await all(name, 20000, 1)).data, toySampler(name)(20000, 1)]) {
        const { mean, std } = moments(xy);
        for (const d of [0, 1]) {
          expect(Math.abs(mean[d] as number), `${name} mean[${d}]`).toBeLessThan(0.04);
          expect(Math.abs((std[d] as number) - 1), `${name} std[${d}]`).toBeLessThan(0.04);
        }
      }
    }
  });

  it('gaussians: 8 clusters of std 0.1 on a circle of radius 2, scaled by 1 / sqrt(2.01)', async () => {
    const n = 16000;
    const b = await all('gaussians', n, 3, true);
    const s = Math.sqrt(2.01);
    const counts = new Array(8).fill(0);
    let far = 0;
    let mislabelled = 0;
    for (let i = 0; i < n; i++) {
      const x = (b.data[2 * i] as number) * s;
      const y = (b.data[2 * i + 1] as number) * s;
      const k = (Math.round((Math.atan2(y, x) / (2 * Math.PI)) * 8) + 8) % 8;
      const d = Math.hypot(x - 2 * Math.cos((2 * Math.PI * k) / 8), y - 2 * Math.sin((2 * Math.PI * k) / 8));
      if (d > 0.6) far++; // 6 std
      if (b.classes?.[i] !== k) mislabelled++;
      counts[k]++;
    }
    expect(far).toBe(0);
    expect(mislabelled).toBe(0);
    for (const c of counts) expect(Math.abs(c - n / 8)).toBeLessThan(5 * Math.sqrt((n * 7) / 64));
  });

  it('rings, checkerboard, moons and spirals have their shapes', async () => {
    const rings = toySampler('rings')(5000, 2);
    const sr = Math.sqrt(3.7564);
    const radii = new Array(6).fill(0);
    let between = 0;
    for (let i = 0; i < 5000; i++) {
      const r = Math.hypot(rings[2 * i] as number, rings[2 * i + 1] as number) * sr;
      if (Math.abs(r - Math.round(r)) > 0.45) between++;
      radii[Math.min(5, Math.round(r))]++;
    }
    expect(between).toBe(0);
    expect(radii[0]).toBe(0);
    expect(radii[5]).toBe(0);
    for (const k of [1, 2, 3, 4]) expect(Math.abs(radii[k] - 1250)).toBeLessThan(160);
    const board = toySampler('checkerboard')(5000, 2);
    const sb = Math.sqrt(4 / 3);
    let outside = 0;
    for (let i = 0; i < 5000; i++) {
      const x = (board[2 * i] as number) * sb;
      const y = (board[2 * i + 1] as number) * sb;
      if (Math.abs(x) > 2 || Math.abs(y) > 2 || (Math.floor(x) + Math.floor(y) + 4) % 2 !== 0) outside++;
    }
    expect(outside).toBe(0);
    // moons: component 0 is the upper moon, component 1 the lower one
    const upper = moments(toySampler('moons')(5000, 3, 0)).mean;
    const lower = moments(toySampler('moons')(5000, 3, 1)).mean;
    expect(upper[0]).toBeLessThan(lower[0]);
    expect(upper[1]).toBeGreaterThan(lower[1]);
    // spirals: the second spiral is the first one turned by 180 degrees
    const a = toySampler('spirals')(20000, 4, 0);
    const b = toySampler('spirals')(20000, 5, 1);
    const ma = moments(a);
    const mb = moments(b);
    expect(Math.abs(ma.mean[0] + mb.mean[0])).toBeLessThan(0.05);
    expect(Math.abs(ma.mean[1] + mb.mean[1])).toBeLessThan(0.05);
    expect(Math.hypot(...ma.mean)).toBeGreaterThan(0.1);
    expect(toy('spirals', { labels: true }).info.labelDim).toBe(2);
    expect(toy('checkerboard', { labels: true }).info.labelDim).toBe(8);
  });

  it('the sampler gives fresh, reproducible draws', async () => {
    for (const name of toyNames) {
      const sample = toySampler(name);
      const data = (await all(name, 1000, 0)).data;
      const fresh = sample(1000, 0);
      expect(fresh).toHaveLength(2000);
      expect(fresh).toEqual(sample(1000, 0));
      expect(fresh).not.toEqual(sample(1000, 1));
      let same = 0;
      for (let i = 0; i < 2000; i++) if (fresh[i] === data[i]) same++;
      expect(same).toBe(0);
    }
  });

  it('rejects bad names, counts, seeds and components', () => {
    expect(() => toy('circles' as ToyName)).toThrow(/unknown toy dataset "circles": use one of gaussians, moons/);
    expect(() => toySampler('x' as ToyName)).toThrow(/unknown toy dataset/);
    expect(() => toy('moons', { count: 0 })).toThrow(/count must be an integer/);
    expect(() => toy('moons', { seed: -1 })).toThrow(/seed must be an integer/);
    expect(() => toy('moons', { seed: 0.5 })).toThrow(/seed must be an integer/);
    expect(() => toySampler('moons')(10, 0, 2)).toThrow(/component must be an integer in \[0, 1\]/);
    expect(() => toySampler('moons')(1.5)).toThrow(/count/);
  });

  it('checks indices', async () => {
    const ds = toy('rings', { count: 10 });
    await expect(ds.read([10])).rejects.toThrow(/index 10 .* outside \[0, 10\)/);
    await ds.close();
    await expect(ds.read([0])).rejects.toMatchObject({ code: 'ERR_PFGM_DISPOSED' });
  });
});
