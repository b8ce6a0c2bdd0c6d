// The CLI as a user runs it: `pfgm info`, help, version and its errors.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { getDeviceInfo } from '../../src/index.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const pkg = (await import(join(root, 'package.json'), { with: { type: 'json' } })).default as { version: string };

function pfgm(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'pfgm.js'), ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const hasGpu = getDeviceInfo().backend === 'cuda';

describe('pfgm CLI', () => {
  it('prints help and version', () => {
    const help = pfgm(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: pfgm <command>/);
    expect(help.stdout).toMatch(/info/);
    expect(pfgm(['info', '--help']).stdout).toMatch(/Usage: pfgm info/);
    expect(pfgm(['--version']).stdout.trim()).toBe(pkg.version);
  });

  it('info reports the backend and why', () => {
    const r = pfgm(['info']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^backend: +(cpu|cuda) \(/m);
    expect(r.stdout).toMatch(/oneDNN \d+\.\d+/);
    expect(r.stdout).toMatch(/^networks: songunet .*, dhariwalunet .*, mlp /m);
    expect(r.stdout).toMatch(/^presets: .*adm-imagenet64/m);
    const json = JSON.parse(pfgm(['info', '--json']).stdout) as {
      backend: string;
      reason: string;
      cpu: { threads: number };
      networks: { kinds: string[]; presets: string[] };
    };
    expect(json.networks.kinds).toEqual(['songunet', 'dhariwalunet', 'mlp']);
    expect(json.networks.presets).toContain('adm-imagenet64');
    expect(json.backend).toBe(hasGpu ? 'cuda' : 'cpu');
    expect(json.cpu.threads).toBeGreaterThan(0);
    expect(json.reason.length).toBeGreaterThan(5);
  });

  it('PFGM_DEVICE=cpu forces the CPU build', () => {
    const json = JSON.parse(pfgm(['info', '--json'], { PFGM_DEVICE: 'cpu' }).stdout) as {
      backend: string;
      addonPath: string;
      reason: string;
      inceptionDevice: string;
    };
    expect(json.backend).toBe('cpu');
    expect(json.addonPath).toMatch(/pfgm_cpu\.node$/);
    expect(json.reason).toBe('PFGM_DEVICE=cpu');
    // FID's Inception follows the backend
    expect(json.inceptionDevice).toBe('cpu');
    expect(pfgm(['info'], { PFGM_DEVICE: 'cpu' }).stdout).toMatch(/^fid: +Inception-v3 on cpu \(oneDNN\)$/m);
  });

  it.skipIf(hasGpu)(
    'without a GPU: falls back to the CPU with a one-line reason, and PFGM_DEVICE=cuda is an error',
    () => {
      const json = JSON.parse(pfgm(['info', '--json']).stdout) as { reason: string; cuda: { compiled: boolean } };
      expect(json.reason).toMatch(/^CPU backend; CUDA not used: /);
      expect(json.reason).not.toMatch(/\n/);
      expect(json.cuda.compiled).toBe(existsSync(join(root, 'build', 'Release', 'pfgm_cuda.node')));
      const forced = pfgm(['info'], { PFGM_DEVICE: 'cuda' });
      expect(forced.code).toBe(1);
      expect(forced.stderr).toMatch(/PFGM_DEVICE=cuda, but .*\[ERR_PFGM_DEVICE\]/);
    },
  );

  it('rejects unknown commands, options and devices with exit codes', () => {
    const unknown = pfgm(['trian']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'trian'.*--help/);
    expect(pfgm(['info', '--bogus']).code).toBe(2);
    const device = pfgm(['info'], { PFGM_DEVICE: 'gpu' });
    expect(device.code).toBe(1);
    expect(device.stderr).toMatch(/use cpu, cuda or auto/);
  });
});
