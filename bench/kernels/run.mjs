#!/usr/bin/env node
// The kernel lab's runner (bench/kernels/README.md): runs a family's variants on the emulator or
// a GPU through the lab executable, and prints a table (or the executable's JSON).
//   node bench/kernels/run.mjs <family|all|--list> [--variant name|index] [--device emu|cuda]
//                              [--size small|full] [--iters N] [--warmup N] [--json]
// The executables are build/Release/pfgm_kernellab_{emu,cuda} (PFGM_LAB_DIR picks another
// folder): the emulator's is built with the addons, the GPU's by `npm run lab:build`. --device
// defaults to cuda where that executable exists and nvidia-smi finds a GPU, else emu. Emulator
// times are wall times of a CPU running every CUDA thread as a fiber: not performance numbers.
// `conv` is the CPU engine's convolution timing (bench/kernels/conv.mjs, its options after --).
// Exit status: the executable's (0 every check passed, 1 a check failed, 2 usage, 3 an error).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const binDir = process.env.PFGM_LAB_DIR ?? join(here, '..', '..', 'build', 'Release');

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    variant: { type: 'string' },
    device: { type: 'string' },
    size: { type: 'string' },
    iters: { type: 'string' },
    warmup: { type: 'string' },
    json: { type: 'boolean', default: false },
    list: { type: 'boolean', default: false },
  },
});

const binary = (device) => join(binDir, `pfgm_kernellab_${device}`);

function hasGpu() {
  try {
    execFileSync('nvidia-smi', ['-L'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const device = values.device ?? (existsSync(binary('cuda')) && hasGpu() ? 'cuda' : 'emu');
if (device !== 'emu' && device !== 'cuda') {
  console.error(`run.mjs: --device is emu or cuda, not ${device}`);
  process.exit(2);
}
const family = values.list ? '--list' : positionals[0];
if (!family) {
  console.error('usage: node bench/kernels/run.mjs <family|all|--list> [--variant k] [--device emu|cuda] [--json]');
  process.exit(2);
}

if (family === 'conv') {
  // The CPU engine's 3x3 convolutions against PyTorch (cuDNN is not emulated; on a GPU the
  // convolutions are timed by bench/gpu-profile.mjs).
  const r = spawnSync(process.execPath, [join(here, 'conv.mjs'), ...positionals.slice(1)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

const exe = binary(device);
if (!existsSync(exe)) {
  console.error(
    `run.mjs: ${exe} is not built. ${
      device === 'cuda'
        ? 'Run `npm run lab:build` (needs nvcc).'
        : 'It is built with the addons where the CUDA toolkit is found on x86-64 (`npm run build:addon`).'
    }`,
  );
  process.exit(2);
}

/** Runs the executable for one family; returns its exit status and parsed JSON (or null). */
function runFamily(name) {
  const args = [name];
  for (const key of ['variant', 'size', 'iters', 'warmup']) {
    if (values[key] !== undefined) args.push(`--${key}`, values[key]);
  }
  const r = spawnSync(exe, args, { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  if (r.stderr) process.stderr.write(r.stderr);
  let report = null;
  try {
    report = JSON.parse(r.stdout);
  } catch {
    if (r.stdout) process.stdout.write(r.stdout);
  }
  return { status: r.status ?? 3, report };
}

const fmt = (x) => (typeof x === 'number' ? (x === 0 ? '0' : x.toExponential(2)) : String(x));
const pad = (s, n) => String(s).padEnd(n);

/** The check that is worst against its tolerance. */
function worst(checks) {
  const badness = (c) => (c.pass ? 0 : 1e300) + (c.tol > 0 ? c.max_rel / c.tol : c.max_abs);
  return checks.reduce((a, c) => (badness(c) > badness(a) ? c : a));
}

function printTable(report) {
  console.log(`${report.family} on ${report.device} (${report.device_name}), size ${report.size}`);
  console.log(`time: ${report.timing}`);
  const head = ['case', 'variant', 'output', 'max abs', 'max rel', 'tol', 'pass', 'ms/call'];
  const rows = report.rows.map((r) => {
    const w = worst(r.checks);
    const pass = r.checks.every((c) => c.pass);
    const tol = w.tol === 0 ? 'exact' : fmt(w.tol);
    return [r.case, r.variant, w.output, fmt(w.max_abs), fmt(w.max_rel), tol, pass ? 'ok' : 'FAIL', r.ms.toFixed(3)];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  for (const line of [head, ...rows]) console.log(line.map((c, i) => pad(c, widths[i])).join('  '));
  const checked = new Set(
    report.rows.flatMap((r) =>
      r.checks.map((c) => (c.tol === 0 ? `${c.output} bit for bit` : `${c.output} relative to ${c.scale}`)),
    ),
  );
  console.log(`checked: ${[...checked].join(', ')}; each row shows the output worst against its tolerance`);
}

if (family === '--list') {
  const r = spawnSync(exe, ['--list'], { encoding: 'utf8' });
  const list = JSON.parse(r.stdout);
  if (values.json) console.log(JSON.stringify(list));
  else {
    const width = Math.max(...list.families.map((f) => f.name.length));
    for (const f of list.families) console.log(`${pad(f.name, width)} ${f.about}`);
  }
  process.exit(r.status ?? 0);
}

const names =
  family === 'all'
    ? JSON.parse(spawnSync(exe, ['--list'], { encoding: 'utf8' }).stdout).families.map((f) => f.name)
    : [family];
let status = 0;
const reports = [];
for (const name of names) {
  const { status: s, report } = runFamily(name);
  status = Math.max(status, s);
  if (!report) continue;
  reports.push(report);
  if (!values.json) {
    printTable(report);
    console.log('');
  }
}
if (values.json) console.log(JSON.stringify(family === 'all' ? reports : (reports[0] ?? null), null, 2));
process.exit(status);
