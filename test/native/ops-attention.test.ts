// Attention and FIR resampling (src/native/ops/attention.cc, resample.cc) against EDM's PyTorch
// code (fixtures/gen/ops_attention.py), and their backward passes against central differences of
// the forward: loss = sum(dy * y), so d loss / d x_i is exactly what backward writes into dx_i.
import { describe, expect, it } from 'vitest';
import { native } from '../../src/addon/load.js';
import type { NativeHostTensor } from '../../src/addon/native.js';
import { loadFixture, runGoldenCase } from '../helpers/golden.js';

const fx = loadFixture('ops/attention.safetensors');

/** Deterministic standard normals (mulberry32 + Box-Muller). */
function normals(count: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  return out;
}

const host = (shape: number[], data: Float32Array): NativeHostTensor => ({ shape, data });
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

async function run(op: string, attrs: Record<string, number | number[]>, inputs: Record<string, NativeHostTensor>) {
  return native().runOp(op, attrs, inputs);
}

interface GradCheck {
  op: string;
  attrs: Record<string, number | number[]>;
  xName: string;
  xShape: number[];
  yName: string;
  dyName: string;
  dxName: string;
  seed: number;
  probes: number;
}

/**
 * Compares backward's dx with central differences of loss = sum(dy * y) at random coordinates of x.
 * The step is the float32 difference actually taken, and the loss is summed in float64.
 */
async function gradCheck(g: GradCheck): Promise<void> {
  const x = normals(size(g.xShape), g.seed);
  const fwd = await run(g.op, g.attrs, { [g.xName]: host(g.xShape, x) });
  const yShape = fwd[g.yName]?.shape ?? [];
  const dy = normals(size(yShape), g.seed + 1);
  const both = await run(g.op, g.attrs, { [g.xName]: host(g.xShape, x), [g.dyName]: host(yShape, dy) });
  const dx = both[g.dxName]?.data;
  if (!dx) throw new Error(`${g.op} produced no ${g.dxName}`);

  const loss = async (xs: Float32Array) => {
    const y = (await run(g.op, g.attrs, { [g.xName]: host(g.xShape, xs) }))[g.yName]?.data ?? new Float32Array();
    let sum = 0;
    for (let i = 0; i < y.length; i++) sum += (dy[i] as number) * (y[i] as number);
    return sum;
  };
  const pick = normals(g.probes, g.seed + 2);
  for (let p = 0; p < g.probes; p++) {
    const i = Math.floor(Math.abs(Math.sin(1e4 * (pick[p] as number) + p)) * x.length) % x.length;
    const x0 = x[i] as number;
    const plus = Float32Array.from(x);
    const minus = Float32Array.from(x);
    plus[i] = x0 + 1e-2;
    minus[i] = x0 - 1e-2;
    const fd = ((await loss(plus)) - (await loss(minus))) / ((plus[i] as number) - (minus[i] as number));
    const an = dx[i] as number;
    expect(Math.abs(fd - an), `${g.op} ${JSON.stringify(g.attrs)} d/dx[${i}]: fd ${fd} vs ${an}`).toBeLessThanOrEqual(
      1e-2 * Math.abs(an) + 2e-3,
    );
  }
}

describe('attention and FIR resampling match EDM (PyTorch goldens)', () => {
  it('registers the cases', () => {
    const names = native().opCases();
    for (const op of ['attention', 'fir_down', 'fir_up']) expect(names).toContain(op);
  });

  for (const c of fx.cases) {
    it(`${c.name} (${c.op} ${JSON.stringify(c.attrs)})`, async () => {
      const result = await runGoldenCase(fx, c);
      for (const [name, cmp] of Object.entries(result)) {
        expect(cmp.ok, `${c.name}/${name}: max |diff| ${cmp.maxAbs} at scale ${cmp.scale}`).toBe(true);
      }
    });
  }
});

describe('backward passes agree with finite differences', () => {
  for (const heads of [1, 2]) {
    it(`attention dqkv, ${heads} head(s)`, async () => {
      await gradCheck({
        op: 'attention',
        attrs: { heads },
        xName: 'qkv',
        xShape: [2, 3, 3, 3 * 8],
        yName: 'out',
        dyName: 'dout',
        dxName: 'dqkv',
        seed: 11 + heads,
        probes: 24,
      });
    });
  }

  const fir: Array<[string, number[], number, number[]]> = [
    ['fir_down', [1, 1], 0, [2, 5, 6, 3]],
    ['fir_down', [1, 3, 3, 1], 1, [1, 7, 6, 4]],
    ['fir_down', [1, 3, 3, 1], 0, [1, 8, 9, 3]],
    ['fir_up', [1, 1], 0, [2, 3, 4, 3]],
    ['fir_up', [1, 3, 3, 1], 1, [1, 4, 3, 4]],
  ];
  for (const [op, filter, pad, xShape] of fir) {
    it(`${op} dx, filter [${filter}] pad ${pad} on [${xShape}]`, async () => {
      await gradCheck({
        op,
        attrs: { filter, pad },
        xName: 'x',
        xShape,
        yName: 'y',
        dyName: 'dy',
        dxName: 'dx',
        seed: 100 + pad + filter.length,
        probes: 16,
      });
    });
  }
});

describe('bad shapes are errors, not crashes', () => {
  const t = (shape: number[]) => host(shape, new Float32Array(size(shape)));
  const rejects = (p: Promise<unknown>, code: string, message: RegExp) =>
    expect(p).rejects.toMatchObject({ code, message: expect.stringMatching(message) });

  it('attention', async () => {
    await rejects(run('attention', { heads: 1 }, { qkv: t([1, 2, 2, 8]) }), 'ERR_PFGM_SHAPE', /3 c/);
    await rejects(run('attention', { heads: 4 }, { qkv: t([1, 2, 2, 18]) }), 'ERR_PFGM_SHAPE', /heads \(4\)/);
    await rejects(run('attention', { heads: 1 }, { qkv: t([4, 24]) }), 'ERR_PFGM_SHAPE', /\[n, h, w, c\]/);
    await rejects(run('attention', { heads: 1 }, { qkv: t([0, 2, 2, 24]) }), 'ERR_PFGM_SHAPE', /empty/);
    await rejects(
      run('attention', { heads: 1 }, { qkv: t([1, 2, 2, 24]), dout: t([1, 2, 2, 24]) }),
      'ERR_PFGM_SHAPE',
      /dout must be \[1, 2, 2, 8\]/,
    );
    await rejects(run('attention', { heads: 0.5 }, { qkv: t([1, 2, 2, 24]) }), 'ERR_PFGM_ARGUMENT', /heads/);
    await rejects(run('attention', { heads: 1 }, {}), 'ERR_PFGM_ARGUMENT', /qkv/);
  });

  it('fir_down and fir_up', async () => {
    const f4 = [1, 3, 3, 1];
    await rejects(run('fir_down', { filter: f4, pad: 0 }, { x: t([1, 3, 3, 2]) }), 'ERR_PFGM_SHAPE', /too small/);
    await rejects(run('fir_down', { filter: f4, pad: 0 }, { x: t([1, 8, 3, 2]) }), 'ERR_PFGM_SHAPE', /too small/);
    await rejects(run('fir_up', { filter: [1, 1], pad: 3 }, { x: t([1, 1, 1, 2]) }), 'ERR_PFGM_SHAPE', /too small/);
    await rejects(
      run('fir_down', { filter: f4, pad: 1 }, { x: t([1, 8, 8, 2]), dy: t([1, 8, 8, 2]) }),
      'ERR_PFGM_SHAPE',
      /dy must be \[1, 4, 4, 2\]/,
    );
    await rejects(
      run('fir_up', { filter: f4, pad: 1 }, { x: t([1, 4, 4, 2]), dy: t([1, 4, 4, 2]) }),
      'ERR_PFGM_SHAPE',
      /dy must be \[1, 8, 8, 2\]/,
    );
    await rejects(run('fir_up', { filter: f4, pad: 1 }, { x: t([8, 8, 2]) }), 'ERR_PFGM_SHAPE', /\[n, h, w, c\]/);
    await rejects(run('fir_up', { filter: f4, pad: -1 }, { x: t([1, 4, 4, 2]) }), 'ERR_PFGM_ARGUMENT', /pad/);
    await rejects(run('fir_up', { filter: [], pad: 0 }, { x: t([1, 4, 4, 2]) }), 'ERR_PFGM_ARGUMENT', /filter/);
    await rejects(
      run('fir_up', { filter: [1, -1], pad: 0 }, { x: t([1, 4, 4, 2]) }),
      'ERR_PFGM_ARGUMENT',
      /sum to zero/,
    );
  });
});
