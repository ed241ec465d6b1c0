/**
 * Native indexing bindings (native/kernels-index.cc): indexSelect / indexAdd and gather / scatterAdd along the
 * middle axis of contiguous [outer, n, inner] arrays, bit-identical to the reference (src/backend/ts/indexing.ts);
 * out-of-range indices throw E_ARG. Tiny inputs (below nativeCutoff.elements) and topk use the reference.
 */
import type { Backend } from '../backend.js';
import type { NativeAddon } from '../native-addon.js';
import { indexKernels as reference } from '../ts/indexing.js';
import { nativeCutoff } from './elementwise.js';

export function indexKernels(addon: NativeAddon): Pick<Backend, 'indexSelect' | 'indexAdd' | 'gather' | 'scatterAdd'> {
  return {
    indexSelect: (x, outer, n, inner, idx, out) =>
      outer * idx.length * inner < nativeCutoff.elements
        ? reference.indexSelect(x, outer, n, inner, idx, out)
        : addon.indexSelect(x, outer, n, inner, idx, out),
    indexAdd: (acc, outer, n, inner, idx, src) =>
      outer * idx.length * inner < nativeCutoff.elements
        ? reference.indexAdd(acc, outer, n, inner, idx, src)
        : addon.indexAdd(acc, outer, n, inner, idx, src),
    gather: (x, outer, n, inner, idx, m, out) =>
      outer * m * inner < nativeCutoff.elements ? reference.gather(x, outer, n, inner, idx, m, out) : addon.gather(x, outer, n, inner, idx, m, out),
    scatterAdd: (acc, outer, n, inner, idx, m, src) =>
      outer * m * inner < nativeCutoff.elements
        ? reference.scatterAdd(acc, outer, n, inner, idx, m, src)
        : addon.scatterAdd(acc, outer, n, inner, idx, m, src),
  };
}
