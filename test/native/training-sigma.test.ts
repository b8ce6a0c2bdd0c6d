// docs/method.md §2.2: ln sigma ~ N(P_mean, P_std^2).
import { describe, expect, it } from 'vitest';
import { sampleTrainingSigma } from '../../src/index.js';
import { ksTest, normalCdf } from '../helpers/stats.js';

describe('sampleTrainingSigma', () => {
  it("follows EDM's log-normal with the defaults and custom parameters", async () => {
    const s = await (await sampleTrainingSigma({ count: 20000, seed: 6, dtype: 'f64' })).data();
    const logs = Array.from(s, Math.log);
    expect(ksTest(logs, (v) => normalCdf((v + 1.2) / 1.2)).p).toBeGreaterThan(1e-3);
    expect(ksTest(logs, (v) => normalCdf((v + 1.1) / 1.2)).p).toBeLessThan(1e-4);
    const c = await (await sampleTrainingSigma({ count: 20000, seed: 7, pMean: 0.5, pStd: 0.3 })).data();
    expect(ksTest(Array.from(c, Math.log), (v) => normalCdf((v - 0.5) / 0.3)).p).toBeGreaterThan(1e-3);
  });
});
