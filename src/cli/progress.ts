/**
 * How `pfgm train` reports ticks on stderr: a progress bar redrawn in place on a terminal, one
 * plain line per tick when stderr is a file or a pipe (so logs read well), nothing with --quiet.
 *
 * @internal
 * @module
 */
import type { TickStats } from '../train/trainer.js';

/** Where ticks go. */
export interface TickReporter {
  /** Reports one tick. */
  tick(t: TickStats): void;
  /** The run ended (normally or not): a bar is closed with its line break. */
  end(): void;
}

/** The reporter for `stream`: bar on a TTY, lines elsewhere, silent when `quiet`. */
export function tickReporter(
  totalKimg: number,
  options: { quiet: boolean; stream?: NodeJS.WriteStream },
): TickReporter {
  const stream = options.stream ?? process.stderr;
  if (options.quiet) return { tick: () => undefined, end: () => undefined };
  const eta = (t: TickStats) =>
    Math.round(t.imagesPerSecond > 0 ? ((totalKimg - t.kimg) * 1000) / t.imagesPerSecond : 0);
  const facts = (t: TickStats) =>
    `${t.kimg.toFixed(1)}/${totalKimg.toFixed(1)} kimg  loss ${t.loss.toFixed(4)}  ${t.imagesPerSecond.toFixed(0)} img/s  eta ${eta(t)} s`;
  if (!stream.isTTY) {
    return {
      tick: (t) => stream.write(`pfgm train: step ${t.step}  ${facts(t)}\n`),
      end: () => undefined,
    };
  }
  let drawn = false;
  return {
    tick: (t) => {
      const width = 24;
      const bar = '#'.repeat(Math.round(Math.min(1, t.kimg / totalKimg) * width)).padEnd(width, '.');
      stream.write(`\r[${bar}] ${facts(t)}   `);
      drawn = true;
    },
    end: () => {
      if (drawn) stream.write('\n');
      drawn = false;
    },
  };
}
