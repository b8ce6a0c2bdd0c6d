// CUDA graphs of whole training steps (docs/cuda.md, "CUDA graphs"; src/native/train/
// session_graphs.cc) against the same steps run op by op (PFGM_CUDA_GRAPHS=0). A replayed step
// reads each step's index (the draws' streams), sigma, coefficients and Adam's constants from
// what its launch copies in, and leaves its loss and gradient statistics on the device, where the
// update checks them; so a run of steps must give the op-by-op run's losses, gradient norms,
// weights, EMA, Adam moments and counters, bit for bit on the CUDA emulator (test/native/
// cuda-emulated.test.ts runs this file on every CI machine), which replays exactly what it
// recorded.
//
// - a U-Net with dropout and label dropout at D = 64, with the learning rate and the EMA's beta
//   changing at every step: steps from the third on are replays;
// - gradient accumulation over micro-batches, with clipping: two recordings, one per gradient
//   buffer of the pair that the accumulation swaps;
// - a step whose batch holds a NaN: skipped on the device as op by op, counted as skipped, and
//   the steps after it go on replaying;
// - STF's target is a host computation: those steps stay op by op, with the same results.
//
// Skipped where the loaded addon has no usable GPU with cuDNN and cuBLAS.
import { describe, expect, it } from 'vitest';
import { native } from '../../src/addon/load.js';
import { createNetwork, getGraphStats, type TrainStepOptions } from '../../src/index.js';
import { gpuReady, tinyUnet } from '../helpers/gpu.js';
import { filled, scaledError } from '../helpers/ops.js';

const emulated = () => (native() as unknown as { emuCopies?: unknown }).emuCopies !== undefined;

const unet = { ...tinyUnet({ dropout: 0.2 }), labelDropout: 0.3 };
const per = 2 * 8 * 8;
const batch = 4;
const labels = new Float32Array([1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0]);

/** The clean batch of step s (a NaN at `nanAt`). */
function data(s: number, nanAt?: number): Float32Array {
  const y = filled([batch * per], 100 + s).data as Float32Array;
  if (s === nanAt) y[5] = Number.NaN;
  return y;
}

interface RunOptions {
  steps: number;
  options: Omit<TrainStepOptions, 'labels'>;
  nanAt?: number;
}

/** `steps` training steps of a fresh network, with graphs on or off; what the steps produced. */
async function train(run: RunOptions, graphs: boolean) {
  const before = process.env.PFGM_CUDA_GRAPHS;
  if (!graphs) process.env.PFGM_CUDA_GRAPHS = '0';
  const net = createNetwork(unet, { device: 'cuda', seed: 7 });
  try {
    const s0 = getGraphStats();
    const results = [];
    for (let s = 0; s < run.steps; s++) {
      results.push(await net.trainStep(data(s, run.nanAt), { ...run.options, labels, seed: 11 }));
    }
    const s1 = getGraphStats();
    const w = net.flatWeights();
    const o = net.optimizerState();
    return {
      results,
      arrays: { raw: w.raw, ema: w.ema, adamM: o.adamM, adamV: o.adamV },
      counters: o.counters,
      graphs: { captures: s1.captures - s0.captures, replays: s1.replays - s0.replays, eager: s1.eager - s0.eager },
    };
  } finally {
    net.dispose();
    if (before === undefined) delete process.env.PFGM_CUDA_GRAPHS;
    else process.env.PFGM_CUDA_GRAPHS = before;
  }
}

type Trained = Awaited<ReturnType<typeof train>>;

/** Bit for bit on the emulator; on a GPU the same kernels run, so equal too, or within rounding. */
function expectSameRuns(graphed: Trained, plain: Trained): void {
  expect(graphed.counters).toEqual(plain.counters);
  expect(graphed.results.map((r) => r.skipped)).toEqual(plain.results.map((r) => r.skipped));
  expect(graphed.results.map((r) => r.lr)).toEqual(plain.results.map((r) => r.lr));
  const exact = emulated();
  for (const [name, a] of Object.entries(graphed.arrays)) {
    const b = plain.arrays[name as keyof Trained['arrays']];
    const same = Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
      Buffer.from(b.buffer, b.byteOffset, b.byteLength),
    );
    if (exact || same) expect(same, `${name}: scaled error ${scaledError(a, b)}`).toBe(true);
    else expect(scaledError(a, b), name).toBeLessThan(1e-5);
  }
  graphed.results.forEach((r, i) => {
    const p = plain.results[i] as (typeof plain.results)[number];
    if (exact) expect([r.loss, r.gradNorm], `step ${i}`).toEqual([p.loss, p.gradNorm]);
    else if (Number.isFinite(p.loss))
      expect(Math.abs(r.loss - p.loss) / Math.abs(p.loss), `step ${i}`).toBeLessThan(1e-5);
  });
}

describe.skipIf(!gpuReady)('CUDA graphs of training steps', () => {
  it('steps with dropout, label dropout, a learning-rate ramp and the EMA ramp replay the op-by-op steps', async () => {
    const run: RunOptions = { steps: 5, options: { D: 64, lr: 1e-3, lrRampupKimg: 0.1, emaHalflifeKimg: 0.05 } };
    const plain = await train(run, false);
    const graphed = await train(run, true);
    expect(plain.graphs).toEqual({ captures: 0, replays: 0, eager: 0 });
    // step 0 warms up, step 1 is captured (and launched), steps 2-4 replay
    expect(graphed.graphs).toEqual({ captures: 1, replays: 3, eager: 1 });
    expectSameRuns(graphed, plain);
    // the learning rate ramps: every step's constants differed
    expect(new Set(graphed.results.map((r) => r.lr)).size).toBe(run.steps);
  }, 180_000);

  it('gradient accumulation with clipping keeps one recording per gradient buffer', async () => {
    const run: RunOptions = { steps: 6, options: { D: 64, lr: 1e-3, microBatch: 2, gradClip: 1e-3 } };
    const plain = await train(run, false);
    const graphed = await train(run, true);
    // two keys, each: warm-up, capture, replay
    expect(graphed.graphs).toEqual({ captures: 2, replays: 2, eager: 2 });
    expectSameRuns(graphed, plain);
    expect(Math.min(...graphed.results.map((r) => r.gradNorm))).toBeGreaterThan(1e-3);
  }, 180_000);

  it('a step with a non-finite loss is skipped in the replay as op by op, and the replays go on', async () => {
    const run: RunOptions = { steps: 6, options: { D: Number.POSITIVE_INFINITY, lr: 1e-3 }, nanAt: 3 };
    const plain = await train(run, false);
    const graphed = await train(run, true);
    expect(graphed.results.map((r) => r.skipped)).toEqual([false, false, false, true, false, false]);
    expect(graphed.counters.skipped).toBe(1);
    expect(graphed.counters.adamSteps).toBe(5);
    expect(graphed.graphs).toEqual({ captures: 1, replays: 4, eager: 1 });
    expectSameRuns(graphed, plain);
  }, 180_000);

  it("STF's host target keeps its steps op by op, with the same results", async () => {
    const run: RunOptions = { steps: 3, options: { D: 64, lr: 1e-3, stf: true } };
    const plain = await train(run, false);
    const graphed = await train(run, true);
    expect(graphed.graphs).toEqual({ captures: 0, replays: 0, eager: 0 });
    expectSameRuns(graphed, plain);
  }, 180_000);
});
