// `cuda:N` picks a GPU by ordinal (docs/cuda.md, "Choosing a GPU"), in the API (createNetwork,
// loadModel, tensors) and on the CLI (`--device cuda:N` of pfgm train, sample, eval and serve). On
// a machine without GPUs it runs on the fake-CUDA test addon offered as the CUDA build, which
// pretends to have PFGM_FAKE_CUDA_DEVICES devices: a network on `cuda:1` makes device 1 current in
// the runtime (fakeCudaDevice()), an ordinal past the last is ERR_PFGM_DEVICE naming how many
// there are, and a second GPU in the same process is refused. Skipped where the fake addon was not
// built (no CUDA toolkit).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cudaOrdinal } from '../../src/addon/devices.js';
import { offeredAsCuda, repoRoot as root } from '../helpers/toolkit.js';

const work = mkdtempSync(join(tmpdir(), 'pfgm-ordinal-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const { present, addons } = offeredAsCuda('pfgm_fakecuda.node', work);
const env = { ...process.env, PFGM_ADDON_DIR: addons, PFGM_DEVICE: 'auto', PFGM_FAKE_CUDA_DEVICES: '2' };

/** Runs an ES module body with the built package as `m` and the addon as `native`; its JSON lines. */
function script(body: string): unknown[] {
  const src = `
    const m = await import(${JSON.stringify(join(root, 'dist', 'index.js'))});
    const { native } = await import(${JSON.stringify(join(root, 'dist', 'addon', 'load.js'))});
    const out = (v) => console.log(JSON.stringify(v));
    const failure = (f) => { try { f(); return null; } catch (e) { return { code: e.code, message: e.message }; } };
    const cfg = { kind: 'mlp', features: 2, hidden: 16, numBlocks: 1, embChannels: 16, noiseChannels: 16,
      labelDim: 0, dropout: 0, labelDropout: 0 };
    ${body}`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', src], { encoding: 'utf8', env });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}

function pfgm(args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'pfgm.js'), ...args], { encoding: 'utf8', env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('cuda:N names', () => {
  it('parses cuda:N and refuses what is not a plain ordinal', () => {
    expect(cudaOrdinal('cuda:0')).toBe(0);
    expect(cudaOrdinal('cuda:12')).toBe(12);
    expect(cudaOrdinal('cuda')).toBeUndefined();
    expect(cudaOrdinal('cpu')).toBeUndefined();
    for (const bad of ['cuda:', 'cuda:x', 'cuda:-1', 'cuda:01', 'cuda:1.5', 'cuda: 1', 'cuda:9999999']) {
      expect(() => cudaOrdinal(bad), bad).toThrow(expect.objectContaining({ code: 'ERR_PFGM_DEVICE' }));
    }
  });
});

describe.skipIf(!present)('cuda:N on the fake CUDA runtime with two devices', () => {
  it('puts a network on GPU 1, names the count for a GPU that does not exist, keeps one GPU per process', () => {
    const [missing, bad, chosen, second, same, sampled, tensor] = script(`
      out(failure(() => m.createNetwork(cfg, { device: 'cuda:2' })));
      out(failure(() => m.createNetwork(cfg, { device: 'cuda:x' })));
      const net = m.createNetwork(cfg, { device: 'cuda:1' });
      out({ device: net.device, current: native().fakeCudaDevice(), info: m.getDeviceInfo().cuda.deviceCount });
      out(failure(() => m.createNetwork(cfg, { device: 'cuda:0' })));
      out(failure(() => m.createNetwork(cfg, { device: 'cuda:1' }).dispose()));
      const r = await m.sample(net, { count: 2, steps: 3, seed: 1, sigmaMax: 10 });
      out({ nfe: r.nfe, current: native().fakeCudaDevice() });
      out(failure(() => m.tensor(new Float32Array(2), [2], { device: 'cuda:0' })));
    `) as ({ code: string; message: string } | null | Record<string, unknown>)[];
    expect(missing).toMatchObject({ code: 'ERR_PFGM_DEVICE' });
    expect((missing as { message: string }).message).toMatch(
      /device 'cuda:2' does not exist: this machine has 2 CUDA devices \(cuda:0 to cuda:1\)/,
    );
    expect(bad).toMatchObject({ code: 'ERR_PFGM_DEVICE' });
    expect(chosen).toEqual({ device: 'cuda', current: 1, info: 2 });
    expect(second).toMatchObject({ code: 'ERR_PFGM_DEVICE' });
    expect((second as { message: string }).message).toMatch(/already works on cuda:1; a process uses one GPU/);
    expect(same).toBeNull();
    expect(sampled).toEqual({ nfe: 5, current: 1 });
    expect(tensor).toMatchObject({ code: 'ERR_PFGM_DEVICE' });
  });

  it('--device cuda:N on the CLI: train and sample on GPU 1; a missing GPU is a one-line error', () => {
    const out = join(work, 'run');
    const train = pfgm([
      'train',
      '--data',
      'toy:moons',
      '--out',
      out,
      '--steps',
      '3',
      '--batch',
      '16',
      '--device',
      'cuda:1',
    ]);
    expect(train.code, train.stderr).toBe(0);
    const model = join(out, 'model.safetensors');
    const npy = join(work, 's.npy');
    const ok = pfgm(['sample', '--ckpt', model, '--out', npy, '--count', '4', '--steps', '3', '--device', 'cuda:1']);
    expect(ok.code, ok.stderr).toBe(0);
    for (const command of [
      ['sample', '--ckpt', model, '--out', join(work, 'no.npy'), '--count', '2', '--device', 'cuda:3'],
      ['train', '--data', 'toy:moons', '--out', join(work, 'no'), '--steps', '1', '--device', 'cuda:3'],
      ['serve', '--ckpt', model, '--port', '0', '--device', 'cuda:3'],
      ['eval', '--ckpt', model, '--data', 'toy:moons', '--count', '8', '--device', 'cuda:3'],
    ]) {
      const r = pfgm(command);
      expect(r.code, command[0]).toBe(1);
      expect(r.stderr, command[0]).toMatch(/device 'cuda:3' does not exist: this machine has 2 CUDA devices/);
      expect(r.stderr, command[0]).not.toMatch(/\n\s+at /); // one line, no stack
    }
    const malformed = pfgm(['sample', '--ckpt', model, '--out', join(work, 'x.npy'), '--device', 'gpu1']);
    expect(malformed.code).not.toBe(0);
    expect(malformed.stderr).toMatch(/--device gpu1: use auto, cpu, cuda or cuda:N/);
  }, 180_000);
});
