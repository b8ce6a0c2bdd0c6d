// CUDA graphs of the network's evaluations (docs/cuda.md, "CUDA graphs"; cuda/runtime/graph.cu)
// against the same ops run one by one. A graph replays the kernels it recorded, with the host
// coefficients of each call copied in before the launch, so its results must equal the eager
// run's bit for bit: on the CUDA emulator (test/native/cuda-emulated.test.ts runs this file on
// every CI machine), which records and replays launches, copies and library calls, and on a GPU.
//
// - op case "graph_cache": a few backend ops whose per-row host coefficients change with every
//   call (as c_in, c_skip and c_out change with sigma), run through one cache entry: one eager
//   warm-up, one capture, then replays; a call that writes another buffer runs eagerly and is
//   recorded again; a sequence that reads a value back to the host is never a graph.
// - sampling: solvers of a small U-Net (attention, labels, guidance, the adaptive scale) give the
//   same samples with graphs as with PFGM_CUDA_GRAPHS=0, and evaluations are replayed, in the next
//   run on the same network from its first evaluation on, also when two batch sizes alternate
//   (the network's buffers keep their size, so neither recording moves). PFGM's z-ODE too: its field scales the
//   input by the samples' norms, which the device turns into coefficients without a read back to
//   the host (Backend::adaptive_coefs); its samples are also checked against the CPU engine's, so
//   a wrong coefficient kernel, which graphs and op by op would share, fails here as well.
//
// Skipped where the loaded addon has no usable GPU with cuDNN and cuBLAS.
import { describe, expect, it } from 'vitest';
import { native } from '../../src/addon/load.js';
import {
  type CreateNetworkOptions,
  createNetwork,
  getGraphStats,
  type Network,
  pfgmHyperparameters,
  pfgmSample,
  type SampleOptions,
  sample,
} from '../../src/index.js';
import { gpuReady, tinyUnet } from '../helpers/gpu.js';
import { filled, scaledError } from '../helpers/ops.js';

const emulated = () => (native() as unknown as { emuCopies?: unknown }).emuCopies !== undefined;
const stats = () => getGraphStats();

/** Equal bit for bit on the emulator; on a GPU the same kernels run, so equal as well. */
function expectSame(a: Float32Array, b: Float32Array, what: string): void {
  expect(a.length, what).toBe(b.length);
  expect(
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength)),
    `${what}: scaled error ${scaledError(a, b)}`,
  ).toBe(true);
}

async function graphCase(attrs: Record<string, number>) {
  const r = await native().runOp('graph_cache', attrs, { x: filled([5, 12], 3) }, 'cuda');
  const [captures, replays, eager, dropped] = Array.from(r.counts?.data ?? []);
  return {
    graph: r.graph?.data as Float32Array,
    reference: r.eager?.data as Float32Array,
    captures,
    replays,
    eager,
    dropped,
  };
}

describe.skipIf(!gpuReady)('CUDA graphs of backend op sequences', () => {
  it('replays with new host coefficients give the eager results', async () => {
    const r = await graphCase({ calls: 6 });
    expectSame(r.graph, r.reference, 'graph against eager');
    expect([r.captures, r.replays, r.eager, r.dropped]).toEqual([1, 4, 1, 0]);
  });

  it('a call with other buffers runs eagerly and the entry is recorded again', async () => {
    const r = await graphCase({ calls: 8, moved_at: 3 });
    expectSame(r.graph, r.reference, 'graph against eager');
    // call 0 warm-up, 1 capture, 2 replay, 3 differs (dropped, warm-up), 4 capture, 5-7 replays
    expect([r.captures, r.replays, r.eager, r.dropped]).toEqual([2, 4, 2, 1]);
  });

  it('a sequence that reads back to the host is never a graph, and says why', async () => {
    const r = await graphCase({ calls: 4, download: 1 });
    expectSame(r.graph, r.reference, 'eager against eager');
    expect([r.captures, r.replays, r.eager]).toEqual([0, 0, 4]);
    expect(stats().refusal).toMatch(/download/);
  });
});

describe.skipIf(!gpuReady)('CUDA graphs when sampling', () => {
  const unet = tinyUnet({ dropout: 0 });
  const labels = new Float32Array([1, 0, 0, 0, 1, 0, 0, 0, 1]);
  const cases: [string, SampleOptions, CreateNetworkOptions?][] = [
    ['heun', { count: 3, steps: 5, seed: 4, labels }],
    ['euler with guidance', { count: 3, steps: 4, seed: 5, solver: 'euler', labels, guidance: 2 }],
    ['dpm2m', { count: 3, steps: 5, seed: 6, solver: 'dpm2m', labels }],
    // c_in, c_skip and c_out from each sample's norm, computed on the device.
    ['heun with the adaptive scale', { count: 3, steps: 5, seed: 7, labels }, { D: 2, adaptiveScale: true }],
  ];

  /**
   * The same random weights in every net: an initialised U-Net's last layer is near zero, so its
   * output would hardly depend on the input's scale, and a wrong c_in would not show.
   */
  function randomWeights(...nets: Network[]): void {
    let s = 11;
    const raw = (nets[0] as Network).flatWeights().raw.map(() => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return (s / 2 ** 32 - 0.5) * 0.2;
    });
    for (const net of nets) net.loadFlatWeights({ raw, ema: raw });
  }

  /** Graphed against op by op: bit for bit on the emulator; on a GPU within 1e-6 should they differ. */
  function expectGraphedSame(graphed: Float32Array, plain: Float32Array): void {
    if (emulated() || scaledError(graphed, plain) === 0) expectSame(graphed, plain, 'samples');
    else expect(scaledError(graphed, plain)).toBeLessThan(1e-6);
  }

  /** `run` with graphs off (PFGM_CUDA_GRAPHS=0 is read when a sampling run starts), then on. */
  async function offThenOn<T>(run: () => Promise<T>) {
    const before = process.env.PFGM_CUDA_GRAPHS;
    process.env.PFGM_CUDA_GRAPHS = '0';
    let plain: T;
    try {
      plain = await run();
    } finally {
      if (before === undefined) delete process.env.PFGM_CUDA_GRAPHS;
      else process.env.PFGM_CUDA_GRAPHS = before;
    }
    const s0 = stats();
    const graphed = await run();
    return { plain, graphed, s0, s1: stats() };
  }

  it.each(cases)(
    '%s: the same samples as op by op, with replays',
    async (_name, options, netOptions) => {
      const net = createNetwork(unet, { device: 'cuda', seed: 2, D: 64, ...netOptions });
      // The adaptive scale's coefficients are computed on the device whether graphs record them or
      // not: the CPU engine's samples check them.
      const cpu = netOptions?.adaptiveScale
        ? createNetwork(unet, { device: 'cpu', seed: 2, D: 64, ...netOptions })
        : undefined;
      try {
        if (cpu) randomWeights(net, cpu);
        const { plain, graphed, s0, s1 } = await offThenOn(() => sample(net, options));
        expectGraphedSame(graphed.x, plain.x);
        expect(graphed.nfe).toBe(plain.nfe);
        expect(s1.captures - s0.captures).toBeGreaterThan(0);
        expect(s1.replays - s0.replays).toBeGreaterThan(0);
        // The recordings stay with the network: the next run replays every evaluation.
        const again = await sample(net, options);
        const s2 = stats();
        expectSame(again.x, plain.x, 'samples of the next run');
        expect([s2.captures - s1.captures, s2.eager - s1.eager]).toEqual([0, 0]);
        expect(s2.replays - s1.replays).toBeGreaterThanOrEqual(again.nfe / 2);
        if (cpu) expect(scaledError(graphed.x, (await sample(cpu, options)).x)).toBeLessThan(1e-4);
      } finally {
        net.dispose();
        cpu?.dispose();
      }
    },
    120_000,
  );

  it('batch sizes that alternate keep their recordings: every evaluation after the first of each replays', async () => {
    const net = createNetwork(unet, { device: 'cuda', seed: 2, D: 64 });
    try {
      const run = (count: number) => sample(net, { count, steps: 3, seed: 9, labels: labels.subarray(0, 3 * count) });
      const firsts = [await run(3), await run(2)];
      const s0 = stats();
      // The network's buffers keep their size across the smaller batch, so neither recording moves.
      for (let round = 0; round < 2; round++) {
        expectSame((await run(3)).x, firsts[0]?.x as Float32Array, 'batch of 3');
        expectSame((await run(2)).x, firsts[1]?.x as Float32Array, 'batch of 2');
      }
      const s1 = stats();
      expect([s1.captures - s0.captures, s1.eager - s0.eager, s1.dropped - s0.dropped]).toEqual([0, 0, 0]);
      expect(s1.replays - s0.replays).toBe(4 * (firsts[0]?.nfe as number));
    } finally {
      net.dispose();
    }
  }, 120_000);

  it("PFGM's z-ODE: the same samples as op by op, with replays, and the CPU engine's", async () => {
    const config = { ...unet, labelDim: 0 };
    const net = createNetwork(config, { device: 'cuda', seed: 3, objective: 'pfgm' });
    const cpu = createNetwork(config, { device: 'cpu', seed: 3, objective: 'pfgm' });
    try {
      randomWeights(net, cpu);
      for (const n of [net, cpu])
        n.pfgm = { ...pfgmHyperparameters({ dataNorm: 2, N: 128, M: 60 }), gamma: 5, restrictM: true };
      const options = { count: 3, seed: 2, solver: 'euler' as const, steps: 5 };
      const { plain, graphed, s0, s1 } = await offThenOn(() => pfgmSample(net, options));
      expectGraphedSame(graphed.x, plain.x);
      expect(graphed.nfe).toBe(plain.nfe);
      expect(s1.captures - s0.captures).toBeGreaterThan(0);
      expect(s1.replays - s0.replays).toBeGreaterThan(0);
      const again = await pfgmSample(net, options);
      const s2 = stats();
      expectSame(again.x, plain.x, 'samples of the next run');
      expect([s2.captures - s1.captures, s2.eager - s1.eager]).toEqual([0, 0]);
      expect(s2.replays - s1.replays).toBe(again.nfe);
      // fp32 network arithmetic on both engines, carried through five steps.
      expect(scaledError(graphed.x, (await pfgmSample(cpu, options)).x)).toBeLessThan(1e-4);
    } finally {
      net.dispose();
      cpu.dispose();
    }
  }, 120_000);
});
