// The collectives of a Gloo group (collectives/gloo_collectives.cc) and the rendezvous checks
// (collectives/rendezvous.cc), with every rank in this one process (each joins on its own worker
// thread): sums, means, gathers and broadcasts against their closed forms, and each refused
// launch with its message.
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { collectiveBackends, type DistributedGroup, initDistributed } from '../../src/distributed/group.js';
import { preset } from '../../src/models/config.js';
import { createNetwork } from '../../src/models/network.js';

const gloo = collectiveBackends().gloo.available;

async function freePort(): Promise<number> {
  return new Promise((done) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => done(p));
    });
  });
}

async function group(worldSize: number, timeoutSeconds = 10): Promise<DistributedGroup[]> {
  const masterPort = await freePort();
  return Promise.all(
    Array.from({ length: worldSize }, (_, rank) => initDistributed({ rank, worldSize, masterPort, timeoutSeconds })),
  );
}

describe.skipIf(!gloo)('a Gloo group', () => {
  it('sums, averages, gathers, broadcasts and meets at a barrier', async () => {
    const ranks = await group(3);
    try {
      expect(ranks.map((g) => [g.rank, g.worldSize, g.backend])).toEqual([
        [0, 3, 'gloo'],
        [1, 3, 'gloo'],
        [2, 3, 'gloo'],
      ]);
      const sums = await Promise.all(ranks.map((g) => g.allReduce(Float64Array.of(g.rank, 1, 2 ** g.rank))));
      for (const s of sums) expect([...s]).toEqual([3, 3, 7]);
      const means = await Promise.all(ranks.map((g) => g.allReduce(Float64Array.of(3 * g.rank), 'mean')));
      for (const m of means) expect(m[0]).toBeCloseTo(3, 14);
      const gathered = await Promise.all(ranks.map((g) => g.allGather(Float64Array.of(g.rank * 10, -g.rank))));
      for (const a of gathered) expect([...a]).toEqual([0, -0, 10, -1, 20, -2]);
      const cast = await Promise.all(ranks.map((g) => g.broadcast(Float64Array.of(g.rank + 100), 2)));
      for (const c of cast) expect([...c]).toEqual([102]);
      await Promise.all(ranks.map((g) => g.barrier()));
    } finally {
      for (const g of ranks) g.close();
    }
    expect(() => ranks[0]?.handle).toThrow(/closed/);
  });

  it("copies rank 0's weights to the others (syncFromRoot)", async () => {
    const ranks = await group(2);
    const nets = ranks.map((_, r) => createNetwork(preset('mlp', { features: 2 }), { D: 8, seed: r }));
    try {
      expect(nets[0]?.flatWeights().raw).not.toEqual(nets[1]?.flatWeights().raw);
      for (const [r, n] of nets.entries()) n.attachDistributed(ranks[r]);
      await Promise.all(nets.map((n) => n.syncFromRoot(0)));
      expect(nets[1]?.flatWeights().raw).toEqual(nets[0]?.flatWeights().raw);
    } finally {
      for (const n of nets) n.dispose();
      for (const g of ranks) g.close();
    }
  });

  it('refuses a rank that joins twice, a world size that differs, and a busy port', async () => {
    const masterPort = await freePort();
    // Handled at once: both reject (after the timeout) while the test awaits other things.
    const first = [
      initDistributed({ rank: 0, worldSize: 3, masterPort, timeoutSeconds: 3 }),
      initDistributed({ rank: 1, worldSize: 3, masterPort, timeoutSeconds: 3 }),
    ].map((p) =>
      p.then(
        () => new Error('joined a group that could not form'),
        (e: unknown) => e as Error,
      ),
    );
    await new Promise((r) => setTimeout(r, 300));
    await expect(initDistributed({ rank: 1, worldSize: 3, masterPort, timeoutSeconds: 3 })).rejects.toThrow(
      /rank 1 joined twice/,
    );
    await expect(initDistributed({ rank: 2, worldSize: 4, masterPort, timeoutSeconds: 3 })).rejects.toThrow(
      /world size and backend '4 gloo', rank 0 with '3 gloo'/,
    );
    await expect(initDistributed({ rank: 0, worldSize: 3, masterPort, timeoutSeconds: 3 })).rejects.toMatchObject({
      code: 'ERR_PFGM_DISTRIBUTED',
      message: expect.stringMatching(/the port is in use/),
    });
    // Rank 2 never came: rank 0 times out saying what it waited for, and rank 1 with it (or on
    // losing rank 0's rendezvous, whichever it notices first).
    const [e0, e1] = await Promise.all(first);
    expect(e0?.message).toMatch(/timed out after 3 s waiting for the other ranks to connect/);
    expect(e1?.message).toMatch(
      /timed out after 3 s waiting for the other ranks|lost the connection to the rendezvous/,
    );
  }, 30_000);

  it('refuses NCCL on the CPU build and ranks outside the world', async () => {
    if (!collectiveBackends().nccl.available) {
      await expect(initDistributed({ rank: 0, worldSize: 2, backend: 'nccl' })).rejects.toThrow(
        /NCCL is not available/,
      );
    }
    await expect(initDistributed({ rank: 2, worldSize: 2 })).rejects.toThrow(/rank 2 is outside a world of 2 ranks/);
    await expect(initDistributed({ rank: 0, worldSize: 2, masterPort: 0 })).rejects.toThrow(
      /masterPort must be a port/,
    );
  });
});
