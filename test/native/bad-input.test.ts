// Bad input gets a PfgmError with a stable code and a message that names the fix; the process
// survives even when the TypeScript checks are bypassed and the addon is called directly.
import { describe, expect, it } from 'vitest';
import { native } from '../../src/addon/load.js';
import {
  PfgmError,
  perturb,
  pfgmPerturb,
  samplePfgmPrior,
  samplePrior,
  sampleTrainingSigma,
  tensor,
} from '../../src/index.js';

async function rejects(p: Promise<unknown> | (() => unknown), code: string, message: RegExp) {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (error) {
    expect(error).toBeInstanceOf(PfgmError);
    expect((error as PfgmError).code).toBe(code);
    expect((error as Error).message).toMatch(message);
    return;
  }
  expect.unreachable(`expected ${code}`);
}

const y = () => tensor(new Float32Array(4 * 6), [4, 6]);

describe('bad input to the physics API', () => {
  it('D must be > 0 or Infinity', async () => {
    for (const D of [0, -1, Number.NaN, Number.NEGATIVE_INFINITY]) {
      await rejects(perturb(y(), { sigma: 1, D }), 'ERR_PFGM_ARGUMENT', /D must be a number > 0 or Infinity.*PFGM/);
      await rejects(samplePrior({ shape: [6], count: 2, D }), 'ERR_PFGM_ARGUMENT', /D must be/);
    }
    await rejects(perturb(y(), { sigma: 1, D: '128' as unknown as number }), 'ERR_PFGM_ARGUMENT', /got "128"/);
  });

  it('sigma must be finite and >= 0, one value or one per sample', async () => {
    for (const sigma of [Number.NaN, -0.5, Number.POSITIVE_INFINITY]) {
      await rejects(perturb(y(), { sigma, D: 128 }), 'ERR_PFGM_ARGUMENT', /sigma must be a finite number >= 0/);
    }
    await rejects(perturb(y(), { sigma: [1, 2, 3], D: 128 }), 'ERR_PFGM_SHAPE', /3 values for 4 samples/);
    await rejects(perturb(y(), { sigma: [1, 2, Number.NaN, 4], D: 128 }), 'ERR_PFGM_ARGUMENT', /sigma\[2\]/);
    await rejects(perturb(y(), { sigma: 'big' as unknown as number, D: 128 }), 'ERR_PFGM_ARGUMENT', /sigma must be/);
  });

  it('y must be a float batch [count, ...sample]', async () => {
    await rejects(
      perturb(tensor(new Float32Array(6)), { sigma: 1, D: 1 }),
      'ERR_PFGM_SHAPE',
      /\[count, \.\.\.sample\].*\[6\]/,
    );
    await rejects(perturb(tensor(new Float32Array(0), [0, 6]), { sigma: 1, D: 1 }), 'ERR_PFGM_SHAPE', /count >= 1/);
    await rejects(
      perturb(tensor(new Int32Array(12), [2, 6]) as never, { sigma: 1, D: 1 }),
      'ERR_PFGM_DTYPE',
      /f32 or f64 values, got i32/,
    );
    await rejects(perturb(new Float32Array(12) as never, { sigma: 1, D: 1 }), 'ERR_PFGM_ARGUMENT', /must be a Tensor/);
    const gone = y();
    gone.dispose();
    await rejects(perturb(gone, { sigma: 1, D: 1 }), 'ERR_PFGM_DISPOSED', /disposed/);
  });

  it('seeds, offsets, counts, shapes and clips are checked', async () => {
    await rejects(
      perturb(y(), { sigma: 1, D: 1, seed: -1 }),
      'ERR_PFGM_ARGUMENT',
      /seed must be a non-negative integer/,
    );
    await rejects(perturb(y(), { sigma: 1, D: 1, seed: 1.5 }), 'ERR_PFGM_ARGUMENT', /seed/);
    await rejects(perturb(y(), { sigma: 1, D: 1, seed: [1, 2] }), 'ERR_PFGM_SHAPE', /one seed per sample/);
    await rejects(perturb(y(), { sigma: 1, D: 1, seed: 1, sampleOffset: -3 }), 'ERR_PFGM_ARGUMENT', /sampleOffset/);
    await rejects(perturb(y(), { sigma: 1, D: 1, step: 2 ** 32 }), 'ERR_PFGM_ARGUMENT', /step/);
    await rejects(perturb(y(), { sigma: 1, D: 1, radiusClip: { min: 5, max: 2 } }), 'ERR_PFGM_ARGUMENT', /radiusClip/);
    await rejects(samplePrior({ shape: [6], count: 0, D: 1 }), 'ERR_PFGM_ARGUMENT', /count/);
    await rejects(samplePrior({ shape: [], count: 2, D: 1 }), 'ERR_PFGM_SHAPE', /one sample/);
    await rejects(samplePrior({ shape: [3, -1], count: 2, D: 1 }), 'ERR_PFGM_SHAPE', /non-negative integers/);
    await rejects(samplePrior({ shape: [3], count: 2, D: 1, sigmaMax: 0 }), 'ERR_PFGM_ARGUMENT', /sigmaMax/);
    await rejects(samplePrior({ shape: [3], count: 2, D: 1, dtype: 'i32' as 'f32' }), 'ERR_PFGM_ARGUMENT', /dtype/);
    await rejects(sampleTrainingSigma({ count: 3, pStd: -1 }), 'ERR_PFGM_ARGUMENT', /pStd/);
    await rejects(pfgmPerturb(y(), { M: Number.NaN }), 'ERR_PFGM_ARGUMENT', /M must/);
    await rejects(pfgmPerturb(y(), { M: 10, tau: 0 }), 'ERR_PFGM_ARGUMENT', /tau/);
    await rejects(samplePfgmPrior({ shape: [3], count: 2, zMax: -1 }), 'ERR_PFGM_ARGUMENT', /zMax/);
  });

  it('an impossible CPU allocation is a coded error', async () => {
    await rejects(
      samplePrior({ shape: [1 << 20, 1 << 20], count: 64, D: 1, device: 'cpu' }),
      'ERR_PFGM_OUT_OF_MEMORY',
      /memory|allocate/,
    );
    // sizes whose byte count overflows 64 bits must not wrap around to a small allocation
    await rejects(
      samplePrior({ shape: [2 ** 40, 2 ** 40], count: 2 ** 40, D: 1, device: 'cpu' }),
      'ERR_PFGM_OUT_OF_MEMORY',
      /does not fit/,
    );
  });

  it('the addon itself survives garbage when called directly', () => {
    const addon = native() as unknown as Record<string, (...args: unknown[]) => unknown>;
    const junk: unknown[][] = [[], [null], [42], [{}], [{ y: 5 }], [{ y: {}, D: 1 }], [{ shape: 'x' }]];
    for (const name of ['studentTNoise', 'pfgmPerturb', 'trainingSigma', 'createTensor', 'philox']) {
      for (const args of junk) {
        let threw: unknown;
        try {
          const result = (addon[name] as (...a: unknown[]) => unknown)(...args);
          if (result instanceof Promise) result.catch(() => {});
        } catch (error) {
          threw = error;
        }
        expect(threw, `${name}(${JSON.stringify(args)})`).toBeInstanceOf(Error);
        expect(String((threw as { code?: string }).code), `${name}(${JSON.stringify(args)})`).toMatch(/^ERR_PFGM_/);
      }
    }
  });
});
