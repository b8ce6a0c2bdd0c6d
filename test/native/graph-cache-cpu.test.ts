// The CPU backend's graph cache (src/native/nn/graph_cache.h) runs every call as it is: op case
// "graph_cache" (test/native/cases/graph_case.h) gives the same results through the cache as
// without it, also when a call moves to another buffer or reads back to the host, and moves none of
// the process's CUDA graph counts. test/gpu/graph-cache.test.ts checks the CUDA backend's.
import { describe, expect, it } from 'vitest';
import { native } from '../../src/addon/load.js';
import { filled } from '../helpers/ops.js';

describe('the CPU graph cache', () => {
  it.each<Record<string, number>>([{ calls: 5 }, { calls: 6, moved_at: 2 }, { calls: 3, download: 1 }])(
    'runs %o eagerly, with the eager results',
    async (attrs) => {
      const r = await native().runOp('graph_cache', attrs, { x: filled([4, 9], 5) }, 'cpu');
      const graph = r.graph?.data as Float32Array;
      expect(graph.length).toBe((attrs.calls as number) * 36);
      expect(Array.from(graph)).toEqual(Array.from(r.eager?.data ?? []));
      // the calls differ from one another (their coefficients change), so equality means something
      expect(Array.from(graph.slice(0, 36))).not.toEqual(Array.from(graph.slice(36, 72)));
      expect(Array.from(r.counts?.data ?? [])).toEqual([0, 0, 0, 0]);
      expect(native().graphStats()).toMatchObject({ captures: 0, replays: 0 });
    },
  );
});
