// The device glue of every network path, checked without a GPU. A network on CUDA keeps
// its weights, optimizer state and activations in device memory, and the modules and the training
// session stage host arrays in and out through the backend (nn/backend.h). On the CPU backend that
// staging is a no-op, so the CPU tests cannot see a missing upload or a host loop reading device
// memory; on a GPU such a bug is a crash or wrong numbers.
//
// The guarded device (test/native/guarded/backend_guarded.cc, native device 'cpu-guarded') runs the CPU
// ops on memory the host cannot touch (PROT_NONE outside its own methods: a host access ends the
// process with status 86) and checks every pointer an op receives (device arrays live and large
// enough, host arrays outside the device). Its arithmetic is the CPU backend's, so every output
// of test/helpers/network-scripts.ts must equal the CPU network's bit for bit: equality shows the
// staging moves the right data, and the guard shows nothing reached around it. The first block
// shows each check firing.
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { native } from '../../src/addon/load.js';
import type { NativeAddon } from '../../src/addon/native.js';
import type { NetworkConfig } from '../../src/models/config.js';
import type { CreateNetworkOptions, Network } from '../../src/models/network.js';
import { type Case, denoisers, expectSameAsCpu, fields, redirectedNetwork } from '../helpers/network-scripts.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const addonDir = process.env.PFGM_ADDON_DIR ?? join(root, 'build', 'Release');

function guardedNetwork(config: NetworkConfig, options: CreateNetworkOptions): Network {
  const Ctor = (native() as NativeAddon).Network; // the real one, before the redirection
  const { net, handle } = redirectedNetwork(config, options, (c) => new Ctor({ ...c, device: 'cpu-guarded' } as never));
  // The redirection took: the native network really lives on the guarded device.
  expect(handle.paramInfo().device).toBe('cpu-guarded');
  return net;
}

describe('the guarded device catches what it is for', () => {
  const probe = (fault: number) =>
    native().runOp('guarded_probe', { fault: [fault] }, { x: { shape: [3], data: Float32Array.of(1, -2, 3) } });

  it('runs a correct program and gives the CPU result', async () => {
    const r = await probe(0);
    expect(Array.from(r.y?.data ?? [])).toEqual([2, -4, 6]);
    expect(r.sumsq?.data[0]).toBe(56);
  });

  it('refuses a host pointer, an overrun, released memory and device memory as host input', async () => {
    const internal = (m: RegExp) =>
      expect.objectContaining({ code: 'ERR_PFGM_INTERNAL', message: expect.stringMatching(m) });
    await expect(probe(1)).rejects.toThrow(internal(/scale's a .* is not device memory/));
    await expect(probe(2)).rejects.toThrow(internal(/runs past the end of its device array/));
    await expect(probe(3)).rejects.toThrow(internal(/released memory/));
    await expect(probe(4)).rejects.toThrow(internal(/must be host memory/));
    // The device still works after each refusal (the arena is closed again, the lock released).
    expect(Array.from((await probe(0)).y?.data ?? [])).toEqual([2, -4, 6]);
  });

  it('ends the process with status 86 when host code reads device memory', () => {
    const script = `
      const addon = require(${JSON.stringify(join(addonDir, 'pfgm_cpu.node'))});
      addon.runOp('guarded_probe', { fault: [5] }, { x: { shape: [2], data: Float32Array.of(1, 2) } })
        .then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(86);
    expect(r.stderr).toMatch(/host code touched device memory/);
  });
});

describe('every network path stages its data through the device, bit for bit like the CPU', () => {
  for (const c of denoisers) {
    it(c.name, () => expectSameAsCpu(c, guardedNetwork), 120_000);
  }
  for (const [name, config] of fields) {
    const c: Case = { name, config, options: { seed: 3, objective: 'pfgm' }, batch: 4 };
    it(name, () => expectSameAsCpu(c, guardedNetwork), 120_000);
  }
});
