// The TypeScript tree's layers point only down. Every file under src/ belongs to one layer; a file
// may import from its own layer and the layers below it, never from one above. Bottom to top:
//
//   base         src/errors.ts, src/version.ts, src/validate.ts   errors, the version, argument checks
//   codecs       src/codecs/        byte formats: PNG, ZIP, safetensors, NPY, CRC-32
//   io           src/io/            file plumbing: atomic writes, fsync, small fs helpers
//   data         src/data/          datasets (read through the codecs)
//   addon        src/addon/         loading the native addon, its types
//   tensor       src/tensor.ts      Tensor over the addon
//   physics      src/physics/       the PFGM++ perturbation kernel, priors, schedules, streams
//   distributed  src/distributed/   data-parallel groups: launchers' environments, Gloo/NCCL
//   models       src/models/        networks, their configs, the model file and checkpoint marker
//   sample       src/sample/        solvers and samplers
//   train        src/train/         Trainer, training-state files, checkpoint directories
//   eval         src/eval/          distances, likelihood, metrics, Inception, the classifier
//   viz          src/viz/           PNG plots, grids, the font, writing samples
//   experiments  src/experiments/   studies built on the API
//   bench        src/bench/         timing training and sampling, the PyTorch twin
//   serve        src/serve/         the HTTP server over the Sampler
//   cli          src/cli/           the `pfgm` command
//   index        src/index.ts       the public API
//
// Type-only imports count too: a layer must make sense without the ones above it. The same order
// is described in docs/dev/architecture.md ("TypeScript layers"). The second test keeps files small: a
// file under src/ over MAX_LINES lines says why near its top, in a comment with "over 600 lines".
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const SRC = join(ROOT, 'src');
const MAX_LINES = 600;

/** Layers bottom to top; each is a list of paths relative to src/ (a folder ends with `/`). */
const LAYERS: readonly (readonly [string, readonly string[]])[] = [
  ['base', ['errors.ts', 'version.ts', 'validate.ts']],
  ['codecs', ['codecs/']],
  ['io', ['io/']],
  ['data', ['data/']],
  ['addon', ['addon/']],
  ['tensor', ['tensor.ts']],
  ['physics', ['physics/']],
  ['distributed', ['distributed/']],
  ['models', ['models/']],
  ['sample', ['sample/']],
  ['train', ['train/']],
  ['eval', ['eval/']],
  ['viz', ['viz/']],
  ['experiments', ['experiments/']],
  ['bench', ['bench/']],
  ['serve', ['serve/']],
  ['cli', ['cli/']],
  ['index', ['index.ts']],
];

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (path !== join(SRC, 'native')) out.push(...tsFiles(path));
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** The layer index of a file (absolute path), or -1 when no layer claims it. */
function layerOf(file: string): number {
  const rel = relative(SRC, file).split(sep).join('/');
  return LAYERS.findIndex(([, paths]) => paths.some((p) => (p.endsWith('/') ? rel.startsWith(p) : rel === p)));
}

/** Relative module specifiers of a file: static imports, `export ... from` and `import('...')`. */
function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return info.importedFiles.map((f) => f.fileName).filter((name) => name.startsWith('.'));
}

/** The .ts file a relative `.js` specifier names. */
function target(from: string, specifier: string): string {
  return resolve(dirname(from), specifier.replace(/\.js$/, '.ts'));
}

const files = tsFiles(SRC);

describe('TypeScript layers', () => {
  it('finds the source files', () => {
    expect(files.length).toBeGreaterThan(50);
  });

  it('places every file under src/ in a layer', () => {
    const unplaced = files.filter((f) => layerOf(f) < 0).map((f) => relative(ROOT, f));
    expect(unplaced, 'add these to LAYERS (and to docs/dev/architecture.md)').toEqual([]);
  });

  it('imports only from the same layer or the layers below', () => {
    const upward: string[] = [];
    for (const file of files) {
      const own = layerOf(file);
      for (const specifier of importsOf(file)) {
        const to = target(file, specifier);
        const layer = layerOf(to);
        if (layer > own) {
          const name = (i: number) => LAYERS[i]?.[0] ?? '?';
          upward.push(`${relative(ROOT, file)} (${name(own)}) imports ${relative(ROOT, to)} (${name(layer)})`);
        }
      }
    }
    expect(upward).toEqual([]);
  });

  it('sees static, re-exporting, type-only and dynamic imports', () => {
    const source = [
      "import { a } from './a.js';",
      "import type { B } from '../b.js';",
      "export { c } from './c.js';",
      "export * from './d.js';",
      "const e = await import('./e.js');",
      "import {\n  f,\n  g,\n} from './fg.js';",
    ].join('\n');
    const names = ts.preProcessFile(source, true, true).importedFiles.map((f) => f.fileName);
    expect(names.sort()).toEqual(['../b.js', './a.js', './c.js', './d.js', './e.js', './fg.js']);
  });
});

describe('file size', () => {
  it(`keeps files under src/ to ${MAX_LINES} lines, or says why at the top`, () => {
    const long: string[] = [];
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
      const head = text.split('\n').slice(0, 12).join('\n');
      if (lines > MAX_LINES && !/over 600 lines/i.test(head)) long.push(`${relative(ROOT, file)}: ${lines} lines`);
    }
    expect(long, 'split these files, or give the reason near the top ("over 600 lines because ...")').toEqual([]);
  });
});
