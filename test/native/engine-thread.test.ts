// Where the addon's Promise-returning work runs (src/native/binding/engine_thread.h): on one
// engine thread, so that OpenMP keeps a single pool of workers and they spin between parallel
// regions instead of sleeping, and, while that thread is busy, on the caller's own libuv thread
// with one OpenMP thread, so that concurrent calls add no pool and never wait for one another.
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { native } from '../../src/addon/load.js';

interface Where {
  thread: number;
  ompThreads: number;
}

async function where(holdMs = 0): Promise<Where> {
  const out = await native().runOp('engine.where', { hold_ms: holdMs }, {});
  return { thread: out.thread?.data[0] as number, ompThreads: out.omp_threads?.data[0] as number };
}

const threads = Number(process.env.OMP_NUM_THREADS ?? availableParallelism());
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the engine thread', () => {
  it('runs calls made one after another on one thread, with every OpenMP thread', async () => {
    const seen: Where[] = [];
    for (let i = 0; i < 8; i++) seen.push(await where());
    expect(new Set(seen.map((w) => w.thread)).size).toBe(1);
    for (const w of seen) expect(w.ompThreads).toBe(threads);
  });

  it('runs a call made while it is busy on another thread with one OpenMP thread, and takes the next', async () => {
    const engine = (await where()).thread;
    const busy = where(400);
    await sleep(100); // the first call holds the engine thread by now
    const [during, held] = await Promise.all([where(), busy]);
    expect(held).toEqual({ thread: engine, ompThreads: threads });
    expect(during.thread).not.toBe(engine);
    expect(during.ompThreads).toBe(1);
    // The libuv thread that ran it got its OpenMP setting back, and the engine thread takes work again.
    expect(await where()).toEqual({ thread: engine, ompThreads: threads });
  });

  it('passes an error thrown there to the caller with its code', async () => {
    // The case reads its missing input inside the work, on the engine thread.
    await expect(native().runOp('group_norm', {}, {})).rejects.toMatchObject({ code: 'ERR_PFGM_ARGUMENT' });
  });
});
