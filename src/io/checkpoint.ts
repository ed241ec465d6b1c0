/**
 * Modules ↔ Hugging Face-style checkpoint directories: `config.json` + `model.safetensors` (or sharded with
 * `model.safetensors.index.json`). Tensors are named by the module's parameter names.
 */
import { mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../errors.js';
import { wrap } from '../tensor/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Module } from '../nn/module.js';
import { openCheckpoint } from './sharded.js';
import { writeSafetensors, type RawTensor } from './safetensors.js';

/** A tensor's contiguous data as a safetensors RawTensor (no copy when already contiguous). */
export function toRaw(t: Tensor): RawTensor {
  return { dtype: t.dtype, shape: t.shape.slice(), data: t.data() };
}

/** Wraps a RawTensor as a tensor without copying. */
export function fromRaw(r: RawTensor): Tensor {
  return wrap(r.data, r.shape, r.dtype);
}

/** Writes config.json and model.safetensors into `dir` (created if needed). */
export function saveModel(module: Module, dir: string, config: object, metadata: Record<string, string> = { format: 'pt' }): void {
  mkdirSync(dir, { recursive: true });
  const tensors = new Map<string, RawTensor>();
  for (const [name, t] of module.stateDict()) tensors.set(name, toRaw(t));
  writeSafetensors(join(dir, 'model.safetensors'), tensors, metadata);
  const tmp = join(dir, 'config.json.tmp');
  writeFileSync(tmp, JSON.stringify(config, null, 2) + '\n');
  renameSync(tmp, join(dir, 'config.json'));
}

/** Reads config.json of a checkpoint directory. */
export function readConfig(dir: string): Record<string, unknown> {
  const path = join(dir, 'config.json');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new KilnError('E_IO', `cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new KilnError('E_FORMAT', `${path} is not a valid config: ${(e as Error).message}`);
  }
}

/** Loads every tensor of a checkpoint directory into `module` (strict names and shapes). */
export function loadModelWeights(module: Module, dir: string): void {
  const ckpt = openCheckpoint(dir);
  try {
    const state = new Map<string, Tensor>();
    for (const name of ckpt.names()) state.set(name, fromRaw(ckpt.read(name)));
    module.loadStateDict(state);
    for (const t of state.values()) t.dispose();
  } finally {
    ckpt.close();
  }
}
