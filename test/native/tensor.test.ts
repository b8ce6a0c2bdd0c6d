import { describe, expect, it } from 'vitest';
import { PfgmError, Tensor, tensor } from '../../src/index.js';

describe('tensors', () => {
  it('round-trips every dtype with its shape', async () => {
    const cases = [
      new Float32Array([1.5, -2, 3.25, 4, 5, 6]),
      new Float64Array([Math.PI, -1e300, 0, 1, 2, 3]),
      new Int32Array([-2147483648, 2147483647, 0, 1, -1, 7]),
      new Uint8Array([0, 255, 1, 2, 3, 4]),
    ];
    for (const data of cases) {
      const t = tensor(data, [2, 3], { device: 'cpu' });
      expect(t.shape).toEqual([2, 3]);
      expect(t.size).toBe(6);
      expect(t.device).toBe('cpu');
      const back = await t.data();
      expect(back.constructor).toBe(data.constructor);
      expect(Array.from(back)).toEqual(Array.from(data));
      t.dispose();
    }
    expect(tensor(new Float32Array([1, 2])).dtype).toBe('f32');
    expect(tensor(new Float64Array(0), [0, 4]).size).toBe(0);
  });

  it('copies its input, so later writes to the array do not leak in', async () => {
    const a = new Float32Array([1, 2, 3]);
    const t = tensor(a);
    a[0] = 99;
    expect(Array.from(await t.data())).toEqual([1, 2, 3]);
  });

  it('reads a view of a larger buffer correctly', async () => {
    const buffer = new Float64Array([9, 9, 1, 2, 3, 9]);
    const t = tensor(buffer.subarray(2, 5));
    expect(Array.from(await t.data())).toEqual([1, 2, 3]);
  });

  it('frees on dispose and refuses further use with a coded error', async () => {
    const t = tensor(new Float32Array(1024), [32, 32]);
    t[Symbol.dispose]();
    expect(t.disposed).toBe(true);
    t.dispose(); // twice is fine
    await expect(t.data()).rejects.toMatchObject({ code: 'ERR_PFGM_DISPOSED' });
    expect(String(t)).toMatch(/disposed/);
  });

  it('keeps memory alive for a read already in flight when disposed', async () => {
    const t = tensor(Float32Array.from({ length: 1 << 20 }, (_, i) => i % 7));
    const pending = t.data();
    t.dispose();
    const data = await pending;
    expect(data[13]).toBe(6);
  });

  it('rejects bad input with clear errors', () => {
    const bad = (f: () => unknown, code: string, message: RegExp) => {
      try {
        f();
        expect.unreachable('should throw');
      } catch (error) {
        expect(error).toBeInstanceOf(PfgmError);
        expect((error as PfgmError).code).toBe(code);
        expect((error as Error).message).toMatch(message);
      }
    };
    bad(() => tensor(new Float32Array(6), [4, 2]), 'ERR_PFGM_SHAPE', /holds 8 elements but the array has 6/);
    bad(() => tensor(new Float32Array(6), [2, -3]), 'ERR_PFGM_SHAPE', /non-negative integers/);
    bad(() => tensor(new Float32Array(6), [2.5, 2]), 'ERR_PFGM_SHAPE', /non-negative integers/);
    bad(() => tensor([1, 2, 3] as unknown as Float32Array), 'ERR_PFGM_DTYPE', /Float32Array.from/);
    bad(() => tensor(new Int16Array(3) as unknown as Int32Array), 'ERR_PFGM_DTYPE', /Float32Array/);
    bad(() => tensor(new Float32Array(1), [1], { device: 'tpu' as 'cpu' }), 'ERR_PFGM_DEVICE', /unknown device/);
  });

  it('is a Tensor with a readable description', () => {
    const t = tensor(new Float32Array(4), [1, 4]);
    expect(t).toBeInstanceOf(Tensor);
    expect(String(t)).toBe(`Tensor<f32>[1, 4] on ${t.device}`);
  });
});
