/**
 * `pfgm serve`'s HTTP server over a {@link Sampler}, on `node:http` alone: `POST /v1/samples`,
 * `GET /v1/model`, `GET /healthz` and `GET /metrics` (Prometheus text). Concurrent requests are
 * batched by the Sampler; its queue bound answers 503 rather than growing. {@link SampleServer.close}
 * finishes the requests in flight (new ones get 503) before it resolves.
 *
 * @module
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PfgmError } from '../errors.js';
import { Network } from '../models/network.js';
import { Sampler } from '../sample/sampler.js';
import { solverNames } from '../sample/solvers.js';
import type { Sampleable } from '../sample/types.js';
import { encodeSamples, HttpError, parseSamplesBody, servedShape } from './request.js';

/** Options of a {@link SampleServer}. */
export interface SampleServerOptions {
  /** Address to bind (default `127.0.0.1`: loopback only). */
  host?: string;
  /** Port (default 8080; 0 picks a free one). */
  port?: number;
  /** Most samples integrated together (the Sampler's `maxBatch`, default 128). */
  maxBatch?: number;
  /** Most requests held at once (the Sampler's `maxQueue`, default 256); more get 503. */
  maxQueue?: number;
  /** Most samples per request (default 256). */
  maxCount?: number;
  /** Most solver steps per request (default 1000). */
  maxSteps?: number;
  /** Largest request body in bytes (default 65536); larger ones get 413. */
  maxBodyBytes?: number;
  /** What `GET /v1/model` reports as `network` (default: the network's kind, or `ideal`). */
  networkName?: string;
}

/** Where a {@link SampleServer} listens. */
export interface ServerAddress {
  /** The bound address. */
  host: string;
  /** The bound port. */
  port: number;
  /** `http://host:port`, the base of the routes. */
  url: string;
}

/** True for an address that only this machine can reach (127.0.0.0/8, ::1, localhost). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The window of `pfgm_samples_per_second`, in milliseconds. */
const WINDOW_MS = 60_000;

/**
 * An HTTP server for a model: start it with {@link SampleServer.listen}, stop it with
 * {@link SampleServer.close}. The routes, the request body and the error body are described in
 * docs/sampling.md ("Serving").
 *
 * @example
 * ```ts
 * const server = new SampleServer(net, { port: 0 });
 * const { url } = await server.listen();
 * const r = await fetch(`${url}/v1/samples`, { method: 'POST', body: JSON.stringify({ count: 4, seed: 0 }) });
 * await server.close();
 * ```
 */
export class SampleServer {
  /** The Sampler the requests go through. */
  readonly sampler: Sampler;
  readonly #model: Sampleable;
  readonly #options: Required<Omit<SampleServerOptions, 'networkName'>> & { networkName: string };
  readonly #server: Server;
  readonly #byStatus = new Map<number, number>();
  readonly #done: { t: number; n: number }[] = [];
  #inFlight = 0;
  #idle: (() => void) | undefined;
  #closing = false;
  #closed: Promise<void> = Promise.resolve();

  /**
   * @param model - What to sample (not disposed by the server).
   * @param options - Address, limits.
   */
  constructor(model: Sampleable, options: SampleServerOptions = {}) {
    this.#model = model;
    const kind = model instanceof Network ? model.config.kind : 'ideal';
    this.#options = {
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 8080,
      maxBatch: options.maxBatch ?? 128,
      maxQueue: options.maxQueue ?? 256,
      maxCount: options.maxCount ?? 256,
      maxSteps: options.maxSteps ?? 1000,
      maxBodyBytes: options.maxBodyBytes ?? 65536,
      networkName: options.networkName ?? kind,
    };
    this.sampler = new Sampler(model, { maxBatch: this.#options.maxBatch, maxQueue: this.#options.maxQueue });
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => this.#fail(res, error));
    });
  }

  /** Requests being answered now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Starts listening; resolves to the bound address and the base URL.
   *
   * @throws PfgmError `ERR_PFGM_ARGUMENT` when the address cannot be bound (a port in use, an
   *   address this machine does not have).
   */
  listen(): Promise<ServerAddress> {
    return new Promise((resolve, reject) => {
      const failed = (error: Error) =>
        reject(
          new PfgmError(
            'ERR_PFGM_ARGUMENT',
            `could not listen on ${this.#options.host}:${this.#options.port}: ${error.message} (another server on that port? choose --port, or 0 for a free one)`,
            { cause: error },
          ),
        );
      this.#server.once('error', failed);
      this.#server.listen(this.#options.port, this.#options.host, () => {
        this.#server.off('error', failed);
        const a = this.#server.address() as AddressInfo;
        const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
        resolve({ host: a.address, port: a.port, url: `http://${host}:${a.port}` });
      });
    });
  }

  /**
   * Stops: new requests get 503 (`ERR_PFGM_SHUTTING_DOWN`, `Connection: close`), the requests in
   * flight finish and are answered, then the Sampler is disposed and the listening socket and
   * every connection closed. Calling it again returns the same Promise.
   */
  async close(): Promise<void> {
    if (this.#closing) return this.#closed;
    this.#closing = true;
    this.#closed = (async () => {
      // Still listening while the requests in flight finish: new ones are answered 503.
      this.#server.closeIdleConnections();
      if (this.#inFlight > 0) await new Promise<void>((resolve) => (this.#idle = resolve));
      await this.sampler.dispose();
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      this.#server.closeAllConnections();
      await closed;
    })();
    return this.#closed;
  }

  /** The Prometheus text of `GET /metrics`. */
  metrics(): string {
    const now = Date.now();
    while (this.#done.length > 0 && (this.#done[0] as { t: number }).t < now - WINDOW_MS) this.#done.shift();
    const recent = this.#done.reduce((a, d) => a + d.n, 0);
    const stats = this.sampler.stats();
    const lines = [
      '# HELP pfgm_http_requests_total HTTP requests answered, by status.',
      '# TYPE pfgm_http_requests_total counter',
      ...[...this.#byStatus]
        .sort((a, b) => a[0] - b[0])
        .map(([s, n]) => `pfgm_http_requests_total{status="${s}"} ${n}`),
      '# HELP pfgm_queue_length Sampling requests waiting or running.',
      '# TYPE pfgm_queue_length gauge',
      `pfgm_queue_length ${stats.pending}`,
      '# HELP pfgm_queue_samples Samples of those requests not yet integrated.',
      '# TYPE pfgm_queue_samples gauge',
      `pfgm_queue_samples ${stats.queuedSamples}`,
      '# HELP pfgm_samples_total Samples delivered.',
      '# TYPE pfgm_samples_total counter',
      `pfgm_samples_total ${stats.samplesTotal}`,
      '# HELP pfgm_sampler_runs_total Merged sampling runs (one batch per ODE step each).',
      '# TYPE pfgm_sampler_runs_total counter',
      `pfgm_sampler_runs_total ${stats.runs}`,
      '# HELP pfgm_samples_per_second Samples delivered per second over the last minute.',
      '# TYPE pfgm_samples_per_second gauge',
      `pfgm_samples_per_second ${(recent / (WINDOW_MS / 1000)).toFixed(3)}`,
    ];
    return `${lines.join('\n')}\n`;
  }

  #modelInfo(): Record<string, unknown> {
    const m = this.#model;
    const o = this.#options;
    return {
      network: o.networkName,
      parameters: m instanceof Network ? m.paramCount : 0,
      objective: m instanceof Network ? m.objective : 'pfgmpp',
      // JSON has no Infinity: EDM's D is the string "Infinity".
      D: Number.isFinite(m.D) ? m.D : 'Infinity',
      sampleShape: servedShape(m),
      classes: m.labelDim,
      solvers: solverNames,
      limits: {
        maxCount: o.maxCount,
        maxSteps: o.maxSteps,
        maxBodyBytes: o.maxBodyBytes,
        maxBatch: o.maxBatch,
        maxQueue: o.maxQueue,
      },
    };
  }

  #send(res: ServerResponse, status: number, contentType: string, body: Uint8Array | string, headers = {}): void {
    this.#byStatus.set(status, (this.#byStatus.get(status) ?? 0) + 1);
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    res.writeHead(status, {
      'Content-Type': contentType,
      'Content-Length': bytes.length,
      ...(this.#closing ? { Connection: 'close' } : {}),
      ...headers,
    });
    res.end(bytes);
  }

  #json(res: ServerResponse, status: number, value: unknown, headers = {}): void {
    this.#send(res, status, 'application/json', JSON.stringify(value), headers);
  }

  #fail(res: ServerResponse, error: unknown): void {
    if (res.headersSent || res.destroyed) {
      // Too late for an error body: the client left, or the response had started.
      res.destroy();
      return;
    }
    let e: HttpError;
    if (error instanceof HttpError) e = error;
    else if (error instanceof PfgmError) {
      const status =
        error.code === 'ERR_PFGM_BUSY' || error.code === 'ERR_PFGM_DISPOSED'
          ? 503
          : error.code === 'ERR_PFGM_ARGUMENT' || error.code === 'ERR_PFGM_SHAPE'
            ? 400
            : 500;
      e = new HttpError(status, error.code, error.message);
    } else e = new HttpError(500, 'ERR_PFGM_INTERNAL', error instanceof Error ? error.message : String(error));
    this.#json(res, e.status, e.body(), e.status === 503 ? { 'Retry-After': '1' } : {});
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const routes: Record<string, string> = {
      '/v1/samples': 'POST',
      '/v1/model': 'GET',
      '/healthz': 'GET',
      '/metrics': 'GET',
    };
    const method = routes[path];
    if (method === undefined) {
      req.resume();
      throw new HttpError(404, 'ERR_PFGM_NOT_FOUND', `no route ${path}: use ${Object.keys(routes).join(', ')}`);
    }
    if (req.method !== method && !(method === 'GET' && req.method === 'HEAD')) {
      req.resume();
      res.setHeader('Allow', method);
      throw new HttpError(405, 'ERR_PFGM_METHOD', `${path} takes ${method}, not ${req.method}`);
    }
    if (path === '/healthz') {
      req.resume();
      if (this.#closing) throw new HttpError(503, 'ERR_PFGM_SHUTTING_DOWN', 'the server is shutting down');
      this.#json(res, 200, { status: 'ok', inFlight: this.#inFlight, queue: this.sampler.stats().pending });
      return;
    }
    if (path === '/metrics') {
      req.resume();
      this.#send(res, 200, 'text/plain; version=0.0.4', this.metrics());
      return;
    }
    if (path === '/v1/model') {
      req.resume();
      this.#json(res, 200, this.#modelInfo());
      return;
    }
    if (this.#closing) {
      req.resume();
      throw new HttpError(503, 'ERR_PFGM_SHUTTING_DOWN', 'the server is shutting down: send the request elsewhere');
    }
    this.#inFlight++;
    try {
      await this.#samples(req, res);
    } finally {
      this.#inFlight--;
      if (this.#inFlight === 0) this.#idle?.();
    }
  }

  async #samples(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const text = await readBody(req, this.#options.maxBodyBytes);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (error) {
      throw new HttpError(400, 'ERR_PFGM_ARGUMENT', `body: not valid JSON (${(error as Error).message})`, 'body');
    }
    const { request, count, format } = parseSamplesBody(body, this.#model, this.#options);
    // A client that goes away takes its request out of the queue.
    const controller = new AbortController();
    const onClose = () => {
      if (!res.writableFinished) controller.abort(new Error('the client closed the connection'));
    };
    res.once('close', onClose);
    try {
      const r = await this.sampler.sample({ ...request, signal: controller.signal });
      this.#done.push({ t: Date.now(), n: count });
      const out = encodeSamples(format, r.x, count, servedShape(this.#model), r.nfe);
      this.#send(res, 200, out.contentType, out.body, { 'X-Pfgm-Nfe': String(r.nfe) });
    } finally {
      res.off('close', onClose);
    }
  }
}

/** Reads a request body as text, at most `limit` bytes (413 beyond, after reading what was sent). */
function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const tooBig = () =>
      new HttpError(413, 'ERR_PFGM_BODY_TOO_LARGE', `body: larger than the limit of ${limit} bytes`, 'body');
    // Past 16 times the limit the client is not worth reading to the end.
    if (declared > 16 * limit) {
      reject(tooBig());
      req.destroy();
      return;
    }
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else if (size > 16 * limit) req.destroy();
    });
    req.on('end', () => (size > limit ? reject(tooBig()) : resolve(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
    req.on('close', () => reject(size > limit ? tooBig() : new Error('the client closed the connection')));
  });
}
