/**
 * The robustness experiments of PFGM++ (Sec. 6; docs/method.md §4): for models that differ only in D,
 * how sample quality degrades under (a) noise injected at every sampler step,
 * `x <- x + alpha sigma_i eps`; (b) fewer Heun steps; (c) post-training weight quantization to a
 * few bits (uniform per-tensor min-max). Small D is expected to degrade least.
 *
 * @module
 */
import { PfgmError } from '../errors.js';
import type { Network } from '../models/network.js';
import { quantizeWeights } from '../models/quantize.js';
import { sample } from '../sample/sample.js';
import { linePlot } from '../viz/lines.js';

/** Which perturbation a row of the results varies. */
export type RobustnessSweep = 'alpha' | 'nfe' | 'bits';

/** One measured configuration. */
export interface RobustnessRow {
  /** The model's D (Infinity = EDM). */
  D: number;
  /** The swept quantity. */
  sweep: RobustnessSweep;
  /** Its value: alpha, NFE, or bits (Infinity = unquantized fp32). */
  value: number;
  /** Network evaluations of the sampler run. */
  nfe: number;
  /** The quality metric of the samples (lower is better). */
  metric: number;
}

/** Options of {@link robustnessSweeps}. */
export interface RobustnessOptions {
  /** Noise-injection strengths (default 0, 0.1, 0.2, the paper's). */
  alphas?: readonly number[];
  /** Heun step counts n of the NFE sweep, NFE = 2n - 1 (default 10, 14, 18, 24: NFE 19-47). */
  steps?: readonly number[];
  /** Quantization bits (default 5, 6, 7, 8, 9, the paper's). */
  bits?: readonly number[];
  /** Heun steps of the alpha and bits sweeps (default 18, NFE 35). */
  baseSteps?: number;
  /** Samples per configuration. */
  count: number;
  /** Seed of the prior draws and injected noise (default 0): every configuration uses the same. */
  seed?: number;
  /** Largest sigma of the prior and schedule (default 80). */
  sigmaMax?: number;
  /** Quality of a batch of samples, lower is better (e.g. FD in a classifier's features). */
  metric: (samples: Float32Array, count: number) => Promise<number>;
  /** Called after every configuration. */
  onRow?: (row: RobustnessRow) => void;
  /** Stops between configurations. */
  signal?: AbortSignal;
}

/**
 * Runs the three sweeps on one trained network (its EMA weights), restoring its weights after the
 * quantization sweep.
 */
export async function robustnessSweeps(net: Network, options: RobustnessOptions): Promise<RobustnessRow[]> {
  if (net.objective !== 'pfgmpp') {
    throw new PfgmError('ERR_PFGM_ARGUMENT', "the robustness experiments compare D with the 'pfgmpp' objective");
  }
  const alphas = options.alphas ?? [0, 0.1, 0.2];
  const stepsList = options.steps ?? [10, 14, 18, 24];
  const bitsList = options.bits ?? [5, 6, 7, 8, 9];
  const baseSteps = options.baseSteps ?? 18;
  const seed = options.seed ?? 0;
  const rows: RobustnessRow[] = [];
  const run = async (sweep: RobustnessSweep, value: number, steps: number, alpha: number) => {
    options.signal?.throwIfAborted();
    const { x, nfe } = await sample(net, {
      count: options.count,
      steps,
      solver: 'heun',
      seed,
      sigmaMax: options.sigmaMax,
      noiseInjection: alpha > 0 ? { alpha, seed: seed + 1 } : undefined,
      signal: options.signal,
    });
    const row: RobustnessRow = { D: net.D, sweep, value, nfe, metric: await options.metric(x, options.count) };
    rows.push(row);
    options.onRow?.(row);
  };
  for (const alpha of alphas) await run('alpha', alpha, baseSteps, alpha);
  for (const steps of stepsList) await run('nfe', 2 * steps - 1, steps, 0);
  const saved = net.flatWeights();
  try {
    for (const bits of bitsList) {
      quantizeWeights(net, bits, { weights: 'ema' });
      await run('bits', bits, baseSteps, 0);
      net.loadFlatWeights(saved);
    }
  } finally {
    net.loadFlatWeights(saved);
  }
  return rows;
}

/** The rows as a Markdown table: one line per (sweep, value), one column per D. */
export function robustnessTable(rows: readonly RobustnessRow[], metricName: string): string {
  const Ds = [...new Set(rows.map((r) => r.D))].sort((a, b) => a - b);
  const name = (D: number) => (Number.isFinite(D) ? `D = ${D}` : 'D = inf');
  const lines = [`| sweep | value | NFE | ${Ds.map((D) => `${metricName} ${name(D)}`).join(' | ')} |`];
  lines.push(`|---|---|---|${Ds.map(() => '---').join('|')}|`);
  const keys = [...new Set(rows.map((r) => `${r.sweep}\u0000${r.value}`))];
  for (const key of keys) {
    const [sweep, value] = key.split('\u0000') as [RobustnessSweep, string];
    const some = rows.find((r) => r.sweep === sweep && String(r.value) === value) as RobustnessRow;
    const cells = Ds.map((D) => {
      const r = rows.find((x) => x.D === D && x.sweep === sweep && String(x.value) === value);
      return r === undefined ? '' : r.metric.toPrecision(4);
    });
    const label = sweep === 'alpha' ? 'noise alpha' : sweep === 'nfe' ? 'Heun NFE' : 'weight bits';
    lines.push(`| ${label} | ${value} | ${some.nfe} | ${cells.join(' | ')} |`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * One PNG line plot per sweep: the metric against alpha, NFE or bits, one line per D. Bits plot
 * only the quantized runs (the fp32 value is the alpha = 0 row).
 */
export function robustnessPlots(
  rows: readonly RobustnessRow[],
  metricName: string,
): Record<RobustnessSweep, Uint8Array> {
  const Ds = [...new Set(rows.map((r) => r.D))].sort((a, b) => a - b);
  const plot = (sweep: RobustnessSweep, title: string, xLabel: string) => {
    const series = Ds.map((D) => {
      const own = rows.filter((r) => r.D === D && r.sweep === sweep).sort((a, b) => a.value - b.value);
      return { name: Number.isFinite(D) ? `D=${D}` : 'D=inf', x: own.map((r) => r.value), y: own.map((r) => r.metric) };
    }).filter((s) => s.x.length > 0);
    return linePlot(series, { title, xLabel, yLabel: metricName });
  };
  return {
    alpha: plot('alpha', 'Noise injected at every step', 'alpha'),
    nfe: plot('nfe', 'Fewer sampling steps (Heun)', 'NFE'),
    bits: plot('bits', 'Post-training weight quantization', 'bits'),
  };
}
