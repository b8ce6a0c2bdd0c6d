#!/usr/bin/env node
// GPU benchmark against PyTorch (docs/benchmarks-gpu.md): training images/s (one
// full fused step: sigma and Student-t draw, forward, EDM loss, backward, Adam, EMA) and sampling
// images/s (EDM Heun, 18 steps = 35 network evaluations) of pfgm's networks on one device, in
// fp32 / tf32 / bf16, against the same SongUNet in PyTorch (bench/torch_gpu.py, eager and
// torch.compile) on the same device. Prints one JSON object (and writes it to --out if given).
//   npm run bench:gpu [-- --networks ddpmpp-cifar10,ddpmpp-small --batch 128 --steps 20]
//   node bench/gpu.mjs --device cpu --networks ddpmpp-small --batch 2 --steps 1 --sample-batch 2 --sample-steps 2
// PyTorch runs first, in a child process per network, so that pfgm's process holds no GPU memory
// while it runs; pfgm then runs in this process with the same warm-up / repeat policy.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createNetwork, getDeviceInfo, sample, VERSION } from '../dist/index.js';

const usage = `usage: node bench/gpu.mjs [options]
  --device cuda|cpu        where both sides run (default cuda; cpu only for a smoke run)
  --networks a,b           pfgm presets (default ddpmpp-cifar10,ddpmpp-small)
  --batch N                training batch (default 128)
  --steps N                timed training steps, median reported (default 20)
  --warmup N               untimed training steps first, >= 1 (default 3)
  --sample-batch N         images per sampling run (default: --batch)
  --sample-steps N         Heun steps, NFE 2N - 1 (default 18)
  --sample-repeats N       timed sampling runs after one untimed run (default 3)
  --modes a,b              fp32, tf32, bf16 (default all three on cuda, fp32 on cpu)
  --D D                    Student-t degrees of freedom of the training noise, or inf (default 128)
  --no-torch               pfgm only
  --no-compile             PyTorch eager only
  --compile-mode M         torch.compile mode (default: PyTorch's default)
  --python PATH            the Python with torch (default $PYTHON or python3)
  --out FILE               also write the JSON there`;

let values;
try {
  ({ values } = parseArgs({
    options: {
      device: { type: 'string', default: 'cuda' },
      networks: { type: 'string', default: 'ddpmpp-cifar10,ddpmpp-small' },
      batch: { type: 'string', default: '128' },
      steps: { type: 'string', default: '20' },
      warmup: { type: 'string', default: '3' },
      'sample-batch': { type: 'string' },
      'sample-steps': { type: 'string', default: '18' },
      'sample-repeats': { type: 'string', default: '3' },
      modes: { type: 'string' },
      D: { type: 'string', default: '128' },
      'no-torch': { type: 'boolean', default: false },
      'no-compile': { type: 'boolean', default: false },
      'compile-mode': { type: 'string' },
      python: { type: 'string', default: process.env.PYTHON ?? 'python3' },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  }));
} catch (e) {
  console.error(`${e.message}\n${usage}`);
  process.exit(2);
}
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const fail = (message) => {
  console.error(`bench/gpu.mjs: ${message}`);
  process.exit(1);
};
const positive = (name) => {
  const v = Number(values[name]);
  if (!Number.isInteger(v) || v < 1) fail(`--${name} must be a whole number >= 1, got '${values[name]}'`);
  return v;
};

const device = values.device;
if (device !== 'cuda' && device !== 'cpu') fail(`--device must be cuda or cpu, got '${device}'`);
const networks = values.networks
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const batch = positive('batch');
const steps = positive('steps');
const warmup = positive('warmup');
const sampleBatch = values['sample-batch'] === undefined ? batch : positive('sample-batch');
const sampleSteps = positive('sample-steps');
const sampleRepeats = positive('sample-repeats');
const MODES = ['fp32', 'tf32', 'bf16'];
const modes = (values.modes ?? (device === 'cuda' ? MODES.join(',') : 'fp32')).split(',').map((s) => s.trim());
for (const m of modes) if (!MODES.includes(m)) fail(`--modes takes a comma list of ${MODES.join(', ')}; got '${m}'`);
const D = /^inf(inity)?$/i.test(values.D) ? Number.POSITIVE_INFINITY : Number(values.D);
if (!(D > 0)) fail(`--D must be a positive number or inf, got '${values.D}'`);

const info = getDeviceInfo();
if (device === 'cuda' && !(info.backend === 'cuda' && info.cuda.available)) {
  fail(
    `--device cuda asked for, but pfgm has no usable GPU here: ${info.cuda.reason} ` +
      `(addon ${info.addonPath}). Build the CUDA addon (docs/cuda.md) on a machine with an NVIDIA ` +
      `driver, or use --device cpu for a smoke run.`,
  );
}

const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const r = (v, digits = 2) => (v === null || v === undefined ? null : Number(v.toFixed(digits)));
const ratio = (a, b) => (a && b ? r(a / b, 3) : null);
const seconds = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;

// ---- PyTorch: bench/torch_gpu.py in a child process, one per network -----------------------
function runTorch(network) {
  if (values['no-torch']) return { error: 'skipped (--no-torch)' };
  const script = join(dirname(fileURLToPath(import.meta.url)), 'torch_gpu.py');
  const args = [
    script,
    '--device',
    device,
    '--network',
    network,
    '--batch',
    String(batch),
    '--steps',
    String(steps),
    '--warmup',
    String(warmup),
    '--sample-batch',
    String(sampleBatch),
    '--sample-steps',
    String(sampleSteps),
    '--sample-repeats',
    String(sampleRepeats),
    '--modes',
    modes.join(','),
    '--D',
    values.D,
  ];
  if (values['no-compile']) args.push('--no-compile');
  if (values['compile-mode']) args.push('--compile-mode', values['compile-mode']);
  try {
    const out = execFileSync(values.python, args, {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
      stdio: ['ignore', 'pipe', 'inherit'], // PyTorch's warnings and compile logs go to our stderr
    });
    return JSON.parse(out.trim().split('\n').pop());
  } catch (e) {
    const last = String(e.stdout ?? '')
      .trim()
      .split('\n')
      .pop();
    try {
      const parsed = JSON.parse(last); // torch_gpu.py reports a missing GPU as JSON, exit 2
      if (parsed.error) return parsed;
    } catch {}
    return { error: `PyTorch run failed (${String(e.message).split('\n')[0]})` };
  }
}

// ---- pfgm: in this process -------------------------------------------------------------------
async function timePfgm(network, precision) {
  // `device` and `precision` are the CUDA networks' options; a network must say it is
  // on the device asked for, so that a build without them cannot pass CPU numbers off as GPU ones.
  // precision only means something on CUDA, so the CPU smoke run does not pass it.
  const net = createNetwork(network, { seed: 0, D, device, ...(device === 'cuda' ? { precision } : {}) });
  try {
    const onDevice = net.device ?? 'cpu';
    if (onDevice !== device) {
      throw new Error(
        `createNetwork('${network}', { device: '${device}' }) gave a network on '${onDevice}' ` +
          `(net.device = ${net.device}): this pfgm build has no CUDA networks`,
      );
    }
    if (device === 'cuda' && net.precision !== undefined && net.precision !== precision) {
      throw new Error(`asked for precision '${precision}', the network reports '${net.precision}'`);
    }
    const y = new Float32Array(batch * net.sampleSize);
    for (let i = 0; i < y.length; i++) y[i] = Math.sin(i * 12.9898) * 0.9; // fixed data in [-1, 1]
    const out = { precision, params: net.paramCount };
    // A step's Promise resolves after its work is done on the device, so wall time around the
    // await is the step's time (the same policy as torch_gpu.py's synchronised timer).
    const losses = [];
    const stepMs = [];
    for (let s = 0; s < warmup + steps; s++) {
      const t0 = process.hrtime.bigint();
      const res = await net.trainStep(y, { D, seed: s, lr: 2e-4 });
      const dt = seconds(t0);
      losses.push(res.loss);
      if (s === 0) out.train_first_step_s = r(dt, 4);
      if (s >= warmup) stepMs.push(dt * 1000);
    }
    if (!losses.every(Number.isFinite)) throw new Error(`non-finite training loss: ${losses}`);
    const ms = median(stepMs);
    Object.assign(out, {
      train_ms_per_step: r(ms, 3),
      train_ms_all: stepMs.map((v) => r(v, 3)),
      train_images_per_s: r(batch / (ms / 1000)),
      loss_first: r(losses[0], 4),
      loss_last: r(losses[losses.length - 1], 4),
    });
    const times = [];
    let nfe = 0;
    for (let i = 0; i <= sampleRepeats; i++) {
      const t0 = process.hrtime.bigint();
      const res = await sample(net, { count: sampleBatch, steps: sampleSteps, solver: 'heun', seed: i });
      const dt = seconds(t0);
      nfe = res.nfe;
      if (!res.x.every(Number.isFinite)) throw new Error('non-finite sample');
      if (i === 0) out.sample_first_s = r(dt, 4);
      else times.push(dt);
    }
    const s = median(times);
    Object.assign(out, {
      sample_nfe: nfe,
      sample_s: r(s, 4),
      sample_s_all: times.map((v) => r(v, 4)),
      sample_images_per_s: r(sampleBatch / s),
      sample_ms_per_nfe: r((s * 1000) / nfe, 3),
    });
    return out;
  } catch (e) {
    return { precision, error: `${e.code ? `${e.code}: ` : ''}${e.message}` };
  } finally {
    net.dispose();
  }
}

// ---- the comparison --------------------------------------------------------------------------
const result = {
  bench: 'gpu',
  device,
  gpu: { pfgm: info.cuda.name ?? null, torch: null },
  versions: {
    pfgm: VERSION,
    node: process.versions.node,
    addon: info.addonPath,
    cuda_runtime: info.cuda.runtimeVersion || null,
    cuda_driver: info.cuda.driverVersion || null,
    cudnn: info.cuda.cudnn,
    cublas: info.cuda.cublas,
    torch: null,
    torch_cuda: null,
    torch_cudnn: null,
  },
  settings: {
    batch,
    steps,
    warmup,
    sample_batch: sampleBatch,
    sample_steps: sampleSteps,
    sample_repeats: sampleRepeats,
    D: Number.isFinite(D) ? D : 'inf',
    modes,
    compile: !values['no-compile'],
  },
  networks: {},
};
const torchRuns = Object.fromEntries(networks.map((n) => [n, runTorch(n)]));
for (const network of networks) {
  const th = torchRuns[network];
  result.gpu.torch ??= th.gpu_name ?? null;
  result.versions.torch ??= th.torch_version ?? null;
  result.versions.torch_cuda ??= th.torch_cuda_version ?? null;
  result.versions.torch_cudnn ??= th.cudnn_version ?? null;
  const entry = { torch_params: th.params ?? null, torch_error: th.error ?? null, modes: {} };
  for (const precision of modes) {
    const pf = await timePfgm(network, precision);
    entry.pfgm_params ??= pf.params ?? null;
    const eager = th.modes?.[precision] ?? null;
    const compiled = th.modes?.[`${precision}-compile`] ?? null;
    entry.modes[precision] = {
      pfgm: pf,
      torch_eager: eager,
      torch_compile: compiled,
      train_vs_eager: ratio(pf.train_images_per_s, eager?.train_images_per_s),
      train_vs_compile: ratio(pf.train_images_per_s, compiled?.train_images_per_s),
      sample_vs_eager: ratio(pf.sample_images_per_s, eager?.sample_images_per_s),
      sample_vs_compile: ratio(pf.sample_images_per_s, compiled?.sample_images_per_s),
    };
  }
  result.networks[network] = entry;
}
result.pfgm_peak_rss_mib = r(process.resourceUsage().maxRSS / 1024, 1);
const text = JSON.stringify(result);
if (values.out) writeFileSync(values.out, `${text}\n`);
console.log(text);
