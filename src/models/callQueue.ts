/**
 * The queue that makes the asynchronous native calls on one {@link Network} run one at a time,
 * in the order they were made (native async work runs on libuv's thread pool, in any order).
 *
 * @internal
 * @module
 */

/** A deep copy of a native call's arguments: typed arrays are copied, plain objects walked. */
function snapshot<A>(v: A): A {
  if (ArrayBuffer.isView(v)) return (v as unknown as Float32Array).slice() as A;
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = snapshot(x);
  return out as A;
}

/** Runs asynchronous calls one after another in call order; a failed call does not stop the rest. */
export class CallQueue {
  #tail: Promise<unknown> = Promise.resolve();
  #pending = 0;

  /**
   * Runs `call(args)` once every call queued before it has settled. With nothing pending it
   * starts at once; otherwise `args` is copied now (typed arrays included), so that the caller may
   * reuse its arrays at once, as the native calls, which copy their inputs when they start, allow.
   */
  run<A extends object, T>(args: A, call: (args: A) => Promise<T>): Promise<T> {
    let result: Promise<T>;
    if (this.#pending === 0) {
      result = call(args);
    } else {
      const copy = snapshot(args);
      const go = () => call(copy);
      result = this.#tail.then(go, go);
    }
    this.#pending++;
    const done = () => {
      this.#pending--;
    };
    this.#tail = result.then(done, done);
    return result;
  }
}
