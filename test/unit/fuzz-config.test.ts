// Fuzzing the JSON network configuration parser (`pfgm train --network FILE`, model files'
// metadata): arbitrary JSON, mutations of valid configurations' text and field edits either give
// a configuration that validates, or are refused with a coded PfgmError; never a raw TypeError.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  fromNativeConfig,
  type NetworkConfig,
  parseNetworkConfig,
  preset,
  toNativeConfig,
  validateNetworkConfig,
} from '../../src/models/config.js';
import { expectCoded, fuzzRuns, mutationsOf, parsed } from '../helpers/fuzz.js';

const configs: NetworkConfig[] = [
  preset('mlp'),
  preset('ddpmpp-small'),
  preset('ncsnpp-cifar10'),
  preset('adm-imagenet64'),
];
const texts = configs.flatMap((c) => [JSON.stringify(toNativeConfig(c)), JSON.stringify(c, null, 1)]);

function check(c: NetworkConfig | undefined): void {
  if (c === undefined) return;
  expect(validateNetworkConfig(c)).toBe(c);
  expect(['mlp', 'songunet', 'dhariwalunet']).toContain(c.kind);
}

const value = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.integer({ min: -2, max: 300 }),
  fc.constantFrom(
    0,
    1,
    0.5,
    1e300,
    -0,
    null,
    'mlp',
    'songunet',
    'dhariwalunet',
    'fourier',
    'skip',
    [],
    [1, 2],
    [0],
    [1.5],
    ['1'],
  ),
);

describe('fuzz: network config JSON', () => {
  it('the probe: null, arrays and scalars are coded errors', () => {
    for (const text of ['null', '[]', '1', '"mlp"', 'true', '{', '', '{"kind":"songunet","attn_resolutions":null}']) {
      try {
        parseNetworkConfig(text, 'x.json');
        throw new Error(`accepted ${text}`);
      } catch (e) {
        expectCoded(e, text);
        expect((e as Error).message).toMatch(/^x\.json/);
      }
    }
    for (const v of [null, [], 5, 'x']) {
      expect(() => fromNativeConfig(v as unknown as Record<string, unknown>)).toThrow(/expected a JSON object/);
      expect(() => validateNetworkConfig(v as unknown as NetworkConfig)).toThrow(/expected an object/);
    }
  });

  it('the valid texts parse back to their configurations', () => {
    for (const t of texts) check(parseNetworkConfig(t));
    expect(parseNetworkConfig(texts[2] as string)).toEqual(configs[1]);
  });

  it('arbitrary JSON', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (v) =>
        check(await parsed('JSON', () => parseNetworkConfig(JSON.stringify(v)))),
      ),
      fuzzRuns(300),
    );
  });

  it('field edits of valid configurations, in both spellings', async () => {
    const edit = fc.record({
      base: fc.constantFrom(...configs.flatMap((c) => [c as unknown as Record<string, unknown>, toNativeConfig(c)])),
      edits: fc.array(fc.tuple(fc.nat(), value, fc.boolean()), { minLength: 1, maxLength: 3 }),
    });
    await fc.assert(
      fc.asyncProperty(edit, async ({ base, edits }) => {
        const c: Record<string, unknown> = { ...base };
        const keys = Object.keys(c);
        for (const [k, v, remove] of edits) {
          const key = keys[k % keys.length] as string;
          if (remove) delete c[key];
          else c[key] = v;
        }
        check(await parsed('edited config', () => parseNetworkConfig(JSON.stringify(c))));
      }),
      fuzzRuns(600),
    );
  });

  it('mutations of the valid texts', async () => {
    const bytes = texts.map((t) => new TextEncoder().encode(t));
    await fc.assert(
      fc.asyncProperty(mutationsOf(bytes), async (b) =>
        check(await parsed('mutated text', () => parseNetworkConfig(new TextDecoder().decode(b)))),
      ),
      fuzzRuns(400),
    );
  });
});
