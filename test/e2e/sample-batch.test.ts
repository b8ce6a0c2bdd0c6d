// `pfgm sample --batch`: the files are the same bytes whatever the batch (with a class and
// guidance too), written batch by batch as .npy, .csv and a folder of PNGs; the chosen batch is
// printed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveModel } from '../../src/models/modelFile.js';
import { tinyUnet } from '../helpers/serve.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const work = mkdtempSync(join(tmpdir(), 'pfgm-sample-batch-e2e-'));
const model = join(work, 'model.safetensors');
afterAll(() => rmSync(work, { recursive: true, force: true }));
beforeAll(async () => {
  using net = tinyUnet();
  await saveModel(model, net, { objective: 'pfgmpp' });
});

function pfgm(args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'pfgm.js'), ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('pfgm sample --batch', () => {
  it('the same bytes for batch 1, 3 and 10, with a class and guidance, in .npy, .csv and a folder', () => {
    const common = ['sample', '--ckpt', model, '--seeds', '0-9', '--steps', '4', '--class', '1', '--guidance', '2'];
    const outputs = new Map<number, { npy: Buffer; csv: string; pngs: Buffer[] }>();
    for (const batch of [1, 3, 10]) {
      const npy = join(work, `b${batch}.npy`);
      const csv = join(work, `b${batch}.csv`);
      const dir = join(work, `b${batch}`);
      const r = pfgm([...common, '--batch', String(batch), '--out', npy, '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ count: 10, batch, nfe: 7 });
      expect(pfgm([...common, '--batch', String(batch), '--out', csv]).code).toBe(0);
      expect(pfgm([...common, '--batch', String(batch), '--out', dir]).code).toBe(0);
      const names = readdirSync(dir).sort();
      expect(names).toEqual(Array.from({ length: 10 }, (_, i) => `seed${String(i).padStart(6, '0')}.png`));
      outputs.set(batch, {
        npy: readFileSync(npy),
        csv: readFileSync(csv, 'utf8'),
        pngs: names.map((n) => readFileSync(join(dir, n))),
      });
    }
    const whole = outputs.get(10);
    for (const batch of [1, 3]) {
      const o = outputs.get(batch);
      expect(o?.npy.equals(whole?.npy as Buffer), `npy batch ${batch}`).toBe(true);
      expect(o?.csv).toBe(whole?.csv);
      for (const [i, p] of (o?.pngs ?? []).entries()) expect(p.equals(whole?.pngs[i] as Buffer)).toBe(true);
    }
    expect(whole?.csv.trim().split('\n')).toHaveLength(10);
  });

  it('prints the batch it chose, and refuses a bad one', () => {
    const r = pfgm(['sample', '--ckpt', model, '--count', '5', '--steps', '2', '--out', join(work, 'c.npy')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/batch 5 \(chosen: about \d+ KiB per sample/);
    const bad = pfgm(['sample', '--ckpt', model, '--batch', '0', '--out', join(work, 'd.npy')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--batch must be a positive integer/);
  });
});
