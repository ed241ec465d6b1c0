/**
 * Native reduction bindings (native/kernels-reduce.cc): sum / max / min and argmax / argmin over the middle axis of
 * a contiguous [outer, r, inner] array, with the reference's semantics (src/backend/ts/reduce.ts): sums accumulate
 * in double, NaN propagates, the first occurrence of the extreme wins.
 */
import type { Backend, ReduceOp } from '../backend.js';
import type { NativeAddon } from '../native-addon.js';

const REDUCE_CODES: Record<ReduceOp, number> = { sum: 0, max: 1, min: 2 };

export function reduceKernels(addon: NativeAddon): Pick<Backend, 'reduce' | 'argReduce'> {
  return {
    reduce(op, x, outer, r, inner, out) {
      addon.reduce(REDUCE_CODES[op], x, outer, r, inner, out);
    },
    argReduce(op, x, outer, r, inner, out) {
      addon.argReduce(REDUCE_CODES[op], x, outer, r, inner, out);
    },
  };
}
