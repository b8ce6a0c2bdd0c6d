// Model files as PyTorch users write them: EDM's `model.`-prefixed state-dict names (its
// preconditioning wrapper's) and half-precision tensors (F16, BF16) load, the values widened
// exactly to float32; F16 bits are checked against NumPy's conversion of the same numbers.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  decodeSafetensors,
  encodeSafetensors,
  floatValues,
  type SafetensorsEntry,
} from '../../src/codecs/safetensors.js';
import { preset } from '../../src/models/config.js';
import { loadModel, saveModel } from '../../src/models/modelFile.js';
import { createNetwork } from '../../src/models/network.js';

const work = mkdtempSync(join(tmpdir(), 'pfgm-torch-names-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** float32 -> bfloat16 bits, round to nearest even (as torch.to(torch.bfloat16) does). */
function bf16(x: number): number {
  const u = new Uint32Array(Float32Array.of(x).buffer)[0] as number;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

describe('model files with PyTorch names and half-precision tensors', () => {
  it("loads EDM's model.-prefixed BF16 state dict, exactly widened", async () => {
    using net = createNetwork(preset('mlp', { features: 2, hidden: 16, numBlocks: 1 }), { D: 8, seed: 3 });
    const plain = join(work, 'plain.safetensors');
    await saveModel(plain, net, { objective: 'pfgmpp' }, { raw: false });
    const file = decodeSafetensors(new Uint8Array(readFileSync(plain)));
    const entries: [string, SafetensorsEntry][] = [...file.tensors].map(([name, t]) => [
      `model.${name}`,
      { dtype: 'BF16', shape: t.shape, data: Uint16Array.from(t.data as Float32Array, bf16) },
    ]);
    const prefixed = join(work, 'bf16.safetensors');
    writeFileSync(prefixed, encodeSafetensors(entries, file.metadata));
    const { net: back } = await loadModel(prefixed);
    const want = net
      .flatWeights()
      .ema.map((v) => floatValues({ dtype: 'BF16', shape: [1], data: Uint16Array.of(bf16(v)) })[0] as number);
    expect(back.flatWeights().ema).toEqual(want);
    back.dispose();
  });

  it("a U-Net's resampling filters load from BF16 too (compared as values, not as 16-bit patterns)", async () => {
    using net = createNetwork(
      preset('ddpmpp-small', { imgResolution: 8, modelChannels: 16, channelMult: [1, 2], attnResolutions: [] }),
      { D: 8, seed: 3 },
    );
    const plain = join(work, 'unet.safetensors');
    await saveModel(plain, net, { objective: 'pfgmpp' }, { raw: false });
    const file = decodeSafetensors(new Uint8Array(readFileSync(plain)));
    expect([...file.tensors.keys()].some((n) => n.endsWith('resample_filter'))).toBe(true);
    const entries: [string, SafetensorsEntry][] = [...file.tensors].map(([name, t]) => [
      name,
      { dtype: 'BF16', shape: t.shape, data: Uint16Array.from(t.data as Float32Array, bf16) },
    ]);
    const half = join(work, 'unet-bf16.safetensors');
    writeFileSync(half, encodeSafetensors(entries, file.metadata));
    const { net: back } = await loadModel(half);
    const want = net
      .flatWeights()
      .ema.map((v) => floatValues({ dtype: 'BF16', shape: [1], data: Uint16Array.of(bf16(v)) })[0] as number);
    expect(back.flatWeights().ema).toEqual(want);
    back.dispose();
  });

  it.skipIf(spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status !== 0)(
    'reads F16 as NumPy converts it',
    () => {
      const values = [0, -0, 1, -2.5, 65504, 6.1e-5, 5.96e-8, 0.1, 3.25];
      const r = spawnSync(
        'python3',
        [
          '-c',
          `import numpy as np, sys; sys.stdout.buffer.write(np.array(${JSON.stringify(values)}, dtype='<f2').tobytes())`,
        ],
        { encoding: 'buffer' },
      );
      expect(r.status).toBe(0);
      const bits = new Uint16Array(new Uint8Array(r.stdout).buffer);
      const got = floatValues({ dtype: 'F16', shape: [values.length], data: bits });
      const expected = spawnSync(
        'python3',
        [
          '-c',
          `import numpy as np; print(list(map(float, np.array(${JSON.stringify(values)}, dtype='<f2').astype('<f4'))))`,
        ],
        { encoding: 'utf8' },
      );
      expect([...got]).toEqual(JSON.parse(expected.stdout.replaceAll("'", '"')));
    },
  );
});
