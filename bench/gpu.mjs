#!/usr/bin/env node
// GPU benchmark against PyTorch (docs/benchmarks-gpu.md): training images/s (one
// full fused step: sigma and Student-t draw, forward, EDM loss, backward, Adam, EMA) and sampling
// images/s (EDM Heun, 18 steps = 35 network evaluations) of pfgm's networks on one device, in
// fp32 / tf32 / bf16, against the same SongUNet in PyTorch (bench/torch_gpu.py, eager and
// torch.compile) on the same device. Prints one JSON object (and writes it to --out if given).
//   npm run bench:gpu [-- --networks ddpmpp-cifar10,ddpmpp-small --batch 128 --steps 20]
//   node bench/gpu.mjs --device cpu --networks ddpmpp-small --batch 2 --steps 1 --sample-batch 2 --sample-steps 2
// PyTorch runs first, in a child process per network, so that pfgm's process holds no GPU memory
// while it runs; pfgm then runs in this process with the same warm-up / repeat policy. Both sides
// are timed by the code behind `pfgm bench` (src/bench/), so the two cannot drift apart.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { benchSample, benchTrain } from '../dist/bench/measure.js';
import { runTorchTwin } from '../dist/bench/torch.js';
import { getDeviceInfo, getGraphStats, VERSION } from '../dist/index.js';

const usage = `usage: node bench/gpu.mjs [options]
  --device cuda|cpu        where both sides run (default cuda; cpu only for a smoke run)
  --networks a,b           pfgm presets (default ddpmpp-cifar10,ddpmpp-small)
  --batch N                training batch (default 128)
  --steps N                timed training steps, median reported (default 20)
  --warmup N               untimed training steps first, >= 1 (default 3)
  --sample-batch N         images per sampling run (default: --batch)
  --sample-steps N         Heun steps, NFE 2N - 1 (default 18)
  --sample-repeats N       timed sampling runs after one untimed run (default 3)
  --graphs-off-too         also time training and sampling with PFGM_CUDA_GRAPHS=0 (op by op),
                           in this run
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
      'graphs-off-too': { type: 'boolean', default: false },
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

const r = (v, digits = 2) => (v === null || v === undefined ? null : Number(v.toFixed(digits)));
const ratio = (a, b) => (a && b ? r(a / b, 3) : null);

// ---- PyTorch: bench/torch_gpu.py in a child process, one per network (src/bench/torch.ts) ------
function runTorch(network) {
  if (values['no-torch']) return { error: 'skipped (--no-torch)' };
  return runTorchTwin({
    network,
    device,
    precision: modes[0],
    modes,
    batch,
    repeats: steps,
    warmup,
    steps: sampleSteps,
    sampleBatch,
    sampleRepeats,
    D,
    compile: !values['no-compile'],
    compileMode: values['compile-mode'],
    python: values.python,
  });
}

// ---- pfgm: in this process, by the code of pfgm bench (src/bench/measure.ts) -------------------
async function timePfgm(network, precision) {
  try {
    const training = () => benchTrain({ network, device, precision, batch, repeats: steps, warmup, D });
    const sampling = () =>
      benchSample({
        network,
        device,
        precision,
        batch: sampleBatch,
        repeats: sampleRepeats,
        warmup: 1,
        steps: sampleSteps,
      });
    // Training steps and each evaluation of a sampling run replay CUDA graphs (docs/cuda.md, "CUDA
    // graphs"); the counts show they did, and --graphs-off-too times the same runs op by op.
    const g0 = getGraphStats();
    const t = await training();
    const g1 = getGraphStats();
    const s = await sampling();
    const g2 = getGraphStats();
    const opByOp = async (run) => {
      if (!values['graphs-off-too']) return null;
      process.env.PFGM_CUDA_GRAPHS = '0';
      try {
        return await run();
      } finally {
        delete process.env.PFGM_CUDA_GRAPHS;
      }
    };
    const tOff = await opByOp(training);
    const off = await opByOp(sampling);
    const counts = (a, b) => ({
      captures: b.captures - a.captures,
      replays: b.replays - a.replays,
      eager: b.eager - a.eager,
      refusal: b.refusal || null,
    });
    return {
      precision,
      params: t.params,
      train_ms_per_step: r(t.ms, 3),
      train_ms_all: t.msAll,
      train_images_per_s: r(t.imagesPerSecond),
      loss_first: r(t.loss?.first, 4),
      loss_last: r(t.loss?.last, 4),
      train_graphs: counts(g0, g1),
      train_ms_per_step_graphs_off: tOff === null ? null : r(tOff.ms, 3),
      sample_nfe: s.nfe,
      sample_s: r(s.ms / 1000, 4),
      sample_s_all: s.msAll.map((v) => r(v / 1000, 4)),
      sample_images_per_s: r(s.imagesPerSecond),
      sample_ms_per_nfe: r(s.ms / (s.nfe ?? 1), 3),
      sample_graphs: counts(g1, g2),
      sample_s_graphs_off: off === null ? null : r(off.ms / 1000, 4),
    };
  } catch (e) {
    return { precision, error: `${e.code ? `${e.code}: ` : ''}${e.message}` };
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
    graphs_off_too: values['graphs-off-too'],
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
