#!/usr/bin/env node
// Concurrent sampling requests through one Sampler (merged into one batch per ODE step) against
// the same requests awaited one by one with sample(). Prints one JSON object: throughput of both,
// the speed-up, and p50/p95/p99 latency (concurrent: from submission, all submitted at once;
// one by one: each call's own duration). Also checks that both give the same bytes.
//   npm run bench:sample [-- --network ddpmpp-small|mlp --requests 64 --count 2 --solver euler --steps 4]
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { createNetwork, getDeviceInfo, Sampler, sample } from '../dist/index.js';

const { values } = parseArgs({
  options: {
    network: { type: 'string', default: 'ddpmpp-small' },
    requests: { type: 'string', default: '64' },
    count: { type: 'string', default: '2' },
    solver: { type: 'string', default: 'euler' },
    steps: { type: 'string', default: '4' },
    'max-batch': { type: 'string', default: '128' },
  },
});
const requests = Number(values.requests);
const count = Number(values.count);
const steps = Number(values.steps);
const solver = values.solver;
const net = createNetwork(values.network, { seed: 1 });
const options = (k) => ({ count, seed: Array.from({ length: count }, (_, i) => k * count + i), steps, solver });

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const summary = (ms, seconds) => {
  const s = [...ms].sort((a, b) => a - b);
  return {
    seconds: Number(seconds.toFixed(3)),
    samples_per_s: Number(((requests * count) / seconds).toFixed(3)),
    latency_ms: { p50: Math.round(pct(s, 50)), p95: Math.round(pct(s, 95)), p99: Math.round(pct(s, 99)) },
  };
};

// Warm-up: the first call of a batch size builds its kernels.
await sample(net, options(0));

const alone = [];
const aloneMs = [];
let t0 = performance.now();
for (let k = 0; k < requests; k++) {
  const t = performance.now();
  alone.push((await sample(net, options(k))).x);
  aloneMs.push(performance.now() - t);
}
const aloneSeconds = (performance.now() - t0) / 1000;

const sampler = new Sampler(net, { maxBatch: Number(values['max-batch']), maxQueue: requests });
await sampler.sample(options(0)); // warm-up at the merged batch size is not possible; one small run
const mergedMs = [];
t0 = performance.now();
const merged = await Promise.all(
  Array.from({ length: requests }, (_, k) =>
    sampler.sample(options(k)).then((r) => {
      mergedMs.push(performance.now() - t0);
      return r.x;
    }),
  ),
);
const mergedSeconds = (performance.now() - t0) / 1000;
const runs = sampler.stats().runs - 1;
await sampler.dispose();

let identical = true;
for (let k = 0; k < requests; k++) {
  const a = Buffer.from(alone[k].buffer);
  const b = Buffer.from(merged[k].buffer, merged[k].byteOffset, merged[k].byteLength);
  if (!a.equals(b)) identical = false;
}
const result = {
  bench: 'sample',
  network: values.network,
  parameters: net.paramCount,
  requests,
  count,
  solver,
  steps,
  threads: Number(process.env.OMP_NUM_THREADS ?? availableParallelism()),
  backend: getDeviceInfo().backend,
  one_by_one: summary(aloneMs, aloneSeconds),
  sampler: { ...summary(mergedMs, mergedSeconds), runs },
  speedup: Number((aloneSeconds / mergedSeconds).toFixed(2)),
  identical,
};
net.dispose();
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
