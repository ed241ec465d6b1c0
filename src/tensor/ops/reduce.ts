/**
 * Reductions over any set of dims (with keepdim): sum, mean, amax/amin, max/min with indices, argmax/argmin, var.
 * Kernels reduce the middle axis of [outer, r, inner]; several dims are reduced one adjacent run at a time.
 */
import { backend } from '../../backend/index.js';
import type { ReduceOp } from '../../backend/backend.js';
import { record } from '../autograd.js';
import { Tensor, numel } from '../tensor.js';
import { contig, dataOf, normDim, normDims, assertFloat } from './util.js';
import { div, eq, mul, sub, square } from './elementwise.js';
import { expand, reshape } from './shape.js';

function keptShape(shape: readonly number[], dims: readonly number[]): number[] {
  return shape.map((d, i) => (dims.includes(i) ? 1 : d));
}

/** Forward-only reduction of `dims` (sorted) keeping them as size 1. */
function reduceRaw(op: ReduceOp, x: Tensor, dims: readonly number[]): Tensor {
  assertFloat(x, op);
  let cur = contig(x);
  let shape = x.shape.slice();
  // reduce runs of adjacent dims, last run first so earlier dim indices stay valid
  let i = dims.length - 1;
  while (i >= 0) {
    let j = i;
    while (j > 0 && dims[j - 1] === dims[j] - 1) j--;
    const d0 = dims[j];
    const d1 = dims[i];
    const outer = numel(shape.slice(0, d0));
    const r = numel(shape.slice(d0, d1 + 1));
    const inner = numel(shape.slice(d1 + 1));
    const nextShape = shape.slice();
    for (let k = d0; k <= d1; k++) nextShape[k] = 1;
    const out = Tensor.empty(nextShape);
    backend().reduce(op, dataOf(cur), outer, r, inner, dataOf(out));
    if (cur !== x) cur.dispose();
    cur = out;
    shape = nextShape;
    i = j - 1;
  }
  return cur === x ? x.clone() : cur;
}

function finish(y: Tensor, x: Tensor, dims: readonly number[], keepdim: boolean): Tensor {
  return keepdim ? y : reshape(y, x.shape.filter((_, i) => !dims.includes(i)));
}

export function sum(x: Tensor, dim?: number | readonly number[], keepdim = false): Tensor {
  const dims = normDims(dim, x.ndim);
  const y = record(reduceRaw('sum', x, dims), 'sum', [x], (g) => [expand(g, x.shape)]);
  return finish(y, x, dims, keepdim);
}

export function mean(x: Tensor, dim?: number | readonly number[], keepdim = false): Tensor {
  const dims = normDims(dim, x.ndim);
  const n = dims.reduce((a, d) => a * x.shape[d], 1);
  return div(sum(x, dims, keepdim), n);
}

function extreme(op: 'max' | 'min', x: Tensor, dim: number | readonly number[] | undefined, keepdim: boolean): Tensor {
  const dims = normDims(dim, x.ndim);
  const y = reduceRaw(op, x, dims);
  // the gradient is shared evenly among the tied extremes (as torch.amax does)
  const out = record(y, op === 'max' ? 'amax' : 'amin', [x], (g) => {
    const m = eq(x, y);
    return [div(mul(m, g), sum(m, dims, true))];
  });
  return finish(out, x, dims, keepdim);
}

export function amax(x: Tensor, dim?: number | readonly number[], keepdim = false): Tensor {
  return extreme('max', x, dim, keepdim);
}

export function amin(x: Tensor, dim?: number | readonly number[], keepdim = false): Tensor {
  return extreme('min', x, dim, keepdim);
}

function argRaw(op: 'max' | 'min', x: Tensor, d: number): Tensor {
  assertFloat(x, `arg${op}`);
  const c = contig(x);
  const outShape = keptShape(x.shape, [d]);
  const out = Tensor.empty(outShape, 'i32');
  backend().argReduce(op, dataOf(c), numel(x.shape.slice(0, d)), x.shape[d], numel(x.shape.slice(d + 1)), out.storage.data as Int32Array);
  if (c !== x) c.dispose();
  return out;
}

/** Index (i32) of the largest value along `dim` (over all elements when omitted); first occurrence wins. */
export function argmax(x: Tensor, dim?: number, keepdim = false): Tensor {
  if (dim === undefined) return reshape(argRaw('max', reshape(x, [x.size]), 0), keepdim ? x.shape.map(() => 1) : []);
  const d = normDim(dim, x.ndim);
  return finish(argRaw('max', x, d), x, [d], keepdim);
}

export function argmin(x: Tensor, dim?: number, keepdim = false): Tensor {
  if (dim === undefined) return reshape(argRaw('min', reshape(x, [x.size]), 0), keepdim ? x.shape.map(() => 1) : []);
  const d = normDim(dim, x.ndim);
  return finish(argRaw('min', x, d), x, [d], keepdim);
}

function maxMin(op: 'max' | 'min', x: Tensor, dim: number, keepdim: boolean): { values: Tensor; indices: Tensor } {
  const d = normDim(dim, x.ndim);
  const indices = argRaw(op, x, d);
  const c = contig(x);
  const values = Tensor.empty(indices.shape);
  const outer = numel(x.shape.slice(0, d));
  const inner = numel(x.shape.slice(d + 1));
  backend().gather(dataOf(c), outer, x.shape[d], inner, indices.storage.data as Int32Array, 1, dataOf(values));
  if (c !== x) c.dispose();
  const v = record(values, op === 'max' ? 'max' : 'min', [x], (g) => {
    const gx = Tensor.zeros(x.shape);
    const gc = contig(g);
    backend().scatterAdd(dataOf(gx), outer, x.shape[d], inner, indices.storage.data as Int32Array, 1, dataOf(gc));
    return [gx];
  });
  return { values: finish(v, x, [d], keepdim), indices: finish(indices, x, [d], keepdim) };
}

/** Largest values along `dim` and their indices (the gradient goes to the returned index). */
export function max(x: Tensor, dim: number, keepdim = false): { values: Tensor; indices: Tensor } {
  return maxMin('max', x, dim, keepdim);
}

export function min(x: Tensor, dim: number, keepdim = false): { values: Tensor; indices: Tensor } {
  return maxMin('min', x, dim, keepdim);
}

/** Variance with Bessel's correction by default (correction = 1), like torch.var. */
export function variance(x: Tensor, dim?: number | readonly number[], keepdim = false, correction = 1): Tensor {
  const dims = normDims(dim, x.ndim);
  const n = dims.reduce((a, d) => a * x.shape[d], 1);
  const centered = sub(x, mean(x, dims, true));
  return div(sum(square(centered), dims, keepdim), Math.max(n - correction, 0));
}
