/**
 * Indexing ops: embedding / indexSelect and its adjoint indexAdd, gather and its adjoint scatterAdd, topk and sort.
 * Indices are i32 (i64 and u8 are accepted and converted); out-of-range indices throw before any kernel runs.
 */
import { backend } from '../../backend/index.js';
import { KilnError } from '../../errors.js';
import { record } from '../autograd.js';
import { Tensor, numel } from '../tensor.js';
import { indexData } from './cast.js';
import { contig, dataOf, normDim, assertFloat } from './util.js';
import { reshape, transpose } from './shape.js';

function checkRange(idx: Int32Array, n: number, op: string): void {
  for (let i = 0; i < idx.length; i++)
    if (idx[i] < 0 || idx[i] >= n || !Number.isInteger(idx[i])) throw new KilnError('E_ARG', `${op}: index ${idx[i]} at position ${i} is outside [0, ${n})`);
}

function splitAt(shape: readonly number[], d: number): [number, number, number] {
  return [numel(shape.slice(0, d)), shape[d], numel(shape.slice(d + 1))];
}

/** Rows of `x` along `dim` picked by a 1-D index (any length, repeats allowed). */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  assertFloat(x, 'indexSelect');
  const d = normDim(dim, x.ndim);
  const idx = indexData(index, 'indexSelect');
  const [outer, n, inner] = splitAt(x.shape, d);
  checkRange(idx, n, 'indexSelect');
  const shape = x.shape.slice();
  shape[d] = idx.length;
  const xc = contig(x);
  const out = Tensor.empty(shape);
  backend().indexSelect(dataOf(xc), outer, n, inner, idx, dataOf(out));
  if (xc !== x) xc.dispose();
  return record(out, 'indexSelect', [x], (g) => {
    const gx = Tensor.zeros(x.shape);
    backend().indexAdd(dataOf(gx), outer, n, inner, idx, dataOf(contig(g)));
    return [gx];
  });
}

/** acc + src added at rows `index` along `dim` (out of place). */
export function indexAdd(acc: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  assertFloat(acc, 'indexAdd');
  const d = normDim(dim, acc.ndim);
  const idx = indexData(index, 'indexAdd');
  const [outer, n, inner] = splitAt(acc.shape, d);
  checkRange(idx, n, 'indexAdd');
  const want = acc.shape.slice();
  want[d] = idx.length;
  if (src.ndim !== want.length || src.shape.some((s, i) => s !== want[i]))
    throw new KilnError('E_SHAPE', `indexAdd: src [${src.shape}] must be [${want}]`);
  const out = acc.clone();
  backend().indexAdd(dataOf(out), outer, n, inner, idx, dataOf(contig(src)));
  return record(out, 'indexAdd', [acc, src], (g) => [g, src.requiresGrad ? indexSelect(g, d, index) : null]);
}

/** Embedding lookup: weight [V, D] at integer ids [...] → [..., D]. */
export function embedding(ids: Tensor, weight: Tensor): Tensor {
  const flat = indexSelect(weight, 0, reshape(ids, [ids.size]));
  return reshape(flat, [...ids.shape, weight.shape[1]]);
}

/** torch.gather: out[i][j][k] = x[i][index[i][j][k]][k] along dim 1 (likewise for any dim). */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  assertFloat(x, 'gather');
  const d = normDim(dim, x.ndim);
  if (index.ndim !== x.ndim || index.shape.some((s, i) => i !== d && s !== x.shape[i]))
    throw new KilnError('E_SHAPE', `gather: index [${index.shape}] must match x [${x.shape}] except along dim ${d}`);
  const idx = indexData(index, 'gather');
  const [outer, n, inner] = splitAt(x.shape, d);
  checkRange(idx, n, 'gather');
  const m = index.shape[d];
  const xc = contig(x);
  const out = Tensor.empty(index.shape);
  backend().gather(dataOf(xc), outer, n, inner, idx, m, dataOf(out));
  if (xc !== x) xc.dispose();
  return record(out, 'gather', [x], (g) => {
    const gx = Tensor.zeros(x.shape);
    backend().scatterAdd(dataOf(gx), outer, n, inner, idx, m, dataOf(contig(g)));
    return [gx];
  });
}

/** acc with src added at `index` along `dim` (torch.scatter_add, out of place). */
export function scatterAdd(acc: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  assertFloat(acc, 'scatterAdd');
  const d = normDim(dim, acc.ndim);
  if (index.ndim !== acc.ndim || src.ndim !== acc.ndim || index.shape.some((s, i) => s !== src.shape[i] || (i !== d && s !== acc.shape[i])))
    throw new KilnError('E_SHAPE', `scatterAdd: index [${index.shape}] and src [${src.shape}] must match and equal acc [${acc.shape}] except along dim ${d}`);
  const idx = indexData(index, 'scatterAdd');
  const [outer, n, inner] = splitAt(acc.shape, d);
  checkRange(idx, n, 'scatterAdd');
  const out = acc.clone();
  backend().scatterAdd(dataOf(out), outer, n, inner, idx, index.shape[d], dataOf(contig(src)));
  return record(out, 'scatterAdd', [acc, src], (g) => [g, src.requiresGrad ? gather(g, d, index) : null]);
}

function topkLast(x: Tensor, k: number, largest: boolean): { values: Tensor; indices: Tensor } {
  const cols = x.shape[x.ndim - 1];
  if (!Number.isInteger(k) || k < 0 || k > cols) throw new KilnError('E_ARG', `topk: k = ${k} must be in [0, ${cols}]`);
  const rows = x.size / Math.max(cols, 1);
  const shape = [...x.shape.slice(0, -1), k];
  const values = Tensor.empty(shape);
  const indices = Tensor.empty(shape, 'i32');
  const xc = contig(x);
  backend().topk(dataOf(xc), rows, cols, k, largest, dataOf(values), indices.storage.data as Int32Array);
  if (xc !== x) xc.dispose();
  const v = record(values, 'topk', [x], (g) => [scatterAdd(Tensor.zeros(x.shape), -1, indices, g)]);
  return { values: v, indices };
}

/** The k largest (or smallest) values along `dim`, sorted, with their i32 indices. */
export function topk(x: Tensor, k: number, dim = -1, largest = true): { values: Tensor; indices: Tensor } {
  assertFloat(x, 'topk');
  const d = normDim(dim, x.ndim);
  if (d === x.ndim - 1) return topkLast(x, k, largest);
  const r = topkLast(transpose(x, d, -1), k, largest);
  return { values: transpose(r.values, d, -1), indices: transpose(r.indices, d, -1).contiguous() };
}

/** Sorts along `dim` (ascending by default; stable) and returns values with their i32 indices. */
export function sort(x: Tensor, dim = -1, descending = false): { values: Tensor; indices: Tensor } {
  const d = normDim(dim, x.ndim);
  return topk(x, x.shape[d], d, descending);
}
