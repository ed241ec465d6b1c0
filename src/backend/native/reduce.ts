/**
 * Native reduction bindings (native/kernels-reduce.cc): sum / max / min and argmax / argmin over the middle axis of
 * a contiguous [outer, r, inner] array, with the reference's semantics (src/backend/ts/reduce.ts): sums accumulate
 * in double, NaN propagates, the first occurrence of the extreme wins. Tiny inputs use the reference (nativeCutoff).
 */
import type { Backend, ReduceOp } from '../backend.js';
import type { NativeAddon } from '../native-addon.js';
import { reduceKernels as reference } from '../ts/reduce.js';
import { nativeCutoff } from './elementwise.js';

const REDUCE_CODES: Record<ReduceOp, number> = { sum: 0, max: 1, min: 2 };

export function reduceKernels(addon: NativeAddon): Pick<Backend, 'reduce' | 'argReduce'> {
  return {
    reduce(op, x, outer, r, inner, out) {
      if (outer * r * inner < nativeCutoff.elements) return reference.reduce(op, x, outer, r, inner, out);
      addon.reduce(REDUCE_CODES[op], x, outer, r, inner, out);
    },
    argReduce(op, x, outer, r, inner, out) {
      if (outer * r * inner < nativeCutoff.elements) return reference.argReduce(op, x, outer, r, inner, out);
      addon.argReduce(REDUCE_CODES[op], x, outer, r, inner, out);
    },
  };
}
