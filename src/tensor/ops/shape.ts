/**
 * Layout ops. Views (reshape of contiguous data, permute, transpose, slice, select, expand, squeeze, unsqueeze,
 * split, chunk) share storage and copy nothing; contiguous/clone/cat/stack/pad write new storage.
 */
import { backend } from '../../backend/index.js';
import { KilnError } from '../../errors.js';
import { record } from '../autograd.js';
import { Tensor, contiguousStrides, numel } from '../tensor.js';
import { normDim, sumTo } from './util.js';

function makeView(x: Tensor, shape: readonly number[], strides: readonly number[], offset: number): Tensor {
  return new Tensor(x.storage, shape, strides, offset);
}

function copyInto(src: Tensor, dst: Tensor): void {
  backend().copy(src.view_(), dst.view_());
}

/** A contiguous copy when `x` is a strided view; otherwise a new handle on the same storage. */
export function contiguous(x: Tensor): Tensor {
  if (x.isContiguous) return record(x.alias(), 'contiguous', [x], (g) => [g]);
  return clone(x);
}

/** A contiguous copy with its own storage. */
export function clone(x: Tensor): Tensor {
  const out = Tensor.empty(x.shape, x.dtype);
  copyInto(x, out);
  return record(out, 'clone', [x], (g) => [g]);
}

function inferShape(size: number, shape: readonly number[]): number[] {
  const out = shape.slice();
  const neg = out.indexOf(-1);
  if (neg >= 0) {
    const rest = numel(out.filter((_, i) => i !== neg));
    if (rest === 0 || size % rest !== 0) throw new KilnError('E_SHAPE', `cannot reshape ${size} elements into [${shape}]`);
    out[neg] = size / rest;
  }
  if (numel(out) !== size || out.some((d) => !Number.isInteger(d) || d < 0))
    throw new KilnError('E_SHAPE', `cannot reshape ${size} elements into [${shape}]`);
  return out;
}

/** Strides for viewing `x` as `shape` without a copy, or null when the layout does not allow it. */
function viewStrides(x: Tensor, shape: readonly number[]): number[] | null {
  if (x.isContiguous) return contiguousStrides(shape);
  // Merge x's dims into contiguous chunks, then split each chunk into the new dims (as torch's computeStride does).
  const newStrides = new Array<number>(shape.length);
  let viewD = shape.length - 1;
  let chunkBase = x.strides[x.ndim - 1] ?? 1;
  let tensorNumel = 1;
  let viewNumel = 1;
  for (let d = x.ndim - 1; d >= 0; d--) {
    tensorNumel *= x.shape[d];
    if (d === 0 || (x.shape[d - 1] !== 1 && x.strides[d - 1] !== tensorNumel * chunkBase)) {
      while (viewD >= 0 && (viewNumel < tensorNumel || shape[viewD] === 1)) {
        newStrides[viewD] = viewNumel * chunkBase;
        viewNumel *= shape[viewD];
        viewD--;
      }
      if (viewNumel !== tensorNumel) return null;
      if (d > 0) {
        chunkBase = x.strides[d - 1];
        tensorNumel = 1;
        viewNumel = 1;
      }
    }
  }
  return viewD === -1 ? newStrides : null;
}

/** A view with a new shape (one dim may be −1); throws when the layout needs a copy (use reshape). */
export function view(x: Tensor, shape: readonly number[]): Tensor {
  const s = inferShape(x.size, shape);
  const strides = viewStrides(x, s);
  if (!strides) throw new KilnError('E_SHAPE', `view: a tensor of shape [${x.shape}] with strides [${x.strides}] cannot be viewed as [${s}] without a copy; use reshape()`);
  return record(makeView(x, s, strides, x.offset), 'view', [x], (g) => [reshape(g, x.shape)]);
}

/** A view when the layout allows it, else a contiguous copy with the new shape. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const s = inferShape(x.size, shape);
  const strides = viewStrides(x, s);
  if (strides) return record(makeView(x, s, strides, x.offset), 'reshape', [x], (g) => [reshape(g, x.shape)]);
  const c = clone(x);
  return record(makeView(c, s, contiguousStrides(s), 0), 'reshape', [c], (g) => [reshape(g, x.shape)]);
}

export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normDim(startDim, x.ndim);
  const e = normDim(endDim, x.ndim);
  const shape = [...x.shape.slice(0, s), numel(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)];
  return reshape(x, shape);
}

export function permute(x: Tensor, dims: readonly number[]): Tensor {
  if (dims.length !== x.ndim) throw new KilnError('E_ARG', `permute: got ${dims.length} dims for a ${x.ndim}-d tensor`);
  const p = dims.map((d) => normDim(d, x.ndim));
  if (new Set(p).size !== p.length) throw new KilnError('E_ARG', `permute: dims [${dims}] repeat a dim`);
  const inv = new Array<number>(p.length);
  p.forEach((d, i) => (inv[d] = i));
  const out = makeView(x, p.map((d) => x.shape[d]), p.map((d) => x.strides[d]), x.offset);
  return record(out, 'permute', [x], (g) => [permute(g, inv)]);
}

export function transpose(x: Tensor, d0: number, d1: number): Tensor {
  const p = Array.from({ length: x.ndim }, (_, i) => i);
  const a = normDim(d0, x.ndim);
  const b = normDim(d1, x.ndim);
  [p[a], p[b]] = [p[b], p[a]];
  return permute(x, p);
}

/** Elements start, start+step, ... < end along `dim` (negative start/end count from the end; clamped). */
export function slice(x: Tensor, dim: number, start: number, end?: number, step = 1): Tensor {
  const d = normDim(dim, x.ndim);
  const n = x.shape[d];
  if (!Number.isInteger(step) || step < 1) throw new KilnError('E_ARG', `slice: step must be a positive integer, got ${step}`);
  const clampIdx = (i: number) => Math.min(Math.max(i < 0 ? i + n : i, 0), n);
  const s = clampIdx(start);
  const e = Math.max(clampIdx(end ?? n), s);
  const len = Math.ceil((e - s) / step);
  const shape = x.shape.slice();
  shape[d] = len;
  const strides = x.strides.slice();
  strides[d] *= step;
  const out = makeView(x, shape, strides, x.offset + s * x.strides[d]);
  return record(out, 'slice', [x], (g) => {
    const gx = Tensor.zeros(x.shape);
    const gs = gx.strides.slice();
    gs[d] *= step;
    copyInto(g, makeView(gx, shape, gs, s * gx.strides[d]));
    return [gx];
  });
}

/** The slice at `index` along `dim`, with that dim removed. */
export function select(x: Tensor, dim: number, index: number): Tensor {
  const d = normDim(dim, x.ndim);
  const i = index < 0 ? index + x.shape[d] : index;
  if (i < 0 || i >= x.shape[d]) throw new KilnError('E_ARG', `select: index ${index} out of range for dim ${d} of size ${x.shape[d]}`);
  return squeeze(slice(x, d, i, i + 1), d);
}

/** Broadcasts size-1 dims (and new leading dims) to `shape` without copying; −1 keeps a dim. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const lead = shape.length - x.ndim;
  if (lead < 0) throw new KilnError('E_SHAPE', `expand: target [${shape}] has fewer dims than [${x.shape}]`);
  const outShape = shape.map((d, i) => (d === -1 ? x.shape[i - lead] : d));
  const strides = outShape.map((d, i) => {
    const j = i - lead;
    if (j < 0) return 0;
    if (x.shape[j] === d) return x.strides[j];
    if (x.shape[j] === 1) return 0;
    throw new KilnError('E_SHAPE', `expand: cannot expand [${x.shape}] to [${shape}] (dim ${i}: ${x.shape[j]} → ${d})`);
  });
  return record(makeView(x, outShape, strides, x.offset), 'expand', [x], (g) => [sumTo(g, x.shape)]);
}

export function squeeze(x: Tensor, dim?: number): Tensor {
  const keep = (i: number) => (dim === undefined ? x.shape[i] !== 1 : i !== normDim(dim, x.ndim) || x.shape[i] !== 1);
  const idx = x.shape.map((_, i) => i).filter(keep);
  const out = makeView(x, idx.map((i) => x.shape[i]), idx.map((i) => x.strides[i]), x.offset);
  return record(out, 'squeeze', [x], (g) => [reshape(g, x.shape)]);
}

export function unsqueeze(x: Tensor, dim: number): Tensor {
  const d = normDim(dim, x.ndim + 1);
  const shape = x.shape.slice();
  const strides = x.strides.slice();
  shape.splice(d, 0, 1);
  strides.splice(d, 0, d < x.ndim ? x.strides[d] * x.shape[d] : 1);
  return record(makeView(x, shape, strides, x.offset), 'unsqueeze', [x], (g) => [reshape(g, x.shape)]);
}

/** Splits into pieces of `size` (the last may be smaller) or of the listed sizes. */
export function split(x: Tensor, sizeOrSections: number | readonly number[], dim = 0): Tensor[] {
  const d = normDim(dim, x.ndim);
  const n = x.shape[d];
  let sizes: number[];
  if (typeof sizeOrSections === 'number') {
    if (sizeOrSections <= 0) throw new KilnError('E_ARG', `split: size must be positive, got ${sizeOrSections}`);
    sizes = [];
    for (let s = 0; s < n; s += sizeOrSections) sizes.push(Math.min(sizeOrSections, n - s));
  } else {
    sizes = [...sizeOrSections];
    if (sizes.reduce((a, b) => a + b, 0) !== n) throw new KilnError('E_SHAPE', `split: sections [${sizes}] do not sum to ${n}`);
  }
  let start = 0;
  return sizes.map((s) => {
    const t = slice(x, d, start, start + s);
    start += s;
    return t;
  });
}

export function chunk(x: Tensor, chunks: number, dim = 0): Tensor[] {
  const n = x.shape[normDim(dim, x.ndim)];
  return split(x, Math.max(1, Math.ceil(n / chunks)), dim);
}

/** Concatenates along `dim`; all other dims must match. */
export function cat(xs: readonly Tensor[], dim = 0): Tensor {
  if (xs.length === 0) throw new KilnError('E_ARG', 'cat: needs at least one tensor');
  const d = normDim(dim, xs[0].ndim);
  const shape = xs[0].shape.slice();
  shape[d] = 0;
  for (const t of xs) {
    if (t.ndim !== shape.length || t.shape.some((s, i) => i !== d && s !== shape[i]) || t.dtype !== xs[0].dtype)
      throw new KilnError('E_SHAPE', `cat: shapes [${xs.map((t) => `[${t.shape}]:${t.dtype}`).join(', ')}] differ outside dim ${d}`);
    shape[d] += t.shape[d];
  }
  const out = Tensor.empty(shape, xs[0].dtype);
  const strides = out.strides;
  let start = 0;
  for (const t of xs) {
    const part = t.shape.slice();
    backend().copy(t.view_(), { data: out.storage.data, shape: part, strides, offset: start * strides[d] });
    start += t.shape[d];
  }
  const sizes = xs.map((t) => t.shape[d]);
  return record(out, 'cat', xs, (g) => split(g, sizes, d));
}

export function stack(xs: readonly Tensor[], dim = 0): Tensor {
  if (xs.length === 0) throw new KilnError('E_ARG', 'stack: needs at least one tensor');
  const d = normDim(dim, xs[0].ndim + 1);
  return cat(xs.map((t) => unsqueeze(t, d)), d);
}

/**
 * Constant padding like torch.nn.functional.pad: `pads` lists (before, after) pairs starting from the LAST dim.
 * Negative pads crop.
 */
export function pad(x: Tensor, pads: readonly number[], value = 0): Tensor {
  if (pads.length % 2 !== 0 || pads.length / 2 > x.ndim)
    throw new KilnError('E_ARG', `pad: expected (before, after) pairs for at most ${x.ndim} dims, got [${pads}]`);
  const shape = x.shape.slice();
  let src = x;
  const begin = new Array<number>(x.ndim).fill(0);
  for (let i = 0; i < pads.length / 2; i++) {
    const d = x.ndim - 1 - i;
    const [lo, hi] = [pads[2 * i], pads[2 * i + 1]];
    // crop first for negative pads
    src = slice(src, d, Math.max(0, -lo), x.shape[d] - Math.max(0, -hi));
    begin[d] = Math.max(0, lo);
    shape[d] = x.shape[d] + lo + hi;
    if (shape[d] < 0) throw new KilnError('E_ARG', `pad: dim ${d} of size ${x.shape[d]} cannot be padded by (${lo}, ${hi})`);
  }
  const out = Tensor.empty(shape);
  backend().fill(out.storage.data as Float32Array, value, 0, out.size);
  const offset = begin.reduce((acc, b, i) => acc + b * out.strides[i], 0);
  backend().copy(src.view_(), { data: out.storage.data, shape: src.shape, strides: out.strides, offset });
  return record(out, 'pad', [src], (g) => {
    let r = g;
    for (let d = 0; d < x.ndim; d++) if (begin[d] !== 0 || src.shape[d] !== shape[d]) r = slice(r, d, begin[d], begin[d] + src.shape[d]);
    return [r];
  });
}
