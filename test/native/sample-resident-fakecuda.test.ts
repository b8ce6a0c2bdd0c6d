// The sampling run's glue on the CUDA backend's own code, without a GPU: the fake-CUDA test addon
// (cuda/backend.cu over the guarded device, test/native/fakecuda/) is offered to the loader as the
// CUDA build, so a network on 'cuda' samples through src/sample/resident.ts with its state in
// guarded memory, which host code cannot touch (a stray host access ends the process with status
// 86), and the fake cuda:: sampler twins check every pointer. Their arithmetic is the CPU's, so
// every solver, PFGM's z-ODE included, must give the CPU network's samples bit for bit (Heun on
// the z-ODE within rounding, as on the CPU). Skipped where the fake addon was not built.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { offeredAsCuda, repoRoot as root } from '../helpers/toolkit.js';

const work = mkdtempSync(join(tmpdir(), 'pfgm-resident-fake-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const { present, addons } = offeredAsCuda('pfgm_fakecuda.node', work);

describe.skipIf(!present)('sampling with the state on the (fake) CUDA device', () => {
  it('every solver and the z-ODE give the CPU network’s samples bit for bit', () => {
    const script = `
      const m = await import(${JSON.stringify(join(root, 'dist', 'index.js'))});
      const cfg = { kind: 'mlp', features: 3, hidden: 16, numBlocks: 1, embChannels: 16, noiseChannels: 16,
        labelDim: 2, dropout: 0, labelDropout: 0.1 };
      const same = (a, b) => Buffer.from(a.buffer).equals(Buffer.from(b.buffer));
      const out = [];
      const [cpu, gpu] = ['cpu', 'cuda'].map((device) => m.createNetwork(cfg, { seed: 4, D: 32, device }));
      const labels = new Float32Array([1, 0, 0, 1, 1, 0, 0, 1]);
      for (const solver of m.solverNames) {
        const o = { count: 4, solver, steps: 4, seed: 2, sigmaMax: 10, labels, guidance: solver === 'dpm2m' ? 2 : undefined };
        const a = await m.sample(cpu, o);
        const b = await m.sample(gpu, o);
        out.push([solver, same(a.x, b.x) && a.nfe === b.nfe]);
      }
      const churn = { count: 4, steps: 4, seed: [3, 1, 4, 1], sigmaMax: 10, labels, churn: { sChurn: 5 }, noiseInjection: { alpha: 0.1 } };
      out.push(['heun churn', same((await m.sample(cpu, churn)).x, (await m.sample(gpu, churn)).x)]);
      const [pc, pg] = ['cpu', 'cuda'].map((device) => {
        const n = m.createNetwork({ ...cfg, labelDim: 0 }, { seed: 5, objective: 'pfgm', device });
        n.pfgm = { ...m.pfgmHyperparameters({ dataNorm: 1.5, N: 3, M: 60 }), gamma: 5, restrictM: true };
        return n;
      });
      for (const solver of ['euler', 'rk45']) {
        const o = { count: 3, solver, steps: 4, seed: 1, radiusClip: 'reference', rtol: 1e-3, atol: 1e-3 };
        out.push(['pfgm ' + solver, same((await m.pfgmSample(pc, o)).x, (await m.pfgmSample(pg, o)).x)]);
      }
      console.log(JSON.stringify({ device: gpu.device, out }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { ...process.env, PFGM_ADDON_DIR: addons, PFGM_DEVICE: 'auto' },
    });
    expect(r.status, r.stderr).toBe(0);
    const { device, out } = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as {
      device: string;
      out: [string, boolean][];
    };
    expect(device).toBe('cuda');
    expect(out.filter(([, ok]) => !ok)).toEqual([]);
    expect(out.length).toBe(9);
  }, 120_000);
});
