/**
 * dtype conversion. Compute runs in f32 (and i32 for indices); bf16/f16/f8 are storage formats converted exactly
 * (round-to-nearest-even, OCP FP8 saturation) by src/tensor/convert.ts. Casting is not differentiable except f32→f32.
 */
import { KilnError } from '../../errors.js';
import { decodeToF32, encodeF32, type EncodeOptions } from '../convert.js';
import type { DType, StorageArray } from '../dtype.js';
import { Tensor } from '../tensor.js';
import { clone } from './shape.js';

export function toDtype(x: Tensor, dtype: DType, opts?: EncodeOptions): Tensor {
  if (dtype === x.dtype) return clone(x);
  const src = x.data();
  const out = Tensor.empty(x.shape, dtype);
  const dst = out.storage.data.subarray(0, x.size) as StorageArray;
  if (x.dtype === 'f32') encodeF32(dtype, src as Float32Array, dst, opts);
  else if (dtype === 'f32') decodeToF32(x.dtype, src, dst as Float32Array);
  else encodeF32(dtype, decodeToF32(x.dtype, src), dst, opts);
  return out;
}

/** One stored element as a JS number. */
export function scalarToNumber(dtype: DType, v: number): number {
  switch (dtype) {
    case 'f32': case 'i32': case 'u8': case 'bool': return v;
    case 'bf16': return decodeToF32('bf16', new Uint16Array([v]))[0];
    case 'f16': return decodeToF32('f16', new Uint16Array([v]))[0];
    case 'f8e4m3': case 'f8e5m2': return decodeToF32(dtype, new Uint8Array([v]))[0];
    default: throw new KilnError('E_DTYPE', `scalarToNumber: unexpected dtype ${dtype}`);
  }
}

/** Index data as an Int32Array (i32 as is; i64, u8 and integral f32 converted), for the index ops. */
export function indexData(t: Tensor, op: string): Int32Array {
  const d = t.data();
  if (d instanceof Int32Array) return d;
  if (d instanceof BigInt64Array) return Int32Array.from(d, (v) => Number(v));
  if (d instanceof Float32Array || (d instanceof Uint8Array && (t.dtype === 'u8' || t.dtype === 'bool'))) return Int32Array.from(d);
  throw new KilnError('E_DTYPE', `${op}: indices must be i32, i64 or u8, got ${t.dtype}`);
}
