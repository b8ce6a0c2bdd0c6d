/**
 * The `pfgm` command line: thin — parse, call the API, print (docs/dev/architecture.md, "Layers").
 *
 * @module
 */
import { parseArgs } from 'node:util';
import { getDeviceInfo } from '../addon/load.js';
import { VERSION } from '../version.js';
import { commandArgs, describeFailure } from './args.js';
import { BENCH_HELP, benchCommand } from './bench.js';
import { BUILD_HELP, buildCommand } from './build.js';
import { EVAL_HELP, evalCommand } from './eval.js';
import { EXPERIMENT_HELP, experimentCommand } from './experiment.js';
import { formatDeviceInfo, inceptionDevice, networkSummary } from './info.js';
import { SAMPLE_HELP, sampleCommand } from './sample.js';
import { SERVE_HELP, serveCommand } from './serve.js';
import { TRAIN_HELP, trainCommand } from './train.js';

const HELP = `pfgm ${VERSION} — Poisson Flow generative models (PFGM, PFGM++, EDM) for Node.js

Usage: pfgm <command> [options]

Commands:
  info [--json]     which backend is in use (CUDA or CPU) and why; CPU threads, oneDNN, GPU
  train             train a model on images or vectors (pfgm train --help)
  sample            draw samples from a trained model (pfgm sample --help)
  serve             serve samples over HTTP (pfgm serve --help)
  eval              measure a model's samples against real data (pfgm eval --help)
  experiment        the PFGM++ robustness experiments (pfgm experiment robustness --help)
  bench             time training and sampling here, against PyTorch with --torch (pfgm bench --help)
  build             build the native addon from source (needs cmake, g++, libdnnl-dev; pfgm build --help)

Options:
  -h, --help        show this help (also: pfgm <command> --help)
  -v, --version     print the version

Environment:
  PFGM_DEVICE=cpu|cuda|auto   force a backend (default auto: CUDA when a GPU is usable)
  PFGM_ADDON_DIR=dir          load the addons from dir instead of @pfgm/* or build/Release
  OMP_NUM_THREADS=n           CPU threads of the native engine
  PFGM_MEMORY_BYTES=n         memory a training batch may use (default: the free memory; 0: no check)
  PFGM_PNG_MAX_PIXELS=n       largest PNG image decoded (default 67108864, 64 Mpx)
  PFGM_DEBUG=1                print the stack trace of an unexpected error

Docs: README.md and docs/ in the package.
`;

const COMMAND_HELP: Record<string, string> = {
  train: TRAIN_HELP,
  sample: SAMPLE_HELP,
  serve: SERVE_HELP,
  eval: EVAL_HELP,
  experiment: EXPERIMENT_HELP,
  bench: BENCH_HELP,
  build: BUILD_HELP,
  info: `Usage: pfgm info [--json]

Prints which native build pfgm loaded (CUDA or CPU), from where (a prebuilt @pfgm/* package, a
local build, PFGM_ADDON_DIR) and why, the CPU engine (OpenMP threads, oneDNN version and
instruction set), the GPU when there is one, where the prebuilt CUDA build found cuDNN and
cuBLAS (or what to install), where FID's Inception-v3 runs (pfgm eval: CUDA in fp32 when networks
run there, else the CPU), and the network kinds and presets the engine builds.

  --json    print the same as one JSON object (inceptionDevice: 'cpu' or 'cuda')
`,
};

async function info(args: string[]): Promise<void> {
  const options = { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } as const;
  const { values } = parseArgs({ args: commandArgs(args, options), options });
  if (values.help) {
    process.stdout.write(COMMAND_HELP.info ?? '');
    return;
  }
  const device = getDeviceInfo();
  const json = { ...device, inceptionDevice: inceptionDevice(device), networks: networkSummary() };
  process.stdout.write(values.json ? `${JSON.stringify(json, null, 2)}\n` : formatDeviceInfo(device, VERSION));
}

/** Runs the CLI with `argv` (without node and the script). Resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(HELP);
        return 0;
      case '-v':
      case '--version':
        process.stdout.write(`${VERSION}\n`);
        return 0;
      case 'info':
        await info(rest);
        return 0;
      case 'train':
        return await trainCommand(rest);
      case 'sample':
        return await sampleCommand(rest);
      case 'serve':
        return await serveCommand(rest);
      case 'eval':
        return await evalCommand(rest);
      case 'experiment':
        return await experimentCommand(rest);
      case 'bench':
        return await benchCommand(rest);
      case 'build':
        return buildCommand(rest);
      default:
        process.stderr.write(`pfgm: unknown command '${command}'. Run 'pfgm --help' for the list.\n`);
        return 2;
    }
  } catch (error) {
    const failure = describeFailure(error, command);
    process.stderr.write(`${failure.line}\n`);
    if (process.env.PFGM_DEBUG === '1' && error instanceof Error && error.stack !== undefined)
      process.stderr.write(`${error.stack}\n`);
    return failure.code;
  }
}

/**
 * The `pfgm` program: {@link main}, plus a last resort for an error that escapes it (a rejection
 * no command awaited): one line and exit code 1 instead of Node's stack trace.
 */
export async function runCli(argv: string[]): Promise<number> {
  const last = (error: unknown) => {
    process.stderr.write(`${describeFailure(error, argv[0]).line}\n`);
    process.exit(1);
  };
  process.on('uncaughtException', last);
  process.on('unhandledRejection', last);
  return main(argv);
}
