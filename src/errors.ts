/**
 * Typed errors. Every failure the package reports, from TypeScript validation or from the native
 * engine, is a {@link PfgmError} with a stable {@link PfgmErrorCode} and a message that names the
 * problem and the fix.
 *
 * @module
 */

/** Stable error codes; match on these, not on messages. */
export type PfgmErrorCode =
  /** A value outside its domain (D <= 0, a NaN sigma, a negative count, ...). */
  | 'ERR_PFGM_ARGUMENT'
  /** A tensor or array of the wrong shape or length. */
  | 'ERR_PFGM_SHAPE'
  /** A tensor of the wrong element type. */
  | 'ERR_PFGM_DTYPE'
  /** A device that is not present or not built (e.g. `cuda` on a CPU-only machine). */
  | 'ERR_PFGM_DEVICE'
  /** A CUDA runtime failure. */
  | 'ERR_PFGM_CUDA'
  /**
   * An allocation failed, or a request was refused before allocating because it would not fit:
   * a training batch whose estimated memory (network activations per sample plus the batch
   * itself) exceeds the available memory; the message names the largest batch that fits.
   */
  | 'ERR_PFGM_OUT_OF_MEMORY'
  /** A tensor, network or `Sampler` was used after `dispose()`. */
  | 'ERR_PFGM_DISPOSED'
  /** The native addon is missing or could not be loaded. */
  | 'ERR_PFGM_LOAD'
  /**
   * A model, training-state or checkpoint file that is missing, truncated, corrupt, fails its
   * checksum, or does not match the network it is loaded into; or a checkpoint that could not be
   * written.
   */
  | 'ERR_PFGM_CHECKPOINT'
  /**
   * A computation produced NaN or Infinity where finite numbers are needed (e.g. a sampler whose
   * denoiser returned non-finite values, as a model with a NaN weight does).
   */
  | 'ERR_PFGM_NUMERIC'
  /**
   * A `Sampler` (or the `pfgm serve` server over one) already holds as many requests as
   * its `maxQueue` allows: nothing was queued; try again later (HTTP 503).
   */
  | 'ERR_PFGM_BUSY'
  /**
   * A data-parallel group that cannot form (a busy or unreachable master port, a rank outside the
   * world, ranks started with different settings or data) or that lost a rank while training
   * (it stopped, failed or did not answer within the timeout); see docs/distributed.md.
   */
  | 'ERR_PFGM_DISTRIBUTED'
  /** A bug in pfgm: please report it. */
  | 'ERR_PFGM_INTERNAL';

const CODES: ReadonlySet<string> = new Set<PfgmErrorCode>([
  'ERR_PFGM_ARGUMENT',
  'ERR_PFGM_SHAPE',
  'ERR_PFGM_DTYPE',
  'ERR_PFGM_DEVICE',
  'ERR_PFGM_CUDA',
  'ERR_PFGM_OUT_OF_MEMORY',
  'ERR_PFGM_DISPOSED',
  'ERR_PFGM_LOAD',
  'ERR_PFGM_CHECKPOINT',
  'ERR_PFGM_NUMERIC',
  'ERR_PFGM_BUSY',
  'ERR_PFGM_DISTRIBUTED',
  'ERR_PFGM_INTERNAL',
]);

/** The one error class of the package. */
export class PfgmError extends Error {
  /** What went wrong, as a stable code. */
  readonly code: PfgmErrorCode;

  /**
   * @param code - the stable error code
   * @param message - what is wrong and how to fix it
   * @param options - standard `ErrorOptions` (`cause`)
   */
  constructor(code: PfgmErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PfgmError';
    this.code = code;
  }
}

/** Turns an error thrown by the native addon into a {@link PfgmError}; passes others through. */
export function toPfgmError(error: unknown): unknown {
  if (error instanceof PfgmError) return error;
  if (error instanceof Error) {
    const code = (error as Error & { code?: unknown }).code;
    if (typeof code === 'string' && CODES.has(code)) {
      return new PfgmError(code as PfgmErrorCode, error.message, { cause: error });
    }
  }
  return error;
}

/** Runs a synchronous native call, converting its errors. */
export function callNative<T>(body: () => T): T {
  try {
    return body();
  } catch (error) {
    throw toPfgmError(error);
  }
}

/** Awaits a native Promise, converting its rejection. */
export async function awaitNative<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    throw toPfgmError(error);
  }
}
