// Fuzzing the model file reader above the safetensors codec: mutations of a saved model file and
// edits of its metadata (config, precond, counters, version, the JSON-valued keys) either load a
// network or are refused with a coded PfgmError; never a raw TypeError or RangeError.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors } from '../../src/codecs/safetensors.js';
import { preset } from '../../src/models/config.js';
import { loadModel, saveModel } from '../../src/models/modelFile.js';
import { createNetwork } from '../../src/models/network.js';
import { fuzzRuns, mutationsOf, parsed, scratch } from '../helpers/fuzz.js';

const tmp = scratch('model');
afterAll(() => tmp.remove());
let valid: Uint8Array;
beforeAll(async () => {
  using net = createNetwork(preset('mlp', { features: 2, hidden: 8, numBlocks: 1 }), { D: 8, sigmaData: 1, seed: 2 });
  const path = tmp.file(new Uint8Array(0), '.safetensors');
  await saveModel(path, net, { objective: 'pfgmpp' });
  valid = new Uint8Array(readFileSync(path));
});

async function load(bytes: Uint8Array, what: string): Promise<void> {
  const path = tmp.file(bytes, '.safetensors');
  const model = await parsed(what, () => loadModel(path));
  model?.net.dispose();
}

describe('fuzz: model files', () => {
  it('mutations of a saved model file', async () => {
    await fc.assert(
      fc.asyncProperty(mutationsOf([valid]), (b) => load(b, 'mutated model file')),
      fuzzRuns(150),
    );
  });

  it('metadata edits', async () => {
    const file = decodeSafetensors(valid);
    const keys = Object.keys(file.metadata);
    const text = fc.oneof(
      fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v) ?? ''),
      fc.string({ maxLength: 8 }),
      fc.constantFrom('null', '{}', '[]', '1', '"x"', '{"$number":"NaN"}', '{"kind":"mlp"}'),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(), text, fc.boolean()), { minLength: 1, maxLength: 3 }), (edits) => {
        const metadata = { ...file.metadata };
        for (const [k, v, remove] of edits) {
          const key = keys[k % keys.length] as string;
          if (remove) delete metadata[key];
          else metadata[key] = v;
        }
        return load(encodeSafetensors(file.tensors, metadata), 'edited metadata');
      }),
      fuzzRuns(100),
    );
  });
});
