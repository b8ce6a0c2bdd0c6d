/**
 * What every `pfgm` command shares: parsing its flags, checking an output path before any work,
 * and turning any error into the one line the user sees (with the exit code).
 *
 * @internal
 * @module
 */
import type { Stats } from 'node:fs';
import { mkdir, rmdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import { PfgmError } from '../errors.js';
import { errnoCode, errorMessage } from '../io/files.js';
import type { DeviceOption } from '../tensor.js';

/** The flag options of one command, as `node:util`'s parseArgs takes them. */
export type CommandOptions = NonNullable<ParseArgsConfig['options']>;

/**
 * `--flag -1` as `--flag=-1` for the flags that take a value: parseArgs refuses a separate value
 * that starts with a dash, so a negative number would end in a parse error instead of the
 * option's own one-line message.
 */
export function joinNegativeValues(args: string[], takesValue: (name: string) => boolean): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    const next = args[i + 1];
    if (
      a.startsWith('--') &&
      !a.includes('=') &&
      takesValue(a.slice(2)) &&
      next !== undefined &&
      /^-(?:[\d.]|inf|Infinity|NaN)/i.test(next)
    ) {
      out.push(`${a}=${next}`);
      i++;
    } else {
      out.push(a);
    }
  }
  return out;
}

/**
 * A command's arguments ready for `node:util`'s parseArgs (strict: unknown flags and positional
 * arguments are errors), with `--flag -1` joined for the flags of `options` that take a value.
 */
export function commandArgs(args: string[], options: CommandOptions): string[] {
  return joinNegativeValues(args, (name) => options[name]?.type === 'string');
}

/** Why a path cannot be written, as words and a fix, from a system error code. */
function unwritable(flag: string, path: string, e: unknown): PfgmError {
  const code = errnoCode(e);
  const why =
    code === 'EACCES' || code === 'EPERM'
      ? 'permission denied'
      : code === 'EROFS'
        ? 'the file system is read-only'
        : code === 'ENOTDIR' || code === 'EEXIST'
          ? 'a part of the path is a file, not a directory'
          : code === 'ENOSPC'
            ? 'the disk is full'
            : errorMessage(e);
  return new PfgmError(
    'ERR_PFGM_ARGUMENT',
    `${flag} ${path}: cannot create this directory (${why}); choose a writable place`,
    { cause: e },
  );
}

/**
 * Makes sure `path` is a directory results can be written to, creating it (and its parents)
 * when missing: before any data is read, so a bad `--out` fails at once with one line.
 *
 * @throws PfgmError `ERR_PFGM_ARGUMENT` naming the flag when the path is an existing file or
 *   cannot be created or written.
 */
export async function outputDirectory(flag: string, path: string): Promise<void> {
  const info = await stat(path).catch(() => undefined);
  if (info !== undefined && !info.isDirectory()) {
    throw new PfgmError(
      'ERR_PFGM_ARGUMENT',
      `${flag} ${path}: this is an existing file, not a directory; name a directory (new or existing)`,
    );
  }
  // The missing directories, made one by one from the nearest existing one (mkdir's recursive
  // mode can loop forever under special file systems such as /proc).
  const missing: string[] = [];
  let at = resolve(path);
  for (;;) {
    const found = await stat(at).catch((e: unknown) => (errnoCode(e) === 'ENOENT' ? undefined : e));
    if (found instanceof Error) throw unwritable(flag, path, found);
    if (found !== undefined) {
      if (!(found as Stats).isDirectory())
        throw unwritable(flag, path, Object.assign(new Error('not a directory'), { code: 'ENOTDIR' }));
      break;
    }
    missing.unshift(at);
    const up = dirname(at);
    if (up === at) break;
    at = up;
  }
  for (const dir of missing) {
    try {
      await mkdir(dir);
    } catch (e) {
      if (errnoCode(e) !== 'EEXIST') throw unwritable(flag, path, e);
    }
  }
  // A directory that exists but cannot be written to fails at the first save otherwise.
  const probe = join(path, `.pfgm-write-test-${process.pid}`);
  try {
    await mkdir(probe);
  } catch (e) {
    throw unwritable(flag, path, e);
  }
  await rmdir(probe).catch(() => undefined);
}

/** What the CLI prints for a failure and the exit code it returns. */
export interface CliFailure {
  /** One line, without the trailing newline. */
  line: string;
  /** 1 for a failure, 2 for a usage error (bad or missing flags). */
  code: number;
}

/** One line: a message with its line breaks and runs of spaces folded. */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

/**
 * The one line and exit code of any error a command throws: a {@link PfgmError} with its code,
 * a flag parse error as a usage error (exit 2), a system error (a file that cannot be read or
 * written) with its path, and anything else as an unexpected error to report.
 */
export function describeFailure(error: unknown, command: string | undefined): CliFailure {
  const help = command === undefined ? "Run 'pfgm --help'." : `Run 'pfgm ${command} --help'.`;
  if (error instanceof PfgmError) return { line: `pfgm: ${oneLine(error.message)} [${error.code}]`, code: 1 };
  const code = errnoCode(error);
  if (code?.startsWith('ERR_PARSE_ARGS_')) {
    const message = oneLine(errorMessage(error)).replace(/\.$/, '');
    const missing = /^Option '(--?[\w-]+)(?: <value>)?' argument missing$/.exec(message);
    const text = missing !== null ? `${missing[1]} needs a value` : message;
    return { line: `pfgm: ${text}. ${help}`, code: 2 };
  }
  if (code !== undefined && /^E[A-Z]+$/.test(code)) {
    return { line: `pfgm: ${oneLine(errorMessage(error))}; check the path and its permissions`, code: 1 };
  }
  const name = error instanceof Error ? error.name : 'Error';
  return {
    line: `pfgm: unexpected ${name}: ${oneLine(errorMessage(error))} (a bug in pfgm: please report it with the command line; PFGM_DEBUG=1 prints the stack)`,
    code: 1,
  };
}

/**
 * A `--device` value: `auto`, `cpu`, `cuda` or `cuda:N` (GPU N, docs/cuda.md "Choosing a GPU");
 * undefined when the flag is absent. Whether the device exists is checked where the model loads.
 */
export function deviceFlag(value: string | undefined): DeviceOption | undefined {
  if (value === undefined) return undefined;
  if (value === 'auto' || value === 'cpu' || value === 'cuda' || /^cuda:\d+$/.test(value)) return value as DeviceOption;
  throw new PfgmError('ERR_PFGM_DEVICE', `--device ${value}: use auto, cpu, cuda or cuda:N (GPU N)`);
}

/** The help line of `--device`, the same in every command that has it. */
export const DEVICE_HELP =
  '  --device D           auto | cpu | cuda | cuda:N (GPU N; default auto, see docs/cuda.md)\n';
