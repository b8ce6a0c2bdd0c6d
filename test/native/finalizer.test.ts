// The finalizer is the safety net for tensors nobody disposed: 4 GiB of undisposed 4 MiB tensors
// must not accumulate once the garbage collector runs.
import { execFileSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('tensor finalizer', () => {
  it('frees undisposed tensors when they are collected', () => {
    const script = `
      const { tensor } = await import(process.argv[1]);
      const chunk = new Float32Array(1 << 20);
      let peak = 0;
      for (let i = 0; i < 1024; i++) {
        tensor(chunk, [1024, 1024], { device: 'cpu' }); // never disposed
        if (i % 64 === 63) { globalThis.gc(); await new Promise((r) => setImmediate(r)); }
        peak = Math.max(peak, process.memoryUsage().rss);
      }
      console.log(JSON.stringify({ peakMiB: peak / 2 ** 20 }));`;
    const out = execFileSync(
      process.execPath,
      ['--expose-gc', '--input-type=module', '-e', script, join(root, 'dist', 'index.js')],
      { encoding: 'utf8', env: { ...process.env, PFGM_DEVICE: 'cpu' } },
    );
    const { peakMiB } = JSON.parse(out) as { peakMiB: number };
    expect(peakMiB).toBeLessThan(1024); // without the finalizer: over 4096
  });
});
