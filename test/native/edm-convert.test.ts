// EDM's and PFGM++'s network snapshots in pfgm: python/convert_edm.py turns a pickle made by EDM's
// own code (test/fixtures/gen/edm_pickles.py: EDMPrecond around DDPM++, a class-conditional NCSN++
// and a class-conditional ADM network (DhariwalUNet), random weights) into a model file, and pfgm's denoiser of that file equals the pickled
// module's D(x, sigma, labels) on the same inputs (computed by EDM's code when the fixtures were
// made) within 1e-5 relative. The conversion itself runs again where torch and EDM's repository
// (EDM_REPO) are at hand.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readNpz } from '../../src/codecs/npz.js';
import { loadModel } from '../../src/models/modelFile.js';
import { repoRoot } from '../helpers/toolkit.js';

const fixtures = join(repoRoot, 'test', 'fixtures', 'edm');
const edmRepo = process.env.EDM_REPO;
const canConvert =
  edmRepo !== undefined &&
  existsSync(join(edmRepo, 'training', 'networks.py')) &&
  spawnSync('python3', ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
const work = mkdtempSync(join(tmpdir(), 'pfgm-edm-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function expectSameDenoiser(model: string, name: string): Promise<void> {
  const io = await readNpz(join(fixtures, `${name}-io.npz`));
  const x = Float32Array.from(io.get('x')?.data ?? []);
  const sigma = Float32Array.from(io.get('sigma')?.data ?? []);
  const expected = io.get('out')?.data ?? new Float64Array();
  const labelsArr = io.get('labels');
  const { net } = await loadModel(model, { weights: 'ema' });
  try {
    const out = await net.denoise(x, sigma, {
      weights: 'ema',
      ...(labelsArr !== undefined ? { labels: Float32Array.from(labelsArr.data) } : {}),
    });
    let worst = 0;
    let scale = 0;
    for (let i = 0; i < out.length; i++) {
      worst = Math.max(worst, Math.abs((out[i] as number) - (expected[i] as number)));
      scale = Math.max(scale, Math.abs(expected[i] as number));
    }
    expect(worst / scale).toBeLessThan(1e-5);
  } finally {
    net.dispose();
  }
}

const SNAPSHOTS: Record<string, { network: string; kind: string; labelDim: number }> = {
  ddpmpp: { network: 'SongUNet', kind: 'songunet', labelDim: 0 },
  'ncsnpp-cond': { network: 'SongUNet', kind: 'songunet', labelDim: 3 },
  'adm-cond': { network: 'DhariwalUNet', kind: 'dhariwalunet', labelDim: 3 },
};

describe('EDM snapshots through python/convert_edm.py', () => {
  for (const [name, want] of Object.entries(SNAPSHOTS)) {
    it(`${name}: the converted file denoises as EDM's pickled module`, async () => {
      await expectSameDenoiser(join(fixtures, `${name}.safetensors`), name);
      const { net, meta } = await loadModel(join(fixtures, `${name}.safetensors`));
      expect(net.labelDim).toBe(want.labelDim);
      expect(net.config.kind).toBe(want.kind);
      expect(net.D).toBe(Number.POSITIVE_INFINITY);
      expect(meta.objective).toBe('pfgmpp');
      net.dispose();
    });
  }

  it.skipIf(!canConvert)(
    'converts the pickles again (needs torch and EDM_REPO)',
    async () => {
      for (const [name, want] of Object.entries(SNAPSHOTS)) {
        const out = join(work, `${name}.safetensors`);
        const r = spawnSync(
          'python3',
          [join(repoRoot, 'python', 'convert_edm.py'), join(fixtures, `${name}.pkl`), out, '--D', '2048'],
          {
            encoding: 'utf8',
            env: { ...process.env, PYTHONPATH: edmRepo },
          },
        );
        expect(r.status, r.stderr).toBe(0);
        expect(JSON.parse(r.stdout)).toMatchObject({ network: want.network, D: 2048, sigma_data: 0.5 });
        await expectSameDenoiser(out, name);
        const { net } = await loadModel(out);
        expect(net.D).toBe(2048);
        net.dispose();
      }
    },
    120_000,
  );
});
