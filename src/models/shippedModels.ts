/**
 * Models that ship with the package, loaded by name: `loadModel('fashion-mnist')`,
 * `pfgm sample --ckpt fashion-mnist`. Each is a pure EMA export (`assets/models/<name>.safetensors`)
 * whose metadata records how it was trained and the FD measured for it; docs/shipped-model.md
 * says how it was made and shows its samples.
 *
 * @module
 */
import { access } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The names of the models that ship with the package. */
export const shippedModelNames = ['fashion-mnist'] as const;

/** A model that ships with the package. */
export type ShippedModel = (typeof shippedModelNames)[number];

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where a shipped model's file is in the installed package. */
export function shippedModelPath(name: ShippedModel): string {
  return join(packageRoot, 'assets', 'models', `${name}.safetensors`);
}

/** Whether `name` names a shipped model (a path never does: it has a separator or a dot). */
export function isShippedModelName(name: string): name is ShippedModel {
  return (shippedModelNames as readonly string[]).includes(name);
}

/**
 * The file to read for `path`: `path` itself when it exists (a file or folder of that name wins),
 * else the shipped model of that name, else `path` (whose absence the reader reports).
 */
export async function resolveModelPath(path: string): Promise<string> {
  if (!isShippedModelName(path)) return path;
  try {
    await access(path);
    return path;
  } catch {
    return shippedModelPath(path);
  }
}
