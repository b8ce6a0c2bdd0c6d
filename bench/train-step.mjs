#!/usr/bin/env node
// One training step of `ddpmpp-small` (batch 64, D = 128) in pfgm's native engine and in the
// equivalent PyTorch model (bench/torch_ref, EDM's loss, Adam, EMA), in one invocation with the
// same thread count, one after the other. Also times a forward-only pass and the 55.73 M DDPM++
// CIFAR-10 network at batch 8. Prints one JSON object.
//   npm run bench:train-step [-- --steps 5 --warmup 2 --cifar-steps 2 --no-cifar --rounds 3 --python python3]
// --rounds R alternates the two sides R times (pfgm, PyTorch, pfgm, ...) and reports medians over
// the rounds, the ratio being the median of the rounds' own ratios: on a machine whose speed drifts
// (other tenants, clocks), each ratio then compares runs made seconds apart.
// With PFGM_PROFILE=1 the JSON also holds pfgm_profile_ms: milliseconds per step in each stage
// (PFGM_PROFILE=shapes: the convolutions also per shape, e.g. "conv3x3.backward[28x28 32->32]").
// pfgm runs twice: with the 3x3 convolutions' algorithm as configured (PFGM_CONV_WINOGRAD, by
// default the measured choice of Winograd or direct per shape) and with the direct path forced
// (PFGM_CONV_WINOGRAD=0: the `direct` fields); --no-direct skips the second run.
// The `cpu_ms` fields are process CPU time (every thread) per step, on both sides: on a machine
// shared with other work, and run with OMP_WAIT_POLICY=passive (so that idle OpenMP threads
// sleep instead of spinning), they are what a step costs where the wall times also count the
// other processes' slices.
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { native } from '../dist/addon/load.js';
import { benchTrain } from '../dist/bench/measure.js';
import { createNetwork, getDeviceInfo } from '../dist/index.js';

const { values } = parseArgs({
  options: {
    network: { type: 'string', default: 'ddpmpp-small' },
    batch: { type: 'string', default: '64' },
    D: { type: 'string', default: '128' },
    steps: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    'cifar-batch': { type: 'string', default: '8' },
    'cifar-steps': { type: 'string', default: '2' },
    'no-cifar': { type: 'boolean', default: false },
    'no-torch': { type: 'boolean', default: false },
    'no-direct': { type: 'boolean', default: false },
    rounds: { type: 'string', default: '1' },
    python: { type: 'string', default: process.env.PYTHON ?? 'python3' },
  },
});
const threads = Number(process.env.OMP_NUM_THREADS ?? availableParallelism());
const D = values.D === 'inf' ? Number.POSITIVE_INFINITY : Number(values.D);
const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s[s.length >> 1];
};
const round = (v) => (v === null || v === undefined ? null : Math.round(v * 100) / 100);
const ratio = (a, b) => (a != null && b ? Math.round((a / b) * 1000) / 1000 : null);

/** timePfgm with the 3x3 convolutions forced onto oneDNN's direct path, or null with --no-direct. */
async function timeDirect(network, batch, steps, warmup) {
  if (values['no-direct']) return null;
  const before = process.env.PFGM_CONV_WINOGRAD;
  process.env.PFGM_CONV_WINOGRAD = '0';
  try {
    return await timePfgm(network, batch, steps, warmup);
  } finally {
    if (before === undefined) delete process.env.PFGM_CONV_WINOGRAD;
    else process.env.PFGM_CONV_WINOGRAD = before;
  }
}

async function timePfgm(network, batch, steps, warmup) {
  // The training step is timed by the code behind `pfgm bench train` (src/bench/measure.ts).
  let profile = null;
  let cpu0 = process.cpuUsage();
  const t = await benchTrain({
    network,
    device: 'cpu',
    batch,
    repeats: steps,
    warmup,
    D,
    onWarm: () => {
      native().Network.profile();
      cpu0 = process.cpuUsage();
    },
  });
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1e3 / steps;
  if (process.env.PFGM_PROFILE === '1' || process.env.PFGM_PROFILE === 'shapes') {
    profile = Object.fromEntries(
      Object.entries(native().Network.profile())
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => [k, round(v / steps)]),
    );
  }
  // The forward pass alone (EMA weights), which pfgm bench does not time.
  const net = createNetwork(network, { seed: 0 });
  const y = new Float32Array(batch * net.sampleSize);
  for (let i = 0; i < y.length; i++) y[i] = Math.sin(i * 12.9898) * 0.9;
  const sigma = new Float32Array(batch).fill(1);
  const fwdMs = [];
  for (let s = 0; s < warmup + steps; s++) {
    const t0 = process.hrtime.bigint();
    await net.denoise(y, sigma, { weights: 'ema' });
    if (s >= warmup) fwdMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  net.dispose();
  return { ms: t.ms, all: t.msAll.map(round), cpuMs, forwardMs: median(fwdMs), params: t.params, profile };
}

function timeTorch(network, batch, steps, warmup) {
  if (values['no-torch']) return { error: 'skipped (--no-torch)' };
  const script = join(dirname(fileURLToPath(import.meta.url)), 'torch_train_step.py');
  try {
    const out = execFileSync(
      values.python,
      [
        script,
        '--network',
        network,
        '--batch',
        String(batch),
        '--D',
        values.D,
        '--threads',
        String(threads),
        '--steps',
        String(steps),
        '--warmup',
        String(warmup),
        '--forward-only-iters',
        String(steps),
      ],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, OMP_NUM_THREADS: String(threads) },
      },
    );
    return JSON.parse(out.trim().split('\n').pop());
  } catch (e) {
    return { error: `PyTorch run failed (${String(e.message).split('\n')[0]}); install torch for the comparison` };
  }
}

const batch = Number(values.batch);
const steps = Number(values.steps);
const warmup = Number(values.warmup);
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1)
  throw new Error(`--rounds must be a whole number >= 1, got ${values.rounds}`);

/** pfgm and PyTorch timed in turn `rounds` times; medians over the rounds, and the rounds' ratios. */
async function alternate(network, b, n, w) {
  const pfs = [];
  const ths = [];
  for (let r = 0; r < rounds; r++) {
    pfs.push(await timePfgm(network, b, n, w));
    ths.push(timeTorch(network, b, n, w));
  }
  const med = (xs, key) => {
    const v = xs.map((x) => x[key]).filter((x) => typeof x === 'number');
    return v.length ? median(v) : undefined;
  };
  const pf = {
    ms: med(pfs, 'ms'),
    cpuMs: med(pfs, 'cpuMs'),
    forwardMs: med(pfs, 'forwardMs'),
    all: pfs.flatMap((x) => x.all),
    params: pfs[0].params,
    profile: pfs[0].profile,
  };
  const ok = ths.filter((t) => !t.error);
  const th = ok.length
    ? {
        ...ok[0],
        torch_ms_per_step: med(ok, 'torch_ms_per_step'),
        torch_cpu_ms_per_step: med(ok, 'torch_cpu_ms_per_step'),
        torch_forward_ms: med(ok, 'torch_forward_ms'),
        torch_ms_per_step_all: ok.flatMap((t) => t.torch_ms_per_step_all ?? []),
      }
    : ths[0];
  const roundRatios = pfs.map((p, i) => ratio(p.ms, ths[i].torch_ms_per_step)).filter((x) => x !== null);
  const roundCpuRatios = pfs.map((p, i) => ratio(p.cpuMs, ths[i].torch_cpu_ms_per_step)).filter((x) => x !== null);
  return {
    pf,
    th,
    ratio: roundRatios.length ? median(roundRatios) : null,
    cpuRatio: roundCpuRatios.length ? median(roundCpuRatios) : null,
    roundRatios,
  };
}

const rssBefore = process.resourceUsage().maxRSS;
const small = await alternate(values.network, batch, steps, warmup);
const { pf, th } = small;
const pfgmPeakRss = process.resourceUsage().maxRSS / 1024;
const pd = await timeDirect(values.network, batch, steps, warmup);
const result = {
  bench: 'train-step',
  network: values.network,
  batch,
  D: values.D,
  threads,
  isa: getDeviceInfo().cpu.isa,
  conv_winograd: process.env.PFGM_CONV_WINOGRAD ?? 'auto',
  pfgm_params: pf.params,
  torch_params: th.torch_params ?? null,
  pfgm_ms_per_step: round(pf.ms),
  torch_ms_per_step: round(th.torch_ms_per_step),
  ratio: small.ratio,
  rounds,
  round_ratios: small.roundRatios,
  pfgm_direct_ms_per_step: round(pd?.ms),
  direct_ratio: ratio(pd?.ms, th.torch_ms_per_step),
  pfgm_cpu_ms_per_step: round(pf.cpuMs),
  pfgm_direct_cpu_ms_per_step: round(pd?.cpuMs),
  torch_cpu_ms_per_step: round(th.torch_cpu_ms_per_step),
  cpu_ratio: small.cpuRatio,
  direct_cpu_ratio: ratio(pd?.cpuMs, th.torch_cpu_ms_per_step),
  pfgm_ms_per_step_all: pf.all,
  pfgm_direct_ms_per_step_all: pd?.all ?? null,
  torch_ms_per_step_all: th.torch_ms_per_step_all?.map(round) ?? null,
  pfgm_forward_ms: round(pf.forwardMs),
  torch_forward_ms: round(th.torch_forward_ms),
  forward_ratio: ratio(pf.forwardMs, th.torch_forward_ms),
  pfgm_direct_forward_ms: round(pd?.forwardMs),
  pfgm_peak_rss_mb: round(pfgmPeakRss),
  pfgm_rss_before_mb: round(rssBefore / 1024),
  torch_peak_rss_mb: round(th.torch_peak_rss_mb),
  torch_version: th.torch_version ?? null,
  torch_error: th.error ?? null,
};
if (pf.profile) result.pfgm_profile_ms = pf.profile;
if (!values['no-cifar']) {
  const cb = Number(values['cifar-batch']);
  const cs = Number(values['cifar-steps']);
  const cifar = await alternate('ddpmpp-cifar10', cb, cs, 1);
  const { pf: pc, th: tc } = cifar;
  const pcd = await timeDirect('ddpmpp-cifar10', cb, cs, 1);
  result.cifar10 = {
    network: 'ddpmpp-cifar10',
    batch: cb,
    pfgm_params: pc.params,
    torch_params: tc.torch_params ?? null,
    pfgm_ms_per_step: round(pc.ms),
    torch_ms_per_step: round(tc.torch_ms_per_step),
    ratio: cifar.ratio,
    round_ratios: cifar.roundRatios,
    pfgm_direct_ms_per_step: round(pcd?.ms),
    direct_ratio: ratio(pcd?.ms, tc.torch_ms_per_step),
    pfgm_cpu_ms_per_step: round(pc.cpuMs),
    pfgm_direct_cpu_ms_per_step: round(pcd?.cpuMs),
    torch_cpu_ms_per_step: round(tc.torch_cpu_ms_per_step),
    cpu_ratio: cifar.cpuRatio,
    direct_cpu_ratio: ratio(pcd?.cpuMs, tc.torch_cpu_ms_per_step),
    pfgm_forward_ms: round(pc.forwardMs),
    pfgm_direct_forward_ms: round(pcd?.forwardMs),
    torch_forward_ms: round(tc.torch_forward_ms),
    forward_ratio: ratio(pc.forwardMs, tc.torch_forward_ms),
    torch_error: tc.error ?? null,
  };
}
console.log(JSON.stringify(result));
