// `pfgm train` and `pfgm sample` on a CUDA network, end to end, on a machine without a GPU: the
// fake-CUDA test addon (test/native/fakecuda/: cuda/backend.cu over a stand-in CUDA runtime on the
// guarded CPU device, see docs/cuda.md) is offered to the loader as the CUDA build, so `auto`
// picks it and `--device cuda --precision bf16` runs the CUDA backend's code through the CLI,
// the Trainer, checkpoints, resume and sampling, and `pfgm eval ref` runs its Inception there by
// itself. Its ops compute with the CPU engine's code, so the same runs with PFGM_DEVICE=cpu must
// give the same losses and the same samples bit for bit (Inception's features within 1e-5: its CPU
// layers keep oneDNN's own weight layout).
// Skipped where the fake addon was not built (no CUDA toolkit).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeSafetensors, type SafetensorsEntry } from '../../src/codecs/safetensors.js';
import { readFidStats } from '../../src/eval/fidStats.js';
import { inceptionTensors } from '../../src/eval/inception.js';
import { compare } from '../helpers/golden.js';
import { inceptionTestWeights } from '../helpers/inception.js';
import { offeredAsCuda, repoRoot as root } from '../helpers/toolkit.js';

const work = mkdtempSync(join(tmpdir(), 'pfgm-fakecuda-e2e-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
// A folder where the loader finds the fake addon under the CUDA build's name.
const { present, addons } = offeredAsCuda('pfgm_fakecuda.node', work);

function pfgm(args: string[], device: 'auto' | 'cpu') {
  const env = { ...process.env, PFGM_ADDON_DIR: addons, PFGM_DEVICE: device };
  const r = spawnSync(process.execPath, [join(root, 'bin', 'pfgm.js'), ...args], { encoding: 'utf8', env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function losses(dir: string): number[] {
  return readFileSync(join(dir, 'stats.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { loss: number }).loss);
}

describe.skipIf(!present)('the CLI on a (fake) CUDA device', () => {
  it('pfgm info reports the CUDA build as the backend, and where FID runs', () => {
    const r = pfgm(['info'], 'auto');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/fake CUDA/);
    expect(r.stdout).toMatch(/fid: +Inception-v3 on cuda \(fp32\)/);
    const cpu = pfgm(['info'], 'cpu');
    expect(cpu.stdout).toMatch(/fid: +Inception-v3 on cpu \(oneDNN\)/);
    expect(JSON.parse(pfgm(['info', '--json'], 'auto').stdout).inceptionDevice).toBe('cuda');
  });

  it('bench:inception measures the features on the (fake) CUDA device it picks by itself', () => {
    const env = { ...process.env, PFGM_ADDON_DIR: addons, PFGM_DEVICE: 'auto' };
    const args = ['--batch', '1', '--size', '16', '--iters', '1', '--rounds', '1', '--no-torch'];
    const r = spawnSync(process.execPath, [join(root, 'bench', 'inception.mjs'), ...args], { encoding: 'utf8', env });
    expect(r.status, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
    expect(json).toMatchObject({ bench: 'inception', device: 'cuda', batch: 1 });
    expect(json.gpu).toMatch(/fake CUDA/);
    expect(json.pfgm_images_per_s).toBeGreaterThan(0);
  }, 120_000);

  it('pfgm eval ref runs Inception on the CUDA backend by itself, and on the CPU with PFGM_DEVICE=cpu', async () => {
    const inception = join(work, 'inception.safetensors');
    const list = inceptionTensors();
    const weights = inceptionTestWeights(list);
    const entries: [string, SafetensorsEntry][] = list.map((t) => [
      t.name,
      { dtype: 'F32', shape: [...t.shape], data: weights.get(t.name) as Float32Array },
    ]);
    writeFileSync(inception, encodeSafetensors(entries, {}));
    const stats: Record<string, Float64Array> = {};
    for (const [device, where] of [
      ['auto', 'cuda'],
      ['cpu', 'cpu'],
    ] as const) {
      const out = join(work, `ref-${device}.npz`);
      const args = ['eval', 'ref', '--data', 'fashion-mnist:test', '--count', '3', '--batch', '3'];
      const r = pfgm([...args, '--out', out, '--inception', inception], device);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ count: 3, dim: 2048, inceptionDevice: where });
      stats[where] = (await readFidStats(out)).mean;
    }
    const c = compare(stats.cuda as Float64Array, stats.cpu as Float64Array, { rtol: 1e-5, atol: 0 });
    expect(c.ok, `mean features, cuda against cpu: max |diff| ${c.maxAbs} at scale ${c.scale}`).toBe(true);
  }, 180_000);

  it('trains with --device cuda --precision bf16, resumes, samples: the same bits as the CPU', () => {
    const runs: Record<string, { losses: number[]; samples: Buffer }> = {};
    for (const [name, device, flags] of [
      ['cuda', 'auto', ['--device', 'cuda', '--precision', 'bf16']],
      ['cpu', 'cpu', ['--device', 'cpu']],
    ] as const) {
      const out = join(work, name);
      const common = ['--data', 'toy:moons', '--out', out, '--batch', '64', '--D', '64', '--seed', '3', '--json'];
      const first = pfgm(['train', ...common, '--steps', '12', ...flags], device);
      expect(first.code, first.stderr).toBe(0);
      const again = pfgm(['train', ...common, '--steps', '20', '--resume', out, ...flags], device);
      expect(again.code, again.stderr).toBe(0);
      const npy = join(work, `${name}.npy`);
      const s = pfgm(
        [
          'sample',
          '--ckpt',
          join(out, 'model.safetensors'),
          '--out',
          npy,
          '--count',
          '16',
          '--steps',
          '6',
          '--seed',
          '5',
        ],
        device,
      );
      expect(s.code, s.stderr).toBe(0);
      runs[name] = { losses: losses(out), samples: readFileSync(npy) };
    }
    // --device cuda succeeded above only because the loader took the fake addon as the CUDA
    // build: with the CPU build it is refused.
    const refused = pfgm(
      ['train', '--data', 'toy:moons', '--out', join(work, 'no'), '--steps', '1', '--device', 'cuda'],
      'cpu',
    );
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/cuda/);
    const { cuda, cpu } = runs as Record<'cuda' | 'cpu', { losses: number[]; samples: Buffer }>;
    expect(cuda.losses.length).toBeGreaterThan(1);
    expect(cuda.losses).toEqual(cpu.losses);
    expect(cuda.samples.equals(cpu.samples)).toBe(true);
  }, 180_000);

  it('bench:gpu measures a CUDA network (the PyTorch side left out)', () => {
    const env = { ...process.env, PFGM_ADDON_DIR: addons, PFGM_DEVICE: 'auto' };
    const out = join(work, 'gpu.json');
    const args = ['--device', 'cuda', '--networks', 'ddpmpp-small', '--batch', '2', '--steps', '1', '--warmup', '1'];
    const more = [
      '--sample-batch',
      '2',
      '--sample-steps',
      '2',
      '--sample-repeats',
      '1',
      '--no-torch',
      '--modes',
      'fp32,bf16',
    ];
    const r = spawnSync(process.execPath, [join(root, 'bench', 'gpu.mjs'), ...args, ...more, '--out', out], {
      encoding: 'utf8',
      env,
    });
    expect(r.status, r.stderr).toBe(0);
    const json = JSON.parse(readFileSync(out, 'utf8'));
    expect(json.device).toBe('cuda');
    expect(json.gpu.pfgm).toMatch(/fake CUDA/);
    for (const mode of ['fp32', 'bf16']) {
      const p = json.networks['ddpmpp-small'].modes[mode].pfgm;
      expect(p.precision).toBe(mode);
      expect(p.train_images_per_s).toBeGreaterThan(0);
      expect(Number.isFinite(p.loss_last)).toBe(true);
      expect(p.sample_nfe).toBe(3);
    }
  }, 180_000);

  it('bench/gpu-profile.mjs reports the CUDA backend op timers (PFGM_PROFILE) of a step and an evaluation', () => {
    const env = { ...process.env, PFGM_ADDON_DIR: addons, PFGM_DEVICE: 'auto' };
    const args = ['--network', 'ddpmpp-small', '--batch', '2', '--steps', '1', '--warmup', '1', '--top', '4'];
    const r = spawnSync(process.execPath, [join(root, 'bench', 'gpu-profile.mjs'), ...args], { encoding: 'utf8', env });
    expect(r.status, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
    expect(json.unprofiled.train_ms).toBeGreaterThan(0);
    const { train, evaluate } = json;
    // Every op family a U-Net step runs, timed on the backend; only the forward ones when evaluating.
    for (const op of ['conv.forward', 'conv.backward', 'group_norm.forward', 'group_norm.backward', 'adam_ema']) {
      expect(train.families[op], op).toBeGreaterThan(0);
    }
    expect(evaluate.families['conv.forward']).toBeGreaterThan(0);
    expect(evaluate.families['conv.backward']).toBeUndefined();
    // The families add up to the ops' total, which the step's wall time bounds.
    const sum = Object.values(train.families as Record<string, number>).reduce((a, b) => a + b, 0);
    expect(Math.abs(sum - train.ops_ms)).toBeLessThan(0.01 * train.ops_ms + 0.01);
    expect(train.ops_ms).toBeLessThanOrEqual(train.step_ms * 1.01);
    // The top list holds --top entries, the costliest first; the engine's own stage scopes apart.
    const top = Object.values(train.top as Record<string, number>);
    expect(top.length).toBe(4);
    expect([...top].sort((a, b) => b - a)).toEqual(top);
    expect(train.stages['step.forward_backward']).toBeGreaterThan(0);
  }, 180_000);
});
