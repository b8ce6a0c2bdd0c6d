/**
 * The weights of a model file checked tensor by tensor against a network (names, shapes, float
 * types, the constant resample filters) and gathered into its flat buffers; every problem is
 * listed in one `ERR_PFGM_CHECKPOINT` error (docs/training.md, "Files").
 *
 * @internal
 * @module
 */
import { floatValues, isFloatDtype, type SafetensorsFile } from '../codecs/safetensors.js';
import type { Network, ParameterInfo } from './network.js';
import { canonical, describeConfig, fail } from './pfgmFiles.js';
import { resampleFilters } from './resampleFilters.js';

/** Checks every tensor of a model file against the network and gathers the flat weight sets. */
export function weightsFromFile(
  path: string,
  file: SafetensorsFile,
  net: Network,
): { ema: Float32Array; raw: Float32Array | undefined; buffers: Float32Array } {
  const params = net.parameters();
  const bufferInfo = net.buffers();
  const filters = resampleFilters(net.config);
  const paramNames = new Set(params.map((p) => p.name));
  const bufferNames = new Set(bufferInfo.map((b) => b.name));
  const missing: string[] = [];
  const wrong: string[] = [];
  const unexpected: string[] = [];
  // EDM's state dicts name the network `model.` inside its wrapper: read without it if that fits.
  const stripModel =
    ![...paramNames].some((n) => file.tensors.has(n)) && [...paramNames].some((n) => file.tensors.has(`model.${n}`));
  const tensors = stripModel
    ? new Map([...file.tensors].map(([k, v]) => [k.startsWith('model.') ? k.slice(6) : k, v] as const))
    : file.tensors;
  const hasRaw = [...tensors.keys()].some((k) => k.startsWith('raw.') && paramNames.has(k.slice(4)));

  const fill = (list: ParameterInfo[], prefix: string): Float32Array => {
    const flat = new Float32Array(list.reduce((n, p) => Math.max(n, p.offset + p.numel), 0));
    for (const p of list) {
      const name = prefix + p.name;
      const t = tensors.get(name);
      if (t === undefined) missing.push(name);
      else if (!isFloatDtype(t.dtype)) wrong.push(`${name} is ${t.dtype}, expected F32 (or F16, BF16, F64)`);
      else if (canonical(t.shape) !== canonical(p.shape))
        wrong.push(`${name} has shape [${t.shape}], expected [${p.shape}]`);
      else flat.set(floatValues(t), p.offset);
    }
    return flat;
  };
  const ema = fill(params, '');
  const raw = hasRaw ? fill(params, 'raw.') : undefined;
  const buffers = fill(bufferInfo, '');

  for (const [name, t] of tensors) {
    const base = name.startsWith('raw.') ? name.slice(4) : name;
    if (paramNames.has(base)) continue;
    if (bufferNames.has(base)) continue; // a `raw.` copy of a buffer (a Python writer's) is ignored
    const f = filters.get(base);
    if (f === undefined) {
      unexpected.push(name);
      continue;
    }
    const values = floatValues(t);
    const same =
      canonical(t.shape) === canonical(f.shape) &&
      values.length === f.data.length &&
      f.data.every((v, i) => Math.abs(Number(values[i]) - v) <= 1e-6);
    if (!same)
      wrong.push(
        `${name} does not equal the resampleFilter [${net.config.kind === 'songunet' ? net.config.resampleFilter : net.config.kind === 'dhariwalunet' ? '1,1' : ''}] of the config`,
      );
  }

  if (missing.length + wrong.length + unexpected.length > 0) {
    const list = (what: string, names: string[]) =>
      names.length === 0
        ? []
        : [`${what} (${names.length}): ${names.slice(0, 5).join('; ')}${names.length > 5 ? '; ...' : ''}`];
    fail(
      `'${path}' does not fit the network ${describeConfig(net.config)}: ${[
        ...list('missing tensors', missing),
        ...list('wrong tensors', wrong),
        ...list('unexpected tensors', unexpected),
      ].join(
        '. ',
      )}. The file holds a different network or was cut short: load it with the config it was trained with (options.config for a file without pfgm metadata), or re-export it`,
    );
  }
  return { ema, raw, buffers };
}
