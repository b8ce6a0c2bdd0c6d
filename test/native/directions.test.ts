// docs/method.md §2.1: the kernel is isotropic, so x - y points in a uniform direction. For a uniform unit
// vector u in R^N, u_1^2 ~ Beta(1/2, (N-1)/2); in R^3, u_1 ~ U(-1, 1) (Archimedes).
import { describe, expect, it } from 'vitest';
import { perturb, pfgmPerturb, tensor } from '../../src/index.js';
import { betaCdf, ksTest, rowNorms2 } from '../helpers/stats.js';

async function firstCoordinates(
  count: number,
  n: number,
  draw: (y: ReturnType<typeof tensor>) => Promise<ReturnType<typeof tensor>>,
) {
  const x = await (await draw(tensor(new Float64Array(count * n), [count, n]))).data();
  const norms = rowNorms2(x, count).map(Math.sqrt);
  const u1 = norms.map((norm, i) => (x[i * n] as number) / norm);
  const ulast = norms.map((norm, i) => (x[i * n + n - 1] as number) / norm);
  return { u1, ulast };
}

describe('uniform directions', () => {
  it.each([1, 128, Number.POSITIVE_INFINITY])('N = 3, D = %s: u_1 ~ U(-1, 1)', async (D) => {
    const { u1, ulast } = await firstCoordinates(20000, 3, (y) => perturb(y as never, { sigma: 1, D, seed: 31 }));
    expect(ksTest(u1, (v) => (v + 1) / 2).p).toBeGreaterThan(1e-3);
    expect(ksTest(ulast, (v) => (v + 1) / 2).p).toBeGreaterThan(1e-3);
    expect(ksTest(u1, (v) => ((v + 1) / 2) ** 1.1).p).toBeLessThan(1e-4); // power
  });

  it.each([1, 8])('N = 784, D = %s: u_1^2 ~ Beta(1/2, 783/2)', async (D) => {
    const { u1 } = await firstCoordinates(5000, 784, (y) => perturb(y as never, { sigma: 1, D, seed: 32 }));
    expect(
      ksTest(
        u1.map((v) => v * v),
        (v) => betaCdf(v, 0.5, 391.5),
      ).p,
    ).toBeGreaterThan(1e-3);
    // the sign is balanced
    expect(Math.abs(u1.filter((v) => v > 0).length - 2500)).toBeLessThan(4 * Math.sqrt(1250));
  });

  it('PFGM perturbation directions are uniform', async () => {
    const { u1 } = await firstCoordinates(20000, 3, (y) =>
      pfgmPerturb(y as never, { M: 50, seed: 33 }).then((r) => r.x),
    );
    expect(ksTest(u1, (v) => (v + 1) / 2).p).toBeGreaterThan(1e-3);
  });
});
