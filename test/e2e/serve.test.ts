// pfgm serve through the real fetch against a real server on 127.0.0.1 (port 0): samples equal
// the API's for the same seeds (NPY bytes, JSON values), the PNG grid decodes to its size, every
// validation error names its field with the right status, 200 requests from 16 concurrent clients
// all come back right, and SIGTERM to the CLI finishes the requests in flight and exits 0.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeNpy } from '../../src/codecs/npy.js';
import { decodePng } from '../../src/codecs/png.js';
import { saveModel } from '../../src/models/modelFile.js';
import type { Network } from '../../src/models/network.js';
import { sample } from '../../src/sample/sample.js';
import { SampleServer } from '../../src/serve/server.js';
import { gridImage } from '../../src/viz/grid.js';
import { tinyUnet } from '../helpers/serve.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const work = mkdtempSync(join(tmpdir(), 'pfgm-serve-e2e-'));
const modelFile = join(work, 'model.safetensors');
let net: Network;
let server: SampleServer;
let url: string;

beforeAll(async () => {
  net = tinyUnet();
  await saveModel(modelFile, net, { objective: 'pfgmpp' });
  server = new SampleServer(net, { port: 0, maxBatch: 32, maxCount: 16, maxSteps: 50, maxBodyBytes: 1024 });
  url = (await server.listen()).url;
});
afterAll(async () => {
  await server?.close();
  net?.dispose();
  rmSync(work, { recursive: true, force: true });
});

const oneHot = (count: number, k: number) => {
  const l = new Float32Array(count * 3);
  for (let i = 0; i < count; i++) l[i * 3 + k] = 1;
  return l;
};

const post = (body: unknown, raw?: string) =>
  fetch(`${url}/v1/samples`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: raw ?? JSON.stringify(body),
  });

describe('pfgm serve: results', () => {
  it('JSON and NPY equal the API for the same seeds; PNG decodes to the grid', async () => {
    const req = { count: 3, seeds: [5, 6, 7], steps: 4, class: 2, guidance: 1.5 };
    const want = await sample(net, { count: 3, seed: [5, 6, 7], steps: 4, labels: oneHot(3, 2), guidance: 1.5 });
    const json = await post(req);
    expect(json.status).toBe(200);
    expect(json.headers.get('content-type')).toBe('application/json');
    const body = (await json.json()) as { count: number; shape: number[]; nfe: number; samples: number[][] };
    expect(body).toMatchObject({ count: 3, shape: [1, 8, 8], nfe: want.nfe });
    expect(Float32Array.from(body.samples.flat())).toEqual(want.x);
    const npy = await post({ ...req, format: 'npy' });
    expect(npy.status).toBe(200);
    expect(Buffer.from(await npy.arrayBuffer()).equals(Buffer.from(encodeNpy(want.x, [3, 1, 8, 8])))).toBe(true);
    const solo = await sample(net, { count: 4, seed: 9, sampleOffset: 2, steps: 3, solver: 'euler' });
    const png = await post({ count: 4, seed: 9, sampleOffset: 2, steps: 3, solver: 'euler', format: 'png' });
    expect(png.status).toBe(200);
    expect(png.headers.get('content-type')).toBe('image/png');
    const image = decodePng(new Uint8Array(await png.arrayBuffer()));
    const grid = gridImage(solo.x, [1, 8, 8], { columns: 2 });
    expect([image.width, image.height, image.channels]).toEqual([2 * 8 + 3 * 2, 2 * 8 + 3 * 2, 1]);
    expect(image.data).toEqual(grid.data);
  });

  it('GET /v1/model, /healthz and /metrics', async () => {
    const model = await (await fetch(`${url}/v1/model`)).json();
    expect(model).toMatchObject({
      network: 'songunet',
      parameters: net.paramCount,
      D: 128,
      sampleShape: [1, 8, 8],
      classes: 3,
      limits: { maxCount: 16, maxSteps: 50, maxBodyBytes: 1024, maxBatch: 32 },
    });
    expect(await (await fetch(`${url}/healthz`)).json()).toMatchObject({ status: 'ok' });
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/^pfgm_http_requests_total\{status="200"\} \d+$/m);
    expect(metrics).toMatch(/^pfgm_queue_length 0$/m);
    expect(metrics).toMatch(/^pfgm_samples_total \d+$/m);
    expect(metrics).toMatch(/^pfgm_samples_per_second \d+(\.\d+)?$/m);
  });
});

describe('pfgm serve: errors', () => {
  const cases: [string, () => Promise<Response>, number, string | undefined][] = [
    ['count 0', () => post({ count: 0 }), 400, 'count'],
    ['count above the limit', () => post({ count: 17 }), 400, 'count'],
    ['count not an integer', () => post({ count: 1.5 }), 400, 'count'],
    ['seeds and count disagree', () => post({ count: 2, seeds: [1] }), 400, 'count'],
    ['seed and seeds', () => post({ seed: 1, seeds: [1] }), 400, 'seeds'],
    ['a negative seed', () => post({ seed: -1 }), 400, 'seed'],
    ['unknown solver', () => post({ solver: 'magic' }), 400, 'solver'],
    ['too many steps', () => post({ steps: 51 }), 400, 'steps'],
    ['class out of range', () => post({ class: 3 }), 400, 'class'],
    ['guidance without class', () => post({ guidance: 2 }), 400, 'guidance'],
    ['unknown format', () => post({ format: 'gif' }), 400, 'format'],
    ['unknown field', () => post({ cuont: 2 }), 400, 'cuont'],
    ['bad JSON', () => post(undefined, '{"count": '), 400, 'body'],
    ['not an object', () => post([1, 2]), 400, 'body'],
    ['body too big', () => post(undefined, JSON.stringify({ count: 1, pad: 'x'.repeat(2000) })), 413, 'body'],
    ['wrong method', () => fetch(`${url}/v1/samples`), 405, undefined],
    ['wrong method on /v1/model', () => fetch(`${url}/v1/model`, { method: 'DELETE' }), 405, undefined],
    ['unknown path', () => fetch(`${url}/v2/samples`), 404, undefined],
  ];
  for (const [name, send, status, field] of cases) {
    it(`${name}: ${status}${field === undefined ? '' : `, field ${field}`}`, async () => {
      const r = await send();
      expect(r.status).toBe(status);
      const body = (await r.json()) as { error: { code: string; message: string; field?: string } };
      expect(body.error.code).toMatch(/^ERR_PFGM_/);
      expect(body.error.message.length).toBeGreaterThan(5);
      expect(body.error.field).toBe(field);
      if (status === 405) expect(r.headers.get('allow')).toMatch(/^(GET|POST)$/);
    });
  }
});

describe('pfgm serve: a full queue', () => {
  it('answers 503 ERR_PFGM_BUSY with Retry-After, and serves the requests it took', async () => {
    const small = new SampleServer(net, { port: 0, maxQueue: 1 });
    const base = (await small.listen()).url;
    try {
      const send = (seed: number) =>
        fetch(`${base}/v1/samples`, { method: 'POST', body: JSON.stringify({ count: 4, seed, steps: 100 }) });
      const answers = await Promise.all([send(1), send(2), send(3)]);
      const statuses = answers.map((r) => r.status).sort();
      expect(statuses[0]).toBe(200);
      expect(statuses).toContain(503);
      for (const r of answers) {
        if (r.status !== 503) continue;
        expect(r.headers.get('retry-after')).toBe('1');
        expect(((await r.json()) as { error: { code: string } }).error.code).toBe('ERR_PFGM_BUSY');
      }
    } finally {
      await small.close();
    }
  });
});

describe('pfgm serve: load', () => {
  it('200 requests from 16 concurrent clients all succeed with the right samples', async () => {
    const requests = Array.from({ length: 200 }, (_, k) => ({
      count: 1 + (k % 3),
      seed: 1000 + k,
      steps: 2 + (k % 2),
      ...(k % 4 === 0 ? { class: k % 3 } : {}),
      ...(k % 8 === 0 ? { guidance: 2 } : {}),
      format: k % 2 === 0 ? 'npy' : 'json',
    }));
    const answers: ArrayBuffer[] = new Array(200);
    let next = 0;
    const client = async () => {
      while (next < requests.length) {
        const k = next++;
        const r = await post(requests[k]);
        expect(r.status, `request ${k}`).toBe(200);
        answers[k] = await r.arrayBuffer();
      }
    };
    await Promise.all(Array.from({ length: 16 }, client));
    for (const [k, req] of requests.entries()) {
      const want = await sample(net, {
        count: req.count,
        seed: req.seed,
        steps: req.steps,
        labels: req.class === undefined ? undefined : oneHot(req.count, req.class),
        guidance: req.guidance,
      });
      const got = answers[k] as ArrayBuffer;
      if (req.format === 'npy') {
        expect(Buffer.from(got).equals(Buffer.from(encodeNpy(want.x, [req.count, 1, 8, 8]))), `request ${k}`).toBe(
          true,
        );
      } else {
        const body = JSON.parse(Buffer.from(got).toString('utf8')) as { samples: number[][] };
        expect(Float32Array.from(body.samples.flat()), `request ${k}`).toEqual(want.x);
      }
    }
    const runs = server.sampler.stats().runs;
    expect(runs).toBeLessThan(200); // requests were merged
  });
});

describe('pfgm serve: the CLI', () => {
  it('SIGTERM finishes the requests in flight, answers new ones 503, then exits 0', async () => {
    const child: ChildProcess = spawn(
      process.execPath,
      [join(root, 'bin', 'pfgm.js'), 'serve', '--ckpt', modelFile, '--port', '0', '--max-steps', '400'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    const base = await new Promise<string>((res, rej) => {
      child.stderr?.on('data', (d: Buffer) => {
        stderr += d.toString();
        const m = /listening on (http:\/\/\S+)/.exec(stderr);
        if (m) res(m[1] as string);
      });
      child.on('exit', () => rej(new Error(`pfgm serve exited: ${stderr}`)));
    });
    // Each request sends its body in two parts and holds back the second until after SIGTERM: it
    // is in flight (counted from its headers) for as long as the test needs, whatever the speed of
    // the machine, instead of for the few hundred milliseconds its sampling takes.
    const held = [1, 2, 3].map((seed) => {
      const body = JSON.stringify({ count: 8, seed, steps: 40, format: 'npy' });
      const req = request(`${base}/v1/samples`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      });
      const answer = new Promise<{ status: number; body: Buffer }>((res, rej) => {
        req.on('error', rej);
        req.on('response', (r) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () => res({ status: r.statusCode ?? 0, body: Buffer.concat(chunks) }));
          r.on('error', rej);
        });
      });
      req.write(body.slice(0, 10));
      return { finish: () => req.end(body.slice(10)), answer };
    });
    for (;;) {
      const h = (await (await fetch(`${base}/healthz`)).json()) as { inFlight: number };
      if (h.inFlight === 3) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 100));
    const late = await fetch(`${base}/v1/samples`, { method: 'POST', body: '{"count": 1}' });
    expect(late.status).toBe(503);
    expect(((await late.json()) as { error: { code: string } }).error.code).toBe('ERR_PFGM_SHUTTING_DOWN');
    for (const h of held) h.finish();
    for (const [k, h] of held.entries()) {
      const r = await h.answer;
      expect(r.status, r.body.toString()).toBe(200);
      const want = await sample(net, { count: 8, seed: k + 1, steps: 40 });
      expect(r.body.equals(Buffer.from(encodeNpy(want.x, [8, 1, 8, 8])))).toBe(true);
    }
    expect(await exited, stderr).toBe(0);
    expect(stderr).toMatch(/SIGTERM: finishing 3 request/);
  }, 60_000);

  it('warns when bound to a non-loopback address', async () => {
    const child = spawn(
      process.execPath,
      [join(root, 'bin', 'pfgm.js'), 'serve', '--ckpt', modelFile, '--host', '0.0.0.0', '--port', '0'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    await new Promise<void>((res) =>
      child.stderr?.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes('listening on http')) res();
      }),
    );
    expect(stderr).toMatch(/warning: bound to 0\.0\.0\.0/);
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  }, 30_000);
});
