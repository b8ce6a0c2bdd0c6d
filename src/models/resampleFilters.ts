/**
 * The constant `*.resample_filter` buffers of EDM's U-Nets, which pfgm computes from the
 * configuration instead of storing: the model file writes them so that its default tensor set is a
 * complete EDM state dict, and checks them when a file has them.
 *
 * @module
 */
import type { NetworkConfig } from './config.js';

/**
 * The constant FIR filters EDM's U-Nets register as `<conv>.resample_filter` buffers on their
 * up/down convolutions (EDM: outer(f, f) / sum(f)^2, shape [1, 1, k, k]), by name. The ADM network
 * (DhariwalUNet) resamples with [1, 1], its weightless skips included.
 */
export function resampleFilters(c: NetworkConfig): Map<string, { shape: number[]; data: Float32Array }> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  if (c.kind === 'mlp') return out;
  const song = c.kind === 'songunet';
  const f = (song ? c.resampleFilter : [1, 1]).map((v) => Math.fround(v));
  const k = f.length;
  const norm = Math.fround(Math.fround(f.reduce((a, b) => Math.fround(a + b), 0)) ** 2);
  const data = new Float32Array(k * k);
  for (let i = 0; i < k; i++)
    for (let j = 0; j < k; j++) data[i * k + j] = Math.fround((f[i] as number) * (f[j] as number)) / norm;
  const modules: string[] = [];
  const levels = c.channelMult.length;
  for (let level = 1; level < levels; level++) {
    const r = c.imgResolution >> level;
    modules.push(`enc.${r}x${r}_down.conv0`, `enc.${r}x${r}_down.skip`);
    if (song && c.encoderType === 'skip') modules.push(`enc.${r}x${r}_aux_down`);
    if (song && c.encoderType === 'residual') modules.push(`enc.${r}x${r}_aux_residual`);
  }
  for (let level = levels - 1; level >= 0; level--) {
    const r = c.imgResolution >> level;
    if (level !== levels - 1) modules.push(`dec.${r}x${r}_up.conv0`, `dec.${r}x${r}_up.skip`);
    if (song && c.decoderType === 'skip' && level < levels - 1) modules.push(`dec.${r}x${r}_aux_up`);
  }
  for (const m of modules) out.set(`${m}.resample_filter`, { shape: [1, 1, k, k], data });
  return out;
}
