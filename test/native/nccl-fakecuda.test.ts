// The NCCL glue of GPU data-parallel training (cuda/libs/nccl.cu), checked without a GPU: the
// fake-CUDA test addon compiles it as C++ over fake streams and events, and carries a fake NCCL
// (test/native/fakecuda/fake_nccl.cc) whose ranks are threads of this process; the test points
// PFGM_NCCL_LIBRARY at the addon, so the production loader opens the fake by the same dlopen it
// uses for libnccl.so.2. Two fake-GPU ranks at half the batch must train exactly like one CPU
// process with --micro-batch at half the batch (the fake sums in rank order, as micro-batches
// accumulate), the gradient buffer must go in buckets no larger than PFGM_NCCL_BUCKET_MB, on the
// ranks' own NCCL streams, after the engine's work (an event the NCCL stream waits for) and
// before the engine's next (an event the engine waits for). With the heavy ops logged too
// (PFGM_FAKECUDA_LOG_OPS), the buckets must start while backward still runs: last bucket first,
// as soon as the modules that write it have run, each behind an event on the engine stream.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { NativeAddon } from '../../src/addon/native.js';
import { DistributedGroup } from '../../src/distributed/group.js';
import { preset } from '../../src/models/config.js';
import { createNetwork, type Network } from '../../src/models/network.js';
import { redirectedNetwork } from '../helpers/network-scripts.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const file = join(process.env.PFGM_ADDON_DIR ?? join(root, 'build', 'Release', 'testing'), 'pfgm_fakecuda.node');
const present = existsSync(file);
type FakeAddon = NativeAddon & { fakeCollectiveLog(): string[] };

// Before the addon first looks for NCCL (it looks once per process).
process.env.PFGM_NCCL_LIBRARY = file;
process.env.PFGM_NCCL_BUCKET_MB = String(1000 / 2 ** 20); // 1000 bytes: 250 floats a bucket
const BUCKET = 250;
process.env.PFGM_FAKECUDA_LOG_OPS = '1';
const fake = present ? (createRequire(import.meta.url)(file) as FakeAddon) : undefined;

const config = preset('mlp', { features: 2, hidden: 32, numBlocks: 2 });
const options = { D: 16, lr: 1e-3, lrRampupKimg: 0, seed: 7, pMean: -1.2, pStd: 1.2 };

function fakeGpuNetwork(seed: number): Network {
  const addon = fake as FakeAddon;
  return redirectedNetwork(
    { ...config, dropout: 0.1 },
    { D: options.D, seed },
    (c) => new addon.Network({ ...c, device: 'cuda' } as never),
  ).net;
}

async function freePort(): Promise<number> {
  return new Promise((done) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => done(p));
    });
  });
}

describe.skipIf(!present)('NCCL glue over a fake NCCL (cuda/libs/nccl.cu)', () => {
  it('opens the NCCL that PFGM_NCCL_LIBRARY names', () => {
    const nccl = (fake as FakeAddon).collectiveBackends().nccl;
    expect(nccl.available, nccl.detail).toBe(true);
    expect(nccl.detail).toMatch(/^NCCL 2\.20\.0 \(.*pfgm_fakecuda\.node\)$/);
  });

  it('2 GPU ranks at batch 8 train as one CPU process at batch 16 with --micro-batch 8, in buckets on their own streams', async () => {
    const addon = fake as FakeAddon;
    const masterPort = await freePort();
    const handles = await Promise.all(
      [0, 1].map((rank) =>
        addon.initDistributed({
          rank,
          worldSize: 2,
          masterAddr: '127.0.0.1',
          masterPort,
          timeoutSeconds: 30,
          backend: 'nccl',
        }),
      ),
    );
    const groups = handles.map((h, r) => new DistributedGroup(h, r));
    expect(groups.map((g) => g.backend)).toEqual(['nccl', 'nccl']);
    const joined = addon.fakeCollectiveLog();
    expect(joined).toEqual(expect.arrayContaining(['ncclCommInitRank rank 0 of 2', 'ncclCommInitRank rank 1 of 2']));

    // Rank 1 starts from other weights; syncFromRoot gives it rank 0's (seed 7, as the reference).
    const ranks = [fakeGpuNetwork(options.seed), fakeGpuNetwork(99)];
    const reference = createNetwork({ ...config, dropout: 0.1 }, { D: options.D, seed: options.seed });
    try {
      for (const [r, n] of ranks.entries()) n.attachDistributed(groups[r]);
      await Promise.all(ranks.map((n) => n.syncFromRoot(0)));
      expect(ranks[1]?.flatWeights().raw).toEqual(reference.flatWeights().raw);
      addon.fakeCollectiveLog();

      const b = 8;
      for (let step = 0; step < 3; step++) {
        const y = Float32Array.from({ length: 2 * b * 2 }, (_, i) => Math.sin(i * 0.37 + step));
        const [r0, r1] = await Promise.all(
          ranks.map((n, r) => n.trainStep(y.subarray(r * b * 2, (r + 1) * b * 2), { ...options, sampleOffset: r * b })),
        );
        const one = await reference.trainStep(y, { ...options, microBatch: b });
        expect(r0?.loss).toBe(one.loss);
        expect(r1?.loss).toBe(one.loss);
        expect(r0?.gradNorm).toBe(one.gradNorm);
      }
      for (const n of ranks) {
        expect(n.flatWeights().raw).toEqual(reference.flatWeights().raw);
        expect(n.flatWeights().ema).toEqual(reference.flatWeights().ema);
        expect(n.counters()).toEqual(reference.counters());
      }

      // The last step's gradient all-reduce, per rank stream.
      const log = addon.fakeCollectiveLog();
      const streams = [
        ...new Set(log.map((l) => /f32 avg on (stream@\d+)/.exec(l)?.[1]).filter((s) => s !== undefined)),
      ];
      expect(streams).toHaveLength(2);
      const params = reference.paramCount;
      for (const s of streams) {
        const lines = log.map((l, i) => [l, i] as const);
        const buckets = lines.filter(([l]) => l.startsWith('ncclAllReduce') && l.endsWith(`f32 avg on ${s}`));
        const sizes = buckets.map(([l]) => Number(/count (\d+)/.exec(l)?.[1]));
        // Three steps, each the whole buffer in buckets of at most BUCKET floats.
        expect(sizes.reduce((a, c) => a + c, 0)).toBe(3 * params);
        expect(Math.max(...sizes)).toBeLessThanOrEqual(BUCKET);
        expect(sizes.length).toBe(3 * Math.ceil(params / BUCKET));
        // Ordering around the first step's buckets: the NCCL stream waits for an event recorded on
        // the engine stream before them, and the engine waits for one recorded on it after them.
        const first = buckets[0]?.[1] as number;
        const last = buckets[Math.ceil(params / BUCKET) - 1]?.[1] as number;
        const before = lines.filter(([l, i]) => i < first && l.startsWith(`wait ${s} for `)).at(-1);
        expect(before).toBeDefined();
        const ready = before?.[0].split(' for ')[1];
        expect(lines.some(([l, i]) => i < (before?.[1] ?? 0) && l === `record ${ready} on engine`)).toBe(true);
        const after = lines.find(([l, i]) => i > last && l.startsWith('record ') && l.endsWith(` on ${s}`));
        expect(after).toBeDefined();
        const done = after?.[0].split(' ')[1];
        expect(lines.some(([l, i]) => i > (after?.[1] ?? 0) && l === `wait engine for ${done}`)).toBe(true);
      }
    } finally {
      for (const n of ranks) n.dispose();
      reference.dispose();
      for (const g of groups) g.close();
    }
  }, 120_000);

  // Per network: its config, one sample's size, and the op whose calls mark backward's progress.
  const overlapCases = [
    { name: 'mlp', config: { ...config, dropout: 0.1 }, per: 2, op: 'op linear_backward' },
    {
      name: 'SongUNet',
      config: preset('ddpmpp-small', {
        modelChannels: 8,
        channelMult: [1, 2],
        numBlocks: 1,
        imgResolution: 8,
        attnResolutions: [4],
      }),
      per: 64,
      op: 'op conv2d_backward',
    },
  ] as const;
  for (const c of overlapCases) {
    it(`${c.name}: starts reducing the gradient buckets while backward runs, last bucket first, with the same result`, async () => {
      const addon = fake as FakeAddon;
      const h = await addon.initDistributed({
        rank: 0,
        worldSize: 1,
        masterAddr: '127.0.0.1',
        masterPort: await freePort(),
        timeoutSeconds: 30,
        backend: 'nccl',
      });
      const group = new DistributedGroup(h, 0);
      const net = redirectedNetwork(
        c.config,
        { D: options.D, seed: options.seed },
        (x) => new addon.Network({ ...x, device: 'cuda' } as never),
      ).net;
      const reference = createNetwork(c.config, { D: options.D, seed: options.seed });
      try {
        net.attachDistributed(group);
        const b = 4;
        const params = reference.paramCount;
        const launches = Math.ceil(params / BUCKET);
        for (let step = 0; step < 2; step++) {
          const y = Float32Array.from({ length: b * c.per }, (_, i) => Math.cos(i * 0.29 + step));
          addon.fakeCollectiveLog();
          const r = await net.trainStep(y, options);
          const log = addon.fakeCollectiveLog();
          const one = await reference.trainStep(y, options);
          // A group of one averages over one rank: the same bits as no group at all.
          expect(r.loss).toBe(one.loss);
          expect(r.gradNorm).toBe(one.gradNorm);

          const buckets = log.flatMap((l, i) => (/^ncclAllReduce count \d+ f32 avg/.test(l) ? [i] : []));
          const sizes = buckets.map((i) => Number(/count (\d+)/.exec(log[i] as string)?.[1]));
          expect(sizes.reduce((a, n) => a + n, 0)).toBe(params);
          expect(sizes).toHaveLength(launches);
          // Last bucket first (the only partial one), then the full ones towards the start.
          expect(sizes[0]).toBe(params - (launches - 1) * BUCKET);
          expect(sizes.slice(1).every((n) => n === BUCKET)).toBe(true);
          // Overlap: buckets were issued between backward's first weight gradient and its last.
          const backward = log.flatMap((l, i) => (l === c.op ? [i] : []));
          expect(backward.length).toBeGreaterThan(2);
          const first = buckets[0] as number;
          expect(first).toBeGreaterThan(backward[0] as number);
          expect(first).toBeLessThan(backward.at(-1) as number);
          // Every bucket waits for an event recorded on the engine stream after the backward work
          // issued before its launch.
          for (const i of buckets) {
            const wait = log.slice(0, i).findLastIndex((l) => l.startsWith('wait stream@'));
            expect(wait).toBeGreaterThan(-1);
            const event = (log[wait] as string).split(' for ')[1];
            const record = log.slice(0, wait).findLastIndex((l) => l === `record ${event} on engine`);
            expect(record).toBeGreaterThan(-1);
            expect(log.slice(record, i).includes(c.op)).toBe(false);
          }
        }
        expect(net.flatWeights().raw).toEqual(reference.flatWeights().raw);
      } finally {
        net.dispose();
        reference.dispose();
        group.close();
      }
    }, 60_000);
  }

  it('refuses Gloo for a GPU network and NCCL for a CPU one', async () => {
    const addon = fake as FakeAddon;
    const port = await freePort();
    const h = await addon.initDistributed({
      rank: 0,
      worldSize: 1,
      masterAddr: '127.0.0.1',
      masterPort: port,
      timeoutSeconds: 5,
      backend: 'gloo',
    });
    const net = fakeGpuNetwork(1);
    try {
      expect(() => net.attachDistributed(new DistributedGroup(h, 0))).toThrow(/a GPU network trains with NCCL/);
    } finally {
      net.dispose();
      h.close();
    }
  });
});
