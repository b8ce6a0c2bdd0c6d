/**
 * The HTTP API's vocabulary: the body of `POST /v1/samples` checked field by field
 * ({@link parseSamplesBody}, errors that name the field), the JSON error body
 * ({@link HttpError}), and the three response formats ({@link encodeSamples}: JSON arrays, NPY, a
 * PNG grid).
 *
 * @module
 */
import { encodeNpy } from '../codecs/npy.js';
import { encodePng } from '../codecs/png.js';
import type { SampleRequest } from '../sample/sampler.js';
import { type SolverName, solverNames } from '../sample/solvers.js';
import type { Sampleable } from '../sample/types.js';
import { gridImage } from '../viz/grid.js';

/** Response formats of `POST /v1/samples`. */
export type SamplesFormat = 'json' | 'npy' | 'png';

/** The formats, as the API names them. */
export const samplesFormats: readonly SamplesFormat[] = ['json', 'npy', 'png'];

/** The JSON body of an error response. */
export interface HttpErrorBody {
  /** What went wrong. */
  error: {
    /** A stable code. */
    code: string;
    /** What is wrong and how to fix it. */
    message: string;
    /** The request field at fault, when one is. */
    field?: string;
  };
}

/** An error answered as `{ error: { code, message, field } }` with an HTTP status. */
export class HttpError extends Error {
  /** The HTTP status (4xx or 5xx). */
  readonly status: number;
  /** A stable code: a `PfgmErrorCode` or one of the HTTP API's (`ERR_PFGM_NOT_FOUND`, ...). */
  readonly code: string;
  /** The request field at fault, when one is. */
  readonly field: string | undefined;

  /**
   * @param status - HTTP status
   * @param code - stable code
   * @param message - what is wrong and how to fix it
   * @param field - the field at fault
   */
  constructor(status: number, code: string, message: string, field?: string) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.code = code;
    this.field = field;
  }

  /** The JSON body of the error response. */
  body(): HttpErrorBody {
    return {
      error: { code: this.code, message: this.message, ...(this.field === undefined ? {} : { field: this.field }) },
    };
  }
}

/** Limits on one request. */
export interface RequestLimits {
  /** Most samples per request. */
  maxCount: number;
  /** Most solver steps per request. */
  maxSteps: number;
}

/** A checked `POST /v1/samples` body. */
export interface SamplesRequest {
  /** What to hand the Sampler. */
  request: SampleRequest;
  /** How many samples (also in `request`). */
  count: number;
  /** The response format. */
  format: SamplesFormat;
}

const FIELDS = new Set(['count', 'seed', 'seeds', 'sampleOffset', 'steps', 'solver', 'class', 'guidance', 'format']);

const bad = (field: string, message: string) => new HttpError(400, 'ERR_PFGM_ARGUMENT', `${field}: ${message}`, field);

function integer(body: Record<string, unknown>, field: string, min: number, max: number): number | undefined {
  const v = body[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw bad(field, `must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** True when a sample of this shape is an image (a PNG grid can show it). */
export function isImageShape(shape: readonly number[]): boolean {
  return shape.length === 3 && (shape[0] === 1 || shape[0] === 3) && (shape[1] as number) * (shape[2] as number) > 1;
}

/** The shape of one sample as the API reports it: [C, H, W] for images, [N] for vectors. */
export function servedShape(model: Sampleable): number[] {
  const s = model.sampleShape;
  return s.length === 3 && s[1] === 1 && s[2] === 1 ? [s[0] as number] : [...s];
}

/**
 * Checks the JSON body of `POST /v1/samples`:
 * `{ count, seed | seeds, sampleOffset, steps, solver, class, guidance, format }`, every field
 * optional (count defaults to the number of seeds, else 1; format to json).
 *
 * @throws HttpError 400 `ERR_PFGM_ARGUMENT` naming the field at fault (an unknown field too).
 */
export function parseSamplesBody(body: unknown, model: Sampleable, limits: RequestLimits): SamplesRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw bad('body', 'must be a JSON object, e.g. {"count": 4, "seed": 0}');
  }
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b)) {
    if (!FIELDS.has(key)) throw bad(key, `unknown field; use ${[...FIELDS].join(', ')}`);
  }
  if (b.seed !== undefined && b.seeds !== undefined) throw bad('seeds', 'give seed or seeds, not both');
  let seeds: number[] | undefined;
  if (b.seeds !== undefined) {
    if (!Array.isArray(b.seeds) || b.seeds.length < 1 || b.seeds.length > limits.maxCount) {
      throw bad('seeds', `must be an array of 1..${limits.maxCount} seeds`);
    }
    for (const s of b.seeds) {
      if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 0) {
        throw bad('seeds', `every seed must be an integer in 0..2^53-1, got ${JSON.stringify(s)}`);
      }
    }
    seeds = b.seeds as number[];
  }
  const count = integer(b, 'count', 1, limits.maxCount) ?? seeds?.length ?? 1;
  if (seeds !== undefined && seeds.length !== count) {
    throw bad('count', `is ${count} but ${seeds.length} seeds were given: one seed per sample`);
  }
  const seed = integer(b, 'seed', 0, Number.MAX_SAFE_INTEGER);
  const sampleOffset = integer(b, 'sampleOffset', 0, Number.MAX_SAFE_INTEGER);
  if (sampleOffset !== undefined && seeds !== undefined) throw bad('sampleOffset', 'applies to one seed, not seeds');
  const steps = integer(b, 'steps', 1, limits.maxSteps);
  let solver: SolverName | undefined;
  if (b.solver !== undefined) {
    if (typeof b.solver !== 'string' || !solverNames.includes(b.solver as SolverName)) {
      throw bad('solver', `must be one of ${solverNames.join(', ')}, got ${JSON.stringify(b.solver)}`);
    }
    solver = b.solver as SolverName;
  }
  let klass: number | undefined;
  if (b.class !== undefined) {
    if (model.labelDim === 0) throw bad('class', 'this model is unconditional (GET /v1/model: classes 0)');
    klass = integer(b, 'class', 0, model.labelDim - 1);
  }
  let guidance: number | undefined;
  if (b.guidance !== undefined) {
    if (typeof b.guidance !== 'number' || !Number.isFinite(b.guidance)) {
      throw bad('guidance', `must be a finite number, got ${JSON.stringify(b.guidance)}`);
    }
    if (klass === undefined) throw bad('guidance', 'needs a class to guide toward');
    guidance = b.guidance;
  }
  let format: SamplesFormat = 'json';
  if (b.format !== undefined) {
    if (typeof b.format !== 'string' || !samplesFormats.includes(b.format as SamplesFormat)) {
      throw bad('format', `must be one of ${samplesFormats.join(', ')}, got ${JSON.stringify(b.format)}`);
    }
    format = b.format as SamplesFormat;
  }
  if (format === 'png' && !isImageShape(servedShape(model))) {
    throw bad('format', `png needs an image model; this one makes vectors of [${servedShape(model)}]: use json or npy`);
  }
  return {
    request: { count, seed: seeds ?? seed ?? 0, sampleOffset, steps, solver, class: klass, guidance },
    count,
    format,
  };
}

/** A response body and its content type. */
export interface EncodedSamples {
  /** The `Content-Type`. */
  contentType: string;
  /** The bytes. */
  body: Uint8Array;
}

/**
 * Encodes `count` samples: `json` as `{ count, shape, nfe, samples }` with one array of numbers
 * per sample (each the float32 value exactly), `npy` as a float32 array [count, ...shape], `png`
 * as an image grid of about sqrt(count) columns.
 */
export function encodeSamples(
  format: SamplesFormat,
  x: Float32Array,
  count: number,
  shape: readonly number[],
  nfe: number,
): EncodedSamples {
  if (format === 'npy') return { contentType: 'application/octet-stream', body: encodeNpy(x, [count, ...shape]) };
  if (format === 'png') {
    return { contentType: 'image/png', body: encodePng(gridImage(x, shape, { columns: Math.ceil(Math.sqrt(count)) })) };
  }
  const per = x.length / count;
  const samples: number[][] = [];
  for (let i = 0; i < count; i++) samples.push(Array.from(x.subarray(i * per, (i + 1) * per)));
  const text = JSON.stringify({ count, shape, nfe, samples });
  return { contentType: 'application/json', body: new TextEncoder().encode(text) };
}
