/**
 * `pfgm serve`: an HTTP server that samples a model file on request ({@link SampleServer}); this
 * file parses, prints and handles SIGTERM/SIGINT (finish the requests in flight, then exit 0).
 *
 * @module
 */
import { parseArgs } from 'node:util';
import { PfgmError } from '../errors.js';
import { loadModel } from '../models/modelFile.js';
import { isLoopback, SampleServer } from '../serve/server.js';
import { commandArgs, DEVICE_HELP, deviceFlag } from './args.js';

/** The help text of `pfgm serve`. */
export const SERVE_HELP = `Usage: pfgm serve --ckpt FILE [options]

Serves samples of a trained model over HTTP (docs/sampling.md, "Serving"). Concurrent requests
that share a solver and a schedule are integrated together, one batch per ODE step.

  POST /v1/samples   {"count", "seed" | "seeds", "steps", "solver", "class", "guidance",
                      "format": "json" | "npy" | "png"} -> the samples
  GET  /v1/model     network, parameters, D, sample shape, classes, limits
  GET  /healthz      200 while serving, 503 while shutting down
  GET  /metrics      Prometheus text: requests by status, queue length, samples, samples/s

Options:
  --ckpt FILE|NAME     the model file (EMA weights are used), or fashion-mnist: the model that
                       ships with pfgm (docs/shipped-model.md)
  --host H             address to bind (default 127.0.0.1; any other prints a warning: the
                       server has no authentication)
  --port n             port (default 8080; 0 picks a free one, printed)
  --max-batch n        most samples integrated together (default 128)
  --max-queue n        most requests held at once; more get 503 (default 256)
  --max-count n        most samples per request (default 256)
  --max-steps n        most solver steps per request (default 1000)
${DEVICE_HELP}  -h, --help           this help

SIGTERM or SIGINT: new requests get 503, those in flight finish, then the server exits 0.
`;

function integer(name: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (!Number.isInteger(v) || v < min)
    throw new PfgmError('ERR_PFGM_ARGUMENT', `--${name} must be an integer >= ${min}, got '${text}'`);
  return v;
}

/** Runs `pfgm serve` until SIGTERM or SIGINT; resolves to the exit code. */
export async function serveCommand(args: string[]): Promise<number> {
  const options = {
    ckpt: { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
    'max-batch': { type: 'string' },
    'max-queue': { type: 'string' },
    'max-count': { type: 'string' },
    'max-steps': { type: 'string' },
    device: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  } as const;
  const { values } = parseArgs({ args: commandArgs(args, options), options });
  if (values.help) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  if (values.ckpt === undefined)
    throw new PfgmError('ERR_PFGM_ARGUMENT', 'pfgm serve needs --ckpt FILE (a model file)');
  const host = values.host ?? '127.0.0.1';
  const port = integer('port', values.port, 0) ?? 8080;
  if (port > 65535) throw new PfgmError('ERR_PFGM_ARGUMENT', `--port must be at most 65535, got ${port}`);
  const { net } = await loadModel(values.ckpt, { weights: 'ema', device: deviceFlag(values.device) });
  try {
    const server = new SampleServer(net, {
      host,
      port,
      maxBatch: integer('max-batch', values['max-batch'], 1),
      maxQueue: integer('max-queue', values['max-queue'], 1),
      maxCount: integer('max-count', values['max-count'], 1),
      maxSteps: integer('max-steps', values['max-steps'], 1),
    });
    const { url } = await server.listen();
    // The handlers are in place before the address is printed: a supervisor that reads it may
    // signal at once.
    const stopped = new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        process.off('SIGTERM', onTerm);
        process.off('SIGINT', onInt);
        process.stderr.write(`pfgm serve: ${signal}: finishing ${server.inFlight} request(s) in flight\n`);
        server.close().then(resolve, resolve);
      };
      const onTerm = () => stop('SIGTERM');
      const onInt = () => stop('SIGINT');
      process.on('SIGTERM', onTerm);
      process.on('SIGINT', onInt);
    });
    if (!isLoopback(host))
      process.stderr.write(
        `pfgm serve: warning: bound to ${host}, reachable from other machines; the server has no authentication or TLS (put it behind a proxy that has)\n`,
      );
    process.stderr.write(
      `pfgm serve: ${net.config.kind} model, ${net.paramCount} parameters, D ${net.D}, listening on ${url}\n`,
    );
    await stopped;
    process.stderr.write('pfgm serve: stopped\n');
    return 0;
  } finally {
    net.dispose();
  }
}
