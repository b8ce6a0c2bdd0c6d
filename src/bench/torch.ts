/**
 * The PyTorch twin of a benchmark (docs/benchmarks.md): the same SongUNet preset, EDM's loss at D,
 * Adam, the EMA and EDM's Heun sampler, written in PyTorch (`bench/torch_gpu.py` and
 * `bench/torch_ref/`, shipped with the package), run by the `python3` that has torch, on the same
 * device and in the same invocation, eager and optionally under `torch.compile`.
 *
 * @module
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DeviceName } from '../addon/deviceInfo.js';
import type { Precision } from '../models/network.js';

/** The twin's figures for one mode, as `bench/torch_gpu.py` reports them. */
export interface TorchFigures {
  /** Median milliseconds per training step. */
  train_ms_per_step?: number;
  /** Training images per second. */
  train_images_per_s?: number;
  /** Median seconds per sampling run. */
  sample_s?: number;
  /** Sampling images per second. */
  sample_images_per_s?: number;
  /** Network evaluations per sampling run. */
  sample_nfe?: number;
  /** Why this mode failed. */
  error?: string;
}

/** What the twin reports, or why it could not run. */
export interface TorchRun {
  /** The GPU it ran on, when it did. */
  gpu_name?: string;
  /** CUDA and cuDNN versions of PyTorch's build. */
  torch_cuda_version?: string;
  cudnn_version?: number;
  /** PyTorch's version. */
  torch_version?: string;
  /** The network's parameters as PyTorch counts them. */
  params?: number;
  /** Figures per mode: `fp32`, `fp32-compile`, ... */
  modes?: Record<string, TorchFigures>;
  /** Why it did not run (no python3, no torch, a failure), with the fix. */
  error?: string;
}

/** Options of {@link runTorchTwin}. */
export interface TorchTwinOptions {
  /** A preset name (the twin knows the presets only). */
  network: string;
  device: DeviceName;
  precision: Precision;
  /** Training batch and sampling batch. */
  batch: number;
  /** Timed training steps / sampling runs. */
  repeats: number;
  /** Untimed steps first (at least 1). */
  warmup: number;
  /** Heun steps of a sampling run. */
  steps: number;
  /** Augmented dimensions (Infinity: EDM). */
  D: number;
  /** Also time `torch.compile` (default false: eager only). */
  compile?: boolean;
  /** `torch.compile`'s mode (default PyTorch's). */
  compileMode?: string;
  /** Precisions to run (default `[precision]`). */
  modes?: readonly Precision[];
  /** Images per sampling run (default `batch`). */
  sampleBatch?: number;
  /** Timed sampling runs (default `repeats`). */
  sampleRepeats?: number;
  /** The Python to use (default `$PYTHON` or `python3`). */
  python?: string;
}

const here = dirname(fileURLToPath(import.meta.url));

/** The networks bench/torch_ref/edm_nets.py builds (its PRESETS). */
export const TWIN_PRESETS: readonly string[] = ['ddpmpp-cifar10', 'ncsnpp-cifar10', 'ddpmpp-ffhq64', 'ddpmpp-small'];

/** `bench/torch_gpu.py` of this package (dist/bench/ and src/bench/ are two levels below it). */
export function torchTwinScript(): string {
  return resolve(here, '..', '..', 'bench', 'torch_gpu.py');
}

/**
 * Runs the twin, or says why it cannot: no Python, no torch (with the pip line), a missing
 * script, a failed run. Never throws.
 */
export function runTorchTwin(o: TorchTwinOptions): TorchRun {
  if (!TWIN_PRESETS.includes(o.network)) {
    return { error: `the PyTorch twin has the presets ${TWIN_PRESETS.join(', ')}, not ${o.network}` };
  }
  const python = o.python ?? process.env.PYTHON ?? 'python3';
  const script = torchTwinScript();
  if (!existsSync(script)) return { error: `the PyTorch twin ${script} is not in this installation` };
  const probe = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (probe.error !== undefined)
    return { error: `no ${python} to run the PyTorch twin (${probe.error.message}); install Python 3 with torch` };
  if (probe.status !== 0) {
    return {
      error: `${python} has no torch: install it (python3 -m pip install torch) to compare with PyTorch`,
    };
  }
  const args = [
    script,
    '--device',
    o.device,
    '--network',
    o.network,
    '--batch',
    String(o.batch),
    '--steps',
    String(o.repeats),
    '--warmup',
    String(Math.max(1, o.warmup)),
    '--sample-batch',
    String(o.sampleBatch ?? o.batch),
    '--sample-steps',
    String(o.steps),
    '--sample-repeats',
    String(o.sampleRepeats ?? o.repeats),
    '--modes',
    (o.modes ?? [o.precision]).join(','),
    '--D',
    Number.isFinite(o.D) ? String(o.D) : 'inf',
  ];
  if (!o.compile) args.push('--no-compile');
  if (o.compileMode !== undefined) args.push('--compile-mode', o.compileMode);
  try {
    const out = execFileSync(python, args, {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PYTHONUNBUFFERED: '1' },
    });
    const parsed = JSON.parse(out.trim().split('\n').pop() ?? '{}') as TorchRun;
    return parsed;
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    try {
      const parsed = JSON.parse(
        String(err.stdout ?? '')
          .trim()
          .split('\n')
          .pop() ?? '',
      ) as TorchRun;
      if (parsed.error) return parsed;
    } catch {
      // not JSON: report the process's own error below
    }
    const last =
      String(err.stderr ?? '')
        .trim()
        .split('\n')
        .pop() ?? '';
    return { error: `the PyTorch twin failed (${last || err.message.split('\n')[0]})` };
  }
}
