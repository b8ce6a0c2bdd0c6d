// The raw and EMA weights of a saved model, for tests that compare runs.
import { loadModel } from '../../src/models/modelFile.js';

/** The flat raw and EMA weights a model file (or checkpoint directory) holds. */
export async function savedWeights(dir: string): Promise<{ raw: Float32Array; ema: Float32Array }> {
  const raw = await loadModel(dir, { weights: 'raw' });
  const ema = await loadModel(dir, { weights: 'ema' });
  try {
    return { raw: raw.net.flatWeights().raw, ema: ema.net.flatWeights().raw };
  } finally {
    raw.net.dispose();
    ema.net.dispose();
  }
}
