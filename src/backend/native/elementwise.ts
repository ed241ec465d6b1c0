/**
 * Native elementwise bindings (native/kernels-elementwise.cc): unary, binary with broadcast strides, binaryScalar,
 * where, strided copy (any element size) and fill, with the reference's semantics (src/backend/ts/elementwise.ts).
 * Views travel as (array, offset) plus a packed Float64Array of shape and strides, reused across calls so a call
 * allocates nothing. Views of rank > 32, copies between arrays of different kinds, and tiny ops (fewer than
 * `nativeCutoff.elements` elements, where the ~1 µs N-API call costs more than the TS loop) use the reference.
 */
import type { Backend, BinaryOp, UnaryOp, View } from '../backend.js';
import type { NativeAddon } from '../native-addon.js';
import type { StorageArray } from '../../tensor/dtype.js';
import { elementwiseKernels as reference } from '../ts/elementwise.js';

/** Op codes shared with native/kernels.h (UnaryCode / BinaryCode): the order there must match. */
export const UNARY_CODES: Record<UnaryOp, number> = {
  neg: 0, exp: 1, log: 2, sqrt: 3, rsqrt: 4, abs: 5, sin: 6, cos: 7, tanh: 8, sigmoid: 9, silu: 10, gelu: 11,
  geluTanh: 12, relu: 13, sign: 14, square: 15, reciprocal: 16, erf: 17, siluGrad: 18, geluGrad: 19, geluTanhGrad: 20,
};
export const BINARY_CODES: Record<BinaryOp, number> = {
  add: 0, sub: 1, mul: 2, div: 3, pow: 4, max: 5, min: 6, eq: 7, ne: 8, lt: 9, le: 10, gt: 11, ge: 12,
};

const MAX_RANK = 32;

/**
 * Below this many elements the elementwise, reduction, NN and indexing bindings call the reference instead (each
 * N-API call costs about 1 µs, which a TS loop over a few dozen elements beats). Tests set it to 0 to exercise the
 * native kernels on every size.
 */
export const nativeCutoff = { elements: 32 };

function numel(shape: readonly number[]): number {
  let n = 1;
  for (let d = 0; d < shape.length; d++) n *= shape[d];
  return n;
}
let dims = new Float64Array(1 + 4 * 8);

/** Packs [ndim, shape..., strides of each operand...] into the shared dims buffer. */
function pack(shape: readonly number[], ...strides: (readonly number[])[]): Float64Array {
  const nd = shape.length;
  const need = 1 + nd * (1 + strides.length);
  if (dims.length < need) dims = new Float64Array(need);
  dims[0] = nd;
  for (let d = 0; d < nd; d++) dims[1 + d] = shape[d];
  for (let o = 0; o < strides.length; o++) {
    const s = strides[o];
    const base = 1 + nd * (1 + o);
    for (let d = 0; d < nd; d++) dims[base + d] = s[d];
  }
  return dims;
}

export function elementwiseKernels(addon: NativeAddon): Pick<Backend, 'unary' | 'binary' | 'binaryScalar' | 'where' | 'copy' | 'fill'> {
  return {
    unary(op: UnaryOp, x: View, out: Float32Array): void {
      if (x.shape.length > MAX_RANK || numel(x.shape) < nativeCutoff.elements) return reference.unary(op, x, out);
      addon.unary(UNARY_CODES[op], x.data, x.offset, pack(x.shape, x.strides), out);
    },

    binary(op: BinaryOp, a: View, b: View, shape: readonly number[], out: Float32Array): void {
      if (shape.length > MAX_RANK || numel(shape) < nativeCutoff.elements) return reference.binary(op, a, b, shape, out);
      addon.binary(BINARY_CODES[op], a.data, a.offset, b.data, b.offset, pack(shape, a.strides, b.strides), out);
    },

    binaryScalar(op: BinaryOp, a: View, s: number, out: Float32Array, scalarFirst: boolean): void {
      if (a.shape.length > MAX_RANK || numel(a.shape) < nativeCutoff.elements) return reference.binaryScalar(op, a, s, out, scalarFirst);
      addon.binaryScalar(BINARY_CODES[op], a.data, a.offset, pack(a.shape, a.strides), s, scalarFirst, out);
    },

    where(cond: View, a: View, b: View, shape: readonly number[], out: Float32Array): void {
      if (shape.length > MAX_RANK || numel(shape) < nativeCutoff.elements) return reference.where(cond, a, b, shape, out);
      addon.where(cond.data, cond.offset, a.data, a.offset, b.data, b.offset, pack(shape, cond.strides, a.strides, b.strides), out);
    },

    copy(src: View<StorageArray>, dst: View<StorageArray>): void {
      if (src.shape.length > MAX_RANK || src.data.constructor !== dst.data.constructor || numel(src.shape) < nativeCutoff.elements)
        return reference.copy(src, dst);
      addon.copy(src.data, src.offset, dst.data, dst.offset, pack(src.shape, src.strides, dst.strides));
    },

    fill(out: Float32Array, value: number, start = 0, end = out.length): void {
      // Small fills are cheaper in V8 than a native call; odd arguments (negative, reversed) keep TypedArray semantics.
      if (end - start < 16384 || !(start >= 0 && end <= out.length && Number.isInteger(start) && Number.isInteger(end))) {
        out.fill(value, start, end);
        return;
      }
      addon.fill(out, value, start, end);
    },
  };
}
