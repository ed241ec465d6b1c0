/** Helpers shared by the ops: dim normalisation, broadcasting, and reducing a gradient back to an input's shape. */
import { KilnError } from '../../errors.js';
import type { View } from '../../backend/backend.js';
import { Tensor } from '../tensor.js';

export function normDim(dim: number, ndim: number, what = 'dim'): number {
  const d = dim < 0 ? dim + ndim : dim;
  if (!Number.isInteger(d) || d < 0 || d >= Math.max(ndim, 1))
    throw new KilnError('E_ARG', `${what} ${dim} is out of range for a tensor with ${ndim} dims`);
  return d;
}

export function normDims(dims: number | readonly number[] | undefined, ndim: number): number[] {
  if (dims === undefined) return Array.from({ length: ndim }, (_, i) => i);
  const list = (typeof dims === 'number' ? [dims] : [...dims]).map((d) => normDim(d, ndim));
  if (new Set(list).size !== list.length) throw new KilnError('E_ARG', `dims [${dims}] repeat a dim`);
  return list.sort((a, b) => a - b);
}

export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1)
      throw new KilnError('E_SHAPE', `shapes [${a}] and [${b}] cannot be broadcast together (dim ${i}: ${x} vs ${y})`);
    out[i] = x === 1 ? y : x;
  }
  return out;
}

/** A kernel view of `t` broadcast to `shape` (stride 0 on expanded dims). */
export function broadcastView(t: Tensor, shape: readonly number[]): View {
  const n = shape.length;
  const k = t.ndim;
  const strides = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const j = i - (n - k);
    strides[i] = j < 0 || t.shape[j] === 1 ? 0 : t.strides[j];
  }
  return { data: t.storage.data as Float32Array, shape, strides, offset: t.offset };
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Sums a gradient of a broadcast result back to `shape` (the input's shape before broadcasting). */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.ndim - shape.length;
  const dims: number[] = [];
  for (let i = 0; i < g.ndim; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) dims.push(i);
  const s = dims.length ? g.sum(dims, true) : g;
  return s.reshape(shape.slice());
}

/** `t` as a contiguous f32 tensor (itself when already so). */
export function contig(t: Tensor): Tensor {
  return t.isContiguous ? t : t.contiguous();
}

/** The contiguous f32 data of `t` starting at its first element (t must be contiguous). */
export function dataOf(t: Tensor): Float32Array {
  const d = t.storage.data as Float32Array;
  return t.offset === 0 && d.length === t.size ? d : d.subarray(t.offset, t.offset + t.size);
}

export function assertFloat(t: Tensor, op: string): void {
  if (t.dtype !== 'f32')
    throw new KilnError('E_DTYPE', `${op}: expected an f32 tensor, got ${t.dtype}; convert with .to('f32') (storage dtypes are converted for compute explicitly)`);
}
