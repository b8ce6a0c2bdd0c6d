/**
 * `pfgm eval --ckpt-dir RUN`: the snapshots `pfgm train --snapshot-every` keeps, found and ordered
 * by kimg, and the table and plots of their metrics (the curve this field picks snapshots by).
 *
 * @internal
 * @module
 */
import { readdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { PfgmError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { linePlot } from '../viz/lines.js';

/** `network-snapshot-<kimg with 3 decimals, 10 wide>.safetensors`, sortable by name. */
export function snapshotName(kimg: number): string {
  return `network-snapshot-${kimg.toFixed(3).padStart(10, '0')}.safetensors`;
}

const SNAPSHOT = /^network-snapshot-(\d+(?:\.\d+)?)\.safetensors$/;

/** The snapshots in `dir`, by kimg. */
export async function listSnapshots(dir: string): Promise<{ kimg: number; file: string }[]> {
  const names = await readdir(dir).catch((e: unknown) => {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `--ckpt-dir ${dir}: cannot list it (${(e as Error).message})`);
  });
  const found = names
    .map((n) => ({ n, m: SNAPSHOT.exec(n) }))
    .filter((x) => x.m !== null)
    .map((x) => ({ kimg: Number(x.m?.[1]), file: join(dir, x.n) }))
    .sort((a, b) => a.kimg - b.kimg);
  if (found.length === 0) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `--ckpt-dir ${dir}: no network-snapshot-*.safetensors files; train with pfgm train --snapshot-every n to keep them`,
    );
  }
  return found;
}

/** One evaluated snapshot. */
export interface SweepRow {
  kimg: number;
  file: string;
  metrics: Record<string, number>;
}

/**
 * Writes `snapshot-metrics.csv` (kimg, file, one column per metric) and one
 * `snapshot-<metric>.png` plot of the metric against kimg per metric into `dir`; returns the
 * paths written.
 */
export async function writeSweep(dir: string, rows: readonly SweepRow[]): Promise<string[]> {
  const names = [...new Set(rows.flatMap((r) => Object.keys(r.metrics)))];
  const csv = [
    ['kimg', 'file', ...names].join(','),
    ...rows.map((r) => [r.kimg, r.file, ...names.map((m) => r.metrics[m] ?? '')].join(',')),
  ].join('\n');
  const table = join(dir, 'snapshot-metrics.csv');
  await writeFileAtomic(table, `${csv}\n`);
  const written = [table];
  for (const m of names) {
    const points = rows.filter((r) => Number.isFinite(r.metrics[m]));
    if (points.length === 0) continue;
    const png = linePlot([{ name: m, x: points.map((r) => r.kimg), y: points.map((r) => r.metrics[m] as number) }], {
      title: `${m} against training (${basename(resolve(dir))})`,
      xLabel: 'kimg',
      yLabel: m,
      markers: true,
      legend: false,
    });
    const file = join(dir, `snapshot-${m}.png`);
    await writeFileAtomic(file, png);
    written.push(file);
  }
  return written;
}
