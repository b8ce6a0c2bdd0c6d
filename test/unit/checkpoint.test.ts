// Model files, training states and crash-safe checkpoints (src/models/modelFile.ts,
// src/train/trainingState.ts, src/train/checkpoint.ts): bit-exact round
// trips, PyTorch-written golden files (test/fixtures/gen/checkpoint_golden.py), files we write read
// by a strict Python reader into the PyTorch twin, clear errors for bad files, and crashes mid-save.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors, type SafetensorsEntry } from '../../src/codecs/safetensors.js';
import type { DatasetInfo } from '../../src/data/dataset.js';
import { PfgmError } from '../../src/errors.js';
import { writeFileAtomic } from '../../src/io/atomic.js';
import { CHECKPOINT_MARKER, type CheckpointMarker } from '../../src/models/checkpointMarker.js';
import { fromNativeConfig, type NetworkConfig, preset } from '../../src/models/config.js';
import { loadModel, type ModelMeta, saveModel } from '../../src/models/modelFile.js';
import { createNetwork, type Network } from '../../src/models/network.js';
import { LATEST_MODEL, loadCheckpoint, saveCheckpoint, verifyCheckpoint } from '../../src/train/checkpoint.js';
import { loadTrainingState, saveTrainingState } from '../../src/train/trainingState.js';
import { compare, fixturePath } from '../helpers/golden.js';

const ROOT = fixturePath('../..');
const work = mkdtempSync(join(tmpdir(), 'pfgm-checkpoint-'));
let dirs = 0;
const fresh = (): string => join(work, `d${dirs++}`);
afterAll(() => rmSync(work, { recursive: true, force: true }));

const MLP = preset('mlp', { features: 3, hidden: 32, numBlocks: 2, embChannels: 32, noiseChannels: 16 });
const UNET = preset('ddpmpp-small', {
  modelChannels: 8,
  channelMult: [1, 2],
  imgResolution: 8,
  attnResolutions: [4],
  numBlocks: 1,
});
// The golden SongUNet's config (checkpoint_golden.py): Fourier embedding (a buffer), residual
// encoder and skip decoder (every kind of resample_filter buffer), [1, 3, 3, 1] filter.
const NCSN_TINY = fromNativeConfig({
  kind: 'songunet',
  img_resolution: 8,
  in_channels: 1,
  out_channels: 1,
  label_dim: 0,
  augment_dim: 0,
  model_channels: 4,
  channel_mult: [1, 2],
  channel_mult_emb: 2,
  num_blocks: 1,
  attn_resolutions: [4],
  dropout: 0,
  label_dropout: 0,
  embedding_type: 'fourier',
  channel_mult_noise: 2,
  encoder_type: 'residual',
  decoder_type: 'skip',
  resample_filter: [1, 3, 3, 1],
});

const DATASET: DatasetInfo = { name: 'toy:test', kind: 'vector', shape: [3], count: 500, labelDim: 0 };

function randomData(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 2 - 1;
  }
  return out;
}

const STEP = { D: 128, seed: 3, lr: 1e-3, emaHalflifeKimg: 0.001, emaRampupRatio: 0 };

/** A network after a few Adam steps: raw != EMA, non-zero moments and counters. */
async function trained(config: NetworkConfig, steps = 2, D = 128): Promise<Network> {
  const net = createNetwork(config, { D, sigmaData: 0.5, seed: 1 });
  for (let i = 0; i < steps; i++) await net.trainStep(randomData(4 * net.sampleSize, 10 + i), { ...STEP, D });
  return net;
}

/** File bytes as a plain Uint8Array (decodeSafetensors needs one, not a pooled Buffer view). */
function readBytes(path: string): Uint8Array {
  return new Uint8Array(readFileSync(path));
}

function bytesOf(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function expectSameBits(a: Float32Array, b: Float32Array): void {
  expect(a.length).toBe(b.length);
  expect(bytesOf(a).equals(bytesOf(b))).toBe(true);
}

function expectSameState(a: Network, b: Network): void {
  const wa = a.flatWeights();
  const wb = b.flatWeights();
  expectSameBits(wa.raw, wb.raw);
  expectSameBits(wa.ema, wb.ema);
  expectSameBits(wa.buffers, wb.buffers);
  const oa = a.optimizerState();
  const ob = b.optimizerState();
  expectSameBits(oa.adamM, ob.adamM);
  expectSameBits(oa.adamV, ob.adamV);
  expect(ob.counters).toEqual(oa.counters);
}

async function rejects(p: Promise<unknown>, code: string, ...parts: (string | RegExp)[]): Promise<PfgmError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, 'expected a rejection').toBeInstanceOf(PfgmError);
  const err = e as PfgmError;
  expect(err.code, err.message).toBe(code);
  for (const part of parts) expect(err.message).toMatch(part);
  return err;
}

const META: ModelMeta = {
  objective: 'pfgmpp',
  dataset: DATASET,
  kimg: 0.008,
  note: 'a note',
  hyper: { lr: 1e-3, betas: [0.9, 0.999], D: Number.POSITIVE_INFINITY, off: false },
};
const EXTRA = { seed: 7, epoch: 2, position: 123, order: [3, 1, 2], D: Number.POSITIVE_INFINITY, nested: { a: 'b' } };

describe.each([
  ['mlp', MLP],
  ['songunet', UNET],
  ['ncsn-tiny', NCSN_TINY],
])('%s: checkpoint round trip', (_name, config) => {
  it('restores weights, EMA, buffers, Adam moments and counters bit for bit, and the run continues identically', async () => {
    using net = await trained(config);
    expect(bytesOf(net.flatWeights().raw).equals(bytesOf(net.flatWeights().ema))).toBe(false);
    const dir = fresh();
    const marker = await saveCheckpoint(dir, net, META, EXTRA);
    expect(marker.generation).toBe(1);
    expect(marker.counters).toEqual(net.counters());
    const loaded = await loadCheckpoint(dir);
    using copy = loaded.net;
    expectSameState(net, copy);
    expect(copy.D).toBe(128);
    expect(loaded.extra).toEqual(EXTRA);
    expect(loaded.meta).toMatchObject({ objective: 'pfgmpp', D: 128, dAwareCIn: false, dataset: DATASET });
    expect(loaded.meta.kimg).toBe(0.008);
    expect(loaded.meta.note).toBe('a note');
    expect(loaded.meta.hyper).toEqual(META.hyper);
    // A resumed run continues exactly: the same step on both gives the same bits.
    const y = randomData(4 * net.sampleSize, 99);
    const a = await net.trainStep(y, STEP);
    const b = await copy.trainStep(y, STEP);
    expect(b).toEqual(a);
    expectSameState(net, copy);
  });
});

describe('model files', () => {
  it('loads EMA, raw or both weight sets; a file without raw weights uses its EMA ones', async () => {
    using net = await trained(MLP);
    const { raw, ema } = net.flatWeights();
    const path = join(fresh(), 'm.safetensors');
    const saved = await saveModel(path, net, META);
    expect(saved.bytes).toBe(statSync(path).size);
    for (const [weights, wantRaw, wantEma] of [
      ['both', raw, ema],
      ['ema', ema, ema],
      ['raw', raw, raw],
    ] as const) {
      const { net: m, counters } = await loadModel(path, { weights });
      expectSameBits(m.flatWeights().raw, wantRaw);
      expectSameBits(m.flatWeights().ema, wantEma);
      expect(counters).toEqual(net.counters());
      expect(m.counters().steps).toBe(0); // a model file does not resume the optimizer
      m.dispose();
    }
    const emaOnly = join(fresh(), 'ema.safetensors');
    await saveModel(emaOnly, net, META, { raw: false });
    const names = [...decodeSafetensors(readBytes(emaOnly)).tensors.keys()];
    expect(names.some((n) => n.startsWith('raw.'))).toBe(false);
    using m = (await loadModel(emaOnly)).net;
    expectSameBits(m.flatWeights().raw, ema);
    expectSameBits(m.flatWeights().ema, ema);
  });

  it('denoises after loading exactly as before saving', async () => {
    using net = await trained(UNET);
    const path = join(fresh(), 'u.safetensors');
    await saveModel(path, net, META);
    using m = (await loadModel(path, { weights: 'ema' })).net;
    const x = randomData(2 * net.sampleSize, 5);
    const sigma = new Float32Array([0.3, 7]);
    const want = await net.denoise(x, sigma, { weights: 'ema' });
    expectSameBits(await m.denoise(x, sigma), want);
  });

  it('writes safetensors as the reference does: 8-byte length, JSON header, 8-byte alignment, contiguous offsets', async () => {
    using net = await trained(NCSN_TINY);
    const path = join(fresh(), 'n.safetensors');
    await saveModel(path, net, { ...META, D: 128 });
    const bytes = readFileSync(path);
    const n = Number(bytes.readBigUInt64LE(0));
    expect((8 + n) % 8).toBe(0);
    expect(bytes[8]).toBe(0x7b);
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
    const metadata = header.__metadata__ as Record<string, unknown>;
    for (const v of Object.values(metadata)) expect(typeof v).toBe('string');
    expect(metadata).toMatchObject({ format: 'pfgm-model', version: '1', objective: 'pfgmpp' });
    expect(JSON.parse(metadata.precond as string)).toEqual({
      sigma_data: 0.5,
      D: 128,
      d_aware_c_in: false,
      adaptive_scale: false,
    });
    expect(JSON.parse(metadata.config as string)).toMatchObject({ kind: 'songunet', encoder_type: 'residual' });
    expect(JSON.parse(metadata.dataset as string)).toEqual(DATASET);
    const tensors = Object.entries(header)
      .filter(([k]) => k !== '__metadata__')
      .map(([name, v]) => ({ name, ...(v as { dtype: string; shape: number[]; data_offsets: [number, number] }) }));
    let at = 0;
    for (const t of [...tensors].sort((a, b) => a.data_offsets[0] - b.data_offsets[0])) {
      expect(t.data_offsets[0]).toBe(at);
      expect(t.dtype).toBe('F32');
      expect(t.data_offsets[1] - t.data_offsets[0]).toBe(4 * t.shape.reduce((a, b) => a * b, 1));
      at = t.data_offsets[1];
    }
    expect(8 + n + at).toBe(bytes.length);
    // Default set: every parameter, the buffer and EDM's resample_filter buffers; raw set: parameters.
    const names = tensors.map((t) => t.name);
    const params = net.parameters().map((p) => p.name);
    expect(names.filter((k) => k.startsWith('raw.'))).toEqual(params.map((p) => `raw.${p}`));
    expect(names).toContain('map_noise.freqs');
    expect(names.filter((k) => k.endsWith('resample_filter')).sort()).toEqual(
      [
        'dec.8x8_aux_up.resample_filter',
        'dec.8x8_up.conv0.resample_filter',
        'dec.8x8_up.skip.resample_filter',
        'enc.4x4_aux_residual.resample_filter',
        'enc.4x4_down.conv0.resample_filter',
        'enc.4x4_down.skip.resample_filter',
      ].sort(),
    );
  });

  it('refuses meta that cannot be stored, and a D other than the network', async () => {
    using net = createNetwork(MLP, { D: 64 });
    const path = join(fresh(), 'x.safetensors');
    await rejects(saveModel(path, net, { objective: 'pfgmpp', big: { n: 1n } }), 'ERR_PFGM_ARGUMENT', /meta\.big/);
    await rejects(saveModel(path, net, { objective: 'pfgmpp', D: 128 }), 'ERR_PFGM_ARGUMENT', /D = 64/);
    expect(existsSync(path)).toBe(false);
    await saveModel(path, net, { objective: 'pfgmpp+stf' });
    const { net: m, meta } = await loadModel(path);
    expect(meta.D).toBe(64);
    expect(m.D).toBe(64);
    m.dispose();
  });
});

describe('PyTorch golden files (checkpoint_golden.py)', () => {
  const reference = (path: string) =>
    JSON.parse(decodeSafetensors(readBytes(path)).metadata.reference ?? '{}') as {
      x: number[];
      sigma: number[];
      denoised: number[];
    };

  it('an MLP state dict with EDM names and pfgm metadata loads and denoises as PyTorch does', async () => {
    const path = fixturePath('checkpoints/mlp-edm.safetensors');
    const { net, meta } = await loadModel(path);
    using _ = net;
    expect(meta).toMatchObject({ objective: 'pfgmpp', D: 128, dAwareCIn: false });
    expect(meta.dataset?.name).toBe('toy:golden');
    expect(meta.exported_by).toBe('test/fixtures/gen/checkpoint_golden.py');
    expect(net.D).toBe(128);
    expectSameBits(net.flatWeights().raw, net.flatWeights().ema); // no raw set: raw = EMA
    const ref = reference(path);
    const out = await net.denoise(Float32Array.from(ref.x), Float32Array.from(ref.sigma));
    const c = compare(out, ref.denoised, { rtol: 2e-5, atol: 1e-6 });
    expect(c.ok, `max |diff| ${c.maxAbs} at scale ${c.scale}`).toBe(true);
  });

  it('a plain SongUNet state dict (resample_filter buffers, no metadata) needs and takes options.config', async () => {
    const path = fixturePath('checkpoints/songunet-edm.safetensors');
    await rejects(loadModel(path), 'ERR_PFGM_CHECKPOINT', path, /no 'config' metadata/, /\{ config \}/);
    await rejects(
      loadModel(path, { config: { ...NCSN_TINY, resampleFilter: [1, 1] } as NetworkConfig }),
      'ERR_PFGM_CHECKPOINT',
      /resample_filter/,
    );
    await rejects(
      loadModel(path, { config: { ...NCSN_TINY, channelMultEmb: 4 } as NetworkConfig }),
      'ERR_PFGM_CHECKPOINT',
      /wrong tensors/,
      /has shape/,
    );
    const { net, meta } = await loadModel(path, { config: NCSN_TINY });
    using _ = net;
    expect(meta.D).toBe(Number.POSITIVE_INFINITY);
    expect(net.sigmaData).toBe(0.5);
    const ref = reference(path);
    const out = await net.denoise(Float32Array.from(ref.x), Float32Array.from(ref.sigma), { weights: 'ema' });
    const c = compare(out, ref.denoised, { rtol: 2e-5, atol: 1e-6 });
    expect(c.ok, `max |diff| ${c.maxAbs} at scale ${c.scale}`).toBe(true);
  });

  const torch = spawnSync('python3', ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
  it.skipIf(!torch)('a file we write is read by a strict Python reader and loads into PyTorch strictly', async () => {
    using net = await trained(NCSN_TINY);
    const path = join(fresh(), 'py.safetensors');
    await saveModel(path, net, META);
    const script = join(ROOT, 'test/fixtures/gen/checkpoint_golden.py');
    const out = JSON.parse(execFileSync('python3', [script, '--verify', path], { encoding: 'utf8' })) as {
      x: number[];
      sigma: number[];
      denoised_ema: number[];
      denoised_raw: number[];
      D: number;
    };
    expect(out.D).toBe(128);
    const x = Float32Array.from(out.x);
    const sigma = Float32Array.from(out.sigma);
    for (const w of ['ema', 'raw'] as const) {
      const got = await net.denoise(x, sigma, { weights: w });
      const c = compare(got, w === 'ema' ? out.denoised_ema : out.denoised_raw, { rtol: 2e-5, atol: 1e-6 });
      expect(c.ok, `${w}: max |diff| ${c.maxAbs} at scale ${c.scale}`).toBe(true);
    }
  });
});

describe('bad files give clear errors', () => {
  it('missing, empty, truncated and non-safetensors files', async () => {
    const dir = fresh();
    using net = await trained(MLP, 1);
    const missing = join(dir, 'nope.safetensors');
    await rejects(loadModel(missing), 'ERR_PFGM_CHECKPOINT', missing, /does not exist/);
    await rejects(loadTrainingState(missing, net), 'ERR_PFGM_CHECKPOINT', missing, /does not exist/);

    const path = join(dir, 'm.safetensors');
    await saveModel(path, net, META);
    const bytes = readFileSync(path);
    const cut = join(dir, 'cut.safetensors');
    writeFileSync(cut, bytes.subarray(0, bytes.length - 100));
    await rejects(loadModel(cut), 'ERR_PFGM_CHECKPOINT', cut, /truncated/, /re-copy or re-export/);
    writeFileSync(cut, bytes.subarray(0, 200)); // inside the header
    await rejects(loadModel(cut), 'ERR_PFGM_CHECKPOINT', cut, /truncated/);
    writeFileSync(cut, bytes.subarray(0, 5));
    await rejects(loadModel(cut), 'ERR_PFGM_CHECKPOINT', cut, /too short/);

    const text = join(dir, 'notes.safetensors');
    writeFileSync(text, 'these are not tensors, just some text long enough');
    await rejects(loadModel(text), 'ERR_PFGM_CHECKPOINT', text, /not a safetensors file/);
    const png = join(dir, 'image.safetensors');
    writeFileSync(png, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48]));
    await rejects(loadModel(png), 'ERR_PFGM_CHECKPOINT', png, /not a safetensors file/);
    const badJson = join(dir, 'bad.safetensors');
    const head = Buffer.from('{"a": not json}');
    const lenBuf = Buffer.alloc(8);
    lenBuf.writeBigUInt64LE(BigInt(head.length));
    writeFileSync(badJson, Buffer.concat([lenBuf, head]));
    await rejects(loadModel(badJson), 'ERR_PFGM_CHECKPOINT', badJson, /header is not JSON/);
  });

  it('a model file given as training state and the reverse', async () => {
    const dir = fresh();
    using net = await trained(MLP, 1);
    const model = join(dir, 'm.safetensors');
    const state = join(dir, 's.safetensors');
    await saveModel(model, net, META);
    await saveTrainingState(state, net, EXTRA);
    await rejects(loadTrainingState(model, net), 'ERR_PFGM_CHECKPOINT', model, /is a model file/);
    await rejects(loadModel(state), 'ERR_PFGM_CHECKPOINT', state, /is a training state/);
  });

  it('missing, unexpected and mis-shaped tensors are named', async () => {
    const dir = fresh();
    using net = await trained(MLP, 1);
    const path = join(dir, 'm.safetensors');
    await saveModel(path, net, META);
    const file = decodeSafetensors(readBytes(path));
    const edit = (f: (t: Map<string, SafetensorsEntry>) => void): string => {
      const tensors = new Map(file.tensors);
      f(tensors);
      const out = join(dir, `edit${dirs++}.safetensors`);
      writeFileSync(out, encodeSafetensors(tensors, file.metadata));
      return out;
    };
    const noLayer = edit((t) => t.delete('blocks.1.fc0.bias'));
    await rejects(loadModel(noLayer), 'ERR_PFGM_CHECKPOINT', noLayer, /missing tensors \(1\): blocks\.1\.fc0\.bias/);
    const noRaw = edit((t) => t.delete('raw.out_proj.weight'));
    await rejects(loadModel(noRaw), 'ERR_PFGM_CHECKPOINT', /missing tensors \(1\): raw\.out_proj\.weight/);
    const extra = edit((t) => t.set('blocks.9.fc0.bias', { dtype: 'F32', shape: [1], data: new Float32Array(1) }));
    await rejects(loadModel(extra), 'ERR_PFGM_CHECKPOINT', /unexpected tensors \(1\): blocks\.9\.fc0\.bias/);
    const reshaped = edit((t) => {
      const w = t.get('in_proj.weight') as SafetensorsEntry;
      t.set('in_proj.weight', { ...w, shape: [...w.shape].reverse() });
    });
    await rejects(loadModel(reshaped), 'ERR_PFGM_CHECKPOINT', /in_proj\.weight has shape \[3,32\], expected \[32,3\]/);
    // Integer tensors are not weights (F16, BF16 and F64 are widened: model-file-torch.test.ts).
    const i32 = edit((t) => {
      const w = t.get('in_proj.bias') as SafetensorsEntry;
      t.set('in_proj.bias', { dtype: 'I32', shape: w.shape, data: Int32Array.from(w.data as Float32Array) });
    });
    await rejects(loadModel(i32), 'ERR_PFGM_CHECKPOINT', /in_proj\.bias is I32, expected F32 \(or F16, BF16, F64\)/);
  });

  it('a config that does not match the network or the options', async () => {
    const dir = fresh();
    using net = await trained(MLP, 1);
    const path = join(dir, 'm.safetensors');
    await saveModel(path, net, META);
    const other = preset('mlp', { features: 3, hidden: 16, numBlocks: 2, embChannels: 32, noiseChannels: 16 });
    await rejects(
      loadModel(path, { config: other }),
      'ERR_PFGM_CHECKPOINT',
      /differs from options\.config/,
      /hidden: 32 vs 16/,
    );
    await rejects(loadModel(path, { D: 64 }), 'ERR_PFGM_CHECKPOINT', /D = 128 but options\.D = 64/);
    using target = createNetwork(other, { D: 128 });
    const before = target.flatWeights().raw;
    await rejects(loadModel(path, { into: target }), 'ERR_PFGM_CHECKPOINT', /different network/, /hidden: 32 vs 16/);
    expectSameBits(target.flatWeights().raw, before);
    using same = createNetwork(MLP, { D: 128 });
    await loadModel(path, { into: same });
    expectSameBits(same.flatWeights().ema, net.flatWeights().ema);
  });

  it('a training state loaded into a network with other parameters', async () => {
    const dir = fresh();
    using net = await trained(MLP, 1);
    const state = join(dir, 's.safetensors');
    await saveTrainingState(state, net, EXTRA);
    using small = createNetwork(preset('mlp', { features: 3, hidden: 16 }));
    await rejects(
      loadTrainingState(state, small),
      'ERR_PFGM_CHECKPOINT',
      state,
      /parameters, but this network has/,
      /Resume with the configuration/,
    );
    // Same count, other names: a renamed parameter in the file.
    const file = decodeSafetensors(readBytes(state));
    const layout = JSON.parse(file.metadata.params ?? '[]') as [string, number[]][];
    (layout[1] as [string, number[]])[0] = 'map_layer0.renamed';
    const renamed = join(dir, 'renamed.safetensors');
    writeFileSync(renamed, encodeSafetensors(file.tensors, { ...file.metadata, params: JSON.stringify(layout) }));
    const before = net.optimizerState();
    await rejects(loadTrainingState(renamed, net), 'ERR_PFGM_CHECKPOINT', /parameter #1/, /map_layer0\.renamed/);
    expectSameBits(net.optimizerState().adamM, before.adamM); // nothing was changed
    const extra = await loadTrainingState(state, net);
    expect(extra).toEqual(EXTRA);
  });

  it('checkpoint files that fail the marker: size, checksum, missing file, no marker, broken marker', async () => {
    const dir = fresh();
    using net = await trained(MLP, 1);
    const marker = await saveCheckpoint(dir, net, META, EXTRA);
    expect(await verifyCheckpoint(dir)).toEqual(marker);
    const model = join(dir, marker.files.model.file);
    const good = readFileSync(model);

    const flipped = Buffer.from(good);
    flipped[flipped.length - 10] = (flipped[flipped.length - 10] as number) ^ 1;
    writeFileSync(model, flipped);
    await rejects(loadCheckpoint(dir), 'ERR_PFGM_CHECKPOINT', model, /fails its checksum/);
    writeFileSync(model, good.subarray(0, good.length - 4));
    await rejects(loadCheckpoint(dir), 'ERR_PFGM_CHECKPOINT', model, /truncated or changed/);
    await rejects(loadModel(dir), 'ERR_PFGM_CHECKPOINT', /truncated or changed/);
    rmSync(model);
    await rejects(loadCheckpoint(dir), 'ERR_PFGM_CHECKPOINT', marker.files.model.file, /moved or deleted/);
    writeFileSync(model, good);
    expect((await verifyCheckpoint(dir)).generation).toBe(1);

    writeFileSync(join(dir, CHECKPOINT_MARKER), '{"format": "pfgm-checkpoint", "gen');
    await rejects(loadCheckpoint(dir), 'ERR_PFGM_CHECKPOINT', /marker .* is not JSON/);
    rmSync(join(dir, CHECKPOINT_MARKER));
    await rejects(loadCheckpoint(dir), 'ERR_PFGM_CHECKPOINT', dir, /no completed checkpoint/);
    await rejects(loadCheckpoint(join(dir, 'absent')), 'ERR_PFGM_CHECKPOINT', /does not exist/);
  });

  it('a write that cannot happen names the file and leaves nothing behind', async () => {
    const target = join(fresh(), 'no-such-dir', 'f.bin');
    await rejects(writeFileAtomic(target, new Uint8Array(4)), 'ERR_PFGM_CHECKPOINT', target, /could not write/);
  });
});

describe('crash safety', () => {
  const files = (dir: string) => readdirSync(dir).sort();

  it('a failure after the model or the state file keeps the previous checkpoint', async () => {
    const dir = fresh();
    using net = await trained(MLP, 1);
    const first = await saveCheckpoint(dir, net, META, { ...EXTRA, position: 1 });
    using reference = (await loadCheckpoint(dir)).net;
    await net.trainStep(randomData(4 * net.sampleSize, 50), STEP);
    for (const stage of ['model', 'state'] as const) {
      await expect(
        saveCheckpoint(
          dir,
          net,
          META,
          { ...EXTRA, position: 2 },
          {
            hook: (s) => {
              if (s === stage) throw new Error(`simulated crash after ${s}`);
            },
          },
        ),
      ).rejects.toThrow(/simulated crash/);
      const loaded = await loadCheckpoint(dir);
      expect(loaded.marker).toEqual(first);
      expect(loaded.extra.position).toBe(1);
      expectSameState(reference, loaded.net);
      loaded.net.dispose();
      expect(files(dir)).toEqual(
        [CHECKPOINT_MARKER, LATEST_MODEL, first.files.model.file, first.files.state.file].sort(),
      );
    }
    // A failure after the marker landed: the new checkpoint is the valid one.
    await expect(
      saveCheckpoint(
        dir,
        net,
        META,
        { ...EXTRA, position: 3 },
        {
          hook: (s) => {
            if (s === 'marker') throw new Error('simulated crash after marker');
          },
        },
      ),
    ).rejects.toThrow(/simulated crash/);
    const loaded = await loadCheckpoint(dir);
    using _ = loaded.net;
    expect(loaded.extra.position).toBe(3);
    expectSameState(net, loaded.net);
  });

  it('serialisation that fails touches no file', async () => {
    const dir = fresh();
    using net = await trained(MLP, 1);
    await saveCheckpoint(dir, net, META, EXTRA);
    const before = new Map(files(dir).map((f) => [f, readFileSync(join(dir, f))]));
    await rejects(saveCheckpoint(dir, net, META, { bad: 10n }), 'ERR_PFGM_ARGUMENT', /extra/);
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    await rejects(saveCheckpoint(dir, net, { ...META, circular }, EXTRA), 'ERR_PFGM_ARGUMENT', /meta\.circular/);
    expect(files(dir)).toEqual([...before.keys()]);
    for (const [f, b] of before) expect(readFileSync(join(dir, f)).equals(b)).toBe(true);
  });

  it('debris of a hard crash (partial next generation, temp files) is ignored, then removed by the next save', async () => {
    const dir = fresh();
    using net = await trained(MLP, 1);
    const first = await saveCheckpoint(dir, net, META, EXTRA);
    const model = readFileSync(join(dir, first.files.model.file));
    // What a crash can leave: a renamed but unreferenced next-generation file, temp files of a dead
    // process (pid beyond any pid_max), a half-written marker temp.
    writeFileSync(join(dir, 'model-000002.safetensors'), model.subarray(0, 1000));
    writeFileSync(join(dir, 'state-000002.safetensors.tmp-99999999-00aa11bb22cc'), 'partial');
    writeFileSync(join(dir, 'checkpoint.json.tmp-99999999-0123456789ab'), '{"format": "pfgm-che');
    const loaded = await loadCheckpoint(dir);
    expect(loaded.marker).toEqual(first);
    expectSameState(net, loaded.net);
    loaded.net.dispose();
    await net.trainStep(randomData(4 * net.sampleSize, 51), STEP);
    const next = await saveCheckpoint(dir, net, META, EXTRA);
    expect(next.generation).toBe(3);
    expect(files(dir)).toEqual(
      [CHECKPOINT_MARKER, LATEST_MODEL, 'model-000003.safetensors', 'state-000003.safetensors'].sort(),
    );
    using again = (await loadCheckpoint(dir)).net;
    expectSameState(net, again);
  });

  it('saves started together run one after another, each with the state at its call', async () => {
    const dir = fresh();
    using net = await trained(MLP, 1);
    const snapshot = net.flatWeights().raw;
    let firstRaw: Float32Array | undefined;
    const first = saveCheckpoint(
      dir,
      net,
      META,
      { ...EXTRA, position: 1 },
      {
        hook: async (stage) => {
          if (stage !== 'marker') return;
          const { net: m } = await loadModel(dir);
          firstRaw = m.flatWeights().raw;
          m.dispose();
        },
      },
    );
    await net.trainStep(randomData(4 * net.sampleSize, 53), STEP); // while the first save writes
    const second = saveCheckpoint(dir, net, META, { ...EXTRA, position: 2 });
    const [a, b] = await Promise.all([first, second]);
    expect([a.generation, b.generation]).toEqual([1, 2]);
    expectSameBits(firstRaw ?? new Float32Array(), snapshot);
    const loaded = await loadCheckpoint(dir);
    using _ = loaded.net;
    expect(loaded.extra.position).toBe(2);
    expectSameState(net, loaded.net);
    expect(bytesOf(snapshot).equals(bytesOf(loaded.net.flatWeights().raw))).toBe(false);
  });

  it('model.safetensors is the latest complete model; loadModel takes the directory too', async () => {
    const dir = fresh();
    using net = await trained(MLP, 1);
    await saveCheckpoint(dir, net, META, EXTRA);
    await net.trainStep(randomData(4 * net.sampleSize, 52), STEP);
    const second: CheckpointMarker = await saveCheckpoint(dir, net, META, EXTRA);
    expect(second.generation).toBe(2);
    const latest = readFileSync(join(dir, LATEST_MODEL));
    expect(latest.equals(readFileSync(join(dir, second.files.model.file)))).toBe(true);
    for (const path of [dir, join(dir, LATEST_MODEL)]) {
      const { net: m } = await loadModel(path);
      expectSameBits(m.flatWeights().ema, net.flatWeights().ema);
      expectSameBits(m.flatWeights().raw, net.flatWeights().raw);
      m.dispose();
    }
  });
});
