/** Tensor creation: from JS data, constants, ranges, and seeded random tensors. */
import { KilnError } from '../errors.js';
import { encodeF32 } from './convert.js';
import type { DType, StorageArray } from './dtype.js';
import { defaultGenerator, type Generator } from './random.js';
import { Storage } from './storage.js';
import { Tensor, numel, type NestedArray } from './tensor.js';

export interface CreateOptions {
  dtype?: DType;
  requiresGrad?: boolean;
}

function finish(t: Tensor, opts?: CreateOptions): Tensor {
  if (opts?.requiresGrad) t.requiresGrad = true;
  return t;
}

function inferShape(data: NestedArray): number[] {
  const shape: number[] = [];
  let cur: NestedArray = data;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = cur[0];
  }
  return shape;
}

function flattenInto(data: NestedArray, shape: readonly number[], d: number, out: number[]): void {
  if (d === shape.length) {
    if (typeof data !== 'number') throw new KilnError('E_SHAPE', 'tensor(): ragged nested array (not every row has the same length)');
    out.push(data);
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[d]) throw new KilnError('E_SHAPE', 'tensor(): ragged nested array (not every row has the same length)');
  for (const v of data) flattenInto(v, shape, d + 1, out);
}

/** A tensor from nested JS arrays (or a number for a 0-d tensor); dtype f32 unless given. */
export function tensor(data: NestedArray, opts?: CreateOptions): Tensor {
  const shape = inferShape(data);
  const flat: number[] = [];
  flattenInto(data, shape, 0, flat);
  return fromArray(flat, shape, opts);
}

/**
 * A tensor of `shape` from flat values. A typed array of the dtype's storage type (Float32Array for f32, Int32Array
 * for i32, ...) is copied as is; plain numbers are converted from f32 values.
 */
export function fromArray(data: ArrayLike<number> | StorageArray, shape: readonly number[], opts?: CreateOptions): Tensor {
  const dtype = opts?.dtype ?? (data instanceof Int32Array ? 'i32' : data instanceof BigInt64Array ? 'i64' : 'f32');
  if (data.length !== numel(shape)) throw new KilnError('E_SHAPE', `fromArray: ${data.length} values cannot fill shape [${shape}]`);
  const t = Tensor.empty(shape, dtype);
  const dst = t.storage.data.subarray(0, t.size) as StorageArray;
  const sameType =
    (dtype === 'f32' && data instanceof Float32Array) || (dtype === 'i32' && data instanceof Int32Array) ||
    (dtype === 'i64' && data instanceof BigInt64Array) || ((dtype === 'bf16' || dtype === 'f16') && data instanceof Uint16Array) ||
    ((dtype === 'u8' || dtype === 'bool' || dtype === 'f8e4m3' || dtype === 'f8e5m2') && data instanceof Uint8Array);
  if (sameType) (dst as Float32Array).set(data as Float32Array);
  else if (data instanceof BigInt64Array) throw new KilnError('E_DTYPE', `fromArray: a BigInt64Array needs dtype i64, got ${dtype}`);
  else encodeF32(dtype, Float32Array.from(data as ArrayLike<number>), dst);
  return finish(t, opts);
}

/** Wraps an existing typed array as a tensor without copying (the caller keeps ownership of the memory). */
export function wrap(data: StorageArray, shape: readonly number[], dtype: DType): Tensor {
  if (data.length !== numel(shape)) throw new KilnError('E_SHAPE', `wrap: ${data.length} values cannot fill shape [${shape}]`);
  return new Tensor(new Storage(data, dtype, false), shape.slice());
}

export function empty(shape: readonly number[], opts?: CreateOptions): Tensor {
  return finish(Tensor.empty(shape, opts?.dtype ?? 'f32'), opts);
}

export function full(shape: readonly number[], value: number, opts?: CreateOptions): Tensor {
  const dtype = opts?.dtype ?? 'f32';
  const t = Tensor.empty(shape, dtype);
  const d = t.storage.data.subarray(0, t.size);
  if (d instanceof BigInt64Array) d.fill(BigInt(Math.trunc(value)));
  else if (dtype === 'f32' || dtype === 'i32' || dtype === 'u8' || dtype === 'bool') (d as Float32Array).fill(value);
  else d.fill(encodeF32(dtype, new Float32Array([value]))[0] as number);
  return finish(t, opts);
}

export function zeros(shape: readonly number[], opts?: CreateOptions): Tensor {
  return full(shape, 0, opts);
}

export function ones(shape: readonly number[], opts?: CreateOptions): Tensor {
  return full(shape, 1, opts);
}

export function zerosLike(t: Tensor, opts?: CreateOptions): Tensor {
  return full(t.shape, 0, { dtype: t.dtype, ...opts });
}

export function onesLike(t: Tensor, opts?: CreateOptions): Tensor {
  return full(t.shape, 1, { dtype: t.dtype, ...opts });
}

/** start, start+step, ... < end (like torch.arange); `arange(n)` is 0..n−1. f32 unless dtype is given. */
export function arange(start: number, end?: number, step = 1, opts?: CreateOptions): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (step === 0) throw new KilnError('E_ARG', 'arange: step must be nonzero');
  const n = Math.max(0, Math.ceil((end - start) / step));
  const values = Array.from({ length: n }, (_, i) => start + i * step);
  return fromArray(values, [n], opts);
}

export function linspace(start: number, end: number, steps: number, opts?: CreateOptions): Tensor {
  const values = Array.from({ length: steps }, (_, i) => (steps === 1 ? start : start + ((end - start) * i) / (steps - 1)));
  return fromArray(values, [steps], opts);
}

export function eye(n: number, opts?: CreateOptions): Tensor {
  const t = zeros([n, n], opts);
  const d = t.storage.data as Float32Array;
  for (let i = 0; i < n; i++) d[i * n + i] = 1;
  return t;
}

export interface RandomOptions extends CreateOptions {
  generator?: Generator;
}

/** Standard normal samples, reproducible under `manualSeed` or an explicit generator. */
export function randn(shape: readonly number[], opts?: RandomOptions): Tensor {
  const t = Tensor.empty(shape);
  (opts?.generator ?? defaultGenerator()).fillNormal((t.storage.data as Float32Array).subarray(0, t.size));
  return finish(t, opts);
}

/** Uniform samples in [0, 1). */
export function rand(shape: readonly number[], opts?: RandomOptions): Tensor {
  const t = Tensor.empty(shape);
  (opts?.generator ?? defaultGenerator()).fillUniform((t.storage.data as Float32Array).subarray(0, t.size));
  return finish(t, opts);
}

/** Uniform integers in [low, high) as i32. */
export function randint(low: number, high: number, shape: readonly number[], opts?: RandomOptions): Tensor {
  const t = Tensor.empty(shape, 'i32');
  const g = opts?.generator ?? defaultGenerator();
  const d = t.storage.data as Int32Array;
  for (let i = 0; i < t.size; i++) d[i] = low + Math.floor(g.uniform() * (high - low));
  return t;
}
